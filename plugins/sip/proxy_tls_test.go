package sipplugin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/rallyvoip/rally/plugins/sdk"
)

// Calls between a phone on TLS and one on UDP. SIPp here has no TLS: the
// TLS phone is a sipgo user agent (client and server on one transport
// layer) with a client TLS config trusting the test CA, as a phone
// trusting the federation's root CA.

// startUDPTLSTest configures a plugin listening on UDP and TLS (free
// ports of 127.0.0.1) with a site certificate from ca.
func startUDPTLSTest(t *testing.T, ca *testCA) (*instance, *udpTestHost, netip.AddrPort, string) {
	t.Helper()
	certPEM, keyPEM := ca.site(t, udpTestSite)
	host := &udpTestHost{}
	p := New(nil)
	eps, err := p.Configure(context.Background(), sdk.Config{Site: udpTestSite, SIPDomain: udpTestRealm,
		ConfigJSON: []byte(`{"listen":["udp://127.0.0.1:0","tls://127.0.0.1:0"]}`),
		TLSCertPEM: certPEM, TLSKeyPEM: keyPEM, CACertPEM: ca.pem}, host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	in := p.running
	select {
	case <-in.view.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("admission view not ready")
	}
	return in, host, netip.MustParseAddrPort(strings.TrimPrefix(eps[0], "sip:udp://")), strings.TrimPrefix(eps[1], "sip:tls://")
}

// tlsPhone is a phone on TLS. It answers what it gets by itself: 180 and
// 200 to an INVITE, 200 to a BYE; every request it gets is handed to the
// test on got.
type tlsPhone struct {
	t            *testing.T
	id, user, pw string
	server       string  // the plugin's TLS listener
	contact      sip.Uri // where nothing listens: the phone is reached on its own connection
	ua           *sipgo.UserAgent
	client       *sipgo.Client
	got          chan *sip.Request
}

func newTLSPhone(t *testing.T, roots *x509.CertPool, server, id, user, pw string, contact sip.Uri) *tlsPhone {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("sipgo-tls-phone"), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgenTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ua.Close() })
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	ph := &tlsPhone{t: t, id: id, user: user, pw: pw, server: server, contact: contact, ua: ua, client: client,
		got: make(chan *sip.Request, 16)}
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		ph.got <- req.Clone()
		req.To().Params.Add("tag", "tls-"+id)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 180, "Ringing", nil))
		// It rings a moment (sipgo hands each response it reads to a
		// goroutine of its own: a 200 right behind the 180 may overtake it).
		time.Sleep(100 * time.Millisecond)
		ok := sip.NewResponseFromRequest(req, 200, "OK", nil)
		ok.AppendHeader(&sip.ContactHeader{Address: contact})
		_ = tx.Respond(ok)
	})
	srv.OnAck(func(req *sip.Request, _ sip.ServerTransaction) { ph.got <- req.Clone() })
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		ph.got <- req.Clone()
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	return ph
}

func (ph *tlsPhone) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	ph.t.Cleanup(cancel)
	return ctx
}

// newRequest is a request of the phone's to the proxy over TLS.
func (ph *tlsPhone) newRequest(method sip.RequestMethod, uri sip.Uri) *sip.Request {
	req := sip.NewRequest(method, uri)
	req.SetTransport("TLS")
	req.SetDestination(ph.server)
	return req
}

// register registers the phone (digest) over its TLS connection.
func (ph *tlsPhone) register() {
	ph.t.Helper()
	h, p, _ := net.SplitHostPort(ph.server)
	port, _ := strconv.Atoi(p)
	req := ph.newRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: h, Port: port})
	aor := sip.Uri{Scheme: "sip", User: ph.user, Host: udpTestRealm}
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: sip.HeaderParams{{K: "tag", V: "r" + ph.id}}})
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(&sip.ContactHeader{Address: ph.contact})
	req.AppendHeader(sip.NewHeader("Expires", "300"))
	ctx := ph.ctx()
	res, err := ph.client.Do(ctx, req, sipgo.ClientRequestRegisterBuild)
	if err != nil || res.StatusCode != 401 {
		ph.t.Fatalf("REGISTER: %v %v, want a 401 challenge", res, err)
	}
	if res, err = ph.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: ph.id, Password: ph.pw}); err != nil || res.StatusCode != 200 {
		ph.t.Fatalf("REGISTER with credentials: %v %v, want 200", res, err)
	}
}

