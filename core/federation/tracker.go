package federation

import (
	"sync"
	"sync/atomic"
	"time"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// Tracker follows one peer's link: last frame, last ack, last error,
// revisions and plugin health. It feeds status and metrics.
type Tracker struct {
	lastHeard atomic.Int64 // unix nanos of the last frame from the peer

	mu           sync.Mutex
	connected    bool
	since        time.Time
	lastErr      string
	remote       *federationv1.Hello
	relation     Relation
	refusal      *federationv1.Refusal
	acked        uint64 // our revision the peer acknowledged
	sent         uint64 // our revision sent to the peer
	peerRevision uint64 // the peer's revision, from its heartbeats
	plugins      map[string]federationv1.PluginHealth
}

// TrackerSnapshot is a copy of a Tracker's state.
type TrackerSnapshot struct {
	Addr         string
	Connected    bool
	Since        time.Time
	LastHeard    time.Time
	LastError    string
	Remote       *federationv1.Hello
	Relation     Relation
	Refusal      *federationv1.Refusal
	Acked        uint64
	Sent         uint64
	PeerRevision uint64
	Plugins      map[string]federationv1.PluginHealth
}

func newTracker() *Tracker { return &Tracker{} }

// LastHeard is the time of the last frame from the peer (zero if never).
func (t *Tracker) LastHeard() time.Time {
	n := t.lastHeard.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func (t *Tracker) heard(now time.Time) { t.lastHeard.Store(now.UnixNano()) }

// Snapshot copies the tracker's state.
func (t *Tracker) Snapshot() TrackerSnapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	plugins := make(map[string]federationv1.PluginHealth, len(t.plugins))
	for k, v := range t.plugins {
		plugins[k] = v
	}
	return TrackerSnapshot{
		Connected:    t.connected,
		Since:        t.since,
		LastHeard:    t.LastHeard(),
		LastError:    t.lastErr,
		Remote:       t.remote,
		Relation:     t.relation,
		Refusal:      t.refusal,
		Acked:        t.acked,
		Sent:         t.sent,
		PeerRevision: t.peerRevision,
		Plugins:      plugins,
	}
}

// SetError records err as the link's last error.
func (t *Tracker) SetError(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.lastErr = err.Error()
	}
}

func (t *Tracker) setConnected(remote *federationv1.Hello, rel Relation, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.connected = true
	t.since = now
	t.remote = remote
	t.relation = rel
	t.refusal = nil
	t.lastErr = ""
}

func (t *Tracker) setDisconnected(err error, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.connected {
		t.since = now
	}
	t.connected = false
	if err != nil {
		t.lastErr = err.Error()
	}
}

func (t *Tracker) setRefusal(r *federationv1.Refusal, remote *federationv1.Hello) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refusal = r
	if remote != nil {
		t.remote = remote
	}
	t.lastErr = r.GetMessage()
}

func (t *Tracker) setAcked(rev uint64) {
	t.mu.Lock()
	t.acked = max(t.acked, rev)
	t.mu.Unlock()
}

func (t *Tracker) setSent(rev uint64) {
	t.mu.Lock()
	t.sent = rev
	t.mu.Unlock()
}

func (t *Tracker) setHeartbeat(hb *federationv1.Heartbeat) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.peerRevision = max(t.peerRevision, hb.GetRevision())
	t.plugins = hb.GetPlugins()
}
