package federation

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/rallyvoip/rally/core/pki"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// Sentinel errors.
var (
	ErrWrongSite  = errors.New("federation: peer certificate names another site")
	ErrRefused    = errors.New("federation: link refused")
	ErrSilent     = errors.New("federation: peer silent for failover_after")
	ErrReplaced   = errors.New("federation: stream replaced by a newer one")
	ErrRemoved    = errors.New("federation: peer unlinked")
	ErrDuplicate  = errors.New("federation: both sites dialled; keeping the other stream")
	ErrProtocol   = errors.New("federation: protocol error")
	ErrSelf       = errors.New("federation: peer certificate names this site")
	ErrNoIdentity = errors.New("federation: peer certificate has no site identity")
)

// Source is this site's directory as replication reads it.
type Source interface {
	Revision() uint64
	NeedsSnapshot(resume uint64) bool
	Changes(since uint64, limit int) ([]*federationv1.Record, uint64, error)
	Snapshot(fn func(*federationv1.Record) error) (uint64, error)
	Subscribe() (<-chan uint64, func())
}

// Sink holds the records of peers.
type Sink interface {
	Apply(ctx context.Context, home string, b *federationv1.RecordBatch) error
	Held(home string) (uint64, bool)
	Full(home string) bool
}

// Observer is told of link events. Calls come from stream goroutines and
// must not block for long.
type Observer interface {
	// PeerConnected: hellos exchanged and compatible; records will flow.
	PeerConnected(site string, remote *federationv1.Hello, rel Relation)
	// PeerDisconnected: the stream ended (err says why).
	PeerDisconnected(site string, err error)
	// PeerRefused: the link was refused, by us or by the peer.
	PeerRefused(site string, r *federationv1.Refusal)
	// PeerLearned: a site we had no address for connected to us.
	PeerLearned(site, addr string)
	// HandshakeRefused: this site refused a TLS client; claimed is the
	// site its unverified certificate names ("" if none).
	HandshakeRefused(claimed string, err error)
}

// Config configures a Manager.
type Config struct {
	Site          string
	Listen        string
	Heartbeat     time.Duration
	FailoverAfter time.Duration
	// ServerTLS must require and verify client certificates; ClientTLS
	// presents this site's certificate. Both chain to CAPool.
	ServerTLS *tls.Config
	ClientTLS *tls.Config
	CAPool    *x509.CertPool
	// Hello returns this site's hello (settings); the manager fills in the
	// per-peer fields (resume revision).
	Hello func() *federationv1.Hello
	// Plugins returns the health of each protocol plugin, for heartbeats.
	Plugins  func() map[string]federationv1.PluginHealth
	Source   Source
	Sink     Sink
	Observer Observer
	// Redact strips credentials from a record sent to an index-only peer.
	Redact func(*federationv1.Record) *federationv1.Record
	Logger *slog.Logger
	// SiteOf names the site in a verified certificate.
	SiteOf func(*x509.Certificate) (string, error)
	// BatchSize is the number of records per batch (default 1000).
	BatchSize int
}

// Manager runs the federation listener and one dialler per known peer.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	peers    map[string]*peerSlot
	unlinked map[string]bool // removed peers whose streams are refused until added again
	listener net.Listener
	ctx      context.Context // set by Serve
	wg       sync.WaitGroup

	federationv1.UnimplementedFederationServiceServer
}

// peerSlot is one peer: its address, dialler and current session.
type peerSlot struct {
	site    string
	addr    string
	cancel  context.CancelFunc // stops the dialler
	session *session
	since   time.Time // when session was attached
	tracker *Tracker
}

// New checks cfg and returns a Manager; Serve starts it.
func New(cfg Config) (*Manager, error) {
	switch {
	case cfg.Site == "":
		return nil, errors.New("federation: no site name")
	case cfg.Heartbeat <= 0 || cfg.FailoverAfter <= cfg.Heartbeat:
		return nil, fmt.Errorf("federation: failover_after %v must exceed heartbeat %v", cfg.FailoverAfter, cfg.Heartbeat)
	case cfg.ServerTLS == nil || cfg.ClientTLS == nil || cfg.CAPool == nil:
		return nil, errors.New("federation: TLS not configured")
	case cfg.Hello == nil || cfg.Source == nil || cfg.Sink == nil || cfg.SiteOf == nil:
		return nil, errors.New("federation: incomplete config")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Plugins == nil {
		cfg.Plugins = func() map[string]federationv1.PluginHealth { return nil }
	}
	if cfg.Redact == nil {
		return nil, errors.New("federation: no redact function")
	}
	return &Manager{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "federation"),
		peers: make(map[string]*peerSlot),
	}, nil
}

