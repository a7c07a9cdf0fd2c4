package digest

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func sha256hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Known vectors from the RFCs: the expected responses are copied from the
// documents, not computed here.
func TestRFCVectors(t *testing.T) {
	rfc7616 := Credentials{
		Username: "Mufasa", Realm: "http-auth@example.org", URI: "/dir/index.html",
		Nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", QOP: QOPAuth, NC: 1,
		CNonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
		Opaque: "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
	}
	tests := []struct {
		name     string
		c        Credentials
		password string
		want     string
	}{
		{
			name: "RFC 2617 §3.5",
			c: Credentials{
				Username: "Mufasa", Realm: "testrealm@host.com", URI: "/dir/index.html",
				Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093", QOP: QOPAuth, NC: 1, CNonce: "0a4f113b",
			},
			password: "Circle Of Life",
			want:     "6629fae49393a05397450978507c4ef1",
		},
		{name: "RFC 7616 §3.9.1 MD5", c: withAlg(rfc7616, MD5), password: "Circle of Life", want: "8ca523f5e9506fed4657c9700eebdbec"},
		{name: "RFC 7616 §3.9.1 SHA-256", c: withAlg(rfc7616, SHA256), password: "Circle of Life", want: "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ha1 := HA1(tt.c.Algorithm, tt.c.Username, tt.c.Realm, tt.password)
			got, err := ExpectedResponse(tt.c, "GET", ha1)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("response = %s, want %s", got, tt.want)
			}
			// Uppercase HA1 from a sloppy directory gives the same answer.
			if got, _ := ExpectedResponse(tt.c, "GET", strings.ToUpper(ha1)); got != tt.want {
				t.Errorf("with uppercase HA1: response = %s, want %s", got, tt.want)
			}
		})
	}
}

func withAlg(c Credentials, alg string) Credentials { c.Algorithm = alg; return c }

