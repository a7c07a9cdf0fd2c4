package sipplugin

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/rallyvoip/rally/plugins/sdk/admission"
	"github.com/rallyvoip/rally/plugins/sip/digest"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// The proxy: a stateful RFC 3261 §16 proxy that record-routes, between the
// phones registered here (home or guest) and towards the SIP endpoint of
// the peer site where a user is registered. See the package doc.

// RFC 3261 timers, for UDP.
const (
	timerT1 = 500 * time.Millisecond
	timerT2 = 4 * time.Second
	// timer64T1 is Timers B, F, H and J: how long a transaction waits for
	// an answer, and how long an ended one is kept to absorb
	// retransmissions.
	timer64T1 = 64 * timerT1
	// ringTimeout is Timer C: an INVITE that rings longer is cancelled.
	ringTimeout = 3 * time.Minute
	// proxyMaxForks bounds the contacts an INVITE is forked to.
	proxyMaxForks = 8
	// proxySlowMax bounds the requests waiting for the host (credentials
	// not cached) at once; beyond it they are answered 503.
	proxySlowMax = 256
	// proxyMaxTransactions bounds the server transactions held (each is
	// kept 64·T1 after its answer, a few kilobytes with its request): a
	// flood of INVITEs beyond it is answered 503 statelessly rather than
	// take the plugin's memory. 100,000 is 3,000 requests/s for 32 s.
	proxyMaxTransactions = 100_000
	// branchPrefix starts the branch of every request this proxy sends
	// (after RFC 3261's magic cookie), to tell its own Via apart.
	branchPrefix = "z9hG4bK-rly"
)

// proxyCounters count what the proxy did; malformed messages are dropped
// (or answered 400) and counted, never a panic.
type proxyCounters struct {
	// proxied: requests forwarded (one per branch), toPeer of them to a
	// peer site's endpoint; relayed: responses relayed upstream.
	proxied, toPeer, relayed atomic.Uint64
	// notFound (404), unavailable (480), challenged (407), authFailed
	// (403), tooManyHops (483), timeouts (408 of a branch that never
	// answered), cancelled (CANCELs matched), noTransaction (481).
	notFound, unavailable, challenged, authFailed, tooManyHops, timeouts, cancelled, noTransaction atomic.Uint64
	// absorbed: retransmitted requests answered from their transaction;
	// stray: responses matching no transaction, and in-dialog requests
	// not routed through this proxy, dropped; overload: requests answered
	// 503 because too many waited for the host or too many transactions
	// are held. Malformed messages count in the plugin's counters
	// (malformed).
	absorbed, stray, overload atomic.Uint64
}

// upstream is where the responses of a server transaction go.
type upstream interface {
	// send sends res and returns its bytes, kept for retransmissions.
	send(res *sip.Response) []byte
	// resend sends bytes again (UDP); a reliable transport does nothing.
	resend(b []byte)
	reliable() bool
}

type udpUpstream struct {
	s   *udpServer
	dst netip.AddrPort
}

func (u udpUpstream) send(res *sip.Response) []byte {
	b := []byte(res.String())
	u.s.send(b, u.dst)
	return b
}
func (u udpUpstream) resend(b []byte) { u.s.send(b, u.dst) }
func (u udpUpstream) reliable() bool  { return false }

// downstream is where the requests of a client transaction go: a UDP
// address from the proxy's socket, or a TCP connection (proxy_tcp.go).
type downstream interface {
	send(msg sip.Message, raw []byte)
	reliable() bool
	// via is this proxy's Via for a request sent this way, self its URI
	// (for Record-Route).
	via(branch string) *sip.ViaHeader
	self() sip.Uri
}

type udpDown struct {
	s   *udpServer
	dst netip.AddrPort
}

func (d udpDown) send(_ sip.Message, raw []byte)   { d.s.send(raw, d.dst) }
func (d udpDown) reliable() bool                   { return false }
func (d udpDown) via(branch string) *sip.ViaHeader { return d.s.via(branch) }
func (d udpDown) self() sip.Uri                    { return d.s.selfURI() }

// proxy holds the transactions of the proxy. One mutex guards them all:
// each step is short (no I/O but a UDP send), and the REGISTER path never
// takes it.
type proxy struct {
	in     *instance
	log    *slog.Logger
	parser *sip.Parser
	calls  *calls
	c      proxyCounters

	mu      sync.Mutex
	closed  bool
	servers map[string]*serverTx // by serverKey
	clients map[string]*clientTx // by branch + "|" + method
	// answered2xx holds the keys of INVITE branches answered 2xx whose
	// transaction ended, for 64·T1: the callee's retransmitted 2xx is
	// relayed statelessly for them only (forgetClient).
	answered2xx map[string]struct{}
	// maxServers is proxyMaxTransactions (lowered by tests).
	maxServers int
	// ring is Timer C, ringTimeout (lowered by tests).
	ring time.Duration

	slow chan struct{}
	wg   sync.WaitGroup

	tcpContacts tcpContacts // proxy_tcp.go
	natContacts natContacts
}

// serverTx is a request received: its responses, retransmissions and the
// branches it was forwarded to (the response context of RFC 3261 §16).
type serverTx struct {
	key       string
	req       *sip.Request // as received, with its top Via marked
	method    sip.RequestMethod
	invite    bool
	initial   bool // out of dialog (no To tag)
	up        upstream
	caller    string     // the authenticated phone, "" for a trusted peer or in-dialog
	authed    bool       // caller checked (route may run twice: handOff)
	routed    bool       // came with this proxy's Route (popped)
	forged    bool       // one of those Routes without this proxy's MAC (routeMAC)
	hopTp     string     // the transport of the last Route popped: the next hop's (RFC 5658)
	out       *udpServer // the UDP socket it came on (or the proxy's first)
	inSelf    sip.Uri    // this proxy as the caller's side sees it (Record-Route)
	last      []byte     // the last response sent, for retransmitted requests
	final     int
	acked     bool
	cancelled bool
	branches  []*clientTx
	best      *sip.Response
	retrans   *time.Timer // Timer G of a non-2xx final to INVITE
	interval  time.Duration
	cleanup   *time.Timer
}

// clientTx is one request this proxy sent: a branch of a serverTx, or a
// CANCEL of one.
type clientTx struct {
	key      string
	st       *serverTx // nil for a CANCEL
	req      *sip.Request
	raw      []byte
	down     downstream
	invite   bool
	phoneID  string // the phone of this site it reaches, if any
	got1xx   bool
	final    int
	cancel   bool         // a CANCEL is due once it rings (RFC 3261 §9.1)
	ack      *sip.Request // the ACK of a non-2xx final, sent again for its retransmissions
	ackRaw   []byte
	interval time.Duration
	retrans  *time.Timer
	timeout  *time.Timer
	cleanup  *time.Timer
}

