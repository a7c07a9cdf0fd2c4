package digest

import (
	"errors"
	"strings"
)

// MaxHeaderLen is the longest Authorization value ParseAuthorization reads;
// longer input is rejected before any parsing. Real credentials are a few
// hundred bytes.
const MaxHeaderLen = 4096

// Algorithm names as they appear on the wire (RFC 7616 §6.1, RFC 8760).
// ParseAuthorization returns these exact strings for any capitalisation.
const (
	MD5           = "MD5"
	MD5Sess       = "MD5-sess"
	SHA256        = "SHA-256"
	SHA256Sess    = "SHA-256-sess"
	SHA512256     = "SHA-512-256"
	SHA512256Sess = "SHA-512-256-sess"
)

// QOP values (RFC 7616 §3.3).
const (
	QOPAuth    = "auth"
	QOPAuthInt = "auth-int"
)

// ErrMalformed reports an Authorization value that does not parse. The
// caller answers 400 (Bad Request).
var ErrMalformed = errors.New("digest: malformed credentials")

// Credentials are the parameters of a Digest Authorization (or
// Proxy-Authorization) header value. Strings are unquoted and unescaped;
// without escapes they share the memory of the parsed value (no copy), so
// clone them if they must outlive it. Algorithm and QOP are canonicalised
// (see the MD5… and QOP… constants) when they are known names; an absent
// algorithm is "" (which means MD5). NC is the nonce count, 0 when absent.
type Credentials struct {
	Username, Realm, Nonce, URI, Response string
	Algorithm, CNonce, Opaque, QOP        string
	NC                                    uint32

	// nc is the nonce count as received (8 hex digits); the response is
	// computed over it. Empty when the Credentials were built by hand, in
	// which case NC is formatted as %08x.
	nc string
}

// parameter indexes, bits of the "seen" set.
const (
	pUsername = iota
	pRealm
	pNonce
	pURI
	pResponse
	pAlgorithm
	pCNonce
	pOpaque
	pQOP
	pNC
)

var paramNames = [...]string{"username", "realm", "nonce", "uri", "response", "algorithm", "cnonce", "opaque", "qop", "nc"}

func malformed(what string) error {
	return &parseError{what}
}

// parseError keeps the error path to a single small allocation.
type parseError struct{ what string }

func (e *parseError) Error() string { return "digest: malformed credentials: " + e.what }
func (e *parseError) Unwrap() error { return ErrMalformed }

// ParseAuthorization parses the value of an Authorization or
// Proxy-Authorization header: the scheme "Digest" then comma-separated
// name=value parameters in any order, names case-insensitive, values tokens
// or quoted strings (with backslash escapes). Unknown parameters are ignored;
// a known parameter given twice, a missing required one (username, realm,
// nonce, uri, response; cnonce and nc when qop is present), an nc that is not
// 8 hex digits and any syntax error are rejected with an error wrapping
// [ErrMalformed]. It never panics, does work linear in len(value), and does
// not allocate unless a quoted value contains escapes or the value is
// rejected.
func ParseAuthorization(value string) (Credentials, error) {
	var c Credentials
	v := value
	if len(v) > MaxHeaderLen {
		return c, malformed("longer than MaxHeaderLen")
	}
	i := skipLWS(v, 0)
	j := scanToken(v, i)
	if !strings.EqualFold(v[i:j], "Digest") {
		if j == i {
			return c, malformed("no scheme")
		}
		return c, malformed("scheme is not Digest")
	}
	i = skipLWS(v, j)
	if i == j {
		return c, malformed("no parameters after Digest")
	}
	var seen uint16
	for {
		j = scanToken(v, i)
		if j == i {
			return c, malformed("expected a parameter name")
		}
		name := v[i:j]
		i = skipLWS(v, j)
		if i == len(v) || v[i] != '=' {
			return c, malformed("expected '=' after a parameter name")
		}
		i = skipLWS(v, i+1)
		var val string
		if i < len(v) && v[i] == '"' {
			var err error
			if val, i, err = quoted(v, i); err != nil {
				return c, err
			}
		} else {
			j = scanToken(v, i)
			if j == i {
				return c, malformed("expected a token or a quoted string after '='")
			}
			val, i = v[i:j], j
		}
		if k := paramIndex(name); k >= 0 {
			if seen&(1<<k) != 0 {
				return c, malformed("duplicate parameter " + paramNames[k])
			}
			seen |= 1 << k
			switch k {
			case pUsername:
				c.Username = val
			case pRealm:
				c.Realm = val
			case pNonce:
				c.Nonce = val
			case pURI:
				c.URI = val
			case pResponse:
				c.Response = val
			case pAlgorithm:
				c.Algorithm = canonicalAlgorithm(val)
			case pCNonce:
				c.CNonce = val
			case pOpaque:
				c.Opaque = val
			case pQOP:
				c.QOP = canonicalQOP(val)
			case pNC:
				n, ok := parseNC(val)
				if !ok {
					return c, malformed("nc is not 8 hex digits")
				}
				c.NC, c.nc = n, val
			}
		}
		i = skipLWS(v, i)
		if i == len(v) {
			break
		}
		if v[i] != ',' {
			return c, malformed("expected ',' between parameters")
		}
		i = skipLWS(v, i+1)
		if i == len(v) {
			return c, malformed("trailing ','")
		}
	}
	for _, k := range [...]int{pUsername, pRealm, pNonce, pURI, pResponse} {
		if seen&(1<<k) == 0 {
			return c, malformed("missing " + paramNames[k])
		}
	}
	if seen&(1<<pQOP) != 0 {
		if seen&(1<<pCNonce) == 0 {
			return c, malformed("qop without cnonce")
		}
		if seen&(1<<pNC) == 0 {
			return c, malformed("qop without nc")
		}
	}
	return c, nil
}

