package backupstore

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/rallyvoip/rally/core/directory"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// realistic returns n records of home as a replicated full backup would
// carry them: users with settings and phones with both HA1s, half each.
func realistic(home string, n int) []*federationv1.Record {
	recs := make([]*federationv1.Record, 0, n)
	for i := range n / 2 {
		ext := fmt.Sprint(200_000 + i)
		u := user(home, ext, uint64(2*i+1), "User Number "+ext)
		u.GetUser().H323Ids = []string{"u" + ext}
		u.GetUser().Settings = &federationv1.UserSettings{ForwardNoAnswer: "500", ForwardBusy: "500"}
		u.GetUser().HotdeskCodeHash = directory.HashSecret(ext)
		recs = append(recs, u, phone(home, ext, uint64(2*i+2)))
	}
	return recs
}

// chunks splits recs into snapshot batches of size records.
func chunks(recs []*federationv1.Record, size int) []*federationv1.RecordBatch {
	var out []*federationv1.RecordBatch
	for i := 0; i < len(recs); i += size {
		out = append(out, &federationv1.RecordBatch{Kind: snapshot, Full: true, Records: recs[i:min(i+size, len(recs))]})
	}
	out[0].SnapshotBegin = true
	last := out[len(out)-1]
	last.SnapshotEnd = true
	last.Revision = uint64(len(recs))
	return out
}

func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemoryPerRecord reports the heap a memory store holds per
// backup record once 100,000 user and phone records are applied.
func BenchmarkMemoryPerRecord(b *testing.B) {
	const n = 100_000
	var perRecord float64
	for b.Loop() {
		before := heapAfterGC()
		s := NewMemory()
		func() { // the batches are garbage once applied
			for _, batch := range chunks(realistic(home, n), 1000) {
				if err := s.Apply(b.Context(), home, batch); err != nil {
					b.Fatal(err)
				}
			}
		}()
		after := heapAfterGC()
		if s.Count(home) != n {
			b.Fatalf("Count = %d", s.Count(home))
		}
		perRecord = float64(after-before) / n
		runtime.KeepAlive(s)
		s.Close()
	}
	b.ReportMetric(perRecord, "bytes/record")
}

// BenchmarkApplySnapshot100k applies a 100,000-record snapshot in chunks
// of 1,000, as the federation stream delivers it.
func BenchmarkApplySnapshot100k(b *testing.B) {
	batches := chunks(realistic(home, 100_000), 1000)
	for _, im := range []struct {
		name string
		open func(b *testing.B) Store
	}{
		{name: ModeMemory, open: func(*testing.B) Store { return NewMemory() }},
		{name: ModeDurable, open: func(b *testing.B) Store {
			s, err := OpenDurable(filepath.Join(b.TempDir(), "backups.db"))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	} {
		b.Run(im.name, func(b *testing.B) {
			s := im.open(b)
			defer s.Close()
			for b.Loop() {
				for _, batch := range batches {
					if err := s.Apply(b.Context(), home, batch); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(100_000, "records/op")
		})
	}
}
