package digest

import (
	"fmt"
	"testing"
)

// BenchmarkParseAndVerify is the per-REGISTER cost of digest: parse the
// Authorization value and check it (nonce MAC, response, replay guard).
// Every request uses a fresh nonce, as SIPp's register-digest scenario and
// most phones do, so the replay guard inserts one entry per operation.
func BenchmarkParseAndVerify(b *testing.B) {
	for _, alg := range []string{MD5, SHA256} {
		b.Run(alg, func(b *testing.B) {
			v := NewVerifier(realm, secret, lifetime, both, WithMaxTracked(1<<24))
			m, s := ha1s("201", "pw")
			ha1 := m
			if alg == SHA256 {
				ha1 = s
			}
			const batch = 1 << 14
			headers := make([]string, batch)
			fill := func() {
				for i := range headers {
					c := Credentials{
						Username: "201", Realm: realm, Nonce: v.nonces.Issue(t0), URI: "sip:voip.example",
						Algorithm: alg, QOP: QOPAuth, CNonce: "6f1c2a0b", NC: 1,
					}
					c.Response, _ = ExpectedResponse(c, "REGISTER", ha1)
					headers[i] = fmt.Sprintf(`Digest username="%s",realm="%s",nonce="%s",uri="%s",response="%s",algorithm=%s,cnonce="%s",qop=auth,nc=00000001`,
						c.Username, c.Realm, c.Nonce, c.URI, c.Response, alg, c.CNonce)
				}
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if i%batch == 0 {
					b.StopTimer()
					fill()
					b.StartTimer()
				}
				c, err := ParseAuthorization(headers[i%batch])
				if err != nil {
					b.Fatal(err)
				}
				if err := v.Check(c, "REGISTER", m, s, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	h := `Digest username="201",realm="voip.example",nonce="GOtBagJoQAA8Wd8W0XLyY9RmfLH923ZW99ex_s4tLEI",uri="sip:voip.example",response="0123456789abcdef0123456789abcdef",algorithm=MD5,cnonce="6f1c2a0b",qop=auth,nc=00000001`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAuthorization(h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChallenge(b *testing.B) {
	v := NewVerifier(realm, secret, lifetime, both)
	b.ReportAllocs()
	for b.Loop() {
		_ = v.Challenge(t0, false)
	}
}
