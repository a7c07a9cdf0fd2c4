// Package events fans a site's state-change events out to watchers
// (`rally status --watch`, the admin API's WatchEvents) and keeps the
// most recent ones for late joiners.
package events

import (
	"sync"
	"time"
)

// Event is one state change.
type Event struct {
	Time    time.Time
	Kind    string // peer_state | resilience | failback | link | refusal | record
	Peer    string
	From    string
	To      string
	Message string
}

// Bus delivers events to subscribers. A subscriber that does not keep up
// loses events (counted by OnDrop) rather than slowing the site.
type Bus struct {
	mu     sync.Mutex
	subs   map[chan Event]struct{}
	recent []Event
	keep   int
	OnDrop func()
}

// NewBus returns a bus that keeps the last keep events.
func NewBus(keep int) *Bus {
	return &Bus{subs: make(map[chan Event]struct{}), keep: keep}
}

// Publish delivers e to every subscriber without blocking.
func (b *Bus) Publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.recent = append(b.recent, e)
	if len(b.recent) > b.keep {
		b.recent = b.recent[len(b.recent)-b.keep:]
	}
	for ch := range b.subs {
		select {
		case ch <- e:
		default:
			if b.OnDrop != nil {
				b.OnDrop()
			}
		}
	}
}

// Subscribe returns a channel of events from now on and a cancel func that
// closes it.
func (b *Bus) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 256)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, ch)
			b.mu.Unlock()
			close(ch)
		})
	}
}

// Recent returns the kept events, oldest first.
func (b *Bus) Recent() []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Event(nil), b.recent...)
}
