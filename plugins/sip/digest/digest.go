package digest

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
)

// Errors of Verify and Check. The caller answers:
//
//	ErrStale       401 with a fresh challenge and stale=true
//	ErrBadNonce    401 with a fresh challenge
//	ErrReplay      401 with a fresh challenge (and log it: someone replays)
//	ErrBadResponse 401 with a fresh challenge, or 403 after repeated failures
//	ErrRealm       401 with a fresh challenge for our realm
//	ErrUnsupported 401 with a fresh challenge (offered algorithms only)
//	ErrNoHA1       as ErrBadResponse; the directory lacks the user's HA1
//
// Test ErrStale first: a correct digest over a nonce that is not ours (a
// phone that failed over with the home site's nonce) is reported as both
// ErrBadNonce and ErrStale.
var (
	ErrStale       = errors.New("digest: stale nonce")
	ErrBadNonce    = errors.New("digest: nonce not issued here")
	ErrReplay      = errors.New("digest: replayed nonce count")
	ErrBadResponse = errors.New("digest: wrong response")
	ErrRealm       = errors.New("digest: realm mismatch")
	ErrUnsupported = errors.New("digest: unsupported algorithm or qop")
	ErrNoHA1       = errors.New("digest: no usable HA1 for the algorithm")
)

// Preformatted errors: the failure paths of Verify do not allocate.
var (
	errStaleForeign   = &twoErr{[]error{ErrStale, ErrBadNonce}, "digest: nonce not issued here (the digest is right: stale)"}
	errStaleFloor     = fmt.Errorf("%w (replay guard full: nonce retired early)", ErrStale)
	errAlgorithm      = fmt.Errorf("%w: algorithm (MD5 and SHA-256 only)", ErrUnsupported)
	errQOP            = fmt.Errorf("%w: qop (auth only)", ErrUnsupported)
	errAlgNotOffered  = fmt.Errorf("%w: algorithm not offered", ErrUnsupported)
	errHA1Malformed   = fmt.Errorf("%w: HA1 is not a hex digest of the algorithm's length", ErrNoHA1)
	errNonceMalformed = fmt.Errorf("%w: malformed", ErrBadNonce)
	errNonceMAC       = fmt.Errorf("%w: bad MAC", ErrBadNonce)
)

// twoErr is an error that is two sentinels at once.
type twoErr struct {
	errs []error
	msg  string
}

func (e *twoErr) Error() string   { return e.msg }
func (e *twoErr) Unwrap() []error { return e.errs }

// algorithm identifies a supported hash.
type algorithm uint8

const (
	algNone algorithm = iota
	algMD5
	algSHA256
)

// algorithmOf maps Credentials.Algorithm ("" means MD5) to a supported hash.
func algorithmOf(name string) algorithm {
	switch name {
	case "", MD5:
		return algMD5
	case SHA256:
		return algSHA256
	}
	return algNone
}

func (a algorithm) hexLen() int {
	if a == algSHA256 {
		return 2 * sha256.Size
	}
	return 2 * md5.Size
}

func (a algorithm) name() string {
	if a == algSHA256 {
		return SHA256
	}
	return MD5
}

// sumHex appends the lowercase hex digest of data under a to dst.
func (a algorithm) sumHex(dst, data []byte) []byte {
	if a == algSHA256 {
		s := sha256.Sum256(data)
		return hex.AppendEncode(dst, s[:])
	}
	s := md5.Sum(data)
	return hex.AppendEncode(dst, s[:])
}

// HA1 returns H(username ":" realm ":" password) in lowercase hex for
// algorithm MD5 (or "") or SHA-256: what a directory stores instead of a
// password. It panics on any other algorithm.
func HA1(algorithm, username, realm, password string) string {
	a := algorithmOf(algorithm)
	if a == algNone {
		panic("digest: HA1 of unsupported algorithm " + strconv.Quote(algorithm))
	}
	buf := make([]byte, 0, len(username)+len(realm)+len(password)+2)
	buf = append(append(append(append(append(buf, username...), ':'), realm...), ':'), password...)
	return string(a.sumHex(nil, buf))
}

// ExpectedResponse computes the response a client holding ha1 must send for
// c and method: RFC 7616 §3.4.1 with qop=auth, RFC 2069 (RFC 2617 §3.2.2.1)
// without qop. It is what Verify compares against; clients and tests can use
// it to build credentials.
func ExpectedResponse(c Credentials, method, ha1 string) (string, error) {
	a := algorithmOf(c.Algorithm)
	if a == algNone {
		return "", errAlgorithm
	}
	if c.QOP != "" && c.QOP != QOPAuth {
		return "", errQOP
	}
	var buf [256]byte
	r, ok := response(buf[:0], a, c, method, ha1)
	if !ok {
		return "", errHA1Malformed
	}
	return string(r), nil
}

