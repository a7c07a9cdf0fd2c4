package sipplugin

import (
	"errors"
	"hash/maphash"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// udpMaxMessage is the largest datagram the UDP path reads; a larger one is
// dropped and counted. SIP over UDP stays well under the path MTU
// (RFC 3261 §18.1.1 sends larger requests over TCP); a REGISTER is about
// 500 bytes.
const udpMaxMessage = 16 << 10

// udpSlowMax bounds the requests that wait for the host at once (a
// credentials look-up), each on its own goroutine so that the readers go on
// (see udpServer.handOff). Beyond it a request is dropped and counted: its
// client retransmits.
const udpSlowMax = 1024

// allowed is the Allow header value: the methods this plugin answers
// (the registrar's, and those the proxy routes).
const allowed = "REGISTER, OPTIONS, INVITE, ACK, BYE, CANCEL, MESSAGE"

// udpServer is the UDP transport of the plugin, in place of sipgo's
// transport and transaction layers: GOMAXPROCS readers on one socket, each
// parsing and answering its datagrams itself, and a retransmission cache
// (txCache) that plays the non-INVITE server transactions of RFC 3261
// §17.2.2. TCP stays on sipgo.
type udpServer struct {
	in     *instance
	conn   *net.UDPConn
	local  netip.AddrPort // conn's address, as the proxy names itself
	parser *sip.Parser
	cache  *txCache
	seeds  [2]maphash.Seed
	slow   chan struct{} // semaphore of the requests waiting for the host
	slowWG sync.WaitGroup
}

func newUDPServer(in *instance, conn *net.UDPConn) *udpServer {
	p := sip.NewParser(sip.WithHeadersParsers(registrarHeaderParsers()))
	p.MaxMessageLength = udpMaxMessage
	return &udpServer{
		in: in, conn: conn, local: localAddrPort(conn), parser: p,
		cache: newTxCache(txTimerJ, txGenWidth, txCacheBytes),
		seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		slow:  make(chan struct{}, udpSlowMax),
	}
}

// registrarHeaderParsers are sipgo's parsers of the headers a registrar
// reads; the others are kept unparsed as generic headers, which is cheaper
// (From too: a response only copies it, and req.From() still parses it on
// demand).
func registrarHeaderParsers() map[string]sip.HeaderParser {
	all := sip.DefaultHeadersParser()
	m := make(map[string]sip.HeaderParser)
	for _, k := range []string{"via", "v", "to", "t", "call-id", "i", "cseq", "contact", "m", "content-length", "l"} {
		if p, ok := all[k]; ok {
			m[k] = p
		}
	}
	return m
}

// serve reads and answers datagrams until the socket is closed (nil) or
// fails.
func (s *udpServer) serve() error {
	n := max(runtime.GOMAXPROCS(0), 1)
	errs := make(chan error, n)
	var readers sync.WaitGroup
	for range n {
		readers.Add(1)
		go func() {
			defer readers.Done()
			errs <- s.read(&udpWorker{s: s})
		}()
	}
	done := make(chan struct{})
	go func() { // drops the expired responses of idle shards
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				s.cache.sweep(now)
			}
		}
	}()
	readers.Wait()
	close(done)
	s.slowWG.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// close stops serve.
func (s *udpServer) close() error { return s.conn.Close() }

func (s *udpServer) read(w *udpWorker) error {
	buf := make([]byte, udpMaxMessage+1) // one more: a longer datagram shows as oversized
	for {
		n, src, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		w.handle(buf[:n], src, time.Now())
	}
}

// udpWorker is the state of one reader: reused buffers and hashes, so that
// answering allocates little beyond what parsing does.
type udpWorker struct {
	s      *udpServer
	out    byteWriter
	resend []byte
	hash   [2]maphash.Hash
	seeded bool
	// the last source seen and its strings: a phone (or a load generator)
	// sends many requests from one address
	src                    netip.AddrPort
	srcStr, portStr, ipStr string
	lastIP                 netip.Addr
}

// byteWriter is the io.StringWriter sipgo serializes into.
type byteWriter struct{ b []byte }

func (w *byteWriter) WriteString(s string) (int, error) {
	w.b = append(w.b, s...)
	return len(s), nil
}