// call places a call to user: INVITE, its 407 (sipgo ACKs it), the INVITE
// with credentials; it returns the INVITE and the 200.
func (ph *tlsPhone) call(user, callID string) (*sip.Request, *sip.Response) {
	ph.t.Helper()
	req := ph.newRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: user, Host: udpTestRealm})
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: ph.user, Host: udpTestRealm},
		Params: sip.HeaderParams{{K: "tag", V: "a-" + callID}}})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: udpTestRealm}})
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	req.AppendHeader(&sip.ContactHeader{Address: ph.contact})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\n"))
	ctx := ph.ctx()
	res, err := ph.client.Do(ctx, req)
	if err != nil || res.StatusCode != 407 {
		ph.t.Fatalf("INVITE: %v %v, want a 407 challenge", res, err)
	}
	res, err = ph.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: ph.id, Password: ph.pw})
	if err != nil || res.StatusCode != 200 {
		ph.t.Fatalf("INVITE with credentials: %v %v, want 200", res, err)
	}
	return req, res
}

// inDialog sends a request within a dialog: to target through routes
// (the route set). An ACK is sent as it is; another request's final
// response comes on the channel returned (nil when none came).
func (ph *tlsPhone) inDialog(method sip.RequestMethod, target sip.Uri, routes []string, from *sip.FromHeader, to *sip.ToHeader,
	callID string, cseq uint32) <-chan *sip.Response {
	ph.t.Helper()
	req := ph.newRequest(method, target)
	for _, r := range routes {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	req.AppendHeader(from)
	req.AppendHeader(to)
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
	if method == sip.ACK {
		if err := ph.client.WriteRequest(req); err != nil {
			ph.t.Fatal(err)
		}
		return nil
	}
	out := make(chan *sip.Response, 1)
	ctx := ph.ctx()
	go func() {
		res, err := ph.client.Do(ctx, req)
		if err != nil {
			res = nil
		}
		out <- res
	}()
	return out
}

// request returns the next request the phone got, checking its method.
func (ph *tlsPhone) request(method sip.RequestMethod) *sip.Request {
	ph.t.Helper()
	select {
	case req := <-ph.got:
		if req.Method != method {
			ph.t.Fatalf("TLS phone got a %s, want a %s", req.Method, method)
		}
		return req
	case <-time.After(5 * time.Second):
		ph.t.Fatalf("TLS phone got no %s", method)
		return nil
	}
}

// TestProxyTLSCall: calls between a phone registered over TLS (2001, user
// 201) and one on UDP (2002, user 202), both ways, through the proxy. The
// TLS phone's contact names a port where nothing listens — with
// transport=tls, and without (its registration's transport says TLS) —
// so it is reached only on the connection it registered on. Each call is
// challenged, answered, ACKed and hung up through the Record-Route (two:
// the transport changes, RFC 5658), with both phones busy from the 200 to
// the BYE.
func TestProxyTLSCall(t *testing.T) {
	ca := newTestCA(t, "rally test root")
	for _, tc := range []struct {
		name      string
		tlsCalls  bool
		contactTp bool // the TLS phone's contact says transport=tls
	}{
		{"UDP phone calls TLS phone, contact with transport=tls", false, true},
		{"UDP phone calls TLS phone, plain sip: contact", false, false},
		{"TLS phone calls UDP phone, contact with transport=tls", true, true},
		{"TLS phone calls UDP phone, plain sip: contact", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, host, udpAddr, tlsAddr := startUDPTLSTest(t, ca)
			contact := sip.Uri{Scheme: "sip", User: "201", Host: "127.0.0.1", Port: 9}
			if tc.contactTp {
				contact.UriParams = sip.HeaderParams{{K: "transport", V: "tls"}}
			}
			ph := newTLSPhone(t, ca.pool(), tlsAddr, "2001", "201", "pw-2001", contact)
			ph.register()
			u := newProxyUA(t, udpAddr, "2002", "202", "pw-2002")
			u.register()

			tlsSelf := "<sip:" + tlsAddr + ";transport=tls;lr>"
			udpSelf := "<sip:" + udpAddr.String() + ";lr>"
			callID := "tls-call-" + strconv.FormatBool(tc.tlsCalls) + strconv.FormatBool(tc.contactTp)
			busy := func(want bool) func() bool {
				return func() bool {
					a, _ := host.busy("2001")
					b, _ := host.busy("2002")
					return a == want && b == want && in.proxy.calls.busy("2001") == want && in.proxy.calls.busy("2002") == want
				}
			}
			if tc.tlsCalls {
				type result struct {
					inv *sip.Request
					ok  *sip.Response
				}
				done := make(chan result, 1)
				go func() { inv, ok := ph.call("202", callID); done <- result{inv, ok} }()
				got := u.request(sip.INVITE)
				checkHop(t, got, "SIP/2.0/UDP "+udpAddr.String(), []string{udpSelf, tlsSelf})
				u.reply(got, 180, "Ringing", "b-"+callID)
				u.reply(got, 200, "OK", "b-"+callID)
				r := <-done
				rr := recordRoutes(r.ok)
				if len(rr) != 2 || stripMAC(rr[0]) != udpSelf || stripMAC(rr[1]) != tlsSelf {
					t.Fatalf("the caller's 200 has Record-Route %v", rr)
				}
				waitFor(t, "both phones reported busy", busy(true))
				// The caller's route set: the Record-Routes reversed.
				ph.inDialog(sip.ACK, r.ok.Contact().Address, []string{rr[1], rr[0]}, r.inv.From(), r.ok.To(), callID, 2)
				u.request(sip.ACK)
				// The callee hangs up: to the caller's contact, over TLS.
				u.send(u.inDialog("BYE", contact.String(), recordRoutes(got), r.ok.To().Value(), r.inv.From().Value(), callID, 1, "z9hG4bK-tlsbye"))
				bye := ph.request(sip.BYE)
				checkHop(t, bye, "SIP/2.0/TLS "+tlsAddr, nil)
				u.response(200)
			} else {
				u.authedInvite("201", callID)
				got := ph.request(sip.INVITE)
				checkHop(t, got, "SIP/2.0/TLS "+tlsAddr, []string{tlsSelf, udpSelf})
				if got.Recipient.String() != contact.String() {
					t.Errorf("Request-URI %s, want the contact %s", got.Recipient.String(), contact.String())
				}
				u.response(180)
				ok := u.response(200)
				waitFor(t, "both phones reported busy", busy(true))
				from := "<sip:202@" + udpTestRealm + ">;tag=a-" + callID
				rr := recordRoutes(ok) // the caller's route set: reversed
				u.send(u.inDialog("ACK", ok.Contact().Address.String(), []string{rr[1], rr[0]}, from, ok.To().Value(), callID, 2, "z9hG4bK-tlsack"))
				ack := ph.request(sip.ACK)
				checkHop(t, ack, "SIP/2.0/TLS "+tlsAddr, nil)
				// The callee (on TLS) hangs up: its route set is the
				// Record-Routes in order.
				res := ph.inDialog(sip.BYE, sip.Uri{Scheme: "sip", User: "202", Host: "127.0.0.1", Port: int(u.local().Port())},
					recordRoutes(got), &sip.FromHeader{Address: got.To().Address, Params: sip.HeaderParams{{K: "tag", V: "tls-2001"}}},
					&sip.ToHeader{Address: got.From().Address, Params: got.From().Params}, callID, 1)
				b := u.request(sip.BYE)
				checkHop(t, b, "SIP/2.0/UDP "+udpAddr.String(), nil)
				u.reply(b, 200, "OK", "")
				if res := <-res; res == nil || res.StatusCode != 200 {
					t.Fatalf("the TLS phone's BYE got %v, want a 200", res)
				}
			}
			waitFor(t, "both phones reported idle", busy(false))
			if n := in.proxy.c.proxied.Load(); n != 3 {
				t.Errorf("proxied %d requests, want 3 (INVITE, ACK, BYE)", n)
			}
		})
	}
}

