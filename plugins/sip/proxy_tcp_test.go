package sipplugin

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// tcpPhone is a raw SIP client on one TCP connection.
type tcpPhone struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dialTCPPhone(t *testing.T, addr string) *tcpPhone {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &tcpPhone{t: t, conn: c, br: bufio.NewReader(c)}
}

func (p *tcpPhone) send(b []byte) {
	p.t.Helper()
	if _, err := p.conn.Write(b); err != nil {
		p.t.Fatal(err)
	}
}

// read returns the next message (framed by Content-Length).
func (p *tcpPhone) read() sip.Message {
	p.t.Helper()
	_ = p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	n := 0
	for {
		line, err := p.br.ReadString('\n')
		if err != nil {
			p.t.Fatalf("read: %v (so far %q)", err, b.String())
		}
		if b.Len() == 0 && strings.TrimSpace(line) == "" {
			continue
		}
		b.WriteString(line)
		if line == "\r\n" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(p.br, body); err != nil {
		p.t.Fatal(err)
	}
	m, err := sip.ParseMessage([]byte(b.String() + string(body)))
	if err != nil {
		p.t.Fatal(err)
	}
	return m
}

func (p *tcpPhone) response(code int) *sip.Response {
	p.t.Helper()
	m := p.read()
	res, ok := m.(*sip.Response)
	if !ok || res.StatusCode != code {
		p.t.Fatalf("got %q, want a %d", firstLine(m), code)
	}
	return res
}

// TestProxyTCPCancel: a caller on TCP (sipgo's transport and server
// transactions) is challenged, calls a phone on UDP and cancels while it
// rings: sipgo answers the CANCEL (200, 487) and the proxy cancels the
// branch, whose 487 it ACKs.
func TestProxyTCPCancel(t *testing.T) {
	in, _, udpAddr, tcpAddr := startDualTest(t)
	server := netip.MustParseAddrPort(udpAddr)
	a := newProxyUA(t, server, "2001", "201", "pw-2001") // registers over UDP; calls over TCP
	b := newProxyUA(t, server, "2002", "202", "pw-2002")
	a.register()
	b.register()
	tp := dialTCPPhone(t, tcpAddr)
	local := tp.conn.LocalAddr().String()
	invite := func(branch string, cseq int, extra ...string) []byte {
		h := append([]string{"Via: SIP/2.0/TCP " + local + ";branch=" + branch, "Max-Forwards: 70",
			"From: <sip:201@" + udpTestRealm + ">;tag=tcp1", "To: <sip:202@" + udpTestRealm + ">",
			"Call-ID: tcp-call", "CSeq: " + strconv.Itoa(cseq) + " INVITE", "Contact: <sip:201@" + local + ";transport=tcp>"}, extra...)
		return sipText("INVITE sip:202@"+udpTestRealm+" SIP/2.0", h, "")
	}
	tp.send(invite("z9hG4bK-t1", 1))
	tp.response(100)
	res := tp.response(407)
	tp.send(sipText("ACK sip:202@"+udpTestRealm+" SIP/2.0", []string{"Via: SIP/2.0/TCP " + local + ";branch=z9hG4bK-t1",
		"Max-Forwards: 70", "From: <sip:201@" + udpTestRealm + ">;tag=tcp1", res.To().String(), "Call-ID: tcp-call", "CSeq: 1 ACK"}, ""))
	tp.send(invite("z9hG4bK-t2", 2, "Proxy-Authorization: "+a.proxyAuth(res, "INVITE", "sip:202@"+udpTestRealm, "pw-2001")))
	tp.response(100)
	got := b.request(sip.INVITE)
	b.reply(got, 180, "Ringing", "b-tcp")
	tp.response(180)

	tp.send(sipText("CANCEL sip:202@"+udpTestRealm+" SIP/2.0", []string{"Via: SIP/2.0/TCP " + local + ";branch=z9hG4bK-t2",
		"Max-Forwards: 70", "From: <sip:201@" + udpTestRealm + ">;tag=tcp1", "To: <sip:202@" + udpTestRealm + ">",
		"Call-ID: tcp-call", "CSeq: 2 CANCEL"}, ""))
	codes := map[string]bool{}
	for range 2 {
		r := tp.read().(*sip.Response)
		codes[strconv.Itoa(r.StatusCode)+" "+string(r.CSeq().MethodName)] = true
	}
	if !codes["200 CANCEL"] || !codes["487 INVITE"] {
		t.Fatalf("caller got %v, want 200 to the CANCEL and 487 to the INVITE", codes)
	}
	c := b.request(sip.CANCEL)
	b.reply(c, 200, "OK", "")
	b.reply(got, 487, "Request Terminated", "b-tcp")
	b.request(sip.ACK)
	if n := in.proxy.c.cancelled.Load(); n != 1 {
		t.Errorf("cancelled %d, want 1", n)
	}
}

// TestProxyTCPCallerNotListening: a caller on TCP that does not listen on
// its contact (as RFC 5626 phones) still gets the callee's BYE, on the
// connection it called on.
func TestProxyTCPCallerNotListening(t *testing.T) {
	_, _, udpAddr, tcpAddr := startDualTest(t)
	server := netip.MustParseAddrPort(udpAddr)
	a := newProxyUA(t, server, "2001", "201", "pw-2001")
	b := newProxyUA(t, server, "2002", "202", "pw-2002")
	a.register()
	b.register()
	tp := dialTCPPhone(t, tcpAddr)
	local := tp.conn.LocalAddr().String()
	contact := "sip:201@127.0.0.1:9;transport=tcp" // nothing listens there
	invite := func(branch string, cseq int, extra ...string) []byte {
		h := append([]string{"Via: SIP/2.0/TCP " + local + ";branch=" + branch, "Max-Forwards: 70",
			"From: <sip:201@" + udpTestRealm + ">;tag=nl", "To: <sip:202@" + udpTestRealm + ">",
			"Call-ID: tcp-nl", "CSeq: " + strconv.Itoa(cseq) + " INVITE", "Contact: <" + contact + ">"}, extra...)
		return sipText("INVITE sip:202@"+udpTestRealm+" SIP/2.0", h, "")
	}
	tp.send(invite("z9hG4bK-nl1", 1))
	tp.response(100)
	res := tp.response(407)
	tp.send(sipText("ACK sip:202@"+udpTestRealm+" SIP/2.0", []string{"Via: SIP/2.0/TCP " + local + ";branch=z9hG4bK-nl1",
		"Max-Forwards: 70", "From: <sip:201@" + udpTestRealm + ">;tag=nl", res.To().String(), "Call-ID: tcp-nl", "CSeq: 1 ACK"}, ""))
	tp.send(invite("z9hG4bK-nl2", 2, "Proxy-Authorization: "+a.proxyAuth(res, "INVITE", "sip:202@"+udpTestRealm, "pw-2001")))
	tp.response(100)
	got := b.request(sip.INVITE)
	b.reply(got, 200, "OK", "b-nl")
	ok := tp.response(200)
	routes := recordRoutes(ok) // the caller's route set: the RRs reversed
	for i, j := 0, len(routes)-1; i < j; i, j = i+1, j-1 {
		routes[i], routes[j] = routes[j], routes[i]
	}
	if len(routes) != 2 {
		t.Fatalf("Record-Route %v: want two (TCP caller, UDP callee)", routes)
	}
	from := "<sip:201@" + udpTestRealm + ">;tag=nl"
	ack := []string{"Via: SIP/2.0/TCP " + local + ";branch=z9hG4bK-nlack", "Max-Forwards: 70", "From: " + from,
		"To: " + ok.To().Value(), "Call-ID: tcp-nl", "CSeq: 2 ACK"}
	for _, r := range routes {
		ack = append(ack, "Route: "+r)
	}
	tp.send(sipText("ACK "+ok.Contact().Address.String()+" SIP/2.0", ack, ""))
	b.request(sip.ACK)

	// Another client on TCP names the caller's contact in requests the
	// proxy does not admit (unauthenticated; in-dialog with a forged
	// Route): its connection must not take the caller's in-dialog requests.
	evil := dialTCPPhone(t, tcpAddr)
	evilLocal := evil.conn.LocalAddr().String()
	evil.send(sipText("INVITE sip:202@"+udpTestRealm+" SIP/2.0", []string{"Via: SIP/2.0/TCP " + evilLocal + ";branch=z9hG4bK-evil1",
		"Max-Forwards: 70", "From: <sip:666@" + udpTestRealm + ">;tag=evil", "To: <sip:202@" + udpTestRealm + ">",
		"Call-ID: tcp-evil", "CSeq: 1 INVITE", "Contact: <" + contact + ">"}, ""))
	evil.response(100)
	evil.response(407)
	evil.send(sipText("BYE sip:202@"+udpTestRealm+" SIP/2.0", []string{"Via: SIP/2.0/TCP " + evilLocal + ";branch=z9hG4bK-evil2",
		"Max-Forwards: 70", "From: <sip:666@" + udpTestRealm + ">;tag=evil", "To: <sip:202@" + udpTestRealm + ">;tag=x",
		"Call-ID: tcp-evil2", "CSeq: 2 BYE", "Contact: <" + contact + ">", "Route: <sip:" + tcpAddr + ";transport=tcp;lr>"}, ""))
	evil.response(403)

	// The callee hangs up: its route set is the RRs in order.
	b.send(b.inDialog("BYE", contact, recordRoutes(got), ok.To().Value(), from, "tcp-nl", 1, "z9hG4bK-nlbye"))
	m := tp.read()
	bye, isReq := m.(*sip.Request)
	if !isReq || bye.Method != sip.BYE {
		t.Fatalf("caller got %q, want the BYE", firstLine(m))
	}
	r := sip.NewResponseFromRequest(bye, 200, "OK", nil)
	tp.send([]byte(r.String()))
	b.response(200)
}
