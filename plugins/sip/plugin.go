package sipplugin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"

	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
	"github.com/rallyvoip/rally/plugins/sip/digest"
	"github.com/rallyvoip/rally/plugins/sip/registrar"
)

// Name is the plugin's name, its key under plugins: in the site config.
const Name = "sip"

// udpReadBuffer is the receive buffer asked for on UDP sockets: the
// default drops datagrams at registration-storm rates.
const udpReadBuffer = 4 << 20

// Plugin is the SIP plugin. New returns one; the host configures it.
type Plugin struct {
	log *slog.Logger

	mu      sync.Mutex
	running *instance // the configured instance, replaced on Configure
}

var _ sdk.Plugin = (*Plugin)(nil)

// New returns an unconfigured SIP plugin.
func New(logger *slog.Logger) *Plugin {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Plugin{log: logger}
}

// Info names the plugin.
func (p *Plugin) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: Name, Protocol: "sip", Version: "0.1.0", APIVersions: []uint32{sdk.APIVersion},
		// Not an event per registration: the plugin made them.
		Events: []sdk.EventKind{sdk.EventPeerState}}, nil
}

// Configure (re)starts the registrar with cfg.
func (p *Plugin) Configure(ctx context.Context, cfg sdk.Config, host sdk.Host) ([]string, error) {
	conf, eps, err := parseConfig(cfg.ConfigJSON)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running != nil {
		p.running.stop()
		p.running = nil
	}
	in, err := start(p.log, cfg, conf, eps, host)
	if err != nil {
		return nil, err
	}
	p.running = in
	out := make([]string, len(in.endpoints))
	for i, e := range in.endpoints {
		out[i] = e.String()
	}
	return out, nil
}

// HandleEvent reacts to site events. Admission follows the view; a peer
// entering failover has the credentials of its phones loaded in bulk
// before the storm of them knocks.
func (p *Plugin) HandleEvent(_ context.Context, e sdk.Event) error {
	if e.Kind != sdk.EventPeerState || e.To != admission.StateFailover {
		return nil
	}
	p.mu.Lock()
	in := p.running
	p.mu.Unlock()
	if in != nil {
		select {
		case in.failover <- e.Peer:
		default: // a load is pending already; the periodic one follows
		}
	}
	return nil
}

// Health is serving once configured, with its listeners up and its
// admission view loaded.
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

// instance is one configured registrar with its listeners.
type instance struct {
	log       *slog.Logger
	site      string
	domain    string
	conf      Config
	endpoints []Endpoint
	host      sdk.Host
	view      *sdk.View
	verifier  *digest.Verifier
	// routeKey signs the Record-Routes of the proxy (routeMAC), derived
	// from the nonce secret.
	routeKey []byte
	reg      *registrar.Registrar
	creds    *credentials
	reports  *reporter
	// failover names homes that just failed over (HandleEvent → loadLoop)
	failover chan string
	counters counters
	ua       *sipgo.UserAgent
	srv      *sipgo.Server
	udp      []*udpServer   // the lean UDP path (udp.go); TCP is sipgo's
	proxy    *proxy         // proxy.go
	tcp      []net.Listener // closed by stop: sipgo's Close leaves them open
	tls      []net.Listener // likewise
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	failed   atomic.Pointer[error]
}

