package site

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// TestLinkCutsWhileRecordsChange: the link is cut (reset) and silenced
// again and again while london changes and deletes records. Once it heals,
// paris's copy equals london's exactly: nothing missing, nothing stale,
// no deleted record back.
func TestLinkCutsWhileRecordsChange(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site")
	}
	p := newPair(t, "automatic", "200ms", false)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var writes, deletes int
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; ctx.Err() == nil; i++ {
			ext := fmt.Sprint(5000 + rng.IntN(300))
			if rng.IntN(4) == 0 {
				if _, err := p.london.site.dir.Delete(ctx, "user/"+ext); err == nil {
					deletes++
				}
			} else {
				_, err := p.london.site.dir.Put(ctx, &federationv1.Record{Body: &federationv1.Record_User{
					User: &federationv1.User{Extension: ext, Name: fmt.Sprintf("v%d", i)},
				}})
				if err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
				writes++
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for i := range 12 {
		time.Sleep(time.Duration(80+rand.IntN(200)) * time.Millisecond)
		if i%3 == 2 {
			// Silent for longer than failover_after: the watchdog ends it.
			p.toParis.blackhole(true)
			p.toLondon.blackhole(true)
			time.Sleep(testFailoverAfter + 2*testHeartbeat)
			p.toParis.blackhole(false)
			p.toLondon.blackhole(false)
		} else {
			p.toParis.cut()
			p.toLondon.cut()
		}
	}
	cancel()
	wg.Wait()
	t.Logf("%d writes and %d deletes during 12 cuts; london at revision %d", writes, deletes, p.london.site.dir.Revision())
	want := p.london.site.dir.Revision()
	deadline := time.Now().Add(20 * time.Second)
	for {
		held, _ := p.paris.site.backups.Held("london")
		if held == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("paris holds london at revision %d, want %d; paris sees %+v; london sees %+v",
				held, want, p.paris.peer(t, "london"), p.london.peer(t, "paris"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := sameCopy(t, p.london, p.paris, true); d != "" {
		t.Fatal(d)
	}
}
