package cli

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/sip/sipptest"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

// parisDirectory is paris's own seed directory in the proxy tests.
const parisDirectory = `users:
  - {extension: "301", name: Pierre, password: pierre-secret, phone: {kind: desk, protocol: sip}}
`

// withDirectory gives a site a seed directory of its own.
func withDirectory(t *testing.T, s e2eSite, directory string) {
	t.Helper()
	p := filepath.Join(filepath.Dir(s.cfg), s.name+"-directory.yaml")
	if err := os.WriteFile(p, []byte(directory), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(s.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("directory: " + p + "\n"); err != nil {
		t.Fatal(err)
	}
}

// sippPhone is a SIPp user agent: a port, registered as user at a site.
type sippPhone struct {
	user, password, ip string
	port               int
}

func newSIPpPhone(t *testing.T, user, password, ip string) sippPhone {
	t.Helper()
	port, err := sipptest.FreePort(ip)
	if err != nil {
		t.Fatal(err)
	}
	return sippPhone{user: user, password: password, ip: ip, port: port}
}

func (p sippPhone) users() [][2]string { return [][2]string{{p.user, p.password}} }

// register registers the phone's port at server (retrying until the
// site admits it).
func (p sippPhone) register(t *testing.T, server string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		r, err := sipptest.Run{Scenario: "register", Server: server, Users: p.users(), LocalIP: p.ip, LocalPort: p.port,
			Keys: map[string]string{"domain": "voip.example"}, Timeout: 10 * time.Second}.Exec(context.Background(), t.TempDir())
		if err == nil && r.OK(1) {
			return
		}
		last = r.String() + "\n" + r.Errors
		if err != nil {
			last = err.Error()
		}
	}
	t.Fatalf("register %s at %s: %s", p.user, server, last)
}

// answer runs the callee (scenario uas) for one call in the background;
// wait returns its result.
func (p sippPhone) answer(t *testing.T, server string) (wait func() (sipptest.Result, error)) {
	t.Helper()
	var wg sync.WaitGroup
	var res sipptest.Result
	var err error
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, err = sipptest.Run{Scenario: "uas", Server: server, LocalIP: p.ip, LocalPort: p.port,
			Timeout: 90 * time.Second}.Exec(context.Background(), t.TempDir())
	}()
	time.Sleep(300 * time.Millisecond) // bound before the INVITE (else the proxy's retransmissions cover it)
	return func() (sipptest.Result, error) { wg.Wait(); return res, err }
}

// call runs the caller (scenario call): callee is called through server,
// the call is held for hold, then hung up.
func (p sippPhone) call(t *testing.T, server, callee string, hold time.Duration) (sipptest.Result, error) {
	t.Helper()
	return sipptest.Run{Scenario: "call", Server: server, Users: p.users(), LocalIP: p.ip, LocalPort: p.port,
		Keys: map[string]string{"callee": callee, "domain": "voip.example"}, Timeout: hold + 60*time.Second,
		Args: []string{"-d", strconv.FormatInt(hold.Milliseconds(), 10)}}.Exec(context.Background(), t.TempDir())
}

// busyAt reports whether site lists phone busy in `rally phones`.
func busyAt(c adminv1.AdminServiceClient, phone string) bool {
	ph, err := c.ListPhones(context.Background(), &adminv1.ListPhonesRequest{})
	if err != nil {
		return false
	}
	for _, r := range ph.GetRegistrations() {
		if r.GetPhone() == phone {
			return r.GetBusy()
		}
	}
	return false
}

