package admission

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// Table is a site's local view for admission: the phones it knows (its own
// and those of the homes it backs up), its linked peers, and its licence
// accounting. The core keeps one; each protocol plugin keeps one fed by the
// core's watch stream.
//
// A Table is safe for concurrent use. Decide, Phone, Peer and Counts take
// only the read lock, so admission scales with the number of goroutines.
type Table struct {
	self string

	mu     sync.RWMutex
	phones map[string]PhoneEntry
	// byHome indexes phone ids by home site, for ResetHome.
	byHome map[string]map[string]struct{}
	// byUser indexes phone ids by the extension they serve
	// (PhoneEntry.ServedUser), for call routing (PhonesServing).
	byUser map[string]map[string]struct{}
	// peers holds immutable views: SetPeer stores a copy and never
	// modifies a stored one, so Decide may use it under the read lock.
	peers    map[string]*PeerView
	licenses int
	// registered is the outcome of each phone registered here.
	registered map[string]Outcome
	licensed   int
	guests     int
}

// NewTable returns an empty table for the site self, with no licences.
func NewTable(self string) *Table {
	return &Table{
		self:       self,
		phones:     make(map[string]PhoneEntry),
		byHome:     make(map[string]map[string]struct{}),
		byUser:     make(map[string]map[string]struct{}),
		peers:      make(map[string]*PeerView),
		registered: make(map[string]Outcome),
	}
}

// Self returns the site the table decides for.
func (t *Table) Self() string { return t.self }

// SetLicenses sets the number of phones this site may register as home
// (config key `licenses`). Lowering it below the licences in use evicts
// nobody: new home registrations are refused until enough are released.
func (t *Table) SetLicenses(total int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.licenses = max(total, 0)
}

// PutPhone adds or replaces the entry of one phone.
func (t *Table) PutPhone(p PhoneEntry) error {
	if p.ID == "" {
		return fmt.Errorf("put phone: %w", ErrEmptyID)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.putLocked(p)
	return nil
}

func (t *Table) putLocked(p PhoneEntry) {
	if old, ok := t.phones[p.ID]; ok {
		t.unindexLocked(old)
	}
	t.phones[p.ID] = p
	addIndex(t.byHome, p.Home, p.ID)
	addIndex(t.byUser, p.ServedUser(), p.ID)
}

func (t *Table) unindexLocked(p PhoneEntry) {
	removeIndex(t.byHome, p.Home, p.ID)
	removeIndex(t.byUser, p.ServedUser(), p.ID)
}

func addIndex(idx map[string]map[string]struct{}, key, id string) {
	ids := idx[key]
	if ids == nil {
		ids = make(map[string]struct{})
		idx[key] = ids
	}
	ids[id] = struct{}{}
}

func removeIndex(idx map[string]map[string]struct{}, key, id string) {
	ids := idx[key]
	delete(ids, id)
	if len(ids) == 0 {
		delete(idx, key)
	}
}

// RemovePhone removes the entry of one phone; removing an unknown phone is
// a no-op. A registration of the phone keeps its licence or guest slot
// until Unregistered is called for it.
func (t *Table) RemovePhone(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.phones[id]; ok {
		t.unindexLocked(old)
		delete(t.phones, id)
	}
}

// ResetHome replaces all the phones of one home with entries, as after a
// snapshot of that home's records. An entry with an empty Home is taken to
// belong to home; an entry of another home, or without an id, is an error
// and the table is left unchanged.
func (t *Table) ResetHome(home string, entries []PhoneEntry) error {
	for i := range entries {
		if entries[i].ID == "" {
			return fmt.Errorf("reset home %q: entry %d: %w", home, i, ErrEmptyID)
		}
		if entries[i].Home != "" && entries[i].Home != home {
			return fmt.Errorf("reset home %q: phone %q of %q: %w", home, entries[i].ID, entries[i].Home, ErrHomeMismatch)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for id := range t.byHome[home] {
		if old, ok := t.phones[id]; ok {
			removeIndex(t.byUser, old.ServedUser(), id)
		}
		delete(t.phones, id)
	}
	delete(t.byHome, home)
	for _, e := range entries {
		e.Home = home
		t.putLocked(e)
	}
	return nil
}

// Phone returns the entry of one phone.
func (t *Table) Phone(id string) (PhoneEntry, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	p, ok := t.phones[id]
	return p, ok
}

// PhonesServing appends to dst the entries of the phones that serve the
// extension user now (PhoneEntry.ServedUser: the hot-desked user if any,
// else the base user), in no particular order, and returns it. It is an
// index look-up: the cost grows with the phones found, not with the table.
func (t *Table) PhonesServing(dst []PhoneEntry, user string) []PhoneEntry {
	if user == "" {
		return dst
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for id := range t.byUser[user] {
		dst = append(dst, t.phones[id])
	}
	return dst
}

// Len returns the number of phones in the table.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.phones)
}

// SetPeer adds or replaces the view of one peer. The table keeps its own
// copy of v (ProtocolDown included), so the caller may reuse v.
func (t *Table) SetPeer(v PeerView) error {
	if v.Site == "" {
		return fmt.Errorf("set peer: %w", ErrEmptySite)
	}
	v.ProtocolDown = cloneDown(v.ProtocolDown)
	v.Endpoints = slices.Clone(v.Endpoints)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.peers[v.Site] = &v
	return nil
}

// RemovePeer forgets a peer (unlinked); its phones are then refused as
// not backed up until the peer is set again.
func (t *Table) RemovePeer(site string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.peers, site)
}

// Peers returns copies of the views of every peer, in no order.
func (t *Table) Peers() []PeerView {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]PeerView, 0, len(t.peers))
	for _, v := range t.peers {
		out = append(out, clonePeer(v))
	}
	return out
}

