package sipplugin

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
)

// credentials caches the HA1 values of phones, fetched from the host once
// per phone (its own directory, or the held backup records of its home), so
// that refreshes never wait for a round trip. An entry is refetched after
// ttl, which bounds how long a changed password takes to apply.
type credentials struct {
	host sdk.Host
	ttl  time.Duration
	seed maphash.Seed
	// shards by phone: the readers of the UDP path look up on every
	// REGISTER, and one lock would be a cache line the cores fight over
	shards [credShards]credShard
}

const credShards = 16

type credShard struct {
	mu sync.RWMutex
	m  map[credKey]ha1Entry
	_  [64]byte
}

func (c *credentials) shard(phoneID string) *credShard {
	return &c.shards[maphash.String(c.seed, phoneID)%credShards]
}

type credKey struct{ home, phone string }

type ha1Entry struct {
	md5, sha256 string
	fetched     time.Time
}

func newCredentials(host sdk.Host) *credentials {
	c := &credentials{host: host, ttl: time.Minute, seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[credKey]ha1Entry)
	}
	return c
}

// lookup returns the HA1 values of phoneID homed at home ("" for this site).
func (c *credentials) lookup(ctx context.Context, home, phoneID string, now time.Time) (md5, sha256 string, err error) {
	key := credKey{home, phoneID}
	sh := c.shard(phoneID)
	sh.mu.RLock()
	e, ok := sh.m[key]
	sh.mu.RUnlock()
	if ok && now.Sub(e.fetched) < c.ttl {
		return e.md5, e.sha256, nil
	}
	rec, err := c.host.GetRecord(ctx, home, "phone/"+phoneID)
	if err != nil {
		return "", "", fmt.Errorf("sip: credentials of %s: %w", phoneID, err)
	}
	ph := rec.GetPhone()
	e = ha1Entry{md5: ph.GetHa1Md5(), sha256: ph.GetHa1Sha256(), fetched: now}
	sh.mu.Lock()
	sh.m[key] = e
	sh.mu.Unlock()
	return e.md5, e.sha256, nil
}

// forget drops a cached entry (a wrong password may be a changed one).
func (c *credentials) forget(home, phoneID string) {
	sh := c.shard(phoneID)
	sh.mu.Lock()
	delete(sh.m, credKey{home, phoneID})
	sh.mu.Unlock()
}

// get returns the cached HA1 values of phoneID homed at home; ok is false
// when lookup would have to ask the host.
func (c *credentials) get(home, phoneID string, now time.Time) (md5, sha256 string, ok bool) {
	sh := c.shard(phoneID)
	sh.mu.RLock()
	e, ok := sh.m[credKey{home, phoneID}]
	sh.mu.RUnlock()
	if !ok || now.Sub(e.fetched) >= c.ttl {
		return "", "", false
	}
	return e.md5, e.sha256, true
}
