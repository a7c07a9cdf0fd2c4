// Package registrar is the binding store of an RFC 3261 §10 registrar: it
// applies REGISTER requests (steps 6–8 of §10.3) to the bindings of an
// address-of-record and answers look-ups, with no SIP parsing — the caller
// (the SIP plugin) passes parsed, authenticated values and turns the errors
// into responses (see [StatusCode]).
//
// It is built for tens of thousands of registrations per second from many
// goroutines: the store is sharded by AOR (64 shards, a mutex each), a
// refresh allocates nothing (give Request.Buf), a new or changed binding
// allocates its strings once, and there are no per-binding timers or
// goroutines: expiry is a heap per shard drained by [Registrar.Expire],
// which the caller runs from a ticker (every second). Memory is a few
// hundred bytes per binding (see BenchmarkMemoryPerBinding).
//
// # What the caller must do
//
//   - Absorb retransmissions before calling Update: a retransmitted REGISTER
//     has the same Call-ID and CSeq and would fail with [ErrOutOfOrder]
//     (and its digest would count as a replay). Answer it from the response
//     cache of the transaction layer (or the lean path's own cache).
//   - Authenticate first, and check that the phone may register the AOR.
//   - Pass the AOR and contact URIs in a canonical form: bindings are
//     matched by exact string comparison, not by the URI comparison rules
//     of RFC 3261 §19.1.4 (lowercase scheme and host, drop header and
//     unknown parameters — sipgo's Uri.String() of a cleaned URI does).
//   - Fill ContactReq.Expires and .Q with [Absent] (-1) when the parameter
//     is missing, and Request.HeaderExpires when there is no Expires
//     header: 0 means "expires=0", which removes the binding.
//   - Call Expire every second and report what it returns; Update reports
//     its own removals in Result.RemovedBindings.
package registrar

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// Absent marks a missing Expires header, expires parameter or q parameter.
const Absent = -1

// Defaults for the zero fields of Config.
const (
	DefaultMinExpires        = 60 * time.Second
	DefaultMaxExpires        = time.Hour
	DefaultDefaultExpires    = time.Hour // RFC 3261 §10.2.1.1 suggests 3600 s
	DefaultGuestExpires      = 60 * time.Second
	DefaultMaxContactsPerAOR = 16
)

// Errors of Update. Test them with errors.Is; [StatusCode] maps them.
var (
	// ErrBadRequest: a malformed request (Contact: * with other contacts or
	// without Expires: 0, q out of range, no Call-ID...). 400.
	ErrBadRequest = errors.New("registrar: bad request")
	// ErrIntervalTooBrief: an expiration interval above 0 and below
	// MinExpires. 423, with Min-Expires: Result.MinExpires.
	ErrIntervalTooBrief = errors.New("registrar: interval too brief")
	// ErrOutOfOrder: same Call-ID as a binding with a CSeq not lower than the
	// request's (RFC 3261 §10.3 steps 6 and 7: "the update MUST be aborted
	// and the request fails"). 500, as RFC 3261 answers a failed update.
	ErrOutOfOrder = errors.New("registrar: request out of order (CSeq not higher for the same Call-ID)")
	// ErrTooManyContacts: the AOR would hold more than MaxContactsPerAOR
	// bindings. 403 (a 503 would only make the phone retry).
	ErrTooManyContacts = errors.New("registrar: too many contacts for the address-of-record")
)

// StatusCode returns the SIP response code for an error of Update: 400,
// 423, 500 or 403, and 500 for anything else; 200 for nil.
func StatusCode(err error) int {
	switch {
	case err == nil:
		return 200
	case errors.Is(err, ErrBadRequest):
		return 400
	case errors.Is(err, ErrIntervalTooBrief):
		return 423
	case errors.Is(err, ErrTooManyContacts):
		return 403
	}
	return 500
}

