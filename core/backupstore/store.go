package backupstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/rallyvoip/rally/core/directory"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Modes reported by [Store.Mode].
const (
	ModeMemory  = "memory"
	ModeDurable = "durable"
)

// Sentinel errors; returned errors wrap them with detail.
var (
	// ErrWrongHome: a record's home_site is not the home it was applied for.
	ErrWrongHome = errors.New("backupstore: record of another home")
	// ErrInvalidBatch: a malformed batch or record.
	ErrInvalidBatch = errors.New("backupstore: invalid batch")
	// ErrSequence: the batch does not fit the snapshot/increment sequence;
	// the sender should start a new snapshot.
	ErrSequence = errors.New("backupstore: batch out of sequence")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("backupstore: store closed")
)

// Store holds the replicated records of peer sites, per home site. All
// methods are safe for concurrent use.
type Store interface {
	// Apply applies one RecordBatch received from home (see the package
	// documentation for the semantics).
	Apply(ctx context.Context, home string, b *federationv1.RecordBatch) error
	// Held is the revision of home's directory held here; ok is false when
	// no snapshot of home has completed since the store was opened (memory)
	// or ever (durable), or after Forget.
	Held(home string) (revision uint64, ok bool)
	// Full reports whether home's held records carry credentials.
	Full(home string) bool
	// Get returns a copy of home's record under key.
	Get(home, key string) (*federationv1.Record, bool)
	// Count is the number of records held for home.
	Count(home string) int
	// Homes lists the homes held, sorted.
	Homes() []string
	// Each calls fn with a copy of each record held for home, in key order,
	// until fn returns false. fn may call the store's read methods.
	Each(home string, fn func(*federationv1.Record) bool)
	// Forget drops everything held for home (the peer was unlinked).
	Forget(home string) error
	// Watch registers fn to receive every change after it commits; see
	// [WatchFunc].
	Watch(fn WatchFunc)
	// Mode is ModeMemory or ModeDurable.
	Mode() string
	// Close releases the store. Apply and Forget then fail with ErrClosed
	// and reads see nothing.
	Close() error
}

// ChangeKind tells what a [Change] reports.
type ChangeKind uint8

const (
	// ChangePut: Record is now held under Key (added or replaced).
	ChangePut ChangeKind = iota + 1
	// ChangeDelete: Key is no longer held; Record is the tombstone.
	ChangeDelete
	// ChangeReset: Home's whole copy was replaced (snapshot swap) or
	// dropped (Forget); Key and Record are empty. Rebuild from Each.
	ChangeReset
)

func (k ChangeKind) String() string {
	switch k {
	case ChangePut:
		return "put"
	case ChangeDelete:
		return "delete"
	case ChangeReset:
		return "reset"
	}
	return fmt.Sprintf("ChangeKind(%d)", k)
}

// Change is one committed change, delivered to a [WatchFunc].
type Change struct {
	Home   string
	Kind   ChangeKind
	Key    string
	Record *federationv1.Record // the watcher's own copy
}

// WatchFunc receives changes after they commit and are visible to reads.
// Calls are never concurrent and come in commit order, on the goroutine
// that called Apply or Forget, which waits for them: keep them short. A
// WatchFunc may read the store (Get, Each, Held, ...) but must not call
// Apply, Forget, Watch or Close, which would deadlock. Register watchers
// before the first Apply; one registered later starts from Each.
type WatchFunc func(Change)

// entry is one held record: its revision and its marshalled bytes. Holding
// bytes rather than proto objects keeps a record to a few hundred bytes.
type entry struct {
	rev  uint64
	data string
}

// homeCopy is what is held for one home.
type homeCopy struct {
	rev  uint64
	full bool
	recs map[string]entry
}

// staging is a snapshot being received.
type staging struct {
	full bool
	recs map[string]entry
}

// keyed is an entry with its key, in mutations and copies.
type keyed struct {
	key string
	entry
}