func newProxy(in *instance) *proxy {
	p := sip.NewParser()
	p.MaxMessageLength = udpMaxMessage
	return &proxy{
		in: in, log: in.log, parser: p, calls: newCalls(in.host, in.log),
		servers: make(map[string]*serverTx), clients: make(map[string]*clientTx), answered2xx: make(map[string]struct{}),
		maxServers: proxyMaxTransactions, ring: ringTimeout, slow: make(chan struct{}, proxySlowMax),
	}
}

// close stops every timer and waits for the requests waiting for the host.
func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	for _, st := range p.servers {
		stopTimer(st.retrans)
		stopTimer(st.cleanup)
	}
	for _, ct := range p.clients {
		stopTimer(ct.retrans)
		stopTimer(ct.timeout)
		stopTimer(ct.cleanup)
	}
	clear(p.servers)
	clear(p.clients)
	p.mu.Unlock()
	p.wg.Wait()
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// transactions returns the server and client transactions held.
func (p *proxy) transactions() (servers, clients int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.servers), len(p.clients)
}

// ---- entry points of the UDP path ----------------------------------------

// udpRequest handles a datagram holding a request other than REGISTER.
func (p *proxy) udpRequest(s *udpServer, data []byte, src netip.AddrPort, now time.Time) {
	msg, err := p.parser.ParseSIP(data)
	if err != nil {
		p.in.counters.malformed.Add(1)
		return
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		if res, ok := msg.(*sip.Response); ok && res.Via() != nil && res.CSeq() != nil {
			p.response(s, res, now)
			return
		}
		p.in.counters.malformed.Add(1)
		return
	}
	via := req.Via()
	if via == nil || via.Host == "" {
		p.in.counters.malformed.Add(1)
		return
	}
	markVia(via, src)
	req.SetSource(src.String())
	req.SetTransport("UDP")
	p.request(req, udpUpstream{s: s, dst: viaDestination(via, src)}, s, src, now)
}

// udpResponse handles a datagram holding a response.
func (p *proxy) udpResponse(s *udpServer, data []byte, now time.Time) {
	msg, err := p.parser.ParseSIP(data)
	if err != nil {
		p.in.counters.malformed.Add(1)
		return
	}
	res, ok := msg.(*sip.Response)
	if !ok || res.Via() == nil || res.CSeq() == nil {
		p.in.counters.malformed.Add(1)
		return
	}
	p.response(s, res, now)
}

// markVia marks the top Via of a request received from src as RFC 3261
// §18.2.1 and RFC 3581 §4 ask.
func markVia(via *sip.ViaHeader, src netip.AddrPort) {
	ip := src.Addr().Unmap()
	_, rport := via.Params.Get("rport")
	if rport {
		via.Params.Add("rport", strconv.Itoa(int(src.Port())))
	}
	if rport || !sameHost(via.Host, ip) {
		via.Params.Add("received", ip.String())
	}
}

// viaDestination is where the responses to a request with top Via via,
// received from src over UDP, go (RFC 3261 §18.2.2, RFC 3581 §4).
func viaDestination(via *sip.ViaHeader, src netip.AddrPort) netip.AddrPort {
	if via.Params.Has("rport") {
		return src
	}
	port := via.Port
	if port <= 0 || port > 65535 {
		port = 5060
	}
	return netip.AddrPortFrom(src.Addr(), uint16(port))
}

// ---- requests ---------------------------------------------------------------

// serverKey is the transaction key of req (RFC 3261 §17.2.3) for method:
// an ACK and a CANCEL look up their INVITE's.
func serverKey(req *sip.Request, method sip.RequestMethod) string {
	via := req.Via()
	branch, _ := via.Params.Get("branch")
	var b strings.Builder
	b.WriteString(string(method))
	b.WriteByte('|')
	b.WriteString(branch)
	b.WriteByte('|')
	b.WriteString(via.Host)
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(via.Port))
	b.WriteByte('|')
	if h := req.CallID(); h != nil {
		b.WriteString(string(*h))
	}
	b.WriteByte('|')
	if h := req.CSeq(); h != nil {
		b.WriteString(strconv.FormatUint(uint64(h.SeqNo), 10))
	}
	if !strings.HasPrefix(branch, "z9hG4bK") { // RFC 2543 clients
		if f := req.From(); f != nil {
			b.WriteString(f.Params.GetOr("tag", ""))
		}
		b.WriteByte('|')
		b.WriteString(req.Recipient.String())
	}
	return b.String()
}

// proxied reports whether the proxy handles req (the registrar answers
// REGISTER, and OPTIONS to no user; other out-of-dialog methods are not
// implemented).
func proxied(req *sip.Request) bool {
	if inDialog(req) {
		return req.Method != sip.REGISTER
	}
	switch req.Method {
	case sip.INVITE, sip.MESSAGE, sip.ACK, sip.CANCEL:
		return true
	case sip.OPTIONS:
		return req.Recipient.User != ""
	}
	return false
}

func inDialog(req *sip.Request) bool {
	to := req.To()
	return to != nil && to.Params.Has("tag")
}

// request handles a request received (other than REGISTER); out is the
// UDP socket requests are forwarded from (nil without a UDP listener:
// then only phones on TCP are reached).
func (p *proxy) request(req *sip.Request, up upstream, out *udpServer, src netip.AddrPort, now time.Time) {
	if req.CallID() == nil || req.CSeq() == nil || req.From() == nil || req.To() == nil {
		p.in.counters.malformed.Add(1)
		if req.Method != sip.ACK && req.CSeq() != nil {
			up.send(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		}
		return
	}
	if !proxied(req) {
		if req.Method == sip.OPTIONS {
			up.send(optionsResponse(req))
			return
		}
		p.in.counters.notImplemented.Add(1)
		res := sip.NewResponseFromRequest(req, 501, "Not Implemented", nil)
		res.AppendHeader(sip.NewHeader("Allow", allowed))
		up.send(res)
		return
	}
	switch req.Method {
	case sip.ACK:
		p.ack(req, out, up.reliable())
		return
	case sip.CANCEL:
		p.cancel(req, up)
		return
	}
	key := serverKey(req, req.Method)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if st := p.servers[key]; st != nil {
		// A retransmission: the last response again — but nothing for an
		// INVITE answered 2xx (RFC 6026: the 2xx is the callee's to
		// retransmit).
		p.c.absorbed.Add(1)
		if st.last != nil && !(st.invite && st.final >= 200 && st.final < 300) {
			st.up.resend(st.last)
		}
		p.mu.Unlock()
		return
	}
	if len(p.servers) >= p.maxServers {
		p.mu.Unlock()
		p.c.overload.Add(1)
		res := sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil)
		res.AppendHeader(sip.NewHeader("Retry-After", "5"))
		up.send(res)
		return
	}
	st := &serverTx{key: key, req: req, method: req.Method, invite: req.Method == sip.INVITE,
		initial: !inDialog(req), up: up, out: out, inSelf: p.inSelf(req, out)}
	p.servers[key] = st
	if st.invite {
		st.last = up.send(sip.NewResponseFromRequest(req, 100, "Trying", nil))
	}
	p.mu.Unlock()
	// A TCP request has a goroutine of its own (sipgo's): it may wait.
	p.route(st, src, now, up.reliable())
}

