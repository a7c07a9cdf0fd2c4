package cli

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/h323sim"
	"github.com/rallyvoip/rally/plugins/h323/ras"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

// withH323 adds the built-in H.323 gatekeeper to a site config and returns
// its RAS address.
func withH323(t testing.TB, s e2eSite, host string) netip.AddrPort {
	t.Helper()
	addr := freePort(t, host) // a free TCP port is very likely a free UDP port too
	f, err := os.OpenFile(s.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("plugins:\n  h323: {listen: " + addr + ", guest_time_to_live: 30s, urq_retry: 500ms}\n"); err != nil {
		t.Fatal(err)
	}
	return netip.MustParseAddrPort(addr)
}

func h323Serving(c adminv1.AdminServiceClient) bool {
	st, err := c.GetStatus(context.Background(), &adminv1.GetStatusRequest{})
	if err != nil {
		return false
	}
	for _, p := range st.GetSite().GetPlugins() {
		if p.GetName() == "h323" && p.GetHealth() == "serving" {
			return true
		}
	}
	return false
}

// h323Endpoint is a simulated H.323 phone on 127.0.0.1.
func h323Endpoint(t *testing.T, aliases ...ras.AliasAddress) *h323sim.Endpoint {
	t.Helper()
	e, err := h323sim.New(h323sim.Config{Local: netip.MustParseAddr("127.0.0.1"), Aliases: aliases, TimeToLive: 300,
		Retransmit: 300 * time.Millisecond, Tries: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// registerH323 sends full RRQs to gk (as gkID) until one gets an answer
// accepted by ok, and returns it.
func registerH323(t *testing.T, e *h323sim.Endpoint, gk netip.AddrPort, gkID, what string, ok func(ras.Message) bool) ras.Message {
	t.Helper()
	var last ras.Message
	var lastErr error
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		last, lastErr = e.RegisterAs(ctx, gk, gkID)
		cancel()
		if lastErr == nil && ok(last) {
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: RRQ to %s: last answer %+v (%v)", what, gk, last, lastErr)
	return nil
}

func isRCF(m ras.Message) bool { _, ok := m.(*ras.RegistrationConfirm); return ok }

// h323Regs lists a site's H.323 registrations.
func h323Regs(c adminv1.AdminServiceClient) []*adminv1.Registration {
	ph, err := c.ListPhones(context.Background(), &adminv1.ListPhonesRequest{})
	if err != nil {
		return nil
	}
	var out []*adminv1.Registration
	for _, r := range ph.GetRegistrations() {
		if r.GetProtocol() == "h323" {
			out = append(out, r)
		}
	}
	return out
}

// checkRAS has tshark decode every datagram the endpoints received from
// the gatekeepers: none malformed, each a RAS message; it returns how
// many of each type.
func checkRAS(t *testing.T, gks []netip.AddrPort, eps ...*h323sim.Endpoint) map[int]int {
	t.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Fatal("tshark not found in PATH; install it: apt-get install -y tshark")
	}
	var ports []uint16
	for _, g := range gks {
		ports = append(ports, g.Port())
	}
	seen := map[int]int{}
	for _, e := range eps {
		res, err := h323sim.Tshark(context.Background(), tshark, e.Capture(), ports...)
		if err != nil {
			t.Fatal(err)
		}
		if res.Malformed != "" {
			t.Fatalf("tshark found malformed RAS datagrams:\n%s", res.Malformed)
		}
		if len(res.Messages) != e.Capture().Len() || e.Capture().Len() == 0 {
			t.Fatalf("tshark decoded %d of %d datagrams", len(res.Messages), e.Capture().Len())
		}
		for _, m := range res.Messages {
			if m < 0 {
				t.Fatalf("a datagram not decoded as RAS: %v", res.Messages)
			}
			seen[m]++
		}
	}
	t.Logf("tshark decoded the gatekeepers' datagrams: %v (0 malformed)", seen)
	return seen
}

// TestH323FailoverAndFailback drives the built-in gatekeeper of two real
// sites with a simulated H.323 endpoint: registered home (its backup named
// as alternate gatekeeper), refused at the backup with an RRJ naming its
// home, kill -9 the home → registered at the alternate gatekeeper as a
// guest, the home returns → after failback_delay (automatic) or on
// `rally failback` (manual) the backup's URQ sends it home
// (alternateGatekeeper = home, needToRegister).
func TestH323FailoverAndFailback(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	for _, mode := range []string{"automatic", "manual"} {
		t.Run(mode, func(t *testing.T) { testH323Failover(t, mode) })
	}
}

func testH323Failover(t *testing.T, mode string) {
	london, paris := writeSites(t, mode, false)
	lGK := withH323(t, london, "127.0.0.1")
	pGK := withH323(t, paris, "127.0.0.2")
	parisMetrics := withMetrics(t, paris, "127.0.0.2")
	serveSite(t, paris.cfg)
	lp := serveSite(t, london.cfg)
	lc, pc := adminOf(t, london), adminOf(t, paris)
	waitFor(t, 15*time.Second, "linked, replicated, H.323 serving", func() bool {
		p := peerOf(pc, "london")
		return p.GetState() == "normal" && p.GetHeldRecords() > 0 && h323Serving(lc) && h323Serving(pc)
	})
	carol := h323Endpoint(t, ras.H323ID("carol"), ras.DialedDigits("203"))

	// Home: the RCF names paris as alternate gatekeeper (once london has
	// paris's hello).
	a := registerH323(t, carol, lGK, "", "home", func(m ras.Message) bool {
		ap, _, ok := h323sim.AltGK(m)
		return isRCF(m) && ok && ap == pGK
	})
	rcf := a.(*ras.RegistrationConfirm)
	if rcf.EndpointIdentifier == "" || rcf.TimeToLive != 300 || !rcf.AlternateGatekeeper[0].NeedToRegister {
		t.Errorf("home RCF %+v", rcf)
	}
	waitFor(t, 5*time.Second, "london lists carol at home", func() bool {
		r := h323Regs(lc)
		return len(r) == 1 && r[0].GetPhone() == "203" && r[0].GetHereAs() == "home" && r[0].GetTransport() == "ras" &&
			r[0].GetAor() == "203,carol" && r[0].GetContact() == carol.CallSignal().String()
	})

	// rally phones shows it beside the SIP phones: aliases, call signal
	// address, home, here-as, time to live.
	out, err := exec.Command(rallyBinary(t), "phones", "--config", london.cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("rally phones: %v\n%s", err, out)
	}
	var row string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "203 ") {
			row = l
		}
	}
	for _, want := range []string{"203,carol", "london", "home", "h323", "desk", "ras", carol.CallSignal().String(), "rally-h323sim 1.0", "in 5m"} {
		if !strings.Contains(row, want) {
			t.Errorf("rally phones row %q lacks %q:\n%s", row, want, out)
		}
	}

	// Refused at the backup while the home lives, pointed home.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stray := h323Endpoint(t, ras.H323ID("carol"), ras.DialedDigits("203"))
	a, err = stray.Register(ctx, pGK)
	if err != nil {
		t.Fatal(err)
	}
	rrj, ok := a.(*ras.RegistrationReject)
	if ap, _, alt := h323sim.AltGK(a); !ok || !alt || ap != lGK || rrj.RejectReason.Choice != ras.RRJResourceUnavailable {
		t.Fatalf("RRQ at the backup while the home lives got %+v", a)
	}
	// Counted in the backup's metrics (DESIGN §1.1).
	for _, sample := range []string{`rally_plugin_h323_refused_total{plugin="h323"}`, `rally_plugin_h323_ras_sent_total{message="rrj",plugin="h323"}`} {
		if v := scrape(t, parisMetrics, sample); v < 1 {
			t.Errorf("%s = %v, want at least 1", sample, v)
		}
	}

	// kill -9 the home: carol goes where its RCF said.
	lp.kill()
	waitFor(t, 5*time.Second, "failover", func() bool { return peerOf(pc, "london").GetState() == "failover" })
	_, _, _, alts, _ := carol.Registration()
	alt, altID := alts[0].RASAddress.(ras.IPAddress).AddrPort(), alts[0].GatekeeperIdentifier
	a = registerH323(t, carol, alt, altID, "guest", isRCF)
	if g := a.(*ras.RegistrationConfirm); g.TimeToLive != 30 {
		t.Errorf("guest RCF time to live %d, want the guest's 30", g.TimeToLive)
	} else if ap, _, ok := h323sim.AltGK(g); !ok || ap != lGK {
		t.Errorf("guest RCF alternate %+v, want london", g.AlternateGatekeeper)
	}
	waitFor(t, 5*time.Second, "paris lists the guest, resilience active", func() bool {
		p := peerOf(pc, "london")
		r := h323Regs(pc)
		return p.GetGuests() == 1 && p.GetResilience() == "active" && len(r) == 1 && r[0].GetHereAs() == "guest"
	})
	if _, err := carol.KeepAlive(ctx); err != nil {
		t.Fatal(err)
	}

	// The home returns: after failback_delay (automatic) or on command
	// (manual) paris sends carol home.
	serveSite(t, london.cfg)
	if mode == "manual" {
		waitFor(t, 15*time.Second, "failback pending", func() bool { return peerOf(pc, "london").GetState() == "failback_pending" })
		quiet, cancelQuiet := context.WithTimeout(context.Background(), 2*time.Second) // beyond failback_delay
		if urq, err := carol.WaitURQ(quiet); err == nil {
			t.Fatalf("URQ before the manual failback: %+v", urq)
		}
		cancelQuiet()
		if out, err := exec.Command(rallyBinary(t), "failback", "london", "--config", paris.cfg).CombinedOutput(); err != nil {
			t.Fatalf("rally failback: %v\n%s", err, out)
		}
	}
	urqCtx, cancelURQ := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelURQ()
	urq, err := carol.WaitURQ(urqCtx)
	if err != nil {
		t.Fatalf("no URQ from the backup after the home returned: %v", err)
	}
	home, _, ok := h323sim.AltGK(urq)
	if !ok || home != lGK || !urq.AlternateGatekeeper[0].NeedToRegister {
		t.Fatalf("URQ %+v does not send carol home", urq)
	}
	if peerOf(pc, "london").GetState() != "normal" {
		t.Errorf("URQ before the failback completed: %s", peerOf(pc, "london").GetState())
	}
	registerH323(t, carol, home, urq.AlternateGatekeeper[0].GatekeeperIdentifier, "back home", isRCF)
	waitFor(t, 5*time.Second, "paris dropped the guest, london has carol", func() bool {
		r := h323Regs(lc)
		return len(h323Regs(pc)) == 0 && len(r) == 1 && r[0].GetHereAs() == "home"
	})
	seen := checkRAS(t, []netip.AddrPort{lGK, pGK}, carol, stray)
	for _, idx := range []int{ras.IndexRegistrationConfirm, ras.IndexRegistrationReject, ras.IndexUnregistrationRequest} {
		if seen[idx] == 0 {
			t.Errorf("no message %d among those tshark decoded: %v", idx, seen)
		}
	}
}

// h323Directory is london's directory with two H.323 desk phones.
const h323Directory = `users:
  - {extension: "201", name: Alice, password: alice-secret, phone: {kind: desk, protocol: sip}}
  - {extension: "203", name: Carol, h323_id: carol, phone: {kind: desk, protocol: h323}}
  - {extension: "204", name: Dave, h323_id: dave, phone: {kind: desk, protocol: h323}}
`

// TestH323GracefulFailback: in graceful mode the backup sends each guest
// home only once it has no call (DRQ), and a direct call between two
// guests goes on through the home's return and the URQs.
func TestH323GracefulFailback(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	london, paris := writeSitesWith(t, "graceful", false, h323Directory)
	lGK := withH323(t, london, "127.0.0.1")
	pGK := withH323(t, paris, "127.0.0.2")
	serveSite(t, paris.cfg)
	lp := serveSite(t, london.cfg)
	lc, pc := adminOf(t, london), adminOf(t, paris)
	waitFor(t, 15*time.Second, "linked, replicated, H.323 serving", func() bool {
		p := peerOf(pc, "london")
		return p.GetState() == "normal" && p.GetHeldRecords() > 0 && h323Serving(lc) && h323Serving(pc)
	})
	carol := h323Endpoint(t, ras.H323ID("carol"), ras.DialedDigits("203"))
	dave := h323Endpoint(t, ras.H323ID("dave"), ras.DialedDigits("204"))
	for _, e := range []*h323sim.Endpoint{carol, dave} {
		registerH323(t, e, lGK, "", "home", isRCF)
	}
	lp.kill()
	waitFor(t, 5*time.Second, "failover", func() bool { return peerOf(pc, "london").GetState() == "failover" })
	for _, e := range []*h323sim.Endpoint{carol, dave} {
		registerH323(t, e, pGK, "paris", "guest", isRCF)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// carol calls dave at the backup: direct call signalling to dave.
	call := h323sim.NewCallID()
	a, err := carol.Admit(ctx, call, []ras.AliasAddress{ras.H323ID("dave")}, false)
	if err != nil {
		t.Fatal(err)
	}
	acf, ok := a.(*ras.AdmissionConfirm)
	if !ok || acf.DestCallSignalAddress != ras.FromAddrPort(dave.CallSignal()) {
		t.Fatalf("ARQ got %+v, want ACF with dave's call signal address", a)
	}
	if a, err := dave.Admit(ctx, call, []ras.AliasAddress{ras.DialedDigits("203")}, true); err != nil || !isACF(a) {
		t.Fatalf("answering ARQ got %+v %v", a, err)
	}
	conn, err := net.Dial("tcp", acf.DestCallSignalAddress.(ras.IPAddress).AddrPort().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echo(t, conn, "setup")
	waitFor(t, 5*time.Second, "paris shows both busy", func() bool {
		r := h323Regs(pc)
		return len(r) == 2 && r[0].GetBusy() && r[1].GetBusy()
	})

	serveSite(t, london.cfg)
	waitFor(t, 15*time.Second, "failback pending", func() bool { return peerOf(pc, "london").GetState() == "failback_pending" })
	quiet, cancelQuiet := context.WithTimeout(ctx, 2*time.Second)
	if urq, err := carol.WaitURQ(quiet); err == nil {
		t.Fatalf("carol sent home during her call: %+v", urq)
	}
	cancelQuiet()
	echo(t, conn, "still talking") // the call goes on

	if a, err := carol.Disengage(ctx, call); err != nil || !isDCF(a) {
		t.Fatalf("DRQ got %+v %v", a, err)
	}
	urq, err := carol.WaitURQ(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if home, _, ok := h323sim.AltGK(urq); !ok || home != lGK {
		t.Fatalf("URQ %+v", urq)
	}
	registerH323(t, carol, lGK, "london", "carol home", isRCF)
	if peerOf(pc, "london").GetState() != "failback_pending" {
		t.Errorf("failback completed while dave is in a call")
	}
	echo(t, conn, "dave still talking")
	if a, err := dave.Disengage(ctx, call); err != nil || !isDCF(a) {
		t.Fatalf("DRQ got %+v %v", a, err)
	}
	if _, err := dave.WaitURQ(ctx); err != nil {
		t.Fatal(err)
	}
	registerH323(t, dave, lGK, "london", "dave home", isRCF)
	waitFor(t, 10*time.Second, "graceful failback done", func() bool {
		return peerOf(pc, "london").GetState() == "normal" && len(h323Regs(pc)) == 0 && len(h323Regs(lc)) == 2
	})
	seen := checkRAS(t, []netip.AddrPort{lGK, pGK}, carol, dave)
	for _, idx := range []int{ras.IndexAdmissionConfirm, ras.IndexDisengageConfirm, ras.IndexUnregistrationRequest} {
		if seen[idx] == 0 {
			t.Errorf("no message %d among those tshark decoded: %v", idx, seen)
		}
	}
}

func isACF(m ras.Message) bool { _, ok := m.(*ras.AdmissionConfirm); return ok }
func isDCF(m ras.Message) bool { _, ok := m.(*ras.DisengageConfirm); return ok }

// echo sends s on a call's signalling connection and reads it back.
func echo(t *testing.T, c net.Conn, s string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatalf("call signalling: %v", err)
	}
	buf := make([]byte, len(s))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != s {
		t.Fatalf("call signalling: read %q, %v", buf, err)
	}
}

// TestH323PluginCrash: kill -9 the gatekeeper plugin process; the host
// restarts it and it restores the registrations the host holds, so the
// endpoint's keep-alives go on without a full registration.
func TestH323PluginCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	london, _ := writeSites(t, "automatic", false)
	lGK := withH323(t, london, "127.0.0.1")
	serveSite(t, london.cfg)
	lc := adminOf(t, london)
	waitFor(t, 15*time.Second, "H.323 serving", func() bool { return h323Serving(lc) })
	carol := h323Endpoint(t, ras.H323ID("carol"), ras.DialedDigits("203"))
	registerH323(t, carol, lGK, "", "home", isRCF)
	waitFor(t, 5*time.Second, "the host holds the registration", func() bool { return len(h323Regs(lc)) == 1 })

	var before *adminv1.PluginStatus
	st, err := lc.GetStatus(context.Background(), &adminv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.GetSite().GetPlugins() {
		if p.GetName() == "h323" {
			before = p
		}
	}
	if err := syscall.Kill(int(before.GetPid()), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the plugin restarted and serving", func() bool {
		st, err := lc.GetStatus(context.Background(), &adminv1.GetStatusRequest{})
		if err != nil {
			return false
		}
		for _, p := range st.GetSite().GetPlugins() {
			if p.GetName() == "h323" {
				return p.GetRestarts() >= 1 && p.GetPid() != before.GetPid() && p.GetHealth() == "serving"
			}
		}
		return false
	})
	var ka ras.Message
	waitFor(t, 10*time.Second, "a keep-alive accepted by the new process", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		ka, err = carol.KeepAlive(ctx)
		return err == nil && isRCF(ka)
	})
	if r := h323Regs(lc); len(r) != 1 || r[0].GetHereAs() != "home" {
		t.Fatalf("after the crash rally phones lists %v", r)
	}
}

// TestH323CallAcrossSites: carol at london calls pierre, homed and
// registered at paris: london's gatekeeper locates him by LRQ to paris's
// (the address from paris's hello), and the ACF gives his call signal
// address; the call signalling then goes directly to him.
func TestH323CallAcrossSites(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	london, paris := writeSites(t, "automatic", false)
	parisDir := filepath.Join(filepath.Dir(paris.cfg), "paris-directory.yaml")
	if err := os.WriteFile(parisDir, []byte("users:\n  - {extension: \"401\", name: Pierre, h323_id: pierre, phone: {kind: desk, protocol: h323}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(paris.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("directory: " + parisDir + "\n")
	f.Close()
	lGK := withH323(t, london, "127.0.0.1")
	pGK := withH323(t, paris, "127.0.0.2")
	serveSite(t, paris.cfg)
	serveSite(t, london.cfg)
	lc, pc := adminOf(t, london), adminOf(t, paris)
	waitFor(t, 15*time.Second, "linked, H.323 serving", func() bool {
		return peerOf(pc, "london").GetState() == "normal" && peerOf(lc, "paris").GetState() == "normal" && h323Serving(lc) && h323Serving(pc)
	})
	carol := h323Endpoint(t, ras.H323ID("carol"), ras.DialedDigits("203"))
	pierre := h323Endpoint(t, ras.H323ID("pierre"), ras.DialedDigits("401"))
	registerH323(t, carol, lGK, "", "carol home", isRCF)
	registerH323(t, pierre, pGK, "", "pierre home", isRCF)

	var acf *ras.AdmissionConfirm
	waitFor(t, 15*time.Second, "an ACF for pierre", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a, err := carol.Admit(ctx, h323sim.NewCallID(), []ras.AliasAddress{ras.H323ID("pierre")}, false)
		acf, _ = a.(*ras.AdmissionConfirm)
		return err == nil && acf != nil // london may not have paris's hello yet
	})
	if acf.DestCallSignalAddress != ras.FromAddrPort(pierre.CallSignal()) {
		t.Fatalf("ACF %+v, want pierre's call signal address %s", acf, pierre.CallSignal())
	}
	conn, err := net.Dial("tcp", pierre.CallSignal().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echo(t, conn, "setup")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := carol.Admit(ctx, h323sim.NewCallID(), []ras.AliasAddress{ras.DialedDigits("999")}, false)
	if err != nil {
		t.Fatal(err)
	}
	if arj, ok := a.(*ras.AdmissionReject); !ok || arj.RejectReason.Choice != ras.ARJCalledPartyNotRegistered {
		t.Fatalf("ARQ for an alias nobody holds got %+v", a)
	}
	checkRAS(t, []netip.AddrPort{lGK, pGK}, carol, pierre)
}
