package pluginhost

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// testPlugin builds testdata/testplugin once per test binary and returns
// its path.
func testPlugin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs plugin processes")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rally-testplugin")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "testplugin")
		out, err := exec.Command("go", "build", "-o", buildPath, "./testdata/testplugin").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build testplugin: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildPath != "" {
		os.RemoveAll(filepath.Dir(buildPath))
	}
	os.Exit(code)
}

// backend is the site side of the host service, in memory.
type backend struct {
	feed *ViewFeed

	mu     sync.Mutex
	phones map[string]admission.PhoneEntry
	regs   []sdk.Registration
	busy   map[string]bool
}

func newBackend(phones ...string) *backend {
	b := &backend{feed: NewViewFeed(64), phones: map[string]admission.PhoneEntry{}, busy: map[string]bool{}}
	for _, id := range phones {
		b.phones[id] = admission.PhoneEntry{ID: id, User: id, Home: "london"}
	}
	return b
}

func (b *backend) ViewSnapshot() sdk.ViewSnapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := sdk.ViewSnapshot{Site: "london", Licenses: 1}
	for _, p := range b.phones {
		s.Phones = append(s.Phones, p)
	}
	return s
}

func (b *backend) SubscribeView() (<-chan sdk.ViewChange, func()) { return b.feed.Subscribe() }

func (b *backend) putPhone(id string) {
	e := admission.PhoneEntry{ID: id, User: id, Home: "london"}
	b.mu.Lock()
	b.phones[id] = e
	b.mu.Unlock()
	b.feed.Publish(sdk.ViewChange{PutPhone: &e})
}

func (b *backend) GetRecord(home, key string) (*federationv1.Record, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id, ok := strings.CutPrefix(key, "phone/")
	if _, known := b.phones[id]; !ok || !known || home != "" {
		return nil, fmt.Errorf("%w: %s", sdk.ErrNotFound, key)
	}
	return &federationv1.Record{Key: key, HomeSite: "london", Body: &federationv1.Record_Phone{
		Phone: &federationv1.Phone{Id: id}}}, nil
}

func (b *backend) ReportRegistration(r sdk.Registration) (bool, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.regs = append(b.regs, r)
	if len(b.regs) > 1 {
		return false, "over licence"
	}
	return true, ""
}

func (b *backend) Credentials(string) ([]sdk.Credentials, error) { return nil, sdk.ErrNotFound }

func (b *backend) Registrations(string) []sdk.Registration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]sdk.Registration(nil), b.regs...)
}

func (b *backend) ReportCallState(id string, busy bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.busy[id] = busy
}

// harness runs a Manager until the test ends.
type harness struct {
	t    *testing.T
	m    *Manager
	dir  string
	rec  string
	b    *backend
	stop func()
}

type option func(*Config)

// serve starts a manager over dir whose plugins get pluginCfg (with the
// record file filled in) as their config.
func serve(t *testing.T, dir string, b *backend, pluginCfg map[string]any, opts ...option) *harness {
	t.Helper()
	rec := filepath.Join(dir, "record.jsonl")
	if pluginCfg == nil {
		pluginCfg = map[string]any{}
	}
	pluginCfg["record"] = rec
	cfgJSON, err := json.Marshal(pluginCfg)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := Config{
		Site: "london", SIPDomain: "voip.example",
		PluginDir:    filepath.Join(dir, "plugins"),
		Logger:       logger,
		Backend:      b,
		PluginConfig: func(string) ([]byte, bool) { return cfgJSON, true },
		HealthEvery:  100 * time.Millisecond,
		MinBackoff:   100 * time.Millisecond,
		MaxBackoff:   time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	m := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx) }()
	h := &harness{t: t, m: m, dir: dir, rec: rec, b: b}
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(h.stop)
	return h
}

