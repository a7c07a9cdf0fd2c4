package registrar

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

const benchAORs = 100_000

// benchReq is a realistic REGISTER for user i: field sizes as a desk phone
// sends them.
func benchReq(i int, callID string, cseq uint32) (string, Request) {
	return fmt.Sprintf("sip:%d@voip.example", 100000+i), Request{
		CallID:        callID,
		CSeq:          cseq,
		Contacts:      []ContactReq{{URI: fmt.Sprintf("sip:%d@10.%d.%d.%d:5060;transport=udp", 100000+i, i>>16&255, i>>8&255, i&255), Expires: Absent, Q: Absent}},
		HeaderExpires: 3600,
		PhoneID:       fmt.Sprint(100000 + i),
		Transport:     "udp",
		Source:        fmt.Sprintf("10.%d.%d.%d:5060", i>>16&255, i>>8&255, i&255),
		UserAgent:     "Yealink SIP-T46S 66.86.0.15",
	}
}

func benchCallID(i, gen int) string {
	return fmt.Sprintf("%08x-%04x@10.%d.%d.%d", i*7919+gen, gen, i>>16&255, i>>8&255, i&255)
}

// BenchmarkUpdateParallel: REGISTERs from all cores into a registrar
// holding 100k AORs (one binding each). ns/op is wall time per update with
// GOMAXPROCS goroutines, so updates/s = 1e9 / ns/op.
//
//   - refresh: same Call-ID, CSeq+1 (a phone refreshing its registration);
//   - new-call-id: a new Call-ID every time, as SIPp's register-digest
//     scenario sends (and a phone after a restart): the binding's strings
//     are copied anew.
func BenchmarkUpdateParallel(b *testing.B) {
	for _, mode := range []string{"refresh", "new-call-id"} {
		b.Run(mode, func(b *testing.B) {
			r := New(Config{})
			aors := make([]string, benchAORs)
			reqs := make([]Request, benchAORs)
			const gens = 4 // Call-IDs per AOR, cycled in new-call-id
			callIDs := make([][gens]string, benchAORs)
			for i := range reqs {
				for g := range gens {
					callIDs[i][g] = benchCallID(i, g)
				}
				aors[i], reqs[i] = benchReq(i, callIDs[i][0], 1)
				if _, err := r.Update(aors[i], reqs[i], t0); err != nil {
					b.Fatal(err)
				}
			}
			procs := int64(runtime.GOMAXPROCS(0))
			var ids atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine owns the AORs ≡ id (mod procs): CSeqs
				// grow per AOR without races between goroutines.
				id := ids.Add(1) - 1
				var buf []Binding
				i, sweep := int(id%procs), 0
				for pb.Next() {
					req := reqs[i]
					req.CSeq = uint32(sweep + 2)
					if mode == "new-call-id" {
						req.CallID = callIDs[i][(sweep+1)%gens]
					}
					req.Buf = buf
					res, err := r.Update(aors[i], req, t0.Add(time.Duration(sweep)*time.Millisecond))
					if err != nil {
						b.Error(err)
						return
					}
					buf = res.Bindings
					if i += int(procs); i >= benchAORs {
						i, sweep = int(id%procs), sweep+1
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
		})
	}
}

// BenchmarkMemoryPerBinding: heap held by a registrar with 100k bindings
// (100k AORs, one desk phone each), after GC, per binding. The requests'
// own strings are garbage by then: only what the registrar keeps counts.
func BenchmarkMemoryPerBinding(b *testing.B) {
	var perBinding float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := New(Config{})
		for i := range benchAORs {
			aor, req := benchReq(i, benchCallID(i, 0), 1)
			if _, err := r.Update(aor, req, t0); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if _, n := r.Count(); n != benchAORs {
			b.Fatalf("%d bindings", n)
		}
		perBinding = float64(after.HeapAlloc-before.HeapAlloc) / benchAORs
		runtime.KeepAlive(r)
	}
	b.ReportMetric(perBinding, "bytes/binding")
}
