package sipplugin

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
)

// reporter sends registration reports to the host off the request path.
// Reports of one phone coalesce (the latest wins), and a refresh of a
// registration already reported is sent again only when half its expiry
// has passed, so a registration storm does not become a report storm.
type reporter struct {
	host sdk.Host
	log  *slog.Logger

	mu      sync.Mutex
	pending map[string]sdk.Registration
	kick    chan struct{}

	// reported: when each phone's registration was last reported (Unix
	// ns), keyed by a hash of the phone id (phoneKey), in shards: every
	// refresh looks here, from every core, and an integer key saves
	// comparing strings (a cache miss).
	seed     maphash.Seed
	reported [reportedShards]reportedShard
}

const reportedShards = 16

type reportedShard struct {
	mu sync.Mutex
	m  map[uint64]int64
	_  [64]byte
}

func (rp *reporter) phoneKey(id string) uint64 { return maphash.String(rp.seed, id) }

// lastReported returns when the phone with key k was last reported.
func (rp *reporter) lastReported(k uint64) (int64, bool) {
	sh := &rp.reported[k%reportedShards]
	sh.mu.Lock()
	t, ok := sh.m[k]
	sh.mu.Unlock()
	return t, ok
}

// setReported records a report of the phone with key k at t (Unix ns);
// forget (t < 0) removes the phone.
func (rp *reporter) setReported(k uint64, t int64) {
	sh := &rp.reported[k%reportedShards]
	sh.mu.Lock()
	if t < 0 {
		delete(sh.m, k)
	} else {
		sh.m[k] = t
	}
	sh.mu.Unlock()
}

func newReporter(host sdk.Host, log *slog.Logger) *reporter {
	rp := &reporter{
		host: host, log: log,
		pending: make(map[string]sdk.Registration),
		seed:    maphash.MakeSeed(),
		kick:    make(chan struct{}, 1),
	}
	for i := range rp.reported {
		rp.reported[i].m = make(map[uint64]int64)
	}
	return rp
}

// send queues r; refresh says whether it only refreshes a reported one.
func (rp *reporter) send(r sdk.Registration) {
	rp.mu.Lock()
	rp.pending[r.PhoneID] = r
	rp.mu.Unlock()
	select {
	case rp.kick <- struct{}{}:
	default:
	}
}

// refresh queues r unless the phone's registration was reported recently
// enough.
func (rp *reporter) refresh(r sdk.Registration, now time.Time) {
	last, ok := rp.lastReported(rp.phoneKey(r.PhoneID))
	due := !ok || now.UnixNano()-last > int64(r.Expires.Sub(now)/2)
	if due {
		rp.send(r)
	}
}

func (rp *reporter) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-rp.kick:
		}
		rp.mu.Lock()
		batch := make([]sdk.Registration, 0, len(rp.pending))
		for _, r := range rp.pending {
			batch = append(batch, r)
		}
		// A new map: a map keeps its buckets after a storm is drained.
		rp.pending = make(map[string]sdk.Registration)
		// Counted as reported from now on: a refresh while the batch is
		// being sent is not due again (a failed report undoes this).
		now := time.Now().UnixNano()
		for _, r := range batch {
			if r.Outcome != sdk.RegGone {
				rp.setReported(rp.phoneKey(r.PhoneID), now)
			}
		}
		rp.mu.Unlock()
		// A batch holds one report per phone; it goes in calls of up to
		// reportChunk reports, a few at once, and a phone's next report
		// waits for the next batch.
		work := make(chan []sdk.Registration)
		var wg sync.WaitGroup
		for range min(reportConcurrency, (len(batch)+reportChunk-1)/reportChunk) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for rs := range work {
					rp.report(ctx, rs)
				}
			}()
		}
		for len(batch) > 0 {
			n := min(len(batch), reportChunk)
			work <- batch[:n]
			batch = batch[n:]
		}
		close(work)
		wg.Wait()
	}
}

// reportChunk is how many reports one call carries; reportConcurrency how
// many calls of a batch are in flight at once.
const (
	reportChunk       = 512
	reportConcurrency = 4
)

func (rp *reporter) report(ctx context.Context, rs []sdk.Registration) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	results, err := rp.host.ReportRegistrations(cctx, rs)
	cancel()
	if err != nil {
		rp.log.Warn("registration reports failed", "reports", len(rs), "first_phone", rs[0].PhoneID, "error", err)
	}
	for i, r := range rs {
		if err == nil && !results[i].Accepted {
			rp.log.Warn("host refused a registration report", "phone", r.PhoneID, "reason", results[i].Reason)
		}
		if r.Outcome == sdk.RegGone || err != nil {
			rp.setReported(rp.phoneKey(r.PhoneID), -1) // a failed report is sent again at the next refresh
		}
	}
}