// TestSIPProxyCrossSite: a phone of london calls a user registered at
// paris through both sites' proxies (two real daemons, SIPp phones): london
// finds the user's home in the directory index and forwards to paris's SIP
// endpoint from paris's hello; paris trusts london's proxy (no challenge)
// and delivers to the registered callee; the ACK and BYE follow the
// Record-Route of both. Both sites list their phone busy during the call.
func TestSIPProxyCrossSite(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	if _, err := sipptest.Path(); err != nil {
		t.Skip(err)
	}
	london, paris := writeSites(t, "automatic", false)
	withDirectory(t, paris, parisDirectory)
	londonSIP := withSIP(t, london, "127.0.0.1")
	parisSIP := withSIP(t, paris, "127.0.0.2")
	londonMetrics := withMetrics(t, london, "127.0.0.1")
	serveSite(t, paris.cfg)
	serveSite(t, london.cfg)
	lc, pc := adminOf(t, london), adminOf(t, paris)
	waitFor(t, 15*time.Second, "linked, indexes replicated, SIP serving", func() bool {
		p, l := peerOf(pc, "london"), peerOf(lc, "paris")
		return p.GetState() == "normal" && l.GetState() == "normal" && p.GetHeldRecords() > 0 && l.GetHeldRecords() > 0 &&
			sipServing(lc) && sipServing(pc)
	})

	alice := newSIPpPhone(t, "201", "alice-secret", "127.0.0.1")
	pierre := newSIPpPhone(t, "301", "pierre-secret", "127.0.0.2")
	alice.register(t, londonSIP)
	pierre.register(t, parisSIP)

	wait := pierre.answer(t, parisSIP)
	sawBusy := make(chan bool, 1)
	go func() {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if busyAt(lc, "201") && busyAt(pc, "301") {
				sawBusy <- true
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		sawBusy <- false
	}()
	uac, err := alice.call(t, londonSIP, "301", 2*time.Second)
	uas, uasErr := wait()
	if err != nil || !uac.OK(1) {
		t.Fatalf("caller: %v %s\n%s\n%s", err, uac, uac.Errors, uac.Messages)
	}
	if uasErr != nil || !uas.OK(1) {
		t.Fatalf("callee: %v %s\n%s\n%s", uasErr, uas, uas.Errors, uas.Messages)
	}
	if !<-sawBusy {
		t.Error("london and paris never both listed their phone busy during the call")
	}
	got := sipptest.MessagesReceived(uas.Messages)
	if len(got) != 3 {
		t.Fatalf("callee received %d messages, want INVITE, ACK, BYE:\n%s", len(got), uas.Messages)
	}
	invite := got[0]
	for _, want := range []string{
		// each proxy signs its Record-Route with a MAC of the dialog
		"Record-Route: <sip:" + parisSIP + ";lr;rly=", "Record-Route: <sip:" + londonSIP + ";lr;rly=",
		"Via: SIP/2.0/UDP " + parisSIP + ";", "Via: SIP/2.0/UDP " + londonSIP + ";",
	} {
		if !strings.Contains(invite, want) {
			t.Errorf("the callee's INVITE lacks %q:\n%s", want, invite)
		}
	}
	for i, m := range []string{"ACK ", "BYE "} {
		if !strings.HasPrefix(got[i+1], m) || !strings.Contains(got[i+1], "Via: SIP/2.0/UDP "+londonSIP+";") {
			t.Errorf("the callee's %s did not come through london and paris:\n%s", m, got[i+1])
		}
	}
	waitFor(t, 5*time.Second, "both phones idle after the BYE", func() bool { return !busyAt(lc, "201") && !busyAt(pc, "301") })
	// london's proxy counted the INVITE it routed to paris, and the
	// INVITE, ACK and BYE it forwarded.
	if v := scrape(t, londonMetrics, `rally_plugin_sip_proxy_routed_to_peer_site_total{plugin="sip"}`); v != 1 {
		t.Errorf("london routed %v requests to paris, want 1 (the INVITE)", v)
	}
	if v := scrape(t, londonMetrics, `rally_plugin_sip_proxy_forwarded_total{plugin="sip"}`); v < 3 {
		t.Errorf("london forwarded %v requests, want at least 3", v)
	}
}

// TestSIPProxyGracefulFailback: london (graceful failback) dies; its phones
// 201 and 202 register at paris as guests and 201 calls 202 through paris's
// proxy. london returns while the call is up: the busy guest's refresh is
// still admitted (graceful failback waits for the call), and once the call
// ends its next refresh is refused with 503 + Retry-After, which sends it
// home.
func TestSIPProxyGracefulFailback(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	if _, err := sipptest.Path(); err != nil {
		t.Skip(err)
	}
	g := guestsAtParis(t, "graceful")
	london, lc, pc, londonSIP, parisSIP := g.london, g.lc, g.pc, g.londonSIP, g.parisSIP
	alice, bob, refresher := g.alice, g.bob, g.refresher

	wait := bob.answer(t, parisSIP)
	const hold = 12 * time.Second
	type result struct {
		r   sipptest.Result
		err error
	}
	callDone := make(chan result, 1)
	go func() {
		r, err := alice.call(t, parisSIP, "202", hold)
		callDone <- result{r, err}
	}()
	waitFor(t, 10*time.Second, "paris lists both guests busy", func() bool { return busyAt(pc, "201") && busyAt(pc, "202") })

	serveSite(t, london.cfg)
	waitFor(t, 15*time.Second, "graceful failback pending", func() bool {
		return peerOf(pc, "london").GetState() == "failback_pending" && sipServing(lc)
	})
	code, detail, err := refresher.register(context.Background(), parisSIP)
	if err != nil || code != 200 {
		t.Fatalf("the busy guest's refresh during graceful failback: %d %s %v (want 200: it stays until its call ends)", code, detail, err)
	}
	select {
	case r := <-callDone:
		t.Fatalf("the call ended before the refresh was checked: %s", r.r)
	default:
	}

	c := <-callDone
	if c.err != nil || !c.r.OK(1) {
		t.Fatalf("caller: %v %s\n%s\n%s", c.err, c.r, c.r.Errors, c.r.Messages)
	}
	if uas, err := wait(); err != nil || !uas.OK(1) {
		t.Fatalf("callee: %v %s\n%s", err, uas, uas.Errors)
	}
	waitFor(t, 5*time.Second, "201 idle after the BYE", func() bool { return !busyAt(pc, "201") })
	code, detail, err = refresher.register(context.Background(), parisSIP)
	if err != nil || code != 503 || !strings.Contains(detail, "Retry-After: 2") {
		t.Fatalf("the guest's refresh after its call: %d %s %v, want 503 with Retry-After: 2", code, detail, err)
	}
	registerAt(t, refresher, londonSIP, 200)
}

// TestSIPProxyAutomaticFailbackKeepsCall: london (automatic failback)
// dies; its phones 201 and 202 call each other as guests through paris's
// proxy. london returns and fails back while the call is up: the guest's
// next refresh is refused (503 + Retry-After) although it is in a call —
// automatic mode does not wait — and it registers home; but the call goes
// on (no BYE from the proxy: direct media, DESIGN §1.8) and is hung up
// normally through paris.
func TestSIPProxyAutomaticFailbackKeepsCall(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	if _, err := sipptest.Path(); err != nil {
		t.Skip(err)
	}
	g := guestsAtParis(t, "automatic")
	london, lc, pc, londonSIP, parisSIP := g.london, g.lc, g.pc, g.londonSIP, g.parisSIP
	alice, bob, refresher := g.alice, g.bob, g.refresher

	wait := bob.answer(t, parisSIP)
	type result struct {
		r   sipptest.Result
		err error
	}
	callDone := make(chan result, 1)
	go func() {
		r, err := alice.call(t, parisSIP, "202", 10*time.Second)
		callDone <- result{r, err}
	}()
	waitFor(t, 10*time.Second, "paris lists both guests busy", func() bool { return busyAt(pc, "201") && busyAt(pc, "202") })

	serveSite(t, london.cfg)
	waitFor(t, 15*time.Second, "automatic failback done", func() bool {
		return peerOf(pc, "london").GetState() == "normal" && sipServing(lc)
	})
	code, detail, err := refresher.register(context.Background(), parisSIP)
	if err != nil || code != 503 || !strings.Contains(detail, "Retry-After: 2") {
		t.Fatalf("the busy guest's refresh after automatic failback: %d %s %v, want 503 with Retry-After: 2", code, detail, err)
	}
	registerAt(t, refresher, londonSIP, 200)
	select {
	case r := <-callDone:
		t.Fatalf("the call ended before failback was checked: %s", r.r)
	default:
	}

	c := <-callDone
	if c.err != nil || !c.r.OK(1) {
		t.Fatalf("the call did not survive the failback (caller): %v %s\n%s\n%s", c.err, c.r, c.r.Errors, c.r.Messages)
	}
	if uas, err := wait(); err != nil || !uas.OK(1) {
		t.Fatalf("the call did not survive the failback (callee): %v %s\n%s", err, uas, uas.Errors)
	}
}

// guests are london's phones 201 (alice, and refresher: the same phone's
// registration refreshes) and 202 (bob) registered at paris as guests
// after kill -9 of london, whose failback mode is mode.
type guests struct {
	london              e2eSite
	lc, pc              adminv1.AdminServiceClient
	londonSIP, parisSIP string
	alice, bob          sippPhone
	refresher           *demoPhone
}

func guestsAtParis(t *testing.T, mode string) guests {
	t.Helper()
	london, paris := writeSites(t, mode, false)
	g := guests{london: london, londonSIP: withSIP(t, london, "127.0.0.1"), parisSIP: withSIP(t, paris, "127.0.0.2")}
	serveSite(t, paris.cfg)
	lp := serveSite(t, london.cfg)
	g.lc, g.pc = adminOf(t, london), adminOf(t, paris)
	waitFor(t, 15*time.Second, "linked, replicated, SIP serving", func() bool {
		p := peerOf(g.pc, "london")
		return p.GetState() == "normal" && p.GetHeldRecords() > 0 && sipServing(g.lc) && sipServing(g.pc)
	})
	lp.kill()
	waitFor(t, 5*time.Second, "failover", func() bool { return peerOf(g.pc, "london").GetState() == "failover" })

	g.alice = newSIPpPhone(t, "201", "alice-secret", "127.0.0.1")
	g.bob = newSIPpPhone(t, "202", "bob-secret", "127.0.0.1")
	g.alice.register(t, g.parisSIP)
	g.bob.register(t, g.parisSIP)
	refresher, err := newDemoPhone("201", "201", "alice-secret", "voip.example", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(refresher.close)
	g.refresher = refresher
	return g
}
