package cli

import (
	"fmt"
	"net"

	"github.com/spf13/cobra"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

func newLinkCmd(f *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "link ADDR",
		Short: "Link this site to the peer whose federation address is ADDR",
		Long: `link asks the site daemon to link to the peer listening for federation at
ADDR (host:port). The peer's site name is taken from its certificate. A peer
that fails the compatibility checks (root CA, SIP domain, IPv6, extension
clashes) is refused with a message naming the setting and both values.`,
		Example: "  rally --admin unix:///run/rally/london.sock link 127.0.0.2:7400",
		Args:    exactArgs("ADDR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr := args[0]
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return usageErrorf("link: %q is not a host:port federation address", addr)
			}
			client, closeConn, err := f.adminClient(cmd.Context())
			if err != nil {
				return err
			}
			defer closeConn()
			ctx, cancel := f.callContext(cmd.Context())
			defer cancel()
			resp, err := client.Link(ctx, &adminv1.LinkRequest{Addr: addr})
			if err != nil {
				return wrapRPC("link "+addr, err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "linked %s at %s\n", resp.GetSite(), addr)
			return err
		},
	}
}
