package backupstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rallyvoip/rally/core/directory"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

const home = "paris"

type impl struct {
	name string
	open func(t testing.TB) Store
}

func impls() []impl {
	return []impl{
		{name: ModeMemory, open: func(t testing.TB) Store {
			s := NewMemory()
			t.Cleanup(func() { s.Close() })
			return s
		}},
		{name: ModeDurable, open: func(t testing.TB) Store {
			s, err := OpenDurable(filepath.Join(t.TempDir(), "sub", "backups.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
	}
}

// user is a live user record of homeSite at rev named name.
func user(homeSite, ext string, rev uint64, name string) *federationv1.Record {
	return &federationv1.Record{
		Key: directory.Key(directory.KindUser, ext), Revision: rev, HomeSite: homeSite,
		Body: &federationv1.Record_User{User: &federationv1.User{Extension: ext, Name: name}},
	}
}

func phone(homeSite, id string, rev uint64) *federationv1.Record {
	return &federationv1.Record{
		Key: directory.Key(directory.KindPhone, id), Revision: rev, HomeSite: homeSite,
		Body: &federationv1.Record_Phone{Phone: &federationv1.Phone{
			Id: id, User: id, Kind: federationv1.PhoneKind_PHONE_KIND_DESK, Protocol: federationv1.Protocol_PROTOCOL_SIP,
			Ha1Md5: directory.HA1MD5(id, "voip.example", "pw"), Ha1Sha256: directory.HA1SHA256(id, "voip.example", "pw"),
		}},
	}
}

func tomb(homeSite, key string, rev uint64) *federationv1.Record {
	return &federationv1.Record{Key: key, Revision: rev, HomeSite: homeSite, Deleted: true}
}

const (
	snapshot  = federationv1.RecordBatchKind_RECORD_BATCH_KIND_SNAPSHOT
	increment = federationv1.RecordBatchKind_RECORD_BATCH_KIND_INCREMENT
)

func snap(begin, end bool, rev uint64, recs ...*federationv1.Record) *federationv1.RecordBatch {
	return &federationv1.RecordBatch{Kind: snapshot, Full: true, SnapshotBegin: begin, SnapshotEnd: end, Revision: rev, Records: recs}
}

func incr(rev uint64, recs ...*federationv1.Record) *federationv1.RecordBatch {
	return &federationv1.RecordBatch{Kind: increment, Full: true, Revision: rev, Records: recs}
}

// state renders what a store holds for home: "key@rev:name" sorted.
func state(s Store, h string) []string {
	var out []string
	s.Each(h, func(r *federationv1.Record) bool {
		out = append(out, fmt.Sprintf("%s@%d:%s", r.GetKey(), r.GetRevision(), r.GetUser().GetName()))
		return true
	})
	return out
}

type step struct {
	home    string // default home
	batch   *federationv1.RecordBatch
	wantErr error
}

func TestApply(t *testing.T) {
	tests := []struct {
		name     string
		steps    []step
		want     []string // state after all steps
		wantHeld uint64
		wantOK   bool
	}{
		{
			name: "snapshot in chunks",
			steps: []step{
				{batch: snap(true, false, 0, user(home, "301", 3, "a"), phone(home, "301", 4))},
				{batch: snap(false, false, 0, user(home, "302", 5, "b"))},
				{batch: snap(false, true, 9)},
			},
			want: []string{"phone/301@4:", "user/301@3:a", "user/302@5:b"}, wantHeld: 9, wantOK: true,
		},
		{
			name: "snapshot replaces",
			steps: []step{
				{batch: snap(true, true, 5, user(home, "301", 3, "a"), user(home, "302", 5, "b"))},
				{batch: snap(true, true, 8, user(home, "302", 7, "b2"), user(home, "303", 8, "c"))},
			},
			want: []string{"user/302@7:b2", "user/303@8:c"}, wantHeld: 8, wantOK: true,
		},
		{
			name: "snapshot may lower the held revision (home store replaced)",
			steps: []step{
				{batch: snap(true, true, 50, user(home, "301", 50, "a"))},
				{batch: snap(true, true, 2, user(home, "302", 2, "b"))},
			},
			want: []string{"user/302@2:b"}, wantHeld: 2, wantOK: true,
		},
		{
			name: "empty snapshot",
			steps: []step{
				{batch: snap(true, true, 5, user(home, "301", 3, "a"))},
				{batch: snap(true, true, 6)},
			},
			want: nil, wantHeld: 6, wantOK: true,
		},
		{
			name: "increments idempotent",
			steps: []step{
				{batch: snap(true, true, 5, user(home, "301", 3, "a"), user(home, "302", 5, "b"))},
				{batch: incr(8, user(home, "303", 6, "c"), user(home, "301", 7, "a2"), tomb(home, "user/302", 8))},
				{batch: incr(8, user(home, "303", 6, "c"), user(home, "301", 7, "a2"), tomb(home, "user/302", 8))},
			},
			want: []string{"user/301@7:a2", "user/303@6:c"}, wantHeld: 8, wantOK: true,
		},
		{
			name: "older batch re-applied changes nothing",
			steps: []step{
				{batch: snap(true, true, 5, user(home, "301", 3, "a"))},
				{batch: incr(6, user(home, "302", 6, "b"))},
				{batch: incr(7, tomb(home, "user/302", 7))},
				{batch: incr(6, user(home, "302", 6, "b"))}, // must not resurrect
			},
			want: []string{"user/301@3:a"}, wantHeld: 7, wantOK: true,
		},
		{
			name: "out of order old record ignored",
			steps: []step{
				{batch: snap(true, true, 5, user(home, "301", 5, "a"))},
				{batch: incr(10, user(home, "301", 10, "new"))},
				{batch: incr(7, user(home, "301", 7, "old"))},
			},
			want: []string{"user/301@10:new"}, wantHeld: 10, wantOK: true,
		},
		{
			name: "key twice in one batch keeps the newest",
			steps: []step{
				{batch: snap(true, true, 5, user(home, "301", 5, "a"))},
				{batch: incr(9, user(home, "301", 8, "x"), user(home, "301", 9, "y"), user(home, "302", 7, "b"), tomb(home, "user/302", 6))},
			},
			want: []string{"user/301@9:y", "user/302@7:b"}, wantHeld: 9, wantOK: true,
		},
		{
			name: "tombstone deletes, tombstone of unknown key is a no-op",
			steps: []step{
				{batch: snap(true, true, 5, user(home, "301", 4, "a"), user(home, "302", 5, "b"))},
				{batch: incr(7, tomb(home, "user/301", 6), tomb(home, "user/999", 7))},
			},
			want: []string{"user/302@5:b"}, wantHeld: 7, wantOK: true,
		},
		{
			name: "increment without records advances the held revision",
			steps: []step{
				{batch: snap(true, true, 5, user(home, "301", 4, "a"))},
				{batch: incr(12)},
			},
			want: []string{"user/301@4:a"}, wantHeld: 12, wantOK: true,
		},
		{
			name: "wrong home rejected, nothing applied",
			steps: []step{
				{batch: snap(true, true, 5, user(home, "301", 4, "a"))},
				{batch: incr(8, user(home, "302", 6, "b"), user("berlin", "303", 7, "c"), tomb(home, "user/301", 8)), wantErr: ErrWrongHome},
			},
			want: []string{"user/301@4:a"}, wantHeld: 5, wantOK: true,
		},
		{
			name: "wrong home in a snapshot chunk leaves the staging as it was",
			steps: []step{
				{batch: snap(true, false, 0, user(home, "301", 4, "a"))},
				{batch: snap(false, true, 9, user(home, "302", 5, "b"), user("berlin", "303", 6, "c")), wantErr: ErrWrongHome},
				{batch: snap(false, true, 9, user(home, "304", 9, "d"))},
			},
			want: []string{"user/301@4:a", "user/304@9:d"}, wantHeld: 9, wantOK: true,
		},
		{
			name: "interrupted snapshot then new snapshot",
			steps: []step{
				{batch: snap(true, true, 5, user(home, "300", 5, "old"))},
				{batch: snap(true, false, 0, user(home, "301", 6, "a"), user(home, "302", 7, "b"))},
				{batch: snap(true, false, 0, user(home, "303", 8, "c"))},
				{batch: snap(false, true, 8, user(home, "304", 8, "d"))},
			},
			want: []string{"user/303@8:c", "user/304@8:d"}, wantHeld: 8, wantOK: true,
		},
		{
			name: "increment after an abandoned snapshot resumes from the held copy",
			steps: []step{
				{batch: snap(true, true, 5, user(home, "301", 5, "a"))},
				{batch: snap(true, false, 0, user(home, "302", 6, "b"))},
				{batch: incr(7, user(home, "303", 7, "c"))},
				{batch: snap(false, true, 8, user(home, "304", 8, "d")), wantErr: ErrSequence},
			},
			want: []string{"user/301@5:a", "user/303@7:c"}, wantHeld: 7, wantOK: true,
		},
		{
			name:  "increment before any snapshot",
			steps: []step{{batch: incr(7, user(home, "303", 7, "c")), wantErr: ErrSequence}},
		},
		{
			name:  "chunk without begin",
			steps: []step{{batch: snap(false, true, 7, user(home, "303", 7, "c")), wantErr: ErrSequence}},
		},
		{
			name: "increment of other fullness needs a snapshot",
			steps: []step{
				{batch: snap(true, true, 5, user(home, "301", 5, "a"))},
				{batch: &federationv1.RecordBatch{Kind: increment, Full: false, Revision: 6, Records: []*federationv1.Record{user(home, "302", 6, "b")}}, wantErr: ErrSequence},
			},
			want: []string{"user/301@5:a"}, wantHeld: 5, wantOK: true,
		},
		{
			name: "invalid batches",
			steps: []step{
				{batch: &federationv1.RecordBatch{Revision: 1}, wantErr: ErrInvalidBatch},
				{batch: nil, wantErr: ErrInvalidBatch},
				{batch: snap(true, true, 1, &federationv1.Record{Key: "user/1", Revision: 1, HomeSite: home}), wantErr: ErrInvalidBatch},
				{batch: snap(true, true, 1, func() *federationv1.Record { r := user(home, "301", 1, "a"); r.Key = "user/302"; return r }()), wantErr: ErrInvalidBatch},
				{batch: snap(true, true, 1, user(home, "301", 0, "a")), wantErr: ErrInvalidBatch},
				{home: "-", batch: snap(true, true, 1), wantErr: ErrInvalidBatch},
			},
		},
	}
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					s := im.open(t)
					for i, st := range tt.steps {
						h := home
						if st.home == "-" {
							h = ""
						} else if st.home != "" {
							h = st.home
						}
						err := s.Apply(t.Context(), h, st.batch)
						if st.wantErr == nil && err != nil || st.wantErr != nil && !errors.Is(err, st.wantErr) {
							t.Fatalf("step %d: err = %v, want %v", i, err, st.wantErr)
						}
					}
					if got := state(s, home); !slices.Equal(got, tt.want) {
						t.Fatalf("state = %v\nwant    %v", got, tt.want)
					}
					if rev, ok := s.Held(home); rev != tt.wantHeld || ok != tt.wantOK {
						t.Fatalf("Held = %d, %v; want %d, %v", rev, ok, tt.wantHeld, tt.wantOK)
					}
					if n := s.Count(home); n != len(tt.want) {
						t.Fatalf("Count = %d, want %d", n, len(tt.want))
					}
					if tt.wantOK && !s.Full(home) {
						t.Fatal("Full = false after full snapshot")
					}
				})
			}
		})
	}
}

