package cli

import (
	"github.com/spf13/cobra"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

func newPhonesCmd(f *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "phones [--json]",
		Short: "List the phones registered at this site, at home or as guests",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, closeConn, err := f.adminClient(cmd.Context())
			if err != nil {
				return err
			}
			defer closeConn()
			ctx, cancel := f.callContext(cmd.Context())
			defer cancel()
			resp, err := client.ListPhones(ctx, &adminv1.ListPhonesRequest{})
			if err != nil {
				return wrapRPC("phones", err)
			}
			return f.newPrinter(cmd.OutOrStdout(), asJSON, false).phones(resp)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (schema in the package documentation)")
	return cmd
}
