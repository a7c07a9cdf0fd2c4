package directory

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

var (
	bucketRecords = []byte("records")
	bucketByRev   = []byte("byrev")
	bucketMeta    = []byte("meta")

	metaRevision  = []byte("revision")
	metaCompacted = []byte("compacted")
	metaSite      = []byte("site")
)

const (
	// openTimeout bounds the wait for the file lock held by another process.
	openTimeout = 2 * time.Second
	// initialMmap is address space, not memory. bbolt remaps when the file
	// outgrows its map, and a remap waits for open read transactions: a
	// generous map keeps writers from waiting on a Snapshot walk.
	initialMmap = 256 << 20
	// allocSize is how far past its data the file grows once the map is
	// larger than the file (bbolt's default, 16 MiB, is a lot for a
	// directory of a few thousand records).
	allocSize = 1 << 20
)

var marshalOpts = proto.MarshalOptions{Deterministic: true}

// Store is this site's directory. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	site string

	// mu serialises writers, so that revisions are handed out and
	// subscribers notified in commit order.
	mu        sync.Mutex
	closed    bool
	revision  atomic.Uint64
	compacted atomic.Uint64

	subMu   sync.Mutex
	subs    map[*subscription]struct{}
	closing bool
}

type subscription struct {
	ch   chan uint64
	once sync.Once
}

func (s *subscription) close() { s.once.Do(func() { close(s.ch) }) }

// Open opens (creating it and its directory when missing) the directory
// store at path for site. A store file created for another site is refused
// with [ErrSiteMismatch].
func Open(path, site string) (*Store, error) {
	if site == "" {
		return nil, fmt.Errorf("directory: open %s: empty site name", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("directory: open %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout, FreelistType: bolt.FreelistMapType, InitialMmapSize: initialMmap})
	if err != nil {
		return nil, fmt.Errorf("directory: open %s: %w", path, err)
	}
	db.AllocSize = allocSize
	s := &Store{db: db, site: site, subs: make(map[*subscription]struct{})}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketRecords, bucketByRev, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch stored := meta.Get(metaSite); {
		case stored == nil:
			if err := meta.Put(metaSite, []byte(site)); err != nil {
				return err
			}
		case string(stored) != site:
			return fmt.Errorf("%w: %s holds site %q, not %q", ErrSiteMismatch, path, stored, site)
		}
		s.revision.Store(getUint(meta, metaRevision))
		s.compacted.Store(getUint(meta, metaCompacted))
		return nil
	})
	if err != nil {
		db.Close()
		if errors.Is(err, ErrSiteMismatch) {
			return nil, err
		}
		return nil, fmt.Errorf("directory: open %s: %w", path, err)
	}
	return s, nil
}

// Site is the site the store belongs to; it is the home_site of every record.
func (s *Store) Site() string { return s.site }

// Close closes the store and the channels of all subscriptions.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.subMu.Lock()
	s.closing = true
	for sub := range s.subs {
		sub.close()
		delete(s.subs, sub)
	}
	s.subMu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("directory: close: %w", err)
	}
	return nil
}

// Revision is the revision of the last committed change (0 for an empty,
// never written store).
func (s *Store) Revision() uint64 { return s.revision.Load() }

// Compacted is the revision up to which tombstones may have been dropped: a
// peer that holds a revision below it may have missed deletes and needs a
// snapshot.
func (s *Store) Compacted() uint64 { return s.compacted.Load() }

// NeedsSnapshot reports whether a peer that holds this store's records up
// to revision resume must be sent a snapshot rather than [Store.Changes]:
// it holds nothing (0), it may have missed compacted tombstones, or it
// claims a revision this store never reached (the store was replaced).
func (s *Store) NeedsSnapshot(resume uint64) bool {
	return resume == 0 || resume < s.Compacted() || resume > s.Revision()
}

