// Package resilience is the per-peer state machine of a rally site: how this
// site sees one linked peer (connecting, normal, suspect, failover,
// failback_pending, incompatible), and — for a peer this site backs up —
// whether user, hunt group and voicemail resilience for that home is
// inactive, active or lost (DESIGN §1.2, §1.4, §1.10, §1.11, §3).
//
// A Machine is pure bookkeeping: it starts no goroutines, reads no clock and
// does no I/O. The caller feeds it inputs — link events from the federation
// stream, guest registrations from the protocol plugins, operator commands —
// each with the time it happened, and ticks it (every heartbeat or so) so
// that silence is noticed. Every input returns the events it produced:
// exactly one Event per transition, stamped with the time passed in, for
// the log, metrics, `rally status --watch` and the plugins.
//
// Failure detection (DESIGN §1.2): any frame is proof of life (Heard). A
// peer unheard for SuspectAfter (two heartbeats) is suspect; unheard for
// more than FailoverAfter it is declared down — whether the stream was
// reset or its packets are silently dropped: a reset alone changes nothing,
// the silence timer decides. Only a declared failure (Failover) admits the
// peer's phones as guests; see plugins/sdk/admission.
package resilience

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Peer states as seen from this site. The names are a contract (DESIGN §3)
// and equal the State* constants of plugins/sdk/admission.
const (
	// Connecting: never heard since this site started, or a peer this site
	// does not back up that has gone silent (it is merely unreachable).
	Connecting = "connecting"
	// Normal: linked and heard.
	Normal = "normal"
	// Suspect: linked before, unheard for SuspectAfter; not yet down.
	Suspect = "suspect"
	// Failover: declared down; this site admits its phones as guests.
	Failover = "failover"
	// FailbackPending: seen again after a failover; guests return home by
	// the failback mode.
	FailbackPending = "failback_pending"
	// Incompatible: the peer's hello was refused by the compatibility
	// checks (DESIGN §1.12). Never backed up from here.
	Incompatible = "incompatible"
)

// Resilience states of a backed-up home (DESIGN §1.4, §1.11, §3).
const (
	// Inactive: no failover, or no physical guest yet.
	Inactive = "inactive"
	// Active: a physical phone of the home registered here as a guest
	// during this failover; user, hunt group and voicemail resilience run
	// until failback.
	Active = "active"
	// Lost: this site does not hold the home's backup records (it
	// restarted in memory mode and has not resynced) while the home is not
	// normal: there is no resilience for it.
	Lost = "lost"
)

// Failback modes (DESIGN §1.10, config key backup.failback).
const (
	FailbackAutomatic = "automatic"
	FailbackGraceful  = "graceful"
	FailbackManual    = "manual"
)

// Event kinds.
const (
	// KindPeerState: the peer's state changed.
	KindPeerState = "peer_state"
	// KindResilience: the home's resilience changed.
	KindResilience = "resilience"
	// KindFailback: the failback completed — the peer's state changed from
	// failback_pending to normal. It is a peer-state transition too: a
	// consumer that tracks the state reads To of both kinds.
	KindFailback = "failback"
)

// Defaults for a zero Config field (DESIGN §4).
const (
	DefaultHeartbeat     = 500 * time.Millisecond
	DefaultFailoverAfter = 2 * time.Second
	DefaultFailbackDelay = 60 * time.Second
)

// Errors of this package. They are returned wrapped; test with errors.Is.
var (
	// ErrNotFailbackPending: a manual failback was asked for a peer that is
	// not waiting for one.
	ErrNotFailbackPending = errors.New("resilience: peer is not failback pending")
	// ErrPeerDown: a manual failback was asked for a peer that is still
	// down.
	ErrPeerDown = errors.New("resilience: peer is down")
	// ErrBadConfig: Config.Validate found a bad value.
	ErrBadConfig = errors.New("resilience: bad config")
)

