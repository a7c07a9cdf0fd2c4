package digest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"hash"
	mrand "math/rand/v2"
	"sync"
	"time"
)

// NonceLen is the length of the nonces Issue returns.
const NonceLen = 43 // base64url, no padding, of 32 bytes

// DefaultMaxTracked is the default bound on the nonces the replay guard
// remembers (about 25 bytes each): enough for 30k authentications/s with a
// 45 s lifetime.
const DefaultMaxTracked = 1 << 21

const (
	nonceShards = 64
	rawLen      = 32 // issue time (8) ‖ random (8) ‖ MAC (16)
	macLen      = 16
)

// Option tunes NewNonces and NewVerifier.
type Option func(*options)

type options struct {
	maxTracked int
	algorithms []string
}

// WithMaxTracked bounds how many nonces the qop=auth replay guard remembers
// (default [DefaultMaxTracked]). When the bound is reached the oldest
// nonces are retired early: a client using one gets [ErrStale] (if its
// digest is right) and simply retries with a fresh nonce, so replay
// protection is never lost, only a round trip.
func WithMaxTracked(n int) Option {
	return func(o *options) { o.maxTracked = n }
}

// WithAlgorithms sets the algorithms a [Verifier] offers and accepts: [MD5]
// (the default) and/or [SHA256]. With both, SHA-256 is offered first, as
// RFC 8760 asks. SHA-256 is opt-in because clients that do not implement it
// may give up on the whole 401 instead of answering the MD5 challenge:
// SIPp 3.6.1 ("createAuthHeader: authentication must use MD5 or
// AKAv1-MD5") and baresip 1.0 ("Register: Function not implemented") both
// do. NewNonces ignores this option.
func WithAlgorithms(algorithms ...string) Option {
	return func(o *options) { o.algorithms = algorithms }
}

// Nonces issues and checks nonces and guards against replays of qop=auth
// nonce counts. It is safe for concurrent use.
//
// A nonce carries its issue time and is authenticated with an HMAC-SHA256
// under the secret: checking one needs no server state, nonces stay valid
// across a restart when the secret does, and a nonce issued by another
// server (another secret) is recognised as foreign.
type Nonces struct {
	lifetime int64 // ns
	width    int64 // ns, a replay generation: ⌈lifetime/2⌉
	perShard int
	macs     sync.Pool // *macState
	shards   [nonceShards]replayShard
}

type macState struct {
	h   hash.Hash
	in  [16]byte
	sum [sha256.Size]byte
}

// NewNonces returns nonces valid for lifetime under secret (HMAC key, 32
// random bytes recommended; nil or empty draws a random one, so nonces do
// not survive a restart). A lifetime ≤ 0 means 30 s.
func NewNonces(secret []byte, lifetime time.Duration, opts ...Option) *Nonces {
	o := options{maxTracked: DefaultMaxTracked}
	for _, opt := range opts {
		opt(&o)
	}
	if lifetime <= 0 {
		lifetime = 30 * time.Second
	}
	key := make([]byte, len(secret))
	copy(key, secret)
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key) // never fails (crypto/rand panics instead)
	}
	n := &Nonces{
		lifetime: int64(lifetime),
		// Rounded up: a generation dropped (3 widths later) must hold only
		// stale nonces, so 2 × width ≥ lifetime.
		width:    (int64(lifetime) + 1) / 2,
		perShard: max(o.maxTracked/nonceShards, 1),
	}
	n.macs.New = func() any { return &macState{h: hmac.New(sha256.New, key)} }
	return n
}

// Lifetime returns how long an issued nonce is fresh.
func (n *Nonces) Lifetime() time.Duration { return time.Duration(n.lifetime) }

// mac returns the truncated HMAC of the 16 bytes at msg.
func (n *Nonces) mac(msg []byte) (out [macLen]byte) {
	m := n.macs.Get().(*macState)
	copy(m.in[:], msg)
	m.h.Reset()
	m.h.Write(m.in[:])
	copy(out[:], m.h.Sum(m.sum[:0]))
	n.macs.Put(m)
	return out
}

// Issue returns a new nonce (NonceLen base64url characters). Two nonces are
// never equal (64 random bits besides the time).
func (n *Nonces) Issue(now time.Time) string {
	var raw [rawLen]byte
	binary.BigEndian.PutUint64(raw[0:], uint64(now.UnixNano()))
	binary.BigEndian.PutUint64(raw[8:], mrand.Uint64())
	m := n.mac(raw[:16])
	copy(raw[16:], m[:])
	var out [NonceLen]byte
	base64.RawURLEncoding.Encode(out[:], raw[:])
	return string(out[:])
}

// Check checks a nonce's MAC and age: err (wrapping [ErrBadNonce]) when
// this server did not issue it, stale when it is older than the lifetime.
// It does not look at the replay guard.
func (n *Nonces) Check(nonce string, now time.Time) (stale bool, err error) {
	_, _, stale, err = n.check(nonce, now.UnixNano())
	return stale, err
}

func (n *Nonces) check(nonce string, nowNs int64) (ts int64, key uint64, stale bool, err error) {
	var raw [rawLen]byte
	if len(nonce) != NonceLen || !decodeNonce(&raw, nonce) {
		return 0, 0, false, errNonceMalformed
	}
	m := n.mac(raw[:16])
	if subtle.ConstantTimeCompare(m[:], raw[16:]) != 1 {
		return 0, 0, false, errNonceMAC
	}
	ts = int64(binary.BigEndian.Uint64(raw[0:]))
	key = binary.BigEndian.Uint64(raw[8:])
	return ts, key, nowNs-ts > n.lifetime, nil
}

