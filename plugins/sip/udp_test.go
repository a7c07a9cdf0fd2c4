package sipplugin

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"net"
	"net/netip"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
	"github.com/rallyvoip/rally/plugins/sip/digest"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// The UDP path is tested against a fake host (the subject is the transport,
// not the plugin boundary) with real UDP on 127.0.0.1.

const (
	udpTestSite  = "test"
	udpTestRealm = "voip.test"
)

// udpTestHost is a Host with a fixed directory (udpTestPhones): phone
// "2001" (user 201, password "pw-2001"), phone "2002" (user 202), and
// phones 301 and 302 (users 301, 302), all homed here.
type udpTestHost struct {
	getRecords      atomic.Int64
	listCredentials atomic.Int64
	mu              sync.Mutex
	reports         []sdk.Registration
	callState       map[string]bool // phone id -> busy, as reported
	// listedHomes are the homes ListCredentials was asked for, in order
	listedHomes []string
}

var udpTestPhones = []struct{ id, user, password string }{{"2001", "201", "pw-2001"}, {"2002", "202", "pw-2002"},
	{"301", "301", "pw-301"}, {"302", "302", "pw-302"}} // 301, 302: id = user, as SIPp's scenarios want

func (h *udpTestHost) WatchView(ctx context.Context) (<-chan sdk.ViewUpdate, error) {
	snap := &sdk.ViewSnapshot{Site: udpTestSite, Licenses: 10}
	for _, p := range udpTestPhones {
		snap.Phones = append(snap.Phones, admission.PhoneEntry{ID: p.id, User: p.user, Home: udpTestSite,
			Kind: federationv1.PhoneKind_PHONE_KIND_DESK, Protocol: federationv1.Protocol_PROTOCOL_SIP})
	}
	ch := make(chan sdk.ViewUpdate, 1)
	ch <- sdk.ViewUpdate{Snapshot: snap}
	go func() { <-ctx.Done(); close(ch) }()
	return ch, nil
}

func (h *udpTestHost) GetRecord(_ context.Context, home, key string) (*federationv1.Record, error) {
	h.getRecords.Add(1)
	for _, p := range udpTestPhones {
		if home == "" && key == "phone/"+p.id {
			return &federationv1.Record{Key: key, HomeSite: udpTestSite, Body: &federationv1.Record_Phone{Phone: &federationv1.Phone{
				Id: p.id, User: p.user, Ha1Md5: digest.HA1(digest.MD5, p.id, udpTestRealm, p.password)}}}, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", sdk.ErrNotFound, key)
}

func (h *udpTestHost) ReportRegistration(_ context.Context, r sdk.Registration) (bool, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reports = append(h.reports, r)
	return true, "", nil
}

func (h *udpTestHost) ReportCallState(_ context.Context, phoneID string, busy bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.callState == nil {
		h.callState = make(map[string]bool)
	}
	h.callState[phoneID] = busy
	return nil
}

// busy returns the call state last reported for phoneID, and whether any
// was.
func (h *udpTestHost) busy(phoneID string) (busy, reported bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	busy, reported = h.callState[phoneID]
	return busy, reported
}

func (h *udpTestHost) ReportRegistrations(_ context.Context, rs []sdk.Registration) ([]sdk.ReportResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reports = append(h.reports, rs...)
	out := make([]sdk.ReportResult, len(rs))
	for i := range out {
		out[i].Accepted = true
	}
	return out, nil
}

func (h *udpTestHost) ListCredentials(_ context.Context, home string) ([]sdk.Credentials, error) {
	h.listCredentials.Add(1)
	h.mu.Lock()
	h.listedHomes = append(h.listedHomes, home)
	h.mu.Unlock()
	if home != "" {
		return nil, fmt.Errorf("%w: %s", sdk.ErrNotFound, home)
	}
	var out []sdk.Credentials
	for _, p := range udpTestPhones {
		out = append(out, sdk.Credentials{PhoneID: p.id, HA1MD5: digest.HA1(digest.MD5, p.id, udpTestRealm, p.password)})
	}
	return out, nil
}

func (h *udpTestHost) ListRegistrations(context.Context, string) ([]sdk.Registration, error) {
	return nil, nil
}

// startUDPTest configures a plugin on a free UDP port of 127.0.0.1 and
// returns its instance once its admission view is ready.
func startUDPTest(tb testing.TB) (*instance, *udpTestHost, netip.AddrPort) {
	tb.Helper()
	in, host, ep := startPluginTest(tb, "udp")
	addr, err := netip.ParseAddrPort(ep)
	if err != nil {
		tb.Fatal(err)
	}
	return in, host, addr
}

// startPluginTest configures a plugin listening on transport (udp or tcp)
// at a free port of 127.0.0.1 and returns its instance once its admission
// view is ready, and the listen address.
func startPluginTest(tb testing.TB, transport string) (*instance, *udpTestHost, string) {
	tb.Helper()
	host := &udpTestHost{}
	p := New(nil)
	eps, err := p.Configure(context.Background(), sdk.Config{Site: udpTestSite, SIPDomain: udpTestRealm,
		ConfigJSON: []byte(`{"listen":["` + transport + `://127.0.0.1:0"]}`)}, host)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	in := p.running
	select {
	case <-in.view.Ready():
	case <-time.After(5 * time.Second):
		tb.Fatal("admission view not ready")
	}
	return in, host, strings.TrimPrefix(eps[0], "sip:"+transport+"://")
}

// udpPeer is a raw SIP client socket.
type udpPeer struct {
	tb     testing.TB
	conn   *net.UDPConn
	server netip.AddrPort
}

func newUDPPeer(tb testing.TB, server netip.AddrPort) *udpPeer {
	tb.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return &udpPeer{tb: tb, conn: c, server: server}
}

func (p *udpPeer) local() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *udpPeer) send(b []byte) {
	p.tb.Helper()
	if _, err := p.conn.WriteToUDPAddrPort(b, p.server); err != nil {
		p.tb.Fatal(err)
	}
}

// recv returns the next datagram, or nil after wait.
func (p *udpPeer) recv(wait time.Duration) []byte {
	p.tb.Helper()
	buf := make([]byte, 65536)
	_ = p.conn.SetReadDeadline(time.Now().Add(wait))
	n, _, err := p.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil
		}
		p.tb.Fatal(err)
	}
	return buf[:n]
}