// Config is the resilience configuration of one peer.
type Config struct {
	// BacksUp is true when this site backs the peer up (config backs_up).
	BacksUp bool
	// Heartbeat is the heartbeat interval (federation.heartbeat).
	Heartbeat time.Duration
	// FailoverAfter is the silence after which the peer is declared down
	// (federation.failover_after).
	FailoverAfter time.Duration
	// FailbackDelay is how long the peer must stay linked before an
	// automatic failback (backup.failback_delay).
	FailbackDelay time.Duration
	// Failback is automatic, graceful or manual ("" is automatic).
	Failback string
}

// Validate checks the configuration; its errors wrap ErrBadConfig and name
// the config key.
func (c Config) Validate() error {
	switch {
	case c.Heartbeat < 0:
		return fmt.Errorf("%w: federation.heartbeat %v is negative", ErrBadConfig, c.Heartbeat)
	case c.FailoverAfter < 0:
		return fmt.Errorf("%w: federation.failover_after %v is negative", ErrBadConfig, c.FailoverAfter)
	case c.FailbackDelay < 0:
		return fmt.Errorf("%w: backup.failback_delay %v is negative", ErrBadConfig, c.FailbackDelay)
	}
	d := c.withDefaults()
	if d.FailoverAfter <= d.Heartbeat {
		return fmt.Errorf("%w: federation.failover_after %v must exceed federation.heartbeat %v", ErrBadConfig, d.FailoverAfter, d.Heartbeat)
	}
	switch c.Failback {
	case "", FailbackAutomatic, FailbackGraceful, FailbackManual:
	default:
		return fmt.Errorf("%w: backup.failback %q is not automatic, graceful or manual", ErrBadConfig, c.Failback)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.FailoverAfter <= 0 {
		c.FailoverAfter = DefaultFailoverAfter
	}
	if c.FailbackDelay < 0 {
		c.FailbackDelay = 0
	}
	switch c.Failback {
	case FailbackGraceful, FailbackManual:
	default:
		c.Failback = FailbackAutomatic
	}
	return c
}

// SuspectAfter is the silence after which the peer is suspect: two
// heartbeats, but less than FailoverAfter (half of it when two heartbeats
// would not be).
func (c Config) SuspectAfter() time.Duration {
	c = c.withDefaults()
	s := 2 * c.Heartbeat
	if s >= c.FailoverAfter {
		s = c.FailoverAfter / 2
	}
	return s
}

// Event is one transition.
type Event struct {
	// Time is the now passed with the input that caused the transition.
	Time time.Time
	// Kind is KindPeerState, KindResilience or KindFailback.
	Kind string
	Peer string
	// From and To are states: peer states for KindPeerState and
	// KindFailback, resilience states for KindResilience.
	From, To string
	// Message says why, for people.
	Message string
}

// Machine is this site's view of one linked peer. Its methods are safe for
// concurrent use, but inputs must be given in time order: a machine never
// goes back in time.
type Machine struct {
	mu   sync.Mutex
	peer string
	cfg  Config // with defaults applied

	state   string
	since   time.Time
	message string

	created   time.Time
	lastHeard time.Time
	heard     bool

	// linkUp is true between Connected and Disconnected/Incompatible;
	// linkSince is the time of the last Connected.
	linkUp    bool
	linkSince time.Time

	// held: whether this site holds the peer's backup records, once the
	// caller said so (heldKnown).
	held, heldKnown bool

	resilience string
	// activated latches the physical-phone trigger for this failover.
	activated bool
	// guests maps the id of each guest phone of the peer registered here
	// to whether it is physical.
	guests   map[string]bool
	physical int
}

// New returns the machine of peer, in state Connecting since now. Zero
// durations of cfg take the Default* values and an unknown failback mode
// is automatic; call cfg.Validate first to refuse bad values.
func New(peer string, cfg Config, now time.Time) *Machine {
	return &Machine{
		peer:       peer,
		cfg:        cfg.withDefaults(),
		state:      Connecting,
		since:      now,
		created:    now,
		resilience: Inactive,
		guests:     make(map[string]bool),
	}
}

// Status is a consistent snapshot of a machine, for `rally status`.
type Status struct {
	Peer       string
	State      string
	Since      time.Time
	LastHeard  time.Time // zero if never heard
	LinkUp     bool
	Resilience string
	Guests     int
	// PhysicalGuests counts the guests that are not softphones.
	PhysicalGuests int
	Message        string
}

// Status returns a snapshot of the machine taken under one lock.
func (m *Machine) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Status{
		Peer: m.peer, State: m.state, Since: m.since, LinkUp: m.linkUp,
		Resilience: m.resilience, Guests: len(m.guests), PhysicalGuests: m.physical,
		Message: m.message,
	}
	if m.heard {
		st.LastHeard = m.lastHeard
	}
	return st
}

