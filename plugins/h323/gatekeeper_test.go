package h323plugin

import (
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/h323sim"
	"github.com/rallyvoip/rally/plugins/h323/ras"
	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// london is the site under test; paris backs it up; rome is backed up by
// london.
const (
	parisGK = "127.0.0.2:1719"
	romeGK  = "127.0.0.3:1719"
)

func londonHost() *testHost {
	h := newTestHost("london", 10)
	h.addPhone("london", "203", "203", "carol")
	h.addPhone("rome", "301", "301", "rita")
	h.addPhone("rome", "302", "302")
	h.snap.Peers = []admission.PeerView{
		{Site: "paris", State: admission.StateNormal, BacksUpSelf: true, Endpoints: []string{"sip:udp://127.0.0.2:5060", "h323:udp://" + parisGK}},
		{Site: "rome", State: admission.StateNormal, BackedUp: true, Failback: admission.FailbackAutomatic, Endpoints: []string{"h323:udp://" + romeGK}},
	}
	return h
}

func altAddr(t *testing.T, m ras.Message) string {
	t.Helper()
	ap, _, ok := h323sim.AltGK(m)
	if !ok {
		t.Fatalf("%T names no alternate gatekeeper: %+v", m, m)
	}
	return ap.String()
}

func TestRegisterHome(t *testing.T) {
	host := londonHost()
	p, gk := startGK(t, host, "")
	carol := newSim(t, ras.H323ID("carol"), ras.DialedDigits("203"))
	ctx := ctxT(t)

	gcf, err := carol.Discover(ctx, gk)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := gcf.(*ras.GatekeeperConfirm); !ok || g.GatekeeperIdentifier != "london" || altAddr(t, g) != parisGK {
		t.Fatalf("GRQ got %+v, want GCF from london naming paris", gcf)
	}
	a, err := carol.Register(ctx, gk)
	if err != nil {
		t.Fatal(err)
	}
	rcf, ok := a.(*ras.RegistrationConfirm)
	if !ok {
		t.Fatalf("RRQ got %+v", a)
	}
	if rcf.EndpointIdentifier != "203@london" || rcf.TimeToLive != 300 || rcf.GatekeeperIdentifier != "london" {
		t.Errorf("RCF %+v", rcf)
	}
	if want := []ras.AliasAddress{ras.DialedDigits("203"), ras.H323ID("carol")}; !reflect.DeepEqual(rcf.TerminalAlias, want) {
		t.Errorf("granted aliases %v, want %v", rcf.TerminalAlias, want)
	}
	if len(rcf.AlternateGatekeeper) != 1 || !rcf.AlternateGatekeeper[0].NeedToRegister || rcf.AlternateGatekeeper[0].GatekeeperIdentifier != "paris" {
		t.Errorf("alternate gatekeepers %+v, want paris", rcf.AlternateGatekeeper)
	}
	waitFor(t, 5*time.Second, "home report", func() bool {
		r, ok := host.lastReport("203")
		return ok && r.Outcome == sdk.RegHome && r.AOR == "203,carol" && r.Transport == "ras" &&
			r.Contact == carol.CallSignal().String() && r.UserAgent == "rally-h323sim 1.0" &&
			time.Until(r.Expires) > 290*time.Second
	})
	if lic, _ := p.running.view.Table().Counts(); lic != 1 {
		t.Errorf("licensed %d, want 1", lic)
	}

	// Lightweight RRQs refresh.
	for range 2 {
		ka, err := carol.KeepAlive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := ka.(*ras.RegistrationConfirm); !ok || r.EndpointIdentifier != "203@london" {
			t.Fatalf("keep-alive got %+v", ka)
		}
	}
	// The endpoint leaves.
	if a, err := carol.Unregister(ctx); err != nil {
		t.Fatal(err)
	} else if _, ok := a.(*ras.UnregistrationConfirm); !ok {
		t.Fatalf("URQ got %+v", a)
	}
	waitFor(t, 5*time.Second, "gone report", func() bool {
		r, ok := host.lastReport("203")
		return ok && r.Outcome == sdk.RegGone
	})
	if lic, _ := p.running.view.Table().Counts(); lic != 0 {
		t.Errorf("licensed %d after URQ, want 0", lic)
	}
	// A keep-alive of a registration that is gone asks for a full one.
	stale := newSim(t, ras.DialedDigits("203"))
	if _, err := stale.Register(ctx, gk); err != nil {
		t.Fatal(err)
	}
	p.running.regs.remove("203")
	ka, err := stale.KeepAlive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := ka.(*ras.RegistrationReject); !ok || r.RejectReason.Choice != ras.RRJFullRegistrationRequired {
		t.Fatalf("stale keep-alive got %+v", ka)
	}
	seen := checkTshark(t, []netip.AddrPort{gk}, carol, stale)
	for _, idx := range []int{ras.IndexGatekeeperConfirm, ras.IndexRegistrationConfirm, ras.IndexUnregistrationConfirm, ras.IndexRegistrationReject} {
		if seen[idx] == 0 {
			t.Errorf("tshark saw no message %d: %v", idx, seen)
		}
	}
}

func TestRefusals(t *testing.T) {
	host := londonHost()
	p, gk := startGK(t, host, "")
	ctx := ctxT(t)
	rita := newSim(t, ras.H323ID("rita"), ras.DialedDigits("301"))

	// Homed at rome, alive: refused, pointed home.
	a, err := rita.Register(ctx, gk)
	if err != nil {
		t.Fatal(err)
	}
	rrj, ok := a.(*ras.RegistrationReject)
	if !ok || rrj.RejectReason.Choice != ras.RRJResourceUnavailable || altAddr(t, rrj) != romeGK || !rrj.AltGKInfo.AltGKIsPermanent {
		t.Fatalf("RRQ of a phone homed at a live peer got %+v", a)
	}
	if g, err := rita.Discover(ctx, gk); err != nil {
		t.Fatal(err)
	} else if grj, ok := g.(*ras.GatekeeperReject); !ok || altAddr(t, grj) != romeGK {
		t.Fatalf("GRQ of a phone homed at a live peer got %+v", g)
	}
	// Unknown aliases, aliases of two phones, another gatekeeper's id.
	for _, tc := range []struct {
		name    string
		aliases []ras.AliasAddress
		gkID    string
		want    int
	}{
		{"unknown", []ras.AliasAddress{ras.H323ID("mallory")}, "", ras.RRJInvalidAlias},
		{"two phones", []ras.AliasAddress{ras.DialedDigits("203"), ras.DialedDigits("301")}, "", ras.RRJInvalidAlias},
		{"no alias", nil, "", ras.RRJInvalidAlias},
		{"other gatekeeper", []ras.AliasAddress{ras.DialedDigits("203")}, "paris", ras.RRJUndefinedReason},
	} {
		s := newSim(t, tc.aliases...)
		a, err := s.RegisterAs(ctx, gk, tc.gkID)
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := a.(*ras.RegistrationReject); !ok || r.RejectReason.Choice != tc.want {
			t.Errorf("%s: got %+v, want RRJ %d", tc.name, a, tc.want)
		}
	}
	if p.Stats().Refused < 4 {
		t.Errorf("refusals not counted: %+v", p.Stats())
	}
	checkTshark(t, []netip.AddrPort{gk}, rita)
}

func TestRefuseModes(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want int // -1: no answer
	}{{"undefined_reason", ras.RRJUndefinedReason}, {"security_denial", ras.RRJSecurityDenial}, {"drop", -1}} {
		t.Run(tc.mode, func(t *testing.T) {
			_, gk := startGK(t, londonHost(), `,"refuse":"`+tc.mode+`"`)
			rita, err := h323sim.New(h323sim.Config{Local: netip.MustParseAddr("127.0.0.1"),
				Aliases: []ras.AliasAddress{ras.DialedDigits("301")}, Retransmit: 200 * time.Millisecond, Tries: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer rita.Close()
			a, err := rita.Register(ctxT(t), gk)
			if tc.want < 0 {
				if err == nil {
					t.Fatalf("drop mode answered %+v", a)
				}
				return
			}
			if r, ok := a.(*ras.RegistrationReject); err != nil || !ok || r.RejectReason.Choice != tc.want || r.AltGKInfo == nil {
				t.Fatalf("got %+v %v", a, err)
			}
		})
	}
}

// TestGuestAndFailback: rome dies, its phone registers here as a guest
// (short time to live, its home as alternate, a guest's aliases); rome
// returns and the failback completes: the gatekeeper sends the guest home
// with a URQ naming rome (needToRegister).
func TestGuestAndFailback(t *testing.T) {
	host := londonHost()
	p, gk := startGK(t, host, `,"guest_time_to_live":"60s"`)
	ctx := ctxT(t)
	rita := newSim(t, ras.H323ID("rita"), ras.DialedDigits("301"))
	rome := admission.PeerView{Site: "rome", State: admission.StateFailover, BackedUp: true, Failback: admission.FailbackAutomatic,
		Endpoints: []string{"h323:udp://" + romeGK}}
	host.setPeer(rome)
	waitFor(t, 5*time.Second, "view has rome in failover", func() bool {
		v, _ := p.running.view.Table().Peer("rome")
		return v.State == admission.StateFailover
	})
	a, err := rita.Register(ctx, gk)
	if err != nil {
		t.Fatal(err)
	}
	rcf, ok := a.(*ras.RegistrationConfirm)
	if !ok || rcf.TimeToLive != 60 || altAddr(t, rcf) != romeGK {
		t.Fatalf("guest RRQ got %+v", a)
	}
	if want := []ras.AliasAddress{ras.DialedDigits("301"), ras.H323ID("rita")}; !reflect.DeepEqual(rcf.TerminalAlias, want) {
		t.Errorf("guest aliases %v, want %v (replicated user)", rcf.TerminalAlias, want)
	}
	waitFor(t, 5*time.Second, "guest report", func() bool {
		r, ok := host.lastReport("301")
		return ok && r.Outcome == sdk.RegGuest
	})
	if lic, guests := p.running.view.Table().Counts(); lic != 0 || guests != 1 {
		t.Errorf("counts %d/%d, want 0 licensed, 1 guest", lic, guests)
	}
	// Back, failback pending (automatic): the guest stays.
	rome.State = admission.StateFailbackPending
	host.setPeer(rome)
	time.Sleep(3 * sweepEvery)
	if _, err := rita.KeepAlive(ctx); err != nil {
		t.Fatal(err)
	}
	// The failback completes: URQ naming rome.
	rome.State = admission.StateNormal
	host.setPeer(rome)
	urq, err := rita.WaitURQ(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if urq.EndpointIdentifier != "301@london" || len(urq.AlternateGatekeeper) != 1 || !urq.AlternateGatekeeper[0].NeedToRegister ||
		altAddr(t, urq) != romeGK || urq.Reason == nil || urq.Reason.Choice != ras.URQMaintenance {
		t.Fatalf("URQ %+v", urq)
	}
	waitFor(t, 5*time.Second, "guest gone", func() bool {
		r, ok := host.lastReport("301")
		return ok && r.Outcome == sdk.RegGone && p.Stats().Registrations == 0
	})
	if p.Stats().URQAnswered != 1 {
		t.Errorf("UCF not matched: %+v", p.Stats())
	}
	// Its next RRQ here is refused and points home.
	if a, err := rita.Register(ctx, gk); err != nil {
		t.Fatal(err)
	} else if altAddr(t, a) != romeGK {
		t.Fatalf("after failback got %+v", a)
	}
	seen := checkTshark(t, []netip.AddrPort{gk}, rita)
	if seen[ras.IndexUnregistrationRequest] == 0 || seen[ras.IndexRegistrationReject] == 0 {
		t.Errorf("tshark saw %v", seen)
	}
}

// TestGracefulWaitsForDRQ: in graceful mode a guest in a call stays until
// its DRQ; an idle one goes home at once.
func TestGracefulWaitsForDRQ(t *testing.T) {
	host := londonHost()
	p, gk := startGK(t, host, "")
	ctx := ctxT(t)
	rome := admission.PeerView{Site: "rome", State: admission.StateFailover, BackedUp: true, Failback: admission.FailbackGraceful,
		Endpoints: []string{"h323:udp://" + romeGK}}
	host.setPeer(rome)
	waitFor(t, 5*time.Second, "rome in failover", func() bool {
		v, _ := p.running.view.Table().Peer("rome")
		return v.State == admission.StateFailover
	})
	rita := newSim(t, ras.H323ID("rita"), ras.DialedDigits("301"))
	rob := newSim(t, ras.DialedDigits("302"))
	for _, s := range []*h323sim.Endpoint{rita, rob} {
		if a, err := s.Register(ctx, gk); err != nil {
			t.Fatal(err)
		} else if _, ok := a.(*ras.RegistrationConfirm); !ok {
			t.Fatalf("guest RRQ got %+v", a)
		}
	}
	// rita calls rob (by his alias), rob answers: both busy.
	call := h323sim.NewCallID()
	a, err := rita.Admit(ctx, call, []ras.AliasAddress{ras.DialedDigits("302")}, false)
	if err != nil {
		t.Fatal(err)
	}
	acf, ok := a.(*ras.AdmissionConfirm)
	if !ok || acf.DestCallSignalAddress != ras.FromAddrPort(rob.CallSignal()) || acf.CallModel != ras.CallModelDirect {
		t.Fatalf("ARQ got %+v", a)
	}
	if a, err := rob.Admit(ctx, call, []ras.AliasAddress{ras.DialedDigits("301")}, true); err != nil {
		t.Fatal(err)
	} else if _, ok := a.(*ras.AdmissionConfirm); !ok {
		t.Fatalf("answering ARQ got %+v", a)
	}
	waitFor(t, 5*time.Second, "both reported busy", func() bool {
		b1, _ := host.isBusy("301")
		b2, _ := host.isBusy("302")
		return b1 && b2
	})
	// The call signalling is direct: it goes to rob's address.
	conn, err := net.Dial("tcp", rob.CallSignal().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	rome.State = admission.StateFailbackPending
	host.setPeer(rome)
	time.Sleep(5 * sweepEvery)
	if p.Stats().URQSent != 0 {
		t.Fatalf("busy guests sent home: %+v", p.Stats())
	}
	if a, err := rita.Disengage(ctx, call); err != nil {
		t.Fatal(err)
	} else if _, ok := a.(*ras.DisengageConfirm); !ok {
		t.Fatalf("DRQ got %+v", a)
	}
	if urq, err := rita.WaitURQ(ctx); err != nil {
		t.Fatal(err)
	} else if altAddr(t, urq) != romeGK {
		t.Fatalf("URQ %+v", urq)
	}
	time.Sleep(3 * sweepEvery)
	if _, epid, _, _, _ := rob.Registration(); epid == "" {
		t.Fatal("rob, still in the call, was sent home")
	}
	if a, err := rob.Disengage(ctx, call); err != nil {
		t.Fatal(err)
	} else if _, ok := a.(*ras.DisengageConfirm); !ok {
		t.Fatalf("DRQ got %+v", a)
	}
	if _, err := rob.WaitURQ(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "no registration left", func() bool { return p.Stats().Registrations == 0 })
	seen := checkTshark(t, []netip.AddrPort{gk}, rita, rob)
	for _, idx := range []int{ras.IndexAdmissionConfirm, ras.IndexDisengageConfirm, ras.IndexUnregistrationRequest} {
		if seen[idx] == 0 {
			t.Errorf("tshark saw no message %d: %v", idx, seen)
		}
	}
}

func TestExpiry(t *testing.T) {
	host := londonHost()
	p, gk := startGK(t, host, `,"time_to_live":"1s"`)
	carol := newSim(t, ras.DialedDigits("203"))
	a, err := carol.Register(ctxT(t), gk)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := a.(*ras.RegistrationConfirm); !ok || r.TimeToLive != 1 {
		t.Fatalf("got %+v", a)
	}
	start := time.Now()
	waitFor(t, 10*time.Second, "expiry", func() bool {
		r, ok := host.lastReport("203")
		return ok && r.Outcome == sdk.RegGone
	})
	if took := time.Since(start); took < time.Second {
		t.Errorf("expired after %v, before its time to live", took)
	}
	if p.Stats().Expired != 1 {
		t.Errorf("stats %+v", p.Stats())
	}
}

// TestLocateAtPeer: an ARQ for an alias registered at a peer site is
// located by LRQ to the peer's gatekeeper, and the ACF gives its call
// signal address; an unknown alias gets an ARJ.
func TestLocateAtPeer(t *testing.T) {
	// Two gatekeepers that know each other's RAS address: start them on
	// fixed free ports.
	lAddr, pAddr := freeUDP(t), freeUDP(t)
	lh := newTestHost("london", 10)
	lh.addPhone("london", "203", "203", "carol")
	ph := newTestHost("paris", 10)
	ph.addPhone("paris", "401", "401", "pierre")
	lh.snap.Peers = []admission.PeerView{{Site: "paris", State: admission.StateNormal, Endpoints: []string{"h323:udp://" + pAddr.String()}}}
	ph.snap.Peers = []admission.PeerView{{Site: "london", State: admission.StateNormal, Endpoints: []string{"h323:udp://" + lAddr.String()}}}
	lp := New(nil)
	if _, err := lp.Configure(ctxT(t), sdk.Config{Site: "london", ConfigJSON: []byte(`{"listen":"` + lAddr.String() + `","lrq_timeout":"1s"}`)}, lh); err != nil {
		t.Fatal(err)
	}
	defer lp.Close()
	pp := New(nil)
	if _, err := pp.Configure(ctxT(t), sdk.Config{Site: "paris", ConfigJSON: []byte(`{"listen":"` + pAddr.String() + `"}`)}, ph); err != nil {
		t.Fatal(err)
	}
	defer pp.Close()
	ctx := ctxT(t)
	carol := newSim(t, ras.DialedDigits("203"))
	pierre := newSim(t, ras.H323ID("pierre"), ras.DialedDigits("401"))
	waitFor(t, 5*time.Second, "registered", func() bool {
		a, _ := carol.Register(ctx, lAddr)
		b, _ := pierre.Register(ctx, pAddr)
		_, ok1 := a.(*ras.RegistrationConfirm)
		_, ok2 := b.(*ras.RegistrationConfirm)
		return ok1 && ok2
	})
	a, err := carol.Admit(ctx, h323sim.NewCallID(), []ras.AliasAddress{ras.H323ID("pierre")}, false)
	if err != nil {
		t.Fatal(err)
	}
	if acf, ok := a.(*ras.AdmissionConfirm); !ok || acf.DestCallSignalAddress != ras.FromAddrPort(pierre.CallSignal()) {
		t.Fatalf("ARQ for pierre got %+v", a)
	}
	a, err = carol.Admit(ctx, h323sim.NewCallID(), []ras.AliasAddress{ras.H323ID("nobody")}, false)
	if err != nil {
		t.Fatal(err)
	}
	if arj, ok := a.(*ras.AdmissionReject); !ok || arj.RejectReason.Choice != ras.ARJCalledPartyNotRegistered {
		t.Fatalf("ARQ for nobody got %+v", a)
	}
	if s := pp.Stats(); s.LCF != 1 || s.LRJ != 1 {
		t.Errorf("paris answered %+v", s)
	}
	// A stranger's LRQ gets no address.
	stranger := newSim(t)
	if b, err := ras.Marshal(&ras.LocationRequest{RequestSeqNum: 9, DestinationInfo: []ras.AliasAddress{ras.H323ID("pierre")},
		ReplyAddress: ras.FromAddrPort(stranger.RAS())}); err != nil {
		t.Fatal(err)
	} else {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(pAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2048)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ras.Unmarshal(buf[:n])
		if lrj, ok := m.(*ras.LocationReject); err != nil || !ok || lrj.RejectReason.Choice != ras.LRJRequestDenied {
			t.Fatalf("stranger's LRQ got %+v %v", m, err)
		}
	}
	checkTshark(t, []netip.AddrPort{lAddr, pAddr}, carol, pierre)
}

func freeUDP(t *testing.T) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
	c.Close()
	return ap
}

// TestMalformedDropped: garbage, truncated and hostile datagrams are
// dropped and counted, never answered nor a panic; the gatekeeper serves
// on.
func TestMalformedDropped(t *testing.T) {
	host := londonHost()
	p, gk := startGK(t, host, "")
	rrq, err := ras.Marshal(&ras.RegistrationRequest{RequestSeqNum: 7, ProtocolIdentifier: ras.ProtocolV4,
		CallSignalAddress: []ras.TransportAddress{ras.FromAddrPort(netip.MustParseAddrPort("127.0.0.1:1720"))},
		RASAddress:        []ras.TransportAddress{ras.FromAddrPort(netip.MustParseAddrPort("127.0.0.1:1719"))},
		TerminalAlias:     []ras.AliasAddress{ras.DialedDigits("203")}})
	if err != nil {
		t.Fatal(err)
	}
	bad := [][]byte{{}, {0xff}, {0xff, 0xff, 0xff, 0xff}, rrq[:len(rrq)/2], rrq[:3], make([]byte, 1400)}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(gk))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, b := range bad {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "all counted", func() bool { return p.Stats().Received >= uint64(len(bad)) })
	s := p.Stats()
	if s.Panics != 0 || s.Malformed+s.Ignored+s.UnknownMessage < uint64(len(bad)) {
		t.Fatalf("stats %+v", s)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 2048)
	if n, err := c.Read(buf); err == nil {
		m, _ := ras.Unmarshal(buf[:n])
		if _, ok := m.(*ras.UnknownMessageResponse); !ok {
			t.Fatalf("a malformed datagram was answered: %x", buf[:n])
		}
	}
	carol := newSim(t, ras.DialedDigits("203"))
	if a, err := carol.Register(ctxT(t), gk); err != nil {
		t.Fatal(err)
	} else if _, ok := a.(*ras.RegistrationConfirm); !ok {
		t.Fatalf("after the garbage got %+v", a)
	}
}

// TestKeepAliveFromElsewhere: the endpoint identifier is no secret; a
// lightweight RRQ naming it from another address does not refresh the
// registration.
func TestKeepAliveFromElsewhere(t *testing.T) {
	_, gk := startGK(t, londonHost(), "")
	ctx := ctxT(t)
	carol := newSim(t, ras.DialedDigits("203"))
	if a, err := carol.Register(ctx, gk); err != nil || !isRCF(a) {
		t.Fatalf("got %+v %v", a, err)
	}
	// mallory, on 127.0.0.2, registers as someone unknown, then reuses
	// carol's endpoint identifier in a keep-alive.
	mallory, err := h323sim.New(h323sim.Config{Local: netip.MustParseAddr("127.0.0.2"), Aliases: []ras.AliasAddress{ras.DialedDigits("203")},
		Retransmit: 300 * time.Millisecond, Tries: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer mallory.Close()
	// A full RRQ would take the phone over (H.323 identities are aliases,
	// without H.235 tokens), so only forge the keep-alive: register and
	// then put carol's registration back.
	_, epid, _, _, _ := carol.Registration()
	if a, err := mallory.Register(ctx, gk); err != nil || !isRCF(a) {
		t.Fatalf("got %+v %v", a, err)
	}
	if a, err := carol.Register(ctx, gk); err != nil || !isRCF(a) {
		t.Fatalf("got %+v %v", a, err)
	}
	ka, err := mallory.KeepAlive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := ka.(*ras.RegistrationReject); !ok || r.RejectReason.Choice != ras.RRJFullRegistrationRequired {
		t.Fatalf("forged keep-alive for %s got %+v", epid, ka)
	}
	if ka, err := carol.KeepAlive(ctx); err != nil || !isRCF(ka) {
		t.Fatalf("carol's own keep-alive got %+v %v", ka, err)
	}
}

// TestHotDeskAliases: a home phone serves the user hot-desked on it (its
// aliases are granted); as a guest the same phone serves its base user
// (the hot-desked user is logged out, DESIGN §1.9).
func TestHotDeskAliases(t *testing.T) {
	host := newTestHost("london", 10)
	host.addPhone("london", "203", "203", "carol")
	host.snap.Phones[0].HotDeskUser = "205"
	host.users["london/205"] = &federationv1.User{Extension: "205", H323Ids: []string{"erin"}}
	host.addPhone("rome", "301", "301", "rita")
	host.snap.Phones[1].HotDeskUser = "305" // the core never sets it for guests; ignored if it did
	host.snap.Peers = []admission.PeerView{{Site: "rome", State: admission.StateFailover, BackedUp: true}}
	_, gk := startGK(t, host, "")
	ctx := ctxT(t)
	for _, tc := range []struct {
		alias ras.AliasAddress
		want  []ras.AliasAddress
	}{
		{ras.DialedDigits("203"), []ras.AliasAddress{ras.DialedDigits("203"), ras.DialedDigits("205"), ras.H323ID("erin")}},
		{ras.DialedDigits("301"), []ras.AliasAddress{ras.DialedDigits("301"), ras.H323ID("rita")}},
	} {
		e := newSim(t, tc.alias)
		a, err := e.Register(ctx, gk)
		if err != nil {
			t.Fatal(err)
		}
		rcf, ok := a.(*ras.RegistrationConfirm)
		if !ok || !reflect.DeepEqual(rcf.TerminalAlias, tc.want) {
			t.Errorf("%v: got %+v, want aliases %v", tc.alias, a, tc.want)
		}
	}
}

// TestHomeH323PluginDown: rome lives but its gatekeeper plugin is dead
// (declared down for H.323 only): its H.323 phones register here as
// guests; a dead SIP plugin there changes nothing for them.
func TestHomeH323PluginDown(t *testing.T) {
	for _, tc := range []struct {
		down  federationv1.Protocol
		guest bool
	}{{federationv1.Protocol_PROTOCOL_H323, true}, {federationv1.Protocol_PROTOCOL_SIP, false}} {
		t.Run(tc.down.String(), func(t *testing.T) {
			host := londonHost()
			host.snap.Peers[1].ProtocolDown = map[federationv1.Protocol]bool{tc.down: true}
			_, gk := startGK(t, host, "")
			rita := newSim(t, ras.DialedDigits("301"))
			a, err := rita.Register(ctxT(t), gk)
			if err != nil {
				t.Fatal(err)
			}
			if isRCF(a) != tc.guest {
				t.Fatalf("with rome's %v plugin down got %+v", tc.down, a)
			}
		})
	}
}

// TestURQUnanswered: a guest that does not answer the URQs (gone without
// a word) is dropped after the third.
func TestURQUnanswered(t *testing.T) {
	host := londonHost()
	host.snap.Peers[1].State = admission.StateFailover
	p, gk := startGK(t, host, `,"urq_retry":"100ms"`)
	rita, err := h323sim.New(h323sim.Config{Local: netip.MustParseAddr("127.0.0.1"), Aliases: []ras.AliasAddress{ras.DialedDigits("301")}})
	if err != nil {
		t.Fatal(err)
	}
	if a, err := rita.Register(ctxT(t), gk); err != nil || !isRCF(a) {
		t.Fatalf("got %+v %v", a, err)
	}
	rita.Close()
	rome := host.snap.Peers[1]
	rome.State = admission.StateNormal
	host.setPeer(rome)
	waitFor(t, 5*time.Second, "dropped after the URQs", func() bool {
		r, ok := host.lastReport("301")
		return ok && r.Outcome == sdk.RegGone && p.Stats().Registrations == 0
	})
	if s := p.Stats(); s.URQSent != urqTries || s.URQAnswered != 0 {
		t.Errorf("stats %+v, want %d URQs unanswered", s, urqTries)
	}
}

func TestReplyAddr(t *testing.T) {
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	for _, tc := range []struct {
		claimed ras.TransportAddress
		want    string
	}{
		{nil, "127.0.0.1:40000"},
		{ras.FromAddrPort(netip.MustParseAddrPort("127.0.0.1:1719")), "127.0.0.1:1719"},
		{ras.FromAddrPort(netip.MustParseAddrPort("127.0.0.9:1719")), "127.0.0.1:40000"}, // a third party
		{ras.FromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")), "127.0.0.1:40000"},
		{ras.NSAPAddress{1, 2}, "127.0.0.1:40000"},
	} {
		if got := replyAddr(tc.claimed, src).String(); got != tc.want {
			t.Errorf("replyAddr(%v) = %s, want %s", tc.claimed, got, tc.want)
		}
	}
}
