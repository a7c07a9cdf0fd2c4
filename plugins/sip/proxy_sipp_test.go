package sipplugin

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/sip/sipptest"
)

// TestProxySIPpCall: a call between two SIPp user agents (a SIP
// implementation nobody here wrote), both registered here, through the
// proxy over UDP: the caller is challenged (407), the callee answers, the
// ACK and BYE follow the Record-Route, and both phones are busy while the
// call is held.
func TestProxySIPpCall(t *testing.T) {
	if _, err := sipptest.Path(); err != nil {
		t.Skip(err)
	}
	in, host, addr := startUDPTest(t)
	server := addr.String()
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
	for i, u := range [][][2]string{caller, callee} {
		r, err := sipptest.Run{Scenario: "register", Server: server, Users: u, LocalPort: ports[i]}.Exec(ctx, t.TempDir())
		if err != nil || !r.OK(1) {
			t.Fatalf("register %s: %v %s\n%s", u[0][0], err, r, r.Errors)
		}
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
	uac, err := sipptest.Run{Scenario: "call", Server: server, Users: caller, LocalPort: ports[0],
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
