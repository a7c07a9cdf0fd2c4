package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

func newHotDeskLoginCmd(f *globalFlags) *cobra.Command {
	var (
		code  string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "login PHONE EXTENSION [--code C | --force]",
		Short: "Log user EXTENSION in on desk phone PHONE",
		Long: `login hot-desks user EXTENSION on desk phone PHONE, both of this site. The
user's hot-desk code is required, unless --force: the operator's override,
which needs no code and logs out a user already hot-desked on the phone.`,
		Example: "  rally --config london.yaml hotdesk login 201 203 --code 4711",
		Args:    exactArgs("PHONE", "EXTENSION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			phone, ext := args[0], args[1]
			client, closeConn, err := f.adminClient(cmd.Context())
			if err != nil {
				return err
			}
			defer closeConn()
			ctx, cancel := f.callContext(cmd.Context())
			defer cancel()
			resp, err := client.HotDeskLogin(ctx, &adminv1.HotDeskLoginRequest{
				PhoneId: phone, Extension: ext, Code: code, Force: force,
			})
			if err != nil {
				return wrapRPC("hotdesk login", err)
			}
			var notes []string
			if m := resp.GetMovedFrom(); m != "" {
				notes = append(notes, "moved from "+m)
			}
			if d := resp.GetDisplacedUser(); d != "" {
				notes = append(notes, d+" logged out")
			}
			line := fmt.Sprintf("%s logged in on %s", resp.GetExtension(), resp.GetPhoneId())
			if len(notes) > 0 {
				line += " (" + strings.Join(notes, "; ") + ")"
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), line)
			return err
		},
	}
	cmd.Flags().StringVar(&code, "code", "", "the user's hot-desk login code")
	cmd.Flags().BoolVar(&force, "force", false, "operator override: no code needed; log out a user already on the phone")
	return cmd
}
