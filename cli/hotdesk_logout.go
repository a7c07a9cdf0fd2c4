package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

func newHotDeskLogoutCmd(f *globalFlags) *cobra.Command {
	var user bool
	cmd := &cobra.Command{
		Use:   "logout PHONE | logout --user EXTENSION",
		Short: "Log the hot-desked user out of PHONE (it serves its base extension again)",
		Long: `logout ends the hot-desk login on desk phone PHONE, or, with --user, the
login of user EXTENSION wherever it is. The phone serves its base extension
again.`,
		Example: "  rally --config london.yaml hotdesk logout 201\n  rally --config london.yaml hotdesk logout --user 203",
		Args:    exactArgs("PHONE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &adminv1.HotDeskLogoutRequest{PhoneId: args[0]}
			if user {
				req = &adminv1.HotDeskLogoutRequest{Extension: args[0]}
			}
			client, closeConn, err := f.adminClient(cmd.Context())
			if err != nil {
				return err
			}
			defer closeConn()
			ctx, cancel := f.callContext(cmd.Context())
			defer cancel()
			resp, err := client.HotDeskLogout(ctx, req)
			if err != nil {
				return wrapRPC("hotdesk logout", err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s logged out of %s\n", resp.GetExtension(), resp.GetPhoneId())
			return err
		},
	}
	cmd.Flags().BoolVar(&user, "user", false, "the argument is a user's extension, not a phone")
	return cmd
}
