package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

func newUnlinkCmd(f *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "unlink SITE",
		Short:   "Remove the link to peer SITE",
		Example: "  rally --config london.yaml unlink paris",
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
			if _, err := client.Unlink(ctx, &adminv1.UnlinkRequest{Site: site}); err != nil {
				return wrapRPC("unlink "+site, err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "unlinked %s\n", site)
			return err
		},
	}
}
