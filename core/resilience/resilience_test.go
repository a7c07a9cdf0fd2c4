package resilience

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk/admission"
)

// t0 is the time of New in every scenario.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// input is one call on a machine.
type input struct {
	name string
	do   func(m *Machine, now time.Time) ([]Event, error)
}

func connected() input {
	return input{"Connected", func(m *Machine, now time.Time) ([]Event, error) { return m.Connected(now), nil }}
}
func heard() input {
	return input{"Heard", func(m *Machine, now time.Time) ([]Event, error) { return m.Heard(now), nil }}
}
func tick() input {
	return input{"Tick", func(m *Machine, now time.Time) ([]Event, error) { return m.Tick(now), nil }}
}
func disconnected() input {
	return input{"Disconnected", func(m *Machine, now time.Time) ([]Event, error) { return m.Disconnected(now, "stream reset"), nil }}
}
func incompatible() input {
	return input{"Incompatible", func(m *Machine, now time.Time) ([]Event, error) {
		return m.Incompatible(now, "sip_domain: ours voip.example, theirs other.example"), nil
	}}
}
func failback() input {
	return input{"Failback", func(m *Machine, now time.Time) ([]Event, error) { return m.Failback(now) }}
}
func guestsIdle() input {
	return input{"GuestsIdle", func(m *Machine, now time.Time) ([]Event, error) { return m.GuestsIdle(now), nil }}
}
func guestIn(id string, physical bool) input {
	return input{fmt.Sprintf("GuestRegistered(%s,%v)", id, physical), func(m *Machine, now time.Time) ([]Event, error) {
		return m.GuestRegistered(now, id, physical), nil
	}}
}
func guestOut(id string) input {
	return input{fmt.Sprintf("GuestUnregistered(%s)", id), func(m *Machine, now time.Time) ([]Event, error) {
		return m.GuestUnregistered(now, id), nil
	}}
}
func setHeld(held bool) input {
	return input{fmt.Sprintf("SetHeld(%v)", held), func(m *Machine, now time.Time) ([]Event, error) { return m.SetHeld(now, held), nil }}
}

// step is an input at an offset from t0 and what must hold after it.
type step struct {
	at    time.Duration
	in    input
	state string
	// res is the expected resilience; "" skips the check.
	res     string
	wantErr error
}

// beats returns a Heard step every heartbeat in (from, to], each expected
// to leave the machine in state.
func beats(from, to, every time.Duration, state string) []step {
	var s []step
	for at := from + every; at <= to; at += every {
		s = append(s, step{at: at, in: heard(), state: state})
	}
	return s
}

func seq(parts ...any) []step {
	var s []step
	for _, p := range parts {
		switch p := p.(type) {
		case step:
			s = append(s, p)
		case []step:
			s = append(s, p...)
		default:
			panic(fmt.Sprintf("seq: %T", p))
		}
	}
	return s
}

const ms = time.Millisecond

var (
	backup = Config{BacksUp: true, Heartbeat: 500 * ms, FailoverAfter: 2 * time.Second,
		FailbackDelay: 10 * time.Second, Failback: FailbackAutomatic}
	manual   = withMode(backup, FailbackManual)
	graceful = withMode(backup, FailbackGraceful)
	noBackup = Config{Heartbeat: 500 * ms, FailoverAfter: 2 * time.Second}
)

func withMode(c Config, mode string) Config { c.Failback = mode; return c }

// toFailover links at 0, hears heartbeats until 1s, then loses the peer
// silently: Failover at 3.001s.
func toFailover() []step {
	return seq(
		step{at: 0, in: connected(), state: Normal, res: Inactive},
		beats(0, time.Second, 500*ms, Normal),
		step{at: 3001 * ms, in: tick(), state: Failover, res: Inactive},
	)
}