// Serve listens on cfg.Listen and dials known peers until ctx ends.
func (m *Manager) Serve(ctx context.Context) error {
	lis, err := net.Listen("tcp", m.cfg.Listen)
	if err != nil {
		return fmt.Errorf("federation: listen %s: %w", m.cfg.Listen, err)
	}
	return m.ServeListener(ctx, lis)
}

// ServeListener is Serve on a listener the caller made.
func (m *Manager) ServeListener(ctx context.Context, lis net.Listener) error {
	srv := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(m.serverTLS())),
		grpc.MaxRecvMsgSize(64<<20),
	)
	federationv1.RegisterFederationServiceServer(srv, m)

	m.mu.Lock()
	m.ctx = ctx
	m.listener = lis
	for _, p := range m.peers {
		m.startDialerLocked(p)
	}
	m.mu.Unlock()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case <-ctx.Done():
		srv.Stop()
		<-errc
		m.wg.Wait()
		return nil
	case err := <-errc:
		m.wg.Wait()
		return fmt.Errorf("federation: serve: %w", err)
	}
}

// serverTLS verifies client certificates itself, so that the refusing side
// can name the cause (another CA, expired, not a site) and the site it
// claims, instead of a bare handshake failure.
func (m *Manager) serverTLS() *tls.Config {
	cfg := m.cfg.ServerTLS.Clone()
	cfg.ClientAuth = tls.RequestClientCert // required below, with a named cause
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			err := fmt.Errorf("%w: no client certificate", ErrNoIdentity)
			m.cfg.Observer.HandshakeRefused("", err)
			return err
		}
		claimed, _ := m.cfg.SiteOf(cs.PeerCertificates[0])
		if _, err := pki.VerifyPeer(cs, m.cfg.CAPool, x509.ExtKeyUsageClientAuth); err != nil {
			m.cfg.Observer.HandshakeRefused(claimed, err)
			return err
		}
		if _, err := m.cfg.SiteOf(cs.PeerCertificates[0]); err != nil {
			err = fmt.Errorf("%w: %w", ErrNoIdentity, err)
			m.cfg.Observer.HandshakeRefused("", err)
			return err
		}
		return nil
	}
	return cfg
}

// Addr is the listener's address once serving.
func (m *Manager) Addr() net.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.listener == nil {
		return nil
	}
	return m.listener.Addr()
}

// AddPeer makes site at addr a known peer, which this site dials.
func (m *Manager) AddPeer(site, addr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.unlinked, site)
	p := m.slotLocked(site)
	if p.addr == addr {
		return
	}
	p.addr = addr
	if p.cancel != nil {
		p.cancel()
		p.cancel = nil
	}
	if m.ctx != nil {
		m.startDialerLocked(p)
	}
}

// RemovePeer unlinks site: its dialler stops and its stream closes. Its
// streams are refused from then on (it may know this site's address and
// dial again), until AddPeer links it again.
func (m *Manager) RemovePeer(site string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unlinked == nil {
		m.unlinked = make(map[string]bool)
	}
	m.unlinked[site] = true
	p, ok := m.peers[site]
	if !ok {
		return false
	}
	if p.cancel != nil {
		p.cancel()
	}
	if p.session != nil {
		p.session.stop(ErrRemoved)
	}
	delete(m.peers, site)
	return true
}

// Trackers returns the status of every known peer.
func (m *Manager) Trackers() map[string]TrackerSnapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]TrackerSnapshot, len(m.peers))
	for name, p := range m.peers {
		s := p.tracker.Snapshot()
		s.Addr = p.addr
		out[name] = s
	}
	return out
}

// Tracker returns the tracker of site, or nil.
func (m *Manager) Tracker(site string) *Tracker {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.peers[site]; ok {
		return p.tracker
	}
	return nil
}

// Probe connects to addr, completes the TLS handshake and returns the site
// named in the peer's certificate. `rally link ADDR` uses it to learn who
// is there before it adds the peer.
func (m *Manager) Probe(ctx context.Context, addr string) (string, error) {
	var site string
	cfg := m.clientTLSFor("", &site)
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("federation: probe %s: %w", addr, err)
	}
	_ = conn.Close()
	if site == m.cfg.Site {
		return "", fmt.Errorf("federation: probe %s: %w", addr, ErrSelf)
	}
	return site, nil
}

func (m *Manager) slotLocked(site string) *peerSlot {
	p, ok := m.peers[site]
	if !ok {
		p = &peerSlot{site: site, tracker: newTracker()}
		m.peers[site] = p
	}
	return p
}

