// Package h323sim is a simulated H.323 endpoint built on the RAS codec
// (plugins/h323/ras): it discovers and registers with a gatekeeper over
// real UDP, keeps its registration alive, asks admission for calls and
// disengages, answers its gatekeeper's URQ with UCF and tells where it was
// sent, and records every datagram it receives into a pcap (Capture) for
// Wireshark's decoders. Its call signal address is a real TCP listener
// that echoes what it receives: a stand-in for direct call signalling,
// which goes on whatever happens to the gatekeeper. Tests and `rally demo`
// use it.
package h323sim

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/ras"
)

// Errors of the simulator.
var (
	// ErrTimeout: no answer to a request after its retransmissions.
	ErrTimeout = errors.New("h323sim: no answer")
	// ErrNotRegistered: the endpoint holds no registration.
	ErrNotRegistered = errors.New("h323sim: not registered")
)

// Config describes an endpoint.
type Config struct {
	// Local is the IP address the endpoint binds (RAS on UDP, call
	// signalling on TCP, ports chosen by the system).
	Local netip.Addr
	// Aliases are the terminal aliases it registers.
	Aliases []ras.AliasAddress
	// TimeToLive asked in RRQs, in seconds (0: none asked).
	TimeToLive uint32
	// Retransmit is the wait before a request is sent again (default
	// 500 ms); Tries the number of sends (default 4).
	Retransmit time.Duration
	Tries      int
}

// waiter is a request waiting for its answer: only one from the address
// it was sent to counts (the sequence number is no secret).
type waiter struct {
	to netip.AddrPort
	ch chan ras.Message
}

// Endpoint is a simulated H.323 endpoint.
type Endpoint struct {
	cfg  Config
	conn *net.UDPConn
	sig  net.Listener
	cap  Capture

	mu         sync.Mutex
	seq        uint16
	waiters    map[uint16]waiter
	gk         netip.AddrPort
	gkID       string
	epid       string
	ttl        uint32
	alternates []ras.AlternateGK
	granted    []ras.AliasAddress
	urqs       chan *ras.UnregistrationRequest

	wg sync.WaitGroup
}

// New starts an endpoint: its RAS socket, its call signalling listener
// and its reader.
func New(cfg Config) (*Endpoint, error) {
	if cfg.Retransmit == 0 {
		cfg.Retransmit = 500 * time.Millisecond
	}
	if cfg.Tries == 0 {
		cfg.Tries = 4
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(cfg.Local, 0)))
	if err != nil {
		return nil, fmt.Errorf("h323sim: %w", err)
	}
	sig, err := net.Listen("tcp", netip.AddrPortFrom(cfg.Local, 0).String())
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("h323sim: %w", err)
	}
	e := &Endpoint{cfg: cfg, conn: conn, sig: sig, waiters: make(map[uint16]waiter),
		urqs: make(chan *ras.UnregistrationRequest, 16)}
	e.wg.Add(2)
	go func() { defer e.wg.Done(); e.read() }()
	go func() { defer e.wg.Done(); e.echo() }()
	return e, nil
}

// Close stops the endpoint (without unregistering: like a phone pulled
// from the wall).
func (e *Endpoint) Close() {
	e.conn.Close()
	e.sig.Close()
	e.wg.Wait()
}

// RAS is the endpoint's RAS address.
func (e *Endpoint) RAS() netip.AddrPort { return e.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// CallSignal is the endpoint's call signal address.
func (e *Endpoint) CallSignal() netip.AddrPort {
	return e.sig.Addr().(*net.TCPAddr).AddrPort()
}

// Capture returns the record of the datagrams received.
func (e *Endpoint) Capture() *Capture { return &e.cap }

// Registration returns the gatekeeper the endpoint is registered with, its
// endpoint identifier, time to live, the alternate gatekeepers and aliases
// the RCF gave; gk is invalid when not registered.
func (e *Endpoint) Registration() (gk netip.AddrPort, epid string, ttl uint32, alternates []ras.AlternateGK, aliases []ras.AliasAddress) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gk, e.epid, e.ttl, e.alternates, e.granted
}