// Peer returns the peer's site name.
func (m *Machine) Peer() string { return m.peer }

// Config returns the configuration in force (defaults applied).
func (m *Machine) Config() Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg
}

// SetFailback sets the failback mode and delay, which are the home's
// settings (its backup.failback and backup.failback_delay): the backup
// learns them from the home's hello. An unknown mode is automatic.
func (m *Machine) SetFailback(mode string, delay time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.cfg
	c.Failback = mode
	c.FailbackDelay = delay
	m.cfg = c.withDefaults()
}

// State returns the peer's state.
func (m *Machine) State() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// Since returns when the peer entered its state.
func (m *Machine) Since() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.since
}

// LastHeard returns when the peer was last heard; the zero time if never.
func (m *Machine) LastHeard() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.heard {
		return time.Time{}
	}
	return m.lastHeard
}

// LinkUp reports whether the federation stream is up (between Connected
// and Disconnected).
func (m *Machine) LinkUp() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.linkUp
}

// Resilience returns the resilience state of the peer as a backed-up home:
// Inactive, Active or Lost. It is always Inactive for a peer this site
// does not back up.
func (m *Machine) Resilience() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.resilience
}

// Guests returns the number of the peer's phones registered here as guests.
func (m *Machine) Guests() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.guests)
}

// PhysicalGuests returns how many of the guests are physical phones.
func (m *Machine) PhysicalGuests() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.physical
}

// Message returns the last disconnect reason or incompatibility message;
// "" after a successful Connected.
func (m *Machine) Message() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.message
}

// Connected reports that the peer's hello was accepted: the link is up.
// From Connecting, Suspect or Incompatible the peer becomes Normal; from
// Failover it becomes FailbackPending (DESIGN §1.10), and in FailbackPending
// the automatic failback delay starts again (a flapping link is not
// stable).
func (m *Machine) Connected(now time.Time) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ev []Event
	m.linkUp, m.linkSince = true, now
	m.hear(now)
	m.message = ""
	switch m.state {
	case Connecting, Suspect, Incompatible:
		ev = m.transition(ev, now, Normal, "linked")
	case Failover:
		ev = m.transition(ev, now, FailbackPending, "seen again; failback "+m.cfg.Failback)
	}
	return m.settle(ev, now)
}

// Heard reports a frame from the peer (any frame is proof of life). A
// Suspect peer becomes Normal. While the link is up, a peer in Failover
// whose frames resume on the same stream (silent loss healed without a
// reset) becomes FailbackPending, and a Connecting one Normal. In
// FailbackPending, a frame after a gap longer than SuspectAfter restarts
// the automatic failback delay.
func (m *Machine) Heard(now time.Time) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ev []Event
	if m.state == FailbackPending && m.heard && now.Sub(m.lastHeard) > m.cfg.SuspectAfter() {
		// A gap in the peer's frames: it was not stable, the automatic
		// failback delay starts again.
		m.linkSince = now
	}
	m.hear(now)
	switch {
	case m.state == Suspect:
		ev = m.transition(ev, now, Normal, "heard again")
	case m.state == Connecting && m.linkUp:
		ev = m.transition(ev, now, Normal, "heard again")
	case m.state == Failover && m.linkUp:
		m.linkSince = now
		ev = m.transition(ev, now, FailbackPending, "heard again; failback "+m.cfg.Failback)
	}
	return m.settle(ev, now)
}