// route decides where st's request goes, and forwards it or answers it.
// Without mayWait, a request that must wait for the host is handed to a
// goroutine of its own.
func (p *proxy) route(st *serverTx, src netip.AddrPort, now time.Time, mayWait bool) {
	req := st.req
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
		p.c.tooManyHops.Add(1)
		p.answer(st, 483, "Too Many Hops")
		return
	}
	_, fromPeer := p.in.view.Table().PeerAt("sip", src.String())
	if tp, popped, signed := p.popRoutes(req); popped {
		// remembered: route may run twice (handOff)
		st.routed, st.hopTp, st.forged = true, tp, !signed
	}
	if !st.initial {
		if !st.routed {
			// Not record-routed here: this proxy is no hop of that dialog.
			p.c.stray.Add(1)
			p.answer(st, 403, "Forbidden (not routed through this proxy)")
			return
		}
		if st.forged {
			// A Route anyone could write: not a Record-Route of this
			// proxy's for this dialog.
			p.c.authFailed.Add(1)
			p.answer(st, 403, "Forbidden (route not issued by this proxy)")
			return
		}
		tg, ok := nextHop(req, st.hopTp)
		if !ok {
			p.answer(st, 502, "Bad Gateway (no route)")
			return
		}
		if tg.transport != "" && !mayWait {
			p.handOff(st, src) // a TCP or TLS connection may have to be dialled
			return
		}
		if req.Method == sip.BYE {
			p.calls.ended(req.CallID().Value())
		}
		p.noteTCP(req)
		p.natTarget(req, &tg, now)
		p.forward(st, []target{tg}, "", false)
		return
	}
	if req.Route() != nil {
		// A route preloaded beyond this proxy: it routes out-of-dialog
		// requests by its own rules only (locate), never where a client
		// says.
		p.c.authFailed.Add(1)
		p.answer(st, 403, "Forbidden (route preloaded beyond this proxy)")
		return
	}
	if !st.authed && !fromPeer && (req.Method == sip.INVITE || req.Method == sip.MESSAGE) {
		phone, code, reason, deferred := p.authenticate(st, now, mayWait)
		if deferred {
			p.handOff(st, src)
			return
		}
		if code != 0 {
			p.answer(st, code, reason)
			return
		}
		// Checked once: a second check would see the nonce count again.
		st.authed, st.caller = true, phone
		p.noteTCP(req)
	}
	targets, code, reason := p.locate(req.Recipient, fromPeer, now)
	if code != 0 {
		p.answer(st, code, reason)
		return
	}
	if !mayWait {
		for _, tg := range targets {
			if tg.transport != "" {
				p.handOff(st, src) // a TCP or TLS connection may have to be dialled
				return
			}
		}
	}
	p.forward(st, targets, st.caller, true)
}

// handOff runs route for st on a goroutine that may wait for the host.
func (p *proxy) handOff(st *serverTx, src netip.AddrPort) {
	select {
	case p.slow <- struct{}{}:
	default:
		p.c.overload.Add(1)
		p.answer(st, 503, "Service Unavailable")
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() { <-p.slow }()
		defer func() {
			if r := recover(); r != nil {
				p.in.counters.panics.Add(1)
				p.log.Warn("SIP proxy handler recovered", "panic", r)
			}
		}()
		p.route(st, src, time.Now(), true)
	}()
}

