package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

func newPluginInstallCmd(f *globalFlags) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "install PATH [--name NAME]",
		Short: "Install the plugin executable at PATH, pinned by its SHA-256",
		Long: `install asks the site daemon to copy the executable at PATH into its
plugin_dir as NAME (default: the file's base name), pin its SHA-256 and
start it. PATH is a file on the daemon's host: with a local admin socket a
relative PATH is taken from the current directory; a remote daemon needs an
absolute one. The plugin's config is its section plugins.NAME in the site
config. A plugin that does not start is not kept, and the error says why.
To upgrade a plugin, remove it and install the new executable.`,
		Example: "  rally --config london.yaml plugin install ./rally-webhook --name webhook",
		Args:    exactArgs("PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			ep, err := f.resolveAdmin()
			if err != nil {
				return err
			}
			if !filepath.IsAbs(path) {
				if ep.network != "unix" {
					return usageErrorf("plugin install: PATH %q must be absolute for a remote daemon (a file on its host)", path)
				}
				if path, err = filepath.Abs(path); err != nil {
					return err
				}
			}
			client, closeConn, err := f.adminClient(cmd.Context())
			if err != nil {
				return err
			}
			defer closeConn()
			ctx, cancel := f.callContext(cmd.Context())
			defer cancel()
			resp, err := client.InstallPlugin(ctx, &adminv1.InstallPluginRequest{Path: path, Name: name})
			if err != nil {
				return wrapRPC("plugin install "+args[0], err)
			}
			p := resp.GetPlugin()
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "installed %s (sha256 %s): %s\n", p.GetName(), p.GetSha256(), p.GetHealth())
			return err
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "install as plugin `NAME` (default: the file's base name)")
	return cmd
}
