package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

func newPluginRemoveCmd(f *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Stop the installed plugin NAME and delete it and its pin",
		Long: `remove stops a third-party plugin, deletes its executable from the
plugin_dir and its pin. A built-in plugin cannot be removed: delete its
section under plugins: in the site config instead.`,
		Example: "  rally --config london.yaml plugin remove webhook",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			client, closeConn, err := f.adminClient(cmd.Context())
			if err != nil {
				return err
			}
			defer closeConn()
			ctx, cancel := f.callContext(cmd.Context())
			defer cancel()
			if _, err := client.RemovePlugin(ctx, &adminv1.RemovePluginRequest{Name: name}); err != nil {
				return wrapRPC("plugin remove "+name, err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", name)
			return err
		},
	}
}