func (m *Machine) hear(now time.Time) {
	if !m.heard || now.After(m.lastHeard) {
		m.lastHeard = now
	}
	m.heard = true
}

// Disconnected reports that the federation stream ended. The state does
// not change: a reset is not a failover; Tick declares the peer suspect,
// then down, as the silence since it was last heard grows.
func (m *Machine) Disconnected(now time.Time, reason string) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.linkUp = false
	m.message = reason
	return m.settle(nil, now)
}

// Incompatible reports that the peer failed the compatibility checks
// (DESIGN §1.12); message names the setting and both values. The peer
// becomes Incompatible, from any state: it is never backed up, so it never
// fails over from there, and its guests are sent home.
func (m *Machine) Incompatible(now time.Time, message string) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.linkUp = false
	m.message = message
	ev := m.transition(nil, now, Incompatible, message)
	return m.settle(ev, now)
}

// Tick advances the silence timers to now:
//
//   - Normal unheard for more than SuspectAfter → Suspect.
//   - Normal, Suspect or Connecting unheard for more than FailoverAfter
//     (since New when never heard) → Failover if this site backs the peer
//     up and either heard it once or holds its records (SetHeld: a durable
//     restart); a peer never heard whose records are not held stays
//     Connecting; a peer this site does not back up goes Connecting.
//   - FailbackPending unheard for more than FailoverAfter → Failover
//     again; in automatic mode, linked and heard without a break (no
//     reconnect, no gap over SuspectAfter) for FailbackDelay → Normal
//     (the failback).
func (m *Machine) Tick(now time.Time) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ev []Event
	silence := m.silence(now)
	switch m.state {
	case Normal, Suspect, Connecting:
		if silence > m.cfg.FailoverAfter {
			switch {
			case m.cfg.BacksUp && (m.heard || (m.heldKnown && m.held)):
				ev = m.transition(ev, now, Failover, fmt.Sprintf("unheard for %v", silence))
			case m.state != Connecting:
				ev = m.transition(ev, now, Connecting, fmt.Sprintf("unheard for %v", silence))
			}
		} else if m.state == Normal && silence > m.cfg.SuspectAfter() {
			ev = m.transition(ev, now, Suspect, fmt.Sprintf("unheard for %v", silence))
		}
	case FailbackPending:
		if silence > m.cfg.FailoverAfter {
			ev = m.transition(ev, now, Failover, fmt.Sprintf("unheard for %v during failback", silence))
		}
	}
	return m.settle(ev, now)
}

func (m *Machine) silence(now time.Time) time.Duration {
	if m.heard {
		return now.Sub(m.lastHeard)
	}
	return now.Sub(m.created)
}

// Failback is the operator's manual failback (`rally failback SITE`). It
// completes a pending failback in any mode. It fails with ErrPeerDown while
// the peer is in Failover and with ErrNotFailbackPending in any other
// state.
func (m *Machine) Failback(now time.Time) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.state {
	case FailbackPending:
		ev := m.transition(nil, now, Normal, "manual failback")
		return m.settle(ev, now), nil
	case Failover:
		return nil, fmt.Errorf("failback %s: %w", m.peer, ErrPeerDown)
	default:
		return nil, fmt.Errorf("failback %s (state %s): %w", m.peer, m.state, ErrNotFailbackPending)
	}
}

// GuestsIdle reports that no guest of the peer is busy any more (the
// protocol plugins sent each idle guest home as the admission rule
// decides). In graceful mode it completes a pending failback.
func (m *Machine) GuestsIdle(now time.Time) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ev []Event
	if m.state == FailbackPending && m.cfg.Failback == FailbackGraceful {
		ev = m.transition(ev, now, Normal, "graceful failback: no busy guest")
	}
	return m.settle(ev, now)
}