// authenticate checks the Proxy-Authorization of an out-of-dialog request
// from a phone (RFC 3261 §22.3) with the same digest and HA1 credentials
// as REGISTER. It returns the phone, or the code of the answer.
func (p *proxy) authenticate(st *serverTx, now time.Time, mayWait bool) (phoneID string, code int, reason string, deferred bool) {
	in := p.in
	req := st.req
	h := header(req, "Proxy-Authorization")
	if h == nil {
		return "", 407, "", false
	}
	creds, err := digest.ParseAuthorization(h.Value())
	if err != nil {
		p.in.counters.malformed.Add(1)
		return "", 400, "Bad Proxy-Authorization", false
	}
	phoneID = creds.Username
	entry, known := in.view.Table().Phone(phoneID)
	if _, registered := in.view.Table().Registration(phoneID); !known || !registered {
		p.c.authFailed.Add(1)
		return "", 403, "Forbidden (not registered here)", false
	}
	home := ""
	if entry.Home != in.site {
		home = entry.Home
	}
	md5, sha, cached := in.creds.get(home, phoneID, now)
	if !cached {
		if !mayWait {
			return "", 0, "", true
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		md5, sha, err = in.creds.lookup(ctx, home, phoneID, now)
		cancel()
		if err != nil {
			p.log.Warn("no credentials", "phone", phoneID, "error", err)
			return "", 503, "Service Unavailable", false
		}
	}
	if err := in.verifier.Check(creds, string(req.Method), md5, sha, now); err != nil {
		if errors.Is(err, digest.ErrStale) || errors.Is(err, digest.ErrReplay) {
			return "", 407, "stale", false
		}
		p.c.authFailed.Add(1)
		in.creds.forget(home, phoneID)
		return "", 403, "Forbidden", false
	}
	return phoneID, 0, "", false
}

// target is where one branch of a request goes.
type target struct {
	uri       sip.Uri        // its Request-URI
	dst       netip.AddrPort // the next hop
	transport string         // "tcp" or "tls" for a TCP or TLS next hop, "" for UDP
	alt       netip.AddrPort // TCP, TLS: the address to dial when dst has no connection
	phoneID   string         // the phone of this site reached, if any
	contact   string         // the binding's contact, if any
	peer      string         // the peer site it goes to, if any
}

// locate finds where an out-of-dialog request for uri's user (an
// extension) goes: the contacts bound here of the phones serving it;
// else, unless the request came from a peer site, the SIP endpoint of the
// site where the user is registered (siteEndpoint) — its home while the
// home is up, its backup during failover. It returns the code of the
// answer when there is nowhere to go: 404 for an extension no phone
// serves, 480 for one not registered anywhere reachable.
func (p *proxy) locate(uri sip.Uri, fromPeer bool, now time.Time) ([]target, int, string) {
	in := p.in
	t := in.view.Table()
	phones := t.PhonesServing(nil, uri.User)
	if len(phones) == 0 {
		p.c.notFound.Add(1)
		return nil, 404, "Not Found"
	}
	var targets []target
	for _, ph := range phones {
		if ph.Protocol != federationv1.Protocol_PROTOCOL_SIP && ph.Protocol != federationv1.Protocol_PROTOCOL_UNSPECIFIED {
			continue
		}
		// A phone registers its base user's AoR or its hot-desked user's
		// (register.go): its bindings are under either, each counted once.
		aors := []string{ph.ServedUser()}
		if ph.User != ph.ServedUser() {
			aors = append(aors, ph.User)
		}
		first := len(targets)
		for _, user := range aors {
			for _, b := range in.reg.Lookup("sip:"+user+"@"+in.domain, now) {
				if b.PhoneID != ph.ID || len(targets) == proxyMaxForks ||
					slices.ContainsFunc(targets[first:], func(t target) bool { return t.contact == b.Contact }) {
					continue
				}
				if tg, ok := bindingTarget(b.Contact, b.Transport, b.Source); ok {
					tg.phoneID, tg.contact = ph.ID, b.Contact
					targets = append(targets, tg)
				}
			}
		}
	}
	if len(targets) > 0 {
		return targets, 0, ""
	}
	if fromPeer {
		// A peer sends here only what it found registered here: never
		// send it back (no loops).
		p.c.unavailable.Add(1)
		return nil, 480, "Temporarily Unavailable"
	}
	home := ""
	for _, ph := range phones {
		if ph.Home != in.site {
			home = ph.Home
			break
		}
	}
	dst, site, ok := p.siteEndpoint(home)
	if !ok {
		p.c.unavailable.Add(1)
		return nil, 480, "Temporarily Unavailable"
	}
	p.c.toPeer.Add(1)
	return []target{{uri: uri, dst: dst, peer: site}}, 0, ""
}

// siteEndpoint returns the SIP endpoint (UDP) of the site where the phones
// of home register now: home itself unless it is down for SIP, then its
// backup — unless that is this site (whose phones locate found none). For
// a phone of this site ("" or this site) not registered here, it is this
// site's backup while that is up: the phone may still be its guest (a
// failback in progress), and the backup delivers only to phones
// registered there.
func (p *proxy) siteEndpoint(home string) (netip.AddrPort, string, bool) {
	t := p.in.view.Table()
	if home == "" || home == p.in.site {
		v, ok := t.BackupPeer()
		if !ok || !up(v) {
			return netip.AddrPort{}, "", false
		}
		return p.endpointOf(v)
	}
	v, ok := t.Peer(home)
	if !ok {
		return netip.AddrPort{}, "", false
	}
	switch {
	case v.State == admission.StateFailover || v.ProtocolDown[federationv1.Protocol_PROTOCOL_SIP]:
		if v.Backup == "" || v.Backup == p.in.site {
			return netip.AddrPort{}, "", false
		}
		if v, ok = t.Peer(v.Backup); !ok || !up(v) {
			return netip.AddrPort{}, "", false
		}
	case !up(v):
		return netip.AddrPort{}, "", false
	}
	return p.endpointOf(v)
}

// endpointOf returns a peer's SIP endpoint (UDP) as an address.
func (p *proxy) endpointOf(v admission.PeerView) (netip.AddrPort, string, bool) {
	_, addr, ok := v.Endpoint("sip", "udp")
	if !ok {
		return netip.AddrPort{}, "", false
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		p.log.Debug("peer SIP endpoint is not an address", "site", v.Site, "endpoint", addr)
		return netip.AddrPort{}, "", false
	}
	return ap, v.Site, true
}

// up reports whether a peer serves SIP phones now.
func up(v admission.PeerView) bool {
	switch v.State {
	case admission.StateNormal, admission.StateSuspect, admission.StateFailbackPending:
		return !v.ProtocolDown[federationv1.Protocol_PROTOCOL_SIP]
	}
	return false
}

// bindingTarget is the branch to a registered contact: its URI as the
// Request-URI, sent to the address its REGISTER came from (NAT; for TCP
// and TLS, that connection while it lasts), else to the contact's host
// and port. UDP, TCP and TLS contacts are reached (others are not); a
// phone that registered over TLS is reached over TLS whatever its
// contact says, as is a sips: or transport=tls contact.
func bindingTarget(contact, transport, source string) (target, bool) {
	var t target
	if err := sip.ParseUri(contact, &t.uri); err != nil {
		return t, false
	}
	tp, _ := t.uri.UriParams.Get("transport")
	switch {
	case strings.EqualFold(tp, "tls") || transport == "tls" || t.uri.Scheme == "sips":
		t.transport = "tls"
	case strings.EqualFold(tp, "tcp") || transport == "tcp":
		t.transport = "tcp"
	case (tp == "" || strings.EqualFold(tp, "udp")) && (transport == "" || transport == "udp"):
	default:
		return t, false
	}
	contactAddr, contactOK := uriAddrOn(t.uri, t.transport)
	if ap, err := netip.ParseAddrPort(source); err == nil {
		t.dst, t.alt = ap, contactAddr
		return t, true
	}
	t.dst, t.alt = contactAddr, contactAddr
	return t, contactOK
}

// uriAddr is the address of a URI with an IP host (5060 by default).
func uriAddr(u sip.Uri) (netip.AddrPort, bool) { return uriAddrOn(u, "") }

// uriAddrOn is uriAddr for a URI reached over transport: 5061 by default
// for TLS or a sips: URI.
func uriAddrOn(u sip.Uri, transport string) (netip.AddrPort, bool) {
	ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	if err != nil {
		return netip.AddrPort{}, false
	}
	port := u.Port
	if port <= 0 || port > 65535 {
		port = 5060
		if u.Scheme == "sips" || transport == "tls" {
			port = 5061
		}
	}
	return netip.AddrPortFrom(ip, uint16(port)), true
}

// nextHop is where a request goes once this proxy's routes are popped:
// its top Route, else its Request-URI (RFC 3261 §16.6 step 7, loose
// routing), over TCP when that URI says transport=tcp, over TLS when it
// says transport=tls or is a sips: URI. A Request-URI that names no
// transport is reached over hopTp, the transport of the last Route of this
// proxy's popped (its side towards the next hop: RFC 5658), "" for UDP.
func nextHop(req *sip.Request, hopTp string) (target, bool) {
	u := req.Recipient
	if r := req.Route(); r != nil {
		u, hopTp = r.Address, ""
	}
	tp, _ := u.UriParams.Get("transport")
	if tp == "" && u.Scheme != "sips" {
		tp = hopTp
	}
	t := target{uri: req.Recipient}
	switch {
	case strings.EqualFold(tp, "tls") || u.Scheme == "sips":
		t.transport = "tls"
	case strings.EqualFold(tp, "tcp"):
		t.transport = "tcp"
	case tp != "" && !strings.EqualFold(tp, "udp"):
		return t, false
	}
	ap, ok := uriAddrOn(u, t.transport)
	t.dst, t.alt = ap, ap
	return t, ok
}

// natTarget sends a request within a dialog whose next hop is its
// Request-URI, the contact of a phone registered here over UDP, to the
// address that phone's REGISTER came from (as bindingTarget does for an
// initial request): a phone behind NAT is not reachable at its contact.
func (p *proxy) natTarget(req *sip.Request, tg *target, now time.Time) {
	if tg.transport != "" || req.Route() != nil {
		return
	}
	if src, ok := p.natContacts.get(req.Recipient, now); ok {
		tg.dst, tg.alt = src, src
	}
}

// natContactsMax bounds the contacts of natContacts; beyond it one is
// forgotten for each new one.
const natContactsMax = 100_000

// natContacts maps the contacts of phones registered over UDP from
// another address than their contact's (NAT) to that address: user and
// address of the contact (so that phones behind different NATs with the
// same private address differ) to the REGISTER's source, until the
// binding expires.
type natContacts struct {
	mu sync.Mutex
	m  map[string]natContact
}

type natContact struct {
	src     netip.AddrPort
	expires time.Time
}

func natKey(u sip.Uri) (string, netip.AddrPort, bool) {
	ap, ok := uriAddr(u)
	if !ok {
		return "", ap, false
	}
	return u.User + "@" + ap.String(), ap, true
}

// note remembers a UDP binding: its contact reached at source.
func (n *natContacts) note(contact, source string, expires time.Time) {
	var u sip.Uri
	if sip.ParseUri(contact, &u) != nil {
		return
	}
	key, ap, ok := natKey(u)
	src, err := netip.ParseAddrPort(source)
	if !ok || err != nil || ap == src {
		return // not behind NAT: the contact is the address
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		n.m = make(map[string]natContact)
	}
	if _, known := n.m[key]; !known && len(n.m) >= natContactsMax {
		for k := range n.m { // one out (map order: any one)
			delete(n.m, k)
			break
		}
	}
	n.m[key] = natContact{src: src, expires: expires}
}

func (n *natContacts) get(u sip.Uri, now time.Time) (netip.AddrPort, bool) {
	key, _, ok := natKey(u)
	if !ok {
		return netip.AddrPort{}, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.m[key]
	if !ok || now.After(c.expires) {
		return netip.AddrPort{}, false
	}
	return c.src, true
}

// popRoutes removes the Route headers on top that name this proxy (RFC
// 3261 §16.4) and reports whether there were any, the transport of the
// last ("tcp", "tls", "" for UDP), and whether each of them carries this
// proxy's MAC of the request's dialog (routeMAC: a Record-Route of this
// proxy's, which only an in-dialog request may be routed by).
func (p *proxy) popRoutes(req *sip.Request) (transport string, popped, signed bool) {
	signed = true
	for {
		r := req.Route()
		if r == nil || !p.isSelf(r.Address) {
			return transport, popped, signed && popped
		}
		transport = ""
		if tp, _ := r.Address.UriParams.Get("transport"); strings.EqualFold(tp, "tcp") || strings.EqualFold(tp, "tls") {
			transport = strings.ToLower(tp)
		}
		if !p.routeSigned(req, r.Address) {
			signed = false
		}
		req.RemoveHeader("Route")
		popped = true
	}
}

// routeParam is the URI parameter of this proxy's Record-Routes that
// holds its MAC of the dialog (routeMAC).
const routeParam = "rly"

// routeMAC is the MAC this proxy puts in the Record-Route of a dialog
// (Call-ID and the caller's From tag), keyed by the instance's route key:
// a Route naming this proxy is worth something only with it, so nobody
// can write one to get a request past the proxy's authentication.
func (p *proxy) routeMAC(callID, tag string) string {
	m := hmac.New(sha256.New, p.in.routeKey)
	m.Write([]byte(callID))
	m.Write([]byte{0})
	m.Write([]byte(tag))
	return hex.EncodeToString(m.Sum(nil)[:12])
}

// routeSigned reports whether u, a Route naming this proxy, carries the
// MAC of req's dialog: over its Call-ID and its From tag (a request from
// the caller) or To tag (one from the callee).
func (p *proxy) routeSigned(req *sip.Request, u sip.Uri) bool {
	mac, ok := u.UriParams.Get(routeParam)
	if !ok || req.CallID() == nil {
		return false
	}
	callID := req.CallID().Value()
	for _, h := range []*sip.HeaderParams{fromParams(req), toParams(req)} {
		if h == nil {
			continue
		}
		tag, _ := h.Get("tag")
		if hmac.Equal([]byte(mac), []byte(p.routeMAC(callID, tag))) {
			return true
		}
	}
	return false
}

func fromParams(req *sip.Request) *sip.HeaderParams {
	if f := req.From(); f != nil {
		return &f.Params
	}
	return nil
}

func toParams(req *sip.Request) *sip.HeaderParams {
	if t := req.To(); t != nil {
		return &t.Params
	}
	return nil
}

// signedRoute is this proxy's URI u with the MAC of req's dialog, for a
// Record-Route.
func (p *proxy) signedRoute(req *sip.Request, u sip.Uri) sip.Uri {
	u = *u.Clone()
	tag := ""
	if f := req.From(); f != nil {
		tag, _ = f.Params.Get("tag")
	}
	u.UriParams.Add(routeParam, p.routeMAC(req.CallID().Value(), tag))
	return u
}

// isSelf reports whether u names one of this plugin's UDP, TCP or TLS
// endpoints.
func (p *proxy) isSelf(u sip.Uri) bool {
	ap, ok := uriAddr(u)
	if !ok {
		return false
	}
	for _, s := range p.in.udp {
		if s.local == ap {
			return true
		}
	}
	for _, l := range slices.Concat(p.in.tcp, p.in.tls) {
		if tcpLocal(l) == ap {
			return true
		}
	}
	return false
}

// inSelf is this proxy as the sender of req sees it: the UDP socket it
// came on, or the TCP or TLS listener.
func (p *proxy) inSelf(req *sip.Request, out *udpServer) sip.Uri {
	if network := strings.ToLower(req.Transport()); network == "tcp" || network == "tls" {
		if l, ok := p.streamListener(network); ok {
			return tcpSelfURI(network, tcpLocal(l))
		}
	}
	if out != nil {
		return out.selfURI()
	}
	return sip.Uri{}
}

// ---- forwarding -------------------------------------------------------------

// forward sends st's request to each target (RFC 3261 §16.6), as a client
// transaction each.
func (p *proxy) forward(st *serverTx, targets []target, caller string, recordRoute bool) {
	// Connections first (a TCP one may be dialled), outside the lock.
	downs := make([]downstream, len(targets))
	for i, tg := range targets {
		downs[i] = p.downstreamFor(st.out, tg)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || st.final != 0 {
		return
	}
	st.caller = caller
	if st.cancelled {
		p.finalLocked(st, sip.NewResponseFromRequest(st.req, 487, "Request Terminated", nil))
		return
	}
	for i, tg := range targets {
		down := downs[i]
		if down == nil {
			continue
		}
		fwd := st.req.Clone()
		fwd.Recipient = *tg.uri.Clone()
		hops := uint32(70)
		if mf := fwd.MaxForwards(); mf != nil {
			hops = mf.Val() - 1
			fwd.RemoveHeader("Max-Forwards")
		}
		mf := sip.MaxForwardsHeader(hops)
		fwd.AppendHeader(&mf)
		if caller != "" {
			if h := header(fwd, "Proxy-Authorization"); h != nil {
				fwd.RemoveHeader(h.Name()) // credentials of this proxy's realm
			}
		}
		if recordRoute && st.invite && st.initial {
			// Two Record-Routes when the transport changes (RFC 5658):
			// each side of the dialog reaches this proxy its own way.
			// Each carries the dialog's MAC (routeMAC).
			out := down.self()
			if in := st.inSelf; in.Host != "" && in.String() != out.String() {
				fwd.PrependHeader(&sip.RecordRouteHeader{Address: p.signedRoute(fwd, out)},
					&sip.RecordRouteHeader{Address: p.signedRoute(fwd, in)})
			} else {
				fwd.PrependHeader(&sip.RecordRouteHeader{Address: p.signedRoute(fwd, out)})
			}
		}
		branch := branchPrefix + newTag() + newTag()
		fwd.PrependHeader(down.via(branch))
		ct := &clientTx{key: branch + "|" + string(st.method), st: st, req: fwd, raw: []byte(fwd.String()),
			down: down, invite: st.invite, phoneID: tg.phoneID}
		p.clients[ct.key] = ct
		st.branches = append(st.branches, ct)
		p.c.proxied.Add(1)
		p.sendLocked(ct)
	}
	if len(st.branches) == 0 {
		p.finalLocked(st, sip.NewResponseFromRequest(st.req, 480, "Temporarily Unavailable", nil))
	}
}

// sendLocked sends a new client transaction's request and arms its
// timers: retransmissions from T1 (UDP), and a timeout at 64·T1.
func (p *proxy) sendLocked(ct *clientTx) {
	ct.down.send(ct.req, ct.raw)
	if !ct.down.reliable() {
		ct.interval = timerT1
		ct.retrans = time.AfterFunc(ct.interval, func() { p.retransmit(ct) })
	}
	ct.timeout = time.AfterFunc(timer64T1, func() { p.clientTimeout(ct) })
}

// downstreamFor is the way to a target: from the UDP socket out, or over
// a TCP or TLS connection (its registration's while it lasts, else one
// dialled to its contact). nil when there is none.
func (p *proxy) downstreamFor(out *udpServer, tg target) downstream {
	if tg.transport != "" {
		return p.tcpDownstream(tg.transport, tg.dst, tg.alt)
	}
	if out == nil {
		return nil
	}
	return udpDown{s: out, dst: tg.dst}
}

func (p *proxy) retransmit(ct *clientTx) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || ct.final != 0 || (ct.invite && ct.got1xx) {
		return
	}
	ct.down.send(ct.req, ct.raw)
	switch {
	case ct.invite: // Timer A doubles without a cap
		ct.interval *= 2
	case ct.got1xx: // Timer E: T2 once the request is proceeding
		ct.interval = timerT2
	default:
		ct.interval = min(2*ct.interval, timerT2)
	}
	ct.retrans = time.AfterFunc(ct.interval, func() { p.retransmit(ct) })
}

// clientTimeout: no final response in time. An INVITE that rings is
// cancelled (Timer C), and given 64·T1 more for its 487; otherwise the
// branch ends with a 408 of the proxy's own (RFC 3261 §16.8).
func (p *proxy) clientTimeout(ct *clientTx) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || ct.final != 0 {
		return
	}
	if ct.invite && ct.got1xx && !ct.cancel && ct.st != nil && !ct.st.cancelled {
		p.sendCancelLocked(ct)
		ct.timeout = time.AfterFunc(timer64T1, func() { p.clientTimeout(ct) })
		return
	}
	p.c.timeouts.Add(1)
	res := sip.NewResponseFromRequest(ct.req, 408, "Request Timeout", nil)
	res.RemoveHeader("Via") // as if received: this proxy's Via popped
	p.branchFinalLocked(ct, res, time.Now())
}

// ---- responses --------------------------------------------------------------

// response handles a response received over UDP on s.
func (p *proxy) response(s *udpServer, res *sip.Response, now time.Time) {
	via := res.Via()
	branch, _ := via.Params.Get("branch")
	key := branch + "|" + string(res.CSeq().MethodName)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	ct := p.clients[key]
	if ct == nil {
		// A 2xx to an INVITE retransmitted by the callee after its
		// transaction here ended: relayed statelessly by the next Via
		// (RFC 3261 §16.7, RFC 6026) — only for a branch of this proxy's
		// answered 2xx lately, or anyone could have the proxy send a
		// response wherever a Via of theirs says.
		if _, ok := p.answered2xx[key]; ok && res.CSeq().MethodName == sip.INVITE && res.IsSuccess() {
			p.statelessRelay(s, res)
			return
		}
		p.c.stray.Add(1)
		return
	}
	res.RemoveHeader("Via")
	if res.Via() == nil {
		p.in.counters.malformed.Add(1) // a response to this proxy alone: none is sent
		return
	}
	code := res.StatusCode
	if code < 200 {
		if ct.final != 0 {
			return
		}
		if ct.invite && (!ct.got1xx || (code > 100 && !ct.cancel)) {
			// Timer C from the first 1xx (Timer B no longer runs), and
			// again from each provisional response but 100 (RFC 3261
			// §16.7 step 2).
			stopTimer(ct.retrans)
			stopTimer(ct.timeout)
			ct.timeout = time.AfterFunc(p.ring, func() { p.clientTimeout(ct) })
		}
		if !ct.got1xx {
			ct.got1xx = true
			if ct.cancel {
				p.sendCancelLocked(ct)
			}
		}
		st := ct.st
		if st == nil || code == 100 || st.final != 0 {
			return // 100 Trying is hop by hop
		}
		p.relayLocked(st, res)
		return
	}
	if ct.final != 0 {
		// A retransmitted final: ACK a non-2xx again; relay a 2xx (the
		// callee retransmits it until the caller's ACK).
		if ct.invite && code >= 300 && ct.ack != nil {
			ct.down.send(ct.ack, ct.ackRaw)
		} else if ct.invite && code < 300 && ct.st != nil {
			p.relayLocked(ct.st, res)
		}
		return
	}
	p.branchFinalLocked(ct, res, now)
}

// branchFinalLocked ends a branch with its final response res (this
// proxy's Via already removed).
func (p *proxy) branchFinalLocked(ct *clientTx, res *sip.Response, now time.Time) {
	code := res.StatusCode
	ct.final = code
	stopTimer(ct.retrans)
	stopTimer(ct.timeout)
	ct.cleanup = time.AfterFunc(timer64T1, func() { p.forgetClient(ct) })
	if ct.invite && code >= 300 {
		ct.ack = ackFor(ct.req, res)
		ct.ackRaw = []byte(ct.ack.String())
		ct.down.send(ct.ack, ct.ackRaw)
	}
	st := ct.st
	if st == nil {
		return
	}
	if code < 300 {
		if st.invite && st.initial && st.final == 0 {
			p.calls.started(st.req.CallID().Value(), now, st.caller, ct.phoneID)
		}
		if st.invite || st.final == 0 {
			// every 2xx to an INVITE (each fork's dialog; §16.7 step 5),
			// the first final of any other request
			p.relayLocked(st, res)
		}
		if st.final == 0 {
			st.final = code
			st.cleanup = time.AfterFunc(timer64T1, func() { p.forgetServer(st) })
			// The other branches of a fork are cancelled (§16.7 step 10).
			for _, b := range st.branches {
				if b != ct && b.final == 0 {
					p.cancelBranchLocked(b)
				}
			}
		}
		return
	}
	if st.final != 0 {
		return
	}
	if st.best == nil || better(res, st.best) {
		st.best = res
	}
	if code >= 600 {
		// A 6xx ends the search: the other branches are cancelled
		// (§16.7 step 5); the 6xx is relayed once they end.
		for _, b := range st.branches {
			if b != ct && b.final == 0 {
				p.cancelBranchLocked(b)
			}
		}
	}
	for _, b := range st.branches {
		if b.final == 0 {
			return
		}
	}
	best := st.best
	switch {
	case st.cancelled:
		best = sip.NewResponseFromRequest(st.req, 487, "Request Terminated", nil)
	case best.StatusCode == 503: // §16.7 step 6: a 503 is not passed on
		best = sip.NewResponseFromRequest(st.req, 500, "Server Internal Error", nil)
	}
	p.finalLocked(st, best)
}

// better reports whether a final response a beats b for relaying
// (§16.7 step 6): any 6xx, then the lowest class.
func better(a, b *sip.Response) bool {
	ca, cb := a.StatusCode/100, b.StatusCode/100
	if (ca == 6) != (cb == 6) {
		return ca == 6
	}
	return ca < cb
}

// relayLocked relays a response upstream and keeps it for retransmitted
// requests.
func (p *proxy) relayLocked(st *serverTx, res *sip.Response) {
	p.c.relayed.Add(1)
	st.last = st.up.send(res)
}

// statelessRelay relays a response whose transaction ended, by its next
// Via.
func (p *proxy) statelessRelay(s *udpServer, res *sip.Response) {
	if s == nil {
		p.c.stray.Add(1)
		return
	}
	res.RemoveHeader("Via")
	via := res.Via()
	if via == nil {
		p.in.counters.malformed.Add(1)
		return
	}
	dst, ok := responseAddr(via)
	if !ok {
		p.in.counters.malformed.Add(1)
		return
	}
	p.c.relayed.Add(1)
	s.send([]byte(res.String()), dst)
}

// responseAddr is where a response goes by its Via (RFC 3261 §18.2.2,
// RFC 3581): received and rport when set, else the sent-by.
func responseAddr(via *sip.ViaHeader) (netip.AddrPort, bool) {
	host := via.Host
	if r, ok := via.Params.Get("received"); ok && r != "" {
		host = r
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return netip.AddrPort{}, false
	}
	port := via.Port
	if r, ok := via.Params.Get("rport"); ok && r != "" {
		if n, err := strconv.Atoi(r); err == nil {
			port = n
		}
	}
	if port <= 0 || port > 65535 {
		port = 5060
	}
	return netip.AddrPortFrom(ip, uint16(port)), true
}

// answer sends st a final response of this proxy's own.
func (p *proxy) answer(st *serverTx, code int, reason string) {
	res := sip.NewResponseFromRequest(st.req, code, reason, nil)
	switch code {
	case 407:
		p.c.challenged.Add(1)
		res.Reason = "Proxy Authentication Required"
		for _, c := range p.in.verifier.Challenge(time.Now(), reason == "stale") {
			res.AppendHeader(sip.NewHeader("Proxy-Authenticate", c))
		}
	case 404, 480:
		res.Reason = reason
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if st.final == 0 {
		p.finalLocked(st, res)
	}
}

// finalLocked sends st's final response and arms the retransmission of a
// non-2xx final to an INVITE until its ACK (Timer G, UDP) and st's end.
func (p *proxy) finalLocked(st *serverTx, res *sip.Response) {
	st.final = res.StatusCode
	p.relayLocked(st, res)
	if st.invite && st.final >= 300 && !st.up.reliable() {
		st.interval = timerT1
		st.retrans = time.AfterFunc(st.interval, func() { p.retransmitFinal(st) })
	}
	st.cleanup = time.AfterFunc(timer64T1, func() { p.forgetServer(st) })
}

func (p *proxy) retransmitFinal(st *serverTx) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || st.acked || p.servers[st.key] != st {
		return
	}
	st.up.resend(st.last)
	st.interval = min(2*st.interval, timerT2)
	st.retrans = time.AfterFunc(st.interval, func() { p.retransmitFinal(st) })
}

func (p *proxy) forgetServer(st *serverTx) {
	p.mu.Lock()
	defer p.mu.Unlock()
	stopTimer(st.retrans)
	if p.servers[st.key] == st {
		delete(p.servers, st.key)
	}
}

func (p *proxy) forgetClient(ct *clientTx) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.clients[ct.key] != ct {
		return
	}
	delete(p.clients, ct.key)
	if ct.invite && ct.final >= 200 && ct.final < 300 && !p.closed && len(p.answered2xx) < proxyMaxTransactions {
		p.answered2xx[ct.key] = struct{}{}
		time.AfterFunc(timer64T1, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			delete(p.answered2xx, ct.key)
		})
	}
}

