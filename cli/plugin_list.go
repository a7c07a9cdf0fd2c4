package cli

import (
	"github.com/spf13/cobra"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

func newPluginListCmd(f *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the site's plugins: origin, protocol, health, restarts",
		Long: `list shows every plugin of the site: its origin (builtin or external), the
protocol it serves, its version, its health (starting, serving, not_serving,
restarting, failed), how often it was restarted and its last error, its
process id, the endpoints it listens on and, for an external plugin, the
SHA-256 it is pinned to.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, closeConn, err := f.adminClient(cmd.Context())
			if err != nil {
				return err
			}
			defer closeConn()
			ctx, cancel := f.callContext(cmd.Context())
			defer cancel()
			resp, err := client.ListPlugins(ctx, &adminv1.ListPluginsRequest{})
			if err != nil {
				return wrapRPC("plugin list", err)
			}
			return f.newPrinter(cmd.OutOrStdout(), asJSON, false).plugins(resp)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (schema in the package documentation)")
	return cmd
}
