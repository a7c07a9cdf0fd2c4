package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

// withSIP adds the built-in SIP plugin to a site config and returns its
// UDP address.
func withSIP(t testing.TB, s e2eSite, host string) string {
	t.Helper()
	addr := freePort(t, host) // a free TCP port is very likely a free UDP port too
	f, err := os.OpenFile(s.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("plugins:\n  sip: {listen: [udp://" + addr + "], refuse: \"503\", guest_expires: 60s, retry_after: 2s, nonce_lifetime: 2s}\n"); err != nil {
		t.Fatal(err)
	}
	return addr
}

// withMetrics adds a metrics listener to a site config and returns its
// address.
func withMetrics(t testing.TB, s e2eSite, host string) string {
	t.Helper()
	addr := freePort(t, host)
	f, err := os.OpenFile(s.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("metrics: " + addr + "\n"); err != nil {
		t.Fatal(err)
	}
	return addr
}

// scrape reads one sample (name with its labels, as exposed) from the
// /metrics of addr; -1 when it is not there.
func scrape(t testing.TB, addr, sample string) float64 {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return -1
}

func sipServing(c adminv1.AdminServiceClient) bool {
	st, err := c.GetStatus(context.Background(), &adminv1.GetStatusRequest{})
	if err != nil {
		return false
	}
	for _, p := range st.GetSite().GetPlugins() {
		if p.GetName() == "sip" && p.GetHealth() == "serving" {
			return true
		}
	}
	return false
}

// registerAt registers phone at addr until it answers want.
func registerAt(t *testing.T, p *demoPhone, addr string, want int) string {
	t.Helper()
	var last string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		code, detail, err := p.register(context.Background(), addr)
		if err == nil && code == want {
			return detail
		}
		last = detail
		if err != nil {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("REGISTER %s at %s: got %q, want %d", p.id, addr, last, want)
	return ""
}

// TestSIPFailoverAndFailback drives the built-in SIP plugin of two real
// sites with a SIP client (sipgo's, with digest): registered home, refused
// at the backup with 503 + Retry-After, a wrong password refused, kill -9
// the home → registered at the backup as a guest with a short expiry, the
// home returns → the guest's next refresh is refused and it registers home.
func TestSIPFailoverAndFailback(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	london, paris := writeSites(t, "automatic", false)
	londonSIP := withSIP(t, london, "127.0.0.1")
	parisSIP := withSIP(t, paris, "127.0.0.2")
	parisMetrics := withMetrics(t, paris, "127.0.0.2")
	serveSite(t, paris.cfg)
	lp := serveSite(t, london.cfg)
	lc, pc := adminOf(t, london), adminOf(t, paris)
	waitFor(t, 15*time.Second, "linked, replicated, SIP serving", func() bool {
		p := peerOf(pc, "london")
		return p.GetState() == "normal" && p.GetHeldRecords() > 0 && sipServing(lc) && sipServing(pc)
	})
	alice, err := newDemoPhone("201", "201", "alice-secret", "voip.example", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer alice.close()
	mallory, err := newDemoPhone("201", "201", "not-alices", "voip.example", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer mallory.close()
	stranger, err := newDemoPhone("999", "999", "x", "voip.example", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.close()

	if got := registerAt(t, alice, londonSIP, 200); !strings.Contains(got, "expires 300s") {
		t.Errorf("home registration: %s", got)
	}
	registerAt(t, mallory, londonSIP, 403)
	registerAt(t, stranger, londonSIP, 403)
	if got := registerAt(t, alice, parisSIP, 503); !strings.Contains(got, "Retry-After: 2") {
		t.Errorf("refusal at the backup: %s", got)
	}
	// The refusal is counted in the backup's metrics (DESIGN §1.1): the
	// plugin's counters are served by the daemon.
	refused := `rally_plugin_sip_registers_total{plugin="sip",result="refused_homed_at_live_peer"}`
	if v := scrape(t, parisMetrics, refused); v < 1 {
		t.Errorf("%s = %v, want at least 1", refused, v)
	}
	waitFor(t, 5*time.Second, "london counts a licensed registration", func() bool {
		st, err := lc.GetStatus(context.Background(), &adminv1.GetStatusRequest{})
		return err == nil && st.GetSite().GetLicensed() == 1
	})

	lp.kill()
	waitFor(t, 5*time.Second, "failover", func() bool { return peerOf(pc, "london").GetState() == "failover" })
	if got := registerAt(t, alice, parisSIP, 200); !strings.Contains(got, "expires 60s") {
		t.Errorf("guest registration: %s (want the short guest expiry)", got)
	}
	registerAt(t, mallory, parisSIP, 403) // replicated HA1, checked at the backup too
	waitFor(t, 5*time.Second, "paris lists the guest, resilience active", func() bool {
		p := peerOf(pc, "london")
		ph, err := pc.ListPhones(context.Background(), &adminv1.ListPhonesRequest{})
		return err == nil && p.GetGuests() == 1 && p.GetResilience() == "active" &&
			len(ph.GetRegistrations()) == 1 && ph.GetRegistrations()[0].GetHereAs() == "guest"
	})

	serveSite(t, london.cfg)
	waitFor(t, 15*time.Second, "failback", func() bool { return peerOf(pc, "london").GetState() == "normal" && sipServing(lc) })
	registerAt(t, alice, parisSIP, 503)
	registerAt(t, alice, londonSIP, 200)
	waitFor(t, 5*time.Second, "paris dropped the guest", func() bool {
		ph, err := pc.ListPhones(context.Background(), &adminv1.ListPhonesRequest{})
		return err == nil && len(ph.GetRegistrations()) == 0
	})
}

// sipPlugin returns the status of a site's sip plugin.
func sipPlugin(c adminv1.AdminServiceClient) *adminv1.PluginStatus {
	st, err := c.GetStatus(context.Background(), &adminv1.GetStatusRequest{})
	if err != nil {
		return nil
	}
	for _, p := range st.GetSite().GetPlugins() {
		if p.GetName() == "sip" {
			return p
		}
	}
	return nil
}

// TestSIPPluginCrash: kill -9 the SIP plugin process; the host restarts it
// and it restores the registrations the host holds, so the UDP phone stays
// registered without re-registering.
func TestSIPPluginCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	london, _ := writeSites(t, "automatic", false)
	londonSIP := withSIP(t, london, "127.0.0.1")
	serveSite(t, london.cfg)
	lc := adminOf(t, london)
	waitFor(t, 15*time.Second, "SIP serving", func() bool { return sipServing(lc) })
	alice, err := newDemoPhone("201", "201", "alice-secret", "voip.example", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer alice.close()
	registerAt(t, alice, londonSIP, 200)
	waitFor(t, 5*time.Second, "the host holds the registration", func() bool {
		ph, err := lc.ListPhones(context.Background(), &adminv1.ListPhonesRequest{})
		return err == nil && len(ph.GetRegistrations()) == 1
	})

	before := sipPlugin(lc)
	if err := syscall.Kill(int(before.GetPid()), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the plugin restarted and serving", func() bool {
		p := sipPlugin(lc)
		return p.GetRestarts() >= 1 && p.GetPid() != before.GetPid() && p.GetHealth() == "serving"
	})
	var got []string
	waitFor(t, 5*time.Second, "the binding restored in the new plugin process", func() bool {
		got, err = alice.bindings(context.Background(), londonSIP)
		return err == nil && len(got) == 1 && strings.Contains(got[0], "sip:201@127.0.0.1:5060")
	})
	ph, err := lc.ListPhones(context.Background(), &adminv1.ListPhonesRequest{})
	if err != nil || len(ph.GetRegistrations()) != 1 || ph.GetRegistrations()[0].GetHereAs() != "home" {
		t.Fatalf("after the crash rally phones lists %v (%v)", ph.GetRegistrations(), err)
	}
	// And the phone's own refresh goes on as before.
	registerAt(t, alice, londonSIP, 200)
}

// TestSIPDeadPluginAtLiveHome (DESIGN §1.2): london's daemon lives but its
// SIP plugin cannot serve (another process holds its port). Its heartbeats
// say so; paris declares london down for SIP only — the link stays normal —
// and admits london's SIP phone as a guest, so it is not stranded. When the
// port is freed, london's plugin serves again (restarted with backoff) and
// the guest is sent home.
func TestSIPDeadPluginAtLiveHome(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	london, paris := writeSites(t, "automatic", false)
	londonSIP := withSIP(t, london, "127.0.0.1")
	parisSIP := withSIP(t, paris, "127.0.0.2")
	squatter, err := net.ListenPacket("udp", londonSIP)
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	serveSite(t, paris.cfg)
	serveSite(t, london.cfg)
	lc, pc := adminOf(t, london), adminOf(t, paris)
	waitFor(t, 15*time.Second, "linked and replicated, paris serving SIP", func() bool {
		p := peerOf(pc, "london")
		return p.GetState() == "normal" && p.GetHeldRecords() > 0 && sipServing(pc)
	})
	if sipServing(lc) {
		t.Fatal("london's SIP plugin serves on a port another process holds")
	}
	alice, err := newDemoPhone("201", "201", "alice-secret", "voip.example", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer alice.close()
	if got := registerAt(t, alice, parisSIP, 200); !strings.Contains(got, "expires 60s") {
		t.Errorf("registration at paris while london's SIP plugin is dead: %s (want a guest)", got)
	}
	if st := peerOf(pc, "london").GetState(); st != "normal" {
		t.Errorf("paris sees london %s; only its SIP is down", st)
	}

	squatter.Close()
	waitFor(t, 30*time.Second, "london's SIP plugin serving again", func() bool { return sipServing(lc) })
	registerAt(t, alice, parisSIP, 503)
	registerAt(t, alice, londonSIP, 200)
}
