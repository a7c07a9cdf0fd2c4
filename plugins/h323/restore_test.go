package h323plugin

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/ras"
	"github.com/rallyvoip/rally/plugins/sdk"
)

// TestRestoreSafe: a registration restored after a restart never
// overwrites one a fresh RRQ made first; a restored registration learns
// its RAS address only from a keep-alive from its call signal address's
// IP.
func TestRestoreSafe(t *testing.T) {
	ctx := ctxT(t)
	carol := newSim(t, ras.DialedDigits("203"))
	// What the host holds for carol: her call signal address, on
	// 127.0.0.1, from a previous run.
	held := sdk.Registration{PhoneID: "203", Contact: carol.CallSignal().String(), Transport: Transport, AOR: "203,carol",
		Outcome: sdk.RegHome, Expires: time.Now().Add(time.Hour)}
	rasOf := func(p *Plugin) (ap netip.AddrPort) {
		p.running.regs.withPhone("203", func(r *registration) {
			if r != nil {
				ap = r.ras
			}
		})
		return ap
	}

	t.Run("fresh RRQ first", func(t *testing.T) {
		host := londonHost()
		host.list = []sdk.Registration{held}
		host.listGate, host.listed = make(chan struct{}), make(chan struct{})
		p, gk := startGK(t, host, "")
		if a, err := carol.Register(ctx, gk); err != nil || !isRCF(a) {
			t.Fatalf("got %+v %v", a, err)
		}
		close(host.listGate)
		<-host.listed
		for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if got := rasOf(p); got != carol.RAS() {
				t.Fatalf("the restore overwrote the fresh registration: RAS %v, want %v", got, carol.RAS())
			}
		}
		if lic, _ := p.running.view.Table().Counts(); lic != 1 {
			t.Errorf("licensed %d, want 1", lic)
		}
	})

	t.Run("RAS address learned from its host only", func(t *testing.T) {
		host := londonHost()
		host.list = []sdk.Registration{held}
		p, gk := startGK(t, host, "")
		waitFor(t, 5*time.Second, "restored", func() bool { return p.Stats().Registrations == 1 })
		for _, ip := range []string{"127.0.0.2", "127.0.0.1"} {
			c := udpOn(t, ip)
			sendRAS(t, c, &ras.RegistrationRequest{RequestSeqNum: 5, ProtocolIdentifier: ras.ProtocolV4,
				CallSignalAddress: []ras.TransportAddress{ras.FromAddrPort(carol.CallSignal())},
				RASAddress:        []ras.TransportAddress{ras.FromAddrPort(c.LocalAddr().(*net.UDPAddr).AddrPort())},
				TerminalType:      ras.EndpointType{Terminal: &ras.NonStandardOnly{}}, GatekeeperIdentifier: "london",
				KeepAlive: true, EndpointIdentifier: "203@london"}, gk)
			m, _ := readRAS(t, c, 5*time.Second)
			if ip == "127.0.0.2" {
				if rrj, ok := m.(*ras.RegistrationReject); !ok || rrj.RejectReason.Choice != ras.RRJFullRegistrationRequired {
					t.Fatalf("keep-alive from %s got %+v", ip, m)
				}
				if got := rasOf(p); got.IsValid() {
					t.Fatalf("RAS address learned from %s: %v", ip, got)
				}
				continue
			}
			if !isRCF(m) || rasOf(p) != c.LocalAddr().(*net.UDPAddr).AddrPort() {
				t.Fatalf("keep-alive from %s got %+v, RAS %v", ip, m, rasOf(p))
			}
		}
	})
}