// A SIP REGISTER vector computed independently from the RFC 2617 formulas.
func TestSIPVectorMD5(t *testing.T) {
	const (
		user, realm, pass = "201", "voip.example", "alice-secret"
		uri, nonce        = "sip:voip.example", "8a7d3b0c"
		cnonce, nc, qop   = "0a4f113b", "00000002", "auth"
	)
	ha1 := md5hex(user + ":" + realm + ":" + pass)
	ha2 := md5hex("REGISTER:" + uri)
	if got := HA1("", user, realm, pass); got != ha1 {
		t.Fatalf("HA1 = %s, want %s", got, ha1)
	}
	c := Credentials{Username: user, Realm: realm, URI: uri, Nonce: nonce}
	got, err := ExpectedResponse(c, "REGISTER", ha1)
	if err != nil {
		t.Fatal(err)
	}
	if want := md5hex(ha1 + ":" + nonce + ":" + ha2); got != want {
		t.Errorf("without qop: %s, want %s", got, want)
	}
	c.QOP, c.CNonce, c.NC = qop, cnonce, 2
	got, _ = ExpectedResponse(c, "REGISTER", ha1)
	if want := md5hex(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + ha2); got != want {
		t.Errorf("with qop: %s, want %s", got, want)
	}
	// The same through the parser (nc hashed as received).
	p, err := ParseAuthorization(fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", qop=auth, cnonce="%s", nc=%s`, user, realm, nonce, uri, got, cnonce, nc))
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := ExpectedResponse(p, "REGISTER", ha1); again != got {
		t.Errorf("parsed: %s, want %s", again, got)
	}
	if sha := HA1(SHA256, user, realm, pass); sha != sha256hex(user+":"+realm+":"+pass) {
		t.Errorf("SHA-256 HA1 = %s", sha)
	}
}

// client is a test UA: it answers a challenge the way a phone does, with
// formulas written out here (not with ExpectedResponse).
type client struct {
	user, realm, pass, alg string
	nc                     uint32
}

func (cl *client) header(nonce, method, uri string) string {
	h := md5hex
	if cl.alg == SHA256 {
		h = sha256hex
	}
	cl.nc++
	nc := fmt.Sprintf("%08x", cl.nc)
	const cnonce = "c0ffee"
	resp := h(h(cl.user+":"+cl.realm+":"+cl.pass) + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + h(method+":"+uri))
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s, cnonce="%s", qop=auth, nc=%s`,
		cl.user, cl.realm, nonce, uri, resp, cl.alg, cnonce, nc)
}

func mustParse(t testing.TB, h string) Credentials {
	t.Helper()
	c, err := ParseAuthorization(h)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const (
	realm    = "voip.example"
	lifetime = 30 * time.Second
)

var (
	both   = WithAlgorithms(SHA256, MD5)
	secret = []byte("0123456789abcdef0123456789abcdef")
	t0     = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
)

func ha1s(user, pass string) (string, string) {
	return HA1(MD5, user, realm, pass), HA1(SHA256, user, realm, pass)
}

func TestVerifierCheck(t *testing.T) {
	v := NewVerifier(realm, secret, lifetime, both)
	other := NewVerifier(realm, []byte("another site's secret"), lifetime, both)
	m, s := ha1s("201", "alice-secret")
	const uri = "sip:voip.example"

	tests := []struct {
		name string
		// header builds the Authorization value; check is the error wanted.
		header func() string
		ha1md5 string
		ha1sha string
		now    time.Time
		want   []error // all must match (errors.Is); nil = success
		notIs  []error
	}{
		{name: "MD5 ok", header: func() string {
			return (&client{"201", realm, "alice-secret", MD5, 0}).header(v.nonces.Issue(t0), "REGISTER", uri)
		}, ha1md5: m, ha1sha: s, now: t0},
		{name: "SHA-256 ok", header: func() string {
			return (&client{"201", realm, "alice-secret", SHA256, 0}).header(v.nonces.Issue(t0), "REGISTER", uri)
		}, ha1md5: m, ha1sha: s, now: t0.Add(lifetime)},
		{name: "no algorithm means MD5", header: func() string {
			h := (&client{"201", realm, "alice-secret", MD5, 0}).header(v.nonces.Issue(t0), "REGISTER", uri)
			return strings.Replace(h, "algorithm=MD5, ", "", 1)
		}, ha1md5: m, ha1sha: s, now: t0},
		{name: "wrong password", header: func() string {
			return (&client{"201", realm, "wrong", MD5, 0}).header(v.nonces.Issue(t0), "REGISTER", uri)
		}, ha1md5: m, ha1sha: s, now: t0, want: []error{ErrBadResponse}},
		{name: "wrong method", header: func() string {
			return (&client{"201", realm, "alice-secret", SHA256, 0}).header(v.nonces.Issue(t0), "INVITE", uri)
		}, ha1md5: m, ha1sha: s, now: t0, want: []error{ErrBadResponse}},
		{name: "stale", header: func() string {
			return (&client{"201", realm, "alice-secret", SHA256, 0}).header(v.nonces.Issue(t0), "REGISTER", uri)
		}, ha1md5: m, ha1sha: s, now: t0.Add(lifetime + time.Nanosecond), want: []error{ErrStale}, notIs: []error{ErrBadNonce}},
		{name: "stale and wrong password is not stale", header: func() string {
			return (&client{"201", realm, "wrong", SHA256, 0}).header(v.nonces.Issue(t0), "REGISTER", uri)
		}, ha1md5: m, ha1sha: s, now: t0.Add(time.Hour), want: []error{ErrBadResponse}, notIs: []error{ErrStale}},
		{name: "tampered nonce", header: func() string {
			n := []byte(v.nonces.Issue(t0))
			n[5] ^= 1 // still base64url
			return (&client{"201", realm, "wrong", MD5, 0}).header(string(n), "REGISTER", uri)
		}, ha1md5: m, ha1sha: s, now: t0, want: []error{ErrBadNonce}, notIs: []error{ErrStale}},
		{name: "tampered timestamp to look fresh", header: func() string {
			n := v.nonces.Issue(t0.Add(-time.Hour))
			fresh := v.nonces.Issue(t0)
			return (&client{"201", realm, "wrong", MD5, 0}).header(fresh[:11]+n[11:], "REGISTER", uri)
		}, ha1md5: m, ha1sha: s, now: t0, want: []error{ErrBadNonce}},
		{name: "garbage nonce", header: func() string {
			return (&client{"201", realm, "wrong", MD5, 0}).header("dcd98b7102dd2f0e8b11d0f600bfb0c093", "REGISTER", uri)
		}, ha1md5: m, ha1sha: s, now: t0, want: []error{ErrBadNonce}},
		{name: "foreign nonce, right digest", header: func() string {
			return (&client{"201", realm, "alice-secret", SHA256, 0}).header(other.nonces.Issue(t0), "REGISTER", uri)
		}, ha1md5: m, ha1sha: s, now: t0, want: []error{ErrStale, ErrBadNonce}},
		{name: "foreign nonce, wrong digest", header: func() string {
			return (&client{"201", realm, "wrong", SHA256, 0}).header(other.nonces.Issue(t0), "REGISTER", uri)
		}, ha1md5: m, ha1sha: s, now: t0, want: []error{ErrBadNonce}, notIs: []error{ErrStale}},
		{name: "realm mismatch", header: func() string {
			return (&client{"201", "paris.example", "alice-secret", MD5, 0}).header(v.nonces.Issue(t0), "REGISTER", uri)
		}, ha1md5: m, ha1sha: s, now: t0, want: []error{ErrRealm}},
		{name: "no SHA-256 HA1", header: func() string {
			return (&client{"201", realm, "alice-secret", SHA256, 0}).header(v.nonces.Issue(t0), "REGISTER", uri)
		}, ha1md5: m, now: t0, want: []error{ErrNoHA1}},
		{name: "HA1 of the wrong algorithm", header: func() string {
			return (&client{"201", realm, "alice-secret", SHA256, 0}).header(v.nonces.Issue(t0), "REGISTER", uri)
		}, ha1md5: m, ha1sha: m, now: t0, want: []error{ErrNoHA1}},
		{name: "unsupported algorithm", header: func() string {
			h := (&client{"201", realm, "alice-secret", MD5, 0}).header(v.nonces.Issue(t0), "REGISTER", uri)
			return strings.Replace(h, "algorithm=MD5", "algorithm=MD5-sess", 1)
		}, ha1md5: m, ha1sha: s, now: t0, want: []error{ErrUnsupported}},
		{name: "auth-int", header: func() string {
			h := (&client{"201", realm, "alice-secret", MD5, 0}).header(v.nonces.Issue(t0), "REGISTER", uri)
			return strings.Replace(h, "qop=auth", "qop=auth-int", 1)
		}, ha1md5: m, ha1sha: s, now: t0, want: []error{ErrUnsupported}},
		{name: "nc zero", header: func() string {
			cl := &client{"201", realm, "alice-secret", MD5, 0}
			cl.nc = ^uint32(0) // wraps to 0
			return cl.header(v.nonces.Issue(t0), "REGISTER", uri)
		}, ha1md5: m, ha1sha: s, now: t0, want: []error{ErrReplay}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.header())
			err := v.Check(c, "REGISTER", tt.ha1md5, tt.ha1sha, tt.now)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check succeeded, want %v", tt.want)
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q is not %q", err, w)
				}
			}
			for _, w := range tt.notIs {
				if errors.Is(err, w) {
					t.Errorf("error %q must not be %q", err, w)
				}
			}
		})
	}
}

func TestReplay(t *testing.T) {
	v := NewVerifier(realm, secret, lifetime, both)
	m, s := ha1s("201", "pw")
	cl := &client{"201", realm, "pw", SHA256, 0}
	nonce := v.nonces.Issue(t0)
	first := mustParse(t, cl.header(nonce, "REGISTER", "sip:voip.example"))
	if err := v.Check(first, "REGISTER", m, s, t0); err != nil {
		t.Fatal(err)
	}
	if err := v.Check(first, "REGISTER", m, s, t0); !errors.Is(err, ErrReplay) {
		t.Fatalf("same nc twice: %v, want ErrReplay", err)
	}
	cl.nc = 4
	fifth := mustParse(t, cl.header(nonce, "REGISTER", "sip:voip.example"))
	if err := v.Check(fifth, "REGISTER", m, s, t0.Add(time.Second)); err != nil {
		t.Fatalf("higher nc: %v", err)
	}
	cl.nc = 2
	third := mustParse(t, cl.header(nonce, "REGISTER", "sip:voip.example"))
	if err := v.Check(third, "REGISTER", m, s, t0.Add(2*time.Second)); !errors.Is(err, ErrReplay) {
		t.Fatalf("lower nc: %v, want ErrReplay", err)
	}
	// A wrong digest does not consume a count: the real client can still
	// use nc=6 after an attacker tried it.
	cl.nc = 5
	forged := mustParse(t, cl.header(nonce, "REGISTER", "sip:voip.example"))
	forged.Response = strings.Repeat("0", 64)
	if err := v.Check(forged, "REGISTER", m, s, t0); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("forged: %v", err)
	}
	cl.nc = 5
	if err := v.Check(mustParse(t, cl.header(nonce, "REGISTER", "sip:voip.example")), "REGISTER", m, s, t0); err != nil {
		t.Fatalf("nc after a forged attempt: %v", err)
	}
	// Without qop a nonce may be reused until it is stale (RFC 2069).
	c := Credentials{Username: "201", Realm: realm, Nonce: v.nonces.Issue(t0), URI: "sip:voip.example", Algorithm: SHA256}
	c.Response, _ = ExpectedResponse(c, "REGISTER", s)
	for i := range 3 {
		if err := v.Check(c, "REGISTER", m, s, t0); err != nil {
			t.Fatalf("no qop, use %d: %v", i, err)
		}
	}
}

func TestReplayGuardBounded(t *testing.T) {
	const limit = 64 * 4 // 4 per shard
	n := NewNonces(secret, lifetime, WithMaxTracked(limit))
	_, s := ha1s("201", "pw")
	verify := func(nonce string, nc uint32, now time.Time) error {
		c := Credentials{Username: "201", Realm: realm, Nonce: nonce, URI: "sip:voip.example", Algorithm: SHA256, QOP: QOPAuth, CNonce: "c", NC: nc}
		c.Response, _ = ExpectedResponse(c, "REGISTER", s)
		return n.Verify(c, "REGISTER", s, now)
	}
	tracked := func() (total int) {
		for i := range n.shards {
			sh := &n.shards[i]
			sh.mu.Lock()
			got := 0
			for _, g := range sh.gens {
				got += len(g.m)
			}
			if got != sh.n {
				t.Errorf("shard %d: n = %d, maps hold %d", i, sh.n, got)
			}
			total += got
			sh.mu.Unlock()
		}
		return total
	}

	// Many nonces at once: the guard stays within its bound, and a nonce it
	// had to forget is stale, never replayable.
	var nonces []string
	for i := range 10 * limit {
		nonce := n.Issue(t0.Add(time.Duration(i) * time.Millisecond))
		nonces = append(nonces, nonce)
		now := t0.Add(time.Duration(i) * time.Millisecond)
		if err := verify(nonce, 1, now); err != nil && !errors.Is(err, ErrStale) {
			t.Fatalf("nonce %d: %v", i, err)
		}
		if got := tracked(); got > limit {
			t.Fatalf("tracking %d nonces, limit %d", got, limit)
		}
	}
	now := t0.Add(10 * limit * time.Millisecond)
	for i, nonce := range nonces {
		if err := verify(nonce, 1, now); err == nil {
			t.Fatalf("nonce %d: replay accepted", i)
		}
	}

	// Time passing drops whole generations.
	// Time passing drops whole generations (per shard, when the shard is
	// next used).
	var sh replayShard
	const width = int64(lifetime / 2)
	for g := range int64(6) {
		for k := range uint64(10) {
			ts := g*width + int64(k)
			if err := sh.see(uint64(g)<<32|k, ts, 1, width, 1000, ts); err != nil {
				t.Fatalf("generation %d: %v", g, err)
			}
		}
		if want := int(min(g+1, 3)) * 10; sh.n != want {
			t.Errorf("after generation %d: %d tracked, want %d", g, sh.n, want)
		}
	}
	if err := sh.see(0, 0, 2, width, 1000, 6*width); !errors.Is(err, ErrStale) {
		t.Errorf("nonce of a dropped generation: %v, want ErrStale", err)
	}
}

func TestNonces(t *testing.T) {
	n := NewNonces(secret, lifetime)
	seen := map[string]bool{}
	for range 1000 {
		nonce := n.Issue(t0)
		if len(nonce) != NonceLen {
			t.Fatalf("len(%q) = %d", nonce, len(nonce))
		}
		if seen[nonce] {
			t.Fatalf("nonce %q issued twice", nonce)
		}
		seen[nonce] = true
		for _, ch := range nonce {
			if !isToken[ch] {
				t.Fatalf("nonce %q has a non-token character", nonce)
			}
		}
	}
	nonce := n.Issue(t0)
	for _, tt := range []struct {
		name      string
		nonce     string
		now       time.Time
		stale     bool
		wantError bool
	}{
		{"fresh", nonce, t0, false, false},
		{"end of life", nonce, t0.Add(lifetime), false, false},
		{"stale", nonce, t0.Add(lifetime + 1), true, false},
		{"future", nonce, t0.Add(-time.Hour), false, false},
		{"other secret", NewNonces([]byte("x"), lifetime).Issue(t0), t0, false, true},
		{"random secret", NewNonces(nil, lifetime).Issue(t0), t0, false, true},
		{"truncated", nonce[:NonceLen-1], t0, false, true},
		{"non-canonical", nonce[:NonceLen-1] + string(nonce[NonceLen-1]+1), t0, false, true},
		{"not base64url", nonce[:10] + "+" + nonce[11:], t0, false, true},
		{"empty", "", t0, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stale, err := n.Check(tt.nonce, tt.now)
			if (err != nil) != tt.wantError {
				t.Fatalf("Check err = %v, want error %v", err, tt.wantError)
			}
			if err != nil && !errors.Is(err, ErrBadNonce) {
				t.Errorf("error %v is not ErrBadNonce", err)
			}
			if stale != tt.stale {
				t.Errorf("stale = %v, want %v", stale, tt.stale)
			}
		})
	}
	// Same secret, another instance (a restart): still valid.
	if _, err := NewNonces(secret, lifetime).Check(nonce, t0); err != nil {
		t.Errorf("after restart with the same secret: %v", err)
	}
}

func TestChallenge(t *testing.T) {
	got := Challenge(realm, "NONCE", false)
	want := []string{
		`Digest realm="voip.example", nonce="NONCE", algorithm=SHA-256, qop="auth"`,
		`Digest realm="voip.example", nonce="NONCE", algorithm=MD5, qop="auth"`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Challenge = %q\nwant        %q", got, want)
	}
	got = Challenge(`a"b\c`, "N", true, "md5")
	if want := `Digest realm="a\"b\\c", nonce="N", algorithm=MD5, qop="auth", stale=true`; len(got) != 1 || got[0] != want {
		t.Errorf("Challenge = %q, want [%q]", got, want)
	}
	if got := Challenge(realm, "N", false, MD5, SHA256); len(got) != 2 || !strings.Contains(got[0], SHA256) {
		t.Errorf("SHA-256 must come first: %q", got)
	}
	if got := string(AppendChallenge(nil, realm, "N", "op", SHA256, false)); !strings.Contains(got, `, opaque="op"`) {
		t.Errorf("AppendChallenge with opaque = %q", got)
	}

	// The Verifier's challenges carry a nonce it accepts, and a client can
	// answer them.
	v := NewVerifier(realm, secret, lifetime, both)
	m, s := ha1s("201", "pw")
	for _, tt := range []struct {
		name     string
		chs      []string
		wantAlgs []string
	}{
		{"all", v.Challenge(t0, true), []string{SHA256, MD5}},
		{"for an MD5-only user", v.ChallengeFor(t0, false, m, ""), []string{MD5}},
		{"for an unknown user", v.ChallengeFor(t0, false, "", ""), []string{SHA256, MD5}},
		{"MD5 only verifier", NewVerifier(realm, secret, lifetime, WithAlgorithms(MD5)).ChallengeFor(t0, false, m, s), []string{MD5}},
		{"default verifier", NewVerifier(realm, secret, lifetime).Challenge(t0, false), []string{MD5}},
		{"SHA-256 only verifier", NewVerifier(realm, secret, lifetime, WithAlgorithms(SHA256)).ChallengeFor(t0, false, m, s), []string{SHA256}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.chs) != len(tt.wantAlgs) {
				t.Fatalf("challenges %q, want algorithms %v", tt.chs, tt.wantAlgs)
			}
			for i, ch := range tt.chs {
				if !strings.Contains(ch, "algorithm="+tt.wantAlgs[i]+",") {
					t.Errorf("challenge %d = %q, want algorithm %s", i, ch, tt.wantAlgs[i])
				}
				// The challenge parses with the same grammar (plus the
				// fields a response adds).
				p := mustParse(t, ch+`, username="201", uri="sip:voip.example", response="x", cnonce="c", nc=00000001`)
				if p.Realm != realm || len(p.Nonce) != NonceLen || p.QOP != QOPAuth {
					t.Errorf("challenge %q parsed as %+v", ch, p)
				}
				// Both challenges share one nonce: a second answer needs
				// a higher count.
				cl := &client{"201", realm, "pw", tt.wantAlgs[i], uint32(i)}
				if err := v.Check(mustParse(t, cl.header(p.Nonce, "REGISTER", "sip:voip.example")), "REGISTER", m, s, t0); err != nil {
					t.Errorf("answering %q: %v", ch, err)
				}
			}
		})
	}
	onlyMD5 := NewVerifier(realm, secret, lifetime) // the default
	cl := &client{"201", realm, "pw", SHA256, 0}
	if err := onlyMD5.Check(mustParse(t, cl.header(onlyMD5.nonces.Issue(t0), "REGISTER", "sip:x")), "REGISTER", m, s, t0); !errors.Is(err, ErrUnsupported) {
		t.Errorf("SHA-256 at an MD5-only verifier: %v, want ErrUnsupported", err)
	}
}