// echo serves the call signal address: every connection gets back what
// it sends.
func (e *Endpoint) echo() {
	for {
		c, err := e.sig.Accept()
		if err != nil {
			return
		}
		go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
	}
}

func (e *Endpoint) read() {
	buf := make([]byte, 65536)
	local := e.RAS()
	for {
		n, src, err := e.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		e.cap.Add(time.Now(), src, local, buf[:n])
		m, err := ras.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		if urq, ok := m.(*ras.UnregistrationRequest); ok {
			e.onURQ(urq, src)
			continue
		}
		seq, ok := ras.RequestSeqNum(m)
		if !ok {
			continue
		}
		e.mu.Lock()
		w, ok := e.waiters[seq]
		e.mu.Unlock()
		if ok && w.to == src {
			select {
			case w.ch <- m:
			default:
			}
		}
	}
}

// onURQ answers the URQ of the gatekeeper the endpoint is registered
// with, naming its endpoint identifier, with UCF: the registration ends.
// Any other URQ gets URJ notCurrentlyRegistered and changes nothing.
func (e *Endpoint) onURQ(m *ras.UnregistrationRequest, src netip.AddrPort) {
	e.mu.Lock()
	ours := e.gk.IsValid() && src == e.gk && m.EndpointIdentifier == e.epid
	if ours {
		e.gk, e.epid = netip.AddrPort{}, ""
	}
	e.mu.Unlock()
	if !ours {
		_ = e.send(&ras.UnregistrationReject{RequestSeqNum: m.RequestSeqNum,
			RejectReason: ras.UnregRejectReason{Choice: ras.URJNotCurrentlyRegistered}}, src)
		return
	}
	_ = e.send(&ras.UnregistrationConfirm{RequestSeqNum: m.RequestSeqNum}, src)
	select {
	case e.urqs <- m:
	default:
	}
}

