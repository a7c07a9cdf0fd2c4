package digest

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAuthorization(t *testing.T) {
	full := Credentials{
		Username: "201", Realm: "voip.example", Nonce: "abc", URI: "sip:voip.example",
		Response: "0123456789abcdef0123456789abcdef", Algorithm: MD5, CNonce: "xyz",
		Opaque: "op", QOP: QOPAuth, NC: 1, nc: "00000001",
	}
	minimal := Credentials{Username: "201", Realm: "voip.example", Nonce: "abc", URI: "sip:voip.example", Response: "r"}
	with := func(f func(*Credentials)) Credentials { c := full; f(&c); return c }

	tests := []struct {
		name string
		in   string
		want Credentials
	}{
		{"full", `Digest username="201", realm="voip.example", nonce="abc", uri="sip:voip.example", response="0123456789abcdef0123456789abcdef", algorithm=MD5, cnonce="xyz", opaque="op", qop=auth, nc=00000001`, full},
		{"any order", `Digest nc=00000001, qop=auth, opaque="op", cnonce="xyz", algorithm=MD5, response="0123456789abcdef0123456789abcdef", uri="sip:voip.example", nonce="abc", realm="voip.example", username="201"`, full},
		{"names and scheme case-insensitive", `dIgEsT USERNAME="201", Realm="voip.example", NONCE="abc", Uri="sip:voip.example", Response="0123456789abcdef0123456789abcdef", ALGORITHM=md5, CNonce="xyz", Opaque="op", QOP=AUTH, NC=00000001`, full},
		{"minimal, no qop", `Digest username="201",realm="voip.example",nonce="abc",uri="sip:voip.example",response="r"`, minimal},
		{"whitespace and folding", "  Digest\tusername = \"201\" ,\r\n realm=\"voip.example\"  ,nonce=\"abc\",\turi=\"sip:voip.example\", response=\"r\"  ", minimal},
		{"token values", `Digest username=201, realm="voip.example", nonce=abc, uri="sip:voip.example", response=r`, minimal},
		{"quoted algorithm qop nc", `Digest username="201", realm="voip.example", nonce="abc", uri="sip:voip.example", response="0123456789abcdef0123456789abcdef", algorithm="MD5", cnonce="xyz", opaque="op", qop="auth", nc="00000001"`, full},
		{"unknown params ignored", `Digest username="201", foo=bar, realm="voip.example", x="a, b=\"c\"", nonce="abc", uri="sip:voip.example", response="r", userhash=false`, minimal},
		{"escapes", `Digest username="a\"b\\c", realm="voip.example", nonce="abc", uri="sip:voip.example", response="r"`,
			Credentials{Username: `a"b\c`, Realm: "voip.example", Nonce: "abc", URI: "sip:voip.example", Response: "r"}},
		{"sha-256 canonical", `Digest username="201", realm="voip.example", nonce="abc", uri="sip:voip.example", response="0123456789abcdef0123456789abcdef", algorithm=sha-256, cnonce="xyz", opaque="op", qop=auth, nc=00000001`,
			with(func(c *Credentials) { c.Algorithm = SHA256 })},
		{"unknown algorithm kept", `Digest username="201", realm="voip.example", nonce="abc", uri="sip:voip.example", response="0123456789abcdef0123456789abcdef", algorithm=FOO-1, cnonce="xyz", opaque="op", qop=auth, nc=00000001`,
			with(func(c *Credentials) { c.Algorithm = "FOO-1" })},
		{"nc hex", `Digest username="201", realm="voip.example", nonce="abc", uri="sip:voip.example", response="0123456789abcdef0123456789abcdef", algorithm=MD5, cnonce="xyz", opaque="op", qop=auth, nc=0000fFfF`,
			with(func(c *Credentials) { c.NC, c.nc = 0xffff, "0000fFfF" })},
		{"empty quoted values", `Digest username="", realm="", nonce="", uri="", response=""`, Credentials{}},
		{"utf-8 username", `Digest username="jürgen", realm="voip.example", nonce="abc", uri="sip:voip.example", response="r"`,
			Credentials{Username: "jürgen", Realm: "voip.example", Nonce: "abc", URI: "sip:voip.example", Response: "r"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAuthorization(tt.in)
			if err != nil {
				t.Fatalf("ParseAuthorization: %v", err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseAuthorizationMalformed(t *testing.T) {
	const ok = `username="201", realm="r", nonce="n", uri="sip:r", response="x"`
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ``},
		{"spaces", `   `},
		{"scheme only", `Digest`},
		{"scheme and space", `Digest `},
		{"other scheme", `Basic dXNlcjpwYXNz`},
		{"scheme glued to param", `Digestusername="201"`},
		{"unterminated quote", `Digest username="201, realm="r", nonce="n", uri="sip:r", response="x`},
		{"unterminated at end", `Digest ` + ok + `, opaque="abc`},
		{"escape at end", `Digest ` + ok + `, opaque="abc\`},
		{"missing comma", `Digest username="201" realm="r", nonce="n", uri="sip:r", response="x"`},
		{"missing comma tokens", `Digest username=201 realm="r", nonce="n", uri="sip:r", response="x"`},
		{"bare value", `Digest "201", ` + ok},
		{"bare name", `Digest username, ` + ok},
		{"no value", `Digest username=, realm="r", nonce="n", uri="sip:r", response="x"`},
		{"double comma", `Digest username="201",, realm="r", nonce="n", uri="sip:r", response="x"`},
		{"leading comma", `Digest , ` + ok},
		{"trailing comma", `Digest ` + ok + `,`},
		{"unquoted uri", `Digest username="201", realm="r", nonce="n", uri=sip:r, response="x"`},
		{"duplicate", `Digest ` + ok + `, username="202"`},
		{"duplicate other case", `Digest ` + ok + `, NONCE="m"`},
		{"missing username", `Digest realm="r", nonce="n", uri="sip:r", response="x"`},
		{"missing realm", `Digest username="201", nonce="n", uri="sip:r", response="x"`},
		{"missing nonce", `Digest username="201", realm="r", uri="sip:r", response="x"`},
		{"missing uri", `Digest username="201", realm="r", nonce="n", response="x"`},
		{"missing response", `Digest username="201", realm="r", nonce="n", uri="sip:r"`},
		{"qop without cnonce", `Digest ` + ok + `, qop=auth, nc=00000001`},
		{"qop without nc", `Digest ` + ok + `, qop=auth, cnonce="c"`},
		{"nc short", `Digest ` + ok + `, qop=auth, cnonce="c", nc=1`},
		{"nc not hex", `Digest ` + ok + `, qop=auth, cnonce="c", nc=0000000g`},
		{"nc long", `Digest ` + ok + `, qop=auth, cnonce="c", nc=000000001`},
		{"control char", "Digest username=\"2\x0001\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", response=\"x\""},
		{"newline in quotes", "Digest username=\"2\n01\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", response=\"x\""},
		{"bare CRLF", "Digest username=\"201\",\r\nrealm=\"r\", nonce=\"n\", uri=\"sip:r\", response=\"x\""},
		{"garbage after value", `Digest ` + ok + ` x`},
		{"semicolon separator", `Digest username="201"; realm="r"; nonce="n"; uri="sip:r"; response="x"`},
		{"huge", `Digest ` + ok + `, opaque="` + strings.Repeat("a", MaxHeaderLen) + `"`},
		{"huge garbage", strings.Repeat(`"`, 1<<20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseAuthorization(tt.in)
			if err == nil {
				t.Fatalf("ParseAuthorization(%q) = %+v, want an error", tt.in, c)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
		})
	}
}

func TestParseAuthorizationNoAlloc(t *testing.T) {
	in := `Digest username="201", realm="voip.example", nonce="abc", uri="sip:voip.example", response="0123456789abcdef0123456789abcdef", algorithm=SHA-256, cnonce="xyz", qop=auth, nc=00000001`
	if n := testing.AllocsPerRun(100, func() {
		if _, err := ParseAuthorization(in); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ParseAuthorization allocates %v times, want 0", n)
	}
}
