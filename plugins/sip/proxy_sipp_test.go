package sipplugin

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sip/sipptest"
)

// TestProxySIPpCall: a call between two SIPp user agents (a SIP
// implementation nobody here wrote), both registered here, through the
// proxy: the caller is challenged (407), the callee answers, the ACK and
// BYE follow the Record-Route, and both phones are busy while the call is
// held. Over UDP, and with the caller on TCP (sipgo's transport, the
// callee still on UDP).
func TestProxySIPpCall(t *testing.T) {
	if _, err := sipptest.Path(); err != nil {
		t.Skip(err)
	}
	for _, tr := range []string{"udp", "tcp"} {
		t.Run("caller on "+tr, func(t *testing.T) { testProxySIPpCall(t, tr) })
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

func testProxySIPpCall(t *testing.T, callerTransport string) {
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
	r, err := sipptest.Run{Scenario: "register", Server: callerServer, Transport: callerTr, Users: caller, LocalPort: ports[0]}.Exec(ctx, t.TempDir())
	if err != nil || !r.OK(1) {
		t.Fatalf("register the caller: %v %s\n%s", err, r, r.Errors)
	}
	r, err = sipptest.Run{Scenario: "register", Server: server, Users: callee, LocalPort: ports[1]}.Exec(ctx, t.TempDir())
	if err != nil || !r.OK(1) {
		t.Fatalf("register the callee: %v %s\n%s", err, r, r.Errors)
	}

	var wg sync.WaitGroup
	var uas sipptest.Result
	var uasErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		uas, uasErr = sipptest.Run{Scenario: "uas", Server: server, LocalPort: ports[1], Timeout: 40 * time.Second}.Exec(ctx, t.TempDir())
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
	for i, m := range []string{"INVITE ", "ACK ", "BYE "} {
		if i >= len(got) {
			break
		}
		if !strings.HasPrefix(got[i], m) || !strings.Contains(got[i], "Via: SIP/2.0/UDP "+server+";branch="+branchPrefix) {
			t.Errorf("callee's message %d is not a %s through the proxy:\n%s", i, m, got[i])
		}
	}
	if !strings.Contains(got[0], "Record-Route: <sip:"+server+";lr>") {
		t.Errorf("INVITE without the proxy's Record-Route:\n%s", got[0])
	}
	if n := in.proxy.c.challenged.Load(); n != 1 {
		t.Errorf("challenged %d INVITEs, want 1", n)
	}
}