func TestConcurrentCheck(t *testing.T) {
	v := NewVerifier(realm, secret, lifetime, both, WithMaxTracked(1024))
	m, s := ha1s("201", "pw")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
				cl := &client{"201", realm, "pw", []string{MD5, SHA256}[g%2], 0}
				nonce := v.nonces.Issue(now)
				for range 3 {
					h := cl.header(nonce, "REGISTER", "sip:voip.example")
					if err := v.Check(mustParse(t, h), "REGISTER", m, s, now); err != nil && !errors.Is(err, ErrStale) {
						errs <- err
						return
					}
				}
			}
		})
	}
	// A shared nonce used by many goroutines: each count is accepted once.
	nonce := v.nonces.Issue(t0)
	var accepted sync.Map
	for g := range 8 {
		wg.Go(func() {
			for nc := uint32(1); nc <= 50; nc++ {
				c := Credentials{Username: "201", Realm: realm, Nonce: nonce, URI: "sip:x", QOP: QOPAuth, CNonce: fmt.Sprint(g), NC: nc}
				c.Response, _ = ExpectedResponse(c, "REGISTER", m)
				if v.Check(c, "REGISTER", m, s, t0) == nil {
					if _, dup := accepted.LoadOrStore(nc, g); dup {
						errs <- fmt.Errorf("nc %d accepted twice", nc)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestVerifyNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	v := NewVerifier(realm, secret, lifetime, both)
	m, s := ha1s("201", "pw")
	cl := &client{"201", realm, "pw", SHA256, 0}
	nonce := v.nonces.Issue(t0)
	var hs []string
	for range 200 {
		hs = append(hs, cl.header(nonce, "REGISTER", "sip:voip.example"))
	}
	i := 0
	_ = v.Check(mustParse(t, hs[0]), "REGISTER", m, s, t0) // creates the shard's map
	i++
	allocs := testing.AllocsPerRun(100, func() {
		c, err := ParseAuthorization(hs[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Check(c, "REGISTER", m, s, t0); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs > 0 {
		t.Errorf("ParseAuthorization + Check allocate %v times per call, want 0", allocs)
	}
}
