package h323plugin

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/h323sim"
	"github.com/rallyvoip/rally/plugins/h323/ras"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
)

// BenchmarkRRQ: full RRQs → RCFs through the gatekeeper over loopback UDP
// (admission from the view, aliases granted, registry, reports), from a
// fleet of 1,000 endpoints on 4 sockets with up to 64 RRQs in flight
// each. Reported: RCFs per second.
//
//	go test -run '^$' -bench RRQ -benchtime 100000x ./plugins/h323/
func BenchmarkRRQ(b *testing.B) {
	for _, guest := range []bool{false, true} {
		name := "home"
		if guest {
			name = "guest"
		}
		b.Run(name, func(b *testing.B) {
			const phones = 1000
			host := newTestHost("london", phones)
			home := "london"
			if guest {
				home = "rome"
				host.snap.Peers = []admission.PeerView{{Site: "rome", State: admission.StateFailover, BackedUp: true,
					Endpoints: []string{"h323:udp://" + romeGK}}}
			}
			aliases := make([][]ras.AliasAddress, phones)
			for i := range phones {
				ext := fmt.Sprint(100000 + i)
				host.addPhone(home, ext, ext, "u"+ext)
				aliases[i] = []ras.AliasAddress{ras.H323ID("u" + ext), ras.DialedDigits(ext)}
			}
			p, gk := startGK(b, host, "")
			fleet, err := h323sim.NewFleet(netip.MustParseAddr("127.0.0.1"), 4, aliases)
			if err != nil {
				b.Fatal(err)
			}
			defer fleet.Close()
			idx := make([]int, b.N)
			for i := range idx {
				idx[i] = i % phones
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			b.ResetTimer()
			t0 := time.Now()
			conf, rej := fleet.Register(ctx, gk, "", idx, 64, time.Second)
			took := time.Since(t0)
			b.StopTimer()
			if conf != b.N || rej != 0 {
				b.Fatalf("%d RCF, %d RRJ of %d (stats %+v)", conf, rej, b.N, p.Stats())
			}
			b.ReportMetric(float64(conf)/took.Seconds(), "rcf/s")
		})
	}
}
