package digest

import (
	"fmt"
	"time"
)

// Verifier checks digest credentials for one realm: [Nonces] plus the realm
// and the algorithms offered. It is safe for concurrent use; make one per
// realm and share it.
type Verifier struct {
	realm  string
	nonces *Nonces
	md5ok  bool
	shaok  bool
}

var (
	errNoHA1MD5    = fmt.Errorf("%w: no MD5 HA1 on record", ErrNoHA1)
	errNoHA1SHA256 = fmt.Errorf("%w: no SHA-256 HA1 on record", ErrNoHA1)
)

// NewVerifier returns a Verifier for realm (the site's SIP domain) whose
// nonces are keyed by secret and fresh for lifetime (see [NewNonces]). By
// default it offers and accepts MD5 only; WithAlgorithms(SHA256, MD5) adds
// SHA-256 (see [WithAlgorithms] for why it is not the default).
func NewVerifier(realm string, secret []byte, lifetime time.Duration, opts ...Option) *Verifier {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	v := &Verifier{realm: realm, nonces: NewNonces(secret, lifetime, opts...)}
	if len(o.algorithms) == 0 {
		o.algorithms = []string{MD5}
	}
	v.md5ok, v.shaok = offered(o.algorithms)
	return v
}

// Realm returns the realm of v.
func (v *Verifier) Realm() string { return v.realm }

// Nonces returns the nonces of v.
func (v *Verifier) Nonces() *Nonces { return v.nonces }

// Check verifies credentials c of a request with method, given the user's
// stored HA1s ("" when absent): realm ([ErrRealm]), algorithm offered
// ([ErrUnsupported]), HA1 present for it ([ErrNoHA1]), then as
// [Nonces.Verify]. Call it once per new transaction, never for a
// retransmission. c.Username is not checked against anything: the caller
// looked the HA1s up by it, and must still check that this user may
// register the AOR it asks for.
func (v *Verifier) Check(c Credentials, method, ha1md5, ha1sha256 string, now time.Time) error {
	if c.Realm != v.realm {
		return ErrRealm
	}
	var ha1 string
	a := algorithmOf(c.Algorithm)
	switch a {
	case algMD5:
		if !v.md5ok {
			return errAlgNotOffered
		}
		if ha1 = ha1md5; ha1 == "" {
			return errNoHA1MD5
		}
	case algSHA256:
		if !v.shaok {
			return errAlgNotOffered
		}
		if ha1 = ha1sha256; ha1 == "" {
			return errNoHA1SHA256
		}
	default:
		return errAlgorithm
	}
	if c.QOP != "" && c.QOP != QOPAuth {
		return errQOP
	}
	return v.nonces.verify(a, c, method, ha1, now.UnixNano())
}

// Challenge issues a nonce and returns the challenges to send, one header
// value each (WWW-Authenticate in a 401, Proxy-Authenticate in a 407):
// every algorithm offered, SHA-256 first, stale=true when stale.
func (v *Verifier) Challenge(now time.Time, stale bool) []string {
	return v.challenge(now, stale, v.md5ok, v.shaok)
}

// ChallengeFor is Challenge for a user whose HA1s are known: it offers only
// the algorithms for which the user has an HA1, so that a phone that picks
// SHA-256 is not challenged for a hash the directory lacks. When the user
// has none (or is unknown) it offers every algorithm, like Challenge, so the
// answer does not tell whether the user exists.
func (v *Verifier) ChallengeFor(now time.Time, stale bool, ha1md5, ha1sha256 string) []string {
	md5ok, shaok := v.md5ok && ha1md5 != "", v.shaok && ha1sha256 != ""
	if !md5ok && !shaok {
		md5ok, shaok = v.md5ok, v.shaok
	}
	return v.challenge(now, stale, md5ok, shaok)
}

func (v *Verifier) challenge(now time.Time, stale, md5ok, shaok bool) []string {
	nonce := v.nonces.Issue(now)
	return challenges(v.realm, nonce, stale, md5ok, shaok)
}
