package backupstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
	bolt "go.etcd.io/bbolt"
)

// File layout: bucket "homes" holds one bucket per home site, which holds
// bucket "records" (key → Record bytes) and bucket "meta" ("revision":
// 8-byte big-endian held revision, "full": 1 byte). A home bucket exists
// only once a snapshot of that home has completed.
var (
	bucketHomes   = []byte("homes")
	bucketRecords = []byte("records")
	bucketMeta    = []byte("meta")
	metaRevision  = []byte("revision")
	metaFull      = []byte("full")
)

const openTimeout = 2 * time.Second

// Durable is the opt-in backup store (store.durable_backups): a bbolt file
// that is loaded into memory in full at open, so held records and
// revisions survive a restart. Reads are served from memory; each commit
// is written to the file before it becomes visible. The records are not
// yet encrypted at rest.
type Durable struct {
	e    *engine
	path string
}

var _ Store = (*Durable)(nil)

// OpenDurable opens (creating it and its directory when missing) the
// durable backup store at path and loads everything it holds.
func OpenDurable(path string) (*Durable, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("backupstore: open %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("backupstore: open %s: %w", path, err)
	}
	homes := make(map[string]*homeCopy)
	err = db.Update(func(tx *bolt.Tx) error {
		hb, err := tx.CreateBucketIfNotExists(bucketHomes)
		if err != nil {
			return err
		}
		return hb.ForEachBucket(func(name []byte) error {
			b := hb.Bucket(name)
			meta, rb := b.Bucket(bucketMeta), b.Bucket(bucketRecords)
			if meta == nil || rb == nil {
				return fmt.Errorf("home %q: incomplete buckets", name)
			}
			hc := &homeCopy{recs: make(map[string]entry)}
			if v := meta.Get(metaRevision); len(v) == 8 {
				hc.rev = binary.BigEndian.Uint64(v)
			}
			if v := meta.Get(metaFull); len(v) == 1 {
				hc.full = v[0] == 1
			}
			if err := rb.ForEach(func(k, v []byte) error {
				hc.recs[string(k)] = entry{rev: revisionOf(v), data: string(v)}
				return nil
			}); err != nil {
				return err
			}
			homes[string(name)] = hc
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("backupstore: load %s: %w", path, err)
	}
	return &Durable{e: newEngine(ModeDurable, boltPersister{db}, homes), path: path}, nil
}

// Path is the store's file.
func (d *Durable) Path() string { return d.path }

// Apply implements [Store.Apply].
func (d *Durable) Apply(ctx context.Context, home string, b *federationv1.RecordBatch) error {
	return d.e.Apply(ctx, home, b)
}

// Held implements [Store.Held].
func (d *Durable) Held(home string) (uint64, bool) { return d.e.Held(home) }

// Full implements [Store.Full].
func (d *Durable) Full(home string) bool { return d.e.Full(home) }

// Get implements [Store.Get].
func (d *Durable) Get(home, key string) (*federationv1.Record, bool) { return d.e.Get(home, key) }

// Count implements [Store.Count].
func (d *Durable) Count(home string) int { return d.e.Count(home) }

// Homes implements [Store.Homes].
func (d *Durable) Homes() []string { return d.e.Homes() }

// Each implements [Store.Each].
func (d *Durable) Each(home string, fn func(*federationv1.Record) bool) { d.e.Each(home, fn) }

// Forget implements [Store.Forget]; the home's bucket is deleted.
func (d *Durable) Forget(home string) error { return d.e.Forget(home) }

// Watch implements [Store.Watch].
func (d *Durable) Watch(fn WatchFunc) { d.e.Watch(fn) }

// Mode implements [Store.Mode]; it is [ModeDurable].
func (d *Durable) Mode() string { return d.e.Mode() }

// Close implements [Store.Close]; it closes the file.
func (d *Durable) Close() error { return d.e.Close() }

type boltPersister struct{ db *bolt.DB }

func (p boltPersister) close() error { return p.db.Close() }

// commit writes m in one transaction.
func (p boltPersister) commit(m *mutation) error {
	return p.db.Update(func(tx *bolt.Tx) error {
		homes := tx.Bucket(bucketHomes)
		name := []byte(m.home)
		if m.drop {
			if homes.Bucket(name) == nil {
				return nil
			}
			return homes.DeleteBucket(name)
		}
		hb, err := homes.CreateBucketIfNotExists(name)
		if err != nil {
			return err
		}
		if m.reset && hb.Bucket(bucketRecords) != nil {
			if err := hb.DeleteBucket(bucketRecords); err != nil {
				return err
			}
		}
		rb, err := hb.CreateBucketIfNotExists(bucketRecords)
		if err != nil {
			return err
		}
		// Key order: bbolt moves memory quadratically on unordered bulk
		// inserts within one transaction.
		slices.SortFunc(m.puts, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
		if m.reset {
			rb.FillPercent = 0.9 // appended in order, never split again
		}
		for _, kv := range m.puts {
			if err := rb.Put([]byte(kv.key), []byte(kv.data)); err != nil {
				return err
			}
		}
		for _, k := range m.dels {
			if err := rb.Delete([]byte(k)); err != nil {
				return err
			}
		}
		meta, err := hb.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		full := []byte{0}
		if m.full {
			full[0] = 1
		}
		if err := meta.Put(metaFull, full); err != nil {
			return err
		}
		return meta.Put(metaRevision, binary.BigEndian.AppendUint64(nil, m.rev))
	})
}
