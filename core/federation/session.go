package federation

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// frameStream hides which end of the gRPC stream a session holds.
type frameStream interface {
	send(*federationv1.Frame) error
	recv() (*federationv1.Frame, error)
}

type clientStream struct {
	s federationv1.FederationService_LinkClient
}

func (c clientStream) send(f *federationv1.Frame) error {
	return c.s.Send(&federationv1.LinkRequest{Frame: f})
}

func (c clientStream) recv() (*federationv1.Frame, error) {
	r, err := c.s.Recv()
	return r.GetFrame(), err
}

type serverStream struct {
	s federationv1.FederationService_LinkServer
}

func (c serverStream) send(f *federationv1.Frame) error {
	return c.s.Send(&federationv1.LinkResponse{Frame: f})
}

func (c serverStream) recv() (*federationv1.Frame, error) {
	r, err := c.s.Recv()
	return r.GetFrame(), err
}

// session is one live stream with a peer, from either end.
type session struct {
	m        *Manager
	site     string // from the peer's certificate
	outgoing bool
	stream   frameStream
	cancel   context.CancelFunc
	tracker  *Tracker

	stopErr atomic.Pointer[error]
	acks    chan uint64 // revisions to acknowledge, coalesced
}

func (m *Manager) newSession(site string, outgoing bool, st frameStream, cancel context.CancelFunc) *session {
	m.mu.Lock()
	tr := m.slotLocked(site).tracker
	m.mu.Unlock()
	return &session{
		m: m, site: site, outgoing: outgoing, stream: st, cancel: cancel,
		tracker: tr, acks: make(chan uint64, 1),
	}
}

// stop ends the session with err (the first reason wins).
func (s *session) stop(err error) {
	s.stopErr.CompareAndSwap(nil, &err)
	s.cancel()
}

// reason returns why the session stopped, preferring a recorded reason
// over the stream error it caused.
func (s *session) reason(err error) error {
	if p := s.stopErr.Load(); p != nil {
		return *p
	}
	return err
}

// localHello is this site's hello for this peer.
func (s *session) localHello() *federationv1.Hello {
	h := proto.Clone(s.m.cfg.Hello()).(*federationv1.Hello)
	h.ProtocolVersion = ProtocolVersion
	h.Site = s.m.cfg.Site
	h.HeartbeatIntervalMs = uint32(s.m.cfg.Heartbeat / time.Millisecond)
	if rev, ok := s.m.cfg.Sink.Held(s.site); ok {
		h.ResumeRevision = rev
		h.ResumeFull = s.m.cfg.Sink.Full(s.site)
	}
	return h
}

// run exchanges hellos, then heartbeats and records until the stream ends.
func (s *session) run(ctx context.Context) error {
	local := s.localHello()
	remote, err := s.handshake(local)
	if err != nil {
		err = s.reason(err)
		s.tracker.SetError(err)
		return err
	}
	if r := Compatible(local, remote); r != nil {
		if !s.outgoing {
			_ = s.stream.send(&federationv1.Frame{Kind: &federationv1.Frame_Refusal{Refusal: r}})
		}
		s.tracker.setRefusal(r, remote)
		s.m.cfg.Observer.PeerRefused(s.site, r)
		s.m.log.Warn("link refused", "peer", s.site, "setting", r.GetSetting(), "reason", r.GetMessage())
		return fmt.Errorf("%w: %s", ErrRefused, r.GetMessage())
	}

	if err := s.m.attach(s); err != nil {
		return err
	}
	s.m.learn(s.site, remote.GetFederationAddr())
	rel := Relate(local, remote)
	now := time.Now()
	s.tracker.heard(now)
	s.tracker.setConnected(remote, rel, now)
	s.m.cfg.Observer.PeerConnected(s.site, remote, rel)
	s.m.log.Info("peer linked", "peer", s.site, "outgoing", s.outgoing,
		"we_back_up", rel.WeBackUp, "they_back_up", rel.TheyBackUp)

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := s.sendLoop(ctx, remote, rel); err != nil {
			s.stop(err)
		}
	}()
	go func() {
		defer wg.Done()
		s.watchdog(ctx)
	}()
	err = s.recvLoop(ctx)
	s.stop(err)
	wg.Wait()
	err = s.reason(err)
	// A replaced session's end is not the link's end.
	if s.m.detach(s) {
		s.tracker.setDisconnected(err, time.Now())
		s.m.cfg.Observer.PeerDisconnected(s.site, err)
		s.m.log.Info("peer link ended", "peer", s.site, "error", err)
	}
	return err
}

