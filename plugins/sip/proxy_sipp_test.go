package sipplugin

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sip/sipptest"
)

// TestProxySIPpCall: a call between two SIPp user agents (a SIP
// implementation nobody here wrote), both registered here, through the
// proxy: the caller is challenged (407), the callee answers, the ACK and
// BYE follow the Record-Route, and both phones are busy while the call is
// held. Over UDP, TCP (sipgo's transport) and both: the proxy forwards
// over the transport each phone registered with, and record-routes twice
// when the transport changes.
func TestProxySIPpCall(t *testing.T) {
	if _, err := sipptest.Path(); err != nil {
		t.Skip(err)
	}
	for _, tc := range []struct{ caller, callee string }{{"udp", "udp"}, {"tcp", "udp"}, {"udp", "tcp"}, {"tcp", "tcp"}} {
		t.Run("caller on "+tc.caller+", callee on "+tc.callee, func(t *testing.T) { testProxySIPpCall(t, tc.caller, tc.callee) })
	}
}

// startDualTest configures a plugin listening on UDP and TCP (two free
// ports of 127.0.0.1).
func startDualTest(tb testing.TB) (*instance, *udpTestHost, string, string) {
	tb.Helper()
	host := &udpTestHost{}
	p := New(nil)
	eps, err := p.Configure(context.Background(), sdk.Config{Site: udpTestSite, SIPDomain: udpTestRealm,
		ConfigJSON: []byte(`{"listen":["udp://127.0.0.1:0","tcp://127.0.0.1:0"]}`)}, host)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	in := p.running
	select {
	case <-in.view.Ready():
	case <-time.After(5 * time.Second):
		tb.Fatal("admission view not ready")
	}
	return in, host, strings.TrimPrefix(eps[0], "sip:udp://"), strings.TrimPrefix(eps[1], "sip:tcp://")
}

