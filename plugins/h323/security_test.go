package h323plugin

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/h323sim"
	"github.com/rallyvoip/rally/plugins/h323/ras"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
)

// Answers and requests whose sequence number or endpoint identifier is
// right but whose source address is not are dropped or refused: both are
// guessable.

// udpOn opens a UDP socket on ip (a free port), closed with the test.
func udpOn(t *testing.T, ip string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sendRAS(t *testing.T, c *net.UDPConn, m ras.Message, to netip.AddrPort) {
	t.Helper()
	b, err := ras.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

func readRAS(t *testing.T, c *net.UDPConn, timeout time.Duration) (ras.Message, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 65536)
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	n, src, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ras.Unmarshal(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	return m, src
}

// TestLocationAnswerFromElsewhere: an LCF with the sequence number of the
// gatekeeper's LRQ, but not from the peer gatekeeper asked, is ignored;
// the peer's own answer is taken.
func TestLocationAnswerFromElsewhere(t *testing.T) {
	peer := udpOn(t, "127.0.0.1") // the peer's gatekeeper, played by the test
	peerAddr := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	host := newTestHost("london", 10)
	host.addPhone("london", "203", "203", "carol")
	host.snap.Peers = []admission.PeerView{{Site: "paris", State: admission.StateNormal, Endpoints: []string{"h323:udp://" + peerAddr.String()}}}
	p, gk := startGK(t, host, `,"lrq_timeout":"10s"`)
	ctx := ctxT(t)
	carol, err := h323sim.New(h323sim.Config{Local: netip.MustParseAddr("127.0.0.1"), Aliases: []ras.AliasAddress{ras.DialedDigits("203")},
		Retransmit: 300 * time.Millisecond, Tries: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer carol.Close()
	if a, err := carol.Register(ctx, gk); err != nil || !isRCF(a) {
		t.Fatalf("got %+v %v", a, err)
	}
	type result struct {
		m   ras.Message
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := carol.Admit(ctx, h323sim.NewCallID(), []ras.AliasAddress{ras.H323ID("pierre")}, false)
		done <- result{m, err}
	}()
	m, _ := readRAS(t, peer, 5*time.Second)
	lrq, ok := m.(*ras.LocationRequest)
	if !ok {
		t.Fatalf("peer got %+v", m)
	}
	ignored := p.Stats().Ignored
	evil := netip.MustParseAddrPort("127.0.0.2:1720")
	for _, ip := range []string{"127.0.0.2", "127.0.0.1"} { // another host; the peer's host, another port
		sendRAS(t, udpOn(t, ip), &ras.LocationConfirm{RequestSeqNum: lrq.RequestSeqNum, CallSignalAddress: ras.FromAddrPort(evil),
			RASAddress: ras.FromAddrPort(evil)}, gk)
	}
	waitFor(t, 5*time.Second, "forged LCFs ignored", func() bool { return p.Stats().Ignored >= ignored+2 })
	pierre := netip.MustParseAddrPort("127.0.0.1:1720")
	sendRAS(t, peer, &ras.LocationConfirm{RequestSeqNum: lrq.RequestSeqNum, CallSignalAddress: ras.FromAddrPort(pierre),
		RASAddress: ras.FromAddrPort(pierre)}, gk)
	r := <-done
	if acf, ok := r.m.(*ras.AdmissionConfirm); r.err != nil || !ok || acf.DestCallSignalAddress != ras.FromAddrPort(pierre) {
		t.Fatalf("ARQ got %+v %v, want ACF to %s", r.m, r.err, pierre)
	}
}

// TestUCFFromElsewhere: a UCF to the gatekeeper's URQ counts only from the
// endpoint's RAS address.
func TestUCFFromElsewhere(t *testing.T) {
	host := londonHost()
	p, gk := startGK(t, host, `,"urq_retry":"5s"`)
	ctx := ctxT(t)
	rita := newSim(t, ras.H323ID("rita"), ras.DialedDigits("301"))
	rome := admission.PeerView{Site: "rome", State: admission.StateFailover, BackedUp: true, Failback: admission.FailbackAutomatic,
		Endpoints: []string{"h323:udp://" + romeGK}}
	host.setPeer(rome)
	waitFor(t, 5*time.Second, "view has rome in failover", func() bool {
		v, _ := p.running.view.Table().Peer("rome")
		return v.State == admission.StateFailover
	})
	if a, err := rita.Register(ctx, gk); err != nil || !isRCF(a) {
		t.Fatalf("got %+v %v", a, err)
	}
	// rita's RAS socket is taken over by the test, which does not answer
	// the URQ itself.
	ritaRAS := rita.RAS()
	rita.Close()
	own, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ritaRAS))
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	rome.State = admission.StateNormal
	host.setPeer(rome)
	m, _ := readRAS(t, own, 5*time.Second)
	urq, ok := m.(*ras.UnregistrationRequest)
	if !ok {
		t.Fatalf("got %+v", m)
	}
	ignored := p.Stats().Ignored
	for _, ip := range []string{"127.0.0.2", "127.0.0.1"} {
		sendRAS(t, udpOn(t, ip), &ras.UnregistrationConfirm{RequestSeqNum: urq.RequestSeqNum}, gk)
	}
	waitFor(t, 5*time.Second, "forged UCFs ignored", func() bool { return p.Stats().Ignored >= ignored+2 })
	if s := p.Stats(); s.URQAnswered != 0 || s.Registrations != 1 {
		t.Fatalf("a forged UCF ended the registration: %+v", s)
	}
	sendRAS(t, own, &ras.UnregistrationConfirm{RequestSeqNum: urq.RequestSeqNum}, gk)
	waitFor(t, 5*time.Second, "UCF taken", func() bool { s := p.Stats(); return s.URQAnswered == 1 && s.Registrations == 0 })
}

// TestRequestsFromElsewhere: URQ, ARQ and DRQ naming a registered
// endpoint (its identifier, or aliases and call signal address) from
// another host are refused with securityDenial and counted; the
// registration and its call are untouched; the endpoint's own go through.
func TestRequestsFromElsewhere(t *testing.T) {
	p, gk := startGK(t, londonHost(), "")
	ctx := ctxT(t)
	carol := newSim(t, ras.DialedDigits("203"))
	if a, err := carol.Register(ctx, gk); err != nil || !isRCF(a) {
		t.Fatalf("got %+v %v", a, err)
	}
	_, epid, _, _, _ := carol.Registration()
	call := h323sim.NewCallID()
	if a, err := carol.Admit(ctx, call, []ras.AliasAddress{ras.DialedDigits("203")}, true); err != nil {
		t.Fatal(err)
	} else if _, ok := a.(*ras.AdmissionConfirm); !ok {
		t.Fatalf("ARQ got %+v", a)
	}
	csa := []ras.TransportAddress{ras.FromAddrPort(carol.CallSignal())}
	mallory := udpOn(t, "127.0.0.2")
	for i, tc := range []struct {
		name  string
		req   ras.Message
		check func(ras.Message) bool
	}{
		{"URQ by endpoint identifier", &ras.UnregistrationRequest{RequestSeqNum: 11, CallSignalAddress: csa, EndpointIdentifier: epid},
			func(m ras.Message) bool {
				r, ok := m.(*ras.UnregistrationReject)
				return ok && r.RejectReason.Choice == ras.URJSecurityDenial
			}},
		{"URQ by alias", &ras.UnregistrationRequest{RequestSeqNum: 12, CallSignalAddress: csa, EndpointAlias: []ras.AliasAddress{ras.DialedDigits("203")}},
			func(m ras.Message) bool {
				r, ok := m.(*ras.UnregistrationReject)
				return ok && r.RejectReason.Choice == ras.URJSecurityDenial
			}},
		{"ARQ", &ras.AdmissionRequest{RequestSeqNum: 13, CallType: ras.CallPointToPoint, EndpointIdentifier: epid,
			DestinationInfo: []ras.AliasAddress{ras.DialedDigits("203")}, BandWidth: 1280, CallReferenceValue: 1,
			ConferenceID: h323sim.NewCallID().GUID},
			func(m ras.Message) bool {
				r, ok := m.(*ras.AdmissionReject)
				return ok && r.RejectReason.Choice == ras.ARJSecurityDenial
			}},
		{"DRQ", &ras.DisengageRequest{RequestSeqNum: 14, EndpointIdentifier: epid, ConferenceID: call.GUID, CallReferenceValue: 1,
			DisengageReason: ras.DisengageNormalDrop, CallIdentifier: call},
			func(m ras.Message) bool {
				r, ok := m.(*ras.DisengageReject)
				return ok && r.RejectReason.Choice == ras.DRJSecurityDenial
			}},
	} {
		sendRAS(t, mallory, tc.req, gk)
		m, _ := readRAS(t, mallory, 5*time.Second)
		if !tc.check(m) {
			t.Errorf("%s from elsewhere got %+v", tc.name, m)
		}
		if s := p.Stats(); s.Denied != uint64(i+1) || s.Registrations != 1 || !p.running.busy("203") {
			t.Errorf("after %s: %+v, busy %v", tc.name, s, p.running.busy("203"))
		}
	}
	if a, err := carol.Disengage(ctx, call); err != nil {
		t.Fatal(err)
	} else if _, ok := a.(*ras.DisengageConfirm); !ok || p.running.busy("203") {
		t.Fatalf("own DRQ got %+v", a)
	}
	if a, err := carol.Unregister(ctx); err != nil {
		t.Fatal(err)
	} else if _, ok := a.(*ras.UnregistrationConfirm); !ok || p.Stats().Registrations != 0 {
		t.Fatalf("own URQ got %+v", a)
	}
}

// TestBRQ: a bandwidth request is confirmed only for a registered
// endpoint identifier from its address; others are told notBound.
func TestBRQ(t *testing.T) {
	p, gk := startGK(t, londonHost(), "")
	carol := newSim(t, ras.DialedDigits("203"))
	if a, err := carol.Register(ctxT(t), gk); err != nil || !isRCF(a) {
		t.Fatalf("got %+v %v", a, err)
	}
	_, epid, _, _, _ := carol.Registration()
	for _, tc := range []struct {
		name, from, epid string
		bound            bool
	}{
		{"registered, from its host", "127.0.0.1", epid, true},
		{"registered, from another host", "127.0.0.2", epid, false},
		{"unknown endpoint", "127.0.0.1", "999@london", false},
	} {
		c := udpOn(t, tc.from)
		sendRAS(t, c, &ras.BandwidthRequest{RequestSeqNum: 3, EndpointIdentifier: tc.epid, BandWidth: 640}, gk)
		m, _ := readRAS(t, c, 5*time.Second)
		if tc.bound {
			if bcf, ok := m.(*ras.BandwidthConfirm); !ok || bcf.BandWidth != 640 {
				t.Errorf("%s: got %+v", tc.name, m)
			}
			continue
		}
		if brj, ok := m.(*ras.BandwidthReject); !ok || brj.RejectReason.Choice != ras.BRJNotBound {
			t.Errorf("%s: got %+v", tc.name, m)
		}
	}
	if s := p.Stats(); s.BCF != 1 || s.BRJ != 2 {
		t.Errorf("stats %+v", s)
	}
}
