package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

// errChecksFailed is returned (after the results are printed) when any
// preflight check is not ok, so the exit code is non-zero.
var errChecksFailed = errors.New("preflight checks failed")

func newCheckCmd(f *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check [--json]",
		Short: "Preflight: compatibility and reachability of this site's peers",
		Long: `check asks the site to verify, for each peer, that the link is compatible
(root CA, SIP domain, IPv6, extensions, backup agreement) and that the
backup's SIP/H.323 endpoints are reachable. It prints every result and
exits non-zero if any check failed.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, closeConn, err := f.adminClient(cmd.Context())
			if err != nil {
				return err
			}
			defer closeConn()
			ctx, cancel := f.callContext(cmd.Context())
			defer cancel()
			resp, err := client.Check(ctx, &adminv1.CheckRequest{})
			if err != nil {
				return wrapRPC("check", err)
			}
			if err := f.newPrinter(cmd.OutOrStdout(), asJSON, false).check(resp); err != nil {
				return err
			}
			failed := 0
			for _, r := range resp.GetResults() {
				if !r.GetOk() {
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("%w (%d of %d)", errChecksFailed, failed, len(resp.GetResults()))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (schema in the package documentation)")
	return cmd
}