// handle answers one datagram from src. It never panics: a panic (a bug, or
// a hostile message tripping a parser) is recovered and counted, and the
// datagram's retransmissions are dropped with it.
func (w *udpWorker) handle(data []byte, src netip.AddrPort, now time.Time) {
	s := w.s
	c := &s.in.counters
	var key txKey
	pending := false
	defer func() {
		if r := recover(); r != nil {
			n := c.panics.Add(1)
			if pending {
				s.cache.finish(key, nil, now)
			}
			if n&(n-1) == 0 { // 1, 2, 4, 8...: a flood of them is not a flood of logs
				s.in.log.Warn("SIP datagram handler recovered", "panic", r, "from", src.String(), "panics", n)
			}
		}
	}()
	switch {
	case len(data) > udpMaxMessage:
		c.oversized.Add(1)
		return
	case keepalive(data):
		c.keepalives.Add(1)
		return
	case len(data) >= 4 && string(data[:4]) == "SIP/":
		s.in.proxy.udpResponse(s, data, now) // to a request the proxy sent
		return
	case !isRegister(data):
		s.in.proxy.udpRequest(s, data, src, now) // proxy.go
		return
	}
	msg, err := s.parser.ParseSIP(data)
	if err != nil {
		c.malformed.Add(1)
		return
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		c.nonRequest.Add(1)
		return
	}
	via := req.Via()
	if via == nil || via.Host == "" {
		c.malformed.Add(1) // nowhere to answer
		return
	}
	if req.Method == sip.ACK {
		// ACK is never answered (the proxy handles ACKs: handle sends it
		// every request but REGISTER).
		c.ignored.Add(1)
		return
	}
	key = w.key(req, via)
	state, resend := s.cache.begin(key, now, w.resend[:0])
	w.resend = resend
	switch state {
	case txAnswered:
		c.retransmits.Add(1)
		if len(resend) > 0 {
			w.write(resend, w.destination(via, src))
		}
		return
	case txInFlight:
		c.inFlight.Add(1) // its client retransmits if the answer is lost
		return
	}
	pending = true
	dst := w.prepare(req, via, src)
	pending = false // from here on answer finishes the key, even on a panic
	w.answer(req, key, dst, now, false)
}

// answer processes req, caches its response under key and sends it to dst.
// Without mayWait, a request that would wait for the host is handed off
// to a goroutine of its own (handOff).
func (w *udpWorker) answer(req *sip.Request, key txKey, dst netip.AddrPort, now time.Time, mayWait bool) {
	s := w.s
	finished := false
	defer func() {
		if !finished { // a panic in dispatch: drop the retransmissions too
			s.cache.finish(key, nil, now)
		}
	}()
	res, deferred := s.dispatch(req, now, mayWait)
	if deferred {
		finished = true
		s.handOff(req, key, dst)
		return
	}
	w.out.b = w.out.b[:0]
	if res != nil {
		res.StringWrite(&w.out)
	}
	b := w.out.b
	if res != nil && res.StatusCode == 401 {
		// Challenges are stateless (RFC 3261 §8.2.7): a retransmission is
		// challenged again, with a nonce as good as the first. Keeping
		// them would double the cache a registration costs.
		s.cache.abort(key)
	} else {
		s.cache.finish(key, b, now) // copies b
	}
	finished = true
	if len(b) > 0 {
		w.write(b, dst)
	}
}

// handOff answers req on a goroutine of its own: it waits for the host.
func (s *udpServer) handOff(req *sip.Request, key txKey, dst netip.AddrPort) {
	select {
	case s.slow <- struct{}{}:
	default:
		s.in.counters.overload.Add(1)
		s.cache.abort(key)
		return
	}
	s.slowWG.Add(1)
	go func() {
		defer s.slowWG.Done()
		defer func() { <-s.slow }()
		defer func() {
			if r := recover(); r != nil {
				s.in.counters.panics.Add(1)
				s.in.log.Warn("SIP request handler recovered", "panic", r)
			}
		}()
		w := &udpWorker{s: s}
		w.answer(req, key, dst, time.Now(), true)
	}()
}

// dispatch answers a request by its method; deferred (without mayWait)
// means that answering must wait for the host. Only REGISTERs come here
// (handle sends the other requests to the proxy); the other cases are a
// fallback.
func (s *udpServer) dispatch(req *sip.Request, now time.Time, mayWait bool) (res *sip.Response, deferred bool) {
	switch req.Method {
	case sip.REGISTER:
		return s.in.registerOrDefer(req, now, mayWait)
	case sip.OPTIONS:
		return optionsResponse(req), false
	default:
		s.in.counters.notImplemented.Add(1)
		res := newResponse(req, 501, "Not Implemented")
		res.AppendHeader(sip.NewHeader("Allow", allowed))
		return res, false
	}
}

func (w *udpWorker) write(b []byte, dst netip.AddrPort) {
	if _, err := w.s.conn.WriteToUDPAddrPort(b, dst); err != nil {
		w.s.in.counters.writeErrors.Add(1)
	}
}