// dialsLocked reports whether this site dials p: whenever it knows the
// address. When both ends dial at once, attach keeps the stream dialled by
// the site whose name sorts first.
func (m *Manager) dialsLocked(p *peerSlot) bool {
	return p.addr != ""
}

func (m *Manager) startDialerLocked(p *peerSlot) {
	if !m.dialsLocked(p) || p.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(m.ctx)
	p.cancel = cancel
	site, addr := p.site, p.addr
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.dialLoop(ctx, site, addr)
	}()
}

// dialLoop keeps one outgoing stream to site alive, with backoff.
func (m *Manager) dialLoop(ctx context.Context, site, addr string) {
	const (
		minBackoff     = 100 * time.Millisecond
		maxBackoff     = 2 * time.Second
		refusedBackoff = 10 * time.Second
	)
	backoff := minBackoff
	for ctx.Err() == nil {
		if !m.stillDials(site) {
			return
		}
		// A live stream, whoever dialled it, makes dialling moot.
		if m.hasSession(site) {
			if !sleep(ctx, m.cfg.Heartbeat) {
				return
			}
			continue
		}
		started := time.Now()
		err := m.dialOnce(ctx, site, addr)
		if ctx.Err() != nil {
			return
		}
		m.log.Debug("stream ended", "peer", site, "addr", addr, "error", err)
		if time.Since(started) > m.cfg.FailoverAfter {
			backoff = minBackoff
		}
		wait := backoff + rand.N(backoff/2+1)
		if errors.Is(err, ErrRefused) {
			wait = refusedBackoff
		}
		backoff = min(backoff*2, maxBackoff)
		if !sleep(ctx, wait) {
			return
		}
	}
}

// stillDials reports whether this site should go on dialling site; when
// not (the peer was unlinked), the dialler ends.
func (m *Manager) stillDials(site string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.peers[site]
	if !ok {
		return false
	}
	if !m.dialsLocked(p) {
		if p.cancel != nil {
			p.cancel()
			p.cancel = nil
		}
		return false
	}
	return true
}

func (m *Manager) hasSession(site string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.peers[site]
	return ok && p.session != nil
}

// dialOnce runs one outgoing stream to its end.
func (m *Manager) dialOnce(ctx context.Context, site, addr string) error {
	var seen string
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(credentials.NewTLS(m.clientTLSFor(site, &seen))),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)),
		// gRPC gives a connection attempt 20 s by default: one begun into a
		// silently dropping network would hold the reconnect that long
		// after the network heals. This stream is redialled with our own
		// backoff anyway.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.DefaultConfig,
			MinConnectTimeout: m.connectTimeout(),
		}),
	)
	if err != nil {
		return m.linkError(site, fmt.Errorf("federation: dial %s: %w", addr, err))
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := federationv1.NewFederationServiceClient(conn).Link(sctx, grpc.WaitForReady(false))
	if err != nil {
		return m.linkError(site, fmt.Errorf("federation: open stream to %s at %s: %w", site, addr, err))
	}
	s := m.newSession(site, true, clientStream{stream}, cancel)
	err = s.run(sctx)
	_ = stream.CloseSend()
	return err
}

// connectTimeout bounds one connection attempt (TCP and TLS handshake):
// failover_after, within 1 to 10 s.
func (m *Manager) connectTimeout() time.Duration {
	return min(max(m.cfg.FailoverAfter, time.Second), 10*time.Second)
}

// linkError records err as the peer's last error and returns it.
func (m *Manager) linkError(site string, err error) error {
	m.mu.Lock()
	if p, ok := m.peers[site]; ok {
		p.tracker.SetError(err)
	}
	m.mu.Unlock()
	return err
}

// clientTLSFor returns the client TLS config for dialling site. It checks
// that the server certificate names site (any site when site is ""), and
// stores the name it saw in *seen.
func (m *Manager) clientTLSFor(site string, seen *string) *tls.Config {
	cfg := m.cfg.ClientTLS.Clone()
	verify := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if verify != nil {
			if err := verify(cs); err != nil {
				return err
			}
		}
		if len(cs.PeerCertificates) == 0 {
			return ErrNoIdentity
		}
		got, err := m.cfg.SiteOf(cs.PeerCertificates[0])
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNoIdentity, err)
		}
		*seen = got
		if site != "" && got != site {
			return fmt.Errorf("%w: certificate is for site %q, expected %q", ErrWrongSite, got, site)
		}
		return nil
	}
	return cfg
}

