// Command rally-webhook is a third-party rally plugin, built only on the
// public plugin SDK (plugins/sdk) and the standard library: it POSTs every
// site event to an HTTP endpoint as JSON. See README.md.
package main

import "github.com/rallyvoip/rally/plugins/sdk"

func main() {
	sdk.Serve(newWebhook(sdk.Logger().With("plugin", pluginName)))
}