// ackFor is the ACK of a non-2xx final response res to the INVITE req
// this proxy sent (RFC 3261 §17.1.1.3): same Request-URI, Call-ID, From,
// CSeq number, top Via and Route; the To of the response.
func ackFor(req *sip.Request, res *sip.Response) *sip.Request {
	ack := sip.NewRequest(sip.ACK, *req.Recipient.Clone())
	ack.SipVersion = req.SipVersion
	ack.AppendHeader(req.Via().Clone())
	mf := sip.MaxForwardsHeader(70)
	ack.AppendHeader(&mf)
	ack.AppendHeader(sip.HeaderClone(req.From()))
	if to := res.To(); to != nil {
		ack.AppendHeader(sip.HeaderClone(to))
	}
	ack.AppendHeader(sip.HeaderClone(req.CallID()))
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sip.ACK})
	for _, h := range req.GetHeaders("Route") {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	ack.SetBody(nil)
	return ack
}

// ---- ACK and CANCEL ---------------------------------------------------------

// ack handles an ACK: the ACK of a non-2xx final of this proxy's is
// absorbed (it ends the INVITE server transaction, hop by hop); the ACK
// of a 2xx is an in-dialog request, forwarded statelessly by its Route.
// Without mayWait (a UDP reader), an ACK to a TCP or TLS next hop is sent
// from a goroutine of its own: a connection may have to be dialled.
func (p *proxy) ack(req *sip.Request, out *udpServer, mayWait bool) {
	key := serverKey(req, sip.INVITE)
	p.mu.Lock()
	st := p.servers[key]
	if st != nil && st.final >= 300 {
		st.acked = true
		stopTimer(st.retrans)
		p.mu.Unlock()
		p.c.absorbed.Add(1)
		return
	}
	p.mu.Unlock()
	hopTp, popped, signed := p.popRoutes(req)
	if !inDialog(req) || !popped {
		p.c.stray.Add(1)
		return
	}
	if !signed { // a Route this proxy did not issue: dropped (routeMAC)
		p.c.authFailed.Add(1)
		return
	}
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
		p.c.tooManyHops.Add(1)
		return
	}
	tg, ok := nextHop(req, hopTp)
	if !ok {
		p.c.stray.Add(1)
		return
	}
	p.noteTCP(req)
	p.natTarget(req, &tg, time.Now())
	if tg.transport == "" || mayWait {
		p.forwardACK(req, out, tg)
		return
	}
	select {
	case p.slow <- struct{}{}:
	default:
		p.c.overload.Add(1)
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() { <-p.slow }()
		p.forwardACK(req, out, tg)
	}()
}

