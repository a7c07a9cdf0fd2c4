package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/rallyvoip/rally/plugins/sdk"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    string
		wantErr string // a substring of the error
	}{
		{name: "http", raw: `{"url": "http://127.0.0.1:8080/rally"}`, want: "http://127.0.0.1:8080/rally"},
		{name: "https", raw: `{"url": "https://hooks.example/rally?token=x"}`, want: "https://hooks.example/rally?token=x"},
		{name: "empty section", raw: ``, wantErr: "url: missing"},
		{name: "empty object", raw: `{}`, wantErr: "url: missing"},
		{name: "empty url", raw: `{"url": ""}`, wantErr: "url: missing"},
		{name: "not a url", raw: `{"url": "http://[::1"}`, wantErr: "url:"},
		{name: "other scheme", raw: `{"url": "ftp://127.0.0.1/x"}`, wantErr: "scheme must be http or https"},
		{name: "no host", raw: `{"url": "http:///x"}`, wantErr: "no host"},
		{name: "relative", raw: `{"url": "/x"}`, wantErr: "scheme must be http or https"},
		{name: "typo in the key", raw: `{"ulr": "http://127.0.0.1/x"}`, wantErr: `unknown field "ulr"`},
		{name: "wrong type", raw: `{"url": 8080}`, wantErr: "cannot unmarshal"},
		{name: "trailing data", raw: `{"url": "http://127.0.0.1/x"} {}`, wantErr: "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig([]byte(tt.raw))
			if tt.wantErr != "" {
				if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidConfig with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || c.URL != tt.want {
				t.Fatalf("parseConfig = %+v, %v; want url %q", c, err, tt.want)
			}
		})
	}
}

