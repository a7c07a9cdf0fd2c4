package sipplugin

import (
	"context"
	"fmt"
	"hash/maphash"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
)

// credentials caches the HA1 values of phones (this site's own, or the held
// backup records of their home), so that registrations never wait for a
// round trip. They are loaded in bulk (loadLoop: this site's phones at
// start, a home's when it fails over, all of them again every reload), and
// looked up one by one only for a phone the bulk loads missed. An entry is
// refetched after ttl, which bounds how long a changed password takes to
// apply.
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

// credentialsTTL is how long a cached entry is used; credentialsReload how
// often the bulk loads run again (well within the TTL, so that a phone of
// a loaded home never waits for a look-up). A changed phone record (a new
// password) reaches the plugin at once as a view change, which drops its
// entry (forgetPhone); the TTL is only a backstop.
const (
	credentialsTTL    = 10 * time.Minute
	credentialsReload = 5 * time.Minute
)

func newCredentials(host sdk.Host) *credentials {
	c := &credentials{host: host, ttl: credentialsTTL, seed: maphash.MakeSeed()}
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
	// The key must not keep the request's strings (and the whole parsed
	// request behind them) alive: use the record's own.
	key = credKey{strings.Clone(home), ph.GetId()}
	if key.phone != phoneID {
		key.phone = strings.Clone(phoneID)
	}
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

// forgetPhone drops every entry of the phone (a view change put or
// removed it: its password may have changed).
func (c *credentials) forgetPhone(ch sdk.PhoneChanged) {
	sh := c.shard(ch.ID)
	sh.mu.Lock()
	delete(sh.m, credKey{"", ch.ID})
	if ch.Home != "" {
		delete(sh.m, credKey{ch.Home, ch.ID})
	}
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

// load fetches the HA1 values of every phone of home ("" for this site) in
// one stream and caches them; it returns how many.
func (c *credentials) load(ctx context.Context, home string, now time.Time) (int, error) {
	all, err := c.host.ListCredentials(ctx, home)
	if err != nil {
		return 0, fmt.Errorf("sip: credentials of %q: %w", home, err)
	}
	for _, cr := range all {
		sh := c.shard(cr.PhoneID)
		sh.mu.Lock()
		sh.m[credKey{home, cr.PhoneID}] = ha1Entry{md5: cr.HA1MD5, sha256: cr.HA1SHA256, fetched: now}
		sh.mu.Unlock()
	}
	return len(all), nil
}

// guestHomes are the homes whose phones this site may admit as guests now:
// backed-up peers in failover, or failing back (a busy guest still
// refreshes in graceful mode).
func guestHomes(t *admission.Table) []string {
	var out []string
	for _, p := range t.Peers() {
		if p.BackedUp && (p.State == admission.StateFailover || p.State == admission.StateFailbackPending) {
			out = append(out, p.Site)
		}
	}
	return out
}

// loadLoop keeps the cache loaded in bulk until ctx ends: this site's
// phones and those of every guest home, at once (once the view is ready)
// and every credentialsReload, and a home as soon as failover names it
// (a storm of its phones is about to knock).
func (in *instance) loadLoop(ctx context.Context, failover <-chan string) {
	select {
	case <-in.view.Ready():
	case <-ctx.Done():
		return
	}
	load := func(home string) {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		t0 := time.Now()
		n, err := in.creds.load(lctx, home, t0)
		if err != nil {
			if ctx.Err() == nil {
				in.log.Warn("credentials not loaded in bulk", "home", home, "error", err)
			}
			return
		}
		in.log.Debug("credentials loaded", "home", home, "phones", n, "took", time.Since(t0))
	}
	loadAll := func() {
		load("")
		for _, h := range guestHomes(in.view.Table()) {
			load(h)
		}
	}
	loadAll()
	// The first view snapshot and bulk load of a large site leave their
	// messages as garbage: hand the memory back to the system once.
	debug.FreeOSMemory()
	t := time.NewTicker(credentialsReload)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			loadAll()
		case home := <-failover:
			load(home)
		}
	}
}