// lines reads what the plugin recorded.
func (h *harness) lines() []map[string]any {
	f, err := os.Open(h.rec)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// ops returns the recorded lines of op.
func (h *harness) ops(op string) []map[string]any {
	var out []map[string]any
	for _, l := range h.lines() {
		if l["op"] == op {
			out = append(out, l)
		}
	}
	return out
}

func (h *harness) status(name string) *adminv1.PluginStatus {
	st, _ := h.m.Plugin(name)
	return st
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestInstallConfigureEvents: an installed plugin is launched, checked
// (info), configured with its config section and the host service; it
// watches the view (snapshot, then changes), reports a registration and
// looks a record up through the host, and receives events in order.
func TestInstallConfigureEvents(t *testing.T) {
	bin := testPlugin(t)
	t.Setenv("TESTPLUGIN_PROTOCOL", "sip")
	b := newBackend("201", "202")
	h := serve(t, t.TempDir(), b, map[string]any{"register": "201", "get_record": "phone/202"})
	ctx := t.Context()

	st, err := h.m.Install(ctx, bin, "tp")
	if err != nil {
		t.Fatal(err)
	}
	if st.GetHealth() != HealthServing && st.GetHealth() != HealthNotServing {
		t.Errorf("health after install = %q, want the first health answer", st.GetHealth())
	}
	eventually(t, 5*time.Second, "serving", func() bool { return h.status("tp").GetHealth() == HealthServing })
	st = h.status("tp")
	for k, v := range map[string]any{
		"origin": st.GetOrigin(), "protocol": st.GetProtocol(), "version": st.GetVersion(),
		"api_version": st.GetApiVersion(), "restarts": st.GetRestarts(),
		"endpoints": strings.Join(st.GetEndpoints(), ","),
	} {
		want := map[string]any{
			"origin": OriginExternal, "protocol": "sip", "version": "0.0.1-test",
			"api_version": uint32(1), "restarts": uint32(0), "endpoints": "test:udp://127.0.0.1:0",
		}[k]
		if v != want {
			t.Errorf("%s = %v, want %v", k, v, want)
		}
	}
	if st.GetPid() <= 0 {
		t.Errorf("pid = %d", st.GetPid())
	}
	if want := fileSHA256(t, bin); st.GetSha256() != want {
		t.Errorf("sha256 = %s, want %s", st.GetSha256(), want)
	}
	if got := h.m.ProtocolHealth()["sip"]; got != federationv1.PluginHealth_PLUGIN_HEALTH_SERVING {
		t.Errorf("protocol health = %v", got)
	}

	conf := h.ops("configure")
	if len(conf) != 1 || conf[0]["site"] != "london" || conf[0]["api"] != float64(1) {
		t.Fatalf("configure lines = %v", conf)
	}
	eventually(t, 5*time.Second, "snapshot, registration and record look-up", func() bool {
		return len(h.ops("snapshot")) == 1 && len(h.ops("registered")) == 1 && len(h.ops("record")) == 1
	})
	if s := h.ops("snapshot")[0]; s["phones"] != float64(2) || s["site"] != "london" {
		t.Errorf("snapshot = %v", s)
	}
	if r := h.ops("registered")[0]; r["ok"] != true || r["phone"] != "201" {
		t.Errorf("registration answer = %v", r)
	}
	if r := h.ops("record")[0]; r["ok"] != true || r["message"] != "202" {
		t.Errorf("record look-up = %v", r)
	}
	b.mu.Lock()
	if len(b.regs) != 1 || b.regs[0].PhoneID != "201" || b.regs[0].Outcome != sdk.RegHome || b.regs[0].Transport != "udp" {
		t.Errorf("backend registrations = %+v", b.regs)
	}
	b.mu.Unlock()

	b.putPhone("203")
	eventually(t, 5*time.Second, "view change", func() bool {
		p := h.ops("put_phone")
		return len(p) == 1 && p[0]["phone"] == "203"
	})

	// The test plugin has no metrics of its own: none, and no error.
	if ms, ok := h.m.Metrics(ctx)["tp"]; !ok || len(ms) != 0 {
		t.Errorf("metrics of a plugin without any = %v, %v", ms, ok)
	}

	const n = 100
	for i := range n {
		h.m.Events(sdk.Event{Time: time.Now(), Kind: sdk.EventPeerState, Peer: "paris", To: fmt.Sprint(i)})
	}
	eventually(t, 10*time.Second, "events", func() bool { return len(h.ops("event")) == n })
	for i, e := range h.ops("event") {
		if e["to"] != fmt.Sprint(i) || e["kind"] != "peer_state" || e["peer"] != "paris" {
			t.Fatalf("event %d = %v: out of order", i, e)
		}
	}
}

// TestEventsByKind: a plugin that asks for some kinds of event gets only
// those (a SIP plugin needs no event per registration it made itself).
func TestEventsByKind(t *testing.T) {
	bin := testPlugin(t)
	t.Setenv("TESTPLUGIN_EVENTS", "peer_state failback")
	h := serve(t, t.TempDir(), newBackend("201"), nil)
	if _, err := h.m.Install(t.Context(), bin, "tp"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "serving", func() bool { return h.status("tp").GetHealth() == HealthServing })
	sent := []sdk.Event{
		{Kind: sdk.EventRegistration, PhoneID: "201", To: "home"},
		{Kind: sdk.EventPeerState, Peer: "paris", To: "failover"},
		{Kind: sdk.EventLink, Peer: "paris", To: "down"},
		{Kind: sdk.EventResilience, Peer: "paris", To: "active"},
		{Kind: sdk.EventFailback, Peer: "paris"},
		{Kind: sdk.EventRegistration, PhoneID: "201", To: "gone"},
	}
	for _, e := range sent {
		h.m.Events(e)
	}
	eventually(t, 5*time.Second, "two events", func() bool { return len(h.ops("event")) >= 2 })
	time.Sleep(200 * time.Millisecond) // an unwanted event would have come by now
	var kinds []string
	for _, e := range h.ops("event") {
		kinds = append(kinds, fmt.Sprint(e["kind"]))
	}
	if got := strings.Join(kinds, " "); got != "peer_state failback" {
		t.Fatalf("events delivered: %q, want \"peer_state failback\"", got)
	}
}

// TestRestartAfterKill: a plugin killed with SIGKILL is restarted (with
// backoff), counted, configured again and resyncs its view.
func TestRestartAfterKill(t *testing.T) {
	bin := testPlugin(t)
	h := serve(t, t.TempDir(), newBackend("201"), nil)
	if _, err := h.m.Install(t.Context(), bin, "tp"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "snapshot", func() bool { return len(h.ops("snapshot")) == 1 })
	pid := int(h.status("tp").GetPid())
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "restarting", func() bool {
		return h.status("tp").GetRestarts() == 1
	})
	if msg := h.status("tp").GetLastError(); !strings.Contains(msg, "exited") {
		t.Errorf("last_error = %q, want the exit", msg)
	}
	eventually(t, 10*time.Second, "serving again", func() bool {
		st := h.status("tp")
		return st.GetHealth() == HealthServing && st.GetPid() > 0 && int(st.GetPid()) != pid
	})
	eventually(t, 5*time.Second, "configured and resynced", func() bool {
		c, s := h.ops("configure"), h.ops("snapshot")
		return len(c) == 2 && len(s) == 2 && c[1]["pid"] != float64(pid) && s[1]["pid"] == c[1]["pid"]
	})
	if st := h.status("tp"); st.GetRestarts() != 1 {
		t.Errorf("restarts = %d, want 1", st.GetRestarts())
	}
	// Events reach the new process.
	h.m.Events(sdk.Event{Kind: sdk.EventLink, Peer: "paris", To: "up"})
	eventually(t, 5*time.Second, "event after restart", func() bool { return len(h.ops("event")) == 1 })
}

// TestExitBackoff: a plugin that keeps exiting is restarted with a
// growing delay, and reported restarting in between.
func TestExitBackoff(t *testing.T) {
	bin := testPlugin(t)
	h := serve(t, t.TempDir(), newBackend(), map[string]any{"exit_after": "50ms"})
	if _, err := h.m.Install(t.Context(), bin, "tp"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, 20*time.Second, "four restarts", func() bool { return h.status("tp").GetRestarts() >= 4 })
	// A restart is counted before its backoff: the fourth follows waits
	// of 100, 200 and 400 ms.
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Errorf("four restarts in %v: no backoff", d)
	}
	if st := h.status("tp"); !strings.Contains(st.GetLastError(), "exit status 3") {
		t.Errorf("last_error = %q, want the exit status", st.GetLastError())
	}
}