// checkHop checks that req came through the proxy: its top Via is the
// proxy's (via, with a branch of the proxy's), and its Record-Route is rr
// (nil: not checked).
func checkHop(t *testing.T, req *sip.Request, via string, rr []string) {
	t.Helper()
	vias := req.GetHeaders("Via")
	if len(vias) < 2 || !strings.HasPrefix(vias[0].Value(), via+";") {
		t.Errorf("%s: Vias %v, want the proxy's %s on top", req.Method, vias, via)
	} else if !strings.Contains(vias[0].Value(), "branch="+branchPrefix) {
		t.Errorf("%s: top Via %s is not the proxy's", req.Method, vias[0].Value())
	}
	if rr == nil {
		return
	}
	if got := recordRoutes(req); stripMAC(strings.Join(got, ",")) != strings.Join(rr, ",") {
		t.Errorf("%s: Record-Route %v, want %v", req.Method, got, rr)
	}
}

// TestProxyTLSDial: a phone registered over TLS whose connection is gone
// is dialled at its contact (transport=tls), and only if its certificate
// chains to the federation's root CA: one from the test CA gets the
// INVITE (and answers 486), one from another CA is not dialled (480).
func TestProxyTLSDial(t *testing.T) {
	ca := newTestCA(t, "rally test root")
	for _, tc := range []struct {
		name   string
		phone  *testCA
		invite bool
		want   int
	}{
		{"certificate from the federation's CA", ca, true, 486},
		{"certificate from another CA", newTestCA(t, "another root"), false, 480},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, _, udpAddr, tlsAddr := startUDPTLSTest(t, ca)
			// The phone listens for TLS at its contact, with a certificate
			// for 127.0.0.1.
			certPEM, keyPEM := tc.phone.site(t, "phone")
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			tl := tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
			ua, err := sipgo.NewUA(sipgo.WithUserAgent("sipgo-tls-phone"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ua.Close(); _ = tl.Close() })
			srv, err := sipgo.NewServer(ua)
			if err != nil {
				t.Fatal(err)
			}
			got := make(chan *sip.Request, 4)
			srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
				got <- req.Clone()
				_ = tx.Respond(sip.NewResponseFromRequest(req, 486, "Busy Here", nil))
			})
			go func() { _ = srv.ServeTLS(tl) }()
			ap := l.Addr().(*net.TCPAddr).AddrPort()
			contact := sip.Uri{Scheme: "sip", User: "201", Host: "127.0.0.1", Port: int(ap.Port()),
				UriParams: sip.HeaderParams{{K: "transport", V: "tls"}}}

			// It registers, then its connection goes.
			ph := newTLSPhone(t, ca.pool(), tlsAddr, "2001", "201", "pw-2001", contact)
			ph.register()
			_ = ph.ua.Close()
			waitFor(t, "the proxy saw the phone's connection close", func() bool {
				return in.srv.TransportLayer().Pool("tls").Size() == 0
			})
			u := newProxyUA(t, udpAddr, "2002", "202", "pw-2002")
			u.register()
			u.authedInvite("201", "tls-dial")
			res := u.read(10 * time.Second)
			if r, ok := res.(*sip.Response); !ok || r.StatusCode != tc.want {
				t.Fatalf("caller got %q, want a %d", firstLine(res), tc.want)
			}
			select {
			case req := <-got:
				if !tc.invite {
					t.Fatalf("the phone with another CA's certificate got %s", req.Method)
				}
				checkHop(t, req, "SIP/2.0/TLS "+tlsAddr, []string{"<sip:" + tlsAddr + ";transport=tls;lr>", "<sip:" + udpAddr.String() + ";lr>"})
			default:
				if tc.invite {
					t.Fatal("the phone got no INVITE")
				}
			}
			if n := in.reg.PhoneCount("2001"); n != 1 {
				t.Fatalf("registrar holds %d bindings of 2001, want 1", n)
			}
		})
	}
}

