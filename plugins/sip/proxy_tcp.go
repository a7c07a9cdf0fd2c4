package sipplugin

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// The proxy on TCP and TLS. Both are served by sipgo (transport and
// transactions): its handlers hand the requests to the same proxy as the
// UDP path, with the sipgo server transaction as the upstream. Requests
// go on from the proxy's UDP socket (the first UDP listener) to UDP
// phones and peers, and on a TCP or TLS connection of sipgo's to phones
// registered over TCP or TLS.

// tcpUpstream answers a request received over TCP through its sipgo
// server transaction. done is closed by the final response: sipgo ends a
// transaction on a reliable transport when its handler returns, so the
// handler waits for it.
type tcpUpstream struct {
	tx   sip.ServerTransaction
	out  tcpSender
	once sync.Once
	done chan struct{}
}

func (u *tcpUpstream) send(res *sip.Response) []byte {
	u.out.do(func() {
		_ = u.tx.Respond(res) // fails once sipgo answered a CANCEL with 487: nothing to do
		if res.StatusCode >= 200 {
			u.once.Do(func() { close(u.done) })
		}
	})
	return nil
}

// tcpSender writes the messages of one transaction to TCP in order, off
// the proxy's lock (which its callers hold): a peer that stops reading
// blocks its own writes, not the proxy. A goroutine runs while messages
// wait.
type tcpSender struct {
	mu      sync.Mutex
	queue   []func()
	running bool
}

func (s *tcpSender) do(f func()) {
	s.mu.Lock()
	s.queue = append(s.queue, f)
	if s.running {
		s.mu.Unlock()
		return
	}
	s.running = true
	s.mu.Unlock()
	go func() {
		for {
			s.mu.Lock()
			if len(s.queue) == 0 {
				s.running = false
				s.mu.Unlock()
				return
			}
			f := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			s.mu.Unlock()
			f()
		}
	}()
}
func (u *tcpUpstream) resend([]byte)  {}
func (u *tcpUpstream) reliable() bool { return true }

// noUpstream is the upstream of an ACK, which is never answered.
type noUpstream struct{}

func (noUpstream) send(*sip.Response) []byte { return nil }
func (noUpstream) resend([]byte)             {}
func (noUpstream) reliable() bool            { return true }

// serveTCP registers the proxy's handlers on the sipgo server (TCP); the
// registrar keeps REGISTER.
func (p *proxy) serveTCP(srv *sipgo.Server) {
	for _, m := range []sip.RequestMethod{sip.INVITE, sip.ACK, sip.BYE, sip.CANCEL, sip.OPTIONS, sip.MESSAGE,
		sip.INFO, sip.UPDATE, sip.PRACK, sip.NOTIFY, sip.REFER, sip.SUBSCRIBE, sip.PUBLISH} {
		srv.OnRequest(m, p.onTCP)
	}
}

// tcpWaitMax bounds how long a TCP handler waits for the final response
// (every transaction of the proxy ends well before: Timer C and B).
const tcpWaitMax = ringTimeout + 2*timer64T1

func (p *proxy) onTCP(req *sip.Request, tx sip.ServerTransaction) {
	defer func() {
		if r := recover(); r != nil {
			p.in.counters.panics.Add(1)
			p.log.Warn("SIP proxy TCP handler recovered", "panic", r)
		}
	}()
	src, _ := netip.ParseAddrPort(req.Source())
	var out *udpServer
	if len(p.in.udp) > 0 {
		out = p.in.udp[0]
	}
	if req.Via() == nil {
		p.in.counters.malformed.Add(1)
		return
	}
	if req.Method == sip.ACK || tx == nil {
		p.request(req, noUpstream{}, out, src, time.Now())
		return
	}
	up := &tcpUpstream{tx: tx, done: make(chan struct{})}
	if req.Method == sip.INVITE {
		// sipgo answers a matching CANCEL itself (200, then 487 to the
		// INVITE): the proxy cancels the branches. On a goroutine: sipgo
		// calls this inside its transaction's state machine, and the proxy
		// answers that transaction under its own lock.
		key := serverKey(req, sip.INVITE)
		tx.OnCancel(func(*sip.Request) { go p.cancelKey(key) })
	}
	p.request(req, up, out, src, time.Now())
	t := time.NewTimer(tcpWaitMax)
	defer t.Stop()
	select {
	case <-up.done:
	case <-tx.Done():
	case <-t.C:
	}
}