// Config sets the registrar's policy. Zero fields take the Default…
// constants; MaxContactsPerAOR < 0 means no limit. Durations are used in
// whole seconds.
type Config struct {
	MinExpires     time.Duration // shorter non-zero requests get 423
	MaxExpires     time.Duration // longer requests are shortened to this
	DefaultExpires time.Duration // when neither the contact nor the request says
	// GuestExpires caps the expiry of guest registrations (phones of a
	// failed home site), short so that at failback their next refresh comes
	// soon and can be steered home.
	GuestExpires      time.Duration
	MaxContactsPerAOR int
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.MinExpires, DefaultMinExpires)
	def(&c.MaxExpires, DefaultMaxExpires)
	def(&c.DefaultExpires, DefaultDefaultExpires)
	def(&c.GuestExpires, DefaultGuestExpires)
	if c.MaxContactsPerAOR == 0 {
		c.MaxContactsPerAOR = DefaultMaxContactsPerAOR
	}
	return c
}

// Validate reports a configuration New would have to correct, naming the
// field. Zero fields are valid (they take the defaults).
func (c Config) Validate() error {
	d := c.withDefaults()
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"MinExpires", d.MinExpires}, {"MaxExpires", d.MaxExpires}, {"DefaultExpires", d.DefaultExpires}, {"GuestExpires", d.GuestExpires}} {
		if f.v < time.Second {
			return fmt.Errorf("registrar: %s is %v, want at least 1s", f.name, f.v)
		}
	}
	if d.MinExpires > d.MaxExpires {
		return fmt.Errorf("registrar: MinExpires (%v) is above MaxExpires (%v)", d.MinExpires, d.MaxExpires)
	}
	if d.DefaultExpires < d.MinExpires || d.DefaultExpires > d.MaxExpires {
		return fmt.Errorf("registrar: DefaultExpires (%v) is outside MinExpires..MaxExpires (%v..%v)", d.DefaultExpires, d.MinExpires, d.MaxExpires)
	}
	return nil
}

// Binding is one contact bound to an AOR.
type Binding struct {
	AOR, Contact string
	// Expires is when the binding lapses (wall clock; compare with Before,
	// After or Equal, not ==).
	Expires time.Time
	// Q is the q parameter, 0..1, or -1 (Absent) when the contact had none,
	// which ranks as 1 (see Priority).
	Q       float32
	CallID  string
	CSeq    uint32
	PhoneID string // the authenticated phone (digest username); may be ""
	// Transport (udp, tcp, tls, ws, wss as given), Source (the address the
	// REGISTER came from, for NAT traversal and connection reuse) and
	// UserAgent of the last REGISTER that refreshed the binding.
	Transport, Source, UserAgent string
	Guest                        bool // registered as a guest of a failed home site
	// Registered is when this binding was created (or taken over by a new
	// Call-ID, i.e. the phone restarted); refreshes keep it.
	Registered time.Time
}

// Priority returns Q, with an absent q ranking as 1.
func (b Binding) Priority() float32 {
	if b.Q < 0 {
		return 1
	}
	return b.Q
}

