package sipptest

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// responder is a deliberately small SIP registrar written for this test
// only (UDP and TCP on one port), so that the scenarios and the runner are
// checked end to end without rally. Behaviour by user (the To URI's user):
//
//	refuseme    503 + Retry-After: 2 to any REGISTER (before any challenge)
//	refuselater 401, then 503 + Retry-After: 2 to the authenticated REGISTER
//	noretry     401, then 503 without Retry-After
//	blackhole   no answer at all
//	noqop       challenged without qop (RFC 2069 digest)
//	proxyauth   challenged with 407 + Proxy-Authenticate
//	others      401 (Digest realm="t", qop="auth", algorithm=MD5), then 200
//	            or 403 for a wrong password
//
// Nonces older than staleAfter are answered 401 stale=true.
type responder struct {
	t          *testing.T
	realm      string
	passwords  map[string]string
	staleAfter time.Duration

	mu       sync.Mutex
	nonces   map[string]time.Time
	seq      int
	bindings map[string]map[string]int // user -> contact URI -> expires
	authz    []string                  // Authorization headers seen
	problems []string                  // what sipp sent that a registrar would reject

	done chan struct{}
	udp  net.PacketConn
	tcp  net.Listener
	addr string
}

func newResponder(t *testing.T, users [][2]string, staleAfter time.Duration) *responder {
	t.Helper()
	r := &responder{t: t, realm: "t", passwords: map[string]string{}, staleAfter: staleAfter,
		nonces: map[string]time.Time{}, bindings: map[string]map[string]int{}, done: make(chan struct{})}
	for _, u := range users {
		r.passwords[u[0]] = u[1]
	}
	// One port for both transports.
	for range 50 {
		udp, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tcp, err := net.Listen("tcp", udp.LocalAddr().String())
		if err != nil {
			udp.Close()
			continue
		}
		r.udp, r.tcp, r.addr = udp, tcp, udp.LocalAddr().String()
		break
	}
	if r.udp == nil {
		t.Fatal("no port free for both UDP and TCP")
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.serveUDP() }()
	go func() { defer wg.Done(); r.serveTCP() }()
	t.Cleanup(func() { close(r.done); r.udp.Close(); r.tcp.Close(); wg.Wait() })
	return r
}

func (r *responder) serveUDP() {
	buf := make([]byte, 65535)
	for {
		n, from, err := r.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		if res := r.handle(string(buf[:n])); res != "" {
			_, _ = r.udp.WriteTo([]byte(res), from)
		}
	}
}

func (r *responder) serveTCP() {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := r.tcp.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			go func() { <-r.done; c.Close() }()
			br := bufio.NewReader(c)
			for {
				msg, err := readStreamMessage(br)
				if err != nil {
					return
				}
				if res := r.handle(msg); res != "" {
					if _, err := c.Write([]byte(res)); err != nil {
						return
					}
				}
			}
		}()
	}
}