// handshake sends and receives hellos in the order of the stream's ends:
// the dialler speaks first. The peer must answer within failover_after.
func (s *session) handshake(local *federationv1.Hello) (*federationv1.Hello, error) {
	t := time.AfterFunc(s.m.cfg.FailoverAfter, func() { s.stop(fmt.Errorf("%w: no hello", ErrSilent)) })
	defer t.Stop()
	hello := &federationv1.Frame{Kind: &federationv1.Frame_Hello{Hello: local}}
	if s.outgoing {
		if err := s.stream.send(hello); err != nil {
			return nil, fmt.Errorf("federation: send hello to %s: %w", s.site, err)
		}
	}
	f, err := s.stream.recv()
	if err != nil {
		return nil, fmt.Errorf("federation: receive hello from %s: %w", s.site, err)
	}
	if r := f.GetRefusal(); r != nil {
		s.tracker.setRefusal(r, nil)
		s.m.cfg.Observer.PeerRefused(s.site, r)
		return nil, fmt.Errorf("%w: %s", ErrRefused, r.GetMessage())
	}
	remote := f.GetHello()
	if remote == nil {
		return nil, fmt.Errorf("%w: first frame from %s is not a hello", ErrProtocol, s.site)
	}
	if remote.GetSite() != s.site {
		return nil, fmt.Errorf("%w: hello claims site %q but the certificate names %q", ErrWrongSite, remote.GetSite(), s.site)
	}
	if !s.outgoing {
		if err := s.stream.send(hello); err != nil {
			return nil, fmt.Errorf("federation: send hello to %s: %w", s.site, err)
		}
	}
	return remote, nil
}

// watchdog stops the session when the peer has been silent for
// failover_after: it catches silent loss and half-open connections.
func (s *session) watchdog(ctx context.Context) {
	tick := time.NewTicker(max(s.m.cfg.Heartbeat/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if now.Sub(s.tracker.LastHeard()) > s.m.cfg.FailoverAfter {
				s.stop(ErrSilent)
				return
			}
		}
	}
}

// recvLoop reads frames until the stream ends.
func (s *session) recvLoop(ctx context.Context) error {
	for {
		f, err := s.stream.recv()
		if err != nil {
			return err
		}
		s.tracker.heard(time.Now())
		switch k := f.GetKind().(type) {
		case *federationv1.Frame_Heartbeat:
			s.tracker.setHeartbeat(k.Heartbeat)
		case *federationv1.Frame_Records:
			b := k.Records
			if err := s.m.cfg.Sink.Apply(ctx, s.site, b); err != nil {
				return fmt.Errorf("federation: apply records from %s: %w", s.site, err)
			}
			if b.GetKind() == federationv1.RecordBatchKind_RECORD_BATCH_KIND_INCREMENT || b.GetSnapshotEnd() {
				s.queueAck(b.GetRevision())
			}
		case *federationv1.Frame_Ack:
			s.tracker.setAcked(k.Ack.GetRevision())
		case *federationv1.Frame_Refusal:
			s.tracker.setRefusal(k.Refusal, nil)
			s.m.cfg.Observer.PeerRefused(s.site, k.Refusal)
			return fmt.Errorf("%w: %s", ErrRefused, k.Refusal.GetMessage())
		case *federationv1.Frame_Hello:
			return fmt.Errorf("%w: second hello from %s", ErrProtocol, s.site)
		default:
			// A newer peer may send frame kinds we do not know: skip them.
		}
	}
}

// queueAck hands rev to the send loop, replacing an older pending ack.
func (s *session) queueAck(rev uint64) {
	for {
		select {
		case s.acks <- rev:
			return
		default:
		}
		select {
		case old := <-s.acks:
			rev = max(rev, old)
		default:
		}
	}
}

// sender is the send half of a session. Only its goroutine sends after the
// handshake.
type sender struct {
	s      *session
	full   bool
	lastHB time.Time
}