// mutation is one commit: an increment, a snapshot swap (reset) or a
// forget (reset with drop).
type mutation struct {
	home  string
	reset bool // replace home's records with puts
	drop  bool // remove home entirely
	rev   uint64
	full  bool
	puts  []keyed
	dels  []string
}

// persister makes a mutation durable in one transaction, before memory
// changes. nil for the memory store.
type persister interface {
	commit(m *mutation) error
	close() error
}

// engine is the shared implementation of Memory and Durable.
type engine struct {
	mode string

	// writeMu serialises Apply, Forget, Watch, Close and the watcher calls;
	// it guards staging, watchers, closed and persist, and makes reads of
	// homes safe without mu.
	writeMu  sync.Mutex
	staging  map[string]*staging
	watchers []WatchFunc
	closed   bool
	persist  persister

	// mu guards homes (and the homeCopy values) for readers.
	mu    sync.RWMutex
	homes map[string]*homeCopy
}

func newEngine(mode string, p persister, homes map[string]*homeCopy) *engine {
	if homes == nil {
		homes = make(map[string]*homeCopy)
	}
	return &engine{mode: mode, persist: p, homes: homes, staging: make(map[string]*staging)}
}

var marshalOpts = proto.MarshalOptions{Deterministic: true}

// incoming is a checked record of a batch.
type incoming struct {
	key     string
	rev     uint64
	deleted bool
	data    string
}

// check validates b's records for home and marshals them.
func check(home string, b *federationv1.RecordBatch) ([]incoming, error) {
	if home == "" {
		return nil, fmt.Errorf("%w: empty home", ErrInvalidBatch)
	}
	if b == nil {
		return nil, fmt.Errorf("%w: nil batch", ErrInvalidBatch)
	}
	out := make([]incoming, len(b.GetRecords()))
	for i, rec := range b.GetRecords() {
		if h := rec.GetHomeSite(); h != home {
			return nil, fmt.Errorf("%w: records[%d] %s has home %q, batch is from %q", ErrWrongHome, i, rec.GetKey(), h, home)
		}
		if rec.GetKey() == "" {
			return nil, fmt.Errorf("%w: records[%d] has no key", ErrInvalidBatch, i)
		}
		if rec.GetRevision() == 0 {
			return nil, fmt.Errorf("%w: records[%d] %s has no revision", ErrInvalidBatch, i, rec.GetKey())
		}
		if !rec.GetDeleted() {
			key, err := directory.KeyOf(rec)
			if err != nil {
				return nil, fmt.Errorf("%w: records[%d]: %v", ErrInvalidBatch, i, err)
			}
			if key != rec.GetKey() {
				return nil, fmt.Errorf("%w: records[%d] key %q does not match its body (%q)", ErrInvalidBatch, i, rec.GetKey(), key)
			}
		}
		data, err := marshalOpts.Marshal(rec)
		if err != nil {
			return nil, fmt.Errorf("%w: records[%d]: %v", ErrInvalidBatch, i, err)
		}
		out[i] = incoming{key: rec.GetKey(), rev: rec.GetRevision(), deleted: rec.GetDeleted(), data: string(data)}
	}
	return out, nil
}