// paramIndex returns the index of a known parameter name (any case), or -1.
func paramIndex(name string) int {
	if len(name) < 2 || len(name) > 9 {
		return -1
	}
	var b [9]byte
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		b[i] = ch
	}
	switch string(b[:len(name)]) {
	case "username":
		return pUsername
	case "realm":
		return pRealm
	case "nonce":
		return pNonce
	case "uri":
		return pURI
	case "response":
		return pResponse
	case "algorithm":
		return pAlgorithm
	case "cnonce":
		return pCNonce
	case "opaque":
		return pOpaque
	case "qop":
		return pQOP
	case "nc":
		return pNC
	}
	return -1
}

func canonicalAlgorithm(s string) string {
	for _, a := range [...]string{MD5, SHA256, MD5Sess, SHA256Sess, SHA512256, SHA512256Sess} {
		if strings.EqualFold(s, a) {
			return a
		}
	}
	return s
}

func canonicalQOP(s string) string {
	switch {
	case strings.EqualFold(s, QOPAuth):
		return QOPAuth
	case strings.EqualFold(s, QOPAuthInt):
		return QOPAuthInt
	}
	return s
}

func parseNC(s string) (uint32, bool) {
	if len(s) != 8 {
		return 0, false
	}
	var n uint32
	for i := 0; i < 8; i++ {
		d := unhex(s[i])
		if d < 0 {
			return 0, false
		}
		n = n<<4 | uint32(d)
	}
	return n, true
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// quoted parses the quoted-string starting at v[i] == '"' and returns its
// unescaped content and the index after the closing quote.
func quoted(v string, i int) (string, int, error) {
	start := i + 1
	escaped := false
	for j := start; j < len(v); j++ {
		switch ch := v[j]; {
		case ch == '"':
			if !escaped {
				return v[start:j], j + 1, nil
			}
			return unescape(v[start:j]), j + 1, nil
		case ch == '\\':
			j++
			if j == len(v) {
				return "", 0, malformed("unterminated quoted string")
			}
			if c := v[j]; c == '\r' || c == '\n' || c > 0x7f {
				return "", 0, malformed("bad escape in quoted string")
			}
			escaped = true
		case ch < 0x20 && ch != '\t', ch == 0x7f:
			return "", 0, malformed("control character in quoted string")
		}
	}
	return "", 0, malformed("unterminated quoted string")
}

// unescape drops the backslash of each quoted-pair; s is known well formed.
func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// skipLWS skips spaces, tabs and header folding (CRLF followed by a space or
// tab).
func skipLWS(v string, i int) int {
	for i < len(v) {
		switch v[i] {
		case ' ', '\t':
			i++
		case '\r':
			if i+2 < len(v) && v[i+1] == '\n' && (v[i+2] == ' ' || v[i+2] == '\t') {
				i += 3
				continue
			}
			return i
		default:
			return i
		}
	}
	return i
}

func scanToken(v string, i int) int {
	for i < len(v) && isToken[v[i]] {
		i++
	}
	return i
}

// isToken marks the token characters of RFC 3261 §25.1:
// alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~".
var isToken = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-.!%*_+`'~" {
		t[c] = true
	}
	return t
}()
