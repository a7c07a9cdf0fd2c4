package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rallyvoip/rally/core/pki"
)

func newPKIIssueCmd(_ *globalFlags) *cobra.Command {
	var (
		dir, site, operator string
		hosts               []string
		validity            time.Duration
	)
	vv := &validityValue{d: &validity}
	cmd := &cobra.Command{
		Use:   "issue --dir DIR (--site NAME [--host H]... | --operator NAME) [--validity D]",
		Short: "Issue a site identity certificate or an operator client certificate",
		Long: `issue signs a certificate with the root CA in DIR and writes it, with its
private key, into DIR.

--site NAME issues a site identity certificate (URI SAN rally://site/NAME),
used by the site both as federation server and client; --host adds the DNS
names or IP addresses peers and phones reach the site at.

--operator NAME issues an operator client certificate (URI SAN
rally://operator/NAME) for the admin API at a host:port address.`,
		Example: `  rally pki issue --dir pki --site london --host 127.0.0.1 --host london.example
  rally pki issue --dir pki --operator alice --validity 90d`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageErrorf("pki issue: --dir is required")
			}
			var (
				certPath, keyPath string
				err               error
			)
			switch {
			case site != "" && operator != "":
				return usageErrorf("pki issue: give exactly one of --site and --operator, not both")
			case site == "" && operator == "":
				return usageErrorf("pki issue: give exactly one of --site NAME and --operator NAME")
			case site != "":
				certPath, keyPath, err = pki.IssueSite(dir, site, hosts, vv.or(pki.DefaultSiteValidity))
			default:
				if len(hosts) > 0 {
					return usageErrorf("pki issue: --host applies to --site only")
				}
				certPath, keyPath, err = pki.IssueOperator(dir, operator, vv.or(pki.DefaultOperatorValidity))
			}
			if err != nil {
				return err // pki errors name themselves ("pki: ...")
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "wrote %s\n", certPath)
			fmt.Fprintf(out, "wrote %s\n", keyPath)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "", "directory `DIR` holding the root CA (from pki init)")
	fl.StringVar(&site, "site", "", "issue a site identity certificate for site `NAME`")
	fl.StringVar(&operator, "operator", "", "issue an operator client certificate for `NAME`")
	fl.StringArrayVar(&hosts, "host", nil, "DNS name or IP address `H` of the site (repeatable; --site only)")
	fl.Var(vv, "validity", "certificate lifetime, e.g. 8760h or 365d (default depends on the kind)")
	return cmd
}