func start(log *slog.Logger, cfg sdk.Config, conf Config, eps []Endpoint, host sdk.Host) (*instance, error) {
	secret, err := nonceSecret(cfg)
	if err != nil {
		return nil, err
	}
	reg := registrar.New(registrar.Config{
		MinExpires: time.Duration(conf.MinExpires), MaxExpires: time.Duration(conf.MaxExpires),
		DefaultExpires: time.Duration(conf.DefaultExpires), GuestExpires: time.Duration(conf.GuestExpires),
	})
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{
		log: log, site: cfg.Site, domain: cfg.SIPDomain, conf: conf, host: host,
		view: sdk.NewView(cfg.Site),
		verifier: digest.NewVerifier(cfg.SIPDomain, secret, time.Duration(conf.NonceLifetime),
			digest.WithAlgorithms(conf.Algorithms...)),
		routeKey: routeKey(secret),
		reg:      reg,
		creds:    newCredentials(host),
		reports:  newReporter(host, log),
		failover: make(chan string, 4),
		cancel:   cancel,
	}
	in.view.SetLogger(log)
	in.view.SetOnPhone(in.creds.forgetPhone)
	in.proxy = newProxy(in)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("rally"), sipgo.WithUserAgentHostname(cfg.SIPDomain), in.proxy.uaOption(),
		sipgo.WithUserAgenTLSConfig(dialTLSConfig(cfg)))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("sip: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("sip: %w", err)
	}
	in.ua, in.srv = ua, srv
	srv.OnRegister(in.onRegister)
	srv.OnOptions(in.onOptions)
	in.proxy.serveTCP(srv) // proxy_tcp.go: INVITE and the rest of a call on TCP

	// Listen first, so that a port in use fails Configure, not later.
	var serve []func() error
	for _, ep := range eps {
		switch ep.Transport {
		case "udp":
			pc, err := net.ListenPacket("udp", ep.Addr)
			if err != nil {
				in.stop()
				return nil, listenError(ep, err)
			}
			uc := pc.(*net.UDPConn) // what ListenPacket("udp") returns
			_ = uc.SetReadBuffer(udpReadBuffer)
			us := newUDPServer(in, uc)
			in.udp = append(in.udp, us)
			in.endpoints = append(in.endpoints, Endpoint{Transport: "udp", Addr: pc.LocalAddr().String()})
			serve = append(serve, us.serve)
		case "tcp":
			l, err := net.Listen("tcp", ep.Addr)
			if err != nil {
				in.stop()
				return nil, listenError(ep, err)
			}
			in.tcp = append(in.tcp, l)
			in.endpoints = append(in.endpoints, Endpoint{Transport: "tcp", Addr: l.Addr().String()})
			serve = append(serve, func() error { return srv.ServeTCP(l) })
		case "tls":
			l, err := listenTLS(cfg, ep)
			if err != nil {
				in.stop()
				return nil, err
			}
			in.tls = append(in.tls, l)
			in.endpoints = append(in.endpoints, Endpoint{Transport: "tls", Addr: l.Addr().String()})
			serve = append(serve, func() error { return srv.ServeTLS(l) })
		}
	}
	for _, f := range serve {
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				err = fmt.Errorf("sip: listener: %w", err)
				in.failed.Store(&err)
				log.Error("listener failed", "error", err)
			}
		}()
	}
	in.wg.Add(3)
	go func() {
		defer in.wg.Done()
		if err := in.view.Run(ctx, host); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("admission view ended", "error", err)
		}
	}()
	go func() { defer in.wg.Done(); in.reports.run(ctx) }()
	in.wg.Add(1)
	go func() { defer in.wg.Done(); in.proxy.calls.run(ctx) }()
	go func() { defer in.wg.Done(); in.expireLoop(ctx) }()
	in.wg.Add(1)
	go func() { defer in.wg.Done(); in.loadLoop(ctx, in.failover) }()
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		select { // the licence view needs the phones first
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
			log.Info("registrations restored after a restart", "bindings", n)
		}
	}()
	log.Info("sip registrar serving", "endpoints", fmt.Sprint(in.endpoints), "realm", cfg.SIPDomain)
	return in, nil
}

// nonceSecret derives the nonce key from the site's private key, so that
// nonces stay valid across a restart of the plugin (a phone mid-refresh is
// not bounced), and is random when the site gave no key.
func nonceSecret(cfg sdk.Config) ([]byte, error) {
	if len(cfg.TLSKeyPEM) == 0 {
		secret := make([]byte, 32)
		_, err := rand.Read(secret)
		return secret, err
	}
	m := hmac.New(sha256.New, cfg.TLSKeyPEM)
	m.Write([]byte("rally sip digest nonces v1"))
	return m.Sum(nil), nil
}

// routeKey derives the key of the proxy's Record-Route MACs from the
// nonce secret: a key of its own, so that neither MAC helps forge the
// other.
func routeKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("rally sip record-route v1"))
	return m.Sum(nil)
}

func (in *instance) stop() {
	in.cancel()
	for _, us := range in.udp {
		_ = us.close()
	}
	for _, l := range slices.Concat(in.tcp, in.tls) {
		_ = l.Close()
	}
	if in.srv != nil {
		_ = in.srv.Close()
	}
	if in.ua != nil {
		_ = in.ua.Close()
	}
	in.wg.Wait()
	if in.proxy != nil {
		in.proxy.close()
	}
}

// expireLoop removes lapsed bindings every second and reports phones that
// have none left.
func (in *instance) expireLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, b := range in.reg.Expire(now) {
				in.gone(b.PhoneID)
			}
		}
	}
}

// gone reports a phone that has no binding left.
func (in *instance) gone(phoneID string) {
	if phoneID == "" || in.reg.PhoneCount(phoneID) > 0 {
		return
	}
	in.view.Table().Unregistered(phoneID)
	in.proxy.calls.phoneGone(phoneID)
	in.reports.send(sdk.Registration{PhoneID: phoneID, Outcome: sdk.RegGone})
}
