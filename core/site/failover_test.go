package site

import (
	"context"
	"testing"
	"time"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

// pair is a home (london) backed up by paris, linked through two proxies
// (one per dialling direction) so that a test can cut or silence the link.
type pair struct {
	london, paris *running
	toParis       *proxy // london → paris
	toLondon      *proxy // paris → london
}

const (
	testHeartbeat     = 100 * time.Millisecond
	testFailoverAfter = 600 * time.Millisecond
)

func newPair(t *testing.T, failback, delay string, durable bool) *pair {
	return newPairTB(t, failback, delay, durable)
}

// newPairB is a pair for benchmarks: automatic failback without delay.
func newPairB(b *testing.B) *pair { return newPairTB(b, "automatic", "0s", false) }

func newPairTB(t testing.TB, failback, delay string, durable bool) *pair {
	t.Helper()
	f := newFed(t)
	parisAddr := freeAddr(t, "127.0.0.2")
	londonAddr := freeAddr(t, "127.0.0.1")
	p := &pair{
		toParis:  newProxy(t, "127.0.0.1", parisAddr),
		toLondon: newProxy(t, "127.0.0.2", londonAddr),
	}
	parisCfg, _ := f.writeConfig(spec{
		name: "paris", host: "127.0.0.2", port: port(parisAddr), backsUp: []string{"london"},
		peers: map[string]string{"london": p.toLondon.addr()}, durable: durable,
		directory: users(3000, 2),
	})
	londonCfg, _ := f.writeConfig(spec{
		name: "london", port: port(londonAddr), backup: "paris", failback: failback, failbackDelay: delay,
		peers: map[string]string{"paris": p.toParis.addr()}, directory: users(2000, 10),
	})
	p.paris = start(t, parisCfg)
	p.london = start(t, londonCfg)
	eventually(t, 10*time.Second, "paris sees london normal with its records", func() bool {
		return p.paris.state(t, "london") == "normal" && p.paris.site.backups.Count("london") == 20
	})
	return p
}

func port(addr string) int {
	_, ps, _ := splitHostPort(addr)
	return ps
}

// TestSilentLossFailover: the link's bytes are dropped with no reset. The
// backup declares the home down within failover_after + one heartbeat
// (plus slack for this loaded machine), admits its phones as guests, and
// fails them back per mode when the link heals.
func TestSilentLossFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site")
	}
	for _, tc := range []struct {
		name     string
		failback string
	}{
		{"automatic", "automatic"},
		{"manual", "manual"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, tc.failback, "700ms", false)
			if got := p.paris.explain(t, "2001"); got != "refuse:homed_at_live_peer" {
				t.Fatalf("paris admits london's phone while london lives: %s", got)
			}
			if got := p.london.explain(t, "2001"); got != "home" {
				t.Fatalf("london: %s", got)
			}
			if got := p.paris.explain(t, "9999"); got != "refuse:unknown" {
				t.Fatalf("unknown phone: %s", got)
			}

			cutAt := time.Now()
			p.toParis.blackhole(true)
			p.toLondon.blackhole(true)
			eventually(t, 5*time.Second, "paris declares london down", func() bool {
				return p.paris.state(t, "london") == "failover"
			})
			took := time.Since(cutAt)
			bound := testFailoverAfter + testHeartbeat + 400*time.Millisecond
			if took > bound {
				t.Errorf("failover took %v, bound %v", took, bound)
			}
			// Never before failover_after of silence: measure from the
			// last frame paris heard, not from the cut.
			st := p.paris.peer(t, "london")
			if silent := st.GetStateSince().AsTime().Sub(st.GetLastHeard().AsTime()); silent < testFailoverAfter {
				t.Errorf("failover after %v of silence, before failover_after %v", silent, testFailoverAfter)
			}
			t.Logf("silent loss detected in %v (failover_after %v)", took, testFailoverAfter)
			if got := p.paris.explain(t, "2001"); got != "guest" {
				t.Fatalf("during failover paris says %s", got)
			}
			// Split brain: london sees paris unreachable, and keeps its phones.
			if got := p.london.explain(t, "2001"); got != "home" {
				t.Fatalf("london during the cut: %s", got)
			}

			p.toParis.blackhole(false)
			p.toLondon.blackhole(false)
			p.toParis.cut()
			p.toLondon.cut()
			eventually(t, 5*time.Second, "paris sees london again", func() bool {
				return p.paris.state(t, "london") == "failback_pending"
			})
			// Guests stay while failback is pending.
			if got := p.paris.explain(t, "2001"); got != "guest" {
				t.Fatalf("failback pending: %s", got)
			}
			switch tc.failback {
			case "automatic":
				eventually(t, 5*time.Second, "automatic failback", func() bool {
					return p.paris.state(t, "london") == "normal"
				})
			case "manual":
				time.Sleep(1500 * time.Millisecond) // well past failback_delay
				if st := p.paris.state(t, "london"); st != "failback_pending" {
					t.Fatalf("manual mode moved on its own to %s", st)
				}
				resp, err := p.paris.admin.Failback(context.Background(), &adminv1.FailbackRequest{Site: "london"})
				if err != nil {
					t.Fatal(err)
				}
				if resp.GetState() != "normal" {
					t.Fatalf("after rally failback: %s", resp.GetState())
				}
			}
			if got := p.paris.explain(t, "2001"); got != "refuse:homed_at_live_peer" {
				t.Fatalf("after failback paris says %s", got)
			}
		})
	}
}
