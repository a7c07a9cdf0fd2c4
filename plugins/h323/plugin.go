package h323plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
)

// Name is the plugin's name, its key under plugins: in the site config.
const Name = "h323"

// Transport is the transport of the registrations the plugin reports.
const Transport = "ras"

// udpReadBuffer is the receive buffer asked for on the RAS socket, for
// registration storms.
const udpReadBuffer = 4 << 20

// readers is how many goroutines read the RAS socket: a handler may wait
// for the host (a user record on a cache miss) without stalling the rest.
const readers = 8

// Plugin is the H.323 gatekeeper plugin. New returns one; the host
// configures it.
type Plugin struct {
	log *slog.Logger

	mu      sync.Mutex
	running *instance
}

var _ sdk.Plugin = (*Plugin)(nil)

// New returns an unconfigured gatekeeper.
func New(logger *slog.Logger) *Plugin {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Plugin{log: logger}
}

// Info names the plugin.
func (p *Plugin) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: Name, Protocol: "h323", Version: "0.1.0", APIVersions: []uint32{sdk.APIVersion}}, nil
}

// Configure (re)starts the gatekeeper with cfg.
func (p *Plugin) Configure(_ context.Context, cfg sdk.Config, host sdk.Host) ([]string, error) {
	conf, addr, err := parseConfig(cfg.ConfigJSON)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running != nil {
		p.running.stop()
		p.running = nil
	}
	in, err := start(p.log, cfg, conf, addr, host)
	if err != nil {
		return nil, err
	}
	p.running = in
	return []string{"h323:udp://" + in.addr.String()}, nil
}

// HandleEvent reacts to site events: a peer's state change or a failback
// may send guests home, so the failback sweep runs at once.
func (p *Plugin) HandleEvent(_ context.Context, e sdk.Event) error {
	p.mu.Lock()
	in := p.running
	p.mu.Unlock()
	if in != nil && e.Kind != sdk.EventRegistration {
		in.kickSweep()
	}
	return nil
}

// Health is serving once configured with the RAS socket up.
func (p *Plugin) Health(context.Context) (sdk.Health, error) {
	p.mu.Lock()
	in := p.running
	p.mu.Unlock()
	if in == nil {
		return sdk.Health{Serving: false, Message: "not configured"}, nil
	}
	var failed error
	if err := in.failed.Load(); err != nil {
		failed = *err
	}
	// Until the view is loaded RRQs are not answered: starting, not failed.
	return sdk.ProtocolHealth(in.view, failed), nil
}

// Close stops the running instance.
func (p *Plugin) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running != nil {
		p.running.stop()
		p.running = nil
	}
}

// Stats returns the counters of the running instance (zero if none).
func (p *Plugin) Stats() Stats {
	p.mu.Lock()
	in := p.running
	p.mu.Unlock()
	if in == nil {
		return Stats{}
	}
	return in.stats()
}

// instance is one configured gatekeeper.
type instance struct {
	log     *slog.Logger
	site    string
	gkID    string
	conf    Config
	addr    netip.AddrPort
	host    sdk.Host
	view    *sdk.View
	conn    *net.UDPConn
	regs    *registry
	users   *userCache
	reports *reporter
	c       counters

	seq     atomic.Uint32
	pmu     sync.Mutex
	urqs    map[uint16]urqWait  // URQ in flight: seq → phone and where it went
	lrqs    map[uint16]lrqWait  // LRQ in flight: seq → peer asked and the ARQ waiting
	arqs    map[arqKey]struct{} // ARQs waiting for an LCF (retransmissions dropped)
	lookups chan struct{}       // semaphore of the ARQs waiting for LCFs
	kick    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	failed  atomic.Pointer[error]
	stopped atomic.Bool
}

func start(log *slog.Logger, cfg sdk.Config, conf Config, addr netip.AddrPort, host sdk.Host) (*instance, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		// Not an invalid config: the port may be freed, the address come
		// up; the host starts the plugin again with backoff.
		return nil, fmt.Errorf("plugins.h323.listen: %s: %w", addr, err)
	}
	_ = conn.SetReadBuffer(udpReadBuffer)
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{
		log: log, site: cfg.Site, gkID: cfg.Site, conf: conf, host: host,
		addr:    conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		view:    sdk.NewView(cfg.Site),
		conn:    conn,
		regs:    newRegistry(),
		users:   newUserCache(host),
		reports: newReporter(host, log),
		urqs:    make(map[uint16]urqWait),
		lrqs:    make(map[uint16]lrqWait),
		arqs:    make(map[arqKey]struct{}),
		lookups: make(chan struct{}, maxLookups),
		kick:    make(chan struct{}, 1),
		ctx:     ctx,
		cancel:  cancel,
	}
	in.seq.Store(rand.Uint32()) // sequence numbers not guessable from the start
	in.view.SetLogger(log)
	for range readers {
		in.wg.Add(1)
		go func() { defer in.wg.Done(); in.serve(ctx) }()
	}
	in.wg.Add(3)
	go func() {
		defer in.wg.Done()
		if err := in.view.Run(ctx, host); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("admission view ended", "error", err)
		}
	}()
	go func() { defer in.wg.Done(); in.reports.run(ctx) }()
	go func() { defer in.wg.Done(); in.sweepLoop(ctx) }()
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		select {
		case <-in.view.Ready():
		case <-ctx.Done():
			return
		}
		n, err := in.restore(ctx, time.Now())
		if err != nil {
			log.Warn("registrations not restored", "error", err)
			return
		}
		if n > 0 {
			log.Info("registrations restored after a restart", "endpoints", n)
		}
	}()
	log.Info("h323 gatekeeper serving", "ras", in.addr.String(), "gatekeeper_id", in.gkID)
	return in, nil
}

func (in *instance) stop() {
	in.stopped.Store(true)
	in.cancel()
	_ = in.conn.Close()
	in.wg.Wait()
}

// serve reads datagrams until the socket closes.
func (in *instance) serve(ctx context.Context) {
	buf := make([]byte, 65536)
	for {
		n, src, err := in.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || in.stopped.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			e := fmt.Errorf("h323: ras socket: %w", err)
			in.failed.Store(&e)
			in.log.Error("ras socket failed", "error", err)
			return
		}
		in.handle(buf[:n], netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), time.Now())
	}
}

// kickSweep runs the failback sweep soon.
func (in *instance) kickSweep() {
	select {
	case in.kick <- struct{}{}:
	default:
	}
}

// nextSeqLocked is the requestSeqNum of a request the gatekeeper sends:
// never one of a URQ or LRQ still in flight. pmu is held.
func (in *instance) nextSeqLocked() uint16 {
	for {
		s := uint16(in.seq.Add(1)%65535) + 1
		_, urq := in.urqs[s]
		_, lrq := in.lrqs[s]
		if !urq && !lrq {
			return s
		}
	}
}