// forwardACK sends the ACK of a 2xx on to tg.
func (p *proxy) forwardACK(req *sip.Request, out *udpServer, tg target) {
	down := p.downstreamFor(out, tg)
	if down == nil {
		p.c.stray.Add(1)
		return
	}
	hops := uint32(70)
	if mf := req.MaxForwards(); mf != nil {
		hops = mf.Val() - 1
		req.RemoveHeader("Max-Forwards")
	}
	mf := sip.MaxForwardsHeader(hops)
	req.AppendHeader(&mf)
	req.PrependHeader(down.via(branchPrefix + newTag() + newTag()))
	p.c.proxied.Add(1)
	down.send(req, []byte(req.String()))
}

// cancel handles a CANCEL (RFC 3261 §16.10): 200 at once, then the
// branches of the INVITE it matches are cancelled; 481 when it matches
// none.
func (p *proxy) cancel(req *sip.Request, up upstream) {
	key := serverKey(req, sip.INVITE)
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.servers[key]
	if st == nil {
		p.c.noTransaction.Add(1)
		up.send(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	up.send(sip.NewResponseFromRequest(req, 200, "OK", nil))
	if st.final != 0 || st.cancelled {
		return
	}
	p.c.cancelled.Add(1)
	st.cancelled = true
	for _, ct := range st.branches {
		if ct.final == 0 {
			p.cancelBranchLocked(ct)
		}
	}
}

// cancelBranchLocked cancels a pending INVITE branch: now if it rang,
// else once it does (RFC 3261 §9.1).
func (p *proxy) cancelBranchLocked(ct *clientTx) {
	if !ct.invite || ct.cancel {
		return
	}
	if ct.got1xx {
		p.sendCancelLocked(ct)
		return
	}
	ct.cancel = true
}

// sendCancelLocked sends the CANCEL of an INVITE branch, as a client
// transaction of its own (same branch, method CANCEL).
func (p *proxy) sendCancelLocked(ct *clientTx) {
	ct.cancel = true
	req := ct.req
	c := sip.NewRequest(sip.CANCEL, *req.Recipient.Clone())
	c.SipVersion = req.SipVersion
	c.AppendHeader(req.Via().Clone())
	mf := sip.MaxForwardsHeader(70)
	c.AppendHeader(&mf)
	c.AppendHeader(sip.HeaderClone(req.From()))
	c.AppendHeader(sip.HeaderClone(req.To()))
	c.AppendHeader(sip.HeaderClone(req.CallID()))
	c.AppendHeader(&sip.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sip.CANCEL})
	for _, h := range req.GetHeaders("Route") {
		c.AppendHeader(sip.HeaderClone(h))
	}
	c.SetBody(nil)
	branch, _ := req.Via().Params.Get("branch")
	cc := &clientTx{key: branch + "|" + string(sip.CANCEL), req: c, raw: []byte(c.String()), down: ct.down}
	if old := p.clients[cc.key]; old != nil {
		return
	}
	p.clients[cc.key] = cc
	p.sendLocked(cc)
}

// ---- the UDP socket as the proxy uses it ---------------------------------------

// send writes b to dst from the socket.
func (s *udpServer) send(b []byte, dst netip.AddrPort) {
	if _, err := s.conn.WriteToUDPAddrPort(b, dst); err != nil {
		s.in.counters.writeErrors.Add(1)
	}
}

// selfURI is the URI of this proxy on the socket, for Record-Route.
func (s *udpServer) selfURI() sip.Uri {
	return sip.Uri{Scheme: "sip", Host: s.local.Addr().String(), Port: int(s.local.Port()),
		UriParams: sip.HeaderParams{{K: "lr"}}}
}

// via is this proxy's Via for a request sent from the socket.
func (s *udpServer) via(branch string) *sip.ViaHeader {
	return &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: s.local.Addr().String(), Port: int(s.local.Port()),
		Params: sip.HeaderParams{{K: "branch", V: branch}, {K: "rport"}}}
}

// localAddrPort is the socket's address: an unspecified IP is no use in
// a Via or a Record-Route, so it is replaced by the loopback address
// (listen on a concrete address to proxy calls between hosts).
func localAddrPort(c *net.UDPConn) netip.AddrPort {
	ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
	ip := ap.Addr().Unmap()
	if ip.IsUnspecified() {
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	return netip.AddrPortFrom(ip, ap.Port())
}
