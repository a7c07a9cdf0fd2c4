package backupstore

import (
	"context"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// Memory is the default backup store: records live only in this process's
// memory, so credentials of another site never touch this site's disk and
// a restart loses them (Held then reports ok=false and the resilience
// layer reports the home as lost).
type Memory struct{ e *engine }

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store.
func NewMemory() *Memory { return &Memory{e: newEngine(ModeMemory, nil, nil)} }

// Apply implements [Store.Apply].
func (m *Memory) Apply(ctx context.Context, home string, b *federationv1.RecordBatch) error {
	return m.e.Apply(ctx, home, b)
}

// Held implements [Store.Held].
func (m *Memory) Held(home string) (uint64, bool) { return m.e.Held(home) }

// Full implements [Store.Full].
func (m *Memory) Full(home string) bool { return m.e.Full(home) }

// Get implements [Store.Get].
func (m *Memory) Get(home, key string) (*federationv1.Record, bool) { return m.e.Get(home, key) }

// Count implements [Store.Count].
func (m *Memory) Count(home string) int { return m.e.Count(home) }

// Homes implements [Store.Homes].
func (m *Memory) Homes() []string { return m.e.Homes() }

// Each implements [Store.Each].
func (m *Memory) Each(home string, fn func(*federationv1.Record) bool) { m.e.Each(home, fn) }

// Forget implements [Store.Forget].
func (m *Memory) Forget(home string) error { return m.e.Forget(home) }

// Watch implements [Store.Watch].
func (m *Memory) Watch(fn WatchFunc) { m.e.Watch(fn) }

// Mode implements [Store.Mode]; it is [ModeMemory].
func (m *Memory) Mode() string { return m.e.Mode() }

// Close implements [Store.Close].
func (m *Memory) Close() error { return m.e.Close() }
