package sipplugin

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
)

// callMaxAge bounds how long a call counts as in progress without a BYE
// (both phones died, or a BYE took another path): the phones are then
// idle again, so that graceful failback is not held up for ever.
const callMaxAge = 12 * time.Hour

// calls is the call state of the phones of this site, as the proxy sees
// it: a phone is busy from the 2xx of an INVITE that set up a dialog
// through the proxy (as caller or callee) until a BYE of that dialog
// passes, or its registration here ends. A phone in several calls is
// busy until the last ends. Changes are reported to the host off the
// request path (coalesced per phone, the latest wins), and busy feeds the
// admission rule: graceful failback keeps a busy guest (DESIGN §1.10).
//
// A registration refresh, or its refusal, never ends a call: the proxy
// sends no BYE of its own (DESIGN §1.8, media preservation).
type calls struct {
	host sdk.Host
	log  *slog.Logger

	active atomic.Int64 // calls in progress: 0 lets busy skip the lock
	mu     sync.RWMutex
	byID   map[string]*call // by Call-ID
	busyN  map[string]int   // phone id -> calls in progress

	pmu     sync.Mutex
	pending map[string]bool // phone id -> busy, to report
	kick    chan struct{}
}

type call struct {
	phones []string
	start  time.Time
}

func newCalls(host sdk.Host, log *slog.Logger) *calls {
	return &calls{host: host, log: log, byID: make(map[string]*call), busyN: make(map[string]int),
		pending: make(map[string]bool), kick: make(chan struct{}, 1)}
}

// busy reports whether the phone is in a call. It is on the REGISTER path:
// without calls it takes no lock.
func (c *calls) busy(phoneID string) bool {
	if c == nil || c.active.Load() == 0 {
		return false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.busyN[phoneID] > 0
}

// started records the dialog callID between phones (this site's phones in
// it: none, one or two; "" is skipped). A second 2xx of the same Call-ID
// (a fork, a retransmission) adds only phones not in it yet.
func (c *calls) started(callID string, now time.Time, phones ...string) {
	c.mu.Lock()
	cl := c.byID[callID]
	if cl == nil {
		cl = &call{start: now}
		c.byID[callID] = cl
		c.active.Add(1)
	}
	var changed []string
	for _, id := range phones {
		if id == "" || contains(cl.phones, id) {
			continue
		}
		cl.phones = append(cl.phones, id)
		c.busyN[id]++
		if c.busyN[id] == 1 {
			changed = append(changed, id)
		}
	}
	c.mu.Unlock()
	c.queue(changed, true)
}

// ended ends the dialog callID (a BYE passed); unknown Call-IDs are
// ignored.
func (c *calls) ended(callID string) {
	c.mu.Lock()
	cl := c.byID[callID]
	var idle []string
	if cl != nil {
		delete(c.byID, callID)
		c.active.Add(-1)
		idle = c.releaseLocked(cl.phones, idle)
	}
	c.mu.Unlock()
	c.queue(idle, false)
}

// phoneGone ends the calls of a phone whose registration here ended: a
// phone that re-registers at its home has no call through this proxy any
// more that this site could see end.
func (c *calls) phoneGone(phoneID string) {
	if !c.busy(phoneID) {
		return
	}
	c.mu.Lock()
	var idle []string
	for id, cl := range c.byID {
		if contains(cl.phones, phoneID) {
			delete(c.byID, id)
			c.active.Add(-1)
			idle = c.releaseLocked(cl.phones, idle)
		}
	}
	c.mu.Unlock()
	c.queue(idle, false)
}

// sweep ends calls older than callMaxAge.
func (c *calls) sweep(now time.Time) {
	if c.active.Load() == 0 {
		return
	}
	c.mu.Lock()
	var idle []string
	for id, cl := range c.byID {
		if now.Sub(cl.start) > callMaxAge {
			delete(c.byID, id)
			c.active.Add(-1)
			idle = c.releaseLocked(cl.phones, idle)
		}
	}
	c.mu.Unlock()
	c.queue(idle, false)
}

func (c *calls) releaseLocked(phones, idle []string) []string {
	for _, id := range phones {
		c.busyN[id]--
		if c.busyN[id] <= 0 {
			delete(c.busyN, id)
			idle = append(idle, id)
		}
	}
	return idle
}

// count returns the calls in progress.
func (c *calls) count() int { return int(c.active.Load()) }

func (c *calls) queue(phones []string, busy bool) {
	if len(phones) == 0 {
		return
	}
	c.pmu.Lock()
	for _, id := range phones {
		c.pending[id] = busy
	}
	c.pmu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// run reports call state changes to the host until ctx ends, and ends
// calls older than callMaxAge.
func (c *calls) run(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			c.sweep(now)
			continue
		case <-c.kick:
		}
		c.pmu.Lock()
		batch := c.pending
		c.pending = make(map[string]bool, len(batch))
		c.pmu.Unlock()
		for id, busy := range batch {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := c.host.ReportCallState(cctx, id, busy)
			cancel()
			if err != nil && ctx.Err() == nil {
				c.log.Warn("call state report failed", "phone", id, "busy", busy, "error", err)
			}
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