// TestTamperedBinary: a plugin whose executable changed after install
// refuses to start and is reported failed with the reason, at the next
// launch and at the next daemon start.
func TestTamperedBinary(t *testing.T) {
	bin := testPlugin(t)
	t.Setenv("TESTPLUGIN_PROTOCOL", "sip")
	dir := t.TempDir()
	h := serve(t, dir, newBackend(), nil)
	if _, err := h.m.Install(t.Context(), bin, "tp"); err != nil {
		t.Fatal(err)
	}
	installed := filepath.Join(dir, "plugins", "tp")
	// A running executable cannot be written to ("text file busy"):
	// tamper with it by replacing the file with a copy plus one byte.
	tamper := func() {
		data, err := os.ReadFile(installed)
		if err != nil {
			t.Fatal(err)
		}
		tmp := installed + ".evil"
		if err := os.WriteFile(tmp, append(data, 0), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, installed); err != nil {
			t.Fatal(err)
		}
	}
	tamper()

	// The running process is not affected; its next launch is refused.
	if err := syscall.Kill(int(h.status("tp").GetPid()), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "failed", func() bool { return h.status("tp").GetHealth() == HealthFailed })
	st := h.status("tp")
	if !strings.Contains(st.GetLastError(), "does not match its pinned SHA-256") {
		t.Errorf("last_error = %q", st.GetLastError())
	}
	if st.GetPid() != 0 {
		t.Errorf("pid = %d of a failed plugin", st.GetPid())
	}
	if got := h.m.ProtocolHealth()["sip"]; got != federationv1.PluginHealth_PLUGIN_HEALTH_DOWN {
		t.Errorf("protocol health of a failed plugin = %v, want DOWN", got)
	}
	h.stop()

	// A new daemon over the same directory refuses it too.
	h2 := serve(t, dir, newBackend(), nil)
	eventually(t, 10*time.Second, "failed after restart", func() bool {
		st := h2.status("tp")
		return st.GetHealth() == HealthFailed && strings.Contains(st.GetLastError(), "does not match its pinned SHA-256")
	})
	if n := len(h2.ops("configure")); n != 1 {
		t.Errorf("configured %d times, want once (before tampering)", n)
	}
	h2.stop()

	// Appending to the stopped file is caught the same way.
	if _, err := h2.m.Install(t.Context(), bin, "tp2"); err != nil {
		t.Fatal(err) // not serving: pinned, started by the next daemon
	}
	f, err := os.OpenFile(filepath.Join(dir, "plugins", "tp2"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	h3 := serve(t, dir, newBackend(), nil)
	eventually(t, 10*time.Second, "appended binary failed", func() bool {
		st := h3.status("tp2")
		return st.GetHealth() == HealthFailed && strings.Contains(st.GetLastError(), "does not match its pinned SHA-256")
	})
}

// TestInstallRemove: install pins the copy in pins.json, a pinned plugin
// starts with the daemon, remove deletes file and pin; bad installs are
// refused and leave nothing behind.
func TestInstallRemove(t *testing.T) {
	bin := testPlugin(t)
	dir := t.TempDir()
	pluginDir := filepath.Join(dir, "plugins")
	h := serve(t, dir, newBackend(), nil)
	ctx := t.Context()

	st, err := h.m.Install(ctx, bin, "")
	if err != nil {
		t.Fatal(err)
	}
	if st.GetName() != "testplugin" || st.GetPath() != filepath.Join(pluginDir, "testplugin") {
		t.Errorf("installed %s at %s", st.GetName(), st.GetPath())
	}
	fi, err := os.Stat(st.GetPath())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("mode = %v, want 0755", fi.Mode().Perm())
	}
	pins, err := loadPins(pluginDir)
	if err != nil {
		t.Fatal(err)
	}
	if p := pins["testplugin"]; p.File != "testplugin" || p.SHA256 != fileSHA256(t, bin) || p.Installed.IsZero() {
		t.Errorf("pin = %+v", p)
	}

	t.Run("refused", func(t *testing.T) {
		script := filepath.Join(dir, "notaplugin")
		if err := os.WriteFile(script, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, path, as string
			want           error
		}{
			{name: "taken", path: bin, as: "testplugin", want: ErrExists},
			{name: "bad name", path: bin, as: "Bad/Name", want: ErrInvalid},
			{name: "pins file", path: bin, as: "pins.json", want: ErrInvalid},
			{name: "missing file", path: filepath.Join(dir, "nope"), as: "nope", want: ErrInvalid},
			{name: "directory", path: dir, as: "dir", want: ErrInvalid},
			{name: "not a plugin", path: script, as: "script", want: ErrStart},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := h.m.Install(ctx, tc.path, tc.as)
				if !errors.Is(err, tc.want) {
					t.Fatalf("install: %v, want %v", err, tc.want)
				}
				t.Log(err)
			})
		}
		pins, _ := loadPins(pluginDir)
		if len(pins) != 1 {
			t.Errorf("pins after refusals = %v", pins)
		}
		if _, err := os.Stat(filepath.Join(pluginDir, "script")); !os.IsNotExist(err) {
			t.Errorf("a plugin that did not start was kept: %v", err)
		}
	})

	// A daemon restart starts the pinned plugin.
	h.stop()
	h = serve(t, dir, newBackend(), nil)
	eventually(t, 10*time.Second, "pinned plugin started", func() bool {
		return h.status("testplugin").GetHealth() == HealthServing
	})

	if err := h.m.Remove("testplugin"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(st.GetPath()); !os.IsNotExist(err) {
		t.Errorf("executable kept: %v", err)
	}
	if pins, _ := loadPins(pluginDir); len(pins) != 0 {
		t.Errorf("pins after remove = %v", pins)
	}
	if got := h.m.Status(); len(got) != 0 {
		t.Errorf("status after remove = %v", got)
	}
	if err := h.m.Remove("testplugin"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second remove: %v, want ErrNotFound", err)
	}
}

