package site

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rallyvoip/rally/core/backupstore"
	"github.com/rallyvoip/rally/core/directory"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// BenchmarkFullSync100k: a backup with nothing held links to a home of
// 100,000 records (50,000 users and their phones); reported: seconds from
// the backup's start to holding the home's revision.
func BenchmarkFullSync100k(b *testing.B) {
	f := newFed(b)
	parisAddr := freeAddr(b, "127.0.0.2")
	londonCfg, londonAddr := f.writeConfig(spec{name: "london", backup: "paris", peers: map[string]string{"paris": parisAddr}})
	parisCfg, _ := f.writeConfig(spec{name: "paris", host: "127.0.0.2", port: port(parisAddr),
		backsUp: []string{"london"}, peers: map[string]string{"london": londonAddr}})
	london := start(b, londonCfg)
	recs := make([]*federationv1.Record, 0, 100000)
	for i := range 50000 {
		ext := fmt.Sprint(100000 + i)
		recs = append(recs,
			&federationv1.Record{Body: &federationv1.Record_User{User: &federationv1.User{Extension: ext, Name: "User " + ext}}},
			&federationv1.Record{Body: &federationv1.Record_Phone{Phone: &federationv1.Phone{
				Id: ext, User: ext, Kind: federationv1.PhoneKind_PHONE_KIND_DESK, Protocol: federationv1.Protocol_PROTOCOL_SIP,
				Ha1Md5: directory.HA1MD5(ext, "voip.example", "pw"), Ha1Sha256: directory.HA1SHA256(ext, "voip.example", "pw"),
			}}})
	}
	rev, err := london.site.dir.PutMany(context.Background(), recs)
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		paris := start(b, parisCfg)
		eventually(b, time.Minute, "full sync", func() bool {
			held, _ := paris.site.backups.Held("london")
			return held == rev
		})
		total += time.Since(t0)
		b.StopTimer()
		if n := paris.site.backups.Count("london"); n != 100000 {
			b.Fatalf("paris holds %d records", n)
		}
		paris.stop()
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/sync")
}

// BenchmarkReplicationLag: one record changed at the home; reported: time
// until the backup has applied it (p50, p99), from before the home's
// commit (which includes its fsync) and from after it.
func BenchmarkReplicationLag(b *testing.B) {
	f := newFed(b)
	parisCfg, parisAddr := f.writeConfig(spec{name: "paris", host: "127.0.0.2", backsUp: []string{"london"}})
	londonCfg, _ := f.writeConfig(spec{name: "london", backup: "paris", peers: map[string]string{"paris": parisAddr},
		directory: users(1000, 100)})
	paris := start(b, parisCfg)
	london := start(b, londonCfg)
	eventually(b, 10*time.Second, "linked", func() bool { return paris.site.backups.Count("london") == 200 })
	applied := make(chan string, 16)
	paris.site.backups.Watch(func(c backupstore.Change) {
		if c.Kind == backupstore.ChangePut {
			select {
			case applied <- c.Key:
			default:
			}
		}
	})
	fromStart := make([]time.Duration, 0, b.N)
	fromCommit := make([]time.Duration, 0, b.N)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		_, err := london.site.dir.Put(ctx, &federationv1.Record{Body: &federationv1.Record_User{
			User: &federationv1.User{Extension: "1000", Name: fmt.Sprint("v", i)}}})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		select {
		case <-applied:
		case <-time.After(5 * time.Second):
			b.Fatal("change not applied")
		}
		fromStart = append(fromStart, time.Since(t0))
		fromCommit = append(fromCommit, time.Since(t1))
	}
	b.StopTimer()
	b.ReportMetric(ms(pct(fromStart, 50)), "p50-ms")
	b.ReportMetric(ms(pct(fromStart, 99)), "p99-ms")
	b.ReportMetric(ms(pct(fromCommit, 50)), "p50-after-commit-ms")
	b.ReportMetric(ms(pct(fromCommit, 99)), "p99-after-commit-ms")
}

// BenchmarkDetection: the link goes silent (bytes dropped, no reset);
// reported: time from the cut to the backup's failover (p50, p99), with
// heartbeat 100ms and failover_after 600ms.
func BenchmarkDetection(b *testing.B) {
	p := newPairB(b)
	var took []time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		p.toParis.blackhole(true)
		p.toLondon.blackhole(true)
		m := p.paris.site.machine("london")
		for m.State() != "failover" {
			time.Sleep(time.Millisecond)
			if time.Since(t0) > 10*time.Second {
				b.Fatal("no failover")
			}
		}
		took = append(took, time.Since(t0))
		b.StopTimer()
		p.toParis.blackhole(false)
		p.toLondon.blackhole(false)
		p.toParis.cut()
		p.toLondon.cut()
		eventually(b, 10*time.Second, "back to normal", func() bool { return m.State() == "normal" })
		time.Sleep(2 * testHeartbeat)
		b.StartTimer()
	}
	b.ReportMetric(ms(pct(took, 50)), "p50-ms")
	b.ReportMetric(ms(pct(took, 99)), "p99-ms")
	b.ReportMetric(ms(slices.Max(took)), "max-ms")
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