// Link is the accepting side of a federation stream.
func (m *Manager) Link(stream federationv1.FederationService_LinkServer) error {
	site, err := m.peerSite(stream.Context())
	if err != nil {
		m.log.Warn("federation stream refused", "error", err)
		return err
	}
	if m.isUnlinked(site) {
		m.refuseUnlinked(stream, site)
		return nil
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	s := m.newSession(site, false, serverStream{stream}, cancel)
	// A server stream's Send and Recv only give up when the handler
	// returns, not when a context derived from the stream's is cancelled:
	// so the session runs beside the handler, which returns as soon as the
	// session is stopped (watchdog, replacement, unlink) and so unblocks it.
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = s.reason(ctx.Err())
	}
	m.log.Debug("accepted stream ended", "peer", site, "error", err)
	return nil
}

func (m *Manager) isUnlinked(site string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.unlinked[site]
}

// refuseUnlinked answers the hello of a peer this site unlinked with a
// refusal, so that the peer knows why and does not take this live site for
// a dead one (it would fail it over).
func (m *Manager) refuseUnlinked(stream federationv1.FederationService_LinkServer, site string) {
	hello := make(chan error, 1)
	go func() {
		_, err := stream.Recv() // the dialler speaks first
		hello <- err
	}()
	t := time.NewTimer(m.cfg.FailoverAfter)
	defer t.Stop()
	select {
	case err := <-hello:
		if err != nil {
			return
		}
	case <-t.C:
		return // returning ends the stream and so the Recv
	}
	r := &federationv1.Refusal{Setting: "link", Message: fmt.Sprintf(
		"link: %s has unlinked %s; rally link at %s links them again", m.cfg.Site, site, m.cfg.Site)}
	_ = stream.Send(&federationv1.LinkResponse{Frame: &federationv1.Frame{Kind: &federationv1.Frame_Refusal{Refusal: r}}})
	m.log.Info("refused a stream from an unlinked peer", "peer", site)
}

// peerSite names the site of the client certificate on ctx's connection.
func (m *Manager) peerSite(ctx context.Context) (string, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", fmt.Errorf("%w: no peer", ErrNoIdentity)
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return "", fmt.Errorf("%w: no client certificate from %s", ErrNoIdentity, p.Addr)
	}
	// serverTLS verified the chain during the handshake; verify again so
	// that this check does not depend on how the listener was set up.
	if _, err := pki.VerifyPeer(info.State, m.cfg.CAPool, x509.ExtKeyUsageClientAuth); err != nil {
		return "", err
	}
	site, err := m.cfg.SiteOf(info.State.PeerCertificates[0])
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoIdentity, err)
	}
	if site == m.cfg.Site {
		return "", ErrSelf
	}
	return site, nil
}

// attach makes s the current session of its peer. A newer stream from the
// same peer means the old one is dead even if it has not noticed yet
// (half-open), so it replaces it; except when both ends dialled at once:
// then both keep the stream dialled by the site whose name sorts first,
// and the other is refused (ErrDuplicate).
func (m *Manager) attach(s *session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unlinked[s.site] { // unlinked while this stream said hello
		delete(m.peers, s.site)
		return ErrRemoved
	}
	p := m.slotLocked(s.site)
	if old := p.session; old != nil && old != s {
		if m.preferred(old) && !m.preferred(s) && time.Since(p.since) < m.cfg.FailoverAfter {
			return ErrDuplicate
		}
		old.stop(ErrReplaced)
	}
	p.session = s
	p.since = time.Now()
	s.tracker = p.tracker
	return nil
}

// preferred reports whether s was dialled by the site whose name sorts
// first.
func (m *Manager) preferred(s *session) bool {
	return s.outgoing == (m.cfg.Site < s.site)
}

// detach clears s from its peer and reports whether it was current.
func (m *Manager) detach(s *session) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.peers[s.site]; ok && p.session == s {
		p.session = nil
		return true
	}
	return false
}

// learn records the address a peer announced in its hello, so that this
// site can dial it when the stream drops.
func (m *Manager) learn(site, addr string) {
	m.mu.Lock()
	p := m.slotLocked(site)
	learned := false
	if addr != "" && p.addr == "" {
		p.addr = addr
		learned = true
		if m.ctx != nil {
			m.startDialerLocked(p)
		}
	}
	m.mu.Unlock()
	if learned {
		m.cfg.Observer.PeerLearned(site, addr)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

type nopObserver struct{}

func (nopObserver) PeerConnected(string, *federationv1.Hello, Relation) {}
func (nopObserver) PeerDisconnected(string, error)                      {}
func (nopObserver) PeerRefused(string, *federationv1.Refusal)           {}
func (nopObserver) PeerLearned(string, string)                          {}
func (nopObserver) HandshakeRefused(string, error)                      {}