// ExpiresIn returns the seconds left at now, rounded up, for the expires
// parameter of the Contact list of a 200 OK; 0 once expired.
func (b Binding) ExpiresIn(now time.Time) int {
	d := b.Expires.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// ContactReq is one Contact of a REGISTER.
type ContactReq struct {
	URI     string  // canonical contact URI (see the package doc)
	Expires int     // expires parameter in seconds, Absent (-1) if none; 0 removes
	Q       float32 // q parameter 0..1, Absent (-1) if none
}

// Request is a parsed, authenticated REGISTER for one AOR.
type Request struct {
	CallID string
	CSeq   uint32
	// Contacts of the request; none (and not Star) is a query: the current
	// bindings are returned unchanged.
	Contacts []ContactReq
	// Star is "Contact: *": remove every binding. Only valid alone and with
	// HeaderExpires 0.
	Star bool
	// HeaderExpires is the Expires header in seconds, Absent (-1) if none.
	HeaderExpires int
	PhoneID       string // authenticated phone id, for FirstForPhone/LastForPhone and RemovePhone
	Transport     string
	Source        string
	UserAgent     string
	Guest         bool // a guest registration: expiry capped at GuestExpires
	// Buf, if not nil, is reused for Result.Bindings (appended to Buf[:0]),
	// so that a worker that keeps one buffer allocates nothing on refreshes.
	Buf []Binding
}

// Result is the outcome of Update.
type Result struct {
	// Bindings are the AOR's unexpired bindings after the update, for the
	// Contact list of the 200 OK (each with its expires: ExpiresIn).
	Bindings []Binding
	// Added and Removed count the bindings this request created and
	// removed; RemovedBindings are the removed ones (possibly of other
	// phones, for Contact: *), for unregistration reports.
	Added, Removed  int
	RemovedBindings []Binding
	// FirstForPhone: Request.PhoneID had no binding (in any AOR) before and
	// has one now — a new registration of the phone. LastForPhone: it had
	// some and has none now — the phone unregistered.
	FirstForPhone, LastForPhone bool
	// MinExpires is the Min-Expires value (seconds) for a 423, set with
	// ErrIntervalTooBrief.
	MinExpires int
}

const nShards = 64

// Registrar is the binding store. It is safe for concurrent use.
type Registrar struct {
	minS, maxS, defS, guestS int64 // seconds
	maxContacts              int   // < 0: no limit
	seed                     maphash.Seed
	shards                   [nShards]shard
	phones                   [nShards]phoneShard
}

// shard holds the records of the AORs that hash to it, and a min-heap of
// those records by earliest expiry.
type shard struct {
	mu       sync.Mutex
	m        map[string]*record
	heap     []*record
	bindings int
	_        [64]byte // keep neighbouring mutexes off one cache line
}

// record is one AOR's bindings. A single binding (the common case) lives in
// inline, so an AOR costs one allocation besides its strings.
type record struct {
	aor     string
	entries []entry
	next    int64 // earliest expiry of entries, ns
	hidx    int   // index in the shard heap
	inline  [1]entry
}

// entry is a stored binding: Binding without the AOR and with times as
// Unix nanoseconds (128 bytes instead of 200).
type entry struct {
	contact, callID, phoneID, transport, source, userAgent string
	expires, registered                                    int64
	q                                                      float32
	cseq                                                   uint32
	guest                                                  bool
}

func (e *entry) binding(aor string) Binding {
	return Binding{
		AOR: aor, Contact: e.contact, Expires: time.Unix(0, e.expires), Q: e.q,
		CallID: e.callID, CSeq: e.cseq, PhoneID: e.phoneID,
		Transport: e.transport, Source: e.source, UserAgent: e.userAgent,
		Guest: e.guest, Registered: time.Unix(0, e.registered),
	}
}

// New returns an empty registrar. A config that Validate rejects is
// corrected silently (durations raised to 1 s, DefaultExpires and
// MinExpires clamped to MaxExpires).
func New(cfg Config) *Registrar {
	c := cfg.withDefaults()
	secs := func(d time.Duration) int64 { return max(int64(d/time.Second), 1) }
	r := &Registrar{
		minS:        secs(c.MinExpires),
		maxS:        secs(c.MaxExpires),
		defS:        secs(c.DefaultExpires),
		guestS:      secs(c.GuestExpires),
		maxContacts: c.MaxContactsPerAOR,
		seed:        maphash.MakeSeed(),
	}
	r.minS = min(r.minS, r.maxS)
	r.defS = min(max(r.defS, r.minS), r.maxS)
	for i := range r.shards {
		r.shards[i].m = make(map[string]*record)
		r.phones[i].m = make(map[string]*phoneEntry)
	}
	return r
}

func (r *Registrar) shardOf(aor string) *shard {
	return &r.shards[maphash.String(r.seed, aor)%nShards]
}

// Update applies a REGISTER for aor at now (RFC 3261 §10.3 steps 6–8):
// all of it or, on error, nothing.
//
//   - Contact: * removes every binding; it must be the only contact and
//     come with Expires: 0 (else ErrBadRequest).
//   - Each contact's expiry is its expires parameter, else the Expires
//     header, else DefaultExpires; 0 removes the binding; above 0 and below
//     MinExpires fails with ErrIntervalTooBrief (Result.MinExpires set);
//     above MaxExpires it is shortened, and for a guest to GuestExpires.
//   - A binding with the request's Call-ID and a CSeq not lower than the
//     request's fails it with ErrOutOfOrder; a different Call-ID (the phone
//     restarted) replaces the binding.
//   - The AOR may hold MaxContactsPerAOR unexpired bindings: a request that
//     would exceed it first displaces bindings of the same phone with
//     another Call-ID (left over from before the phone restarted with a new
//     contact), then fails with ErrTooManyContacts.
//
// Without contacts and without Star it is a query: nothing changes.
func (r *Registrar) Update(aor string, req Request, now time.Time) (Result, error) {
	var res Result
	if aor == "" {
		return res, fmt.Errorf("%w: empty address-of-record", ErrBadRequest)
	}
	modify := req.Star || len(req.Contacts) > 0
	if req.Star && (len(req.Contacts) > 0 || req.HeaderExpires != 0) {
		return res, fmt.Errorf("%w: Contact: * must be the only contact, with Expires: 0", ErrBadRequest)
	}
	if modify && req.CallID == "" {
		return res, fmt.Errorf("%w: no Call-ID", ErrBadRequest)
	}
	if req.HeaderExpires < Absent {
		return res, fmt.Errorf("%w: negative Expires", ErrBadRequest)
	}
	// Expiry of each contact, in seconds; on the stack for up to 8.
	var expBuf [8]int64
	exps := expBuf[:0]
	adding := 0
	for _, c := range req.Contacts {
		if c.URI == "" {
			return res, fmt.Errorf("%w: empty contact URI", ErrBadRequest)
		}
		if c.Q != Absent && !(c.Q >= 0 && c.Q <= 1) {
			return res, fmt.Errorf("%w: q=%v out of 0..1", ErrBadRequest, c.Q)
		}
		e := int64(c.Expires)
		if e < Absent {
			return res, fmt.Errorf("%w: negative expires", ErrBadRequest)
		}
		if e == Absent {
			e = int64(req.HeaderExpires)
		}
		if e == Absent {
			e = r.defS
		}
		if e > 0 && e < r.minS {
			res.MinExpires = int(r.minS)
			return res, fmt.Errorf("%w: %d s, minimum %d s", ErrIntervalTooBrief, e, r.minS)
		}
		e = min(e, r.maxS)
		if req.Guest {
			e = min(e, r.guestS)
		}
		exps = append(exps, e)
		if e > 0 {
			adding++
		}
	}
	if r.maxContacts >= 0 && adding > r.maxContacts {
		// Decided before any work: a hostile request with thousands of
		// contacts costs nothing.
		return res, fmt.Errorf("%w: %d in the request, limit %d", ErrTooManyContacts, adding, r.maxContacts)
	}

	nowNs := now.UnixNano()
	sh := r.shardOf(aor)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	rec := sh.m[aor]
	if !modify {
		if rec != nil {
			res.Bindings = appendLive(req.Buf[:0], rec, nowNs)
		}
		return res, nil
	}
	var old []entry
	if rec != nil {
		old = rec.entries
	}

	// Work on a copy of the bindings; commit only if every step succeeds.
	var workBuf [4]work
	ws := workBuf[:0]
	for i := range old {
		ws = append(ws, work{e: old[i], orig: i})
	}
	if req.Star {
		for i := range ws {
			w := &ws[i]
			if w.e.expires > nowNs && w.e.callID == req.CallID && req.CSeq <= w.e.cseq {
				return res, fmt.Errorf("%w: CSeq %d, binding has %d", ErrOutOfOrder, req.CSeq, w.e.cseq)
			}
			w.removed = true
		}
	}
	for i, c := range req.Contacts {
		idx := -1
		for j := range ws {
			if !ws[j].removed && ws[j].e.contact == c.URI {
				idx = j
				break
			}
		}
		if idx >= 0 {
			w := &ws[idx]
			if !w.touched && w.e.expires > nowNs && w.e.callID == req.CallID && req.CSeq <= w.e.cseq {
				return res, fmt.Errorf("%w: CSeq %d, binding has %d", ErrOutOfOrder, req.CSeq, w.e.cseq)
			}
			if exps[i] == 0 {
				w.removed = true
				continue
			}
			if w.e.callID != req.CallID || w.e.expires <= nowNs {
				w.e.registered = nowNs // a new registration of this contact
			}
			w.touched = true
			r.fill(&w.e, req, c, exps[i], nowNs)
			continue
		}
		if exps[i] == 0 {
			continue // removing what is not there
		}
		w := work{orig: -1, touched: true}
		w.e.contact = c.URI
		w.e.registered = nowNs
		r.fill(&w.e, req, c, exps[i], nowNs)
		ws = append(ws, w)
	}

	if r.maxContacts >= 0 {
		liveBefore, live := 0, 0
		for i := range ws {
			if ws[i].orig >= 0 && old[ws[i].orig].expires > nowNs {
				liveBefore++
			}
			if !ws[i].removed && ws[i].e.expires > nowNs {
				live++
			}
		}
		if live > r.maxContacts && live > liveBefore {
			// Displace this phone's bindings from an earlier Call-ID, oldest
			// first, then give up.
			for live > r.maxContacts {
				oldest := -1
				for i := range ws {
					w := &ws[i]
					if !w.removed && !w.touched && w.e.expires > nowNs && req.PhoneID != "" &&
						w.e.phoneID == req.PhoneID && w.e.callID != req.CallID &&
						(oldest < 0 || w.e.registered < ws[oldest].e.registered) {
						oldest = i
					}
				}
				if oldest < 0 {
					return res, fmt.Errorf("%w: %d, limit %d", ErrTooManyContacts, live, r.maxContacts)
				}
				ws[oldest].removed = true
				live--
			}
		}
	}

	// Commit.
	if rec == nil {
		if !slices.ContainsFunc(ws, func(w work) bool { return !w.removed }) {
			return res, nil // only removals of bindings that do not exist
		}
		rec = &record{aor: strings.Clone(aor), hidx: -1}
		rec.entries = rec.inline[:0]
	}
	var deltaBuf [4]phoneDelta
	deltas := deltaBuf[:0]
	kept := 0
	for i := range ws {
		w := &ws[i]
		if w.removed {
			if w.orig >= 0 {
				res.RemovedBindings = append(res.RemovedBindings, old[w.orig].binding(rec.aor))
				deltas = addDelta(deltas, old[w.orig].phoneID, -1)
			}
			continue
		}
		if w.orig < 0 {
			res.Added++
			deltas = addDelta(deltas, req.PhoneID, +1)
		} else if p := old[w.orig].phoneID; p != w.e.phoneID {
			deltas = addDelta(deltas, p, -1)
			deltas = addDelta(deltas, w.e.phoneID, +1)
		}
		if w.touched {
			var prev *entry
			if w.orig >= 0 {
				prev = &old[w.orig]
			}
			ownStrings(&w.e, prev)
		}
		kept++
	}
	res.Removed = len(res.RemovedBindings)
	if kept > cap(rec.entries) {
		rec.entries = make([]entry, 0, kept)
	}
	// ws holds copies, so the old entries can be overwritten in place.
	all := rec.entries[:cap(rec.entries)]
	n := 0
	next := int64(math.MaxInt64)
	for i := range ws {
		if !ws[i].removed {
			all[n] = ws[i].e
			next = min(next, ws[i].e.expires)
			n++
		}
	}
	clear(all[n:]) // release the strings of removed bindings
	rec.entries = all[:n]
	sh.bindings += n - len(old)
	switch {
	case n == 0 && rec.hidx >= 0:
		sh.heapRemove(rec.hidx)
		delete(sh.m, rec.aor)
	case n > 0 && rec.hidx < 0:
		rec.next = next
		sh.m[rec.aor] = rec
		sh.heapPush(rec)
	case n > 0 && next < rec.next:
		rec.next = next
		sh.heapFix(rec.hidx)
	case n > 0:
		// A later expiry (a refresh) keeps the record's heap key: Expire
		// re-keys the record when the old key comes up, so that a refresh
		// costs no heap work.
	}

	// Phone index, under the AOR's shard lock (lock order: AOR shard, then
	// phone shard) so that concurrent updates of one phone see its count
	// change atomically.
	for _, d := range deltas {
		before, after := r.phoneAdd(d.phone, rec.aor, d.n)
		if d.phone == req.PhoneID {
			res.FirstForPhone = before == 0 && after > 0
			res.LastForPhone = before > 0 && after == 0
		}
	}
	res.Bindings = appendLive(req.Buf[:0], rec, nowNs)
	return res, nil
}

// work is a binding being updated by a request.
type work struct {
	e       entry
	orig    int  // index in the old entries, -1 if new
	touched bool // set by this request (so a second identical contact is not out of order)
	removed bool
}

// fill sets the per-request fields of e (strings still the request's).
func (r *Registrar) fill(e *entry, req Request, c ContactReq, exp, nowNs int64) {
	e.expires = nowNs + exp*int64(time.Second)
	e.q = c.Q
	e.callID = req.CallID
	e.cseq = req.CSeq
	e.phoneID = req.PhoneID
	e.transport = req.Transport
	e.source = req.Source
	e.userAgent = req.UserAgent
	e.guest = req.Guest
}

// ownStrings makes e's strings its own instead of pointers into the
// caller's packet buffer: when they all equal prev's they are shared with
// it, otherwise they are copied into one new allocation.
func ownStrings(e *entry, prev *entry) {
	e.transport = internTransport(e.transport)
	if prev != nil && e.contact == prev.contact && e.callID == prev.callID && e.phoneID == prev.phoneID &&
		e.source == prev.source && e.userAgent == prev.userAgent && e.transport == prev.transport {
		e.contact, e.callID, e.phoneID = prev.contact, prev.callID, prev.phoneID
		e.source, e.userAgent, e.transport = prev.source, prev.userAgent, prev.transport
		return
	}
	fields := [...]*string{&e.contact, &e.callID, &e.phoneID, &e.source, &e.userAgent, &e.transport}
	nf := len(fields)
	if isInterned(e.transport) {
		nf-- // a constant already
	}
	n := 0
	for _, f := range fields[:nf] {
		n += len(*f)
	}
	var b strings.Builder
	b.Grow(n)
	for _, f := range fields[:nf] {
		b.WriteString(*f)
	}
	s := b.String()
	off := 0
	for _, f := range fields[:nf] {
		l := len(*f)
		*f = s[off : off+l]
		off += l
	}
}

var transports = [...]string{"udp", "tcp", "tls", "ws", "wss", "sctp", "UDP", "TCP", "TLS", "WS", "WSS", "SCTP"}

func internTransport(t string) string {
	for _, s := range transports {
		if s == t {
			return s
		}
	}
	return t
}

func isInterned(t string) bool {
	for _, s := range transports {
		if s == t {
			return true
		}
	}
	return t == ""
}

// appendLive appends rec's unexpired bindings to dst.
func appendLive(dst []Binding, rec *record, nowNs int64) []Binding {
	for i := range rec.entries {
		if rec.entries[i].expires > nowNs {
			dst = append(dst, rec.entries[i].binding(rec.aor))
		}
	}
	return dst
}

// Lookup returns aor's unexpired bindings, highest q first (an absent q
// ranks as 1; equal q keep registration order).
func (r *Registrar) Lookup(aor string, now time.Time) []Binding {
	sh := r.shardOf(aor)
	sh.mu.Lock()
	var out []Binding
	if rec := sh.m[aor]; rec != nil {
		out = appendLive(make([]Binding, 0, len(rec.entries)), rec, now.UnixNano())
	}
	sh.mu.Unlock()
	if len(out) > 1 {
		slices.SortStableFunc(out, func(a, b Binding) int {
			pa, pb := a.Priority(), b.Priority()
			switch {
			case pa > pb:
				return -1
			case pa < pb:
				return 1
			}
			return 0
		})
	}
	return out
}

// Expire removes the bindings that have expired at now and returns them,
// for unregistration reports (PhoneCount tells whether a phone has any
// left). Call it every second; until then an expired binding is invisible
// to Lookup and Update results but still held (and counted by Count and
// PhoneCount).
func (r *Registrar) Expire(now time.Time) []Binding {
	nowNs := now.UnixNano()
	var out []Binding
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for len(sh.heap) > 0 && sh.heap[0].next <= nowNs {
			rec := sh.heap[0]
			n := 0
			next := int64(math.MaxInt64)
			for j := range rec.entries {
				e := &rec.entries[j]
				if e.expires <= nowNs {
					out = append(out, e.binding(rec.aor))
					r.phoneAdd(e.phoneID, rec.aor, -1)
					continue
				}
				next = min(next, e.expires)
				rec.entries[n] = *e
				n++
			}
			clear(rec.entries[n:])
			sh.bindings -= len(rec.entries) - n
			rec.entries = rec.entries[:n]
			if n == 0 {
				sh.heapRemove(0)
				delete(sh.m, rec.aor)
			} else {
				rec.next = next
				sh.heapFix(0)
			}
		}
		sh.mu.Unlock()
	}
	return out
}

