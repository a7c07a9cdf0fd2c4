package sipplugin

import (
	"context"
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

	mu       sync.Mutex
	pending  map[string]sdk.Registration
	reported map[string]time.Time // phone → when its registration was last reported
	kick     chan struct{}
}

func newReporter(host sdk.Host, log *slog.Logger) *reporter {
	return &reporter{
		host: host, log: log,
		pending:  make(map[string]sdk.Registration),
		reported: make(map[string]time.Time),
		kick:     make(chan struct{}, 1),
	}
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
	rp.mu.Lock()
	last, ok := rp.reported[r.PhoneID]
	due := !ok || now.Sub(last) > r.Expires.Sub(now)/2
	rp.mu.Unlock()
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
		rp.mu.Unlock()
		for _, r := range batch {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			ok, reason, err := rp.host.ReportRegistration(cctx, r)
			cancel()
			switch {
			case err != nil:
				rp.log.Warn("registration report failed", "phone", r.PhoneID, "error", err)
			case !ok:
				rp.log.Warn("host refused a registration report", "phone", r.PhoneID, "reason", reason)
			}
			rp.mu.Lock()
			if r.Outcome == sdk.RegGone {
				delete(rp.reported, r.PhoneID)
			} else {
				rp.reported[r.PhoneID] = time.Now()
			}
			rp.mu.Unlock()
		}
	}
}
