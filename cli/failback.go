package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

func newFailbackCmd(f *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "failback SITE",
		Short: "Send SITE's guest phones back home (manual failback)",
		Long: `failback starts the return of SITE's phones, registered here as guests, to
their home site. It is how a peer configured with "failback: manual" fails
back; for the other modes it starts failback now. It prints the peer's state
after the request.`,
		Example: "  rally --config paris.yaml failback london",
		Args:    exactArgs("SITE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			site := args[0]
			client, closeConn, err := f.adminClient(cmd.Context())
			if err != nil {
				return err
			}
			defer closeConn()
			ctx, cancel := f.callContext(cmd.Context())
			defer cancel()
			resp, err := client.Failback(ctx, &adminv1.FailbackRequest{Site: site})
			if err != nil {
				return wrapRPC("failback "+site, err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", site, resp.GetState())
			return err
		},
	}
}