func TestReadsAndForget(t *testing.T) {
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			s := im.open(t)
			ctx := t.Context()
			if s.Mode() != im.name {
				t.Fatalf("Mode = %q", s.Mode())
			}
			must(t, s.Apply(ctx, "paris", snap(true, true, 5, user("paris", "301", 5, "a"), phone("paris", "301", 4))))
			index := &federationv1.RecordBatch{Kind: snapshot, SnapshotBegin: true, SnapshotEnd: true, Revision: 3,
				Records: []*federationv1.Record{user("berlin", "401", 3, "z")}}
			must(t, s.Apply(ctx, "berlin", index))
			tests := []struct {
				name  string
				check func() error
			}{
				{name: "homes", check: func() error {
					if got := s.Homes(); !slices.Equal(got, []string{"berlin", "paris"}) {
						return fmt.Errorf("Homes = %v", got)
					}
					return nil
				}},
				{name: "full flags", check: func() error {
					if !s.Full("paris") || s.Full("berlin") || s.Full("nowhere") {
						return fmt.Errorf("Full paris %v berlin %v", s.Full("paris"), s.Full("berlin"))
					}
					return nil
				}},
				{name: "get", check: func() error {
					r, ok := s.Get("paris", "phone/301")
					if !ok || r.GetPhone().GetHa1Md5() == "" {
						return fmt.Errorf("Get phone/301 = %v, %v", r, ok)
					}
					r.GetPhone().Ha1Md5 = "changed" // a copy: the store is unaffected
					if r2, _ := s.Get("paris", "phone/301"); r2.GetPhone().GetHa1Md5() == "changed" {
						return errors.New("Get returned shared state")
					}
					if _, ok := s.Get("paris", "user/401"); ok {
						return errors.New("Get found berlin's record under paris")
					}
					return nil
				}},
				{name: "each stops", check: func() error {
					n := 0
					s.Each("paris", func(*federationv1.Record) bool { n++; return false })
					if n != 1 {
						return fmt.Errorf("Each called fn %d times after false", n)
					}
					return nil
				}},
				{name: "forget", check: func() error {
					if err := s.Forget("paris"); err != nil {
						return err
					}
					if err := s.Forget("paris"); err != nil {
						return fmt.Errorf("second Forget: %v", err)
					}
					if _, ok := s.Held("paris"); ok || s.Count("paris") != 0 || !slices.Equal(s.Homes(), []string{"berlin"}) {
						return fmt.Errorf("after Forget: held %v count %d homes %v", ok, s.Count("paris"), s.Homes())
					}
					return nil
				}},
				{name: "closed", check: func() error {
					must(t, s.Close())
					if err := s.Apply(ctx, "paris", snap(true, true, 1)); !errors.Is(err, ErrClosed) {
						return fmt.Errorf("Apply after Close: %v", err)
					}
					return s.Close()
				}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					if err := tt.check(); err != nil {
						t.Fatal(err)
					}
				})
			}
		})
	}
}