// Apply implements [Store.Apply].
func (e *engine) Apply(ctx context.Context, home string, b *federationv1.RecordBatch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	recs, err := check(home, b)
	if err != nil {
		return err
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if e.closed {
		return ErrClosed
	}
	switch b.GetKind() {
	case federationv1.RecordBatchKind_RECORD_BATCH_KIND_SNAPSHOT:
		return e.applySnapshot(home, b, recs)
	case federationv1.RecordBatchKind_RECORD_BATCH_KIND_INCREMENT:
		if b.GetSnapshotBegin() || b.GetSnapshotEnd() {
			return fmt.Errorf("%w: increment from %s with snapshot flags", ErrInvalidBatch, home)
		}
		return e.applyIncrement(home, b, recs)
	}
	return fmt.Errorf("%w: batch kind %v", ErrInvalidBatch, b.GetKind())
}

func (e *engine) applySnapshot(home string, b *federationv1.RecordBatch, recs []incoming) error {
	st := e.staging[home]
	switch {
	case b.GetSnapshotBegin():
		st = &staging{full: b.GetFull(), recs: make(map[string]entry, len(recs))}
	case st == nil:
		return fmt.Errorf("%w: snapshot chunk from %s without snapshot_begin", ErrSequence, home)
	case st.full != b.GetFull():
		return fmt.Errorf("%w: snapshot chunk from %s with full=%v, snapshot began with full=%v", ErrInvalidBatch, home, b.GetFull(), st.full)
	}
	for _, r := range recs {
		cur, ok := st.recs[r.key]
		switch {
		case ok && cur.rev >= r.rev:
		case r.deleted:
			delete(st.recs, r.key)
		default:
			st.recs[r.key] = entry{rev: r.rev, data: r.data}
		}
	}
	e.staging[home] = st
	if !b.GetSnapshotEnd() {
		return nil
	}
	delete(e.staging, home)
	m := &mutation{home: home, reset: true, rev: b.GetRevision(), full: st.full, puts: make([]keyed, 0, len(st.recs))}
	for k, v := range st.recs {
		m.puts = append(m.puts, keyed{key: k, entry: v})
	}
	if e.persist != nil {
		if err := e.persist.commit(m); err != nil {
			return fmt.Errorf("backupstore: snapshot of %s: %w", home, err)
		}
	}
	e.mu.Lock()
	e.homes[home] = &homeCopy{rev: m.rev, full: m.full, recs: st.recs}
	e.mu.Unlock()
	e.notify(Change{Home: home, Kind: ChangeReset})
	return nil
}

func (e *engine) applyIncrement(home string, b *federationv1.RecordBatch, recs []incoming) error {
	// A sender finishes a snapshot before it sends increments, so an
	// increment after an unfinished snapshot means that snapshot's stream
	// ended: it is abandoned, and the sender resumed from the held copy.
	delete(e.staging, home)
	hc := e.homes[home] // writeMu held: no writer can change homes
	if hc == nil {
		return fmt.Errorf("%w: increment from %s before any snapshot", ErrSequence, home)
	}
	if hc.full != b.GetFull() {
		return fmt.Errorf("%w: increment from %s with full=%v on a copy held with full=%v", ErrSequence, home, b.GetFull(), hc.full)
	}
	// Decide against the held copy overlaid with this batch's own changes
	// (a key may appear twice in a batch; a tombstone fences older puts).
	m := &mutation{home: home, rev: max(hc.rev, b.GetRevision()), full: hc.full}
	pending := make(map[string]*incoming, len(recs))
	var order []*incoming // batch order; only the final record per key counts
	for i := range recs {
		r := &recs[i]
		if r.rev <= hc.rev {
			continue // already reflected in the held revision
		}
		var curRev uint64
		have := false
		if p, ok := pending[r.key]; ok {
			curRev, have = p.rev, true
		} else if cur, ok := hc.recs[r.key]; ok {
			curRev, have = cur.rev, true
		}
		if have && curRev >= r.rev || r.deleted && !have {
			continue // stale, or deleting what is not held
		}
		pending[r.key] = r
		order = append(order, r)
	}
	if len(pending) == 0 && m.rev == hc.rev {
		return nil
	}
	var changes []Change
	for _, r := range order {
		if pending[r.key] != r {
			continue
		}
		_, held := hc.recs[r.key]
		switch {
		case !r.deleted:
			m.puts = append(m.puts, keyed{key: r.key, entry: entry{rev: r.rev, data: r.data}})
			changes = append(changes, Change{Home: home, Kind: ChangePut, Key: r.key})
		case held:
			m.dels = append(m.dels, r.key)
			changes = append(changes, Change{Home: home, Kind: ChangeDelete, Key: r.key})
		}
	}
	if e.persist != nil {
		if err := e.persist.commit(m); err != nil {
			return fmt.Errorf("backupstore: increment of %s: %w", home, err)
		}
	}
	e.mu.Lock()
	for _, p := range m.puts {
		hc.recs[p.key] = p.entry
	}
	for _, k := range m.dels {
		delete(hc.recs, k)
	}
	hc.rev = m.rev
	e.mu.Unlock()
	if len(e.watchers) > 0 {
		for _, c := range changes {
			c.Record = decode(pending[c.Key].data)
			e.notify(c)
		}
	}
	return nil
}

// notify calls the watchers; writeMu is held.
func (e *engine) notify(c Change) {
	for _, fn := range e.watchers {
		fn(c)
	}
}

// Watch implements [Store.Watch].
func (e *engine) Watch(fn WatchFunc) {
	if fn == nil {
		return
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	e.watchers = append(e.watchers, fn)
}

// Forget implements [Store.Forget].
func (e *engine) Forget(home string) error {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if e.closed {
		return ErrClosed
	}
	delete(e.staging, home)
	if e.homes[home] == nil {
		return nil
	}
	if e.persist != nil {
		if err := e.persist.commit(&mutation{home: home, reset: true, drop: true}); err != nil {
			return fmt.Errorf("backupstore: forget %s: %w", home, err)
		}
	}
	e.mu.Lock()
	delete(e.homes, home)
	e.mu.Unlock()
	e.notify(Change{Home: home, Kind: ChangeReset})
	return nil
}

// Held implements [Store.Held].
func (e *engine) Held(home string) (uint64, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if hc := e.homes[home]; hc != nil {
		return hc.rev, true
	}
	return 0, false
}

// Full implements [Store.Full].
func (e *engine) Full(home string) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	hc := e.homes[home]
	return hc != nil && hc.full
}

// Get implements [Store.Get].
func (e *engine) Get(home, key string) (*federationv1.Record, bool) {
	e.mu.RLock()
	hc := e.homes[home]
	var en entry
	ok := false
	if hc != nil {
		en, ok = hc.recs[key]
	}
	e.mu.RUnlock()
	if !ok {
		return nil, false
	}
	rec := decode(en.data)
	return rec, rec != nil
}

// Count implements [Store.Count].
func (e *engine) Count(home string) int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if hc := e.homes[home]; hc != nil {
		return len(hc.recs)
	}
	return 0
}