func (p *udpPeer) mustRecv() *sip.Response {
	p.tb.Helper()
	b := p.recv(5 * time.Second)
	if b == nil {
		p.tb.Fatal("no response")
	}
	return parseResponse(p.tb, b)
}

func parseResponse(tb testing.TB, b []byte) *sip.Response {
	tb.Helper()
	m, err := sip.ParseMessage(b)
	if err != nil {
		tb.Fatalf("unparsable response %q: %v", b, err)
	}
	res, ok := m.(*sip.Response)
	if !ok {
		tb.Fatalf("not a response: %q", b)
	}
	return res
}

// sipRequest is a request's text; via is the top Via's sent-by and params.
type sipRequest struct {
	method, via, callID, auth, extra string
	user                             string // To and From user (AoR)
	contact                          string // phone id in the Contact
	cseq                             int
}

func (r sipRequest) bytes() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:%s SIP/2.0\r\n", r.method, udpTestRealm)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s\r\n", r.via)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=f%s\r\n", r.user, udpTestRealm, r.callID)
	fmt.Fprintf(&b, "To: <sip:%s@%s>\r\n", r.user, udpTestRealm)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", r.callID)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", r.cseq, r.method)
	if r.contact != "" {
		fmt.Fprintf(&b, "Contact: <sip:%s@127.0.0.1:5060>\r\nExpires: 300\r\n", r.contact)
	}
	if r.auth != "" {
		fmt.Fprintf(&b, "Authorization: %s\r\n", r.auth)
	}
	b.WriteString(r.extra)
	b.WriteString("User-Agent: udp-test\r\nContent-Length: 0\r\n\r\n")
	return []byte(b.String())
}

var nonceRE = regexp.MustCompile(`nonce="([^"]+)"`)