// TestProxyTransportChoice: how a branch's transport and address are
// chosen from a binding (contact, registration transport, source) and,
// within a dialog, from the Route or Request-URI and the last Route of
// the proxy's popped.
func TestProxyTransportChoice(t *testing.T) {
	bindings := []struct {
		name, contact, transport, source string
		ok                               bool
		wantTp, wantDst, wantAlt         string
	}{
		{"udp", "sip:201@127.0.0.1:5070", "udp", "127.0.0.1:40000", true, "", "127.0.0.1:40000", "127.0.0.1:5070"},
		{"tcp contact", "sip:201@127.0.0.1:5070;transport=tcp", "tcp", "127.0.0.1:40000", true, "tcp", "127.0.0.1:40000", "127.0.0.1:5070"},
		{"tls contact", "sip:201@127.0.0.1:5071;transport=tls", "tls", "127.0.0.1:40000", true, "tls", "127.0.0.1:40000", "127.0.0.1:5071"},
		{"plain contact registered over tls", "sip:201@127.0.0.1", "tls", "127.0.0.1:40000", true, "tls", "127.0.0.1:40000", "127.0.0.1:5061"},
		{"sips contact", "sips:201@127.0.0.1", "tls", "", true, "tls", "127.0.0.1:5061", "127.0.0.1:5061"},
		{"tls contact registered over udp", "sip:201@127.0.0.1:5071;transport=TLS", "udp", "127.0.0.1:40000", true, "tls", "127.0.0.1:40000", "127.0.0.1:5071"},
		{"sctp", "sip:201@127.0.0.1;transport=sctp", "sctp", "", false, "", "", ""},
	}
	for _, tt := range bindings {
		t.Run("binding "+tt.name, func(t *testing.T) {
			tg, ok := bindingTarget(tt.contact, tt.transport, tt.source)
			if ok != tt.ok {
				t.Fatalf("ok %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if tg.transport != tt.wantTp || tg.dst.String() != tt.wantDst || tg.alt.String() != tt.wantAlt {
				t.Fatalf("transport %q dst %s alt %s, want %q %s %s", tg.transport, tg.dst, tg.alt, tt.wantTp, tt.wantDst, tt.wantAlt)
			}
		})
	}
	hops := []struct {
		name, uri, route, hopTp string
		ok                      bool
		wantTp, wantDst         string
	}{
		{"request-uri, udp side", "sip:201@127.0.0.1:5070", "", "", true, "", "127.0.0.1:5070"},
		{"request-uri, tls side", "sip:201@127.0.0.1:9", "", "tls", true, "tls", "127.0.0.1:9"},
		{"request-uri names its transport", "sip:201@127.0.0.1:9;transport=tcp", "", "tls", true, "tcp", "127.0.0.1:9"},
		{"sips request-uri", "sips:201@127.0.0.1", "", "", true, "tls", "127.0.0.1:5061"},
		{"next route decides", "sip:201@127.0.0.1:9", "<sip:127.0.0.2:5060;lr>", "tls", true, "", "127.0.0.2:5060"},
		{"next route on tls", "sip:201@127.0.0.1:9", "<sip:127.0.0.2;transport=tls;lr>", "", true, "tls", "127.0.0.2:5061"},
		{"unknown transport", "sip:201@127.0.0.1:9;transport=sctp", "", "", false, "", ""},
	}
	for _, tt := range hops {
		t.Run("next hop "+tt.name, func(t *testing.T) {
			var u sip.Uri
			if err := sip.ParseUri(tt.uri, &u); err != nil {
				t.Fatal(err)
			}
			req := sip.NewRequest(sip.BYE, u)
			if tt.route != "" {
				req.AppendHeader(sip.NewHeader("Route", tt.route))
				req = reparse(t, req)
			}
			tg, ok := nextHop(req, tt.hopTp)
			if ok != tt.ok {
				t.Fatalf("ok %v, want %v", ok, tt.ok)
			}
			if ok && (tg.transport != tt.wantTp || tg.dst.String() != tt.wantDst) {
				t.Fatalf("transport %q dst %s, want %q %s", tg.transport, tg.dst, tt.wantTp, tt.wantDst)
			}
		})
	}
}

// reparse parses req's text again (its generic headers become typed).
func reparse(t *testing.T, req *sip.Request) *sip.Request {
	t.Helper()
	m, err := sip.ParseMessage([]byte(req.String()))
	if err != nil {
		t.Fatal(err)
	}
	r, ok := m.(*sip.Request)
	if !ok {
		t.Fatalf("not a request: %s", m)
	}
	return r
}

// TestProxyTLSToTLS: a call between two phones on TLS, each reached on its
// own connection: one Record-Route (transport=tls), the caller's ACK and
// BYE through it, busy then idle.
func TestProxyTLSToTLS(t *testing.T) {
	ca := newTestCA(t, "rally test root")
	in, host, _, tlsAddr := startUDPTLSTest(t, ca)
	callee := newTLSPhone(t, ca.pool(), tlsAddr, "2001", "201", "pw-2001",
		sip.Uri{Scheme: "sip", User: "201", Host: "127.0.0.1", Port: 9, UriParams: sip.HeaderParams{{K: "transport", V: "tls"}}})
	caller := newTLSPhone(t, ca.pool(), tlsAddr, "2002", "202", "pw-2002",
		sip.Uri{Scheme: "sip", User: "202", Host: "127.0.0.1", Port: 19, UriParams: sip.HeaderParams{{K: "transport", V: "tls"}}})
	callee.register()
	caller.register()
	inv, ok := caller.call("201", "tls-tls")
	got := callee.request(sip.INVITE)
	tlsSelf := "<sip:" + tlsAddr + ";transport=tls;lr>"
	checkHop(t, got, "SIP/2.0/TLS "+tlsAddr, []string{tlsSelf})
	waitFor(t, "both phones reported busy", func() bool {
		a, _ := host.busy("2001")
		b, _ := host.busy("2002")
		return a && b
	})
	caller.inDialog(sip.ACK, ok.Contact().Address, recordRoutes(ok), inv.From(), ok.To(), "tls-tls", 2)
	checkHop(t, callee.request(sip.ACK), "SIP/2.0/TLS "+tlsAddr, nil)
	res := caller.inDialog(sip.BYE, ok.Contact().Address, recordRoutes(ok), inv.From(), ok.To(), "tls-tls", 3)
	checkHop(t, callee.request(sip.BYE), "SIP/2.0/TLS "+tlsAddr, nil)
	if r := <-res; r == nil || r.StatusCode != 200 {
		t.Fatalf("the caller's BYE got %v, want a 200", r)
	}
	waitFor(t, "both phones reported idle", func() bool {
		a, _ := host.busy("2001")
		b, _ := host.busy("2002")
		return !a && !b && in.proxy.calls.count() == 0
	})
}