// Homes implements [Store.Homes].
func (e *engine) Homes() []string {
	e.mu.RLock()
	out := make([]string, 0, len(e.homes))
	for h := range e.homes {
		out = append(out, h)
	}
	e.mu.RUnlock()
	slices.Sort(out)
	return out
}

// Each implements [Store.Each]. It copies the entries under the read lock
// and calls fn without it.
func (e *engine) Each(home string, fn func(*federationv1.Record) bool) {
	e.mu.RLock()
	hc := e.homes[home]
	var list []keyed
	if hc != nil {
		list = make([]keyed, 0, len(hc.recs))
		for k, v := range hc.recs {
			list = append(list, keyed{key: k, entry: v})
		}
	}
	e.mu.RUnlock()
	slices.SortFunc(list, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	for _, kv := range list {
		if rec := decode(kv.data); rec != nil && !fn(rec) {
			return
		}
	}
}

// Mode implements [Store.Mode].
func (e *engine) Mode() string { return e.mode }

// Close implements [Store.Close].
func (e *engine) Close() error {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.staging = nil
	e.mu.Lock()
	e.homes = map[string]*homeCopy{}
	e.mu.Unlock()
	if e.persist != nil {
		return e.persist.close()
	}
	return nil
}

// decode unmarshals held bytes (which this package marshalled).
func decode(data string) *federationv1.Record {
	rec := new(federationv1.Record)
	if err := proto.Unmarshal([]byte(data), rec); err != nil {
		return nil
	}
	return rec
}

// revisionOf reads field 2 (revision) of a marshalled Record.
func revisionOf(data []byte) uint64 {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return 0
		}
		data = data[n:]
		if num == 2 && typ == protowire.VarintType {
			v, _ := protowire.ConsumeVarint(data)
			return v
		}
		m := protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return 0
		}
		data = data[m:]
	}
	return 0
}