// authorization answers the challenge of a 401 for phone id.
func authorization(tb testing.TB, res *sip.Response, id, password string) string {
	tb.Helper()
	h := res.GetHeader("WWW-Authenticate")
	if h == nil {
		tb.Fatalf("401 without WWW-Authenticate: %s", res)
	}
	m := nonceRE.FindStringSubmatch(h.Value())
	if m == nil {
		tb.Fatalf("no nonce in %q", h.Value())
	}
	c := digest.Credentials{Username: id, Realm: udpTestRealm, Nonce: m[1], URI: "sip:" + udpTestRealm,
		Algorithm: digest.MD5, CNonce: "c0ffee", QOP: digest.QOPAuth, NC: 1}
	r, err := digest.ExpectedResponse(c, "REGISTER", digest.HA1(digest.MD5, id, udpTestRealm, password))
	if err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, cnonce="c0ffee", qop=auth, nc=00000001`,
		id, udpTestRealm, m[1], c.URI, r)
}

// waitFor polls cond for up to 5 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestUDPRegisterSipgoClient registers through a real SIP client (sipgo's,
// as the demo phone does): REGISTER -> 401 -> REGISTER with digest -> 200.
func TestUDPRegisterSipgoClient(t *testing.T) {
	in, host, addr := startUDPTest(t)
	tests := []struct {
		name, id, user, password string
		want                     int
	}{
		{"right password", "2001", "201", "pw-2001", 200},
		{"wrong password", "2002", "202", "nope", 403},
		{"another phone's user", "2002", "201", "pw-2002", 403},
		{"unknown phone", "9999", "999", "pw", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ua, err := sipgo.NewUA(sipgo.WithUserAgent("udp-test-phone"))
			if err != nil {
				t.Fatal(err)
			}
			defer ua.Close()
			client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: addr.Addr().String(), Port: int(addr.Port())})
			aor := sip.Uri{Scheme: "sip", User: tt.user, Host: udpTestRealm}
			req.AppendHeader(&sip.FromHeader{Address: aor, Params: sip.HeaderParams{{K: "tag", V: "t" + tt.id}}})
			req.AppendHeader(&sip.ToHeader{Address: aor})
			req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: tt.id, Host: "127.0.0.1", Port: 5060}})
			req.AppendHeader(sip.NewHeader("Expires", "300"))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := client.Do(ctx, req, sipgo.ClientRequestRegisterBuild)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 401 {
				t.Fatalf("first answer %d %s, want 401", res.StatusCode, res.Reason)
			}
			res, err = client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: tt.id, Password: tt.password})
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.want {
				t.Fatalf("answer %d %s, want %d", res.StatusCode, res.Reason, tt.want)
			}
			if tt.want == 200 {
				if c := res.GetHeader("Contact"); c == nil || !strings.Contains(c.Value(), "sip:"+tt.id+"@127.0.0.1:5060") {
					t.Fatalf("200 without the binding: %s", res)
				}
				if got := in.reg.PhoneCount(tt.id); got != 1 {
					t.Fatalf("registrar holds %d bindings of %s, want 1", got, tt.id)
				}
			}
		})
	}
	if host.getRecords.Load()+host.listCredentials.Load() == 0 {
		t.Fatal("credentials never fetched from the host")
	}
}

// TestUDPRetransmission sends each request of a registration several
// times, the same bytes. The challenge is stateless: a copy of the first
// REGISTER is challenged again. The authenticated REGISTER's copies get
// the same 200 again, byte for byte, and the registrar and the digest
// check (a replay would be refused) run once.
func TestUDPRetransmission(t *testing.T) {
	in, _, addr := startUDPTest(t)
	p := newUDPPeer(t, addr)
	req := sipRequest{method: "REGISTER", via: p.local().String() + ";rport;branch=z9hG4bK-r1", callID: "retrans-1",
		user: "201", contact: "2001", cseq: 1}
	first := req.bytes()
	p.send(first)
	b401 := p.recv(5 * time.Second)
	p.send(first)
	if again := parseResponse(t, p.recv(5*time.Second)); again.StatusCode != 401 {
		t.Fatalf("retransmitted first REGISTER answered %d, want a 401 again", again.StatusCode)
	}
	challenge := parseResponse(t, b401)
	if challenge.StatusCode != 401 {
		t.Fatalf("got %d, want 401", challenge.StatusCode)
	}

	req.cseq, req.via = 2, p.local().String()+";rport;branch=z9hG4bK-r2"
	req.auth = authorization(t, challenge, "2001", "pw-2001")
	second := req.bytes()
	var answers [][]byte
	for range 3 {
		p.send(second)
		answers = append(answers, p.recv(5*time.Second))
	}
	res := parseResponse(t, answers[0])
	if res.StatusCode != 200 {
		t.Fatalf("got %d %s, want 200", res.StatusCode, res.Reason)
	}
	for i, a := range answers[1:] {
		if !bytes.Equal(a, answers[0]) {
			t.Fatalf("copy %d answered %q, first %q", i+1, a, answers[0])
		}
	}
	c := &in.counters
	if got := [4]uint64{c.registered.Load(), c.challenged.Load(), c.badAuth.Load(), c.retransmits.Load()}; got != [4]uint64{1, 2, 0, 2} {
		t.Fatalf("registered, challenged, badAuth, retransmits = %v, want [1 2 0 2]", got)
	}

	// A new transaction (new branch and CSeq) with the same credentials is
	// a replay of the nonce count (so the cache did not hide one above):
	// challenged again.
	req.cseq, req.via = 3, p.local().String()+";rport;branch=z9hG4bK-r3"
	p.send(req.bytes())
	if res := p.mustRecv(); res.StatusCode != 401 || c.replays.Load() != 1 || c.registered.Load() != 1 {
		t.Fatalf("replayed credentials answered %d (replays %d, registered %d), want 401 (1, 1)", res.StatusCode, c.replays.Load(), c.registered.Load())
	}
}

// TestUDPDropped sends datagrams the plugin must drop: each is counted, gets
// no answer, and the plugin goes on answering.
func TestUDPDropped(t *testing.T) {
	in, _, addr := startUDPTest(t)
	p := newUDPPeer(t, addr)
	c := &in.counters
	options := func(n int) []byte {
		return sipRequest{method: "OPTIONS", via: p.local().String() + ";rport;branch=z9hG4bK-o" + strconv.Itoa(n),
			callID: "opt-" + strconv.Itoa(n), user: "201", cseq: 1}.bytes()
	}
	register := sipRequest{method: "REGISTER", via: p.local().String() + ";rport;branch=z9hG4bK-d", callID: "drop",
		user: "201", contact: "2001", cseq: 1}.bytes()
	tests := []struct {
		name    string
		data    []byte
		counter *atomic.Uint64
	}{
		{"garbage", []byte("hello\x00\xff world"), &c.malformed},
		{"empty start line", []byte("\r\nVia: x\r\n\r\n"), &c.malformed},
		{"truncated", register[:len(register)/2], &c.malformed},
		{"no Via", bytes.Replace(register, []byte("Via:"), []byte("Xia:"), 1), &c.malformed},
		{"bad Via", bytes.Replace(register, []byte("SIP/2.0/UDP"), []byte("SIP/2.0/UDP ;;;"), 1), &c.malformed},
		{"a response to no request", []byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"), &in.proxy.c.stray},
		{"a lowercase response without Via", []byte("sip/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"), &c.malformed},
		{"oversized", bytes.Replace(register, []byte("\r\n\r\n"), []byte("\r\nX-Pad: "+strings.Repeat("a", udpMaxMessage)+"\r\n\r\n"), 1), &c.oversized},
		{"keep-alive", []byte("\r\n\r\n"), &c.keepalives},
		{"ACK of nothing", sipRequest{method: "ACK", via: p.local().String() + ";branch=z9hG4bK-a", callID: "ack", user: "201", cseq: 1}.bytes(), &in.proxy.c.stray},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.counter.Load()
			p.send(tt.data)
			waitFor(t, tt.name+" counted", func() bool { return tt.counter.Load() > before })
			p.send(options(i))
			if res := p.mustRecv(); res.StatusCode != 200 || res.CSeq().MethodName != sip.OPTIONS {
				t.Fatalf("after %s: got %d %s", tt.name, res.StatusCode, res.CSeq().MethodName)
			}
			if b := p.recv(50 * time.Millisecond); b != nil {
				t.Fatalf("%s answered: %q", tt.name, b)
			}
		})
	}
	if n := c.panics.Load(); n != 0 {
		t.Fatalf("%d panics recovered", n)
	}
}

// TestUDPMethods: OPTIONS to no user is answered 200 with Allow; INVITE
// and MESSAGE go to the proxy (challenged: 407, after 100 Trying for the
// INVITE); a CANCEL of nothing gets 481; other methods 501.
func TestUDPMethods(t *testing.T) {
	in, _, addr := startUDPTest(t)
	p := newUDPPeer(t, addr)
	tests := []struct {
		method string
		want   []int // the responses, in order
	}{{"OPTIONS", []int{200}}, {"INVITE", []int{100, 407}}, {"SUBSCRIBE", []int{501}}, {"MESSAGE", []int{407}},
		{"CANCEL", []int{481}}, {"PUBLISH", []int{501}}}
	for i, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			p.send(sipRequest{method: tt.method, via: p.local().String() + ";branch=z9hG4bK-m" + strconv.Itoa(i),
				callID: "m" + strconv.Itoa(i), user: "201", cseq: 1}.bytes())
			var res *sip.Response
			for _, want := range tt.want {
				res = p.mustRecv()
				if res.StatusCode != want {
					t.Fatalf("%s answered %d %s, want %d", tt.method, res.StatusCode, res.Reason, want)
				}
			}
			if a := res.GetHeader("Allow"); res.StatusCode != 407 && res.StatusCode != 481 && (a == nil || a.Value() != allowed) {
				t.Fatalf("Allow %v", a)
			}
			if to := res.To(); to == nil || !to.Params.Has("tag") {
				t.Fatalf("no To tag: %s", res)
			}
			if from := res.From(); from == nil || from.Address.User != "201" || from.Params.GetOr("tag", "") != "fm"+strconv.Itoa(i) {
				t.Fatalf("From not copied: %s", res)
			}
			if cid := res.CallID(); cid == nil || string(*cid) != "m"+strconv.Itoa(i) {
				t.Fatalf("Call-ID not copied: %s", res)
			}
			if tt.method == "INVITE" { // the 407 is retransmitted until the ACK
				if b := p.recv(2 * time.Second); b == nil || parseResponse(t, b).StatusCode != 407 {
					t.Fatalf("407 not retransmitted: %q", b)
				}
				p.send(sipRequest{method: "ACK", via: p.local().String() + ";branch=z9hG4bK-m" + strconv.Itoa(i),
					callID: "m" + strconv.Itoa(i), user: "201", cseq: 1}.bytes())
				waitFor(t, "ACK absorbed", func() bool { return in.proxy.c.absorbed.Load() == 1 })
				for b := p.recv(1500 * time.Millisecond); b != nil; b = p.recv(1500 * time.Millisecond) {
					if !bytes.Contains(b, []byte(" 407 ")) {
						t.Fatalf("unexpected %q", b)
					}
					t.Fatal("407 retransmitted after its ACK")
				}
			}
		})
	}
	if n := in.counters.notImplemented.Load(); n != 2 {
		t.Fatalf("notImplemented = %d, want 2", n)
	}
}

// TestUDPVia checks where responses go and how the top Via is marked:
// received when the sent-by host is not the source, rport filled in when
// asked (RFC 3261 §18.2, RFC 3581).
func TestUDPVia(t *testing.T) {
	_, _, addr := startUDPTest(t)
	p := newUDPPeer(t, addr)
	other := newUDPPeer(t, addr) // where a sent-by port may point
	src := p.local()
	tests := []struct {
		name, via    string
		to           *udpPeer
		wantReceived string // "" for none
		wantRport    string // "" for none
	}{
		{"rport, sent-by is the source", src.String() + ";rport", p, "127.0.0.1", strconv.Itoa(int(src.Port()))},
		{"rport, sent-by elsewhere", "192.0.2.7:5099;rport", p, "127.0.0.1", strconv.Itoa(int(src.Port()))},
		{"no rport, sent-by is the source", src.String(), p, "", ""},
		{"no rport, sent-by a name: its port", "phone.invalid:" + strconv.Itoa(int(other.local().Port())), other, "127.0.0.1", ""},
		{"no rport, another address: its port", "192.0.2.7:" + strconv.Itoa(int(other.local().Port())), other, "127.0.0.1", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.send(sipRequest{method: "OPTIONS", via: tt.via + ";branch=z9hG4bK-v" + strconv.Itoa(i),
				callID: "via" + strconv.Itoa(i), user: "201", cseq: 1}.bytes())
			res := tt.to.mustRecv()
			via := res.Via()
			received, hasReceived := via.Params.Get("received")
			rport, hasRport := via.Params.Get("rport")
			if received != tt.wantReceived || hasReceived != (tt.wantReceived != "") {
				t.Errorf("received=%q (%v), want %q", received, hasReceived, tt.wantReceived)
			}
			if rport != tt.wantRport || hasRport != (tt.wantRport != "") {
				t.Errorf("rport=%q (%v), want %q", rport, hasRport, tt.wantRport)
			}
			if b, ok := via.Params.Get("branch"); !ok || b != "z9hG4bK-v"+strconv.Itoa(i) {
				t.Errorf("branch %q", b)
			}
		})
	}
}

// TestUDPGoroutines: sustained load does not grow the goroutines.
func TestUDPGoroutines(t *testing.T) {
	in, _, addr := startUDPTest(t)
	p := newUDPPeer(t, addr)
	run := func(from, n int) {
		for i := from; i < from+n; i++ {
			p.send(sipRequest{method: "REGISTER", via: p.local().String() + ";rport;branch=z9hG4bK-g" + strconv.Itoa(i),
				callID: "g" + strconv.Itoa(i), user: "201", contact: "2001", cseq: 1}.bytes())
			p.mustRecv()
		}
	}
	run(0, 100)
	before := runtime.NumGoroutine()
	run(100, 2000)
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Fatalf("goroutines grew from %d to %d", before, after)
	}
	if n := in.counters.challenged.Load(); n != 2100 {
		t.Fatalf("challenged %d, want 2100", n)
	}
}

func TestTxCache(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	k := func(i uint64) txKey { return txKey{i, ^i} }
	type step struct {
		op   string // begin, finish, abort, sweep
		key  uint64
		at   time.Duration
		res  string // finish: the response ("" = silence); begin: the response wanted
		want txState
	}
	tests := []struct {
		name     string
		capBytes int
		steps    []step
	}{
		{"answered then resent", 1 << 20, []step{
			{op: "begin", key: 1, want: txNew},
			{op: "begin", key: 1, at: time.Millisecond, want: txInFlight},
			{op: "finish", key: 1, at: 2 * time.Millisecond, res: "SIP/2.0 200 OK"},
			{op: "begin", key: 1, at: 500 * time.Millisecond, want: txAnswered, res: "SIP/2.0 200 OK"},
			{op: "begin", key: 2, at: 500 * time.Millisecond, want: txNew},
		}},
		{"silence is an answer", 1 << 20, []step{
			{op: "begin", key: 1, want: txNew},
			{op: "finish", key: 1},
			{op: "begin", key: 1, at: time.Second, want: txAnswered},
		}},
		{"abort forgets", 1 << 20, []step{
			{op: "begin", key: 1, want: txNew},
			{op: "abort", key: 1},
			{op: "begin", key: 1, want: txNew},
		}},
		{"kept for Timer J, then dropped", 1 << 20, []step{
			{op: "begin", key: 1, want: txNew},
			{op: "finish", key: 1, res: "r1"},
			{op: "begin", key: 1, at: txTimerJ, want: txAnswered, res: "r1"},
			{op: "sweep", at: txTimerJ + 3*txGenWidth},
			{op: "begin", key: 1, at: txTimerJ + 3*txGenWidth, want: txNew},
		}},
		{"expired without a sweep", 1 << 20, []step{
			{op: "begin", key: 1, want: txNew},
			{op: "finish", key: 1, res: "r1"},
			{op: "begin", key: 1, at: txTimerJ + 3*txGenWidth, want: txNew},
		}},
		{"the byte bound drops the oldest generation", 0, []step{ // 0: one chunk per shard
			{op: "begin", key: 32, want: txNew}, // keys 32, 64, 96 share shard 0
			{op: "finish", key: 32, res: strings.Repeat("a", txChunk/2)},
			{op: "begin", key: 64, at: 2 * txGenWidth, want: txNew},
			{op: "finish", key: 64, at: 2 * txGenWidth, res: strings.Repeat("b", txChunk/2)},
			{op: "begin", key: 96, at: 4 * txGenWidth, want: txNew},
			{op: "finish", key: 96, at: 4 * txGenWidth, res: "c"},
			{op: "begin", key: 32, at: 4 * txGenWidth, want: txNew},
			{op: "begin", key: 64, at: 4 * txGenWidth, want: txAnswered, res: strings.Repeat("b", txChunk/2)},
			{op: "begin", key: 96, at: 4 * txGenWidth, want: txAnswered, res: "c"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTxCache(txTimerJ, txGenWidth, tt.capBytes)
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				switch s.op {
				case "begin":
					st, got := c.begin(k(s.key), now, nil)
					if st != s.want || string(got) != s.res {
						t.Fatalf("step %d: begin(%d) = %v %q, want %v %q", i, s.key, st, got, s.want, s.res)
					}
				case "finish":
					var res []byte
					if s.res != "" {
						res = []byte(s.res)
					}
					c.finish(k(s.key), res, now)
				case "abort":
					c.abort(k(s.key))
				case "sweep":
					c.sweep(now)
				}
			}
		})
	}
}

// TestTxCacheBound fills the cache far beyond its bound.
func TestTxCacheBound(t *testing.T) {
	const capBytes = 4 << 20
	c := newTxCache(txTimerJ, txGenWidth, capBytes)
	res := bytes.Repeat([]byte("x"), 400)
	now := time.Unix(1_000_000, 0)
	for i := range uint64(200_000) {
		k := txKey{i * 0x9e3779b97f4a7c15, i}
		now = now.Add(50 * time.Microsecond)
		if st, _ := c.begin(k, now, nil); st != txNew {
			t.Fatalf("key %d: %v", i, st)
		}
		c.finish(k, res, now)
	}
	entries, b := c.stats()
	if b > 2*capBytes || entries == 0 {
		t.Fatalf("%d entries, %d bytes: bound %d", entries, b, capBytes)
	}
	t.Logf("%d entries, %d bytes held", entries, b)
}

// FuzzUDPDatagram feeds datagrams to the handler: it must never panic (a
// recovered panic fails too) whatever the bytes.
func FuzzUDPDatagram(f *testing.F) {
	for _, r := range []sipRequest{
		{method: "REGISTER", via: "127.0.0.1:5060;rport;branch=z9hG4bK-f1", callID: "f1", user: "201", contact: "2001", cseq: 1},
		{method: "REGISTER", via: "127.0.0.1:5060;branch=z9hG4bK-f2", callID: "f2", user: "201", contact: "2001", cseq: 2,
			auth: `Digest username="2001", realm="voip.test", nonce="x", uri="sip:voip.test", response="0", algorithm=MD5, cnonce="c", qop=auth, nc=00000001`},
		{method: "OPTIONS", via: "[::1]:5060;branch=1", callID: "f3", user: "201", cseq: 1},
		{method: "INVITE", via: "host.invalid;branch=z9hG4bK-f4;received=1.2.3.4", callID: "f4", user: "201", cseq: 1, extra: "Route: <sip:x;lr>\r\n"},
	} {
		f.Add(r.bytes())
	}
	f.Add([]byte("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("\r\n\r\n"))
	// the proxy's inputs: a request within a dialog routed through it, a
	// CANCEL, an ACK, responses to a branch of its own
	f.Add(sipRequest{method: "BYE", via: "127.0.0.1:5060;branch=z9hG4bK-f5", callID: "f5", user: "201", cseq: 2,
		extra: "Route: <sip:127.0.0.1:5060;lr>\r\nTo: <sip:202@voip.test>;tag=x\r\n"}.bytes())
	f.Add(sipRequest{method: "CANCEL", via: "127.0.0.1:5060;branch=z9hG4bK-f4", callID: "f4", user: "201", cseq: 1}.bytes())
	f.Add(sipRequest{method: "ACK", via: "127.0.0.1:5060;branch=z9hG4bK-f4", callID: "f4", user: "201", cseq: 1}.bytes())
	f.Add([]byte("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=" + branchPrefix + "x\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-y\r\n" +
		"From: <sip:201@voip.test>;tag=a\r\nTo: <sip:202@voip.test>;tag=b\r\nCall-ID: f6\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=" + branchPrefix + "x\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;received=127.0.0.1;rport=9\r\n" +
		"From: <sip:201@voip.test>;tag=a\r\nTo: <sip:202@voip.test>;tag=b\r\nCall-ID: f7\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	in, _, _ := startUDPTest(f)
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = sink.Close() })
	go func() { // drain
		buf := make([]byte, 65536)
		for {
			if _, _, err := sink.ReadFromUDP(buf); err != nil {
				return
			}
		}
	}()
	src := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	w := &udpWorker{s: in.udp[0]}
	f.Fuzz(func(t *testing.T, data []byte) {
		before := in.counters.panics.Load()
		w.handle(data, src, time.Now())
		if in.counters.panics.Load() != before {
			t.Fatalf("handler panicked on %q", data)
		}
	})
}

// BenchmarkUDPChallenge is the first half of a registration in the handler
// (parse, cache, 401, serialize, send), without the network read.
func BenchmarkUDPChallenge(b *testing.B) {
	in, _, _ := startUDPTest(b)
	sink := newUDPPeer(b, netip.AddrPort{})
	w := &udpWorker{s: in.udp[0]}
	src := sink.local()
	reqs := make([][]byte, 1024)
	for i := range reqs {
		reqs[i] = sipRequest{method: "REGISTER", via: src.String() + ";rport;branch=z9hG4bK-b" + strconv.Itoa(i),
			callID: "b" + strconv.Itoa(i), user: "201", contact: "2001", cseq: 1}.bytes()
	}
	b.ReportAllocs()
	now := time.Now()
	for i := 0; b.Loop(); i++ {
		// a new transaction each time: vary the branch by time
		now = now.Add(time.Microsecond)
		if i%len(reqs) == 0 {
			in.udp[0].cache = newTxCache(txTimerJ, txGenWidth, txCacheBytes)
		}
		w.handle(reqs[i%len(reqs)], src, now)
	}
}

// BenchmarkUDPRegistration is a whole registration in the handler: REGISTER
// -> 401 -> REGISTER with digest -> 200, for 2 phones in turn (the client's
// work is not timed).
func BenchmarkUDPRegistration(b *testing.B) {
	in, _, _ := startUDPTest(b)
	p := newUDPPeer(b, netip.AddrPort{})
	w := &udpWorker{s: in.udp[0]}
	src := p.local()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ph := udpTestPhones[i%2]
		req := sipRequest{method: "REGISTER", via: src.String() + ";rport;branch=z9hG4bK-a" + strconv.Itoa(i),
			callID: "r" + strconv.Itoa(i), user: ph.user, contact: ph.id, cseq: 1}
		w.handle(req.bytes(), src, time.Now())
		b.StopTimer()
		res := p.mustRecv()
		req.cseq, req.via = 2, src.String()+";rport;branch=z9hG4bK-b"+strconv.Itoa(i)
		req.auth = authorization(b, res, ph.id, ph.password)
		data := req.bytes()
		b.StartTimer()
		w.handle(data, src, time.Now())
		b.StopTimer()
		if res := p.mustRecv(); res.StatusCode != 200 {
			b.Fatalf("%d %s", res.StatusCode, res.Reason)
		}
		b.StartTimer()
	}
}

// BenchmarkTxCache is begin + finish of new transactions on a full cache
// (64 MiB of 450-byte responses), as under a registration storm.
func BenchmarkTxCache(b *testing.B) {
	c := newTxCache(txTimerJ, txGenWidth, txCacheBytes)
	res := bytes.Repeat([]byte("x"), 450)
	now := time.Unix(1_000_000, 0)
	var seed maphash.Seed = maphash.MakeSeed()
	fill := txCacheBytes / (450 + txEntryOverhead)
	for i := range fill {
		k := txKey{maphash.Comparable(seed, i), uint64(i)}
		c.begin(k, now, nil)
		c.finish(k, res, now)
	}
	var buf []byte
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		now = now.Add(20 * time.Microsecond)
		k := txKey{maphash.Comparable(seed, fill+i), uint64(i)}
		_, buf = c.begin(k, now, buf[:0])
		c.finish(k, res, now)
	}
}

// TestTxTable checks the open-addressing table against a map, with few
// distinct home slots so that probes collide and wrap around.
func TestTxTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tab txTable
	tab.init(8)
	ref := map[txKey]txSlot{}
	key := func() txKey { return txKey{rng.Uint64N(200), rng.Uint64N(16) << 1} } // 16 home slots at most
	for i := range 200_000 {
		k := key()
		switch op := rng.IntN(3); {
		case op == 0:
			s := txSlot{no: uint32(i), n: uint32(i)}
			tab.put(k, s)
			ref[k] = s
		case op == 1:
			if j := tab.find(k); j >= 0 {
				tab.remove(j)
			}
			delete(ref, k)
		default:
			j := tab.find(k)
			want, ok := ref[k]
			if (j >= 0) != ok || (ok && tab.tab[j].s != want) {
				t.Fatalf("op %d: find(%v) = %d, want %v %v", i, k, j, want, ok)
			}
		}
		if tab.n != len(ref) {
			t.Fatalf("op %d: %d entries, want %d", i, tab.n, len(ref))
		}
	}
	for k, want := range ref {
		if j := tab.find(k); j < 0 || tab.tab[j].s != want {
			t.Fatalf("lost %v", k)
		}
	}
}

// TestTCPRegister: TCP stays on sipgo's transport and transaction layers,
// with the same REGISTER decision and responses.
func TestTCPRegister(t *testing.T) {
	in, _, addr := startPluginTest(t, "tcp")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	rd := bufio.NewReader(conn)
	local := conn.LocalAddr().String()
	exchange := func(r sipRequest) *sip.Response {
		t.Helper()
		b := bytes.Replace(r.bytes(), []byte("SIP/2.0/UDP"), []byte("SIP/2.0/TCP"), 1)
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
		var msg []byte
		for {
			line, err := rd.ReadBytes('\n')
			if err != nil {
				t.Fatalf("reading the response: %v (%q)", err, msg)
			}
			msg = append(msg, line...)
			if string(line) == "\r\n" {
				return parseResponse(t, msg)
			}
		}
	}
	req := sipRequest{method: "REGISTER", via: local + ";rport;branch=z9hG4bK-t1", callID: "tcp-1", user: "201", contact: "2001", cseq: 1}
	res := exchange(req)
	if res.StatusCode != 401 {
		t.Fatalf("got %d, want 401", res.StatusCode)
	}
	if to := res.To(); to == nil || !to.Params.Has("tag") {
		t.Fatalf("no To tag: %s", res)
	}
	if rport, _ := res.Via().Params.Get("rport"); rport == "" {
		t.Fatalf("rport not filled in: %s", res)
	}
	req.cseq, req.via, req.auth = 2, local+";rport;branch=z9hG4bK-t2", authorization(t, res, "2001", "pw-2001")
	if res := exchange(req); res.StatusCode != 200 {
		t.Fatalf("got %d %s, want 200", res.StatusCode, res.Reason)
	}
	if n := in.reg.PhoneCount("2001"); n != 1 {
		t.Fatalf("%d bindings", n)
	}
}