// TestBuiltin: a built-in plugin is the host's executable re-run with its
// arguments; it has no pin and cannot be removed or shadowed.
func TestBuiltin(t *testing.T) {
	bin := testPlugin(t)
	h := serve(t, t.TempDir(), newBackend(), nil, func(c *Config) {
		c.Executable = bin
		c.Builtins = map[string][]string{"sip": {"plugin-serve", "sip"}}
	})
	eventually(t, 10*time.Second, "serving", func() bool { return h.status("sip").GetHealth() == HealthServing })
	st := h.status("sip")
	if st.GetOrigin() != OriginBuiltin || st.GetSha256() != "" {
		t.Errorf("builtin status = %v", st)
	}
	// Its protocol is taken from its name until its info says otherwise.
	if _, ok := h.m.ProtocolHealth()["sip"]; ok {
		t.Errorf("protocol health of a builtin whose info names no protocol = %v", h.m.ProtocolHealth())
	}
	if err := h.m.Remove("sip"); !errors.Is(err, ErrBuiltin) {
		t.Errorf("remove builtin: %v", err)
	}
	if _, err := h.m.Install(t.Context(), bin, "sip"); !errors.Is(err, ErrExists) {
		t.Errorf("install over builtin: %v", err)
	}
}

// TestFailedStates: a plugin that rejects its config, or speaks no API
// version of the host, is failed and not restarted; one that reports not
// serving is not_serving and DOWN for its protocol.
func TestFailedStates(t *testing.T) {
	bin := testPlugin(t)
	t.Setenv("TESTPLUGIN_PROTOCOL", "h323")
	tests := []struct {
		name    string
		cfg     map[string]any
		api     string
		health  string
		message string
	}{
		{name: "invalid config", cfg: map[string]any{"invalid": true}, health: HealthFailed, message: "invalid config"},
		{name: "api version", api: "7", health: HealthFailed, message: "no common API version"},
		{name: "not serving", cfg: map[string]any{"not_serving": true}, health: HealthNotServing, message: "told not to serve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TESTPLUGIN_API", tt.api)
			h := serve(t, t.TempDir(), newBackend(), tt.cfg, func(c *Config) {
				c.Executable = bin
				c.Builtins = map[string][]string{"tp": nil}
			})
			eventually(t, 10*time.Second, tt.health, func() bool { return h.status("tp").GetHealth() == tt.health })
			time.Sleep(300 * time.Millisecond)
			st := h.status("tp")
			if st.GetHealth() != tt.health || !strings.Contains(st.GetLastError(), tt.message) || st.GetRestarts() != 0 {
				t.Errorf("status = %v", st)
			}
			if tt.name == "not serving" {
				if got := h.m.ProtocolHealth()["h323"]; got != federationv1.PluginHealth_PLUGIN_HEALTH_DOWN {
					t.Errorf("protocol health = %v, want DOWN", got)
				}
			}
		})
	}
}

