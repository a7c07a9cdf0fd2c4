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
		batch := rp.pending
		rp.pending = make(map[string]sdk.Registration, len(batch))
		// Counted as reported from now on: a refresh while the batch is
		// being sent is not due again (a failed report undoes this).
		now := time.Now().UnixNano()
		for id, r := range batch {
			if r.Outcome != sdk.RegGone {
				rp.setReported(rp.phoneKey(id), now)
			}
		}
		rp.mu.Unlock()
		// A batch holds one report per phone: they go concurrently (the
		// connection to the host carries several at once for the cost of
		// about one), and a phone's next report waits for the next batch.
		work := make(chan sdk.Registration)
		var wg sync.WaitGroup
		for range min(reportConcurrency, len(batch)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range work {
					rp.report(ctx, r)
				}
			}()
		}
		for _, r := range batch {
			work <- r
		}
		close(work)
		wg.Wait()
	}
}

// reportConcurrency bounds the reports of a batch in flight at once.
const reportConcurrency = 8

func (rp *reporter) report(ctx context.Context, r sdk.Registration) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	ok, reason, err := rp.host.ReportRegistration(cctx, r)
	cancel()
	switch {
	case err != nil:
		rp.log.Warn("registration report failed", "phone", r.PhoneID, "error", err)
	case !ok:
		rp.log.Warn("host refused a registration report", "phone", r.PhoneID, "reason", reason)
	}
	if r.Outcome == sdk.RegGone || err != nil {
		rp.setReported(rp.phoneKey(r.PhoneID), -1) // a failed report is sent again at the next refresh
	}
}
