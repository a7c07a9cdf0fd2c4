package events

import (
	"testing"
	"time"
)

func TestBusDeliversAndDropsForSlowWatchers(t *testing.T) {
	b := NewBus(3)
	dropped := 0
	b.OnDrop = func() { dropped++ }
	fast, cancelFast := b.Subscribe()
	slow, cancelSlow := b.Subscribe()
	defer cancelSlow()
	for i := range 300 {
		b.Publish(Event{Time: time.Unix(int64(i), 0), Kind: "peer_state"})
		<-fast
	}
	if dropped != 300-256 {
		t.Fatalf("dropped %d, want %d (the slow watcher's buffer is 256)", dropped, 300-256)
	}
	if len(slow) != 256 {
		t.Fatalf("slow watcher holds %d", len(slow))
	}
	if got := b.Recent(); len(got) != 3 || got[2].Time.Unix() != 299 {
		t.Fatalf("recent: %v", got)
	}
	cancelFast()
	cancelFast() // idempotent
	if _, ok := <-fast; ok {
		t.Fatal("cancelled channel still open")
	}
	b.Publish(Event{Kind: "after"}) // no send on the closed channel
}
