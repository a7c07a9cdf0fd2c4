package admission

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

func newTestTable(t testing.TB) *Table {
	t.Helper()
	tb := NewTable("london")
	tb.SetLicenses(2)
	for _, p := range []PhoneEntry{
		{ID: "201", User: "201", Home: "london", Kind: desk, Protocol: sip},
		{ID: "202", User: "202", Home: "london", Kind: soft, Protocol: sip},
		{ID: "203", User: "203", Home: "london", Kind: desk, Protocol: h323},
		{ID: "301", User: "301", Home: "paris", Kind: desk, Protocol: sip},
		{ID: "401", User: "401", Home: "rome", Kind: desk, Protocol: sip},
	} {
		if err := tb.PutPhone(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.SetPeer(PeerView{Site: "paris", BackedUp: true, State: StateNormal, Failback: FailbackAutomatic}); err != nil {
		t.Fatal(err)
	}
	if err := tb.SetPeer(PeerView{Site: "rome", BackedUp: false, State: StateFailover}); err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestTableDecide(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, tb *Table)
		phone string
		proto federationv1.Protocol
		busy  bool
		want  Decision
	}{
		{name: "own phone", phone: "201", proto: sip, want: Decision{Outcome: Home, Home: "london"}},
		{name: "unknown phone", phone: "999", proto: sip, want: Decision{Outcome: Refuse, Reason: Unknown}},
		{name: "peer alive", phone: "301", proto: sip, want: Decision{Outcome: Refuse, Reason: HomedAtLivePeer, Home: "paris"}},
		{name: "peer not backed up", phone: "401", proto: sip, want: Decision{Outcome: Refuse, Reason: NotBackedUp, Home: "rome"}},
		{
			name: "peer in failover",
			setup: func(t *testing.T, tb *Table) {
				mustNil(t, tb.SetPeer(PeerView{Site: "paris", BackedUp: true, State: StateFailover}))
			},
			phone: "301", proto: sip, want: Decision{Outcome: Guest, Home: "paris"},
		},
		{
			name: "peer removed",
			setup: func(t *testing.T, tb *Table) {
				mustNil(t, tb.SetPeer(PeerView{Site: "paris", BackedUp: true, State: StateFailover}))
				tb.RemovePeer("paris")
			},
			phone: "301", proto: sip, want: Decision{Outcome: Refuse, Reason: NotBackedUp, Home: "paris"},
		},
		{
			name: "peer sip plugin dead",
			setup: func(t *testing.T, tb *Table) {
				mustNil(t, tb.SetPeer(PeerView{Site: "paris", BackedUp: true, State: StateNormal,
					ProtocolDown: map[federationv1.Protocol]bool{sip: true}}))
			},
			phone: "301", proto: sip, want: Decision{Outcome: Guest, Home: "paris"},
		},
		{
			name: "licences exhausted",
			setup: func(t *testing.T, tb *Table) {
				mustNil(t, tb.Registered("202", Home))
				mustNil(t, tb.Registered("203", Home))
			},
			phone: "201", proto: sip, want: Decision{Outcome: Refuse, Reason: OverCapacity, Home: "london"},
		},
		{
			name: "refresh of a licensed phone when licences are exhausted",
			setup: func(t *testing.T, tb *Table) {
				mustNil(t, tb.Registered("201", Home))
				mustNil(t, tb.Registered("203", Home))
			},
			phone: "201", proto: sip, want: Decision{Outcome: Home, Home: "london"},
		},
		{
			name: "guests leave licences free",
			setup: func(t *testing.T, tb *Table) {
				tb.SetLicenses(1)
				mustNil(t, tb.SetPeer(PeerView{Site: "paris", BackedUp: true, State: StateFailover}))
				mustNil(t, tb.Registered("301", Guest))
			},
			phone: "201", proto: sip, want: Decision{Outcome: Home, Home: "london"},
		},
		{
			name:  "no licences at all",
			setup: func(t *testing.T, tb *Table) { tb.SetLicenses(0) },
			phone: "201", proto: sip, want: Decision{Outcome: Refuse, Reason: OverCapacity, Home: "london"},
		},
		{
			name:  "removed phone is unknown",
			setup: func(t *testing.T, tb *Table) { tb.RemovePhone("201") },
			phone: "201", proto: sip, want: Decision{Outcome: Refuse, Reason: Unknown},
		},
		{
			name: "graceful failback sends idle guest home",
			setup: func(t *testing.T, tb *Table) {
				mustNil(t, tb.SetPeer(PeerView{Site: "paris", BackedUp: true, State: StateFailbackPending, Failback: FailbackGraceful}))
			},
			phone: "301", proto: sip, want: Decision{Outcome: Refuse, Reason: HomedAtLivePeer, Home: "paris"},
		},
		{
			name: "graceful failback keeps busy guest",
			setup: func(t *testing.T, tb *Table) {
				mustNil(t, tb.SetPeer(PeerView{Site: "paris", BackedUp: true, State: StateFailbackPending, Failback: FailbackGraceful}))
			},
			phone: "301", proto: sip, busy: true, want: Decision{Outcome: Guest, Home: "paris"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTestTable(t)
			if tt.setup != nil {
				tt.setup(t, tb)
			}
			if got := tb.Decide(tt.phone, tt.proto, tt.busy); got != tt.want {
				t.Fatalf("Decide = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTableLicences(t *testing.T) {
	type step struct {
		register   string // phone id to register, "" for none
		as         Outcome
		unregister string
		wantErr    error
		licensed   int
		guests     int
	}
	tests := []struct {
		name     string
		licences int
		steps    []step
	}{
		{
			name: "home registrations take licences, guests none", licences: 2,
			steps: []step{
				{register: "201", as: Home, licensed: 1},
				{register: "301", as: Guest, licensed: 1, guests: 1},
				{register: "202", as: Home, licensed: 2, guests: 1},
				{register: "302", as: Guest, licensed: 2, guests: 2},
			},
		},
		{
			name: "refresh takes no second licence", licences: 2,
			steps: []step{
				{register: "201", as: Home, licensed: 1},
				{register: "201", as: Home, licensed: 1},
				{register: "301", as: Guest, guests: 1, licensed: 1},
				{register: "301", as: Guest, guests: 1, licensed: 1},
			},
		},
		{
			name: "over capacity is refused and changes nothing", licences: 1,
			steps: []step{
				{register: "201", as: Home, licensed: 1},
				{register: "202", as: Home, wantErr: ErrOverCapacity, licensed: 1},
				{unregister: "201"},
				{register: "202", as: Home, licensed: 1},
			},
		},
		{
			name: "unregister releases", licences: 2,
			steps: []step{
				{register: "201", as: Home, licensed: 1},
				{register: "301", as: Guest, licensed: 1, guests: 1},
				{unregister: "201", guests: 1},
				{unregister: "301"},
				{unregister: "301"},
				{unregister: "nobody"},
			},
		},
		{
			name: "moving between home and guest", licences: 1,
			steps: []step{
				{register: "201", as: Guest, guests: 1},
				{register: "201", as: Home, licensed: 1},
				{register: "201", as: Guest, guests: 1},
			},
		},
		{
			name: "refuse is not a registration", licences: 1,
			steps: []step{
				{register: "201", as: Refuse, wantErr: ErrBadOutcome},
			},
		},
		{
			name: "zero licences refuse home registrations", licences: 0,
			steps: []step{
				{register: "201", as: Home, wantErr: ErrOverCapacity},
				{register: "301", as: Guest, guests: 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := NewTable("london")
			tb.SetLicenses(tt.licences)
			for i, s := range tt.steps {
				if s.register != "" {
					err := tb.Registered(s.register, s.as)
					if !errors.Is(err, s.wantErr) || (err != nil) != (s.wantErr != nil) {
						t.Fatalf("step %d: Registered(%q, %v) = %v, want %v", i, s.register, s.as, err, s.wantErr)
					}
				}
				if s.unregister != "" {
					tb.Unregistered(s.unregister)
				}
				if l, g := tb.Counts(); l != s.licensed || g != s.guests {
					t.Fatalf("step %d: Counts = %d, %d; want %d, %d", i, l, g, s.licensed, s.guests)
				}
			}
		})
	}
}

func TestTableResetHome(t *testing.T) {
	tests := []struct {
		name    string
		home    string
		entries []PhoneEntry
		wantErr error
		want    map[string]bool // phone id → present afterwards
	}{
		{
			name:    "replaces the home's phones only",
			home:    "paris",
			entries: []PhoneEntry{{ID: "302", Home: "paris"}, {ID: "303"}},
			want:    map[string]bool{"301": false, "302": true, "303": true, "201": true, "401": true},
		},
		{
			name: "empty snapshot clears the home",
			home: "paris",
			want: map[string]bool{"301": false, "201": true},
		},
		{
			name:    "entry of another home is refused",
			home:    "paris",
			entries: []PhoneEntry{{ID: "302", Home: "paris"}, {ID: "501", Home: "oslo"}},
			wantErr: ErrHomeMismatch,
			want:    map[string]bool{"301": true, "302": false, "501": false},
		},
		{
			name:    "entry without id is refused",
			home:    "paris",
			entries: []PhoneEntry{{Home: "paris"}},
			wantErr: ErrEmptyID,
			want:    map[string]bool{"301": true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTestTable(t)
			err := tb.ResetHome(tt.home, tt.entries)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("ResetHome = %v, want %v", err, tt.wantErr)
			}
			for id, present := range tt.want {
				p, ok := tb.Phone(id)
				if ok != present {
					t.Errorf("Phone(%q) present = %v, want %v", id, ok, present)
				}
				if ok && tt.wantErr == nil && id[0] == '3' && p.Home != tt.home {
					t.Errorf("Phone(%q).Home = %q, want %q", id, p.Home, tt.home)
				}
			}
		})
	}
}

func TestTablePhoneMovesHome(t *testing.T) {
	tb := newTestTable(t)
	// 301 moves from paris to rome: a later reset of paris must not drop it.
	mustNil(t, tb.PutPhone(PhoneEntry{ID: "301", Home: "rome", Protocol: sip}))
	mustNil(t, tb.ResetHome("paris", nil))
	p, ok := tb.Phone("301")
	if !ok || p.Home != "rome" {
		t.Fatalf("Phone(301) = %+v, %v; want home rome", p, ok)
	}
	mustNil(t, tb.ResetHome("rome", nil))
	if _, ok := tb.Phone("301"); ok {
		t.Fatal("Phone(301) survived the reset of its home")
	}
}

func TestTableValidation(t *testing.T) {
	tests := []struct {
		name string
		call func(tb *Table) error
		want error
	}{
		{name: "put phone without id", call: func(tb *Table) error { return tb.PutPhone(PhoneEntry{Home: "london"}) }, want: ErrEmptyID},
		{name: "set peer without site", call: func(tb *Table) error { return tb.SetPeer(PeerView{State: StateFailover}) }, want: ErrEmptySite},
		{name: "register without id", call: func(tb *Table) error { return tb.Registered("", Home) }, want: ErrEmptyID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(NewTable("london")); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestTableSetPeerCopies(t *testing.T) {
	tb := newTestTable(t)
	down := map[federationv1.Protocol]bool{sip: true}
	mustNil(t, tb.SetPeer(PeerView{Site: "paris", BackedUp: true, State: StateNormal, ProtocolDown: down}))
	down[sip] = false // the caller reuses its map: the table must not see it
	if d := tb.Decide("301", sip, false); d.Outcome != Guest {
		t.Fatalf("Decide = %+v after the caller changed its map, want guest", d)
	}
	v, ok := tb.Peer("paris")
	if !ok || !v.ProtocolDown[sip] {
		t.Fatalf("Peer = %+v, %v", v, ok)
	}
	v.ProtocolDown[sip] = false // nor may a reader change the table
	if d := tb.Decide("301", sip, false); d.Outcome != Guest {
		t.Fatalf("Decide = %+v after a reader changed its copy, want guest", d)
	}
	if _, ok := tb.Peer("oslo"); ok {
		t.Fatal("Peer(oslo) found")
	}
}

// TestTableConcurrent exercises the locks; run with -race.
func TestTableConcurrent(t *testing.T) {
	tb := newTestTable(t)
	tb.SetLicenses(1000)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				id := fmt.Sprintf("p%d-%d", g, i%20)
				switch i % 5 {
				case 0:
					_ = tb.PutPhone(PhoneEntry{ID: id, Home: "london", Protocol: sip})
				case 1:
					if d := tb.Decide(id, sip, false); d.Outcome == Home {
						_ = tb.Registered(id, Home)
					}
				case 2:
					_ = tb.SetPeer(PeerView{Site: "paris", BackedUp: true, State: StateFailover,
						ProtocolDown: map[federationv1.Protocol]bool{sip: i%2 == 0}})
				case 3:
					tb.Decide("301", sip, false)
					tb.Counts()
				case 4:
					tb.Unregistered(id)
				}
			}
		})
	}
	wg.Wait()
	licensed, _ := tb.Counts()
	if licensed < 0 || licensed > 1000 {
		t.Fatalf("licensed = %d", licensed)
	}
}

func BenchmarkTableDecide(b *testing.B) {
	const n = 100_000
	tb := NewTable("london")
	tb.SetLicenses(n)
	ids := make([]string, n)
	for i := range ids {
		home := "london"
		if i%2 == 1 {
			home = "paris"
		}
		ids[i] = fmt.Sprintf("phone-%06d", i)
		if err := tb.PutPhone(PhoneEntry{ID: ids[i], User: ids[i], Home: home, Kind: desk, Protocol: sip}); err != nil {
			b.Fatal(err)
		}
	}
	if err := tb.SetPeer(PeerView{Site: "paris", BackedUp: true, State: StateFailover}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if d := tb.Decide(ids[i%n], sip, false); !d.Admitted() {
				b.Errorf("Decide(%s) = %+v", ids[i%n], d)
				return
			}
			i += 7919 // a prime stride: spread the look-ups
		}
	})
}

func TestTablePeersAreCopies(t *testing.T) {
	tb := NewTable("london")
	eps := []string{"sip:udp://127.0.0.2:5060"}
	down := map[federationv1.Protocol]bool{federationv1.Protocol_PROTOCOL_SIP: true}
	if err := tb.SetPeer(PeerView{Site: "paris", State: StateNormal, Endpoints: eps, ProtocolDown: down}); err != nil {
		t.Fatal(err)
	}
	if err := tb.SetPeer(PeerView{Site: "rome", State: StateFailover}); err != nil {
		t.Fatal(err)
	}
	eps[0] = "changed by the caller"
	down[federationv1.Protocol_PROTOCOL_H323] = true
	peers := tb.Peers()
	if len(peers) != 2 {
		t.Fatalf("%d peers, want 2", len(peers))
	}
	for _, p := range peers {
		if p.Site == "paris" {
			if p.Endpoints[0] != "sip:udp://127.0.0.2:5060" || len(p.ProtocolDown) != 1 {
				t.Fatalf("the table shares the caller's slices: %+v", p)
			}
			p.Endpoints[0] = "changed by a reader"
		}
	}
	if p, _ := tb.Peer("paris"); p.Endpoints[0] != "sip:udp://127.0.0.2:5060" {
		t.Fatalf("a reader changed the table: %+v", p)
	}
}

func TestTablePeers(t *testing.T) {
	tb := NewTable("london")
	if got := tb.Peers(); len(got) != 0 {
		t.Fatalf("empty table lists %v", got)
	}
	mustNil(t, tb.SetPeer(PeerView{Site: "paris", BacksUpSelf: true, Endpoints: []string{"h323:udp://127.0.0.2:1719"},
		ProtocolDown: map[federationv1.Protocol]bool{federationv1.Protocol_PROTOCOL_SIP: true}}))
	mustNil(t, tb.SetPeer(PeerView{Site: "rome"}))
	got := tb.Peers()
	if len(got) != 2 {
		t.Fatalf("Peers() = %v, want paris and rome", got)
	}
	for _, p := range got {
		if p.Site == "paris" {
			if !p.BacksUpSelf || len(p.Endpoints) != 1 || !p.ProtocolDown[federationv1.Protocol_PROTOCOL_SIP] {
				t.Errorf("paris = %+v", p)
			}
			p.ProtocolDown[federationv1.Protocol_PROTOCOL_H323] = true // a copy: the table is unchanged
		}
	}
	if v, _ := tb.Peer("paris"); v.ProtocolDown[federationv1.Protocol_PROTOCOL_H323] {
		t.Error("Peers() returned the table's own map")
	}
	tb.RemovePeer("rome")
	if got := tb.Peers(); len(got) != 1 || got[0].Site != "paris" {
		t.Fatalf("after RemovePeer: %v", got)
	}
}

// TestTablePhonesServing: the extension index follows puts, hot desking,
// removals and home resets.
func TestTablePhonesServing(t *testing.T) {
	tb := newTestTable(t)
	ids := func(user string) string {
		var out []string
		for _, p := range tb.PhonesServing(nil, user) {
			out = append(out, p.ID)
		}
		slices.Sort(out)
		return strings.Join(out, ",")
	}
	steps := []struct {
		name string
		do   func()
		user string
		want string
	}{
		{"base user", func() {}, "201", "201"},
		{"phone of another home", func() {}, "301", "301"},
		{"unknown extension", func() {}, "999", ""},
		{"empty extension", func() {}, "", ""},
		{"second phone of 201", func() { mustPut(t, tb, PhoneEntry{ID: "201b", User: "201", Home: "london"}) }, "201", "201,201b"},
		{"hot desk 205 on 202", func() { mustPut(t, tb, PhoneEntry{ID: "202", User: "202", Home: "london", HotDeskUser: "205"}) }, "205", "202"},
		{"202 no longer serves its base user", func() {}, "202", ""},
		{"hot desk ends", func() { mustPut(t, tb, PhoneEntry{ID: "202", User: "202", Home: "london"}) }, "205", ""},
		{"back to the base user", func() {}, "202", "202"},
		{"removed", func() { tb.RemovePhone("201b") }, "201", "201"},
		{"reset paris", func() { _ = tb.ResetHome("paris", []PhoneEntry{{ID: "302", User: "302"}}) }, "301", ""},
		{"reset paris adds", func() {}, "302", "302"},
	}
	for _, s := range steps {
		s.do()
		if got := ids(s.user); got != s.want {
			t.Fatalf("%s: PhonesServing(%q) = %q, want %q", s.name, s.user, got, s.want)
		}
	}
}

func mustPut(t *testing.T, tb *Table, p PhoneEntry) {
	t.Helper()
	if err := tb.PutPhone(p); err != nil {
		t.Fatal(err)
	}
}

func TestTablePeerAt(t *testing.T) {
	tb := newTestTable(t)
	if err := tb.SetPeer(PeerView{Site: "paris", BackedUp: true, State: StateNormal,
		Endpoints: []string{"h323:udp://127.0.0.2:1719", "sip:udp://127.0.0.2:5060", "sip:tcp://127.0.0.2:5061"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		proto, addr, want string
	}{
		{"sip", "127.0.0.2:5060", "paris"},
		{"sip", "127.0.0.2:5061", "paris"},
		{"sip", "127.0.0.2:1719", ""},
		{"h323", "127.0.0.2:1719", "paris"},
		{"sip", "127.0.0.3:5060", ""},
		{"sip", "", ""},
	}
	for _, tt := range tests {
		v, ok := tb.PeerAt(tt.proto, tt.addr)
		if got := v.Site; got != tt.want || ok != (tt.want != "") {
			t.Errorf("PeerAt(%s, %s) = %q, %v; want %q", tt.proto, tt.addr, got, ok, tt.want)
		}
	}
}

func TestTableBackupPeer(t *testing.T) {
	tb := newTestTable(t)
	if _, ok := tb.BackupPeer(); ok {
		t.Fatal("a backup without any peer backing this site up")
	}
	if err := tb.SetPeer(PeerView{Site: "paris", BackedUp: true, State: StateNormal, BacksUpSelf: true}); err != nil {
		t.Fatal(err)
	}
	if v, ok := tb.BackupPeer(); !ok || v.Site != "paris" {
		t.Fatalf("BackupPeer = %q, %v; want paris", v.Site, ok)
	}
}
