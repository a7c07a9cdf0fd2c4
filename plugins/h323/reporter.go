package h323plugin

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
)

// reporter sends registration and call-state reports to the host off the
// request path. Reports of one phone coalesce (the latest wins), and a
// refresh of a registration already reported is sent again only when half
// its time to live has passed, so a registration storm does not become a
// report storm.
type reporter struct {
	host sdk.Host
	log  *slog.Logger

	mu       sync.Mutex
	pending  map[string]sdk.Registration
	busy     map[string]bool
	reported map[string]time.Time
	kick     chan struct{}
}

func newReporter(host sdk.Host, log *slog.Logger) *reporter {
	return &reporter{
		host: host, log: log,
		pending:  make(map[string]sdk.Registration),
		busy:     make(map[string]bool),
		reported: make(map[string]time.Time),
		kick:     make(chan struct{}, 1),
	}
}

func (rp *reporter) wake() {
	select {
	case rp.kick <- struct{}{}:
	default:
	}
}

// send queues r.
func (rp *reporter) send(r sdk.Registration) {
	rp.mu.Lock()
	rp.pending[r.PhoneID] = r
	rp.mu.Unlock()
	rp.wake()
}

// refresh queues r unless the phone's registration was reported recently
// enough.
func (rp *reporter) refresh(r sdk.Registration, now time.Time) {
	rp.mu.Lock()
	last, ok := rp.reported[r.PhoneID]
	due := !ok || now.Sub(last) > r.Expires.Sub(now)/2
	if due {
		rp.pending[r.PhoneID] = r
	}
	rp.mu.Unlock()
	if due {
		rp.wake()
	}
}

// callState queues whether the phone is in a call.
func (rp *reporter) callState(phoneID string, busy bool) {
	rp.mu.Lock()
	rp.busy[phoneID] = busy
	rp.mu.Unlock()
	rp.wake()
}

// reportConcurrency bounds the reports of a batch in flight at once.
const reportConcurrency = 8

func (rp *reporter) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-rp.kick:
		}
		rp.mu.Lock()
		batch, busy := rp.pending, rp.busy
		rp.pending = make(map[string]sdk.Registration, len(batch))
		rp.busy = make(map[string]bool)
		now := time.Now()
		for id, r := range batch {
			if r.Outcome == sdk.RegGone {
				delete(rp.reported, id)
			} else {
				rp.reported[id] = now
			}
		}
		rp.mu.Unlock()
		work := make(chan func())
		var wg sync.WaitGroup
		for range min(reportConcurrency, len(batch)+len(busy)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for f := range work {
					f()
				}
			}()
		}
		// Registrations first: a call state is kept only for a phone the
		// host holds.
		for _, r := range batch {
			work <- func() { rp.report(ctx, r) }
		}
		close(work)
		wg.Wait()
		for id, b := range busy {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := rp.host.ReportCallState(cctx, id, b); err != nil {
				rp.log.Warn("call state report failed", "phone", id, "error", err)
			}
			cancel()
		}
	}
}

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
	if err != nil && r.Outcome != sdk.RegGone {
		rp.mu.Lock()
		delete(rp.reported, r.PhoneID) // sent again at the next refresh
		rp.mu.Unlock()
	}
}
