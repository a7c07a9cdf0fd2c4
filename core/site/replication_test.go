package site

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/rallyvoip/rally/core/directory"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// sameCopy reports how backup's copy of home's records differs from home's
// live records ("" when it is exactly the same: with credentials when full,
// redacted otherwise).
func sameCopy(t testing.TB, home, backup *running, full bool) string {
	t.Helper()
	want, err := home.site.dir.List("")
	if err != nil {
		t.Fatal(err)
	}
	if got := backup.site.backups.Count(home.name); got != len(want) {
		return fmt.Sprintf("%s holds %d records of %s, want %d", backup.name, got, home.name, len(want))
	}
	for _, w := range want {
		g, ok := backup.site.backups.Get(home.name, w.GetKey())
		if !ok {
			return "missing " + w.GetKey()
		}
		if !full {
			w = directory.Redact(w)
		}
		if !proto.Equal(g, w) {
			return fmt.Sprintf("%s differs: got %v want %v", w.GetKey(), g, w)
		}
	}
	return ""
}

// TestReplicationThreeSites: 10,000 records of london replicate in full to
// its backup paris and as an index to berlin; a change and a delete at
// home show at both.
func TestReplicationThreeSites(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site")
	}
	f := newFed(t)
	parisCfg, parisAddr := f.writeConfig(spec{name: "paris", host: "127.0.0.2", backsUp: []string{"london"}})
	berlinCfg, berlinAddr := f.writeConfig(spec{name: "berlin", host: "127.0.0.3"})
	londonCfg, _ := f.writeConfig(spec{
		name: "london", backup: "paris", directory: users(10000, 5000),
		peers: map[string]string{"paris": parisAddr, "berlin": berlinAddr},
	})
	paris := start(t, parisCfg)
	berlin := start(t, berlinCfg)
	london := start(t, londonCfg)

	if n := london.site.dir.Revision(); n != 10000 {
		t.Fatalf("london seeded to revision %d, want 10000 (5000 users + 5000 phones)", n)
	}
	eventually(t, 20*time.Second, "paris holds london in full", func() bool {
		return sameCopy(t, london, paris, true) == ""
	})
	eventually(t, 20*time.Second, "berlin holds london's index", func() bool {
		return sameCopy(t, london, berlin, false) == ""
	})
	if !paris.site.backups.Full("london") || berlin.site.backups.Full("london") {
		t.Fatalf("full flags: paris %v berlin %v, want true false",
			paris.site.backups.Full("london"), berlin.site.backups.Full("london"))
	}
	rec, _ := berlin.site.backups.Get("london", "phone/10001")
	if rec.GetPhone().GetHa1Md5() != "" {
		t.Fatalf("berlin received credentials: %v", rec)
	}
	rec, _ = paris.site.backups.Get("london", "phone/10001")
	if rec.GetPhone().GetHa1Md5() != directory.HA1MD5("10001", "voip.example", "pw-10001") {
		t.Fatalf("paris holds HA1 %q", rec.GetPhone().GetHa1Md5())
	}

	ctx := context.Background()
	_, err := london.admin.PutRecord(ctx, &adminv1.PutRecordRequest{Record: &federationv1.Record{
		Body: &federationv1.Record_User{User: &federationv1.User{Extension: "10002", Name: "Renamed"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := london.admin.DeleteRecord(ctx, &adminv1.DeleteRecordRequest{Key: "phone/10003"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the change and the delete at paris and berlin", func() bool {
		for _, r := range []*running{paris, berlin} {
			u, _ := r.site.backups.Get("london", "user/10002")
			_, still := r.site.backups.Get("london", "phone/10003")
			if u.GetUser().GetName() != "Renamed" || still {
				return false
			}
		}
		return true
	})
	if d := sameCopy(t, london, paris, true); d != "" {
		t.Fatal(d)
	}
	if d := sameCopy(t, london, berlin, false); d != "" {
		t.Fatal(d)
	}
	// The home sees its records acknowledged.
	eventually(t, 5*time.Second, "paris acks london's revision", func() bool {
		return london.peer(t, "paris").GetAckedRevision() == london.site.dir.Revision()
	})
	for _, want := range []struct {
		at                    *running
		peer, state, relation string
	}{
		{london, "paris", "normal", "backed_up_by_peer"},
		{london, "berlin", "normal", "index"},
		{paris, "london", "normal", "backs_up_peer"},
		{berlin, "london", "normal", "index"},
	} {
		p := want.at.peer(t, want.peer)
		if p.GetState() != want.state || p.GetRelation() != want.relation {
			t.Errorf("%s sees %s as %s/%s, want %s/%s", want.at.name, want.peer, p.GetState(), p.GetRelation(), want.state, want.relation)
		}
	}
}

// TestResumeBehindCompaction: a durable backup that was away while the
// home deleted records and compacted its tombstones cannot be given the
// deletes as increments; it gets a snapshot, and its copy drops the
// deleted records.
func TestResumeBehindCompaction(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site")
	}
	f := newFed(t)
	parisCfg, parisAddr := f.writeConfig(spec{name: "paris", host: "127.0.0.2", backsUp: []string{"london"}, durable: true})
	londonCfg, _ := f.writeConfig(spec{name: "london", backup: "paris", peers: map[string]string{"paris": parisAddr},
		directory: users(4000, 50)})
	paris := start(t, parisCfg)
	london := start(t, londonCfg)
	eventually(t, 10*time.Second, "synced", func() bool { return sameCopy(t, london, paris, true) == "" })
	held, _ := paris.site.backups.Held("london")
	paris.stop()

	ctx := context.Background()
	for i := range 20 {
		if _, err := london.site.dir.Delete(ctx, fmt.Sprintf("user/%d", 4000+i)); err != nil {
			t.Fatal(err)
		}
	}
	if london.site.dir.NeedsSnapshot(held) {
		t.Fatalf("resume revision %d needs a snapshot before the compaction", held)
	}
	if err := london.site.dir.Compact(london.site.dir.Revision()); err != nil {
		t.Fatal(err)
	}
	if !london.site.dir.NeedsSnapshot(held) {
		t.Fatalf("resume revision %d is not behind the compaction (%d)", held, london.site.dir.Compacted())
	}
	paris = start(t, parisCfg)
	eventually(t, 10*time.Second, "paris converges by snapshot", func() bool { return sameCopy(t, london, paris, true) == "" })
}
