package sdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk/admission"
)

// ErrWrongSite is returned by View.Run when the host sends the view of
// another site than the View's.
var ErrWrongSite = errors.New("sdk: view of another site")

// Backoff between two watches of the view (View.Run).
const (
	viewMinBackoff = 50 * time.Millisecond
	viewMaxBackoff = 5 * time.Second
)

var errStreamEnded = errors.New("sdk: view stream ended")

// View is a plugin's local admission view, kept current by Host.WatchView,
// so that admission is decided without a round trip per request
// (DESIGN §2). Decide with v.Table().Decide; keep the licence accounting
// with v.Table().Registered and Unregistered: snapshots and changes
// replace phones, peers and the licence total, never the registrations.
//
// While the stream is down (until Run re-watches) the table keeps the
// last view it had; the snapshot that follows a re-watch replaces it
// whole.
type View struct {
	table *admission.Table
	ready chan struct{}
	once  sync.Once

	mu     sync.Mutex
	logger *slog.Logger
	// onPhone is told of each phone a change put or removed (SetOnPhone).
	onPhone func(PhoneChanged)
	// homes and peers are what the table holds from the stream, so that a
	// snapshot can drop what it no longer lists.
	homes map[string]struct{}
	peers map[string]struct{}
}

// NewView returns an empty view for the site self (Config.Site).
func NewView(self string) *View {
	return &View{
		table:  admission.NewTable(self),
		ready:  make(chan struct{}),
		logger: Logger().With("component", "view"),
		homes:  make(map[string]struct{}),
		peers:  make(map[string]struct{}),
	}
}

// SetLogger sets the logger Run reports stream trouble to (by default
// Logger()). Call it before Run.
func (v *View) SetLogger(l *slog.Logger) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.logger = l
}

// PhoneChanged names a phone a view change put or removed, with the home
// it belongs to (for a removal, the home it had, "" if unknown).
type PhoneChanged struct {
	ID, Home string
}

// SetOnPhone sets a function told of every phone a change puts or
// removes (not of those a snapshot replaces), after the table has it: a
// plugin that caches something per phone, such as credentials, drops it
// there. It must not block. Call it before Run.
func (v *View) SetOnPhone(f func(PhoneChanged)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.onPhone = f
}

// Table returns the admission table the view keeps current. It is the
// same table for the life of the View.
func (v *View) Table() *admission.Table { return v.table }

// Ready returns a channel closed once the first snapshot is applied.
func (v *View) Ready() <-chan struct{} { return v.ready }

// Run watches the view on h and applies the snapshot and the changes to
// Table until ctx ends, then returns nil. When the stream fails or ends it
// watches again, with a backoff from 50 ms doubling to 5 s (reset by every
// snapshot applied). It returns an error wrapping ErrWrongSite, and stops,
// if the host sends the view of another site. Run one Run at a time.
func (v *View) Run(ctx context.Context, h Host) error {
	backoff := viewMinBackoff
	for {
		synced, err := v.watch(ctx, h)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrWrongSite) {
			return err
		}
		if synced {
			backoff = viewMinBackoff
		}
		v.log().Warn("admission view stream lost; watching again", "error", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, viewMaxBackoff)
	}
}

func (v *View) log() *slog.Logger {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.logger
}

// watch runs one WatchView stream; synced tells whether it applied a
// snapshot.
func (v *View) watch(ctx context.Context, h Host) (synced bool, err error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := h.WatchView(wctx)
	if err != nil {
		return false, err
	}
	for {
		var u ViewUpdate
		var ok bool
		select {
		case <-ctx.Done():
			return synced, ctx.Err()
		case u, ok = <-ch:
		}
		switch {
		case !ok:
			return synced, errStreamEnded
		case u.Err != nil:
			return synced, u.Err
		case u.Snapshot != nil:
			if err := v.applySnapshot(u.Snapshot); err != nil {
				return synced, err
			}
			synced = true
			v.once.Do(func() { close(v.ready) })
		case u.Change != nil:
			v.applyChange(u.Change)
		}
	}
}

// applySnapshot replaces the table's phones, peers and licence total with
// those of s. Entries the table refuses (no id, no site) are logged and
// skipped.
func (v *View) applySnapshot(s *ViewSnapshot) error {
	if self := v.table.Self(); s.Site != self {
		return fmt.Errorf("%w: snapshot of %q, this view is of %q", ErrWrongSite, s.Site, self)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	byHome := make(map[string][]admission.PhoneEntry)
	for _, p := range s.Phones {
		if p.ID == "" {
			v.logger.Warn("admission view: phone without id skipped", "home", p.Home, "user", p.User)
			continue
		}
		byHome[p.Home] = append(byHome[p.Home], p)
	}
	for home := range v.homes {
		if _, ok := byHome[home]; !ok {
			_ = v.table.ResetHome(home, nil) // cannot fail without entries
			delete(v.homes, home)
		}
	}
	for home, entries := range byHome {
		// Cannot fail: every entry has an id and belongs to home.
		_ = v.table.ResetHome(home, entries)
		v.homes[home] = struct{}{}
	}

	peers := make(map[string]struct{}, len(s.Peers))
	for _, p := range s.Peers {
		if err := v.table.SetPeer(p); err != nil {
			v.logger.Warn("admission view: peer skipped", "error", err)
			continue
		}
		peers[p.Site] = struct{}{}
	}
	for site := range v.peers {
		if _, ok := peers[site]; !ok {
			v.table.RemovePeer(site)
		}
	}
	v.peers = peers
	v.table.SetLicenses(s.Licenses)
	return nil
}

// applyChange applies one change; one the table refuses is logged and
// skipped.
func (v *View) applyChange(c *ViewChange) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case c.PutPhone != nil:
		if err := v.table.PutPhone(*c.PutPhone); err != nil {
			v.logger.Warn("admission view: change skipped", "error", err)
			return
		}
		v.homes[c.PutPhone.Home] = struct{}{}
		if v.onPhone != nil {
			v.onPhone(PhoneChanged{ID: c.PutPhone.ID, Home: c.PutPhone.Home})
		}
	case c.RemovePhone != "":
		old, _ := v.table.Phone(c.RemovePhone)
		v.table.RemovePhone(c.RemovePhone)
		if v.onPhone != nil {
			v.onPhone(PhoneChanged{ID: c.RemovePhone, Home: old.Home})
		}
	case c.PutPeer != nil:
		if err := v.table.SetPeer(*c.PutPeer); err != nil {
			v.logger.Warn("admission view: change skipped", "error", err)
			return
		}
		v.peers[c.PutPeer.Site] = struct{}{}
	case c.RemovePeer != "":
		v.table.RemovePeer(c.RemovePeer)
		delete(v.peers, c.RemovePeer)
	case c.Licenses != nil:
		v.table.SetLicenses(*c.Licenses)
	}
}

// ProtocolHealth is the health of a protocol plugin whose listeners are
// up (failed nil) or have failed, and whose admission decisions need v:
// not serving after a failure, starting until v has its first snapshot
// (the plugin then answers nothing for good: not a failure), else serving.
func ProtocolHealth(v *View, failed error) Health {
	if failed != nil {
		return Health{Message: failed.Error()}
	}
	select {
	case <-v.Ready():
		return Health{Serving: true}
	default:
		return Health{Starting: true, Message: "admission view not loaded yet"}
	}
}
