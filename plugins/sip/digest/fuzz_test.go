package digest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var fuzzSeeds = []string{
	`Digest username="201", realm="voip.example", nonce="{nonce}", uri="sip:voip.example", response="0123456789abcdef0123456789abcdef", algorithm=MD5, cnonce="xyz", opaque="op", qop=auth, nc=00000001`,
	`Digest username="201",realm="voip.example",nonce="{nonce}",uri="sip:voip.example",response="r"`,
	`digest USERNAME=201, Realm="voip.example", nonce={nonce}, uri="sip:201@voip.example;transport=tcp", response="x", algorithm="sha-256", qop="auth", cnonce="a\"b", nc="0000000A"`,
	"Digest\tusername=\"a\\\\b\",\r\n realm=\"voip.example\", nonce=\"n\", uri=\"u\", response=\"r\", foo=\"bar, baz\"",
	`Digest username="201", realm="r", nonce="n", uri="u", response="r", qop=auth`,
	`Digest username="201" realm="r"`,
	`Digest "201"`,
	`Basic dXNlcjpwYXNz`,
	`Digest username="unterminated`,
}

// FuzzParseAuthorization: no panics, bounded input, and whatever parses
// survives a round trip through a re-encoded header unchanged.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ParseAuthorization(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(in) > MaxHeaderLen {
			t.Fatalf("accepted %d bytes", len(in))
		}
		again, err := ParseAuthorization(encode(c))
		if err != nil {
			t.Fatalf("re-encoded %q: %v", encode(c), err)
		}
		if again != c {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, c)
		}
	})
}

// encode writes credentials back as a header value (all values quoted but
// nc, which keeps its received form).
func encode(c Credentials) string {
	var b []byte
	b = append(b, "Digest username="...)
	b = quote(b, c.Username)
	for _, p := range []struct{ name, val string }{
		{"realm", c.Realm}, {"nonce", c.Nonce}, {"uri", c.URI}, {"response", c.Response},
		{"algorithm", c.Algorithm}, {"cnonce", c.CNonce}, {"opaque", c.Opaque}, {"qop", c.QOP},
	} {
		// An absent parameter and an empty one parse the same, except qop,
		// which requires cnonce and nc: emit it only when nc is there.
		if p.name == "qop" && c.nc == "" {
			continue
		}
		b = append(append(append(b, ", "...), p.name...), '=')
		b = quote(b, p.val)
	}
	if c.nc != "" {
		b = append(append(b, ", nc="...), c.nc...)
	}
	return string(b)
}

// FuzzVerify: no panics on hostile credentials, method or HA1, including
// past the nonce check ("{nonce}" in the input becomes a nonce the verifier
// issued), and nothing is accepted that the formula does not produce.
func FuzzVerify(f *testing.F) {
	m, s := ha1s("201", "pw")
	for _, h := range fuzzSeeds {
		f.Add(h, "REGISTER", m, int64(0))
		f.Add(h, "INVITE", s, int64(lifetime)+1)
	}
	v := NewVerifier(realm, secret, lifetime, both, WithMaxTracked(1<<12))
	f.Fuzz(func(t *testing.T, header, method, ha1 string, offset int64) {
		nonce := v.nonces.Issue(t0)
		header = strings.ReplaceAll(header, "{nonce}", nonce)
		c, err := ParseAuthorization(header)
		if err != nil {
			return
		}
		now := t0.Add(time.Duration(offset))
		err = v.Check(c, method, ha1, ha1, now)
		if err == nil {
			want, xerr := ExpectedResponse(c, method, ha1)
			if xerr != nil || !strings.EqualFold(want, c.Response) {
				t.Fatalf("accepted %+v for %q with HA1 %q (want response %q, %v)", c, method, ha1, want, xerr)
			}
			if c.Nonce != nonce {
				t.Fatalf("accepted a nonce it did not issue: %q", c.Nonce)
			}
		}
		// A complete, correct answer to our nonce is accepted while fresh.
		if len(ha1) == 32 && c.Realm == realm && c.Nonce == nonce && c.Algorithm == "" && c.QOP == "" && offset >= 0 && offset <= int64(lifetime) {
			c.Response, _ = ExpectedResponse(c, method, ha1)
			if err := v.Check(c, method, ha1, ha1, now); err != nil {
				t.Fatalf("right answer refused: %v", err)
			}
		}
	})
}

// quote is appendQuoted that also escapes control characters (a quoted-pair
// may carry them; a raw one is refused).
func quote(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if ch := s[i]; ch == '"' || ch == '\\' || ch < 0x20 && ch != '\t' || ch == 0x7f {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}