// cancelKey cancels the pending branches of the INVITE server transaction
// key (a CANCEL sipgo matched and answered).
func (p *proxy) cancelKey(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.servers[key]
	if st == nil || st.final != 0 || st.cancelled {
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

// ---- TCP downstream: phones registered over TCP ------------------------------

// tcpLocal is a TCP listener's address (an unspecified IP replaced by the
// loopback address, as for UDP).
func tcpLocal(l net.Listener) netip.AddrPort {
	ap := l.Addr().(*net.TCPAddr).AddrPort()
	ip := ap.Addr().Unmap()
	if ip.IsUnspecified() {
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	return netip.AddrPortFrom(ip, ap.Port())
}

// tcpSelfURI is this proxy's URI on network ("tcp" or "tls"), for
// Record-Route.
func tcpSelfURI(network string, ap netip.AddrPort) sip.Uri {
	return sip.Uri{Scheme: "sip", Host: ap.Addr().String(), Port: int(ap.Port()),
		UriParams: sip.HeaderParams{{K: "transport", V: network}, {K: "lr"}}}
}

// streamListener is the first listener of network ("tcp" or "tls").
func (p *proxy) streamListener(network string) (net.Listener, bool) {
	ls := p.in.tcp
	if network == "tls" {
		ls = p.in.tls
	}
	if len(ls) == 0 {
		return nil, false
	}
	return ls[0], true
}

// tcpDown sends a client transaction's requests on a TCP or TLS
// connection of sipgo's transport; the responses come back through sipgo's transaction
// layer, which matches none of its own and hands them to the proxy
// (tcpResponse).
type tcpDown struct {
	p       *proxy
	network string // "tcp" or "tls"
	conn    sip.Connection
	local   netip.AddrPort
	out     *tcpSender // shared by a branch's INVITE, ACK and CANCEL
}

func (d tcpDown) send(msg sip.Message, _ []byte) {
	d.out.do(func() {
		if err := d.conn.WriteMsg(msg); err != nil {
			d.p.in.counters.writeErrors.Add(1)
		}
	})
}
func (d tcpDown) reliable() bool { return true }
func (d tcpDown) via(branch string) *sip.ViaHeader {
	return &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(d.network),
		Host: d.local.Addr().String(), Port: int(d.local.Port()), Params: sip.HeaderParams{{K: "branch", V: branch}}}
}
func (d tcpDown) self() sip.Uri { return tcpSelfURI(d.network, d.local) }

// tcpDialTimeout bounds dialling a phone's TCP or TLS contact (with the
// TLS handshake).
const tcpDialTimeout = 2 * time.Second

// tcpDownstream returns a connection of network ("tcp" or "tls") to a
// phone: the connection its registration came on (dst) while it is open,
// else one dialled to alt (its contact; over TLS verified as
// dialTLSConfig says), reused for later requests. nil without a listener
// of network or when the dial fails.
func (p *proxy) tcpDownstream(network string, dst, alt netip.AddrPort) downstream {
	l, ok := p.streamListener(network)
	if !ok || p.in.srv == nil {
		return nil
	}
	local := tcpLocal(l)
	tl := p.in.srv.TransportLayer()
	if c, err := tl.GetConnection(network, dst.String()); err == nil && c != nil {
		return tcpDown{p: p, network: network, conn: c, local: local, out: &tcpSender{}}
	}
	if !alt.IsValid() {
		return nil
	}
	// A phone that named alt as its contact on a connection of its own
	// (it need not listen: RFC 5626).
	if src, ok := p.tcpContacts.get(alt); ok {
		if c, err := tl.GetConnection(network, src.String()); err == nil && c != nil {
			return tcpDown{p: p, network: network, conn: c, local: local, out: &tcpSender{}}
		}
	}
	// sipgo dials for a request: a stand-in one names the destination.
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: alt.Addr().String(), Port: int(alt.Port())})
	req.SetTransport(strings.ToUpper(network))
	req.SetDestination(alt.String())
	req.AppendHeader(tcpDown{network: network, local: local}.via("z9hG4bK-dial"))
	ctx, cancel := context.WithTimeout(context.Background(), tcpDialTimeout)
	defer cancel()
	c, err := tl.ClientRequestConnection(ctx, req)
	if err != nil {
		p.log.Debug("no connection to a phone", "network", network, "contact", alt.String(), "error", err)
		return nil
	}
	return tcpDown{p: p, network: network, conn: c, local: local, out: &tcpSender{}}
}