func TestMachine(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{
			name: "silent loss: suspect after two heartbeats, failover just after failover_after",
			cfg:  backup,
			steps: seq(
				step{at: 0, in: tick(), state: Connecting},
				step{at: 0, in: connected(), state: Normal},
				beats(0, time.Second, 500*ms, Normal),
				step{at: 1900 * ms, in: tick(), state: Normal},
				step{at: 2000 * ms, in: tick(), state: Normal},
				step{at: 2001 * ms, in: tick(), state: Suspect},
				step{at: 2500 * ms, in: tick(), state: Suspect},
				step{at: 3000 * ms, in: tick(), state: Suspect},
				step{at: 3001 * ms, in: tick(), state: Failover},
				step{at: 60 * time.Second, in: tick(), state: Failover},
			),
		},
		{
			name: "suspect heard again is normal",
			cfg:  backup,
			steps: seq(
				step{at: 0, in: connected(), state: Normal},
				step{at: 1500 * ms, in: tick(), state: Suspect},
				step{at: 1600 * ms, in: heard(), state: Normal},
				step{at: 2600 * ms, in: tick(), state: Normal},
				step{at: 3500 * ms, in: tick(), state: Suspect},
				step{at: 3700 * ms, in: tick(), state: Failover},
			),
		},
		{
			name: "reset is not instant failover: silence decides",
			cfg:  backup,
			steps: seq(
				step{at: 0, in: connected(), state: Normal},
				step{at: time.Second, in: heard(), state: Normal},
				step{at: 1100 * ms, in: disconnected(), state: Normal},
				step{at: 1500 * ms, in: tick(), state: Normal},
				step{at: 2100 * ms, in: tick(), state: Suspect},
				step{at: 3000 * ms, in: tick(), state: Suspect},
				step{at: 3001 * ms, in: tick(), state: Failover},
				step{at: 5 * time.Second, in: connected(), state: FailbackPending},
			),
		},
		{
			name: "reset then quick reconnect stays normal",
			cfg:  backup,
			steps: seq(
				step{at: 0, in: connected(), state: Normal},
				step{at: 500 * ms, in: disconnected(), state: Normal},
				step{at: 1200 * ms, in: connected(), state: Normal},
				step{at: 2100 * ms, in: tick(), state: Normal},
			),
		},
		{
			name: "a peer this site does not back up goes connecting, never failover",
			cfg:  noBackup,
			steps: seq(
				step{at: 0, in: connected(), state: Normal, res: Inactive},
				step{at: 1001 * ms, in: tick(), state: Suspect},
				step{at: 2001 * ms, in: tick(), state: Connecting, res: Inactive},
				step{at: time.Minute, in: tick(), state: Connecting},
				step{at: time.Minute, in: connected(), state: Normal},
			),
		},
		{
			name: "an unreachable peer heard again on the same stream is normal",
			cfg:  noBackup,
			steps: seq(
				step{at: 0, in: connected(), state: Normal},
				step{at: 2001 * ms, in: tick(), state: Connecting},
				step{at: 3 * time.Second, in: heard(), state: Normal},
			),
		},
		{
			name: "never heard and nothing held stays connecting",
			cfg:  backup,
			steps: seq(
				step{at: time.Minute, in: tick(), state: Connecting, res: Inactive},
			),
		},
		{
			name: "automatic failback after failback_delay of stability, not before",
			cfg:  backup,
			steps: seq(
				toFailover(),
				step{at: 10 * time.Second, in: connected(), state: FailbackPending},
				beats(10*time.Second, 19500*ms, 500*ms, FailbackPending),
				step{at: 19999 * ms, in: tick(), state: FailbackPending},
				step{at: 20 * time.Second, in: tick(), state: Normal},
			),
		},
		{
			name: "automatic failback needs frames, not just an open link",
			cfg:  backup,
			steps: seq(
				toFailover(),
				step{at: 10 * time.Second, in: connected(), state: FailbackPending},
				step{at: 11 * time.Second, in: tick(), state: FailbackPending},
				step{at: 12 * time.Second, in: tick(), state: FailbackPending},
				step{at: 12001 * ms, in: tick(), state: Failover},
			),
		},
		{
			name: "flapping link during failback pending restarts the delay",
			cfg:  backup,
			steps: seq(
				toFailover(),
				step{at: 10 * time.Second, in: connected(), state: FailbackPending},
				beats(10*time.Second, 15*time.Second, 500*ms, FailbackPending),
				step{at: 15100 * ms, in: disconnected(), state: FailbackPending},
				step{at: 15500 * ms, in: connected(), state: FailbackPending},
				beats(15500*ms, 25*time.Second, 500*ms, FailbackPending),
				step{at: 25400 * ms, in: tick(), state: FailbackPending},
				step{at: 25500 * ms, in: heard(), state: Normal},
			),
		},
		{
			name: "a gap in frames during failback pending restarts the delay",
			cfg:  backup,
			steps: seq(
				toFailover(),
				step{at: 10 * time.Second, in: connected(), state: FailbackPending},
				beats(10*time.Second, 15*time.Second, 500*ms, FailbackPending),
				// 1.5 s of silence: over SuspectAfter, under FailoverAfter.
				step{at: 16500 * ms, in: heard(), state: FailbackPending},
				beats(16500*ms, 26*time.Second, 500*ms, FailbackPending),
				step{at: 26500 * ms, in: heard(), state: Normal},
			),
		},
		{
			name: "link lost during failback pending goes back to failover",
			cfg:  backup,
			steps: seq(
				toFailover(),
				step{at: 10 * time.Second, in: connected(), state: FailbackPending},
				step{at: 11 * time.Second, in: disconnected(), state: FailbackPending},
				step{at: 12 * time.Second, in: tick(), state: FailbackPending},
				step{at: 12001 * ms, in: tick(), state: Failover},
				step{at: 30 * time.Second, in: connected(), state: FailbackPending},
			),
		},
		{
			name: "silent loss healed on the same stream starts failback",
			cfg:  backup,
			steps: seq(
				toFailover(),
				step{at: 5 * time.Second, in: heard(), state: FailbackPending},
				beats(5*time.Second, 14500*ms, 500*ms, FailbackPending),
				step{at: 15 * time.Second, in: heard(), state: Normal},
			),
		},
		{
			name: "frames after a disconnect do not end failover",
			cfg:  backup,
			steps: seq(
				toFailover(),
				step{at: 4 * time.Second, in: disconnected(), state: Failover},
				step{at: 5 * time.Second, in: heard(), state: Failover},
			),
		},
		{
			name: "manual failback requires the operator",
			cfg:  manual,
			steps: seq(
				toFailover(),
				step{at: 10 * time.Second, in: connected(), state: FailbackPending},
				beats(10*time.Second, 100*time.Second, 500*ms, FailbackPending),
				step{at: 100 * time.Second, in: tick(), state: FailbackPending},
				step{at: 100 * time.Second, in: guestsIdle(), state: FailbackPending},
				step{at: 101 * time.Second, in: failback(), state: Normal},
				step{at: 102 * time.Second, in: failback(), state: Normal, wantErr: ErrNotFailbackPending},
			),
		},
		{
			name: "graceful failback completes on GuestsIdle",
			cfg:  graceful,
			steps: seq(
				toFailover(),
				step{at: 4 * time.Second, in: guestIn("301", true), state: Failover, res: Active},
				step{at: 4 * time.Second, in: guestIn("302", true), state: Failover, res: Active},
				step{at: 10 * time.Second, in: connected(), state: FailbackPending, res: Active},
				step{at: 11 * time.Second, in: guestOut("301"), state: FailbackPending, res: Active},
				beats(11*time.Second, 30*time.Second, 500*ms, FailbackPending),
				step{at: 30 * time.Second, in: guestsIdle(), state: Normal, res: Inactive},
			),
		},
		{
			name: "graceful failback completes when the last guest leaves",
			cfg:  graceful,
			steps: seq(
				toFailover(),
				step{at: 4 * time.Second, in: guestIn("301", true), state: Failover, res: Active},
				step{at: 10 * time.Second, in: connected(), state: FailbackPending},
				step{at: 12 * time.Second, in: guestOut("301"), state: Normal, res: Inactive},
			),
		},
		{
			name: "graceful failback without guests is immediate",
			cfg:  graceful,
			steps: seq(
				toFailover(),
				step{at: 10 * time.Second, in: connected(), state: Normal},
			),
		},
		{
			name: "GuestsIdle outside graceful failback changes nothing",
			cfg:  backup,
			steps: seq(
				toFailover(),
				step{at: 10 * time.Second, in: connected(), state: FailbackPending},
				step{at: 11 * time.Second, in: guestsIdle(), state: FailbackPending},
			),
		},
		{
			name: "physical guest activates resilience until failback",
			cfg:  manual,
			steps: seq(
				toFailover(),
				step{at: 4 * time.Second, in: guestIn("202", false), state: Failover, res: Inactive},
				step{at: 5 * time.Second, in: guestIn("201", true), state: Failover, res: Active},
				step{at: 6 * time.Second, in: guestOut("201"), state: Failover, res: Active},
				step{at: 6 * time.Second, in: guestOut("202"), state: Failover, res: Active},
				step{at: 10 * time.Second, in: connected(), state: FailbackPending, res: Active},
				step{at: 11 * time.Second, in: failback(), state: Normal, res: Inactive},
			),
		},
		{
			name: "softphones alone never activate resilience",
			cfg:  backup,
			steps: seq(
				toFailover(),
				step{at: 4 * time.Second, in: guestIn("201-soft", false), state: Failover, res: Inactive},
				step{at: 5 * time.Second, in: guestIn("202", false), state: Failover, res: Inactive},
				step{at: 5 * time.Second, in: guestIn("202", false), state: Failover, res: Inactive},
			),
		},
		{
			name: "a guest re-registering as softphone keeps no physical count",
			cfg:  backup,
			steps: seq(
				step{at: 0, in: connected(), state: Normal},
				step{at: 100 * ms, in: guestIn("201", true), state: Normal, res: Inactive},
				step{at: 200 * ms, in: guestIn("201", false), state: Normal, res: Inactive},
				beats(200*ms, 1*time.Second, 500*ms, Normal),
				step{at: 3001 * ms, in: tick(), state: Failover, res: Inactive},
			),
		},
		{
			name: "physical guest admitted before failover activates at failover",
			cfg:  backup,
			steps: seq(
				step{at: 0, in: connected(), state: Normal},
				// a live home whose SIP plugin is dead: guests while Normal.
				step{at: 100 * ms, in: guestIn("201", true), state: Normal, res: Inactive},
				step{at: 2001 * ms, in: tick(), state: Failover, res: Active},
			),
		},
		{
			name: "non-backup peer never shows resilience",
			cfg:  noBackup,
			steps: seq(
				step{at: 0, in: setHeld(false), state: Connecting, res: Inactive},
				step{at: 100 * ms, in: guestIn("201", true), state: Connecting, res: Inactive},
			),
		},
		{
			name: "memory-mode restart: lost until the home is back",
			cfg:  backup,
			steps: seq(
				step{at: 0, in: setHeld(false), state: Connecting, res: Lost},
				step{at: time.Minute, in: tick(), state: Connecting, res: Lost},
				step{at: time.Minute, in: guestIn("201", true), state: Connecting, res: Lost},
				step{at: 2 * time.Minute, in: connected(), state: Normal, res: Inactive},
				step{at: 2 * time.Minute, in: guestOut("201"), state: Normal, res: Inactive},
				step{at: 3 * time.Minute, in: setHeld(true), state: Normal, res: Inactive},
				step{at: 3*time.Minute + 2001*ms, in: tick(), state: Failover, res: Inactive},
				step{at: 4 * time.Minute, in: guestIn("201", true), state: Failover, res: Active},
			),
		},
		{
			name: "home lost again before resync: failover without resilience",
			cfg:  backup,
			steps: seq(
				step{at: 0, in: setHeld(false), state: Connecting, res: Lost},
				step{at: time.Second, in: connected(), state: Normal, res: Inactive},
				step{at: 3001 * ms, in: tick(), state: Failover, res: Lost},
				step{at: 4 * time.Second, in: guestIn("201", true), state: Failover, res: Lost},
				step{at: 5 * time.Second, in: setHeld(true), state: Failover, res: Active},
			),
		},
		{
			name: "durable restart: a home that never came back fails over",
			cfg:  backup,
			steps: seq(
				step{at: 0, in: setHeld(true), state: Connecting, res: Inactive},
				step{at: 2 * time.Second, in: tick(), state: Connecting},
				step{at: 2001 * ms, in: tick(), state: Failover},
				step{at: 3 * time.Second, in: guestIn("201", true), state: Failover, res: Active},
				step{at: 10 * time.Second, in: connected(), state: FailbackPending, res: Active},
			),
		},
		{
			name: "failback errors",
			cfg:  manual,
			steps: seq(
				step{at: 0, in: failback(), state: Connecting, wantErr: ErrNotFailbackPending},
				step{at: 0, in: connected(), state: Normal},
				step{at: 100 * ms, in: failback(), state: Normal, wantErr: ErrNotFailbackPending},
				step{at: 1500 * ms, in: tick(), state: Suspect},
				step{at: 1500 * ms, in: failback(), state: Suspect, wantErr: ErrNotFailbackPending},
				step{at: 2001 * ms, in: tick(), state: Failover},
				step{at: 2001 * ms, in: failback(), state: Failover, wantErr: ErrPeerDown},
				step{at: 3 * time.Second, in: incompatible(), state: Incompatible},
				step{at: 3 * time.Second, in: failback(), state: Incompatible, wantErr: ErrNotFailbackPending},
			),
		},
		{
			name: "incompatible peer never fails over",
			cfg:  backup,
			steps: seq(
				step{at: 0, in: incompatible(), state: Incompatible},
				step{at: time.Minute, in: tick(), state: Incompatible},
				step{at: time.Minute, in: connected(), state: Normal},
			),
		},
		{
			name: "incompatible during failover ends it",
			cfg:  backup,
			steps: seq(
				toFailover(),
				step{at: 4 * time.Second, in: guestIn("201", true), state: Failover, res: Active},
				step{at: 5 * time.Second, in: incompatible(), state: Incompatible, res: Inactive},
				step{at: time.Minute, in: tick(), state: Incompatible},
			),
		},
		{
			name: "zero failback delay fails back at once",
			cfg:  Config{BacksUp: true, Heartbeat: 500 * ms, FailoverAfter: 2 * time.Second},
			steps: seq(
				toFailover(),
				step{at: 10 * time.Second, in: connected(), state: Normal},
			),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New("paris", tt.cfg, t0)
			if m.State() != Connecting || m.Resilience() != Inactive || !m.Since().Equal(t0) {
				t.Fatalf("New: state %s resilience %s since %v", m.State(), m.Resilience(), m.Since())
			}
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				before := m.Status()
				ev, err := s.in.do(m, now)
				where := fmt.Sprintf("step %d (%s at %v)", i, s.in.name, s.at)
				if s.wantErr != nil {
					if !errors.Is(err, s.wantErr) {
						t.Fatalf("%s: err = %v, want %v", where, err, s.wantErr)
					}
				} else if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				checkEvents(t, where, before, m.Status(), ev, now)
				if got := m.State(); got != s.state {
					t.Fatalf("%s: state %s, want %s (events %+v)", where, got, s.state, ev)
				}
				if s.res != "" && m.Resilience() != s.res {
					t.Fatalf("%s: resilience %s, want %s (events %+v)", where, m.Resilience(), s.res, ev)
				}
			}
		})
	}
}