// TestStarting: a plugin that says it is starting (loading its view) shows
// as starting, is polled again soon, and its protocol is not reported down
// to the peers meanwhile; then it serves.
func TestStarting(t *testing.T) {
	bin := testPlugin(t)
	t.Setenv("TESTPLUGIN_PROTOCOL", "sip")
	h := serve(t, t.TempDir(), newBackend(), map[string]any{"starting_for": "1500ms"}, func(c *Config) {
		c.Executable = bin
		c.Builtins = map[string][]string{"tp": nil}
		c.HealthEvery = time.Hour // only the quick polls of a starting plugin can see it serve
	})
	eventually(t, 10*time.Second, "configured", func() bool { return h.status("tp").GetPid() > 0 })
	if st := h.status("tp").GetHealth(); st != HealthStarting {
		t.Fatalf("health while loading = %q, want starting", st)
	}
	if got, ok := h.m.ProtocolHealth()["sip"]; ok {
		t.Fatalf("protocol health while starting = %v, want none reported", got)
	}
	eventually(t, 10*time.Second, "serving", func() bool { return h.status("tp").GetHealth() == HealthServing })
	if got := h.m.ProtocolHealth()["sip"]; got != federationv1.PluginHealth_PLUGIN_HEALTH_SERVING {
		t.Fatalf("protocol health = %v, want SERVING", got)
	}
}