// Verify checks credentials c of a request with method against ha1 (the
// HA1 of c.Algorithm, hex): nonce, response (constant-time), nonce age and,
// with qop=auth, the nonce count. Call it once per new transaction, never for
// a retransmission (which carries the same nonce count and would be a
// replay). It does not check the realm (see [Verifier.Check]).
//
// Errors, in the order they are decided: [ErrUnsupported] (algorithm, qop),
// [ErrNoHA1] (ha1 has the wrong length), then for a nonce not issued here
// [ErrBadNonce] — joined with [ErrStale] when the digest over it is right —,
// [ErrBadResponse], [ErrStale] (only for a right digest: RFC 7616 §3.3),
// [ErrReplay].
func (n *Nonces) Verify(c Credentials, method, ha1 string, now time.Time) error {
	a := algorithmOf(c.Algorithm)
	if a == algNone {
		return errAlgorithm
	}
	if c.QOP != "" && c.QOP != QOPAuth {
		return errQOP
	}
	return n.verify(a, c, method, ha1, now.UnixNano())
}

func (n *Nonces) verify(a algorithm, c Credentials, method, ha1 string, nowNs int64) error {
	if len(ha1) != a.hexLen() {
		return errHA1Malformed
	}
	ts, key, stale, nerr := n.check(c.Nonce, nowNs)
	var buf [512]byte
	want, _ := response(buf[:0], a, c, method, ha1)
	ok := equalHexFold(want, c.Response)
	switch {
	case nerr != nil:
		if ok {
			return errStaleForeign
		}
		return nerr
	case !ok:
		return ErrBadResponse
	case stale:
		return ErrStale
	case c.QOP == "":
		return nil
	}
	return n.shards[key%nonceShards].see(key, ts, c.NC, n.width, n.perShard, nowNs)
}

// replayShard remembers the highest nonce count per nonce, in three
// generations by issue time (width = lifetime/2, so every fresh nonce falls
// in one of the last three): a generation's map is dropped whole when its
// slot is reused, which happens only once all its nonces are stale.
type replayShard struct {
	mu    sync.Mutex
	gens  [3]replayGen
	n     int   // entries in all generations
	floor int64 // nonces issued before this (ns) are retired: stale
	_     [48]byte
}

type replayGen struct {
	gen int64
	m   map[uint64]uint32
}

func (s *replayShard) see(key uint64, ts int64, nc uint32, width int64, limit int, nowNs int64) error {
	if ts < 0 {
		return ErrStale
	}
	g := ts / width
	s.mu.Lock()
	defer s.mu.Unlock()
	if ts < s.floor {
		return errStaleFloor
	}
	slot := &s.gens[g%3]
	if slot.m != nil && slot.gen != g {
		if slot.gen > g {
			// Its generation was dropped: older than the lifetime by now.
			return ErrStale
		}
		s.n -= len(slot.m)
		slot.m = make(map[uint64]uint32, len(slot.m))
		slot.gen = g
	}
	old, known := slot.m[key]
	if nc <= old { // nc 0 is never valid
		return ErrReplay
	}
	if !known && s.n >= limit {
		s.retire(g, width, limit, nowNs)
		if ts < s.floor {
			return errStaleFloor
		}
	}
	if slot.m == nil {
		slot.m = make(map[uint64]uint32)
		slot.gen = g
	}
	if !known {
		s.n++
	}
	slot.m[key] = nc
	return nil
}

// retire frees room when the shard is full: first the generations older
// than g, then (still full) everything. The floor makes the retired nonces
// stale, so forgetting them never lets a replay through: their users get a
// stale=true challenge and retry with a fresh nonce.
func (s *replayShard) retire(g, width int64, limit int, nowNs int64) {
	for i := range s.gens {
		if gs := &s.gens[i]; gs.m != nil && gs.gen < g {
			s.n -= len(gs.m)
			gs.m = nil
			s.floor = max(s.floor, g*width)
		}
	}
	if s.n < limit {
		return
	}
	for i := range s.gens {
		s.gens[i].m = nil
	}
	s.n = 0
	s.floor = max(s.floor, nowNs+1)
}

// decodeNonce decodes a NonceLen-character base64url string (no padding,
// canonical: the unused low bits of the last character are zero).
func decodeNonce(dst *[rawLen]byte, s string) bool {
	var acc uint32
	o := 0
	for i := 0; i < 40; i += 4 {
		acc = 0
		for j := 0; j < 4; j++ {
			d := b64[s[i+j]]
			if d == 0xff {
				return false
			}
			acc = acc<<6 | uint32(d)
		}
		dst[o], dst[o+1], dst[o+2] = byte(acc>>16), byte(acc>>8), byte(acc)
		o += 3
	}
	acc = 0
	for j := 40; j < 43; j++ {
		d := b64[s[j]]
		if d == 0xff {
			return false
		}
		acc = acc<<6 | uint32(d)
	}
	if acc&3 != 0 {
		return false
	}
	dst[30], dst[31] = byte(acc>>10), byte(acc>>2)
	return true
}

var b64 = func() (t [256]byte) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()
