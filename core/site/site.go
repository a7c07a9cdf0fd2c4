// Package site is the rally site daemon: it wires the config, this site's
// directory, the backup store of peers' records, the federation links, one
// resilience machine per peer, the admission table shared with the protocol
// plugins, the admin API and metrics, and runs them until its context ends.
package site

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/rallyvoip/rally/core/admin"
	"github.com/rallyvoip/rally/core/backupstore"
	"github.com/rallyvoip/rally/core/config"
	"github.com/rallyvoip/rally/core/directory"
	"github.com/rallyvoip/rally/core/events"
	"github.com/rallyvoip/rally/core/federation"
	"github.com/rallyvoip/rally/core/metrics"
	"github.com/rallyvoip/rally/core/pki"
	"github.com/rallyvoip/rally/core/pluginhost"
	"github.com/rallyvoip/rally/core/resilience"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// Site is one running site daemon.
type Site struct {
	cfg     *config.Config
	log     *slog.Logger
	started time.Time

	caCert    *x509.Certificate
	caPool    *x509.CertPool
	serverTLS *tls.Config
	clientTLS *tls.Config

	dir     *directory.Store
	backups backupstore.Store
	table   *admission.Table
	fed     *federation.Manager
	metrics *metrics.Metrics
	bus     *events.Bus
	admin   *admin.Server
	plugins *pluginhost.Manager
	// view streams the admission table's changes to the plugins; viewMu
	// orders each table change with its publication (plugins.go).
	view   *pluginhost.ViewFeed
	viewMu sync.Mutex
	// sweptAt is when the tick loop last looked for lapsed registrations.
	sweptAt time.Time
	// compactedAt is when the tick loop last compacted tombstones.
	compactedAt time.Time

	mu       sync.Mutex
	machines map[string]*resilience.Machine
	peerInfo map[string]*peerInfo     // what each peer told us in its hello
	dynamic  map[string]string        // peers learned at run time: site → addr
	unlinked map[string]bool          // peers the operator unlinked: refused until linked again
	regs     map[string]*registration // phones registered here, as plugins report them

	hd *hotDesk // hot-desk logins (hotdesk.go)
}

// peerInfo is what the last hello of a peer said.
type peerInfo struct {
	failback      string
	failbackDelay time.Duration
	clashes       []string
}