// GuestRegistered reports that a phone of the peer registered here as a
// guest (or refreshed its registration); physical is false for a softphone
// (DESIGN §1.4). The first physical guest during Failover or
// FailbackPending activates the home's resilience; softphones alone never
// do.
func (m *Machine) GuestRegistered(now time.Time, phoneID string, physical bool) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	if was, ok := m.guests[phoneID]; ok && was {
		m.physical--
	}
	m.guests[phoneID] = physical
	if physical {
		m.physical++
	}
	return m.settle(nil, now)
}

// GuestUnregistered reports that a guest's registration ended (expired,
// removed or sent home). In graceful mode, the last guest leaving completes
// a pending failback. Resilience stays Active until the failback, even if
// no physical guest remains.
func (m *Machine) GuestUnregistered(now time.Time, phoneID string) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	if was, ok := m.guests[phoneID]; ok {
		delete(m.guests, phoneID)
		if was {
			m.physical--
		}
	}
	return m.settle(nil, now)
}

// SetHeld tells whether this site holds the peer's backup records: true
// after a sync, or at start when a durable store kept them
// (store.durable_backups); false at start in memory mode, until the peer
// resyncs (DESIGN §1.11). While records are not held and the peer is not
// Normal, resilience is Lost. Held records let a restarted site declare a
// home that never came back down (Tick).
func (m *Machine) SetHeld(now time.Time, held bool) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.held, m.heldKnown = held, true
	return m.settle(nil, now)
}

// transition moves to state to, appending its event.
func (m *Machine) transition(ev []Event, now time.Time, to, msg string) []Event {
	if m.state == to {
		return ev
	}
	kind := KindPeerState
	if m.state == FailbackPending && to == Normal {
		kind = KindFailback
	}
	ev = append(ev, Event{Time: now, Kind: kind, Peer: m.peer, From: m.state, To: to, Message: msg})
	m.state, m.since = to, now
	return ev
}

// settle applies the transitions that follow from the state reached
// without a new input — a graceful failback with no guest left, an
// automatic failback whose delay is over — then updates the resilience
// state, appending the events.
func (m *Machine) settle(ev []Event, now time.Time) []Event {
	if m.state == FailbackPending && m.linkUp {
		switch m.cfg.Failback {
		case FailbackAutomatic:
			stable := now.Sub(m.linkSince)
			if stable >= m.cfg.FailbackDelay && now.Sub(m.lastHeard) <= m.cfg.SuspectAfter() {
				ev = m.transition(ev, now, Normal, fmt.Sprintf("automatic failback: stable for %v", stable))
			}
		case FailbackGraceful:
			if len(m.guests) == 0 {
				ev = m.transition(ev, now, Normal, "graceful failback: no guest left")
			}
		}
	}
	inFailover := m.state == Failover || m.state == FailbackPending
	if !inFailover {
		m.activated = false
	} else if m.physical > 0 {
		m.activated = true
	}
	r := Inactive
	switch {
	case !m.cfg.BacksUp:
	case m.heldKnown && !m.held && m.state != Normal:
		r = Lost
	case m.activated:
		r = Active
	}
	if r != m.resilience {
		var msg string
		switch {
		case r == Active:
			msg = "physical guest registered"
		case r == Lost:
			msg = "backup records not held (restarted in memory mode)"
		case m.resilience == Lost && m.held:
			msg = "backup records held"
		case m.resilience == Lost:
			msg = "peer normal"
		case m.state == Normal:
			msg = "failback done"
		default:
			msg = "peer " + m.state
		}
		ev = append(ev, Event{Time: now, Kind: KindResilience, Peer: m.peer, From: m.resilience, To: r, Message: msg})
		m.resilience = r
	}
	return ev
}
