package h323plugin

import (
	"net"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/h323sim"
	"github.com/rallyvoip/rally/plugins/h323/ras"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
)

// TestCallLimits: a registration holds at most maxCalls calls (one more
// is refused resourceUnavailable; a retransmitted ARQ of a held call is
// still confirmed), and a call whose DRQ never came is dropped by the
// sweep after callMaxAge: the phone is no longer busy.
func TestCallLimits(t *testing.T) {
	host := londonHost()
	p, gk := startGK(t, host, "")
	ctx := ctxT(t)
	carol := newSim(t, ras.DialedDigits("203"))
	if a, err := carol.Register(ctx, gk); err != nil || !isRCF(a) {
		t.Fatalf("got %+v %v", a, err)
	}
	callee := []ras.AliasAddress{ras.DialedDigits("999")}
	var first ras.CallIdentifier
	for i := range maxCalls + 1 {
		call := h323sim.NewCallID()
		if i == 0 {
			first = call
		}
		a, err := carol.Admit(ctx, call, callee, true)
		if err != nil {
			t.Fatal(err)
		}
		if i < maxCalls {
			if _, ok := a.(*ras.AdmissionConfirm); !ok {
				t.Fatalf("call %d got %+v", i, a)
			}
			continue
		}
		if arj, ok := a.(*ras.AdmissionReject); !ok || arj.RejectReason.Choice != ras.ARJResourceUnavailable {
			t.Fatalf("call %d over the limit got %+v", i, a)
		}
	}
	if a, err := carol.Admit(ctx, first, callee, true); err != nil {
		t.Fatal(err)
	} else if _, ok := a.(*ras.AdmissionConfirm); !ok {
		t.Fatalf("ARQ of a held call got %+v", a)
	}
	waitFor(t, 5*time.Second, "busy reported", func() bool { b, _ := host.isBusy("203"); return b })
	// The phone rebooted mid-calls long ago: make the calls old.
	p.running.regs.withPhone("203", func(r *registration) {
		for k := range r.calls {
			r.calls[k] = time.Now().Add(-callMaxAge - time.Minute)
		}
	})
	waitFor(t, 5*time.Second, "stale calls dropped", func() bool {
		b, _ := host.isBusy("203")
		return !b && !p.running.busy("203")
	})
	if s := p.Stats(); s.Registrations != 1 {
		t.Fatalf("the registration went: %+v", s)
	}
}

// TestLookupsBounded: at most maxLookups ARQs wait for the peers' LCFs at
// once; one more is refused at once (resourceUnavailable); a stopped
// gatekeeper does not wait the lookups' lrq_timeout, and a lookup in
// flight then is counted in its WaitGroup.
func TestLookupsBounded(t *testing.T) {
	peer := udpOn(t, "127.0.0.1") // a peer gatekeeper that never answers
	host := newTestHost("london", 10)
	host.addPhone("london", "203", "203", "carol")
	host.snap.Peers = []admission.PeerView{{Site: "paris", State: admission.StateNormal,
		Endpoints: []string{"h323:udp://" + peer.LocalAddr().(*net.UDPAddr).AddrPort().String()}}}
	p, gk := startGK(t, host, `,"lrq_timeout":"30s"`)
	ctx := ctxT(t)
	carol := newSim(t, ras.DialedDigits("203"))
	if a, err := carol.Register(ctx, gk); err != nil || !isRCF(a) {
		t.Fatalf("got %+v %v", a, err)
	}
	_, epid, _, _, _ := carol.Registration()
	c := udpOn(t, "127.0.0.1") // carol's host, another port
	arq := func(seq uint16) *ras.AdmissionRequest {
		return &ras.AdmissionRequest{RequestSeqNum: seq, CallType: ras.CallPointToPoint, EndpointIdentifier: epid,
			DestinationInfo: []ras.AliasAddress{ras.H323ID("pierre")}, BandWidth: 1280, CallReferenceValue: seq,
			ConferenceID: h323sim.NewCallID().GUID}
	}
	for i := range maxLookups {
		sendRAS(t, c, arq(uint16(i+1)), gk)
	}
	waitFor(t, 10*time.Second, "lookups under way", func() bool { return p.Stats().LRQSent == maxLookups })
	sendRAS(t, c, arq(maxLookups+1), gk)
	m, _ := readRAS(t, c, 5*time.Second)
	if arj, ok := m.(*ras.AdmissionReject); !ok || arj.RequestSeqNum != maxLookups+1 || arj.RejectReason.Choice != ras.ARJResourceUnavailable {
		t.Fatalf("ARQ over the bound got %+v", m)
	}
	in := p.running
	start := time.Now()
	p.Close()
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Close took %v", d)
	}
	if n := len(in.lookups); n != 0 {
		t.Errorf("%d lookups still held after Close", n)
	}
}

// TestSharedAlias: two registrations hold an alias; it names the latest,
// and when that one leaves, the other (not nobody).
func TestSharedAlias(t *testing.T) {
	host := londonHost()
	host.addPhone("london", "204", "204", "team")
	host.addPhone("london", "205", "205", "team")
	_, gk := startGK(t, host, `,"lrq_timeout":"100ms"`)
	ctx := ctxT(t)
	carol := newSim(t, ras.DialedDigits("203"))
	a204 := newSim(t, ras.DialedDigits("204"))
	a205 := newSim(t, ras.DialedDigits("205"))
	for _, e := range []*h323sim.Endpoint{carol, a204, a205} {
		if a, err := e.Register(ctx, gk); err != nil || !isRCF(a) {
			t.Fatalf("got %+v %v", a, err)
		}
	}
	team := []ras.AliasAddress{ras.H323ID("team")}
	for _, tc := range []struct {
		name  string
		leave *h323sim.Endpoint
		want  *h323sim.Endpoint // nil: ARJ
	}{
		{"both registered", nil, a205},
		{"the latest left", a205, a204},
		{"both left", a204, nil},
	} {
		if tc.leave != nil {
			if a, err := tc.leave.Unregister(ctx); err != nil {
				t.Fatal(err)
			} else if _, ok := a.(*ras.UnregistrationConfirm); !ok {
				t.Fatalf("%s: URQ got %+v", tc.name, a)
			}
		}
		a, err := carol.Admit(ctx, h323sim.NewCallID(), team, false)
		if err != nil {
			t.Fatal(err)
		}
		if tc.want == nil {
			if arj, ok := a.(*ras.AdmissionReject); !ok || arj.RejectReason.Choice != ras.ARJCalledPartyNotRegistered {
				t.Errorf("%s: got %+v", tc.name, a)
			}
			continue
		}
		if acf, ok := a.(*ras.AdmissionConfirm); !ok || acf.DestCallSignalAddress != ras.FromAddrPort(tc.want.CallSignal()) {
			t.Errorf("%s: got %+v, want ACF to %s", tc.name, a, tc.want.CallSignal())
		}
	}
}