// Remove removes all of aor's bindings (expired or not) and returns them.
func (r *Registrar) Remove(aor string) []Binding {
	sh := r.shardOf(aor)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	rec := sh.m[aor]
	if rec == nil {
		return nil
	}
	return r.removeWhere(sh, rec, func(*entry) bool { return true })
}

// RemovePhone removes every binding of phoneID, in all AORs, and returns
// them (failback of a guest, hot-desk log-out). A binding the phone adds
// concurrently in another AOR may survive.
func (r *Registrar) RemovePhone(phoneID string) []Binding {
	if phoneID == "" {
		return nil
	}
	ps := r.phoneShardOf(phoneID)
	ps.mu.Lock()
	var aors []string
	if pe := ps.m[phoneID]; pe != nil {
		for _, a := range pe.aors {
			aors = append(aors, a.aor)
		}
	}
	ps.mu.Unlock()
	var out []Binding
	for _, aor := range aors {
		sh := r.shardOf(aor)
		sh.mu.Lock()
		if rec := sh.m[aor]; rec != nil {
			out = append(out, r.removeWhere(sh, rec, func(e *entry) bool { return e.phoneID == phoneID })...)
		}
		sh.mu.Unlock()
	}
	return out
}

// removeWhere removes rec's entries matching f; sh is locked.
func (r *Registrar) removeWhere(sh *shard, rec *record, f func(*entry) bool) []Binding {
	var out []Binding
	n := 0
	next := int64(math.MaxInt64)
	for j := range rec.entries {
		e := &rec.entries[j]
		if f(e) {
			out = append(out, e.binding(rec.aor))
			r.phoneAdd(e.phoneID, rec.aor, -1)
			continue
		}
		next = min(next, e.expires)
		rec.entries[n] = *e
		n++
	}
	clear(rec.entries[n:])
	sh.bindings -= len(rec.entries) - n
	rec.entries = rec.entries[:n]
	if n == 0 {
		sh.heapRemove(rec.hidx)
		delete(sh.m, rec.aor)
	} else if len(out) > 0 {
		rec.next = next
		sh.heapFix(rec.hidx)
	}
	return out
}

// Count returns the number of AORs with bindings and of bindings held
// (including expired ones Expire has not removed yet).
func (r *Registrar) Count() (aors, bindings int) {
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		aors += len(sh.m)
		bindings += sh.bindings
		sh.mu.Unlock()
	}
	return aors, bindings
}

// All calls fn for every binding held (including expired ones Expire has
// not removed yet), shard by shard, until fn returns false. fn runs without
// any lock held and may call the Registrar; a binding changed meanwhile may
// be seen in its old state or not at all.
func (r *Registrar) All(fn func(Binding) bool) {
	var buf []Binding
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		buf = buf[:0]
		for _, rec := range sh.m {
			for j := range rec.entries {
				buf = append(buf, rec.entries[j].binding(rec.aor))
			}
		}
		sh.mu.Unlock()
		for _, b := range buf {
			if !fn(b) {
				return
			}
		}
	}
}

// PhoneCount returns how many bindings phoneID holds in all AORs
// (including expired ones Expire has not removed yet).
func (r *Registrar) PhoneCount(phoneID string) int {
	if phoneID == "" {
		return 0
	}
	ps := r.phoneShardOf(phoneID)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if pe := ps.m[phoneID]; pe != nil {
		return int(pe.total)
	}
	return 0
}
