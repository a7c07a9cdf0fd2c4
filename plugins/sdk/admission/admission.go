// Package admission is the admission rule of rally: given a phone that asks
// to register at this site, decide whether it registers as a home phone, as
// a guest, or is refused (DESIGN §1.1, §1.2, §1.3, §1.10).
//
// The rule is one small pure function, [Decide], over a local view of the
// federation that the core streams to plugins (DESIGN §2: "so core and
// plugins decide alike"). [Table] holds that view — the phones of this site
// and of the homes it backs up, the state of each linked peer and the
// licence count — and answers [Table.Decide] in O(1) under a read lock, so a
// protocol plugin can admit a REGISTER or an RRQ without a gRPC round trip.
//
// The package does no I/O, starts no goroutines and holds no global mutable
// state. It imports only the generated protobuf enums, so any plugin built
// on plugins/sdk may use it.
package admission

import (
	"errors"
	"fmt"
	"strings"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// Peer states as seen from this site (DESIGN §3). They are the same strings
// as the states of core/resilience; a [PeerView] carries one of them.
const (
	StateConnecting      = "connecting"
	StateNormal          = "normal"
	StateSuspect         = "suspect"
	StateFailover        = "failover"
	StateFailbackPending = "failback_pending"
	StateIncompatible    = "incompatible"
)

// Failback modes of a backed-up peer (DESIGN §1.10, §4 backup.failback).
const (
	FailbackAutomatic = "automatic"
	FailbackGraceful  = "graceful"
	FailbackManual    = "manual"
)

// Errors of this package. They are returned wrapped; test with errors.Is.
var (
	// ErrBadOutcome is returned for an outcome that cannot be parsed or
	// that cannot be registered (Refuse).
	ErrBadOutcome = errors.New("admission: bad outcome")
	// ErrBadReason is returned by ParseReason for an unknown reason.
	ErrBadReason = errors.New("admission: bad reason")
	// ErrOverCapacity is returned by Table.Registered when a home
	// registration would exceed the site's licences.
	ErrOverCapacity = errors.New("admission: no licence free")
	// ErrEmptyID is returned for a phone entry without an id.
	ErrEmptyID = errors.New("admission: empty phone id")
	// ErrEmptySite is returned for a peer view without a site name.
	ErrEmptySite = errors.New("admission: empty site")
	// ErrHomeMismatch is returned by Table.ResetHome for an entry of
	// another home.
	ErrHomeMismatch = errors.New("admission: entry of another home")
)

// Outcome is what happens to a phone that asks to register here.
//
// The zero Outcome is Refuse, so a zero Decision fails closed.
type Outcome uint8

// Outcomes.
const (
	// Refuse: the registration is refused (SIP 503 with Retry-After, 403
	// or a drop as configured; H.323 RRJ). Decision.Reason says why.
	Refuse Outcome = iota
	// Home: the phone belongs to this site and registers here, consuming
	// a licence (DESIGN §1.3).
	Home
	// Guest: the phone belongs to a backed-up peer that is down (for the
	// phone's protocol) and registers here as a guest, consuming no
	// licence (DESIGN §1.3).
	Guest
)

var outcomeNames = [...]string{Refuse: "refuse", Home: "home", Guest: "guest"}

// String returns "home", "guest" or "refuse", the names of the admin API
// and of `rally phones`.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// ParseOutcome is the inverse of Outcome.String.
func ParseOutcome(s string) (Outcome, error) {
	for i, n := range outcomeNames {
		if n == s {
			return Outcome(i), nil
		}
	}
	return Refuse, fmt.Errorf("%w: %q", ErrBadOutcome, s)
}

// Reason tells why a registration is refused. It is None unless the
// outcome is Refuse.
type Reason uint8

// Reasons.
const (
	// None: the phone is admitted.
	None Reason = iota
	// HomedAtLivePeer: the phone's home is alive (for its protocol), so it
	// must register there (DESIGN §1.1), or failback sends it home
	// (DESIGN §1.10).
	HomedAtLivePeer
	// Unknown: the phone is homed nowhere in the federation (DESIGN §1.1).
	Unknown
	// NotBackedUp: the phone's home is another site that this site does
	// not back up (or whose records it does not hold).
	NotBackedUp
	// OverCapacity: a home phone, but every licence is taken (DESIGN §1.3).
	OverCapacity
)

var reasonNames = [...]string{
	None:            "",
	HomedAtLivePeer: "homed_at_live_peer",
	Unknown:         "unknown",
	NotBackedUp:     "not_backed_up",
	OverCapacity:    "over_capacity",
}

// String returns the snake_case name of the reason used by the admin API
// and metrics labels; None is "".
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// ParseReason is the inverse of Reason.String ("" is None).
func ParseReason(s string) (Reason, error) {
	for i, n := range reasonNames {
		if n == s {
			return Reason(i), nil
		}
	}
	return None, fmt.Errorf("%w: %q", ErrBadReason, s)
}

// Decision is the result of the admission rule.
type Decision struct {
	Outcome Outcome
	// Reason is None unless Outcome is Refuse.
	Reason Reason
	// Home is the phone's home site ("" for an unknown phone). A refusal
	// with HomedAtLivePeer names it so that the plugin can point the phone
	// there (H.323 alternate gatekeeper, DESIGN §1.10).
	Home string
}

// Admitted reports whether the phone may register (as home or guest).
func (d Decision) Admitted() bool { return d.Outcome == Home || d.Outcome == Guest }

// PhoneEntry is what the rule needs to know of one phone: its directory
// record stripped of credentials, plus its home site.
type PhoneEntry struct {
	// ID is the phone id: the digest username or H.323 alias.
	ID string
	// User is the extension of the phone's base user.
	User string
	// Home is the site the phone belongs to.
	Home     string
	Kind     federationv1.PhoneKind
	Protocol federationv1.Protocol
	// HotDeskUser is the extension of a user hot-desked on the phone
	// (DESIGN §1.9), "" when none. The core sets it only for phones homed
	// at this site: a guest serves its base extension. Admission ignores it.
	HotDeskUser string
}

// ServedUser is the extension the phone serves now: the hot-desked user
// if any, else its base user.
func (p PhoneEntry) ServedUser() string {
	if p.HotDeskUser != "" {
		return p.HotDeskUser
	}
	return p.User
}

// Physical reports whether the phone is a physical phone, not a softphone
// client (DESIGN §1.4: the kind is taken from the directory record).
func (p PhoneEntry) Physical() bool { return p.Kind != federationv1.PhoneKind_PHONE_KIND_SOFTPHONE }

// PeerView is this site's view of one linked peer, as far as admission
// needs it. The core keeps it current from core/resilience.
type PeerView struct {
	// Site is the peer's site name.
	Site string
	// BackedUp is true when this site backs the peer up and holds its
	// full backup records (credentials included).
	BackedUp bool
	// State is one of the State* constants.
	State string
	// Failback is one of the Failback* constants; "" means automatic.
	Failback string
	// ProtocolDown marks protocols whose plugin is dead at the peer while
	// its daemon lives (DESIGN §1.2). The core sets it only once it has
	// declared that protocol down (debounced like a peer failure).
	ProtocolDown map[federationv1.Protocol]bool
	// Endpoints are the endpoints the peer's plugins listen on, from its
	// hello, such as "sip:udp://127.0.0.2:5060" (see [Endpoint]). Admission
	// does not use them; plugins route calls and name alternate
	// gatekeepers with them.
	Endpoints []string
	// Backup is the site that backs the peer up, "" for none.
	Backup string
	// BacksUpSelf is true when the peer is this site's own backup.
	BacksUpSelf bool
}

// Endpoint returns the first of the peer's endpoints for protocol
// ("sip", "h323") and transport ("udp", "tcp", "tls"; "" for any), as the
// transport and the host:port; ok is false when the peer has none.
func (v PeerView) Endpoint(protocol, transport string) (scheme, addr string, ok bool) {
	for _, ep := range v.Endpoints {
		p, rest, found := strings.Cut(ep, ":")
		if !found || p != protocol {
			continue
		}
		sc, a, found := strings.Cut(rest, "://")
		if !found || a == "" || (transport != "" && sc != transport) {
			continue
		}
		return sc, a, true
	}
	return "", "", false
}

// Decide is the admission rule. It is pure: the same inputs give the same
// decision, it does no I/O and it does not retain its pointer arguments.
//
//   - self is this site's name.
//   - phone is the directory entry of the phone asking to register, nil if
//     the phone is not in this site's view of the directory.
//   - proto is the protocol the request arrived on; PROTOCOL_UNSPECIFIED
//     means the phone's own protocol.
//   - peer is the view of the phone's home site when that home is another
//     site, nil when this site does not know it; it is ignored for a phone
//     homed here, and treated as nil when its Site is not the phone's home.
//   - licensesFree is true when a home registration may take a licence,
//     or when the phone already holds one (a refresh).
//   - busy is true when the phone has a call in progress (graceful
//     failback sends only idle phones home).
//
// The rules, in order:
//
//  1. No entry, or an entry homed nowhere → Refuse/Unknown (DESIGN §1.1).
//  2. Homed here → Home if a licence is free, else Refuse/OverCapacity
//     (DESIGN §1.3: home registrations consume licences).
//  3. Homed at a peer this site does not back up, or whose records it does
//     not hold → Refuse/NotBackedUp (DESIGN §1.3: a guest is authenticated
//     with replicated credentials, so only a backup can admit it).
//  4. The home is down for this protocol → Guest (DESIGN §1.2, §1.3): the
//     peer is in failover, or it lives (normal, suspect, failback_pending)
//     but the core has declared its plugin for this protocol dead.
//  5. The home is back and failback is pending (DESIGN §1.10): in automatic
//     and manual mode guests stay until the failback happens → Guest; in
//     graceful mode a busy phone stays → Guest, an idle one is sent home →
//     Refuse/HomedAtLivePeer.
//  6. Otherwise the home is not declared down → Refuse/HomedAtLivePeer
//     (DESIGN §1.1, §1.2): normal, suspect (only a declared failure
//     admits: this is the split-brain rule), connecting (never heard, or
//     not yet down), incompatible (never backed up), or a state this
//     version does not know.
func Decide(self string, phone *PhoneEntry, proto federationv1.Protocol, peer *PeerView, licensesFree bool, busy bool) Decision {
	// Rule 1.
	if phone == nil || phone.Home == "" {
		return Decision{Outcome: Refuse, Reason: Unknown}
	}
	d := Decision{Home: phone.Home}
	// Rule 2.
	if phone.Home == self {
		if licensesFree {
			d.Outcome = Home
		} else {
			d.Reason = OverCapacity
		}
		return d
	}
	// Rule 3.
	if peer == nil || peer.Site != phone.Home || !peer.BackedUp {
		d.Reason = NotBackedUp
		return d
	}
	if proto == federationv1.Protocol_PROTOCOL_UNSPECIFIED {
		proto = phone.Protocol
	}
	switch peer.State {
	case StateFailover:
		// Rule 4: the home is down.
		d.Outcome = Guest
		return d
	case StateNormal, StateSuspect, StateFailbackPending:
		// Rule 4: the home lives but is down for this protocol.
		if peer.ProtocolDown[proto] {
			d.Outcome = Guest
			return d
		}
	}
	// Rule 5.
	if peer.State == StateFailbackPending {
		if peer.Failback != FailbackGraceful || busy {
			d.Outcome = Guest
			return d
		}
	}
	// Rule 6.
	d.Reason = HomedAtLivePeer
	return d
}