// TestNoLeaks: once Serve returns, the plugin processes and every
// goroutine of the manager are gone.
func TestNoLeaks(t *testing.T) {
	bin := testPlugin(t)
	before := runtime.NumGoroutine()
	h := serve(t, t.TempDir(), newBackend("201"), nil)
	if _, err := h.m.Install(t.Context(), bin, "tp"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "snapshot", func() bool { return len(h.ops("snapshot")) == 1 })
	pid := int(h.status("tp").GetPid())
	h.stop()
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("plugin process %d still runs after Serve returned", pid)
	}
	eventually(t, 5*time.Second, "goroutines to end", func() bool {
		return runtime.NumGoroutine() <= before
	})
}

// TestViewFeedResync: a watcher that falls behind is dropped by the feed
// and resynced with a fresh snapshot, and the watch ends with its context.
func TestViewFeedResync(t *testing.T) {
	b := newBackend("201")
	b.feed = NewViewFeed(1)
	done := make(chan struct{})
	h := &hostAdapter{b: b, done: done}
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := h.WatchView(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u := <-ch; u.Snapshot == nil || len(u.Snapshot.Phones) != 1 {
		t.Fatalf("first update = %+v", u)
	}
	// Nobody reads: the feed overflows and drops the subscriber.
	for i := range 40 {
		b.putPhone(fmt.Sprint(300 + i))
	}
	// The view is the resync snapshot plus the changes after it.
	var view map[string]bool
	timeout := time.After(5 * time.Second)
	for len(view) != 41 {
		select {
		case u := <-ch:
			switch {
			case u.Snapshot != nil:
				view = map[string]bool{}
				for _, p := range u.Snapshot.Phones {
					view[p.ID] = true
				}
			case view != nil && u.Change != nil && u.Change.PutPhone != nil:
				view[u.Change.PutPhone.ID] = true
			}
		case <-timeout:
			t.Fatalf("view after resync has %d phones, want 41", len(view))
		}
	}
	cancel()
	for range ch {
	}
	close(done)
}
