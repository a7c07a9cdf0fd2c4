package h323sim

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/ras"
)

// A gatekeeper played by the test on loopback UDP.
func listen(t *testing.T, ip string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c *net.UDPConn, m ras.Message, to netip.AddrPort) {
	t.Helper()
	b, err := ras.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

func recv(t *testing.T, c *net.UDPConn) ras.Message {
	t.Helper()
	buf := make([]byte, 65536)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ras.Unmarshal(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSpoofedAnswers: the endpoint takes an answer only from the
// gatekeeper it asked, and a URQ only from the gatekeeper it is registered
// with, naming its own endpoint identifier; others get URJ.
func TestSpoofedAnswers(t *testing.T) {
	gk, other := listen(t, "127.0.0.1"), listen(t, "127.0.0.2")
	gkAddr := gk.LocalAddr().(*net.UDPAddr).AddrPort()
	e, err := New(Config{Local: netip.MustParseAddr("127.0.0.1"), Aliases: []ras.AliasAddress{ras.DialedDigits("203")},
		Retransmit: 2 * time.Second, Tries: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		m   ras.Message
		err error
	}
	done := make(chan result, 1)
	go func() { m, err := e.Register(ctx, gkAddr); done <- result{m, err} }()
	rrq, ok := recv(t, gk).(*ras.RegistrationRequest)
	if !ok {
		t.Fatal("no RRQ")
	}
	rcf := func(epid string) *ras.RegistrationConfirm {
		return &ras.RegistrationConfirm{RequestSeqNum: rrq.RequestSeqNum, ProtocolIdentifier: ras.ProtocolV4,
			CallSignalAddress: []ras.TransportAddress{}, GatekeeperIdentifier: "london", EndpointIdentifier: epid, TimeToLive: 60}
	}
	send(t, other, rcf("forged@london"), e.RAS())
	time.Sleep(100 * time.Millisecond) // the forged one first
	send(t, gk, rcf("203@london"), e.RAS())
	if r := <-done; r.err != nil {
		t.Fatal(r.err)
	} else if got, ok := r.m.(*ras.RegistrationConfirm); !ok || got.EndpointIdentifier != "203@london" {
		t.Fatalf("Register returned %+v", r.m)
	}
	urq := func(seq uint16, epid string) *ras.UnregistrationRequest {
		return &ras.UnregistrationRequest{RequestSeqNum: seq,
			CallSignalAddress: []ras.TransportAddress{ras.FromAddrPort(e.CallSignal())}, EndpointIdentifier: epid}
	}
	for _, tc := range []struct {
		name string
		from *net.UDPConn
		epid string
		ucf  bool
	}{
		{"from another host", other, "203@london", false},
		{"for another endpoint", gk, "204@london", false},
		{"from its gatekeeper, for it", gk, "203@london", true},
	} {
		send(t, tc.from, urq(7, tc.epid), e.RAS())
		m := recv(t, tc.from)
		g, epid, _, _, _ := e.Registration()
		if tc.ucf {
			if _, ok := m.(*ras.UnregistrationConfirm); !ok || g.IsValid() || epid != "" {
				t.Errorf("%s: got %+v, registered with %v as %q", tc.name, m, g, epid)
			}
			continue
		}
		if urj, ok := m.(*ras.UnregistrationReject); !ok || urj.RejectReason.Choice != ras.URJNotCurrentlyRegistered || g != gkAddr || epid != "203@london" {
			t.Errorf("%s: got %+v, registered with %v as %q", tc.name, m, g, epid)
		}
	}
}
