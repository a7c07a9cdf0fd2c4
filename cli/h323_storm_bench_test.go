package cli

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/h323sim"
	"github.com/rallyvoip/rally/plugins/h323/ras"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

// BenchmarkH323FailoverStorm: london, with 10,000 H.323 desk phones, is
// killed (-9); as soon as paris declares it down all 10,000 endpoints
// (h323sim.Fleet: 8 sockets, up to 256 RRQs in flight each) register at
// paris, its alternate gatekeeper. Then london returns: after
// failback_delay paris sends each guest a URQ naming london, and the
// endpoints register there. Reported: seconds from the knock to paris
// holding all as guests, and from the failback to london holding all at
// home (URQs and RRQs included).
//
//	go test -run '^$' -bench H323FailoverStorm -benchtime 1x ./cli/
func BenchmarkH323FailoverStorm(b *testing.B) {
	const n = 10000
	dir := []byte("users:\n")
	aliases := make([][]ras.AliasAddress, n)
	for i := range n {
		ext := fmt.Sprint(100000 + i)
		dir = fmt.Appendf(dir, "  - {extension: \"%s\", name: U%s, h323_id: u%s, phone: {kind: desk, protocol: h323}}\n", ext, ext, ext)
		aliases[i] = []ras.AliasAddress{ras.H323ID("u" + ext), ras.DialedDigits(ext)}
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	for range b.N {
		b.StopTimer()
		london, paris := writeSitesWith(b, "automatic", false, string(dir))
		f, err := os.OpenFile(london.cfg, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = f.WriteString("licenses: 20000\n")
		f.Close()
		lGK := withH323(b, london, "127.0.0.1")
		pGK := withH323(b, paris, "127.0.0.2")
		pp := serveSite(b, paris.cfg)
		lp := serveSite(b, london.cfg)
		lc, pc := adminOf(b, london), adminOf(b, paris)
		waitFor(b, time.Minute, "paris holds london's phones", func() bool {
			return peerOf(pc, "london").GetHeldRecords() == 2*n && h323Serving(pc) && h323Serving(lc)
		})
		fleet, err := h323sim.NewFleet(netip.MustParseAddr("127.0.0.1"), 8, aliases)
		if err != nil {
			b.Fatal(err)
		}
		lp.kill()
		waitFor(b, 10*time.Second, "failover", func() bool { return peerOf(pc, "london").GetState() == "failover" })

		b.StartTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		t0 := time.Now()
		conf, rej := fleet.Register(ctx, pGK, "paris", all, 256, 2*time.Second)
		if conf != n {
			b.Fatalf("%d RCF, %d RRJ of %d at paris", conf, rej, n)
		}
		waitFor(b, time.Minute, "paris holds the guests", func() bool { return siteCounts(pc)[1] == n })
		storm := time.Since(t0)
		b.StopTimer()
		rss := siteRSS(b, pc, pp.cmd.Process.Pid)

		serveSite(b, london.cfg)
		waitFor(b, time.Minute, "failback", func() bool { return peerOf(pc, "london").GetState() == "normal" })
		b.StartTimer()
		t1 := time.Now()
		// Each URQ sends its endpoint home: register it there at once.
		done := make(chan [2]int)
		go func() {
			got := make([]int, 0, n)
			var c, r int
			for len(got) < n {
				select {
				case u := <-fleet.URQs:
					if u.Index < 0 || u.AltGK != lGK {
						continue
					}
					got = append(got, u.Index)
					if len(got)%500 == 0 || len(got) == n {
						cc, rr := fleet.Register(ctx, lGK, "london", got, 256, 2*time.Second)
						c, r, got = c+cc, r+rr, got[:0:0]
						if c+r == n {
							done <- [2]int{c, r}
							return
						}
					}
				case <-ctx.Done():
					done <- [2]int{c, r}
					return
				}
			}
		}()
		res := <-done
		if res[0] != n {
			b.Fatalf("%d RCF, %d RRJ at london after %d URQs", res[0], res[1], fleet.URQCount())
		}
		waitFor(b, time.Minute, "london holds its phones, paris none", func() bool {
			return siteCounts(lc)[0] == n && siteCounts(pc)[1] == 0
		})
		failback := time.Since(t1)
		b.StopTimer()
		cancel()
		fleet.Close()
		b.ReportMetric(storm.Seconds(), "s/storm")
		b.ReportMetric(float64(n)/storm.Seconds(), "guests/s")
		b.ReportMetric(failback.Seconds(), "s/failback")
		b.ReportMetric(float64(rss)/n, "rss-B/guest")
	}
}

// siteCounts returns a site's licensed and guest registrations.
func siteCounts(c adminv1.AdminServiceClient) [2]int {
	st, err := c.GetStatus(context.Background(), &adminv1.GetStatusRequest{})
	if err != nil {
		return [2]int{-1, -1}
	}
	return [2]int{int(st.GetSite().GetLicensed()), int(st.GetSite().GetGuests())}
}

// siteRSS is the resident memory of a site's daemon (pid) and its plugin
// processes, in bytes.
func siteRSS(b *testing.B, c adminv1.AdminServiceClient, pid int) int64 {
	b.Helper()
	pids := []int{pid}
	st, err := c.GetStatus(context.Background(), &adminv1.GetStatusRequest{})
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range st.GetSite().GetPlugins() {
		if p.GetPid() > 0 {
			pids = append(pids, int(p.GetPid()))
		}
	}
	var total int64
	for _, p := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				var kb int64
				if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
					b.Fatalf("/proc/%d/status: %q: %v", p, l, err)
				}
				total += kb << 10
			}
		}
	}
	return total
}
