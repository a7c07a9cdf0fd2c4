package h323plugin

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/ras"
	"github.com/rallyvoip/rally/plugins/sdk"
)

// registration is one endpoint registered here.
type registration struct {
	phoneID string
	home    string // the phone's home site
	guest   bool
	epid    string
	ras     netip.AddrPort // where URQs go; invalid until known (restored)
	csa     netip.AddrPort // call signal address
	aliases []ras.AliasAddress
	names   []string // aliases as strings, phone id first
	vendor  string
	ttl     time.Duration
	expires time.Time
	// calls in progress, by call identifier (ARQ → DRQ), with when they
	// were admitted: at most maxCalls, none older than callMaxAge.
	calls map[ras.GUID]time.Time
	// leaving: a URQ was sent; urqSent counts them, urqNext is when the
	// next is due, urqSeq its sequence number, altGK the gatekeeper named.
	leaving bool
	urqSent int
	urqNext time.Time
	urqSeq  uint16
	altGK   *ras.AlternateGK
}

// sentBy tells whether a datagram from src speaks for r: the endpoint
// identifier and aliases are no secret, so only its RAS address's IP (any
// port: NAT) counts, or, restored without a RAS address, its call signal
// address's.
func (r *registration) sentBy(src netip.AddrPort) bool {
	if r.ras.IsValid() {
		return r.ras.Addr() == src.Addr()
	}
	return r.csa.Addr() == src.Addr()
}

// registry holds the registrations, by phone, endpoint identifier and
// alias. Several registrations may hold an alias (a shared extension): the
// alias names the latest, and the others when it leaves.
type registry struct {
	mu      sync.Mutex
	byPhone map[string]*registration
	byEPID  map[string]*registration
	byAlias map[string][]*registration // oldest first
}

func newRegistry() *registry {
	return &registry{
		byPhone: make(map[string]*registration),
		byEPID:  make(map[string]*registration),
		byAlias: make(map[string][]*registration),
	}
}

// put adds r, replacing the phone's previous registration; same is true
// when that one had the same outcome, addresses and aliases (a full RRQ
// that only refreshes).
func (g *registry) put(r *registration) (same bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if old := g.byPhone[r.phoneID]; old != nil {
		same = !old.leaving && old.guest == r.guest && old.csa == r.csa && old.ras == r.ras && slices.Equal(old.names, r.names)
		g.unindexLocked(old)
		if r.calls == nil {
			r.calls = old.calls
		}
	}
	if r.calls == nil {
		r.calls = make(map[ras.GUID]time.Time)
	}
	g.byPhone[r.phoneID] = r
	g.byEPID[r.epid] = r
	for _, n := range r.names {
		g.byAlias[n] = append(g.byAlias[n], r)
	}
	return same
}

// putNew adds r unless the phone is registered already (a restored
// registration never overwrites one an RRQ made); it tells whether it did.
func (g *registry) putNew(r *registration) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.byPhone[r.phoneID] != nil {
		return false
	}
	r.calls = make(map[ras.GUID]time.Time)
	g.byPhone[r.phoneID] = r
	g.byEPID[r.epid] = r
	for _, n := range r.names {
		g.byAlias[n] = append(g.byAlias[n], r)
	}
	return true
}

// drop removes r if it is still the phone's registration.
func (g *registry) drop(r *registration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.byPhone[r.phoneID] == r {
		g.unindexLocked(r)
	}
}

func (g *registry) unindexLocked(r *registration) {
	delete(g.byPhone, r.phoneID)
	if g.byEPID[r.epid] == r {
		delete(g.byEPID, r.epid)
	}
	for _, n := range r.names {
		rs := slices.DeleteFunc(g.byAlias[n], func(x *registration) bool { return x == r })
		if len(rs) == 0 {
			delete(g.byAlias, n)
		} else {
			g.byAlias[n] = rs
		}
	}
}

// remove drops the phone's registration; it returns it, nil if none.
func (g *registry) remove(phoneID string) *registration {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.byPhone[phoneID]
	if r != nil {
		g.unindexLocked(r)
	}
	return r
}

// withEPID runs f on the registration of the endpoint identifier under the
// lock; f gets nil when there is none.
func (g *registry) withEPID(epid string, f func(*registration)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g.byEPID[epid])
}

func (g *registry) withPhone(phoneID string, f func(*registration)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g.byPhone[phoneID])
}

// lookup returns a copy of the registration holding one of aliases.
func (g *registry) lookup(aliases []ras.AliasAddress) (registration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, a := range aliases {
		if s, ok := aliasString(a); ok {
			rs := g.byAlias[s]
			for i := len(rs) - 1; i >= 0; i-- {
				if !rs[i].leaving {
					return *rs[i], true
				}
			}
		}
	}
	return registration{}, false
}

// phones returns the phone ids registered.
func (g *registry) phones() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.byPhone))
	for id := range g.byPhone {
		out = append(out, id)
	}
	return out
}