// Put stores a live record under the next revision and returns the stored
// copy (rec itself is not modified). The record must pass [Validate]; its
// key is derived from the body, and home_site is set to this site (a
// different non-empty home_site is refused).
func (s *Store) Put(ctx context.Context, rec *federationv1.Record) (*federationv1.Record, error) {
	out, err := s.putMany(ctx, []*federationv1.Record{rec}, false)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// PutMany stores recs in one transaction, each under its own next revision
// in slice order (a key given twice keeps its last record), and returns the
// last revision. Either all are stored or none. It is the path for seeding
// and bulk edits.
func (s *Store) PutMany(ctx context.Context, recs []*federationv1.Record) (uint64, error) {
	if len(recs) == 0 {
		return s.Revision(), nil
	}
	out, err := s.putMany(ctx, recs, false)
	if err != nil {
		return 0, err
	}
	return out[len(out)-1].GetRevision(), nil
}

// prepare validates and copies recs, stamping key and home site.
func (s *Store) prepare(recs []*federationv1.Record) ([]*federationv1.Record, error) {
	out := make([]*federationv1.Record, len(recs))
	for i, rec := range recs {
		if err := Validate(rec); err != nil {
			if len(recs) > 1 {
				return nil, fmt.Errorf("record %d: %w", i, err)
			}
			return nil, err
		}
		if h := rec.GetHomeSite(); h != "" && h != s.site {
			return nil, fmt.Errorf("%w: %s: home_site %q is not this site %q", ErrInvalid, rec.GetKey(), h, s.site)
		}
		c := proto.CloneOf(rec)
		c.Key, _ = KeyOf(rec)
		c.HomeSite = s.site
		out[i] = c
	}
	// A key given twice keeps its last record.
	last := make(map[string]int, len(out))
	for i, c := range out {
		last[c.GetKey()] = i
	}
	if len(last) < len(out) {
		kept := out[:0]
		for i, c := range out {
			if last[c.GetKey()] == i {
				kept = append(kept, c)
			}
		}
		out = kept
	}
	return out, nil
}

// putMany writes recs in one transaction. With onlyIfEmpty it writes
// nothing (and returns nil, nil) unless the store is at revision 0.
func (s *Store) putMany(ctx context.Context, recs []*federationv1.Record, onlyIfEmpty bool) ([]*federationv1.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	recs, err := s.prepare(recs)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if onlyIfEmpty && s.Revision() != 0 {
		return nil, nil
	}
	var last uint64
	err = s.db.Update(func(tx *bolt.Tx) error {
		records, byrev, meta := tx.Bucket(bucketRecords), tx.Bucket(bucketByRev), tx.Bucket(bucketMeta)
		byrev.FillPercent = 0.95 // revisions are appended in order
		rev := getUint(meta, metaRevision)
		if onlyIfEmpty && rev != 0 {
			return nil
		}
		for _, rec := range recs {
			rev++
			rec.Revision = rev
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := write(records, byrev, recs); err != nil {
			return err
		}
		last = rev
		return putUint(meta, metaRevision, rev)
	})
	if err != nil {
		return nil, fmt.Errorf("directory: put: %w", err)
	}
	s.committed(last)
	return recs, nil
}

// write stores recs (stamped with ascending revisions, one per key),
// replacing the byrev entries of the records they supersede.
//
// bbolt splits nodes only at commit, so one transaction inserting many keys
// out of order moves memory quadratically: records go in key order, byrev
// entries in revision order.
func write(records, byrev *bolt.Bucket, recs []*federationv1.Record) error {
	sorted := recs
	if len(recs) > 1 {
		sorted = slices.Clone(recs)
		slices.SortFunc(sorted, func(a, b *federationv1.Record) int { return strings.Compare(a.GetKey(), b.GetKey()) })
	}
	var stale []uint64
	for _, rec := range sorted {
		key := []byte(rec.GetKey())
		if old := records.Get(key); old != nil {
			if r := revisionOf(old); r != 0 {
				stale = append(stale, r)
			}
		}
		data, err := marshalOpts.Marshal(rec)
		if err != nil {
			return err
		}
		if err := records.Put(key, data); err != nil {
			return err
		}
	}
	slices.Sort(stale)
	for _, r := range stale {
		if err := byrev.Delete(revKey(r)); err != nil {
			return err
		}
	}
	for _, rec := range recs {
		if err := byrev.Put(revKey(rec.GetRevision()), []byte(rec.GetKey())); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes the live record under key, leaving a tombstone at the next
// revision, which it returns. A key with no live record is [ErrNotFound].
func (s *Store) Delete(ctx context.Context, key string) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	var rev uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		records, byrev, meta := tx.Bucket(bucketRecords), tx.Bucket(bucketByRev), tx.Bucket(bucketMeta)
		old, err := decode(records.Get([]byte(key)))
		if err != nil {
			return err
		}
		if old == nil || old.GetDeleted() {
			return fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		rev = getUint(meta, metaRevision) + 1
		tomb := &federationv1.Record{Key: key, Revision: rev, Deleted: true, HomeSite: s.site}
		if err := write(records, byrev, []*federationv1.Record{tomb}); err != nil {
			return err
		}
		return putUint(meta, metaRevision, rev)
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return 0, err
		}
		return 0, fmt.Errorf("directory: delete %s: %w", key, err)
	}
	s.committed(rev)
	return rev, nil
}

// Get returns the live record under key, or [ErrNotFound].
func (s *Store) Get(key string) (*federationv1.Record, error) {
	var rec *federationv1.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = decode(tx.Bucket(bucketRecords).Get([]byte(key)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("directory: get %s: %w", key, err)
	}
	if rec == nil || rec.GetDeleted() {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return rec, nil
}

// List returns the live records of kind ("" for all kinds), sorted by key.
func (s *Store) List(kind string) ([]*federationv1.Record, error) {
	if kind != "" && !knownKind(kind) {
		return nil, fmt.Errorf("%w: unknown kind %q", ErrInvalid, kind)
	}
	var out []*federationv1.Record
	prefix := []byte(nil)
	if kind != "" {
		prefix = []byte(kind + "/")
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			rec, err := decode(v)
			if err != nil {
				return err
			}
			if !rec.GetDeleted() {
				out = append(out, rec)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("directory: list %s: %w", kind, err)
	}
	return out, nil
}

// Changes returns, in revision order, the records and tombstones changed
// after revision since, at most limit of them (limit <= 0: no limit). Each
// key appears once, at its newest revision.
//
// last is the revision the caller holds once it has applied the result:
// the revision of the last record returned when limit cut the list short,
// otherwise the store's revision (so an up-to-date caller gets no records
// and last = Revision()). A since that [Store.NeedsSnapshot] rejects for
// any reason other than being 0 returns [ErrNeedSnapshot].
func (s *Store) Changes(since uint64, limit int) (recs []*federationv1.Record, last uint64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		rev, compacted := getUint(meta, metaRevision), getUint(meta, metaCompacted)
		if since < compacted || since > rev {
			return fmt.Errorf("%w: since %d, compacted %d, revision %d", ErrNeedSnapshot, since, compacted, rev)
		}
		last = rev
		records := tx.Bucket(bucketRecords)
		c := tx.Bucket(bucketByRev).Cursor()
		for k, key := c.Seek(revKey(since + 1)); k != nil; k, key = c.Next() {
			if limit > 0 && len(recs) == limit {
				last = recs[len(recs)-1].GetRevision()
				break
			}
			rec, err := decode(records.Get(key))
			if err != nil {
				return err
			}
			if rec == nil {
				return fmt.Errorf("byrev %d names %q, which is missing", binary.BigEndian.Uint64(k), key)
			}
			recs = append(recs, rec)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNeedSnapshot) {
			return nil, 0, err
		}
		return nil, 0, fmt.Errorf("directory: changes: %w", err)
	}
	return recs, last, nil
}

// Snapshot calls fn for every live record, in key order, inside one read
// transaction, and returns the revision the walk is consistent at. An error
// from fn stops the walk and is returned wrapped. Writers do not wait for
// the walk unless the file must grow past its memory map, so fn should
// still be quick (collect, then send).
func (s *Store) Snapshot(fn func(*federationv1.Record) error) (uint64, error) {
	var rev uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		rev = getUint(tx.Bucket(bucketMeta), metaRevision)
		return tx.Bucket(bucketRecords).ForEach(func(_, v []byte) error {
			rec, err := decode(v)
			if err != nil {
				return err
			}
			if rec.GetDeleted() {
				return nil
			}
			return fn(rec)
		})
	})
	if err != nil {
		return 0, fmt.Errorf("directory: snapshot: %w", err)
	}
	return rev, nil
}

// Compact drops the tombstones with a revision below before (at most up to
// the current revision) and raises [Store.Compacted] to before-1.
func (s *Store) Compact(before uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if before == 0 {
		return nil
	}
	upto := min(before-1, s.Revision())
	if upto <= s.Compacted() {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		records, byrev, meta := tx.Bucket(bucketRecords), tx.Bucket(bucketByRev), tx.Bucket(bucketMeta)
		var drop [][2][]byte // byrev key, record key
		c := byrev.Cursor()
		for k, key := c.First(); k != nil && binary.BigEndian.Uint64(k) <= upto; k, key = c.Next() {
			if v := records.Get(key); v != nil && deletedOf(v) {
				drop = append(drop, [2][]byte{bytes.Clone(k), bytes.Clone(key)})
			}
		}
		for _, d := range drop {
			if err := byrev.Delete(d[0]); err != nil {
				return err
			}
			if err := records.Delete(d[1]); err != nil {
				return err
			}
		}
		return putUint(meta, metaCompacted, upto)
	})
	if err != nil {
		return fmt.Errorf("directory: compact: %w", err)
	}
	s.compacted.Store(upto)
	return nil
}

// Subscribe returns a channel that receives the store's revision after
// each commit. Notifications coalesce: the channel holds at most one value,
// the newest, so a slow reader skips to the latest revision rather than
// blocking writers. cancel (idempotent) and [Store.Close] close the channel.
func (s *Store) Subscribe() (ch <-chan uint64, cancel func()) {
	sub := &subscription{ch: make(chan uint64, 1)}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if s.closing {
		sub.close()
		return sub.ch, func() {}
	}
	s.subs[sub] = struct{}{}
	return sub.ch, func() {
		s.subMu.Lock()
		delete(s.subs, sub)
		s.subMu.Unlock()
		sub.close()
	}
}

// committed publishes a new revision; s.mu is held.
func (s *Store) committed(rev uint64) {
	s.revision.Store(rev)
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for sub := range s.subs {
		// Only this function sends, under subMu: after dropping a stale
		// value the buffer has room.
		select {
		case <-sub.ch:
		default:
		}
		select {
		case sub.ch <- rev:
		default:
		}
	}
}

// decode unmarshals stored record bytes; nil data gives a nil record.
func decode(data []byte) (*federationv1.Record, error) {
	if data == nil {
		return nil, nil
	}
	rec := new(federationv1.Record)
	if err := proto.Unmarshal(data, rec); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	return rec, nil
}

// revisionOf reads field 2 (revision) of a marshalled Record without
// unmarshalling the rest; 0 if absent or malformed.
func revisionOf(data []byte) uint64 {
	v, _ := scalarField(data, 2)
	return v
}

// deletedOf reads field 3 (deleted) of a marshalled Record.
func deletedOf(data []byte) bool {
	v, _ := scalarField(data, 3)
	return v != 0
}

func scalarField(data []byte, field protowire.Number) (uint64, bool) {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return 0, false
		}
		data = data[n:]
		if num == field && typ == protowire.VarintType {
			v, m := protowire.ConsumeVarint(data)
			return v, m >= 0
		}
		m := protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return 0, false
		}
		data = data[m:]
	}
	return 0, false
}

func revKey(rev uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), rev)
}

func getUint(b *bolt.Bucket, key []byte) uint64 {
	if v := b.Get(key); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func putUint(b *bolt.Bucket, key []byte, v uint64) error {
	return b.Put(key, revKey(v))
}