// tcpResponse is sipgo's handler of the responses no transaction of its
// own matched: those to the proxy's requests over TCP.
func (p *proxy) tcpResponse(res *sip.Response) {
	defer func() {
		if r := recover(); r != nil {
			p.in.counters.panics.Add(1)
			p.log.Warn("SIP proxy TCP response handler recovered", "panic", r)
		}
	}()
	if res.Via() == nil || res.CSeq() == nil {
		p.in.counters.malformed.Add(1)
		return
	}
	if p.hasClient(res) { // a response to a request of this proxy's: its dialog
		p.tcpContacts.note(res)
	}
	var s *udpServer
	if len(p.in.udp) > 0 {
		s = p.in.udp[0]
	}
	p.response(s, res, time.Now())
}

// uaOption routes to the proxy the responses sipgo's transaction layer
// matches to none of its transactions (plugin.go passes it to NewUA).
func (p *proxy) uaOption() sipgo.UserAgentOption {
	return sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerUnhandledResponseHandler(p.tcpResponse))
}

// hasClient reports whether res answers a client transaction of the
// proxy's.
func (p *proxy) hasClient(res *sip.Response) bool {
	branch, _ := res.Via().Params.Get("branch")
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.clients[branch+"|"+string(res.CSeq().MethodName)] != nil
}

// noteTCP remembers the contact of a request received over TCP or TLS
// that the proxy admitted (authenticated, or within a dialog it
// record-routed) and forwards.
func (p *proxy) noteTCP(req *sip.Request) {
	if network := strings.ToLower(req.Transport()); network == "tcp" || network == "tls" {
		p.tcpContacts.note(req)
	}
}

const (
	// tcpContactsMax bounds the contacts remembered (tcpContacts); beyond
	// it one is forgotten for each new one.
	tcpContactsMax = 10_000
	// tcpContactsStale is how long a contact's connection is kept from
	// being replaced by one from another address (a phone that moved).
	tcpContactsStale = time.Hour
)

// tcpContacts remembers, for each contact address of a phone on TCP or
// TLS, the connection it came on (its remote address), so that a request
// within the dialog reaches a phone that does not listen for connections
// on its contact. It is filled only from what the proxy trusts: a
// REGISTER that authenticated (its binding's contact and source), the
// requests it admitted and forwards (authenticated, or within a dialog
// it record-routed) and the responses to its own requests — never from
// any message that came in, which would let whoever connects redirect a
// phone's calls by naming its contact — and an entry is replaced by a
// connection from another IP address only once it is stale.
type tcpContacts struct {
	mu sync.Mutex
	m  map[netip.AddrPort]tcpContact
}

type tcpContact struct {
	src  netip.AddrPort
	seen time.Time
}

func (t *tcpContacts) note(msg interface {
	Contact() *sip.ContactHeader
	Source() string
}) {
	if c := msg.Contact(); c != nil {
		t.noteURI(c.Address, msg.Source(), time.Now())
	}
}

// noteURI remembers that contact u is reached on the connection from
// source.
func (t *tcpContacts) noteURI(u sip.Uri, source string, now time.Time) {
	contact, ok := uriAddr(u)
	src, err := netip.ParseAddrPort(source)
	if !ok || err != nil || contact == src {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[netip.AddrPort]tcpContact)
	}
	old, known := t.m[contact]
	if known && old.src.Addr() != src.Addr() && now.Sub(old.seen) < tcpContactsStale {
		return // another host's contact
	}
	if !known && len(t.m) >= tcpContactsMax {
		for k := range t.m { // one out (map order: any one)
			delete(t.m, k)
			break
		}
	}
	t.m[contact] = tcpContact{src: src, seen: now}
}

func (t *tcpContacts) get(contact netip.AddrPort) (netip.AddrPort, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.m[contact]
	return c.src, ok
}