func testProxySIPpCall(t *testing.T, callerTransport, calleeTransport string) {
	in, host, server, tcpServer := startDualTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ports := [2]int{}
	for i := range ports {
		p, err := sipptest.FreePort("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	caller, callee := [][2]string{{"301", "pw-301"}}, [][2]string{{"302", "pw-302"}}
	callerServer, callerTr := server, "u1"
	if callerTransport == "tcp" {
		callerServer, callerTr = tcpServer, "t1"
	}
	calleeServer, calleeTr := server, "u1"
	if calleeTransport == "tcp" {
		calleeServer, calleeTr = tcpServer, "t1"
	}
	r, err := sipptest.Run{Scenario: "register", Server: callerServer, Transport: callerTr, Users: caller, LocalPort: ports[0]}.Exec(ctx, t.TempDir())
	if err != nil || !r.OK(1) {
		t.Fatalf("register the caller: %v %s\n%s", err, r, r.Errors)
	}
	r, err = sipptest.Run{Scenario: "register", Server: calleeServer, Transport: calleeTr, Users: callee, LocalPort: ports[1]}.Exec(ctx, t.TempDir())
	if err != nil || !r.OK(1) {
		t.Fatalf("register the callee: %v %s\n%s", err, r, r.Errors)
	}

	var wg sync.WaitGroup
	var uas sipptest.Result
	var uasErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		uas, uasErr = sipptest.Run{Scenario: "uas", Server: calleeServer, Transport: calleeTr, LocalPort: ports[1], Timeout: 40 * time.Second}.Exec(ctx, t.TempDir())
	}()
	time.Sleep(300 * time.Millisecond) // the callee binds its port (else the proxy's retransmissions cover it)

	sawBusy := make(chan bool, 1)
	go func() {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			a, _ := host.busy("301")
			b, _ := host.busy("302")
			if a && b && in.proxy.calls.busy("301") && in.proxy.calls.busy("302") {
				sawBusy <- true
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		sawBusy <- false
	}()
	uac, err := sipptest.Run{Scenario: "call", Server: callerServer, Transport: callerTr, Users: caller, LocalPort: ports[0],
		Keys: map[string]string{"callee": "302"}, Args: []string{"-d", "1500"}}.Exec(ctx, t.TempDir())
	wg.Wait()
	if err != nil || !uac.OK(1) {
		t.Fatalf("caller: %v %s\n%s\n%s", err, uac, uac.Errors, uac.Messages)
	}
	if uasErr != nil || !uas.OK(1) {
		t.Fatalf("callee: %v %s\n%s\n%s", uasErr, uas, uas.Errors, uas.Messages)
	}
	if !<-sawBusy {
		t.Error("the phones were never busy during the call")
	}
	waitFor(t, "both phones idle after the BYE", func() bool {
		a, _ := host.busy("301")
		b, _ := host.busy("302")
		return !a && !b && in.proxy.calls.count() == 0
	})
	// What the callee got came through the proxy: its INVITE, ACK and BYE.
	got := sipptest.MessagesReceived(uas.Messages)
	if len(got) != 3 {
		t.Fatalf("callee received %d messages, want INVITE, ACK, BYE:\n%s", len(got), uas.Messages)
	}
	self := map[string]string{"udp": "<sip:" + server + ";lr>", "tcp": "<sip:" + tcpServer + ";transport=tcp;lr>"}
	via := "Via: SIP/2.0/UDP " + server + ";branch=" + branchPrefix
	if calleeTransport == "tcp" {
		via = "Via: SIP/2.0/TCP " + tcpServer + ";branch=" + branchPrefix
	}
	for i, m := range []string{"INVITE ", "ACK ", "BYE "} {
		if !strings.HasPrefix(got[i], m) || !strings.Contains(got[i], via) {
			t.Errorf("callee's message %d is not a %s through the proxy:\n%s", i, m, got[i])
		}
	}
	// One Record-Route, or two when the transport changes (RFC 5658): the
	// callee's side on top.
	wantRR := "Record-Route: " + self[calleeTransport]
	if callerTransport != calleeTransport {
		wantRR += "\r\nRecord-Route: " + self[callerTransport]
	}
	if rr := recordRouteLines(got[0]); rr != wantRR {
		t.Errorf("INVITE's Record-Route:\n%s\nwant\n%s", rr, wantRR)
	}
	if n := in.proxy.c.challenged.Load(); n != 1 {
		t.Errorf("challenged %d INVITEs, want 1", n)
	}
}

// TestProxySIPpLoad pushes calls through the proxy with SIPp (set
// RALLY_PROXY_LOAD=calls/s, e.g. 200; 5 s of calls) and reports what the
// plugin kept: goroutines, transactions, calls. Not run by default.
func TestProxySIPpLoad(t *testing.T) {
	rate, _ := strconv.Atoi(os.Getenv("RALLY_PROXY_LOAD"))
	if rate <= 0 {
		t.Skip("set RALLY_PROXY_LOAD=calls/s")
	}
	if _, err := sipptest.Path(); err != nil {
		t.Skip(err)
	}
	in, _, server, _ := startDualTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var ports [2]int
	for i := range ports {
		ports[i], _ = sipptest.FreePort("127.0.0.1")
	}
	caller, callee := [][2]string{{"301", "pw-301"}}, [][2]string{{"302", "pw-302"}}
	for i, u := range [][][2]string{caller, callee} {
		if r, err := (sipptest.Run{Scenario: "register", Server: server, Users: u, LocalPort: ports[i]}).Exec(ctx, t.TempDir()); err != nil || !r.OK(1) {
			t.Fatalf("register: %v %s", err, r)
		}
	}
	runtime.GC()
	before := runtime.NumGoroutine()
	n := 5 * rate
	var wg sync.WaitGroup
	var uas sipptest.Result
	wg.Add(1)
	go func() {
		defer wg.Done()
		uas, _ = sipptest.Run{Scenario: "uas", Server: server, LocalPort: ports[1], Calls: n, Timeout: 90 * time.Second}.Exec(ctx, t.TempDir())
	}()
	time.Sleep(300 * time.Millisecond)
	var peakG int
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				peakG = max(peakG, runtime.NumGoroutine())
			}
		}
	}()
	start := time.Now()
	cpu0 := processCPU()
	uac, err := sipptest.Run{Scenario: "call", Server: server, Users: caller, LocalPort: ports[0], Calls: n, Rate: rate,
		// held 200 ms: an ACK and a BYE sent back to back may cross the
		// proxy's readers in either order, which SIPp's callee takes badly
		Keys: map[string]string{"callee": "302"}, Timeout: 90 * time.Second, Args: []string{"-d", "200"}}.Exec(ctx, t.TempDir())
	took := time.Since(start)
	wg.Wait()
	cpu := processCPU() - cpu0
	close(stop)
	srv, cli := in.proxy.transactions()
	t.Logf("%d calls at %d/s: caller %s, callee %s, in %v; plugin CPU %v (%v a call); goroutines %d before, peak %d; transactions held %d server, %d client; calls %d; proxied %d, absorbed %d, timeouts %d",
		n, rate, uac, uas, took.Round(time.Millisecond), cpu.Round(time.Millisecond), (cpu / time.Duration(n)).Round(time.Microsecond),
		before, peakG, srv, cli, in.proxy.calls.count(),
		in.proxy.c.proxied.Load(), in.proxy.c.absorbed.Load(), in.proxy.c.timeouts.Load())
	if err != nil || !uac.OK(n) || !uas.OK(n) {
		t.Fatalf("calls failed: %v\ncaller:\n%s\ncallee:\n%s", err, lastN(uac.Errors, 3000), lastN(uas.Errors, 3000))
	}
	if in.proxy.calls.count() != 0 {
		t.Errorf("%d calls left busy", in.proxy.calls.count())
	}
	if peakG > before+20 {
		t.Errorf("goroutines peaked at %d (before: %d)", peakG, before)
	}
}

func lastN(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// recordRouteLines returns the Record-Route lines of a message as SIPp
// logged it, CRLF-joined.
func recordRouteLines(msg string) string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(msg, "\r\n", "\n"), "\n") {
		if strings.HasPrefix(l, "Record-Route:") {
			out = append(out, stripMAC(strings.TrimSpace(l)))
		}
	}
	return strings.Join(out, "\r\n")
}

// processCPU is the CPU time (user and system) this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
