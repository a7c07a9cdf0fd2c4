package sdk_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/rallyvoip/rally/plugins/sdk"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// The two fakes below are test doubles of the two ends of the plugin API;
// what is under test is the real gRPC shim stack between them.

// fakePlugin is a Plugin that records what it receives.
type fakePlugin struct {
	mu        sync.Mutex
	info      sdk.Info
	endpoints []string
	health    sdk.Health
	err       error         // returned by every method when set
	block     bool          // every method waits for its ctx to end
	cfgs      []sdk.Config  // received by Configure
	hosts     []sdk.Host    // received by Configure
	events    []sdk.Event   // received by HandleEvent
	calls     int           // calls of any method
	configure chan sdk.Host // if set, receives each host
	metrics   []sdk.Metric  // returned by Metrics
}

func (f *fakePlugin) Metrics(ctx context.Context) ([]sdk.Metric, error) {
	if err := f.enter(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.metrics, nil
}

var _ sdk.Plugin = (*fakePlugin)(nil)

// fresh returns a new fake that behaves like f, with nothing recorded.
func (f *fakePlugin) fresh() *fakePlugin {
	return &fakePlugin{info: f.info, endpoints: f.endpoints, health: f.health, err: f.err, block: f.block, metrics: f.metrics}
}

func (f *fakePlugin) enter(ctx context.Context) error {
	f.mu.Lock()
	f.calls++
	block, err := f.block, f.err
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (f *fakePlugin) Info(ctx context.Context) (sdk.Info, error) {
	if err := f.enter(ctx); err != nil {
		return sdk.Info{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.info, nil
}

func (f *fakePlugin) Configure(ctx context.Context, cfg sdk.Config, host sdk.Host) ([]string, error) {
	if err := f.enter(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.cfgs = append(f.cfgs, cfg)
	f.hosts = append(f.hosts, host)
	ch, eps := f.configure, f.endpoints
	f.mu.Unlock()
	if ch != nil {
		ch <- host
	}
	return eps, nil
}

func (f *fakePlugin) HandleEvent(ctx context.Context, e sdk.Event) error {
	if err := f.enter(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
	return nil
}

func (f *fakePlugin) Health(ctx context.Context) (sdk.Health, error) {
	if err := f.enter(ctx); err != nil {
		return sdk.Health{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.health, nil
}

func (f *fakePlugin) lastHost(t *testing.T) sdk.Host {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.hosts) == 0 {
		t.Fatal("plugin was not configured")
	}
	return f.hosts[len(f.hosts)-1]
}

type callState struct {
	phoneID string
	busy    bool
}

// fakeHost is a Host that records what it receives. Each WatchView takes
// the next feed from watches and relays it until the feed is closed or the
// watcher's ctx ends.
type fakeHost struct {
	mu       sync.Mutex
	name     string
	records  map[[2]string]*federationv1.Record // {home, key}
	accepted bool
	reason   string
	err      error // returned by every method when set
	regs     []sdk.Registration
	calls    []callState
	watches  chan chan sdk.ViewUpdate
	watchCtx []context.Context // the ctx of each WatchView
}

var _ sdk.Host = (*fakeHost)(nil)

func newFakeHost(name string) *fakeHost {
	return &fakeHost{name: name, records: make(map[[2]string]*federationv1.Record), watches: make(chan chan sdk.ViewUpdate, 8)}
}

func (h *fakeHost) failure() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

func (h *fakeHost) WatchView(ctx context.Context) (<-chan sdk.ViewUpdate, error) {
	if err := h.failure(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.watchCtx = append(h.watchCtx, ctx)
	h.mu.Unlock()
	out := make(chan sdk.ViewUpdate)
	go func() {
		defer close(out)
		var feed chan sdk.ViewUpdate
		select {
		case feed = <-h.watches:
		case <-ctx.Done():
			return
		}
		for {
			select {
			case u, ok := <-feed:
				if !ok {
					return
				}
				select {
				case out <- u:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// feed starts the next watch stream and returns the channel to write it.
func (h *fakeHost) feed() chan sdk.ViewUpdate {
	ch := make(chan sdk.ViewUpdate)
	h.watches <- ch
	return ch
}

func (h *fakeHost) GetRecord(ctx context.Context, home, key string) (*federationv1.Record, error) {
	if err := h.failure(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.records[[2]string{home, key}]
	if !ok {
		return nil, nil // the shim must turn this into ErrNotFound
	}
	return r, nil
}

// ListCredentials lists the phones among records of home, sorted by key;
// a home with no records is not held.
func (h *fakeHost) ListCredentials(ctx context.Context, home string) ([]sdk.Credentials, error) {
	if err := h.failure(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := slices.SortedFunc(maps.Keys(h.records), func(a, b [2]string) int { return strings.Compare(a[1], b[1]) })
	var out []sdk.Credentials
	held := false
	for _, k := range keys {
		if k[0] != home {
			continue
		}
		held = true
		if p := h.records[k].GetPhone(); p != nil {
			out = append(out, sdk.Credentials{PhoneID: p.GetId(), HA1MD5: p.GetHa1Md5(), HA1SHA256: p.GetHa1Sha256()})
		}
	}
	if !held {
		return nil, fmt.Errorf("%w: home %q", sdk.ErrNotFound, home)
	}
	return out, nil
}

func (h *fakeHost) ReportRegistration(ctx context.Context, r sdk.Registration) (bool, string, error) {
	if err := h.failure(); err != nil {
		return false, "", err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.regs = append(h.regs, r)
	return h.accepted, h.reason, nil
}

func (h *fakeHost) ReportRegistrations(ctx context.Context, rs []sdk.Registration) ([]sdk.ReportResult, error) {
	out := make([]sdk.ReportResult, len(rs))
	for i, r := range rs {
		ok, reason, err := h.ReportRegistration(ctx, r)
		if err != nil {
			return nil, err
		}
		out[i] = sdk.ReportResult{Accepted: ok, Reason: reason}
	}
	return out, nil
}

func (h *fakeHost) ListRegistrations(ctx context.Context, protocol string) ([]sdk.Registration, error) {
	if err := h.failure(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sdk.Registration(nil), h.regs...), nil
}

func (h *fakeHost) ReportCallState(ctx context.Context, phoneID string, busy bool) error {
	if err := h.failure(); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, callState{phoneID, busy})
	return nil
}

// connect serves impl over go-plugin's in-process gRPC test connection and
// returns the host's client for it.
func connect(t *testing.T, impl sdk.Plugin, multiplex bool) (sdk.Plugin, *plugin.GRPCClient, *plugin.GRPCServer) {
	t.Helper()
	client, server := plugin.TestPluginGRPCConn(t, multiplex, sdk.PluginSet(impl))
	// Closing the client stops the server (go-plugin's controller
	// Shutdown); stopping it here as well would race inside go-plugin.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := raw.(sdk.Plugin)
	if !ok {
		t.Fatalf("dispensed %T, not a sdk.Plugin", raw)
	}
	return p, client, server
}

// eventually polls cond until it holds or 5 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