// readStreamMessage reads one SIP message framed by Content-Length.
func readStreamMessage(br *bufio.Reader) (string, error) {
	var b strings.Builder
	clen := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if b.Len() == 0 && strings.TrimSpace(line) == "" {
			continue // keep-alive CRLFs
		}
		b.WriteString(line)
		if line == "\r\n" || line == "\n" {
			break
		}
		if name, v, ok := strings.Cut(line, ":"); ok {
			if n := strings.ToLower(strings.TrimSpace(name)); n == "content-length" || n == "l" {
				clen, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
	}
	body := make([]byte, clen)
	if _, err := io.ReadFull(br, body); err != nil {
		return "", err
	}
	b.Write(body)
	return b.String(), nil
}

type sipMsg struct {
	method, uri string
	headers     [][2]string // name as sent, value
}

func parse(raw string) (sipMsg, bool) {
	head, _, _ := strings.Cut(raw, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	parts := strings.SplitN(lines[0], " ", 3)
	if len(parts) != 3 || parts[2] != "SIP/2.0" {
		return sipMsg{}, false
	}
	m := sipMsg{method: parts[0], uri: parts[1]}
	for _, l := range lines[1:] {
		name, v, ok := strings.Cut(l, ":")
		if !ok {
			return sipMsg{}, false
		}
		m.headers = append(m.headers, [2]string{strings.TrimSpace(name), strings.TrimSpace(v)})
	}
	return m, true
}

func (m sipMsg) get(name string) string {
	for _, h := range m.headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

func (m sipMsg) all(name string) []string {
	var vs []string
	for _, h := range m.headers {
		if strings.EqualFold(h[0], name) {
			vs = append(vs, h[1])
		}
	}
	return vs
}

func (m sipMsg) reply(code int, reason string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, v := range m.all("Via") {
		b.WriteString("Via: " + v + "\r\n")
	}
	b.WriteString("From: " + m.get("From") + "\r\n")
	to := m.get("To")
	if !strings.Contains(to, ";tag=") {
		to += ";tag=resp1"
	}
	b.WriteString("To: " + to + "\r\n")
	b.WriteString("Call-ID: " + m.get("Call-ID") + "\r\n")
	b.WriteString("CSeq: " + m.get("CSeq") + "\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// uriUser returns the user part of the first sip: URI in a header value.
func uriUser(v string) string {
	_, rest, ok := strings.Cut(v, "sip:")
	if !ok {
		return ""
	}
	user, _, ok := strings.Cut(rest, "@")
	if !ok {
		return ""
	}
	return user
}

func (r *responder) problem(format string, args ...any) {
	r.mu.Lock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *responder) handle(raw string) string {
	m, ok := parse(raw)
	if !ok {
		if strings.HasPrefix(raw, "SIP/2.0") {
			return ""
		}
		r.problem("unparsable message %q", raw)
		return ""
	}
	switch m.method {
	case "OPTIONS":
		return m.reply(200, "OK", "Allow: REGISTER, OPTIONS")
	case "REGISTER":
		return r.register(m)
	default:
		return m.reply(405, "Method Not Allowed", "Allow: REGISTER, OPTIONS")
	}
}

func (r *responder) challenge(m sipMsg, stale bool) string {
	r.mu.Lock()
	r.seq++
	nonce := "n" + strconv.Itoa(r.seq)
	r.nonces[nonce] = time.Now()
	r.mu.Unlock()
	code, reason, name := 401, "Unauthorized", "WWW-Authenticate"
	if uriUser(m.get("To")) == "proxyauth" {
		code, reason, name = 407, "Proxy Authentication Required", "Proxy-Authenticate"
	}
	h := fmt.Sprintf(`%s: Digest realm="%s", nonce="%s", algorithm=MD5`, name, r.realm, nonce)
	if uriUser(m.get("To")) != "noqop" {
		h += `, qop="auth"`
	}
	if stale {
		h += ", stale=true"
	}
	return m.reply(code, reason, h)
}

func digestParams(v string) map[string]string {
	p := map[string]string{}
	v, ok := strings.CutPrefix(v, "Digest ")
	if !ok {
		return nil
	}
	for len(v) > 0 {
		v = strings.TrimLeft(v, " ,")
		k, rest, ok := strings.Cut(v, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if strings.HasPrefix(rest, `"`) {
			val, after, _ := strings.Cut(rest[1:], `"`)
			p[k], v = val, after
		} else {
			val, after, _ := strings.Cut(rest, ",")
			p[k], v = strings.TrimSpace(val), after
		}
	}
	return p
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (r *responder) register(m sipMsg) string {
	user := uriUser(m.get("To"))
	switch {
	case user == "":
		return m.reply(400, "Bad To")
	case user == "blackhole":
		return ""
	case user == "refuseme":
		return m.reply(503, "Service Unavailable", "Retry-After: 2")
	}
	auth := m.get("Authorization")
	if user == "proxyauth" {
		auth = m.get("Proxy-Authorization")
	}
	if auth == "" {
		return r.challenge(m, false)
	}
	r.mu.Lock()
	r.authz = append(r.authz, auth)
	r.mu.Unlock()
	p := digestParams(auth)
	if p == nil || p["username"] != user || p["realm"] != r.realm {
		return m.reply(403, "Forbidden (username or realm)")
	}
	if p["uri"] != m.uri {
		// SIPp builds the digest uri from remote_ip:remote_port; the
		// scenarios make the Request-URI the same.
		r.problem("digest uri %q is not the Request-URI %q", p["uri"], m.uri)
	}
	r.mu.Lock()
	issued, known := r.nonces[p["nonce"]]
	r.mu.Unlock()
	if !known {
		return r.challenge(m, false)
	}
	if time.Since(issued) > r.staleAfter {
		return r.challenge(m, true)
	}
	pw, known := r.passwords[user]
	if !known {
		return m.reply(403, "Forbidden (unknown user)")
	}
	ha1 := md5hex(user + ":" + r.realm + ":" + pw)
	ha2 := md5hex("REGISTER:" + p["uri"])
	var want string
	if p["qop"] != "" {
		want = md5hex(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":" + p["qop"] + ":" + ha2)
	} else {
		want = md5hex(ha1 + ":" + p["nonce"] + ":" + ha2)
	}
	if p["response"] != want {
		return m.reply(403, "Forbidden")
	}
	switch user {
	case "refuselater":
		return m.reply(503, "Service Unavailable", "Retry-After: 2")
	case "noretry":
		return m.reply(503, "Service Unavailable")
	}

	expires := 3600
	if v := m.get("Expires"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return m.reply(400, "Bad Expires")
		}
		expires = n
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range m.all("Contact") {
		if c == "*" {
			if expires != 0 {
				return m.reply(400, "Contact * needs Expires: 0")
			}
			delete(r.bindings, user)
			continue
		}
		uri := strings.TrimSuffix(strings.TrimPrefix(c, "<"), ">")
		if expires == 0 {
			delete(r.bindings[user], uri)
			continue
		}
		if r.bindings[user] == nil {
			r.bindings[user] = map[string]int{}
		}
		r.bindings[user][uri] = expires
	}
	var extra []string
	for uri, e := range r.bindings[user] {
		extra = append(extra, fmt.Sprintf("Contact: <%s>;expires=%d", uri, e))
	}
	return m.reply(200, "OK", extra...)
}

func (r *responder) binding(user string) map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.bindings[user] {
		out[k] = v
	}
	return out
}

func needSipp(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp not installed (apt-get install sip-tester)")
	}
}

func TestScenarios(t *testing.T) {
	needSipp(t)
	users := [][2]string{
		{"1001", "pw-1001"}, {"1002", "pw-1002"}, {"1003", "pw-1003"}, {"refuseme", "x"},
		{"refuselater", "pw-r"}, {"noretry", "pw-n"}, {"blackhole", "x"}, {"noqop", "pw-q"}, {"proxyauth", "pw-p"},
	}
	many := make([][2]string, 20)
	for i := range many {
		u := strconv.Itoa(2000 + i)
		many[i] = [2]string{u, "pw-" + u}
	}

	type check func(t *testing.T, srv *responder, run Run, res Result)
	tests := []struct {
		name   string
		run    Run
		before []Run // run first against the same responder, all must succeed
		ok     int   // successful calls wanted
		failed int   // failed calls wanted
		check  check
	}{
		{name: "register", run: Run{Scenario: "register", Users: [][2]string{{"1001", "pw-1001"}}}, ok: 1,
			check: func(t *testing.T, srv *responder, run Run, res Result) {
				b := srv.binding("1001")
				want := fmt.Sprintf("sip:1001@127.0.0.1:%d", res.LocalPort)
				if b[want] != 3600 {
					t.Errorf("bindings %v, want %s expires 3600", b, want)
				}
				sent := MessagesSent(res.Messages)
				if len(sent) != 2 || !strings.Contains(sent[1], "Authorization: Digest username=\"1001\"") || !strings.Contains(sent[1], "CSeq: 2 REGISTER") {
					t.Errorf("sent %q", sent)
				}
				if got := MessagesReceived(res.Messages); len(got) != 2 || !strings.HasPrefix(got[1], "SIP/2.0 200 OK") {
					t.Errorf("received %q", got)
				}
			}},
		{name: "register over TCP", run: Run{Scenario: "register", Transport: "t1", Users: [][2]string{{"1002", "pw-1002"}}}, ok: 1,
			check: func(t *testing.T, srv *responder, run Run, res Result) {
				if !strings.Contains(res.Messages, "Via: SIP/2.0/TCP") {
					t.Errorf("no TCP Via in\n%s", res.Messages)
				}
				if len(srv.binding("1002")) != 1 {
					t.Errorf("bindings %v", srv.binding("1002"))
				}
			}},
		{name: "register challenged with 407", run: Run{Scenario: "register", Users: [][2]string{{"proxyauth", "pw-p"}}}, ok: 1,
			check: func(t *testing.T, srv *responder, run Run, res Result) {
				if !strings.Contains(res.Messages, "Proxy-Authorization: Digest") {
					t.Errorf("no Proxy-Authorization in\n%s", res.Messages)
				}
			}},
		{name: "register without qop", run: Run{Scenario: "register", Users: [][2]string{{"noqop", "pw-q"}}}, ok: 1},
		{name: "register many users, Expires key", run: Run{Scenario: "register", Users: many, Rate: 200, Keys: map[string]string{"expires": "120"}}, ok: 20,
			check: func(t *testing.T, srv *responder, run Run, res Result) {
				for _, u := range many {
					b := srv.binding(u[0])
					if len(b) != 1 {
						t.Errorf("%s: bindings %v", u[0], b)
					}
					for _, e := range b {
						if e != 120 {
							t.Errorf("%s: expires %d", u[0], e)
						}
					}
				}
			}},
		{name: "register with a wrong password fails", run: Run{Scenario: "register", Users: [][2]string{{"1001", "nope"}}}, failed: 1},
		{name: "wrong password gets 403", run: Run{Scenario: "register-wrong-password", Users: [][2]string{{"1001", "pw-1001"}}}, ok: 1,
			check: func(t *testing.T, srv *responder, run Run, res Result) {
				if len(srv.binding("1001")) != 0 {
					t.Errorf("bound with a wrong password: %v", srv.binding("1001"))
				}
			}},
		{name: "refused with Retry-After", run: Run{Scenario: "register-refused", Users: [][2]string{{"refuseme", "x"}}}, ok: 1,
			check: func(t *testing.T, srv *responder, run Run, res Result) {
				if !strings.Contains(res.Messages, "SIP/2.0 503") || !strings.Contains(res.Messages, "Retry-After: 2") {
					t.Errorf("no 503 with Retry-After: 2 in\n%s", res.Messages)
				}
				if !strings.Contains(res.Log, "retry_after=2 user=refuseme") {
					t.Errorf("log %q", res.Log)
				}
			}},
		{name: "refused expected but challenged", run: Run{Scenario: "register-refused", Users: [][2]string{{"1001", "pw-1001"}}}, failed: 1},
		{name: "refused after auth with Retry-After", run: Run{Scenario: "register-refused-after-auth", Users: [][2]string{{"refuselater", "pw-r"}}}, ok: 1,
			check: func(t *testing.T, srv *responder, run Run, res Result) {
				if !strings.Contains(res.Log, "retry_after=2") {
					t.Errorf("log %q", res.Log)
				}
			}},
		{name: "503 without Retry-After fails", run: Run{Scenario: "register-refused-after-auth", Users: [][2]string{{"noretry", "pw-n"}}}, failed: 1,
			check: func(t *testing.T, srv *responder, run Run, res Result) {
				if !strings.Contains(res.Errors, "Retry-After") {
					t.Errorf("errors log does not name Retry-After:\n%s", res.Errors)
				}
			}},
		{name: "unregister", run: Run{Scenario: "unregister", Users: [][2]string{{"1003", "pw-1003"}}}, ok: 1,
			before: []Run{{Scenario: "register", Users: [][2]string{{"1003", "pw-1003"}}}},
			check: func(t *testing.T, srv *responder, run Run, res Result) {
				if b := srv.binding("1003"); len(b) != 0 {
					t.Errorf("still bound: %v", b)
				}
				if !strings.Contains(res.Messages, "Expires: 0") {
					t.Error("no Expires: 0 sent")
				}
			}},
		{name: "unregister all", run: Run{Scenario: "unregister-all", Users: [][2]string{{"1003", "pw-1003"}}}, ok: 1,
			before: []Run{
				{Scenario: "register", Users: [][2]string{{"1003", "pw-1003"}}},
				{Scenario: "register", Users: [][2]string{{"1003", "pw-1003"}}, LocalIP: "127.0.0.2"},
			},
			check: func(t *testing.T, srv *responder, run Run, res Result) {
				if b := srv.binding("1003"); len(b) != 0 {
					t.Errorf("still bound: %v", b)
				}
			}},
		{name: "stale nonce", run: Run{Scenario: "register-stale", Users: [][2]string{{"1001", "pw-1001"}}, Keys: map[string]string{"stale_wait_ms": "700"}}, ok: 1,
			check: func(t *testing.T, srv *responder, run Run, res Result) {
				if n := strings.Count(res.Messages, "stale=true"); n != 1 {
					t.Errorf("%d stale challenges", n)
				}
				srv.mu.Lock()
				defer srv.mu.Unlock()
				if len(srv.authz) != 3 || !strings.Contains(srv.authz[1], "nc=00000002") || !strings.Contains(srv.authz[2], "nc=00000001") {
					t.Errorf("Authorization headers %q", srv.authz)
				}
			}},
		{name: "options", run: Run{Scenario: "options"}, ok: 1},
		{name: "options, 3 calls over TCP", run: Run{Scenario: "options", Calls: 3, Transport: "t1"}, ok: 3},
		{name: "no answer, recv timeout", run: Run{Scenario: "register", Users: [][2]string{{"blackhole", "x"}}, RecvTimeout: 300 * time.Millisecond}, failed: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stale := time.Minute
			if tc.run.Scenario == "register-stale" {
				stale = 400 * time.Millisecond // stale_wait_ms is 700
			}
			srv := newResponder(t, append(users, many...), stale)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			port := 0
			for i, b := range tc.before {
				b.Server = srv.addr
				b.Timeout = 10 * time.Second
				res, err := b.Exec(ctx, t.TempDir())
				if err != nil || !res.OK(max(len(b.Users), 1)) {
					t.Fatalf("before[%d]: %v, %v\n%s", i, res, err, res.Errors)
				}
				if i == 0 {
					port = res.LocalPort
				}
			}
			run := tc.run
			run.Server = srv.addr
			run.Timeout = 10 * time.Second
			run.LocalPort = port // unregister: from the registration's port
			res, err := run.Exec(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if res.Successful != tc.ok || res.Failed != tc.failed || res.Unfinished != 0 || res.TimedOut {
				t.Errorf("%v, want successful=%d failed=%d\nerrors:\n%s\nmessages:\n%s", res, tc.ok, tc.failed, res.Errors, res.Messages)
			}
			wantExit := 0
			if tc.failed > 0 {
				wantExit = 1
			}
			if res.ExitCode != wantExit {
				t.Errorf("exit code %d, want %d", res.ExitCode, wantExit)
			}
			srv.mu.Lock()
			problems := srv.problems
			srv.mu.Unlock()
			for _, p := range problems {
				t.Errorf("responder: %s", p)
			}
			if tc.check != nil {
				tc.check(t, srv, run, res)
			}
		})
	}
}

// A server that never answers: the global timeout ends the run; that is a
// result (TimedOut, calls unfinished), not an error.
func TestGlobalTimeout(t *testing.T) {
	needSipp(t)
	t.Parallel()
	srv := newResponder(t, [][2]string{{"blackhole", "x"}}, time.Minute)
	start := time.Now()
	res, err := Run{Scenario: "register", Server: srv.addr, Users: [][2]string{{"blackhole", "x"}}, Timeout: time.Second}.Exec(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.Unfinished != 1 || res.Successful != 0 || res.ExitCode == 0 {
		t.Errorf("%v", res)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestContextCancel(t *testing.T) {
	needSipp(t)
	t.Parallel()
	srv := newResponder(t, [][2]string{{"blackhole", "x"}}, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := Run{Scenario: "register", Server: srv.addr, Users: [][2]string{{"blackhole", "x"}}, Timeout: time.Minute}.Exec(ctx, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	t.Logf("%v", res)
}

func TestErrors(t *testing.T) {
	needSipp(t)
	t.Parallel()
	srv := newResponder(t, nil, time.Minute)
	for _, tc := range []struct {
		run  Run
		want string
	}{
		{Run{Scenario: "nope", Server: srv.addr}, "no scenario"},
		{Run{Scenario: "register", Server: "127.0.0.1"}, "Server"},
		{Run{Scenario: "register", Server: srv.addr, Transport: "s1"}, "Transport"},
		{Run{Scenario: "register", Server: srv.addr, Users: [][2]string{{"a;b", "x"}}}, "CSV"},
		{Run{Scenario: "options", Server: srv.addr, Args: []string{"-no_such_option"}}, "could not run"},
	} {
		_, err := tc.run.Exec(context.Background(), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want it to mention %q", tc.run, err, tc.want)
		}
	}
}

func TestScenariosEmbedded(t *testing.T) {
	want := []string{"call", "options", "register", "register-refused", "register-refused-after-auth", "register-stale",
		"register-wrong-password", "uas", "unregister", "unregister-all"}
	got := Scenarios()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Scenarios() = %v, want %v", got, want)
	}
	for _, n := range got {
		b, err := Scenario(n + ".xml")
		if err != nil || !strings.Contains(string(b), `<scenario name="`+n+`">`) {
			t.Errorf("%s: %v", n, err)
		}
	}
}

func TestSplitMessages(t *testing.T) {
	log := "----------------------------------------------- 2026-11-25 13:57:43.291007\n" +
		"UDP message sent (10 bytes):\n\nOPTIONS sip:a SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n\n" +
		"----------------------------------------------- 2026-11-25 13:57:43.293550\n" +
		"UDP message received [20] bytes :\n\nSIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\n\r\n\n"
	if s := MessagesSent(log); len(s) != 1 || s[0] != "OPTIONS sip:a SIP/2.0\r\nCSeq: 1 OPTIONS" {
		t.Errorf("sent %q", s)
	}
	if r := MessagesReceived(log); len(r) != 1 || r[0] != "SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS" {
		t.Errorf("received %q", r)
	}
}