func (g *registry) len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.byPhone)
}

// epidFor is the endpoint identifier of a phone's registration here: the
// same for every registration of the phone, so that a restarted plugin
// knows the lightweight RRQs of the endpoints it restored.
func epidFor(site, phoneID string) string { return phoneID + "@" + site }

// aliasString is the text of an h323-ID or dialedDigits alias.
func aliasString(a ras.AliasAddress) (string, bool) {
	switch a := a.(type) {
	case ras.H323ID:
		return string(a), a != ""
	case ras.DialedDigits:
		return string(a), a != ""
	}
	return "", false
}

// aliasFor is the alias of a name: dialedDigits when it is digits, else
// an h323-ID.
func aliasFor(s string) ras.AliasAddress {
	for _, c := range s {
		if (c < '0' || c > '9') && c != '#' && c != '*' && c != ',' {
			return ras.H323ID(s)
		}
	}
	return ras.DialedDigits(s)
}

// ipOf returns the first IPv4/IPv6 address of a list of transport
// addresses.
func ipOf(as []ras.TransportAddress) (netip.AddrPort, bool) {
	for _, a := range as {
		if ap, ok := addrPortOf(a); ok {
			return ap, true
		}
	}
	return netip.AddrPort{}, false
}

func addrPortOf(a ras.TransportAddress) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case ras.IPAddress:
		return a.AddrPort(), true
	case ras.IP6Address:
		return a.AddrPort(), true
	}
	return netip.AddrPort{}, false
}

// userCache caches the H.323 aliases (h323_ids) of users, fetched from the
// host once per user (this site's directory, or the held backup records of
// the home), for a minute.
type userCache struct {
	host sdk.Host
	ttl  time.Duration
	mu   sync.Mutex
	m    map[[2]string]userEntry
}

type userEntry struct {
	ids     []string
	fetched time.Time
}

func newUserCache(host sdk.Host) *userCache {
	return &userCache{host: host, ttl: time.Minute, m: make(map[[2]string]userEntry)}
}

// aliases returns the h323_ids of the user ext homed at home ("" for
// this site).
func (c *userCache) aliases(ctx context.Context, home, ext string, now time.Time) ([]string, error) {
	k := [2]string{home, ext}
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && now.Sub(e.fetched) < c.ttl {
		return e.ids, nil
	}
	rec, err := c.host.GetRecord(ctx, home, "user/"+ext)
	if err != nil {
		return nil, fmt.Errorf("h323: user %s: %w", ext, err)
	}
	e = userEntry{ids: rec.GetUser().GetH323Ids(), fetched: now}
	c.mu.Lock()
	c.m[k] = e
	c.mu.Unlock()
	return e.ids, nil
}

// counters count what the gatekeeper received and answered.
type counters struct {
	received, malformed, ignored, unknownMessage, panics, writeErrors atomic.Uint64
	gcf, grj, rcf, rrj, refused, keepalives, ucf, urj                 atomic.Uint64
	urqSent, urqAnswered, expired, acf, arj, dcf, drj, lrqSent, lcf   atomic.Uint64
	lrj, denied, bcf, brj                                             atomic.Uint64
}

// Stats is a snapshot of the counters.
type Stats struct {
	Received, Malformed, Ignored, UnknownMessage, Panics, WriteErrors uint64
	GCF, GRJ, RCF, RRJ, Refused, KeepAlives, UCF, URJ                 uint64
	URQSent, URQAnswered, Expired, ACF, ARJ, DCF, DRJ, LRQSent        uint64
	LCF, LRJ, BCF, BRJ                                                uint64
	// Denied counts URQs, ARQs and DRQs naming a registration from
	// another address (refused with securityDenial).
	Denied        uint64
	Registrations int
}

func (in *instance) stats() Stats {
	c := &in.c
	return Stats{
		Received: c.received.Load(), Malformed: c.malformed.Load(), Ignored: c.ignored.Load(),
		UnknownMessage: c.unknownMessage.Load(), Panics: c.panics.Load(), WriteErrors: c.writeErrors.Load(),
		GCF: c.gcf.Load(), GRJ: c.grj.Load(), RCF: c.rcf.Load(), RRJ: c.rrj.Load(), Refused: c.refused.Load(),
		KeepAlives: c.keepalives.Load(), UCF: c.ucf.Load(), URJ: c.urj.Load(), URQSent: c.urqSent.Load(),
		URQAnswered: c.urqAnswered.Load(), Expired: c.expired.Load(), ACF: c.acf.Load(), ARJ: c.arj.Load(),
		DCF: c.dcf.Load(), DRJ: c.drj.Load(), LRQSent: c.lrqSent.Load(), LCF: c.lcf.Load(), LRJ: c.lrj.Load(),
		Denied: c.denied.Load(), BCF: c.bcf.Load(), BRJ: c.brj.Load(),
		Registrations: in.regs.len(),
	}
}
