// Package sdk is the public SDK for rally plugins: the Go interfaces of the
// plugin API (rally.plugin.v1) in domain types, the go-plugin handshake, and
// the unexported gRPC shims that carry both directions of the API between
// the site daemon (the host) and a plugin process.
//
// # The two ends
//
// A plugin implements [Plugin]: the host asks it for its [Info], hands it
// its [Config] and a [Host] with Configure, delivers site events with
// HandleEvent and polls its Health. Through the [Host] the plugin calls
// back into the site daemon: it watches the admission view, looks records
// up and reports registrations and call state. The host's client for a
// plugin implements [Plugin] too, so the daemon drives first- and
// third-party plugins alike.
//
// # Writing a plugin
//
// A plugin is an executable whose main calls [Serve]:
//
//	type myPlugin struct{ /* ... */ }
//
//	func (p *myPlugin) Info(ctx context.Context) (sdk.Info, error) {
//		return sdk.Info{Name: "my", Version: "1.0.0", APIVersions: []uint32{sdk.APIVersion}}, nil
//	}
//	func (p *myPlugin) Configure(ctx context.Context, cfg sdk.Config, host sdk.Host) ([]string, error) { ... }
//	func (p *myPlugin) HandleEvent(ctx context.Context, e sdk.Event) error { ... }
//	func (p *myPlugin) Health(ctx context.Context) (sdk.Health, error) { ... }
//
//	func main() { sdk.Serve(&myPlugin{}) }
//
// Rules of the road:
//
//   - Configure is called after every (re)start of the plugin process, and
//     may be called again to reconfigure it. Parse cfg.ConfigJSON (the
//     plugin's section of the site config, as JSON) strictly and return an
//     error wrapping [ErrInvalidConfig] that names the key when it is wrong;
//     the host then reports the mistake instead of restarting the plugin in
//     a loop. Keep the [Host] for the life of the process; it stays valid
//     across reconfigurations.
//   - Return from Configure promptly: start listeners and goroutines there
//     but do not block in it. Return the endpoints you listen on
//     ("sip:udp://127.0.0.1:5060"); the host advertises them to its peers.
//   - A protocol plugin admits phones without a round trip to the host:
//     keep a [View] (NewView(cfg.Site), go view.Run(ctx, host)) and decide
//     with view.Table().Decide; report what you accept with
//     Host.ReportRegistration (or many at once with ReportRegistrations)
//     and keep the table's licence accounting with Table.Registered /
//     Table.Unregistered. Load digest credentials in bulk with
//     Host.ListCredentials rather than one GetRecord per phone.
//   - Name the events you need in Info.Events (none named: all of them);
//     the host then does not call HandleEvent for the others, such as one
//     event per registration.
//   - A plugin that counts things (refusals, drops) implements
//     [MetricsSource]; the host serves the samples on its /metrics as
//     rally_plugin_NAME{plugin="..."}.
//   - Log with [Logger]: it writes hclog JSON to the process's stderr, which
//     the host re-logs with the right levels. Anything written to
//     os.Stdout or os.Stderr after Serve starts is captured by go-plugin
//     and, by default, discarded by the host.
//   - The executable is a plugin only when the host launches it: run by
//     hand, Serve prints a notice and exits.
//
// A third-party plugin is installed with `rally plugin install PATH`, which
// pins it by SHA-256; the host verifies the checksum at every launch.
// examples/webhook is a complete plugin built only on this package.
//
// # Versions
//
// Two versions are at play. [ProtocolVersion] is go-plugin's handshake
// version: it changes only when the transport itself changes in an
// incompatible way, and a mismatch refuses the launch. [APIVersion] is the
// version of the rally.plugin.v1 API: a plugin lists the versions it
// speaks in Info.APIVersions, the host picks the highest both speak
// ([NegotiateAPIVersion]) and passes it in Config.APIVersion.
package sdk