// WaitURQ returns the next URQ a gatekeeper sent (already answered).
func (e *Endpoint) WaitURQ(ctx context.Context) (*ras.UnregistrationRequest, error) {
	select {
	case m := <-e.urqs:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (e *Endpoint) send(m ras.Message, to netip.AddrPort) error {
	b, err := ras.Marshal(m)
	if err != nil {
		return fmt.Errorf("h323sim: %w", err)
	}
	_, err = e.conn.WriteToUDPAddrPort(b, to)
	return err
}

// request sends the message build makes with a fresh sequence number to
// gk, again every Retransmit, until an answer with that number comes.
func (e *Endpoint) request(ctx context.Context, gk netip.AddrPort, build func(seq uint16) ras.Message) (ras.Message, error) {
	ch := make(chan ras.Message, 4)
	e.mu.Lock()
	e.seq = e.seq%65535 + 1
	seq := e.seq
	e.waiters[seq] = waiter{to: gk, ch: ch}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.waiters, seq)
		e.mu.Unlock()
	}()
	m := build(seq)
	for range e.cfg.Tries {
		if err := e.send(m, gk); err != nil {
			return nil, err
		}
		t := time.NewTimer(e.cfg.Retransmit)
		select {
		case a := <-ch:
			t.Stop()
			if rip, ok := a.(*ras.RequestInProgress); ok {
				// The gatekeeper asks for patience.
				select {
				case a = <-ch:
				case <-time.After(time.Duration(rip.Delay) * time.Millisecond):
					continue
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return a, nil
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("%w from %s (%T)", ErrTimeout, gk, m)
}

func (e *Endpoint) terminal() ras.EndpointType {
	return ras.EndpointType{Vendor: vendor(), Terminal: &ras.NonStandardOnly{}}
}

func vendor() *ras.VendorIdentifier {
	return &ras.VendorIdentifier{Vendor: ras.H221NonStandard{T35CountryCode: 181, ManufacturerCode: 29281},
		ProductID: []byte("rally-h323sim"), VersionID: []byte("1.0")}
}

// Discover sends a GRQ to gk and returns the GCF or GRJ.
func (e *Endpoint) Discover(ctx context.Context, gk netip.AddrPort) (ras.Message, error) {
	return e.request(ctx, gk, func(seq uint16) ras.Message {
		return &ras.GatekeeperRequest{RequestSeqNum: seq, ProtocolIdentifier: ras.ProtocolV4,
			RASAddress: ras.FromAddrPort(e.RAS()), EndpointType: e.terminal(), EndpointAlias: e.cfg.Aliases,
			SupportsAltGK: true}
	})
}

// Register sends a full RRQ to gk and returns the RCF (the endpoint is
// then registered there) or RRJ.
func (e *Endpoint) Register(ctx context.Context, gk netip.AddrPort) (ras.Message, error) {
	return e.RegisterAs(ctx, gk, "")
}

// RegisterAs is Register with a gatekeeperIdentifier in the RRQ ("" for
// none), as an endpoint sends to an alternate gatekeeper it was given.
func (e *Endpoint) RegisterAs(ctx context.Context, gk netip.AddrPort, gkID string) (ras.Message, error) {
	a, err := e.request(ctx, gk, func(seq uint16) ras.Message {
		return &ras.RegistrationRequest{
			RequestSeqNum: seq, ProtocolIdentifier: ras.ProtocolV4, DiscoveryComplete: false,
			CallSignalAddress: []ras.TransportAddress{ras.FromAddrPort(e.CallSignal())},
			RASAddress:        []ras.TransportAddress{ras.FromAddrPort(e.RAS())},
			TerminalType:      e.terminal(), TerminalAlias: e.cfg.Aliases, GatekeeperIdentifier: gkID,
			EndpointVendor: *vendor(), TimeToLive: e.cfg.TimeToLive, SupportsAltGK: true,
		}
	})
	if err != nil {
		return nil, err
	}
	if rcf, ok := a.(*ras.RegistrationConfirm); ok {
		e.mu.Lock()
		e.gk, e.gkID, e.epid, e.ttl = gk, rcf.GatekeeperIdentifier, rcf.EndpointIdentifier, rcf.TimeToLive
		e.alternates, e.granted = rcf.AlternateGatekeeper, rcf.TerminalAlias
		e.mu.Unlock()
	}
	return a, nil
}

func (e *Endpoint) current() (gk netip.AddrPort, gkID, epid string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.gk.IsValid() {
		return gk, "", "", ErrNotRegistered
	}
	return e.gk, e.gkID, e.epid, nil
}

// KeepAlive sends a lightweight RRQ to the gatekeeper the endpoint is
// registered with and returns the RCF or RRJ (an RRJ ends the
// registration).
func (e *Endpoint) KeepAlive(ctx context.Context) (ras.Message, error) {
	gk, gkID, epid, err := e.current()
	if err != nil {
		return nil, err
	}
	a, err := e.request(ctx, gk, func(seq uint16) ras.Message {
		return &ras.RegistrationRequest{
			RequestSeqNum: seq, ProtocolIdentifier: ras.ProtocolV4,
			CallSignalAddress: []ras.TransportAddress{ras.FromAddrPort(e.CallSignal())},
			RASAddress:        []ras.TransportAddress{ras.FromAddrPort(e.RAS())},
			TerminalType:      e.terminal(), GatekeeperIdentifier: gkID, EndpointVendor: *vendor(),
			TimeToLive: e.cfg.TimeToLive, KeepAlive: true, EndpointIdentifier: epid,
		}
	})
	if _, ok := a.(*ras.RegistrationReject); ok {
		e.forget(epid)
	}
	return a, err
}

func (e *Endpoint) forget(epid string) {
	e.mu.Lock()
	if e.epid == epid {
		e.gk, e.epid = netip.AddrPort{}, ""
	}
	e.mu.Unlock()
}

// Unregister sends a URQ and returns the UCF or URJ.
func (e *Endpoint) Unregister(ctx context.Context) (ras.Message, error) {
	gk, _, epid, err := e.current()
	if err != nil {
		return nil, err
	}
	a, err := e.request(ctx, gk, func(seq uint16) ras.Message {
		return &ras.UnregistrationRequest{RequestSeqNum: seq,
			CallSignalAddress: []ras.TransportAddress{ras.FromAddrPort(e.CallSignal())},
			EndpointAlias:     e.cfg.Aliases, EndpointIdentifier: epid}
	})
	if err == nil {
		e.forget(epid)
	}
	return a, err
}

// NewCallID returns a fresh call identifier.
func NewCallID() ras.CallIdentifier {
	var id ras.CallIdentifier
	_, _ = rand.Read(id.GUID[:])
	return id
}

// Admit asks admission for a call to dest (answer false) or to answer the
// call (answer true) and returns the ACF or ARJ.
func (e *Endpoint) Admit(ctx context.Context, call ras.CallIdentifier, dest []ras.AliasAddress, answer bool) (ras.Message, error) {
	gk, gkID, epid, err := e.current()
	if err != nil {
		return nil, err
	}
	model := ras.CallModelDirect
	return e.request(ctx, gk, func(seq uint16) ras.Message {
		m := &ras.AdmissionRequest{
			RequestSeqNum: seq, CallType: ras.CallPointToPoint, CallModel: &model, EndpointIdentifier: epid,
			DestinationInfo: dest, SrcInfo: e.cfg.Aliases, BandWidth: 1280, CallReferenceValue: uint16(call.GUID[0]) + 1,
			ConferenceID: call.GUID, AnswerCall: answer, CallIdentifier: call, GatekeeperIdentifier: gkID,
		}
		if answer {
			m.DestinationInfo = e.cfg.Aliases
			m.SrcInfo = dest
			m.DestCallSignalAddress = ras.FromAddrPort(e.CallSignal())
		}
		return m
	})
}

// Disengage tells the gatekeeper the call ended and returns the DCF or
// DRJ.
func (e *Endpoint) Disengage(ctx context.Context, call ras.CallIdentifier) (ras.Message, error) {
	gk, gkID, epid, err := e.current()
	if err != nil {
		return nil, err
	}
	return e.request(ctx, gk, func(seq uint16) ras.Message {
		return &ras.DisengageRequest{RequestSeqNum: seq, EndpointIdentifier: epid, ConferenceID: call.GUID,
			CallReferenceValue: uint16(call.GUID[0]) + 1, DisengageReason: ras.DisengageNormalDrop,
			CallIdentifier: call, GatekeeperIdentifier: gkID}
	})
}

// AltGK returns the first alternate gatekeeper a message names (an RRJ's
// or GRJ's altGKInfo, a URQ's or RCF's alternateGatekeeper) as its RAS
// address and identifier.
func AltGK(m ras.Message) (netip.AddrPort, string, bool) {
	var gks []ras.AlternateGK
	switch m := m.(type) {
	case *ras.RegistrationReject:
		if m.AltGKInfo != nil {
			gks = m.AltGKInfo.AlternateGatekeeper
		}
	case *ras.GatekeeperReject:
		if m.AltGKInfo != nil {
			gks = m.AltGKInfo.AlternateGatekeeper
		}
	case *ras.UnregistrationRequest:
		gks = m.AlternateGatekeeper
	case *ras.RegistrationConfirm:
		gks = m.AlternateGatekeeper
	case *ras.GatekeeperConfirm:
		gks = m.AlternateGatekeeper
	}
	for _, g := range gks {
		switch a := g.RASAddress.(type) {
		case ras.IPAddress:
			return a.AddrPort(), g.GatekeeperIdentifier, true
		case ras.IP6Address:
			return a.AddrPort(), g.GatekeeperIdentifier, true
		}
	}
	return netip.AddrPort{}, "", false
}