func TestRedactsPassword(t *testing.T) {
	c, err := parseConfig([]byte(`{"url": "https://rally:s3cret@hooks.example/x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.shown, "s3cret") {
		t.Fatalf("shown = %q", c.shown)
	}
}

// The tests below run the plugin for real: built, launched and verified by
// go-plugin's client as the host does it.

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rally-webhook-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// pluginBinary builds the plugin once per test run and returns its path
// and SHA-256.
func pluginBinary(t *testing.T) (string, []byte) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and launches the plugin; skipped under -short")
	}
	buildOnce.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		bin := filepath.Join(binDir, "rally-webhook")
		out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		buildBin = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	b, err := os.ReadFile(buildBin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return buildBin, sum[:]
}

// syncBuffer collects the host-side log of the plugin.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// launch starts the plugin as the host does: the rally handshake, gRPC
// only, automatic mTLS, and the binary pinned by its SHA-256.
func launch(t *testing.T, bin string, sum []byte) (*plugin.Client, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.HandshakeConfig(),
		Plugins:          sdk.PluginSet(nil),
		Cmd:              exec.Command(bin),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SecureConfig:     &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "host", Output: logs, Level: hclog.Debug}),
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("host log of the plugin:\n%s", logs)
		}
	})
	t.Cleanup(client.Kill)
	return client, logs
}

func dispense(t *testing.T, client *plugin.Client) sdk.Plugin {
	t.Helper()
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := raw.(sdk.Plugin)
	if !ok {
		t.Fatalf("dispensed %T", raw)
	}
	return p
}

// nullHost is the host side the webhook is given; it never calls it.
type nullHost struct{}

func (nullHost) WatchView(ctx context.Context) (<-chan sdk.ViewUpdate, error) {
	ch := make(chan sdk.ViewUpdate)
	go func() { <-ctx.Done(); close(ch) }()
	return ch, nil
}

func (nullHost) GetRecord(context.Context, string, string) (*federationv1.Record, error) {
	return nil, sdk.ErrNotFound
}

func (nullHost) ListRegistrations(context.Context, string) ([]sdk.Registration, error) {
	return nil, nil
}

func (nullHost) ReportRegistrations(_ context.Context, rs []sdk.Registration) ([]sdk.ReportResult, error) {
	return make([]sdk.ReportResult, len(rs)), nil
}

func (nullHost) ListCredentials(context.Context, string) ([]sdk.Credentials, error) {
	return nil, sdk.ErrNotFound
}

func (nullHost) ReportRegistration(context.Context, sdk.Registration) (bool, string, error) {
	return true, "", nil
}

func (nullHost) ReportCallState(context.Context, string, bool) error { return nil }

type received struct {
	method, path, contentType string
	body                      map[string]any
}

// receiver is an HTTP server on 127.0.0.1 that hands over what it gets.
func receiver(t *testing.T) (*httptest.Server, <-chan received) {
	t.Helper()
	ch := make(chan received, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("body %q: %v", b, err)
		}
		ch <- received{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"), body: body}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func TestPluginPostsEvents(t *testing.T) {
	bin, sum := pluginBinary(t)
	client, logs := launch(t, bin, sum)
	p := dispense(t, client)
	ctx := t.Context()

	info, err := p.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "webhook" || info.Protocol != "" || info.ConfigSchema == "" {
		t.Fatalf("Info = %+v", info)
	}
	v, err := sdk.NegotiateAPIVersion(info.APIVersions)
	if err != nil {
		t.Fatal(err)
	}

	srv, got := receiver(t)
	cfg := sdk.Config{APIVersion: v, Site: "london", SIPDomain: "voip.example",
		ConfigJSON: fmt.Appendf(nil, `{"url": %q}`, srv.URL+"/rally/events")}
	if eps, err := p.Configure(ctx, cfg, nullHost{}); err != nil || len(eps) != 0 {
		t.Fatalf("Configure = %v, %v", eps, err)
	}
	if h, err := p.Health(ctx); err != nil || !h.Serving {
		t.Fatalf("Health = %+v, %v", h, err)
	}

	when := time.Date(2026, 3, 14, 15, 9, 26, 0, time.FixedZone("CET", 3600))
	events := []sdk.Event{
		{Time: when, Kind: sdk.EventPeerState, Peer: "paris", From: "normal", To: "failover", Message: "no heartbeat for 2s"},
		{Time: when, Kind: sdk.EventRegistration, PhoneID: "301", To: "guest"},
	}
	for _, e := range events {
		if err := p.HandleEvent(ctx, e); err != nil {
			t.Fatalf("HandleEvent(%s): %v", e.Kind, err)
		}
		var r received
		select {
		case r = <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("no POST for %s", e.Kind)
		}
		if r.method != http.MethodPost || r.path != "/rally/events" || r.contentType != "application/json" {
			t.Fatalf("got %s %s (%s)", r.method, r.path, r.contentType)
		}
		want := map[string]any{
			"kind": string(e.Kind), "peer": e.Peer, "from": e.From, "to": e.To,
			"phone_id": e.PhoneID, "message": e.Message, "site": "london",
		}
		for k, w := range want {
			if r.body[k] != w {
				t.Errorf("%s: %s = %v, want %v", e.Kind, k, r.body[k], w)
			}
		}
		ts, _ := r.body["time"].(string)
		if tm, err := time.Parse(time.RFC3339, ts); err != nil || !tm.Equal(when) {
			t.Errorf("%s: time = %q (%v), want %v", e.Kind, ts, err, when)
		}
		if len(r.body) != len(want)+1 {
			t.Errorf("%s: body has %d keys: %v", e.Kind, len(r.body), r.body)
		}
	}

	// A dead endpoint: the failure is logged (through the host, at its
	// level), the plugin lives on.
	srv.Close()
	if err := p.HandleEvent(ctx, sdk.Event{Kind: sdk.EventLink, Peer: "rome", To: "down"}); err != nil {
		t.Fatalf("HandleEvent to a dead endpoint: %v", err)
	}
	if h, err := p.Health(ctx); err != nil || !h.Serving {
		t.Fatalf("Health after a failed POST = %+v, %v", h, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "[WARN]") || !strings.Contains(logs.String(), "post failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no WARN \"post failed\" in the host log:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The host kills the plugin: its client reports the shutdown.
	client.Kill()
	if _, err := p.Health(ctx); !errors.Is(err, sdk.ErrPluginShutdown) {
		t.Fatalf("Health after Kill = %v, want ErrPluginShutdown", err)
	}
}

func TestPluginRefusesBadConfig(t *testing.T) {
	bin, sum := pluginBinary(t)
	client, _ := launch(t, bin, sum)
	p := dispense(t, client)
	for _, raw := range []string{`{}`, `{"url": "ftp://127.0.0.1/x"}`, `{"ulr": "http://127.0.0.1/x"}`} {
		_, err := p.Configure(t.Context(), sdk.Config{APIVersion: 1, Site: "london", ConfigJSON: []byte(raw)}, nullHost{})
		if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), "webhook: ") {
			t.Errorf("Configure(%s) = %v, want ErrInvalidConfig", raw, err)
		}
	}
	// An event before a good Configure is an error, not a crash.
	if err := p.HandleEvent(t.Context(), sdk.Event{Kind: sdk.EventLink}); err == nil || errors.Is(err, sdk.ErrPluginShutdown) {
		t.Fatalf("HandleEvent before Configure = %v", err)
	}
}

func TestWrongChecksumRefusesLaunch(t *testing.T) {
	bin, sum := pluginBinary(t)
	wrong := bytes.Clone(sum)
	wrong[0] ^= 0xff
	client, _ := launch(t, bin, wrong)
	_, err := client.Client()
	if !errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
		t.Fatalf("Client() = %v, want ErrChecksumsDoNotMatch", err)
	}
	if client.ReattachConfig() != nil {
		t.Fatal("the plugin was started")
	}
}

// TestWebhookDirect exercises the plugin in-process (no go-plugin): a slow
// endpoint is cut at the timeout.
func TestWebhookDirect(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 2 s POST timeout; skipped under -short")
	}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	var logs syncBuffer
	w := newWebhook(sdk.NewLogger(&logs, slog.LevelDebug))
	if _, err := w.Configure(t.Context(), sdk.Config{Site: "london", ConfigJSON: fmt.Appendf(nil, `{"url": %q}`, srv.URL)}, nullHost{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := w.HandleEvent(t.Context(), sdk.Event{Kind: sdk.EventFailback, Peer: "paris"}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > postTimeout+time.Second {
		t.Fatalf("HandleEvent took %v, want about %v", d, postTimeout)
	}
	if !strings.Contains(logs.String(), `"@level":"warn"`) {
		t.Fatalf("no warning logged: %s", logs.String())
	}
}
