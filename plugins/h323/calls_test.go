package h323plugin

import (
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/h323sim"
	"github.com/rallyvoip/rally/plugins/h323/ras"
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
