package pluginhost

import (
	"context"
	"sync"

	"github.com/rallyvoip/rally/plugins/sdk"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// Backend is the daemon side of the plugin host service: what the site
// lets its plugins see and tell. Its methods must be safe for concurrent
// use; they are called from the gRPC servers of every plugin.
type Backend interface {
	// ViewSnapshot returns the whole admission view.
	ViewSnapshot() sdk.ViewSnapshot
	// SubscribeView returns the changes to the view from now on and a
	// function that ends the subscription. The backend closes the channel
	// when the subscriber falls behind; the host then resyncs the plugin
	// with a fresh snapshot. A change may also be in a snapshot taken
	// after subscribing: changes are idempotent.
	SubscribeView() (<-chan sdk.ViewChange, func())
	// GetRecord looks up one record: this site's own (home "" or this
	// site), or a held backup record of a peer.
	GetRecord(home, key string) (*federationv1.Record, error)
	// ReportRegistration records a registration reported by a plugin; it
	// refuses (false, reason) a home registration over the licence count.
	ReportRegistration(r sdk.Registration) (accepted bool, reason string)
	// ReportCallState records whether a phone is in a call.
	ReportCallState(phoneID string, busy bool)
	// Registrations lists the registrations held for protocol, for a
	// restarted plugin to restore.
	Registrations(protocol string) []sdk.Registration
	// Credentials lists the HA1 values of every phone of home ("" or this
	// site for its own); a home whose records are not held wraps
	// sdk.ErrNotFound.
	Credentials(home string) ([]sdk.Credentials, error)
}

// hostAdapter serves a Backend to one plugin instance as sdk.Host. Its
// watch streams end when the instance ends (done) or the plugin cancels.
type hostAdapter struct {
	b    Backend
	done <-chan struct{}
}

var _ sdk.Host = (*hostAdapter)(nil)

// WatchView sends a snapshot, then every change, until ctx ends or the
// instance stops; the channel is then closed. When the backend drops the
// subscription (the plugin fell behind) it resubscribes and sends a fresh
// snapshot, so the plugin's view is always eventually exact.
func (h *hostAdapter) WatchView(ctx context.Context) (<-chan sdk.ViewUpdate, error) {
	out := make(chan sdk.ViewUpdate, 16)
	changes, cancel := h.b.SubscribeView()
	go func() {
		defer close(out)
		defer func() { cancel() }()
		send := func(u sdk.ViewUpdate) bool {
			select {
			case out <- u:
				return true
			case <-ctx.Done():
			case <-h.done:
			}
			return false
		}
		for {
			snap := h.b.ViewSnapshot()
			if !send(sdk.ViewUpdate{Snapshot: &snap}) {
				return
			}
			for resync := false; !resync; {
				select {
				case <-ctx.Done():
					return
				case <-h.done:
					return
				case c, ok := <-changes:
					if !ok {
						cancel()
						changes, cancel = h.b.SubscribeView()
						resync = true
						continue
					}
					if !send(sdk.ViewUpdate{Change: &c}) {
						return
					}
				}
			}
		}
	}()
	return out, nil
}

func (h *hostAdapter) GetRecord(_ context.Context, home, key string) (*federationv1.Record, error) {
	return h.b.GetRecord(home, key)
}

func (h *hostAdapter) ReportRegistration(_ context.Context, r sdk.Registration) (bool, string, error) {
	ok, reason := h.b.ReportRegistration(r)
	return ok, reason, nil
}

func (h *hostAdapter) ReportRegistrations(_ context.Context, rs []sdk.Registration) ([]sdk.ReportResult, error) {
	out := make([]sdk.ReportResult, len(rs))
	for i, r := range rs {
		out[i].Accepted, out[i].Reason = h.b.ReportRegistration(r)
	}
	return out, nil
}

func (h *hostAdapter) ListRegistrations(_ context.Context, protocol string) ([]sdk.Registration, error) {
	return h.b.Registrations(protocol), nil
}

func (h *hostAdapter) ListCredentials(_ context.Context, home string) ([]sdk.Credentials, error) {
	return h.b.Credentials(home)
}

func (h *hostAdapter) ReportCallState(_ context.Context, phoneID string, busy bool) error {
	h.b.ReportCallState(phoneID, busy)
	return nil
}

// ViewFeed fans view changes out to the plugins' watch streams; a Backend
// may use it to implement SubscribeView. A subscriber that does not keep
// up is dropped (its channel closed) rather than slowing the publisher:
// the host then resyncs it from a snapshot.
type ViewFeed struct {
	buffer int

	mu   sync.Mutex
	subs map[chan sdk.ViewChange]struct{}
}

// NewViewFeed returns a feed whose subscribers buffer up to buffer changes.
func NewViewFeed(buffer int) *ViewFeed {
	return &ViewFeed{buffer: max(buffer, 1), subs: make(map[chan sdk.ViewChange]struct{})}
}

// Publish delivers c to every subscriber without blocking.
func (f *ViewFeed) Publish(c sdk.ViewChange) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- c:
		default:
			delete(f.subs, ch)
			close(ch)
		}
	}
}

// Resync drops every subscriber, so each resyncs from a fresh snapshot:
// for a change that is not one of ViewChange's (a home's phones replaced
// at once).
func (f *ViewFeed) Resync() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		delete(f.subs, ch)
		close(ch)
	}
}

// Subscribe returns the changes published from now on and a function that
// ends the subscription (safe to call more than once).
func (f *ViewFeed) Subscribe() (<-chan sdk.ViewChange, func()) {
	ch := make(chan sdk.ViewChange, f.buffer)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.subs[ch]; ok {
			delete(f.subs, ch)
			close(ch)
		}
	}
}
