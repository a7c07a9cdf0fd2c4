package sipplugin

import (
	"context"
	"fmt"
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

	mu sync.RWMutex
	m  map[string]ha1Entry // key: home + "/" + phone id
}

type ha1Entry struct {
	md5, sha256 string
	fetched     time.Time
}

func newCredentials(host sdk.Host) *credentials {
	return &credentials{host: host, ttl: time.Minute, m: make(map[string]ha1Entry)}
}

// lookup returns the HA1 values of phoneID homed at home ("" for this site).
func (c *credentials) lookup(ctx context.Context, home, phoneID string, now time.Time) (md5, sha256 string, err error) {
	key := home + "/" + phoneID
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if ok && now.Sub(e.fetched) < c.ttl {
		return e.md5, e.sha256, nil
	}
	rec, err := c.host.GetRecord(ctx, home, "phone/"+phoneID)
	if err != nil {
		return "", "", fmt.Errorf("sip: credentials of %s: %w", phoneID, err)
	}
	ph := rec.GetPhone()
	e = ha1Entry{md5: ph.GetHa1Md5(), sha256: ph.GetHa1Sha256(), fetched: now}
	c.mu.Lock()
	c.m[key] = e
	c.mu.Unlock()
	return e.md5, e.sha256, nil
}

// forget drops a cached entry (a wrong password may be a changed one).
func (c *credentials) forget(home, phoneID string) {
	c.mu.Lock()
	delete(c.m, home+"/"+phoneID)
	c.mu.Unlock()
}
