package sipplugin

import (
	"fmt"
	"net/netip"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/rallyvoip/rally/plugins/sdk/admission"
	"github.com/rallyvoip/rally/plugins/sip/digest"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// The proxy is tested with raw SIP user agents on real loopback UDP
// sockets (the phones), against a plugin with the fake host of
// udp_test.go: phones 2001 (user 201) and 2002 (user 202).

// proxyUA is a phone: a UDP socket that writes and reads SIP text.
type proxyUA struct {
	*udpPeer
	t            *testing.T
	id, user, pw string
	// private, if set, is the address its contact names instead of its
	// socket's (a phone behind NAT).
	private string
}

func newProxyUA(t *testing.T, server netip.AddrPort, id, user, pw string) *proxyUA {
	return &proxyUA{udpPeer: newUDPPeer(t, server), t: t, id: id, user: user, pw: pw}
}

func (u *proxyUA) contact() string {
	if u.private != "" {
		return "sip:" + u.user + "@" + u.private
	}
	return "sip:" + u.user + "@" + u.local().String()
}

// sipText builds a message: start line, headers, body (Content-Length
// added).
func sipText(start string, headers []string, body string) []byte {
	var b strings.Builder
	b.WriteString(start + "\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return []byte(b.String())
}

// read returns the next message, failing after wait.
func (u *proxyUA) read(wait time.Duration) sip.Message {
	u.t.Helper()
	b := u.recv(wait)
	if b == nil {
		u.t.Fatalf("%s: nothing received", u.id)
	}
	m, err := sip.ParseMessage(b)
	if err != nil {
		u.t.Fatalf("%s: unparsable %q: %v", u.id, b, err)
	}
	return m
}

// response reads the next message and checks it is a response with code.
func (u *proxyUA) response(code int) *sip.Response {
	u.t.Helper()
	m := u.read(5 * time.Second)
	res, ok := m.(*sip.Response)
	if !ok || res.StatusCode != code {
		u.t.Fatalf("%s: got %q, want a %d", u.id, firstLine(m), code)
	}
	return res
}

// request reads the next message and checks it is a method request.
func (u *proxyUA) request(method sip.RequestMethod) *sip.Request {
	u.t.Helper()
	m := u.read(5 * time.Second)
	req, ok := m.(*sip.Request)
	if !ok || req.Method != method {
		u.t.Fatalf("%s: got %q, want a %s", u.id, firstLine(m), method)
	}
	return req
}

// quiet checks that nothing arrives for wait.
func (u *proxyUA) quiet(wait time.Duration) {
	u.t.Helper()
	if b := u.recv(wait); b != nil {
		u.t.Fatalf("%s: unexpected %q", u.id, b)
	}
}

// register registers the phone's socket address as its contact.
func (u *proxyUA) register() {
	u.t.Helper()
	reg := func(cseq int, auth string) []byte {
		h := []string{"Via: SIP/2.0/UDP " + u.local().String() + ";rport;branch=z9hG4bK-r" + u.id + strconv.Itoa(cseq),
			"Max-Forwards: 70", "From: <sip:" + u.user + "@" + udpTestRealm + ">;tag=r" + u.id,
			"To: <sip:" + u.user + "@" + udpTestRealm + ">", "Call-ID: reg-" + u.id + "-" + u.local().String(),
			"CSeq: " + strconv.Itoa(cseq) + " REGISTER", "Contact: <" + u.contact() + ">", "Expires: 300"}
		if auth != "" {
			h = append(h, "Authorization: "+auth)
		}
		return sipText("REGISTER sip:"+udpTestRealm+" SIP/2.0", h, "")
	}
	u.send(reg(1, ""))
	res := u.response(401)
	u.send(reg(2, authorization(u.t, res, u.id, u.pw)))
	u.response(200)
}

// proxyAuth answers the 407 of a request (method, uri) for the phone.
func (u *proxyUA) proxyAuth(res *sip.Response, method, uri, password string) string {
	u.t.Helper()
	h := res.GetHeader("Proxy-Authenticate")
	if h == nil {
		u.t.Fatalf("407 without Proxy-Authenticate: %s", res)
	}
	m := nonceRE.FindStringSubmatch(h.Value())
	if m == nil {
		u.t.Fatalf("no nonce in %q", h.Value())
	}
	c := digest.Credentials{Username: u.id, Realm: udpTestRealm, Nonce: m[1], URI: uri,
		Algorithm: digest.MD5, CNonce: "c0ffee", QOP: digest.QOPAuth, NC: 1}
	r, err := digest.ExpectedResponse(c, method, digest.HA1(digest.MD5, u.id, udpTestRealm, password))
	if err != nil {
		u.t.Fatal(err)
	}
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, cnonce="c0ffee", qop=auth, nc=00000001`,
		u.id, udpTestRealm, m[1], uri, r)
}

// invite is an INVITE from the phone to user (an extension).
func (u *proxyUA) invite(to, callID, branch string, cseq int, extra ...string) []byte {
	h := append([]string{"Via: SIP/2.0/UDP " + u.local().String() + ";rport;branch=" + branch, "Max-Forwards: 70",
		"From: <sip:" + u.user + "@" + udpTestRealm + ">;tag=a-" + callID, "To: <sip:" + to + "@" + udpTestRealm + ">",
		"Call-ID: " + callID, "CSeq: " + strconv.Itoa(cseq) + " INVITE", "Contact: <" + u.contact() + ">",
		"Content-Type: application/sdp"}, extra...)
	return sipText("INVITE sip:"+to+"@"+udpTestRealm+" SIP/2.0", h, "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")
}

// authedInvite sends an INVITE, answers its 407 (and ACKs it), sends it
// again with credentials and returns that second INVITE's bytes after its
// 100 Trying.
func (u *proxyUA) authedInvite(to, callID string) []byte {
	u.t.Helper()
	u.send(u.invite(to, callID, "z9hG4bK-i1"+callID, 1))
	u.response(100)
	res := u.response(407)
	u.send(sipText("ACK sip:"+to+"@"+udpTestRealm+" SIP/2.0", []string{
		"Via: SIP/2.0/UDP " + u.local().String() + ";rport;branch=z9hG4bK-i1" + callID, "Max-Forwards: 70",
		"From: <sip:" + u.user + "@" + udpTestRealm + ">;tag=a-" + callID, res.To().String(),
		"Call-ID: " + callID, "CSeq: 1 ACK"}, ""))
	inv := u.invite(to, callID, "z9hG4bK-i2"+callID, 2,
		"Proxy-Authorization: "+u.proxyAuth(res, "INVITE", "sip:"+to+"@"+udpTestRealm, u.pw))
	u.send(inv)
	u.response(100)
	return inv
}

// reply answers a request received, from the phone, with its To tag.
func (u *proxyUA) reply(req *sip.Request, code int, reason, tag string) {
	u.t.Helper()
	if tag != "" && !req.To().Params.Has("tag") {
		req.To().Params.Add("tag", tag)
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if code >= 200 && code < 300 && req.Method == sip.INVITE {
		var contact sip.Uri
		if err := sip.ParseUri(u.contact(), &contact); err != nil {
			u.t.Fatal(err)
		}
		res.AppendHeader(&sip.ContactHeader{Address: contact})
	}
	u.send([]byte(res.String()))
}

// inDialog is a request within the dialog of a call: to the remote target
// through the route set (the Record-Route of the proxy).
func (u *proxyUA) inDialog(method, target string, routes []string, from, to, callID string, cseq int, branch string) []byte {
	h := []string{"Via: SIP/2.0/UDP " + u.local().String() + ";rport;branch=" + branch, "Max-Forwards: 70",
		"From: " + from, "To: " + to, "Call-ID: " + callID, "CSeq: " + strconv.Itoa(cseq) + " " + method}
	for _, r := range routes {
		h = append(h, "Route: "+r)
	}
	return sipText(method+" "+target+" SIP/2.0", h, "")
}

// routeMACParam matches the MAC of the proxy's Record-Routes (routeMAC).
var routeMACParam = regexp.MustCompile(";" + routeParam + "=[0-9a-f]{24}")

// stripMAC is s without the MACs of the proxy's Record-Routes.
func stripMAC(s string) string { return routeMACParam.ReplaceAllString(s, "") }

func recordRoutes(m interface{ GetHeaders(string) []sip.Header }) []string {
	var out []string
	for _, h := range m.GetHeaders("Record-Route") {
		out = append(out, h.Value())
	}
	return out
}

func startProxyTest(t *testing.T) (*instance, *udpTestHost, netip.AddrPort, *proxyUA, *proxyUA) {
	in, host, addr := startUDPTest(t)
	a := newProxyUA(t, addr, "2001", "201", "pw-2001")
	b := newProxyUA(t, addr, "2002", "202", "pw-2002")
	a.register()
	b.register()
	return in, host, addr, a, b
}

// TestProxyCall: a call from 201 to 202 through the proxy — 407 and its
// ACK, 100 Trying, the INVITE forwarded with Record-Route, Via and
// Max-Forwards, 180 and 200 relayed, a retransmitted INVITE absorbed, a
// retransmitted 200 passed, the ACK and the BYE routed by Route — with the
// phones busy from the 200 to the BYE.
func TestProxyCall(t *testing.T) {
	in, host, addr, a, b := startProxyTest(t)
	inv := a.authedInvite("202", "call1")

	got := b.request(sip.INVITE)
	if got.Recipient.Host != "127.0.0.1" || got.Recipient.Port != int(b.local().Port()) {
		t.Errorf("Request-URI %s, want the registered contact %s", got.Recipient.String(), b.contact())
	}
	rr := recordRoutes(got)
	self := "<sip:" + addr.String() + ";lr>"
	if len(rr) != 1 || stripMAC(rr[0]) != self {
		t.Fatalf("Record-Route %v, want [%s] with a MAC", rr, self)
	}
	if !strings.Contains(rr[0], ";"+routeParam+"=") {
		t.Errorf("Record-Route %s without a MAC", rr[0])
	}
	self = rr[0] // the route set as the phones keep it
	vias := got.GetHeaders("Via")
	if len(vias) != 2 || !strings.Contains(vias[0].Value(), addr.String()) || !strings.Contains(vias[0].Value(), "branch="+branchPrefix) {
		t.Errorf("Vias %v", vias)
	}
	if !strings.Contains(vias[1].Value(), "received=127.0.0.1") || !strings.Contains(vias[1].Value(), "rport="+strconv.Itoa(int(a.local().Port()))) {
		t.Errorf("the caller's Via not marked: %s", vias[1].Value())
	}
	if mf := got.MaxForwards(); mf == nil || mf.Val() != 69 {
		t.Errorf("Max-Forwards %v, want 69", mf)
	}
	if got.GetHeader("Proxy-Authorization") != nil {
		t.Error("the proxy's credentials forwarded")
	}
	if len(got.Body()) == 0 {
		t.Error("SDP lost")
	}

	b.reply(got, 180, "Ringing", "b-call1")
	if res := a.response(180); len(res.GetHeaders("Via")) != 1 {
		t.Errorf("180 with the proxy's Via: %s", res)
	}
	a.send(inv) // a retransmission: the 180 again, nothing to the callee
	a.response(180)
	b.quiet(200 * time.Millisecond)

	b.reply(got, 200, "OK", "b-call1")
	ok := a.response(200)
	if rr := recordRoutes(ok); len(rr) != 1 || rr[0] != self {
		t.Errorf("200 Record-Route %v", rr)
	}
	b.reply(got, 200, "OK", "b-call1") // the callee retransmits its 200 until the ACK
	a.response(200)
	a.send(inv) // absorbed after a 2xx: no answer
	a.quiet(200 * time.Millisecond)
	b.quiet(10 * time.Millisecond)

	waitFor(t, "both phones reported busy", func() bool {
		ab, _ := host.busy("2001")
		bb, _ := host.busy("2002")
		return ab && bb && in.proxy.calls.busy("2001") && in.proxy.calls.busy("2002")
	})

	target := ok.Contact().Address.String()
	from := "<sip:201@" + udpTestRealm + ">;tag=a-call1"
	to := ok.To().Value()
	a.send(a.inDialog("ACK", target, []string{self}, from, to, "call1", 2, "z9hG4bK-ack1"))
	ack := b.request(sip.ACK)
	if ack.Route() != nil || len(ack.GetHeaders("Via")) != 2 {
		t.Errorf("ACK not routed: %s", ack)
	}

	// The callee hangs up: its BYE goes to the caller's contact through
	// the proxy.
	b.send(b.inDialog("BYE", a.contact(), []string{self}, to, from, "call1", 1, "z9hG4bK-bye1"))
	bye := a.request(sip.BYE)
	if bye.Recipient.String() != a.contact() {
		t.Errorf("BYE to %s", bye.Recipient.String())
	}
	a.reply(bye, 200, "OK", "")
	b.response(200)
	waitFor(t, "both phones reported idle", func() bool {
		ab, _ := host.busy("2001")
		bb, _ := host.busy("2002")
		return !ab && !bb && !in.proxy.calls.busy("2001") && in.proxy.calls.busy("2002") == false
	})
	if n := in.proxy.c.proxied.Load(); n != 3 {
		t.Errorf("proxied %d requests, want 3 (INVITE, ACK, BYE)", n)
	}
	if n := in.proxy.c.challenged.Load(); n != 1 {
		t.Errorf("challenged %d, want 1", n)
	}
}

// TestProxyCancel: the caller cancels a ringing call: 200 to the CANCEL, a
// CANCEL to the callee, whose 487 the proxy ACKs and relays; the caller's
// ACK of the 487 is absorbed; no phone was busy.

// TestProxyForgedRoute: a Route naming the proxy gets an in-dialog
// request through only with the proxy's MAC of that dialog (Call-ID and
// a tag of its): anyone can write the proxy's address, and an in-dialog
// request is not challenged. Forged ones are refused 403 (an ACK
// dropped) and reach nobody; the call they aim at stays up.
func TestProxyForgedRoute(t *testing.T) {
	in, host, addr, a, b := startProxyTest(t)
	a.authedInvite("202", "fr1")
	got := b.request(sip.INVITE)
	b.reply(got, 200, "OK", "b-fr1")
	ok := a.response(200)
	signed := recordRoutes(ok)
	waitFor(t, "both phones reported busy", func() bool {
		return in.proxy.calls.busy("2001") && in.proxy.calls.busy("2002")
	})
	from := "<sip:201@" + udpTestRealm + ">;tag=a-fr1"
	to := ok.To().Value()
	unsigned := []string{"<sip:" + addr.String() + ";lr>"}

	sink := newProxyUA(t, addr, "9998", "998", "") // where the attacker wants calls to go
	anywhere := "sip:900@" + sink.local().String()
	tests := []struct {
		name, method, target string
		routes               []string
		from, to, callID     string
	}{
		{"INVITE anywhere, the proxy's address as Route", "INVITE", anywhere, unsigned,
			"<sip:999@x>;tag=f1", "<sip:900@x>;tag=abc", "fr-toll"},
		{"INVITE anywhere, another dialog's Route", "INVITE", anywhere, signed,
			"<sip:999@x>;tag=f2", "<sip:900@x>;tag=abc", "fr-toll2"},
		{"INVITE anywhere, the dialog's Call-ID with other tags", "INVITE", anywhere, signed,
			"<sip:999@x>;tag=f3", "<sip:900@x>;tag=abc", "fr1"},
		{"BYE of the call, the proxy's address as Route", "BYE", a.contact(), unsigned, to, from, "fr1"},
		{"BYE of the call, a tag changed", "BYE", a.contact(), signed,
			to, "<sip:201@" + udpTestRealm + ">;tag=a-other", "fr1"},
		{"ACK anywhere, the proxy's address as Route", "ACK", anywhere, unsigned,
			"<sip:999@x>;tag=f4", "<sip:900@x>;tag=abc", "fr-ack"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := in.proxy.c.authFailed.Load()
			attacker := newProxyUA(t, addr, "9999", "999", "") // a socket each: the 403s are retransmitted
			attacker.send(attacker.inDialog(tt.method, tt.target, tt.routes, tt.from, tt.to, tt.callID, 10+i, "z9hG4bK-forged"+strconv.Itoa(i)))
			if tt.method != "ACK" {
				if tt.method == "INVITE" {
					attacker.response(100)
				}
				attacker.response(403)
			}
			sink.t, a.t, b.t = t, t, t
			sink.quiet(300 * time.Millisecond)
			a.quiet(10 * time.Millisecond)
			b.quiet(10 * time.Millisecond)
			waitFor(t, "the refusal counted", func() bool { return in.proxy.c.authFailed.Load() == before+1 })
			if ab, _ := host.busy("2001"); !ab || !in.proxy.calls.busy("2001") || !in.proxy.calls.busy("2002") {
				t.Error("the call ended")
			}
		})
	}
}
func TestProxyCancel(t *testing.T) {
	in, host, _, a, b := startProxyTest(t)
	a.authedInvite("202", "call2")
	got := b.request(sip.INVITE)
	b.reply(got, 180, "Ringing", "b-call2")
	a.response(180)

	a.send(sipText("CANCEL sip:202@"+udpTestRealm+" SIP/2.0", []string{
		"Via: SIP/2.0/UDP " + a.local().String() + ";rport;branch=z9hG4bK-i2call2", "Max-Forwards: 70",
		"From: <sip:201@" + udpTestRealm + ">;tag=a-call2", "To: <sip:202@" + udpTestRealm + ">",
		"Call-ID: call2", "CSeq: 2 CANCEL"}, ""))
	a.response(200)
	c := b.request(sip.CANCEL)
	if c.Via().Value() != got.Via().Value() || c.Recipient.String() != got.Recipient.String() {
		t.Errorf("CANCEL %s does not match its INVITE %s", c, got)
	}
	b.reply(c, 200, "OK", "")
	b.reply(got, 487, "Request Terminated", "b-call2")
	if ack := b.request(sip.ACK); ack.Via().Value() != got.Via().Value() || !strings.Contains(ack.To().Value(), "b-call2") {
		t.Errorf("hop-by-hop ACK %s", ack)
	}
	res := a.response(487)
	a.send(sipText("ACK sip:202@"+udpTestRealm+" SIP/2.0", []string{
		"Via: SIP/2.0/UDP " + a.local().String() + ";rport;branch=z9hG4bK-i2call2", "Max-Forwards: 70",
		"From: <sip:201@" + udpTestRealm + ">;tag=a-call2", res.To().String(), "Call-ID: call2", "CSeq: 2 ACK"}, ""))
	waitFor(t, "ACK of the 487 absorbed", func() bool { return in.proxy.c.absorbed.Load() >= 2 })
	b.quiet(100 * time.Millisecond)
	a.quiet(600 * time.Millisecond) // no retransmitted 487 after the ACK
	if _, reported := host.busy("2001"); reported || in.proxy.calls.count() != 0 {
		t.Error("a cancelled call made a phone busy")
	}
}

// TestProxyRouting: where requests go, or what they are answered.
func TestProxyRouting(t *testing.T) {
	in, _, addr := startUDPTest(t)
	a := newProxyUA(t, addr, "2001", "201", "pw-2001")
	a.register()
	// A peer site, paris, whose SIP endpoint is a socket of this test.
	peer := newUDPPeer(t, addr)
	tb := in.view.Table()
	for _, e := range []admission.PhoneEntry{
		{ID: "3001", User: "301", Home: "paris", Protocol: federationv1.Protocol_PROTOCOL_SIP},
		{ID: "4001", User: "401", Home: "rome", Protocol: federationv1.Protocol_PROTOCOL_SIP},
		{ID: "5001", User: "501", Home: "oslo", Protocol: federationv1.Protocol_PROTOCOL_SIP},
	} {
		if err := tb.PutPhone(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []admission.PeerView{
		{Site: "paris", State: admission.StateNormal, Endpoints: []string{"sip:udp://" + peer.local().String()}},
		// rome is down and backed up by paris: its users are at paris now
		{Site: "rome", State: admission.StateFailover, Backup: "paris", Endpoints: []string{"sip:udp://127.0.0.1:9"}},
		// oslo is down and backed up by this site: its users would be here
		{Site: "oslo", State: admission.StateFailover, Backup: udpTestSite},
	} {
		if err := tb.SetPeer(v); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, to string
		from     *udpPeer // nil: the phone, with credentials
		mf       string
		want     int  // 0: forwarded to the peer
		backup   bool // paris becomes this site's backup first
	}{
		{"unknown extension", "999", nil, "", 404, false},
		{"a phone of this site not registered", "202", nil, "", 480, false},
		{"a user of a live peer", "301", nil, "", 0, false},
		{"a user of a failed peer, at its backup", "401", nil, "", 0, false},
		{"a user of a failed peer backed up here", "501", nil, "", 480, false},
		{"from the peer, for a user not here: never sent back", "301", peer, "", 480, false},
		{"from the peer, unknown", "999", peer, "", 404, false},
		{"Max-Forwards 0", "301", nil, "Max-Forwards: 0", 483, false},
		// a phone of this site not registered here may still be a guest
		// at this site's backup (failback in progress)
		{"a phone of this site not registered, tried at the backup", "202", nil, "", 0, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			callID := "route" + strconv.Itoa(i)
			if tt.backup {
				if err := tb.SetPeer(admission.PeerView{Site: "paris", State: admission.StateNormal, BacksUpSelf: true,
					Endpoints: []string{"sip:udp://" + peer.local().String()}}); err != nil {
					t.Fatal(err)
				}
			}
			var extra []string
			if tt.mf != "" {
				extra = append(extra, tt.mf)
			}
			var res *sip.Response
			if tt.from == nil {
				res = a.authedInviteWith(tt.to, callID, extra...)
				if res == nil && tt.want != 0 {
					res = a.read(5 * time.Second).(*sip.Response)
				}
			} else {
				inv := string(a.invite(tt.to, callID, "z9hG4bK-p"+callID, 1, extra...))
				inv = strings.Replace(inv, a.local().String(), tt.from.local().String(), 2)
				tt.from.send([]byte(inv))
				if res := parseResponse(t, tt.from.recv(5*time.Second)); res.StatusCode != 100 {
					t.Fatalf("got %d, want 100", res.StatusCode)
				}
				if b := tt.from.recv(5 * time.Second); b != nil {
					res = parseResponse(t, b)
				}
			}
			if tt.want == 0 {
				b := peer.recv(5 * time.Second)
				if b == nil || !strings.HasPrefix(string(b), "INVITE sip:"+tt.to+"@"+udpTestRealm+" ") {
					t.Fatalf("peer got %q", b)
				}
				if !strings.Contains(stripMAC(string(b)), "Record-Route: <sip:"+addr.String()+";lr>") {
					t.Fatalf("no Record-Route: %q", b)
				}
				return
			}
			if res == nil || res.StatusCode != tt.want {
				t.Fatalf("answered %v, want %d", res, tt.want)
			}
			// ACK the final, which ends its retransmissions.
			from := tt.from
			if from == nil {
				from = a.udpPeer
			}
			from.send(sipText("ACK sip:"+tt.to+"@"+udpTestRealm+" SIP/2.0", []string{res.Via().String(), "Max-Forwards: 70",
				res.From().String(), res.To().String(), "Call-ID: " + callID, "CSeq: " + strconv.Itoa(int(res.CSeq().SeqNo)) + " ACK"}, ""))
			if p := peer.recv(50 * time.Millisecond); p != nil && tt.from == nil {
				t.Fatalf("peer got %q", p)
			}
		})
	}
	if n := in.proxy.c.toPeer.Load(); n != 3 {
		t.Errorf("toPeer %d, want 3", n)
	}
}

// authedInviteWith is authedInvite with extra headers; it returns the
// final answer when the proxy answers before the credentials (then ACKed),
// else nil once the INVITE with credentials got its 100 Trying.
func (u *proxyUA) authedInviteWith(to, callID string, extra ...string) *sip.Response {
	u.t.Helper()
	u.send(u.invite(to, callID, "z9hG4bK-i1"+callID, 1, extra...))
	u.response(100)
	res, ok := u.read(5 * time.Second).(*sip.Response)
	if !ok || res.StatusCode < 300 {
		u.t.Fatalf("%s: want a final answer to the INVITE", u.id)
	}
	u.send(sipText("ACK sip:"+to+"@"+udpTestRealm+" SIP/2.0", []string{
		"Via: SIP/2.0/UDP " + u.local().String() + ";rport;branch=z9hG4bK-i1" + callID, "Max-Forwards: 70",
		"From: <sip:" + u.user + "@" + udpTestRealm + ">;tag=a-" + callID, res.To().String(),
		"Call-ID: " + callID, "CSeq: 1 ACK"}, ""))
	if res.StatusCode != 407 {
		return res
	}
	u.send(u.invite(to, callID, "z9hG4bK-i2"+callID, 2,
		append(extra, "Proxy-Authorization: "+u.proxyAuth(res, "INVITE", "sip:"+to+"@"+udpTestRealm, u.pw))...))
	u.response(100)
	return nil
}

// TestProxyGoroutines: many calls through the proxy leave no goroutine and
// no transaction behind once their timers ran out.
func TestProxyGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for Timer J")
	}
	in, _, _, a, b := startProxyTest(t)
	runtime.GC()
	before := runtime.NumGoroutine()
	const n = 100
	for i := range n {
		callID := "load" + strconv.Itoa(i)
		a.authedInvite("202", callID)
		got := b.request(sip.INVITE)
		b.reply(got, 200, "OK", "b-"+callID)
		ok := a.response(200)
		self := recordRoutes(ok)
		from := "<sip:201@" + udpTestRealm + ">;tag=a-" + callID
		a.send(a.inDialog("ACK", ok.Contact().Address.String(), self, from, ok.To().Value(), callID, 2, "z9hG4bK-ack"+callID))
		b.request(sip.ACK)
		a.send(a.inDialog("BYE", ok.Contact().Address.String(), self, from, ok.To().Value(), callID, 3, "z9hG4bK-bye"+callID))
		bye := b.request(sip.BYE)
		b.reply(bye, 200, "OK", "")
		a.response(200)
	}
	if c := in.proxy.calls.count(); c != 0 {
		t.Fatalf("%d calls left", c)
	}
	if g := runtime.NumGoroutine(); g > before+5 {
		t.Errorf("goroutines %d after %d calls, %d before", g, n, before)
	}
	waitForLong(t, 2*timer64T1, "transactions forgotten", func() bool {
		s, c := in.proxy.transactions()
		return s == 0 && c == 0
	})
	if g := runtime.NumGoroutine(); g > before+2 {
		t.Errorf("goroutines %d once idle, %d before", g, before)
	}
}

func waitForLong(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func firstLine(m sip.Message) string {
	s, _, _ := strings.Cut(m.String(), "\r\n")
	return s
}

// TestProxyFork: a phone registered from two addresses rings at both; the
// first 200 is relayed and the other branch is cancelled (its 487 ACKed
// here, not relayed). A re-INVITE and an OPTIONS within the dialog then
// follow the Record-Route, without a new Record-Route or a challenge.
func TestProxyFork(t *testing.T) {
	in, _, addr := startUDPTest(t)
	a := newProxyUA(t, addr, "2001", "201", "pw-2001")
	b1 := newProxyUA(t, addr, "2002", "202", "pw-2002")
	b2 := newProxyUA(t, addr, "2002", "202", "pw-2002")
	for _, u := range []*proxyUA{a, b1, b2} {
		u.register()
	}
	a.authedInvite("202", "fork1")
	inv1, inv2 := b1.request(sip.INVITE), b2.request(sip.INVITE)
	if inv1.Via().Value() == inv2.Via().Value() {
		t.Fatal("two branches with one Via branch")
	}
	b1.reply(inv1, 180, "Ringing", "b1")
	b2.reply(inv2, 180, "Ringing", "b2")
	a.response(180)
	a.response(180)
	b1.reply(inv1, 200, "OK", "b1")
	ok := a.response(200)
	if !strings.Contains(ok.To().Value(), "tag=b1") {
		t.Errorf("relayed %s", ok.To().Value())
	}
	c := b2.request(sip.CANCEL)
	b2.reply(c, 200, "OK", "")
	b2.reply(inv2, 487, "Request Terminated", "b2")
	b2.request(sip.ACK)
	a.quiet(300 * time.Millisecond) // the 487 stays here

	self := recordRoutes(ok)
	from := "<sip:201@" + udpTestRealm + ">;tag=a-fork1"
	to := ok.To().Value()
	target := ok.Contact().Address.String()
	a.send(a.inDialog("ACK", target, self, from, to, "fork1", 2, "z9hG4bK-fack"))
	b1.request(sip.ACK)

	// A re-INVITE (hold, say) within the dialog: 100 Trying, no challenge,
	// no second Record-Route.
	reinv := a.inDialog("INVITE", target, self, from, to, "fork1", 3, "z9hG4bK-reinv")
	a.send(reinv)
	a.response(100)
	got := b1.request(sip.INVITE)
	if rr := recordRoutes(got); len(rr) != 0 || got.Route() != nil {
		t.Errorf("re-INVITE with Record-Route %v, Route %v", rr, got.Route())
	}
	b1.reply(got, 200, "OK", "")
	a.response(200)
	a.send(a.inDialog("ACK", target, self, from, to, "fork1", 3, "z9hG4bK-reack"))
	b1.request(sip.ACK)

	// OPTIONS within the dialog, and one to the user out of dialog (no
	// challenge either way).
	a.send(a.inDialog("OPTIONS", target, self, from, to, "fork1", 4, "z9hG4bK-opt"))
	b1.reply(b1.request(sip.OPTIONS), 200, "OK", "")
	a.response(200)
	a.send(sipText("OPTIONS sip:202@"+udpTestRealm+" SIP/2.0", []string{
		"Via: SIP/2.0/UDP " + a.local().String() + ";rport;branch=z9hG4bK-opt2", "Max-Forwards: 70",
		"From: <sip:201@" + udpTestRealm + ">;tag=o2", "To: <sip:202@" + udpTestRealm + ">", "Call-ID: opt2", "CSeq: 1 OPTIONS"}, ""))
	o1, o2 := b1.request(sip.OPTIONS), b2.request(sip.OPTIONS)
	b1.reply(o1, 200, "OK", "o-b1")
	b2.reply(o2, 200, "OK", "o-b2")
	a.response(200)
	a.quiet(200 * time.Millisecond) // one final to a non-INVITE
	if n := in.proxy.c.challenged.Load(); n != 1 {
		t.Errorf("challenged %d, want 1 (the first INVITE only)", n)
	}
	if in.proxy.calls.count() != 1 {
		t.Errorf("%d calls, want 1", in.proxy.calls.count())
	}
}

// TestProxyTransactionBound: beyond the bound of transactions held, a new
// request is answered 503 with Retry-After, statelessly.
func TestProxyTransactionBound(t *testing.T) {
	in, _, addr := startUDPTest(t)
	in.proxy.mu.Lock()
	in.proxy.maxServers = 3
	in.proxy.mu.Unlock()
	a := newProxyUA(t, addr, "2001", "201", "pw-2001")
	for i := range 3 {
		a.send(a.invite("202", "bound"+strconv.Itoa(i), "z9hG4bK-bound"+strconv.Itoa(i), 1))
		a.response(100)
		a.response(407)
	}
	a.send(a.invite("202", "bound3", "z9hG4bK-bound3", 1))
	if res := a.response(503); res.GetHeader("Retry-After") == nil {
		t.Errorf("503 without Retry-After: %s", res)
	}
	if n := in.proxy.c.overload.Load(); n != 1 {
		t.Errorf("overload %d, want 1", n)
	}
	if s, _ := in.proxy.transactions(); s != 3 {
		t.Errorf("%d transactions held, want 3", s)
	}
}

// TestProxyAuth: an INVITE with a wrong password, or from a phone not
// registered here, is refused with 403; a MESSAGE is challenged like an
// INVITE and then relayed, with its one final answer.
func TestProxyAuth(t *testing.T) {
	in, _, addr := startUDPTest(t)
	a := newProxyUA(t, addr, "2001", "201", "pw-2001")
	b := newProxyUA(t, addr, "2002", "202", "pw-2002")
	a.register()
	b.register()
	stranger := newProxyUA(t, addr, "301", "301", "pw-301") // in the directory, not registered

	for _, tc := range []struct {
		name string
		u    *proxyUA
		pw   string
	}{{"wrong password", a, "nope"}, {"not registered here", stranger, "pw-301"}} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.u
			callID := "auth-" + u.id
			u.send(u.invite("202", callID, "z9hG4bK-au1"+callID, 1))
			u.response(100)
			res := u.response(407)
			u.send(u.invite("202", callID, "z9hG4bK-au2"+callID, 2,
				"Proxy-Authorization: "+u.proxyAuth(res, "INVITE", "sip:202@"+udpTestRealm, tc.pw)))
			u.response(100)
			u.response(403)
		})
	}
	b.quiet(100 * time.Millisecond)

	msg := func(cseq int, extra ...string) []byte {
		h := append([]string{"Via: SIP/2.0/UDP " + a.local().String() + ";rport;branch=z9hG4bK-msg" + strconv.Itoa(cseq),
			"Max-Forwards: 70", "From: <sip:201@" + udpTestRealm + ">;tag=m1", "To: <sip:202@" + udpTestRealm + ">",
			"Call-ID: msg1", "CSeq: " + strconv.Itoa(cseq) + " MESSAGE", "Content-Type: text/plain"}, extra...)
		return sipText("MESSAGE sip:202@"+udpTestRealm+" SIP/2.0", h, "hello")
	}
	a.send(msg(1))
	res := a.response(407)
	a.send(msg(2, "Proxy-Authorization: "+a.proxyAuth(res, "MESSAGE", "sip:202@"+udpTestRealm, "pw-2001")))
	got := b.request(sip.MESSAGE)
	if string(got.Body()) != "hello" {
		t.Errorf("body %q", got.Body())
	}
	b.reply(got, 200, "OK", "mb")
	a.response(200)
	if n := in.proxy.c.authFailed.Load(); n != 2 {
		t.Errorf("authFailed %d, want 2", n)
	}
}

// TestProxyNoAnswer: a callee that never answers (a phone gone without
// unregistering): the proxy retransmits the INVITE, then ends the branch
// with a 408 of its own after 64·T1.
func TestProxyNoAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for Timer B")
	}
	in, _, _, a, b := startProxyTest(t)
	a.authedInvite("202", "silent")
	first := b.request(sip.INVITE)
	again := b.request(sip.INVITE) // Timer A: the same request again
	if first.Via().Value() != again.Via().Value() {
		t.Errorf("retransmission with another Via: %s", again.Via().Value())
	}
	start := time.Now()
	m := a.read(timer64T1 + 10*time.Second)
	res, ok := m.(*sip.Response)
	if !ok || res.StatusCode != 408 {
		t.Fatalf("got %q, want 408", firstLine(m))
	}
	if waited := time.Since(start); waited < timer64T1-5*time.Second {
		t.Errorf("408 after %v", waited)
	}
	if n := in.proxy.c.timeouts.Load(); n != 1 {
		t.Errorf("timeouts %d, want 1", n)
	}
}

// TestProxyPreloadedRoute: an out-of-dialog request goes where the proxy
// locates its user, never along a route its sender preloaded beyond the
// proxy (403, counted); a Route naming only the proxy (an outbound proxy
// setting) is popped and the request routed as usual.
func TestProxyPreloadedRoute(t *testing.T) {
	in, _, addr, _, b := startProxyTest(t)
	sink := newProxyUA(t, addr, "9998", "998", "")
	self := "Route: <sip:" + addr.String() + ";lr>"
	elsewhere := "Route: <sip:" + sink.local().String() + ";lr>"
	tests := []struct {
		name   string
		routes []string
		want   int
	}{
		{"a route elsewhere", []string{elsewhere}, 403},
		{"the proxy, then elsewhere", []string{self, elsewhere}, 403},
		{"the proxy only", []string{self}, 407},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newProxyUA(t, addr, "2001", "201", "pw-2001")
			before := in.proxy.c.authFailed.Load()
			callID := "preload" + strconv.Itoa(i)
			a.send(a.invite("202", callID, "z9hG4bK-p"+callID, 1, tt.routes...))
			a.response(100)
			a.response(tt.want)
			sink.t, b.t = t, t
			sink.quiet(300 * time.Millisecond)
			b.quiet(10 * time.Millisecond)
			wantFailed := before
			if tt.want == 403 {
				wantFailed++
			}
			if n := in.proxy.c.authFailed.Load(); n != wantFailed {
				t.Errorf("authFailed %d, want %d", n, wantFailed)
			}
		})
	}
}

// TestProxyNATDialog: a callee behind NAT (its contact a private address
// where nothing listens, its REGISTER from its socket) gets the ACK and
// the BYE of its call at the address it registered from, as it got the
// INVITE.
func TestProxyNATDialog(t *testing.T) {
	_, _, addr := startUDPTest(t)
	a := newProxyUA(t, addr, "2001", "201", "pw-2001")
	b := newProxyUA(t, addr, "2002", "202", "pw-2002")
	b.private = "127.0.0.1:9" // nothing listens there
	a.register()
	b.register()
	a.authedInvite("202", "nat1")
	got := b.request(sip.INVITE)
	if got.Recipient.String() != b.contact() {
		t.Errorf("Request-URI %s, want the contact %s", got.Recipient.String(), b.contact())
	}
	b.reply(got, 200, "OK", "b-nat1")
	ok := a.response(200)
	if ok.Contact().Address.String() != b.contact() {
		t.Fatalf("200 Contact %s, want %s", ok.Contact().Address.String(), b.contact())
	}
	from := "<sip:201@" + udpTestRealm + ">;tag=a-nat1"
	a.send(a.inDialog("ACK", b.contact(), recordRoutes(ok), from, ok.To().Value(), "nat1", 2, "z9hG4bK-natack"))
	b.request(sip.ACK)
	a.send(a.inDialog("BYE", b.contact(), recordRoutes(ok), from, ok.To().Value(), "nat1", 3, "z9hG4bK-natbye"))
	bye := b.request(sip.BYE)
	b.reply(bye, 200, "OK", "")
	a.response(200)
}

// TestProxyFork6xx: a 6xx on one branch of a fork cancels the others
// (RFC 3261 §16.7 step 5), and the 6xx is what the caller gets.
func TestProxyFork6xx(t *testing.T) {
	_, _, addr := startUDPTest(t)
	a := newProxyUA(t, addr, "2001", "201", "pw-2001")
	b1 := newProxyUA(t, addr, "2002", "202", "pw-2002")
	b2 := newProxyUA(t, addr, "2002", "202", "pw-2002")
	for _, u := range []*proxyUA{a, b1, b2} {
		u.register()
	}
	a.authedInvite("202", "fork6")
	inv1, inv2 := b1.request(sip.INVITE), b2.request(sip.INVITE)
	b1.reply(inv1, 180, "Ringing", "b1")
	b2.reply(inv2, 180, "Ringing", "b2")
	a.response(180)
	a.response(180)
	b1.reply(inv1, 603, "Decline", "b1")
	b1.request(sip.ACK)
	c := b2.request(sip.CANCEL)
	b2.reply(c, 200, "OK", "")
	b2.reply(inv2, 487, "Request Terminated", "b2")
	b2.request(sip.ACK)
	a.response(603)
}

// TestProxyTimerC: Timer C (lowered here) cancels a branch that rings too
// long, counted from its last provisional response other than 100, not
// from its first.
func TestProxyTimerC(t *testing.T) {
	in, _, _, a, b := startProxyTest(t)
	const ring = 2 * time.Second
	in.proxy.mu.Lock()
	in.proxy.ring = ring
	in.proxy.mu.Unlock()
	a.authedInvite("202", "timerc")
	inv := b.request(sip.INVITE)
	b.reply(inv, 100, "Trying", "")
	b.reply(inv, 180, "Ringing", "b-tc")
	a.response(180)
	time.Sleep(ring * 6 / 10)
	b.reply(inv, 183, "Session Progress", "b-tc")
	a.response(183)
	last := time.Now()
	c := b.request(sip.CANCEL)
	if d := time.Since(last); d < ring*9/10 {
		t.Errorf("CANCEL %v after the 183, want Timer C (%v) from it", d, ring)
	}
	b.reply(c, 200, "OK", "")
	b.reply(inv, 487, "Request Terminated", "b-tc")
	b.request(sip.ACK)
	a.response(487)
}

// TestProxyStray2xx: a 2xx matching no transaction is relayed statelessly
// (by its next Via) only for an INVITE branch of the proxy's that was
// answered 2xx lately — the callee retransmitting its 200 after the
// transaction ended; one with a made-up branch of the proxy's form is
// dropped and counted, not reflected to whatever its Via names.
func TestProxyStray2xx(t *testing.T) {
	in, _, addr, a, b := startProxyTest(t)
	a.authedInvite("202", "stray1")
	got := b.request(sip.INVITE)
	b.reply(got, 200, "OK", "b-stray1")
	a.response(200)
	branch, _ := got.Via().Params.Get("branch")
	in.proxy.mu.Lock()
	ct := in.proxy.clients[branch+"|INVITE"]
	in.proxy.mu.Unlock()
	if ct == nil {
		t.Fatal("no client transaction for the INVITE's branch")
	}
	in.proxy.forgetClient(ct) // as 64·T1 after its 200
	b.reply(got, 200, "OK", "b-stray1")
	a.response(200) // relayed statelessly

	victim := newProxyUA(t, addr, "9998", "998", "")
	before := in.proxy.c.stray.Load()
	forged := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP " + addr.String() + ";branch=" + branchPrefix + "madeup\r\n" +
		"Via: SIP/2.0/UDP " + victim.local().String() + ";branch=z9hG4bK-v\r\n" +
		"From: <sip:201@voip.test>;tag=a\r\nTo: <sip:202@voip.test>;tag=b\r\nCall-ID: stray2\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	b.send([]byte(forged))
	victim.quiet(300 * time.Millisecond)
	if n := in.proxy.c.stray.Load(); n != before+1 {
		t.Errorf("stray %d, want %d", n, before+1)
	}
}
