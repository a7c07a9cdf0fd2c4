package cli

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	h323plugin "github.com/rallyvoip/rally/plugins/h323"
	"github.com/rallyvoip/rally/plugins/sdk"
	sipplugin "github.com/rallyvoip/rally/plugins/sip"
)

// builtinPlugins are the first-party plugins inside the rally binary: the
// daemon re-executes itself as `rally plugin-serve NAME` to run one, out of
// process like any plugin (as Nomad does with its built-in drivers).
func builtinPlugins() map[string][]string {
	return map[string][]string{
		sipplugin.Name:  {"plugin-serve", sipplugin.Name},
		h323plugin.Name: {"plugin-serve", h323plugin.Name},
	}
}

// sipGCPercent is the SIP plugin process's GOGC.
const sipGCPercent = 50

// newPluginServeCmd is the entry point of a built-in plugin process. It is
// hidden: only the daemon starts it, with go-plugin's handshake variables.
func newPluginServeCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "plugin-serve NAME",
		Short:  "Run a built-in plugin (started by rally serve)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if os.Getenv(sdk.HandshakeConfig().MagicCookieKey) == "" {
				return fmt.Errorf("plugin-serve is started by rally serve, not by hand")
			}
			switch args[0] {
			case sipplugin.Name:
				// Registrations are many small objects and requests make
				// short-lived garbage: collect at half the default growth
				// (memory per registration against a little CPU), unless
				// the operator set GOGC.
				if os.Getenv("GOGC") == "" {
					debug.SetGCPercent(sipGCPercent)
				}
				p := sipplugin.New(sdk.Logger())
				defer p.Close()
				sdk.Serve(p)
				return nil
			case h323plugin.Name:
				p := h323plugin.New(sdk.Logger())
				defer p.Close()
				sdk.Serve(p)
				return nil
			default:
				return fmt.Errorf("no built-in plugin %q", args[0])
			}
		},
	}
}
