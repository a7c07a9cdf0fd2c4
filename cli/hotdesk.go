package cli

import (
	"github.com/spf13/cobra"
)

func newHotDeskCmd(f *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hotdesk",
		Short: "Log users in on and out of desk phones (hot desking)",
		Long: `hotdesk logs a user of this site in on a desk phone of this site, or out of
it. While logged in, the phone serves the hot-desked user instead of its
base extension; "rally phones" shows the user a phone serves.

A login is a directory write (the user's settings.hotdesk_phone), so it
replicates to the backup. If the home fails, the phone registers at the
backup as a guest and serves its base extension there: the hot-desked user
is logged out of it. The login stands at the home, so when the phone
registers home again the user is logged back in.

One user per phone and one phone per user: a login moves the user from the
phone they were on; a phone with another user logged in is refused unless
--force. The user's hot-desk code (hotdesk_code in the directory) is checked;
--force is the operator's override and needs no code.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErrorf("hotdesk: missing subcommand (login or logout)")
		},
	}
	cmd.AddCommand(
		newHotDeskLoginCmd(f),
		newHotDeskLogoutCmd(f),
	)
	return cmd
}