// key is the transaction key of req (RFC 3261 §17.2.3): the top Via's
// branch and sent-by and the method — with the Call-ID and CSeq number
// too, so that a client reusing a branch is not answered from the cache —
// and, for a branch without the RFC 3261 magic cookie, the From and To
// tags and the Request-URI as RFC 2543 matching asks.
func (w *udpWorker) key(req *sip.Request, via *sip.ViaHeader) txKey {
	if !w.seeded {
		w.hash[0].SetSeed(w.s.seeds[0])
		w.hash[1].SetSeed(w.s.seeds[1])
		w.seeded = true
	}
	branch, _ := via.Params.Get("branch")
	var callID string
	var seq uint32
	if h := req.CallID(); h != nil {
		callID = string(*h)
	}
	if h := req.CSeq(); h != nil {
		seq = h.SeqNo
	}
	var k txKey
	for i := range w.hash {
		h := &w.hash[i]
		h.Reset()
		h.WriteString(string(req.Method))
		h.WriteByte(0)
		h.WriteString(branch)
		h.WriteByte(0)
		h.WriteString(via.Host)
		h.WriteByte(0)
		writeUint(h, uint64(via.Port))
		h.WriteString(callID)
		h.WriteByte(0)
		writeUint(h, uint64(seq))
		if !strings.HasPrefix(branch, "z9hG4bK") {
			if f := req.From(); f != nil {
				t, _ := f.Params.Get("tag")
				h.WriteString(t)
			}
			h.WriteByte(0)
			if t := req.To(); t != nil {
				tag, _ := t.Params.Get("tag")
				h.WriteString(tag)
			}
			h.WriteByte(0)
			h.WriteString(req.Recipient.User)
			h.WriteByte(0)
			h.WriteString(req.Recipient.Host)
			h.WriteByte(0)
			writeUint(h, uint64(req.Recipient.Port))
		}
		k[i] = h.Sum64()
	}
	return k
}

func writeUint(h *maphash.Hash, v uint64) {
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	h.Write(b[:])
}

// prepare readies req for answering from src and returns where the
// response goes. It records the source (the registrar keeps it), marks the
// top Via as RFC 3261 §18.2.1 and RFC 3581 §4 ask — received when the
// sent-by host is not the source address (always with rport), rport set
// to the source port when the client asked for it — and gives the To a
// tag (§8.2.6.2), the same for every response to this request.
func (w *udpWorker) prepare(req *sip.Request, via *sip.ViaHeader, src netip.AddrPort) netip.AddrPort {
	if src != w.src || w.srcStr == "" {
		w.src, w.srcStr, w.portStr = src, src.String(), strconv.Itoa(int(src.Port()))
	}
	req.SetSource(w.srcStr)
	req.SetTransport("UDP")
	_, rport := via.Params.Get("rport")
	if rport {
		via.Params.Add("rport", w.portStr)
	}
	ip := src.Addr().Unmap()
	if rport || !sameHost(via.Host, ip) {
		if ip != w.lastIP || w.ipStr == "" {
			w.lastIP, w.ipStr = ip, ip.String()
		}
		via.Params.Add("received", w.ipStr)
	}
	if to := req.To(); to != nil && !to.Params.Has("tag") {
		to.Params.Add("tag", newTag())
	}
	return w.destination(via, src)
}

// destination is where a response to a request with top Via via, received
// from src, goes (RFC 3261 §18.2.2, RFC 3581 §4): the source address, and
// the source port when the Via has rport, else the sent-by port (5060 when
// absent). maddr (multicast) is not supported.
func (w *udpWorker) destination(via *sip.ViaHeader, src netip.AddrPort) netip.AddrPort {
	if via.Params.Has("rport") {
		return src
	}
	port := via.Port
	if port <= 0 || port > 65535 {
		port = 5060
	}
	return netip.AddrPortFrom(src.Addr(), uint16(port))
}

// sameHost reports whether the Via sent-by host is the address ip.
func sameHost(host string, ip netip.Addr) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap() == ip
}

// isRegister reports whether a datagram holds a REGISTER: those take the
// lean path here, the other requests go to the proxy.
func isRegister(data []byte) bool {
	for len(data) > 0 && (data[0] == '\r' || data[0] == '\n') {
		data = data[1:]
	}
	return len(data) >= 9 && string(data[:9]) == "REGISTER "
}

// keepalive reports a NAT keep-alive: a datagram of only CR, LF, space or
// NUL (RFC 5626 §3.5.1's double CRLF, and what phones send in practice).
func keepalive(data []byte) bool {
	for _, b := range data {
		if b != '\r' && b != '\n' && b != ' ' && b != 0 {
			return false
		}
	}
	return true
}