// sendLoop sends heartbeats, acks and this site's records.
func (s *session) sendLoop(ctx context.Context, remote *federationv1.Hello, rel Relation) error {
	src := s.m.cfg.Source
	notify, unsubscribe := src.Subscribe()
	defer unsubscribe()
	w := &sender{s: s, full: rel.TheyBackUp}
	if err := w.heartbeat(); err != nil {
		return err
	}

	sent := remote.GetResumeRevision()
	if remote.GetResumeFull() != w.full || src.NeedsSnapshot(sent) {
		rev, err := w.snapshot()
		if err != nil {
			return err
		}
		sent = rev
	}

	tick := time.NewTicker(s.m.cfg.Heartbeat)
	defer tick.Stop()
	for {
		for {
			recs, last, err := src.Changes(sent, s.m.cfg.BatchSize)
			if err != nil {
				return fmt.Errorf("federation: read changes: %w", err)
			}
			if len(recs) == 0 {
				break
			}
			if err := w.batch(&federationv1.RecordBatch{
				Kind:     federationv1.RecordBatchKind_RECORD_BATCH_KIND_INCREMENT,
				Records:  recs,
				Revision: last,
			}); err != nil {
				return err
			}
			sent = last
			s.tracker.setSent(sent)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-notify:
		case <-tick.C:
			if err := w.heartbeat(); err != nil {
				return err
			}
		case rev := <-s.acks:
			if err := w.ack(rev); err != nil {
				return err
			}
		}
	}
}

// snapshot sends this site's live records in chunks and returns the
// revision they are consistent at.
func (w *sender) snapshot() (uint64, error) {
	var recs []*federationv1.Record
	rev, err := w.s.m.cfg.Source.Snapshot(func(r *federationv1.Record) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("federation: read snapshot: %w", err)
	}
	n := w.s.m.cfg.BatchSize
	for i := 0; i == 0 || i < len(recs); i += n {
		chunk := recs[i:min(i+n, len(recs))]
		if err := w.batch(&federationv1.RecordBatch{
			Kind:          federationv1.RecordBatchKind_RECORD_BATCH_KIND_SNAPSHOT,
			SnapshotBegin: i == 0,
			SnapshotEnd:   i+n >= len(recs),
			Records:       chunk,
			Revision:      rev,
		}); err != nil {
			return 0, err
		}
	}
	w.s.tracker.setSent(rev)
	w.s.m.log.Debug("snapshot sent", "peer", w.s.site, "records", len(recs), "revision", rev, "full", w.full)
	return rev, nil
}

// batch sends one record batch, redacted for an index peer, and keeps
// heartbeats and acks flowing between chunks.
func (w *sender) batch(b *federationv1.RecordBatch) error {
	b.Full = w.full
	if !w.full {
		red := make([]*federationv1.Record, len(b.Records))
		for i, r := range b.Records {
			red[i] = w.s.m.cfg.Redact(r)
		}
		b.Records = red
	}
	if err := w.s.stream.send(&federationv1.Frame{Kind: &federationv1.Frame_Records{Records: b}}); err != nil {
		return fmt.Errorf("federation: send records to %s: %w", w.s.site, err)
	}
	select {
	case rev := <-w.s.acks:
		if err := w.ack(rev); err != nil {
			return err
		}
	default:
	}
	if time.Since(w.lastHB) >= w.s.m.cfg.Heartbeat {
		return w.heartbeat()
	}
	return nil
}

func (w *sender) heartbeat() error {
	w.lastHB = time.Now()
	hb := &federationv1.Heartbeat{
		SentUnixNano: w.lastHB.UnixNano(),
		Plugins:      w.s.m.cfg.Plugins(),
		Revision:     w.s.m.cfg.Source.Revision(),
	}
	if err := w.s.stream.send(&federationv1.Frame{Kind: &federationv1.Frame_Heartbeat{Heartbeat: hb}}); err != nil {
		return fmt.Errorf("federation: send heartbeat to %s: %w", w.s.site, err)
	}
	return nil
}

func (w *sender) ack(rev uint64) error {
	if err := w.s.stream.send(&federationv1.Frame{Kind: &federationv1.Frame_Ack{Ack: &federationv1.Ack{Revision: rev}}}); err != nil {
		return fmt.Errorf("federation: send ack to %s: %w", w.s.site, err)
	}
	return nil
}
