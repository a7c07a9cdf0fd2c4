package site

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

var (
	testPluginOnce sync.Once
	testPluginPath string
	testPluginErr  error
)

// buildTestPlugin builds core/pluginhost's test plugin (a real plugin
// process built on plugins/sdk) into dir, once per test binary.
func buildTestPlugin(t *testing.T) string {
	t.Helper()
	testPluginOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rally-site-plugin")
		if err != nil {
			testPluginErr = err
			return
		}
		testPluginPath = filepath.Join(dir, "testplugin")
		out, err := exec.Command("go", "build", "-o", testPluginPath, "../pluginhost/testdata/testplugin").CombinedOutput()
		if err != nil {
			testPluginErr = fmt.Errorf("go build testplugin: %v\n%s", err, out)
		}
	})
	if testPluginErr != nil {
		t.Fatal(testPluginErr)
	}
	return testPluginPath
}

// recorded reads the lines the test plugin wrote to path.
func recorded(path, op string) []map[string]any {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) == nil && l["op"] == op {
			out = append(out, l)
		}
	}
	return out
}

func sitePlugin(t *testing.T, r *running, name string) *adminv1.PluginStatus {
	t.Helper()
	st, err := r.admin.GetStatus(context.Background(), &adminv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.GetSite().GetPlugins() {
		if p.GetName() == name {
			return p
		}
	}
	return nil
}

// TestPluginsThroughAdminAPI: a plugin installed through the admin API
// runs, is configured with its section of the site config, sees the
// admission view and its changes, reports a registration (a licence is
// taken, rally phones lists it, the plugins hear of it), and its protocol
// health rides the heartbeats: a live home whose SIP plugin failed is down
// for SIP at its backup, which then admits its phones as guests.
func TestPluginsThroughAdminAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site, plugin processes")
	}
	bin := buildTestPlugin(t)
	t.Setenv("TESTPLUGIN_PROTOCOL", "sip")
	f := newFed(t)
	parisCfg, parisAddr := f.writeConfig(spec{name: "paris", host: "127.0.0.2", backsUp: []string{"london"}, directory: users(3000, 1)})
	londonCfg, _ := f.writeConfig(spec{name: "london", backup: "paris", directory: users(2000, 2),
		peers: map[string]string{"paris": parisAddr}})
	rec := filepath.Join(f.dir, "london", "record.jsonl")
	cf, err := os.OpenFile(londonCfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(cf, "plugins:\n  tp: {record: %q, register: \"2000\"}\n", rec)
	cf.Close()
	paris := start(t, parisCfg)
	london := start(t, londonCfg)
	linked(t, london, paris)
	eventually(t, 5*time.Second, "london holds paris's directory index", func() bool {
		_, ok := london.site.table.Phone("3000")
		return ok
	})
	ctx := context.Background()

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			call func() error
			code codes.Code
		}{
			{"relative path", func() error {
				_, err := london.admin.InstallPlugin(ctx, &adminv1.InstallPluginRequest{Path: "testplugin"})
				return err
			}, codes.InvalidArgument},
			{"missing file", func() error {
				_, err := london.admin.InstallPlugin(ctx, &adminv1.InstallPluginRequest{Path: "/nonexistent/x"})
				return err
			}, codes.InvalidArgument},
			{"remove unknown", func() error {
				_, err := london.admin.RemovePlugin(ctx, &adminv1.RemovePluginRequest{Name: "nope"})
				return err
			}, codes.NotFound},
		} {
			if got := status.Code(tc.call()); got != tc.code {
				t.Errorf("%s: code %v, want %v", tc.name, got, tc.code)
			}
		}
	})

	resp, err := london.admin.InstallPlugin(ctx, &adminv1.InstallPluginRequest{Path: bin, Name: "tp"})
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.GetPlugin(); p.GetName() != "tp" || p.GetOrigin() != "external" || len(p.GetSha256()) != 64 {
		t.Errorf("installed = %v", p)
	}
	if _, err := london.admin.InstallPlugin(ctx, &adminv1.InstallPluginRequest{Path: bin, Name: "tp"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("second install: %v, want FailedPrecondition", err)
	}
	eventually(t, 10*time.Second, "plugin serving in status", func() bool {
		return sitePlugin(t, london, "tp").GetHealth() == "serving"
	})
	list, err := london.admin.ListPlugins(ctx, &adminv1.ListPluginsRequest{})
	if err != nil || len(list.GetPlugins()) != 1 || list.GetPlugins()[0].GetProtocol() != "sip" {
		t.Fatalf("list plugins = %v, %v", list, err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "london", "data", "plugins", "pins.json")); err != nil {
		t.Errorf("pins in the default plugin dir (store.path/plugins): %v", err)
	}

	// The plugin's view: london's two phones and paris's one (every
	// linked peer holds the others' directory index), then changes.
	eventually(t, 5*time.Second, "configured, snapshot, registration", func() bool {
		return len(recorded(rec, "configure")) == 1 && len(recorded(rec, "snapshot")) >= 1 &&
			len(recorded(rec, "registered")) == 1
	})
	if s := recorded(rec, "snapshot")[0]; s["phones"] != float64(3) || s["site"] != "london" {
		t.Errorf("snapshot = %v", s)
	}
	if r := recorded(rec, "registered")[0]; r["ok"] != true {
		t.Errorf("registration answer = %v", r)
	}
	st, _ := london.admin.GetStatus(ctx, &adminv1.GetStatusRequest{})
	if st.GetSite().GetLicensed() != 1 {
		t.Errorf("licensed = %d after a home registration, want 1", st.GetSite().GetLicensed())
	}
	phones, err := london.admin.ListPhones(ctx, &adminv1.ListPhonesRequest{})
	if err != nil || len(phones.GetRegistrations()) != 1 {
		t.Fatalf("phones = %v, %v", phones, err)
	}
	if g := phones.GetRegistrations()[0]; g.GetPhone() != "2000" || g.GetHereAs() != "home" || g.GetHome() != "london" ||
		g.GetProtocol() != "sip" || g.GetKind() != "desk" || g.GetExpires() == nil {
		t.Errorf("registration = %v", g)
	}
	eventually(t, 5*time.Second, "registration event", func() bool {
		for _, e := range recorded(rec, "event") {
			if e["kind"] == "registration" && e["phone"] == "2000" && e["to"] == "home" {
				return true
			}
		}
		return false
	})
	if _, err := london.admin.PutRecord(ctx, &adminv1.PutRecordRequest{Record: &federationv1.Record{
		Body: &federationv1.Record_Phone{Phone: &federationv1.Phone{Id: "2000-soft", User: "2000",
			Kind: federationv1.PhoneKind_PHONE_KIND_SOFTPHONE, Protocol: federationv1.Protocol_PROTOCOL_SIP}},
	}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "view change", func() bool {
		for _, p := range recorded(rec, "put_phone") {
			if p["phone"] == "2000-soft" {
				return true
			}
		}
		return false
	})

	// Heartbeats carry the plugin's health.
	eventually(t, 5*time.Second, "paris sees london's sip serving", func() bool {
		return paris.peer(t, "london").GetPlugins()["sip"] == "serving"
	})
	if got := paris.explain(t, "2000"); got != "refuse:homed_at_live_peer" {
		t.Errorf("paris admits london's phone while london serves SIP: %s", got)
	}
	// Tamper with the plugin and kill it: it refuses to start again, so
	// london lives but is down for SIP, and paris admits its phones.
	installed := filepath.Join(f.dir, "london", "data", "plugins", "tp")
	data, err := os.ReadFile(installed)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(installed+".x", append(data, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(installed+".x", installed); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(int(sitePlugin(t, london, "tp").GetPid()), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "plugin failed", func() bool { return sitePlugin(t, london, "tp").GetHealth() == "failed" })
	eventually(t, 5*time.Second, "paris sees london's sip down", func() bool {
		return paris.peer(t, "london").GetPlugins()["sip"] == "down"
	})
	eventually(t, 5*time.Second, "paris admits london's phones as guests", func() bool {
		return paris.explain(t, "2000") == "guest"
	})
	if s := london.state(t, "paris"); s != "normal" {
		t.Errorf("london sees paris %s", s)
	}

	if _, err := london.admin.RemovePlugin(ctx, &adminv1.RemovePluginRequest{Name: "tp"}); err != nil {
		t.Fatal(err)
	}
	if p := sitePlugin(t, london, "tp"); p != nil {
		t.Errorf("removed plugin still in status: %v", p)
	}
	if _, err := os.Stat(installed); !os.IsNotExist(err) {
		t.Errorf("removed plugin's executable: %v", err)
	}
}

// TestPluginGuestRegistration: during failover, a protocol plugin at the
// backup reports a physical phone of the home registered as a guest: it
// takes no licence, counts as a guest, and activates the home's
// resilience (the physical-phone trigger, DESIGN §1.4).
func TestPluginGuestRegistration(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site, plugin processes")
	}
	bin := buildTestPlugin(t)
	f := newFed(t)
	parisCfg, parisAddr := f.writeConfig(spec{name: "paris", host: "127.0.0.2", backsUp: []string{"london"}, directory: users(3000, 1)})
	londonCfg, _ := f.writeConfig(spec{name: "london", backup: "paris", directory: users(2000, 2),
		peers: map[string]string{"paris": parisAddr}})
	rec := filepath.Join(f.dir, "paris", "record.jsonl")
	cf, err := os.OpenFile(parisCfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(cf, "plugins:\n  guest: {record: %q, register: \"2001\", register_as: guest}\n", rec)
	cf.Close()
	paris := start(t, parisCfg)
	london := start(t, londonCfg)
	linked(t, london, paris)
	london.stop()
	eventually(t, 5*time.Second, "paris declares london down", func() bool { return paris.state(t, "london") == "failover" })

	ctx := context.Background()
	if _, err := paris.admin.InstallPlugin(ctx, &adminv1.InstallPluginRequest{Path: bin, Name: "guest"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "guest registration answered", func() bool { return len(recorded(rec, "registered")) == 1 })
	if r := recorded(rec, "registered")[0]; r["ok"] != true {
		t.Fatalf("guest registration refused: %v", r)
	}
	eventually(t, 5*time.Second, "london's resilience active at paris", func() bool {
		return paris.peer(t, "london").GetResilience() == "active"
	})
	st, _ := paris.admin.GetStatus(ctx, &adminv1.GetStatusRequest{})
	if st.GetSite().GetGuests() != 1 || st.GetSite().GetLicensed() != 0 || paris.peer(t, "london").GetGuests() != 1 {
		t.Errorf("paris: guests %d, licensed %d, london's guests %d; want 1, 0, 1",
			st.GetSite().GetGuests(), st.GetSite().GetLicensed(), paris.peer(t, "london").GetGuests())
	}
	phones, _ := paris.admin.ListPhones(ctx, &adminv1.ListPhonesRequest{})
	if regs := phones.GetRegistrations(); len(regs) != 1 || regs[0].GetHereAs() != "guest" || regs[0].GetHome() != "london" {
		t.Errorf("paris phones = %v", regs)
	}
}

// TestWebhookExample: the example third-party plugin (examples/webhook,
// built only on plugins/sdk) installed through the admin API serves and
// posts the site's events to its URL.
func TestWebhookExample(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site, plugin processes")
	}
	if _, err := os.Stat("../../examples/webhook"); err != nil {
		t.Skip("no examples/webhook")
	}
	bin := filepath.Join(t.TempDir(), "rally-webhook")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/webhook").CombinedOutput(); err != nil {
		t.Fatalf("go build examples/webhook: %v\n%s", err, out)
	}
	var mu sync.Mutex
	var posted []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e map[string]any
		if json.NewDecoder(r.Body).Decode(&e) == nil {
			mu.Lock()
			posted = append(posted, e)
			mu.Unlock()
		}
	}))
	defer srv.Close()

	f := newFed(t)
	parisCfg, parisAddr := f.writeConfig(spec{name: "paris", host: "127.0.0.2", backsUp: []string{"london"}, directory: users(3000, 1)})
	londonCfg, _ := f.writeConfig(spec{name: "london", backup: "paris", directory: users(2000, 2),
		peers: map[string]string{"paris": parisAddr}})
	cf, err := os.OpenFile(londonCfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(cf, "plugins:\n  webhook: {url: %q}\n", srv.URL+"/rally/events")
	cf.Close()
	paris := start(t, parisCfg)
	london := start(t, londonCfg)
	linked(t, london, paris)

	if _, err := london.admin.InstallPlugin(context.Background(), &adminv1.InstallPluginRequest{Path: bin, Name: "webhook"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "webhook serving", func() bool { return sitePlugin(t, london, "webhook").GetHealth() == "serving" })
	paris.stop()
	eventually(t, 10*time.Second, "london posts paris's link down and state change", func() bool {
		mu.Lock()
		defer mu.Unlock()
		var link, state bool
		for _, e := range posted {
			link = link || (e["kind"] == "link" && e["peer"] == "paris" && e["to"] == "down")
			state = state || (e["kind"] == "peer_state" && e["peer"] == "paris")
			if e["site"] != "london" {
				t.Errorf("posted event of site %v", e["site"])
			}
		}
		return link && state
	})
}