// checkEvents checks that the events of one input describe exactly the
// transitions it made: each stamped now, chained From → To from the state
// before to the state after, one per transition.
func checkEvents(t *testing.T, where string, before, after Status, ev []Event, now time.Time) {
	t.Helper()
	state, res := before.State, before.Resilience
	for _, e := range ev {
		if !e.Time.Equal(now) || e.Peer != "paris" || e.Message == "" || e.From == e.To {
			t.Fatalf("%s: bad event %+v", where, e)
		}
		switch e.Kind {
		case KindPeerState, KindFailback:
			if e.From != state {
				t.Fatalf("%s: event %+v from %s, state was %s", where, e, e.From, state)
			}
			if (e.Kind == KindFailback) != (e.From == FailbackPending && e.To == Normal) {
				t.Fatalf("%s: event %+v has the wrong kind", where, e)
			}
			state = e.To
		case KindResilience:
			if e.From != res {
				t.Fatalf("%s: event %+v from %s, resilience was %s", where, e, e.From, res)
			}
			res = e.To
		default:
			t.Fatalf("%s: event %+v of unknown kind", where, e)
		}
	}
	if state != after.State || res != after.Resilience {
		t.Fatalf("%s: events end at %s/%s, machine at %s/%s: %+v", where, state, res, after.State, after.Resilience, ev)
	}
	if state != before.State && !after.Since.Equal(now) {
		t.Fatalf("%s: Since %v after a transition at %v", where, after.Since, now)
	}
}

