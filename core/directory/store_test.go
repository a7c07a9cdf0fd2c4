package directory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
	"google.golang.org/protobuf/proto"
)

func openTest(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "directory.db")
	s, err := Open(path, "london")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func keys(recs []*federationv1.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.GetKey()
	}
	return out
}

func TestRevisionsMonotonicAcrossReopen(t *testing.T) {
	s, path := openTest(t)
	ctx := t.Context()
	var last uint64
	for i := range 5 {
		rec, err := s.Put(ctx, userRec(fmt.Sprint(200+i), "U"))
		if err != nil {
			t.Fatal(err)
		}
		if rec.GetRevision() <= last {
			t.Fatalf("revision %d after %d", rec.GetRevision(), last)
		}
		last = rec.GetRevision()
	}
	if _, err := s.Delete(ctx, "user/200"); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(s.Revision() + 1); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() > 2<<20 {
		t.Fatalf("store file: %v, %v (want small steps of growth)", fi.Size(), err)
	}
	rev, compacted := s.Revision(), s.Compacted()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, "london")
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Revision() != rev || s2.Compacted() != compacted {
		t.Fatalf("after reopen revision %d compacted %d, want %d %d", s2.Revision(), s2.Compacted(), rev, compacted)
	}
	rec, err := s2.Put(ctx, userRec("300", "V"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.GetRevision() != rev+1 {
		t.Fatalf("revision after reopen = %d, want %d", rec.GetRevision(), rev+1)
	}
}

func TestOpenOtherSite(t *testing.T) {
	s, path := openTest(t)
	s.Close()
	if _, err := Open(path, "paris"); !errors.Is(err, ErrSiteMismatch) {
		t.Fatalf("Open for another site: err = %v, want ErrSiteMismatch", err)
	}
}

func TestPutGetDeleteList(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	seed := []*federationv1.Record{userRec("201", "Alice"), userRec("202", "Bob"), phoneRec("201", "201"), phoneRec("201-soft", "201")}
	if _, err := s.PutMany(ctx, seed); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		op       func() error
		get      string
		wantGet  error
		wantName string
		list     map[string][]string
	}{
		{
			name: "initial", get: "user/201", wantName: "Alice",
			list: map[string][]string{KindUser: {"user/201", "user/202"}, KindPhone: {"phone/201", "phone/201-soft"}, "": {"phone/201", "phone/201-soft", "user/201", "user/202"}},
		},
		{
			name: "update", op: func() error { _, err := s.Put(ctx, userRec("201", "Alice B")); return err },
			get: "user/201", wantName: "Alice B",
			list: map[string][]string{KindUser: {"user/201", "user/202"}},
		},
		{
			name: "delete", op: func() error { _, err := s.Delete(ctx, "user/202"); return err },
			get: "user/202", wantGet: ErrNotFound,
			list: map[string][]string{KindUser: {"user/201"}, KindHuntGroup: nil},
		},
		{
			name: "delete again is not found", op: func() error {
				if _, err := s.Delete(ctx, "user/202"); !errors.Is(err, ErrNotFound) {
					return fmt.Errorf("second delete: %v, want ErrNotFound", err)
				}
				return nil
			},
			get: "user/202", wantGet: ErrNotFound,
		},
		{
			name: "delete absent", op: func() error {
				if _, err := s.Delete(ctx, "user/999"); !errors.Is(err, ErrNotFound) {
					return fmt.Errorf("delete absent: %v, want ErrNotFound", err)
				}
				return nil
			},
			get: "user/999", wantGet: ErrNotFound,
		},
		{
			name: "put after delete revives", op: func() error { _, err := s.Put(ctx, userRec("202", "Bob 2")); return err },
			get: "user/202", wantName: "Bob 2",
			list: map[string][]string{KindUser: {"user/201", "user/202"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.op != nil {
				if err := tt.op(); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.Get(tt.get)
			if tt.wantGet != nil {
				if !errors.Is(err, tt.wantGet) {
					t.Fatalf("Get(%s) err = %v, want %v", tt.get, err, tt.wantGet)
				}
			} else if err != nil || got.GetUser().GetName() != tt.wantName || got.GetHomeSite() != "london" {
				t.Fatalf("Get(%s) = %v, %v; want name %q home london", tt.get, got, err, tt.wantName)
			}
			for kind, want := range tt.list {
				recs, err := s.List(kind)
				if err != nil {
					t.Fatal(err)
				}
				if got := keys(recs); !slices.Equal(got, want) {
					t.Fatalf("List(%q) = %v, want %v", kind, got, want)
				}
			}
		})
	}
	if _, err := s.List("fax"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("List(fax) err = %v, want ErrInvalid", err)
	}
}

func TestPutRejects(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	other := userRec("201", "Alice")
	other.HomeSite = "paris"
	tests := []struct {
		name string
		rec  *federationv1.Record
	}{
		{name: "no body", rec: &federationv1.Record{Key: "user/201"}},
		{name: "key mismatch", rec: &federationv1.Record{Key: "user/1", Body: &federationv1.Record_User{User: &federationv1.User{Extension: "201"}}}},
		{name: "other home", rec: other},
		{name: "phone kind unspecified", rec: &federationv1.Record{Body: &federationv1.Record_Phone{Phone: &federationv1.Phone{Id: "1", User: "1", Protocol: federationv1.Protocol_PROTOCOL_SIP}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Put(ctx, tt.rec); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Put err = %v, want ErrInvalid", err)
			}
			if s.Revision() != 0 {
				t.Fatalf("a rejected put moved the revision to %d", s.Revision())
			}
		})
	}
	// PutMany is all or nothing.
	if _, err := s.PutMany(ctx, []*federationv1.Record{userRec("201", "A"), {}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("PutMany with a bad record: err = %v", err)
	}
	if recs, _ := s.List(""); len(recs) != 0 || s.Revision() != 0 {
		t.Fatalf("PutMany partly applied: %v", keys(recs))
	}
}

func TestPutManyDuplicateKey(t *testing.T) {
	s, _ := openTest(t)
	last, err := s.PutMany(t.Context(), []*federationv1.Record{userRec("201", "first"), userRec("202", "B"), userRec("201", "last")})
	if err != nil {
		t.Fatal(err)
	}
	recs, got, err := s.Changes(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if last != 2 || got != 2 || !slices.Equal(keys(recs), []string{"user/202", "user/201"}) || recs[1].GetUser().GetName() != "last" {
		t.Fatalf("PutMany = %d; Changes = %v at %d", last, recs, got)
	}
}

func TestPutDoesNotModifyArgument(t *testing.T) {
	s, _ := openTest(t)
	in := userRec("201", "Alice")
	before := proto.CloneOf(in)
	out, err := s.Put(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(in, before) {
		t.Fatalf("Put modified its argument: %v", in)
	}
	if out.GetKey() != "user/201" || out.GetRevision() != 1 || out.GetHomeSite() != "london" {
		t.Fatalf("Put returned %v", out)
	}
}

func TestChanges(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	// rev 1 a, 2 b, 3 c, 4 a again, 5 b deleted, 6 d
	for _, op := range []func() error{
		func() error { _, err := s.Put(ctx, userRec("a", "1")); return err },
		func() error { _, err := s.Put(ctx, userRec("b", "1")); return err },
		func() error { _, err := s.Put(ctx, userRec("c", "1")); return err },
		func() error { _, err := s.Put(ctx, userRec("a", "2")); return err },
		func() error { _, err := s.Delete(ctx, "user/b"); return err },
		func() error { _, err := s.Put(ctx, userRec("d", "1")); return err },
	} {
		if err := op(); err != nil {
			t.Fatal(err)
		}
	}
	type change struct {
		key     string
		rev     uint64
		deleted bool
	}
	tests := []struct {
		name     string
		since    uint64
		limit    int
		want     []change
		wantLast uint64
		wantErr  error
	}{
		{name: "all", since: 0, want: []change{{"user/c", 3, false}, {"user/a", 4, false}, {"user/b", 5, true}, {"user/d", 6, false}}, wantLast: 6},
		{name: "since 3", since: 3, want: []change{{"user/a", 4, false}, {"user/b", 5, true}, {"user/d", 6, false}}, wantLast: 6},
		{name: "limit", since: 0, limit: 2, want: []change{{"user/c", 3, false}, {"user/a", 4, false}}, wantLast: 4},
		{name: "limit exactly the rest", since: 3, limit: 3, want: []change{{"user/a", 4, false}, {"user/b", 5, true}, {"user/d", 6, false}}, wantLast: 6},
		{name: "up to date", since: 6, want: nil, wantLast: 6},
		{name: "ahead", since: 7, wantErr: ErrNeedSnapshot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, last, err := s.Changes(tt.since, tt.limit)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []change
			for _, r := range recs {
				got = append(got, change{r.GetKey(), r.GetRevision(), r.GetDeleted()})
				if r.GetDeleted() && r.GetBody() != nil {
					t.Errorf("tombstone %s has a body", r.GetKey())
				}
			}
			if !slices.Equal(got, tt.want) || last != tt.wantLast {
				t.Fatalf("Changes(%d, %d) = %v, %d; want %v, %d", tt.since, tt.limit, got, last, tt.want, tt.wantLast)
			}
		})
	}
}

func TestSnapshotConsistent(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	if _, err := s.PutMany(ctx, []*federationv1.Record{userRec("201", "A"), userRec("202", "B"), userRec("203", "C")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "user/203"); err != nil {
		t.Fatal(err)
	}
	want := s.Revision()
	done := make(chan error, 1)
	var got []string
	rev, err := s.Snapshot(func(r *federationv1.Record) error {
		if len(got) == 0 { // write concurrently while the walk is under way
			go func() {
				_, err := s.Put(ctx, userRec("200", "early"))
				if err == nil {
					_, err = s.Delete(ctx, "user/202")
				}
				done <- err
			}()
			select {
			case err := <-done:
				done <- err
			case <-time.After(5 * time.Second):
				t.Error("a writer waited for the snapshot walk")
			}
		}
		got = append(got, r.GetKey())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rev != want || !slices.Equal(got, []string{"user/201", "user/202"}) {
		t.Fatalf("Snapshot = %v at %d; want [user/201 user/202] at %d", got, rev, want)
	}
	stop := errors.New("stop")
	if _, err := s.Snapshot(func(*federationv1.Record) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Snapshot err = %v, want the callback's", err)
	}
}

func TestCompactNeedsSnapshot(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	// 1 a, 2 b, 3 c, 4 del a, 5 del b, 6 d
	if _, err := s.PutMany(ctx, []*federationv1.Record{userRec("a", ""), userRec("b", ""), userRec("c", "")}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"user/a", "user/b"} {
		if _, err := s.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put(ctx, userRec("d", "")); err != nil {
		t.Fatal(err)
	}
	if s.NeedsSnapshot(3) || s.Compacted() != 0 {
		t.Fatal("needs snapshot before any compaction")
	}
	if err := s.Compact(5); err != nil { // drops the tombstone at 4, keeps 5
		t.Fatal(err)
	}
	if s.Compacted() != 4 {
		t.Fatalf("Compacted = %d, want 4", s.Compacted())
	}
	recs, _, err := s.Changes(4, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(recs); !slices.Equal(got, []string{"user/b", "user/d"}) {
		t.Fatalf("Changes(4) after compaction = %v", got)
	}
	if _, _, err := s.Changes(3, 0); !errors.Is(err, ErrNeedSnapshot) {
		t.Fatalf("Changes(3) err = %v, want ErrNeedSnapshot", err)
	}
	if err := s.Compact(2); err != nil || s.Compacted() != 4 {
		t.Fatalf("Compact(2) lowered the compacted revision: %d, %v", s.Compacted(), err)
	}
	tests := []struct {
		name   string
		resume uint64
		want   bool
	}{
		{name: "nothing held", resume: 0, want: true},
		{name: "below compacted", resume: 3, want: true},
		{name: "at compacted", resume: 4, want: false},
		{name: "current", resume: 6, want: false},
		{name: "ahead of store", resume: 7, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.NeedsSnapshot(tt.resume); got != tt.want {
				t.Fatalf("NeedsSnapshot(%d) = %v, want %v", tt.resume, got, tt.want)
			}
		})
	}
	// Compacting past the end drops every tombstone but never claims a
	// revision the store has not reached.
	if err := s.Compact(100); err != nil {
		t.Fatal(err)
	}
	if s.Compacted() != 6 || s.NeedsSnapshot(6) {
		t.Fatalf("Compact(100): compacted %d", s.Compacted())
	}
	recs, _, _ = s.Changes(0, 0)
	if len(recs) != 0 {
		t.Fatalf("Changes(0) after full compaction returned %v (want error or nothing)", keys(recs))
	}
	live, _ := s.List("")
	if got := keys(live); !slices.Equal(got, []string{"user/c", "user/d"}) {
		t.Fatalf("live records after compaction = %v", got)
	}
}

func TestSubscribe(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	ch, cancel := s.Subscribe()
	ch2, _ := s.Subscribe()
	tests := []struct {
		name string
		op   func() (uint64, error)
	}{
		{name: "put", op: func() (uint64, error) { r, err := s.Put(ctx, userRec("201", "")); return r.GetRevision(), err }},
		{name: "coalesced", op: func() (uint64, error) {
			if _, err := s.Put(ctx, userRec("202", "")); err != nil {
				return 0, err
			}
			return s.PutMany(ctx, []*federationv1.Record{userRec("203", ""), userRec("204", "")})
		}},
		{name: "delete", op: func() (uint64, error) { return s.Delete(ctx, "user/201") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := tt.op()
			if err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-ch:
				if got != want {
					t.Fatalf("notified %d, want %d", got, want)
				}
			case <-time.After(time.Second):
				t.Fatal("no notification")
			}
			select {
			case got := <-ch:
				t.Fatalf("second notification %d; want coalesced", got)
			default:
			}
		})
	}
	cancel()
	cancel()
	if _, ok := <-ch; ok {
		t.Fatal("channel open after cancel")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range ch2 { // drains the pending value, then ends: Close closed it
	}
	ch3, cancel3 := s.Subscribe()
	if _, ok := <-ch3; ok {
		t.Fatal("Subscribe after Close gave an open channel")
	}
	cancel3()
}

func BenchmarkPutMany100k(b *testing.B) {
	recs := make([]*federationv1.Record, 0, 100_000)
	for i := range 50_000 {
		ext := fmt.Sprint(100_000 + i)
		recs = append(recs, userRec(ext, "User "+ext))
		p := phoneRec(ext, ext)
		p.GetPhone().Ha1Md5 = HA1MD5(ext, "voip.example", "pw"+ext)
		p.GetPhone().Ha1Sha256 = HA1SHA256(ext, "voip.example", "pw"+ext)
		recs = append(recs, p)
	}
	for b.Loop() {
		b.StopTimer()
		s, err := Open(filepath.Join(b.TempDir(), "d.db"), "london")
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.PutMany(b.Context(), recs); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(recs)), "records/op")
}
