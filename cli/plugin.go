package cli

import (
	"github.com/spf13/cobra"
)

func newPluginCmd(f *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "List, install and remove the site's plugins",
		Long: `plugin manages the plugin processes of a running site. Built-in plugins
(sip, h323, ...) run from the rally binary itself when the site config has a
section for them under plugins:. Third-party plugins are executables
installed into the site's plugin_dir with "rally plugin install PATH": the
daemon copies the file, pins its SHA-256 and verifies it at every launch; a
binary that no longer matches its pin refuses to start and shows as failed.
A plugin's config is its section under plugins: in the site config.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErrorf("plugin: missing subcommand (list, install or remove)")
		},
	}
	cmd.AddCommand(
		newPluginListCmd(f),
		newPluginInstallCmd(f),
		newPluginRemoveCmd(f),
	)
	return cmd
}