func TestMachineAccessors(t *testing.T) {
	m := New("paris", backup, t0)
	if !m.LastHeard().IsZero() || m.LinkUp() || m.Peer() != "paris" {
		t.Fatalf("fresh machine: %+v", m.Status())
	}
	m.Connected(t0.Add(time.Second))
	m.GuestRegistered(t0.Add(time.Second), "201", true)
	m.GuestRegistered(t0.Add(time.Second), "202", false)
	m.GuestRegistered(t0.Add(time.Second), "203", true)
	m.GuestUnregistered(t0.Add(time.Second), "203")
	m.GuestUnregistered(t0.Add(time.Second), "nobody")
	m.Disconnected(t0.Add(2*time.Second), "EOF")
	st := m.Status()
	tests := []struct {
		name string
		got  any
		want any
	}{
		{name: "last heard", got: m.LastHeard(), want: t0.Add(time.Second)},
		{name: "since", got: m.Since(), want: t0.Add(time.Second)},
		{name: "link", got: m.LinkUp(), want: false},
		{name: "guests", got: m.Guests(), want: 2},
		{name: "physical guests", got: m.PhysicalGuests(), want: 1},
		{name: "message", got: m.Message(), want: "EOF"},
		{name: "status guests", got: st.Guests, want: 2},
		{name: "status state", got: st.State, want: Normal},
		{name: "config defaults", got: m.Config().Failback, want: FailbackAutomatic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	m.Connected(t0.Add(3 * time.Second))
	if m.Message() != "" {
		t.Fatalf("Message after Connected = %q", m.Message())
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		suspect time.Duration
		wantErr bool
	}{
		{name: "two heartbeats", cfg: Config{Heartbeat: 500 * ms, FailoverAfter: 2 * time.Second}, suspect: time.Second},
		{name: "defaults", cfg: Config{}, suspect: time.Second},
		{name: "clamped below failover_after", cfg: Config{Heartbeat: time.Second, FailoverAfter: 1500 * ms}, suspect: 750 * ms},
		{name: "failover_after not over heartbeat", cfg: Config{Heartbeat: time.Second, FailoverAfter: time.Second}, suspect: 500 * ms, wantErr: true},
		{name: "negative heartbeat", cfg: Config{Heartbeat: -1}, suspect: time.Second, wantErr: true},
		{name: "negative failover_after", cfg: Config{FailoverAfter: -1}, suspect: time.Second, wantErr: true},
		{name: "negative failback_delay", cfg: Config{FailbackDelay: -1}, suspect: time.Second, wantErr: true},
		{name: "bad failback mode", cfg: Config{Failback: "eventually"}, suspect: time.Second, wantErr: true},
		{name: "graceful", cfg: Config{Failback: FailbackGraceful}, suspect: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.SuspectAfter(); got != tt.suspect {
				t.Errorf("SuspectAfter = %v, want %v", got, tt.suspect)
			}
			err := tt.cfg.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadConfig) {
				t.Fatalf("Validate = %v, not ErrBadConfig", err)
			}
		})
	}
}

// TestStateNamesMatchAdmission keeps the two packages' contract names equal:
// the core streams these states to the plugins' admission tables.
func TestStateNamesMatchAdmission(t *testing.T) {
	tests := []struct {
		name       string
		ours, sdks string
	}{
		{name: "connecting", ours: Connecting, sdks: admission.StateConnecting},
		{name: "normal", ours: Normal, sdks: admission.StateNormal},
		{name: "suspect", ours: Suspect, sdks: admission.StateSuspect},
		{name: "failover", ours: Failover, sdks: admission.StateFailover},
		{name: "failback_pending", ours: FailbackPending, sdks: admission.StateFailbackPending},
		{name: "incompatible", ours: Incompatible, sdks: admission.StateIncompatible},
		{name: "automatic", ours: FailbackAutomatic, sdks: admission.FailbackAutomatic},
		{name: "graceful", ours: FailbackGraceful, sdks: admission.FailbackGraceful},
		{name: "manual", ours: FailbackManual, sdks: admission.FailbackManual},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ours != tt.name || tt.sdks != tt.name {
				t.Fatalf("resilience %q, admission %q, want %q", tt.ours, tt.sdks, tt.name)
			}
		})
	}
}