// New opens the site's stores and checks its identity. It starts nothing:
// Serve does.
func New(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts ...Option) (*Site, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	s := &Site{
		cfg:      cfg,
		log:      logger.With("site", cfg.Site),
		started:  time.Now(),
		metrics:  metrics.New(),
		bus:      events.NewBus(256),
		machines: make(map[string]*resilience.Machine),
		peerInfo: make(map[string]*peerInfo),
		dynamic:  make(map[string]string),
		unlinked: make(map[string]bool),
		regs:     make(map[string]*registration),
		view:     pluginhost.NewViewFeed(1024),
	}
	s.bus.OnDrop = s.metrics.DroppedEvents.Inc
	s.hd = newHotDesk(s.metrics.Registry)
	if err := s.loadIdentity(); err != nil {
		return nil, err
	}
	if err := s.openStores(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.newPluginHost(o); err != nil {
		s.Close()
		return nil, err
	}
	s.metrics.AddPlugins(s.plugins.Metrics)
	fed, err := federation.New(federation.Config{
		Site:          cfg.Site,
		Listen:        cfg.Federation.Listen,
		Heartbeat:     cfg.Federation.Heartbeat.Duration(),
		FailoverAfter: cfg.Federation.FailoverAfter.Duration(),
		ServerTLS:     s.serverTLS,
		ClientTLS:     s.clientTLS,
		CAPool:        s.caPool,
		Hello:         s.hello,
		Plugins:       s.pluginHealth,
		Source:        s.dir,
		Sink:          s.backups,
		Observer:      (*observer)(s),
		Redact:        directory.Redact,
		Logger:        logger,
		SiteOf:        pki.SiteFromCert,
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.fed = fed
	for site := range s.unlinked {
		fed.RemovePeer(site)
	}
	for _, p := range cfg.Federation.Peers {
		if !s.unlinked[p.Site] {
			s.addPeer(p.Site, p.Addr)
		}
	}
	for site, addr := range s.dynamic {
		s.addPeer(site, addr)
	}
	// Backup partners have a machine even before they link (a durable
	// backup may fail over a home that never comes back), unless unlinked.
	partners := slices.Clone(cfg.BacksUp)
	if b := cfg.BackedUpBy(); b != "" {
		partners = append(partners, b)
	}
	for _, p := range partners {
		if !s.unlinked[p] {
			s.ensureMachine(p)
		}
	}
	network, addr := cfg.AdminNetwork()
	acfg := admin.Config{Network: network, Addr: addr, Logger: logger.With("component", "admin")}
	if network == "tcp" {
		acfg.TLS = s.serverTLS
		acfg.OperatorOf = pki.OperatorFromCert
	}
	s.admin, err = admin.New(acfg, &adminService{s: s})
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// loadIdentity reads the CA and this site's certificate and checks that the
// certificate is for this site, chains to the CA and is in date.
func (s *Site) loadIdentity() error {
	c := s.cfg
	file := filepath.Base(c.Path)
	pool, ca, err := pki.LoadCA(c.TLS.CA)
	if err != nil {
		return fmt.Errorf("%s: tls.ca: %w", file, err)
	}
	s.caPool, s.caCert = pool, ca
	pair, err := tls.LoadX509KeyPair(c.TLS.Cert, c.TLS.Key)
	if err != nil {
		return fmt.Errorf("%s: tls.cert: %w", file, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("%s: tls.cert: %w", file, err)
	}
	name, err := pki.SiteFromCert(leaf)
	if err != nil {
		return fmt.Errorf("%s: tls.cert: %w", file, err)
	}
	if name != c.Site {
		return fmt.Errorf("%s: site: %q, but the certificate %s is for site %q", file, c.Site, filepath.Base(c.TLS.Cert), name)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("%s: tls.cert: %s does not verify against %s: %w", file, filepath.Base(c.TLS.Cert), filepath.Base(c.TLS.CA), err)
	}
	if s.serverTLS, err = pki.ServerConfig(c.TLS.CA, c.TLS.Cert, c.TLS.Key); err != nil {
		return fmt.Errorf("%s: tls: %w", file, err)
	}
	if s.clientTLS, err = pki.ClientConfig(c.TLS.CA, c.TLS.Cert, c.TLS.Key); err != nil {
		return fmt.Errorf("%s: tls: %w", file, err)
	}
	return nil
}

// openStores opens the directory (seeding it on first start), the backup
// store and the admission table.
func (s *Site) openStores(ctx context.Context) error {
	c := s.cfg
	file := filepath.Base(c.Path)
	if err := os.MkdirAll(c.Store.Path, 0o700); err != nil {
		return fmt.Errorf("%s: store.path: %w", file, err)
	}
	dir, err := directory.Open(filepath.Join(c.Store.Path, "directory.db"), c.Site)
	if err != nil {
		return fmt.Errorf("%s: store.path: %w", file, err)
	}
	s.dir = dir
	if c.Directory != "" {
		seeded, err := dir.Seed(ctx, c.Directory, c.SIPDomain)
		if err != nil {
			return fmt.Errorf("%s: directory: %w", file, err)
		}
		if seeded {
			s.log.Info("directory seeded", "file", c.Directory, "revision", dir.Revision())
		}
	}
	if c.Store.DurableBackups {
		d, err := backupstore.OpenDurable(filepath.Join(c.Store.Path, "backups.db"))
		if err != nil {
			return fmt.Errorf("%s: store.durable_backups: %w", file, err)
		}
		s.backups = d
	} else {
		s.backups = backupstore.NewMemory()
	}
	if err := s.loadPeers(); err != nil {
		return fmt.Errorf("%s: store.path: %w", file, err)
	}

	s.table = admission.NewTable(c.Site)
	s.table.SetLicenses(c.Licenses)
	phones, err := dir.List(directory.KindPhone)
	if err != nil {
		return err
	}
	if err := s.loadHotDesk(); err != nil {
		return err
	}
	for _, r := range phones {
		s.putPhone(s.ownPhoneEntry(r))
	}
	for _, home := range s.backups.Homes() {
		s.resetHome(home)
	}
	s.backups.Watch(s.backupChanged)
	// Seeding and loading a large directory leave hundreds of megabytes of
	// garbage that the runtime would hand back to the system only slowly:
	// return it now, once.
	debug.FreeOSMemory()
	return nil
}

// Serve runs the site until ctx ends; it returns the first error of a
// component that failed.
func (s *Site) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	fedLis, err := net.Listen("tcp", s.cfg.Federation.Listen)
	if err != nil {
		return fmt.Errorf("%s: federation.listen: %w", filepath.Base(s.cfg.Path), err)
	}
	adminLis, err := s.admin.Listen()
	if err != nil {
		_ = fedLis.Close()
		return fmt.Errorf("%s: admin: %w", filepath.Base(s.cfg.Path), err)
	}
	var metricsLis net.Listener
	if s.cfg.Metrics != "" {
		if metricsLis, err = net.Listen("tcp", s.cfg.Metrics); err != nil {
			_ = fedLis.Close()
			_ = adminLis.Close()
			return fmt.Errorf("%s: metrics: %w", filepath.Base(s.cfg.Path), err)
		}
	}

	var wg sync.WaitGroup
	errc := make(chan error, 8)
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	run(func() error { return s.fed.ServeListener(ctx, fedLis) })
	run(func() error { return s.admin.Serve(ctx, adminLis) })
	if metricsLis != nil {
		run(func() error { return s.metrics.Serve(ctx, metricsLis) })
	}
	run(func() error { s.tickLoop(ctx); return nil })
	run(func() error { s.watchHotDesk(ctx); return nil })
	evs, unsubscribe := s.bus.Subscribe()
	run(func() error { s.forwardEvents(evs); return nil })
	run(func() error { defer unsubscribe(); return s.plugins.Serve(ctx) })
	s.log.Info("site serving", "federation", fedLis.Addr().String(), "admin", s.cfg.Admin,
		"metrics", s.cfg.Metrics, "backups", s.backups.Mode(), "revision", s.dir.Revision())
	wg.Wait()
	close(errc)
	return <-errc
}

// Close releases the stores.
func (s *Site) Close() {
	if s.backups != nil {
		_ = s.backups.Close()
	}
	if s.dir != nil {
		_ = s.dir.Close()
	}
}

// hello is this site's hello template.
func (s *Site) hello() *federationv1.Hello {
	h := &federationv1.Hello{
		SipDomain:      s.cfg.SIPDomain,
		Ipv6:           s.cfg.IPv6,
		CaFingerprint:  pki.Fingerprint(s.caCert),
		BacksUp:        slices.Clone(s.cfg.BacksUp),
		FederationAddr: s.advertisedAddr(),
		Protocols:      s.protocols(),
		Endpoints:      s.cfg.ProtocolEndpoints(),
	}
	if b := s.cfg.Backup; b != nil {
		h.BackupSite = b.Site
		h.FailbackMode = b.Failback
		h.FailbackDelayMs = uint64(b.FailbackDelay.Duration() / time.Millisecond)
	}
	if users, err := s.dir.List(directory.KindUser); err == nil {
		for _, u := range users {
			h.Extensions = append(h.Extensions, u.GetUser().GetExtension())
		}
	}
	if hgs, err := s.dir.List(directory.KindHuntGroup); err == nil {
		for _, g := range hgs {
			h.Extensions = append(h.Extensions, g.GetHuntGroup().GetExtension())
		}
	}
	return h
}

// advertisedAddr is the federation address peers can dial.
func (s *Site) advertisedAddr() string {
	if a := s.fed; a != nil {
		if addr := a.Addr(); addr != nil {
			return addr.String()
		}
	}
	return s.cfg.Federation.Listen
}

// protocols lists the protocol plugins configured at this site.
func (s *Site) protocols() []string {
	var out []string
	for _, p := range []string{"sip", "h323"} {
		if _, ok := s.cfg.Plugins[p]; ok {
			out = append(out, p)
		}
	}
	return out
}

// pluginHealth is reported in heartbeats: the health of each protocol
// plugin (DESIGN §1.2).
func (s *Site) pluginHealth() map[string]federationv1.PluginHealth {
	return s.plugins.ProtocolHealth()
}

// peersFile is what store.path/peers.json keeps: peers learned at run time
// (`rally link`, or an address announced in a hello) and peers the operator
// unlinked, which stay refused across restarts until linked again. It
// holds names and addresses only.
type peersFile struct {
	Learned  map[string]string `json:"learned"`
	Unlinked []string          `json:"unlinked"`
}

func (s *Site) peersPath() string {
	return filepath.Join(s.cfg.Store.Path, "peers.json")
}

func (s *Site) loadPeers() error {
	data, err := os.ReadFile(s.peersPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var pf peersFile
	if err := json.Unmarshal(data, &pf); err != nil {
		return fmt.Errorf("%s: %w", s.peersPath(), err)
	}
	for site, addr := range pf.Learned {
		s.dynamic[site] = addr
	}
	for _, site := range pf.Unlinked {
		s.unlinked[site] = true
	}
	return nil
}

// savePeersLocked writes peers.json atomically; s.mu is held.
func (s *Site) savePeersLocked() {
	pf := peersFile{Learned: s.dynamic, Unlinked: make([]string, 0, len(s.unlinked))}
	for site := range s.unlinked {
		pf.Unlinked = append(pf.Unlinked, site)
	}
	slices.Sort(pf.Unlinked)
	data, err := json.MarshalIndent(pf, "", "  ")
	if err == nil {
		tmp := s.peersPath() + ".tmp"
		if err = os.WriteFile(tmp, data, 0o600); err == nil {
			err = os.Rename(tmp, s.peersPath())
		}
	}
	if err != nil {
		s.log.Warn("saving peers", "file", s.peersPath(), "error", err)
	}
}

// addPeer makes site a known peer with a resilience machine.
func (s *Site) addPeer(site, addr string) {
	s.ensureMachine(site)
	s.fed.AddPeer(site, addr)
}

func (s *Site) ensureMachine(site string) *resilience.Machine {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.machines[site]
	if !ok {
		m = resilience.New(site, resilience.Config{
			BacksUp:       s.cfg.BacksUpSite(site),
			Heartbeat:     s.cfg.Federation.Heartbeat.Duration(),
			FailoverAfter: s.cfg.Federation.FailoverAfter.Duration(),
			FailbackDelay: config.DefaultFailbackDelay,
			Failback:      config.FailbackAutomatic,
		}, time.Now())
		s.machines[site] = m
		s.metrics.SetPeerState(site, m.State())
	}
	return m
}

func (s *Site) machine(site string) *resilience.Machine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.machines[site]
}

func (s *Site) publish(evs []resilience.Event) {
	for _, e := range evs {
		s.log.Info("state change", "kind", e.Kind, "peer", e.Peer, "from", e.From, "to", e.To, "message", e.Message)
		if e.Kind == resilience.KindPeerState {
			s.metrics.SetPeerState(e.Peer, e.To)
			s.metrics.Transitions.WithLabelValues(e.Peer, e.To).Inc()
		}
		s.bus.Publish(events.Event{Time: e.Time, Kind: e.Kind, Peer: e.Peer, From: e.From, To: e.To, Message: e.Message})
	}
}

// phoneEntry turns a phone record into an admission table entry.
func phoneEntry(r *federationv1.Record) admission.PhoneEntry {
	p := r.GetPhone()
	return admission.PhoneEntry{
		ID: p.GetId(), User: p.GetUser(), Home: r.GetHomeSite(),
		Kind: p.GetKind(), Protocol: p.GetProtocol(),
	}
}