// Peer returns a copy of the view of one peer.
func (t *Table) Peer(site string) (PeerView, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	v, ok := t.peers[site]
	if !ok {
		return PeerView{}, false
	}
	return clonePeer(v), true
}

func clonePeer(v *PeerView) PeerView {
	c := *v
	c.ProtocolDown = cloneDown(v.ProtocolDown)
	c.Endpoints = slices.Clone(v.Endpoints)
	return c
}

// PeerAt returns the view of the peer that announces addr (host:port) as
// one of its endpoints for protocol ("sip", "h323"), so that a plugin can
// tell the requests of a peer site from those of phones. It looks at every
// peer: a federation has few.
func (t *Table) PeerAt(protocol, addr string) (PeerView, bool) {
	if addr == "" {
		return PeerView{}, false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, v := range t.peers {
		for _, ep := range v.Endpoints {
			p, rest, ok := strings.Cut(ep, ":")
			if !ok || p != protocol {
				continue
			}
			if _, a, ok := strings.Cut(rest, "://"); ok && a == addr {
				return clonePeer(v), true
			}
		}
	}
	return PeerView{}, false
}

// BackupPeer returns the view of this site's own backup (the peer with
// BacksUpSelf), if it is linked.
func (t *Table) BackupPeer() (PeerView, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, v := range t.peers {
		if v.BacksUpSelf {
			return clonePeer(v), true
		}
	}
	return PeerView{}, false
}

func cloneDown(m map[federationv1.Protocol]bool) map[federationv1.Protocol]bool {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// Decide looks the phone up and applies the admission rule (see the
// package function Decide) for a request on protocol proto; busy tells
// whether the phone has a call in progress. A phone that already holds a
// licence (registered as home) is admitted home on refresh even when every
// licence is taken. Decide only reads: the caller reports the registration
// it accepts with Registered.
func (t *Table) Decide(phoneID string, proto federationv1.Protocol, busy bool) Decision {
	t.mu.RLock()
	defer t.mu.RUnlock()
	p, ok := t.phones[phoneID]
	if !ok {
		return Decide(t.self, nil, proto, nil, false, busy)
	}
	free := false
	var peer *PeerView
	if p.Home == t.self {
		o, held := t.registered[phoneID]
		free = (held && o == Home) || t.licensed < t.licenses
	} else {
		peer = t.peers[p.Home]
	}
	return Decide(t.self, &p, proto, peer, free, busy)
}

// Registered records that the phone is now registered here with outcome
// Home or Guest. A home registration takes a licence unless the phone
// already holds one (a refresh); a guest takes none. A phone registered as
// guest that re-registers as home (or the reverse) moves between the two
// counts. It returns an error wrapping ErrOverCapacity when no licence is
// free (two phones raced for the last one; the caller refuses the later),
// and ErrBadOutcome for Refuse; the accounting is then unchanged.
func (t *Table) Registered(phoneID string, outcome Outcome) error {
	if phoneID == "" {
		return fmt.Errorf("registered: %w", ErrEmptyID)
	}
	if outcome != Home && outcome != Guest {
		return fmt.Errorf("registered %q as %v: %w", phoneID, outcome, ErrBadOutcome)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	prev, was := t.registered[phoneID]
	if was && prev == outcome {
		return nil
	}
	if outcome == Home && t.licensed >= t.licenses {
		return fmt.Errorf("registered %q: %d of %d licences in use: %w", phoneID, t.licensed, t.licenses, ErrOverCapacity)
	}
	if was {
		t.releaseLocked(prev)
	}
	if !was {
		// The key outlives the request: never keep the caller's string,
		// which may point into a whole parsed request. The phone entry's
		// own id costs nothing more.
		if p, ok := t.phones[phoneID]; ok {
			phoneID = p.ID
		} else {
			phoneID = strings.Clone(phoneID)
		}
	}
	t.registered[phoneID] = outcome
	if outcome == Home {
		t.licensed++
	} else {
		t.guests++
	}
	return nil
}

// Unregistered records that the phone's registration here ended (expired,
// removed or sent home), releasing its licence if it held one. Unknown
// phones are ignored.
func (t *Table) Unregistered(phoneID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev, ok := t.registered[phoneID]; ok {
		delete(t.registered, phoneID)
		t.releaseLocked(prev)
	}
}

func (t *Table) releaseLocked(o Outcome) {
	if o == Home {
		t.licensed--
	} else {
		t.guests--
	}
}

// Registration returns the outcome the phone is registered here with.
func (t *Table) Registration(phoneID string) (Outcome, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	o, ok := t.registered[phoneID]
	return o, ok
}

// Counts returns the licensed (home) and guest registrations held here
// (DESIGN §1.3: `status` shows both).
func (t *Table) Counts() (licensed, guests int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.licensed, t.guests
}

// Licenses returns the licence total set by SetLicenses.
func (t *Table) Licenses() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.licenses
}
