package h323sim

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/ras"
)

// Fleet simulates many endpoints over a few UDP sockets, as a load
// generator does (SIPp runs many users over one socket): each endpoint has
// its own aliases and call signal address, its RAS address is the socket
// it is sent from. It registers them with a bounded number of RRQs in
// flight, retransmitting the unanswered, and answers a gatekeeper's URQs
// with UCF, reporting which endpoint was sent where.
type Fleet struct {
	socks   []*fleetSock
	aliases [][]ras.AliasAddress
	csa     []netip.AddrPort
	byAlias map[string]int

	// URQs receives the index of every endpoint a gatekeeper sent a URQ
	// (already answered), with the alternate gatekeeper named.
	URQs chan FleetURQ
	urqs atomic.Int64
}

// FleetURQ is a URQ a fleet endpoint received.
type FleetURQ struct {
	Index int
	AltGK netip.AddrPort
	At    time.Time
}

type fleetSock struct {
	conn    *net.UDPConn
	mu      sync.Mutex
	seq     uint16
	pending map[uint16]chan ras.Message
}

// NewFleet makes a fleet of len(aliases) endpoints on local, spread over
// socks UDP sockets; endpoint i announces call signal address local:port
// 10000+i (a stand-in: the fleet does not take calls).
func NewFleet(local netip.Addr, socks int, aliases [][]ras.AliasAddress) (*Fleet, error) {
	f := &Fleet{aliases: aliases, byAlias: make(map[string]int), URQs: make(chan FleetURQ, len(aliases)+16)}
	for i, as := range aliases {
		f.csa = append(f.csa, netip.AddrPortFrom(local, uint16(10000+i%50000)))
		for _, a := range as {
			if s, ok := a.(ras.H323ID); ok {
				f.byAlias[string(s)] = i
			}
			if s, ok := a.(ras.DialedDigits); ok {
				f.byAlias[string(s)] = i
			}
		}
	}
	for range max(socks, 1) {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("h323sim: %w", err)
		}
		_ = c.SetReadBuffer(4 << 20)
		s := &fleetSock{conn: c, pending: make(map[uint16]chan ras.Message)}
		f.socks = append(f.socks, s)
		go f.read(s)
	}
	return f, nil
}

// Close closes the sockets.
func (f *Fleet) Close() {
	for _, s := range f.socks {
		s.conn.Close()
	}
}

// URQCount is how many URQs the fleet answered.
func (f *Fleet) URQCount() int { return int(f.urqs.Load()) }

func (f *Fleet) read(s *fleetSock) {
	buf := make([]byte, 65536)
	for {
		n, src, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		m, err := ras.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		if urq, ok := m.(*ras.UnregistrationRequest); ok {
			if b, err := ras.Marshal(&ras.UnregistrationConfirm{RequestSeqNum: urq.RequestSeqNum}); err == nil {
				_, _ = s.conn.WriteToUDPAddrPort(b, src)
			}
			idx := -1
			for _, a := range urq.EndpointAlias {
				if s, ok := a.(ras.DialedDigits); ok {
					if i, ok := f.byAlias[string(s)]; ok {
						idx = i
						break
					}
				}
				if s, ok := a.(ras.H323ID); ok {
					if i, ok := f.byAlias[string(s)]; ok {
						idx = i
						break
					}
				}
			}
			alt, _, _ := AltGK(urq)
			f.urqs.Add(1)
			select {
			case f.URQs <- FleetURQ{Index: idx, AltGK: alt, At: time.Now()}:
			default:
			}
			continue
		}
		seq, ok := ras.RequestSeqNum(m)
		if !ok {
			continue
		}
		s.mu.Lock()
		ch := s.pending[seq]
		delete(s.pending, seq)
		s.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

// Register sends a full RRQ for each endpoint of indexes to gk (with
// gatekeeperIdentifier gkID, "" for none), window at most in flight per
// socket, an unanswered RRQ sent again after retry. It returns how many
// got an RCF and how many an RRJ; the rest got nothing before ctx ended.
func (f *Fleet) Register(ctx context.Context, gk netip.AddrPort, gkID string, indexes []int, window int, retry time.Duration) (confirmed, rejected int) {
	var conf, rej atomic.Int64
	var wg sync.WaitGroup
	for si, s := range f.socks {
		var mine []int
		for j := si; j < len(indexes); j += len(f.socks) {
			mine = append(mine, indexes[j])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem := make(chan struct{}, max(window, 1))
			var inner sync.WaitGroup
			for _, i := range mine {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				inner.Add(1)
				go func() {
					defer inner.Done()
					defer func() { <-sem }()
					switch f.registerOne(ctx, s, gk, gkID, i, retry).(type) {
					case *ras.RegistrationConfirm:
						conf.Add(1)
					case *ras.RegistrationReject:
						rej.Add(1)
					}
				}()
			}
			inner.Wait()
		}()
	}
	wg.Wait()
	return int(conf.Load()), int(rej.Load())
}

func (f *Fleet) registerOne(ctx context.Context, s *fleetSock, gk netip.AddrPort, gkID string, i int, retry time.Duration) ras.Message {
	ch := make(chan ras.Message, 1)
	s.mu.Lock()
	s.seq = s.seq%65535 + 1
	seq := s.seq
	s.pending[seq] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.pending[seq] == ch {
			delete(s.pending, seq)
		}
		s.mu.Unlock()
	}()
	b, err := ras.Marshal(&ras.RegistrationRequest{
		RequestSeqNum: seq, ProtocolIdentifier: ras.ProtocolV4,
		CallSignalAddress: []ras.TransportAddress{ras.FromAddrPort(f.csa[i])},
		RASAddress:        []ras.TransportAddress{ras.FromAddrPort(s.conn.LocalAddr().(*net.UDPAddr).AddrPort())},
		TerminalType:      ras.EndpointType{Terminal: &ras.NonStandardOnly{}},
		TerminalAlias:     f.aliases[i], GatekeeperIdentifier: gkID, EndpointVendor: *vendor(),
	})
	if err != nil {
		return nil
	}
	for {
		if _, err := s.conn.WriteToUDPAddrPort(b, gk); err != nil {
			return nil
		}
		t := time.NewTimer(retry)
		select {
		case m := <-ch:
			t.Stop()
			return m
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}