func TestWatch(t *testing.T) {
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			s := im.open(t)
			ctx := t.Context()
			var got []string
			s.Watch(func(c Change) {
				line := c.Kind.String() + " " + c.Home + " " + c.Key
				if c.Kind == ChangeReset {
					line += fmt.Sprintf(" count=%d", s.Count(c.Home)) // reads are allowed and show the new copy
				} else if c.Record.GetKey() != c.Key {
					line += " (record mismatch)"
				}
				got = append(got, line)
			})
			tests := []struct {
				name  string
				apply func() error
				want  []string
			}{
				{name: "staging is silent", apply: func() error { return s.Apply(ctx, home, snap(true, false, 0, user(home, "301", 3, "a"))) }},
				{name: "snapshot end resets", apply: func() error { return s.Apply(ctx, home, snap(false, true, 5, user(home, "302", 5, "b"))) },
					want: []string{"reset paris  count=2"}},
				{name: "increment reports final changes", apply: func() error {
					return s.Apply(ctx, home, incr(9, user(home, "303", 6, "c"), tomb(home, "user/301", 7), user(home, "303", 8, "c2"), tomb(home, "user/999", 9)))
				}, want: []string{"delete paris user/301", "put paris user/303"}},
				{name: "re-applied increment is silent", apply: func() error {
					return s.Apply(ctx, home, incr(9, user(home, "303", 6, "c"), tomb(home, "user/301", 7)))
				}},
				{name: "rejected batch is silent", apply: func() error {
					if err := s.Apply(ctx, home, incr(10, user("berlin", "1", 10, ""))); !errors.Is(err, ErrWrongHome) {
						return fmt.Errorf("err = %v", err)
					}
					return nil
				}},
				{name: "forget resets", apply: func() error { return s.Forget(home) }, want: []string{"reset paris  count=0"}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got = nil
					if err := tt.apply(); err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, tt.want) {
						t.Fatalf("changes = %q, want %q", got, tt.want)
					}
				})
			}
		})
	}
}

func TestDurableSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backups.db")
	ctx := t.Context()
	tests := []struct {
		name  string
		apply func(Store) error
		want  []string
		held  uint64
	}{
		{name: "snapshot", apply: func(s Store) error {
			return s.Apply(ctx, home, snap(true, true, 5, user(home, "301", 4, "a"), user(home, "302", 5, "b")))
		}, want: []string{"user/301@4:a", "user/302@5:b"}, held: 5},
		{name: "increment", apply: func(s Store) error {
			return s.Apply(ctx, home, incr(8, user(home, "303", 7, "c"), tomb(home, "user/301", 8)))
		}, want: []string{"user/302@5:b", "user/303@7:c"}, held: 8},
		{name: "staging is not kept", apply: func(s Store) error {
			return s.Apply(ctx, home, snap(true, false, 0, user(home, "309", 9, "x")))
		}, want: []string{"user/302@5:b", "user/303@7:c"}, held: 8},
		{name: "re-snapshot", apply: func(s Store) error {
			return s.Apply(ctx, home, snap(true, true, 12, user(home, "310", 12, "y")))
		}, want: []string{"user/310@12:y"}, held: 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenDurable(path)
			if err != nil {
				t.Fatal(err)
			}
			must(t, tt.apply(s))
			must(t, s.Close())
			s, err = OpenDurable(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rev, ok := s.Held(home)
			if got := state(s, home); !ok || rev != tt.held || !slices.Equal(got, tt.want) || !s.Full(home) {
				t.Fatalf("after reopen: held %d %v full %v state %v; want %d %v", rev, ok, s.Full(home), got, tt.held, tt.want)
			}
			// Staging did not survive: a chunk without begin is out of sequence.
			if err := s.Apply(ctx, home, snap(false, true, 20)); !errors.Is(err, ErrSequence) {
				t.Fatalf("chunk after reopen: %v", err)
			}
		})
	}
	s, err := OpenDurable(path)
	if err != nil {
		t.Fatal(err)
	}
	must(t, s.Forget(home))
	must(t, s.Close())
	s, err = OpenDurable(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.Held(home); ok {
		t.Fatal("forgotten home back after reopen")
	}
}

func TestMemoryRestartHoldsNothing(t *testing.T) {
	s := NewMemory()
	must(t, s.Apply(t.Context(), home, snap(true, true, 5, user(home, "301", 5, "a"))))
	s.Close()
	s = NewMemory() // the daemon restarted
	if rev, ok := s.Held(home); ok || rev != 0 || s.Count(home) != 0 || len(s.Homes()) != 0 {
		t.Fatalf("new memory store holds %d %v", rev, ok)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
