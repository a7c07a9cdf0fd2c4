package sdk

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pluginv1 "github.com/rallyvoip/rally/proto/rally/plugin/v1"
)

// ProtocolVersion is go-plugin's handshake protocol version. A host and a
// plugin whose versions differ refuse to talk; bump it only for a change
// that an old peer cannot survive, and record it here.
//
// History:
//   - 1: first (rally.plugin.v1).
const ProtocolVersion = 1

// APIVersion is the highest rally.plugin.v1 API version this SDK speaks
// (see the version history in proto/rally/plugin/v1/plugin.proto).
const APIVersion = 1

// PluginName is the key of the rally plugin in the go-plugin plugin set:
// the name the host dispenses.
const PluginName = "rally"

// The go-plugin handshake cookie. It is not a secret: it only stops a
// plugin executable from being mistaken for a program to run by hand.
const (
	magicCookieKey   = "RALLY_PLUGIN"
	magicCookieValue = "6daeb0e5a20bb59f04f17dea3729ce1543126db4272cc76a"
)

// Errors of the plugin API. They cross the process boundary: an error that
// wraps one of them on one side wraps it on the other (test with
// errors.Is), and its message is kept.
var (
	// ErrPluginShutdown is returned by the host's client for a plugin once
	// the plugin process has exited or its connection was closed.
	ErrPluginShutdown = errors.New("sdk: plugin shut down")
	// ErrInvalidConfig is what a plugin's Configure wraps when its config
	// section is wrong. The host reports it rather than restart the plugin.
	ErrInvalidConfig = errors.New("sdk: invalid config")
	// ErrNotFound is what Host.GetRecord wraps when there is no such record.
	ErrNotFound = errors.New("sdk: not found")
	// ErrNoCommonAPIVersion is returned by NegotiateAPIVersion when the
	// plugin speaks no API version this SDK speaks.
	ErrNoCommonAPIVersion = errors.New("sdk: no common API version")
)

// HandshakeConfig returns the go-plugin handshake that host and plugins
// share.
func HandshakeConfig() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   magicCookieKey,
		MagicCookieValue: magicCookieValue,
	}
}

// PluginSet returns the go-plugin plugin set holding impl under
// PluginName. A plugin serves PluginSet(itself); the host passes nil and
// dispenses PluginName to get a Plugin.
func PluginSet(impl Plugin) plugin.PluginSet {
	return plugin.PluginSet{PluginName: &GRPCPlugin{Impl: impl}}
}

// NegotiateAPIVersion returns the highest API version that both this SDK
// and a plugin speaking versions speak, or an error wrapping
// ErrNoCommonAPIVersion. The host calls it with Info.APIVersions and puts
// the result in Config.APIVersion.
func NegotiateAPIVersion(versions []uint32) (uint32, error) {
	best := uint32(0)
	for _, v := range versions {
		if v >= 1 && v <= APIVersion && v > best {
			best = v
		}
	}
	if best == 0 {
		return 0, fmt.Errorf("%w: plugin speaks %v, this SDK 1..%d", ErrNoCommonAPIVersion, slices.Sorted(slices.Values(versions)), APIVersion)
	}
	return best, nil
}

// GRPCPlugin is the go-plugin plugin of rally: it serves Impl in a plugin
// process and builds the host's client for a plugin. Only gRPC is
// supported.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the plugin, in the plugin process; nil in the host.
	Impl Plugin
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the PluginService shim over Impl (plugin side).
func (p *GRPCPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("sdk: GRPCPlugin.Impl is nil in the plugin process")
	}
	pluginv1.RegisterPluginServiceServer(s, &pluginServer{impl: p.Impl, broker: broker})
	return nil
}

// GRPCClient returns the host's client for the plugin, a Plugin. ctx is
// go-plugin's: it is cancelled when the plugin process exits.
func (p *GRPCPlugin) GRPCClient(ctx context.Context, broker *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &pluginClient{
		client:  pluginv1.NewPluginServiceClient(conn),
		conn:    conn,
		broker:  broker,
		doneCtx: ctx,
	}, nil
}

// Serve is the main of a plugin process: it serves p over go-plugin's gRPC
// transport until the host ends it. go-plugin's own logs go to stderr as
// hclog JSON, like those of Logger. Run by hand rather than by a host,
// Serve prints a notice and exits with status 1.
func Serve(p Plugin) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: HandshakeConfig(),
		Plugins:         PluginSet(p),
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       "go-plugin",
			Level:      hclog.Debug,
			Output:     stderr,
			JSONFormat: true,
		}),
	})
}