// response appends the expected response (lowercase hex) to dst. It reports
// false when ha1 does not have the length of a hex digest of the algorithm. dst should
// have room for len(method)+len(uri)+len(nonce)+len(cnonce)+~100 bytes to
// stay on the caller's stack.
func response(dst []byte, a algorithm, c Credentials, method, ha1 string) ([]byte, bool) {
	n := a.hexLen()
	if len(ha1) != n {
		return dst, false
	}
	// HA2 = H(method ":" uri), into dst.
	start := len(dst)
	dst = append(append(append(dst, method...), ':'), c.URI...)
	ha2At := len(dst)
	dst = a.sumHex(dst, dst[start:])
	ha2 := dst[ha2At:]
	// KD input: HA1 ":" nonce [":" nc ":" cnonce ":" qop] ":" HA2, after HA2.
	kdAt := len(dst)
	for i := 0; i < len(ha1); i++ {
		// Lowercase hex without branching on the secret: '0'-'9' already
		// have bit 0x20 set, 'A'-'F' become 'a'-'f'. A non-hex HA1 simply
		// never matches.
		dst = append(dst, ha1[i]|0x20)
	}
	dst = append(append(dst, ':'), c.Nonce...)
	if c.QOP != "" {
		dst = append(dst, ':')
		if c.nc != "" {
			dst = append(dst, c.nc...)
		} else {
			dst = appendNC(dst, c.NC)
		}
		dst = append(append(append(append(append(dst, ':'), c.CNonce...), ':'), c.QOP...), ':')
	} else {
		dst = append(dst, ':')
	}
	dst = append(dst, ha2...)
	resAt := len(dst)
	dst = a.sumHex(dst, dst[kdAt:])
	// Move the result to start.
	copy(dst[start:], dst[resAt:])
	return dst[:start+n], true
}

func appendNC(dst []byte, nc uint32) []byte {
	const digits = "0123456789abcdef"
	for shift := 28; shift >= 0; shift -= 4 {
		dst = append(dst, digits[nc>>uint(shift)&0xf])
	}
	return dst
}

// equalHexFold compares want (lowercase hex) with got, ignoring the case of
// got's letters, in time that depends only on the lengths.
func equalHexFold(want []byte, got string) bool {
	if len(want) != len(got) {
		return false
	}
	var d byte
	for i := 0; i < len(want); i++ {
		// Branching on got is fine: it is the client's own data; only the
		// comparison with want must not leak where they differ.
		g := got[i]
		if 'A' <= g && g <= 'Z' {
			g += 'a' - 'A'
		}
		d |= want[i] ^ g
	}
	return d == 0
}

// Challenge returns the WWW-Authenticate (or Proxy-Authenticate) values
// for realm and nonce: one per algorithm, SHA-256 first then MD5 (the order
// of preference, RFC 8760 §2.4), each with qop="auth", and stale=true when
// stale. No algorithms means both; unsupported names are left out (and if
// none is left, both are offered). RFC 3261 §7.3.1 forbids joining several
// challenges into one header field: send one header per value. Mind that
// some clients give up when offered SHA-256 (see [WithAlgorithms]).
func Challenge(realm string, nonce string, stale bool, algorithms ...string) []string {
	md5ok, shaok := offered(algorithms)
	return challenges(realm, nonce, stale, md5ok, shaok)
}

func challenges(realm, nonce string, stale, md5ok, shaok bool) []string {
	out := make([]string, 0, 2)
	var buf [256]byte
	if shaok {
		out = append(out, string(AppendChallenge(buf[:0], realm, nonce, "", SHA256, stale)))
	}
	if md5ok {
		out = append(out, string(AppendChallenge(buf[:0], realm, nonce, "", MD5, stale)))
	}
	return out
}

func offered(algorithms []string) (md5ok, shaok bool) {
	for _, a := range algorithms {
		switch algorithmOf(canonicalAlgorithm(a)) {
		case algMD5:
			md5ok = true
		case algSHA256:
			shaok = true
		}
	}
	if !md5ok && !shaok {
		return true, true
	}
	return md5ok, shaok
}

// AppendChallenge appends one challenge value to dst:
//
//	Digest realm="R", nonce="N", algorithm=A, qop="auth"[, opaque="O"][, stale=true]
//
// realm, nonce and opaque are quoted with escapes as needed; an empty opaque
// is left out.
func AppendChallenge(dst []byte, realm, nonce, opaque, algorithm string, stale bool) []byte {
	dst = append(dst, `Digest realm=`...)
	dst = appendQuoted(dst, realm)
	dst = append(dst, `, nonce=`...)
	dst = appendQuoted(dst, nonce)
	dst = append(append(dst, `, algorithm=`...), algorithm...)
	dst = append(dst, `, qop="auth"`...)
	if opaque != "" {
		dst = append(dst, `, opaque=`...)
		dst = appendQuoted(dst, opaque)
	}
	if stale {
		dst = append(dst, `, stale=true`...)
	}
	return dst
}

func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}
