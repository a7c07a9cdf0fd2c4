package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/sip/sipptest"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

// BenchmarkFailoverStorm: london, with 10,000 SIP desk phones, is killed
// (-9); as soon as paris declares it down, all 10,000 knock at paris at
// once (SIPp, digest). Reported: seconds from the knock to paris holding
// all of them as guests, and the registrations that failed.
//
//	go test -run '^$' -bench FailoverStorm -benchtime 1x ./cli/
func BenchmarkFailoverStorm(b *testing.B) {
	const n = 10000
	var dir strings.Builder
	dir.WriteString("users:\n")
	users := make([][2]string, 0, n)
	for i := range n {
		ext := fmt.Sprint(100000 + i)
		fmt.Fprintf(&dir, "  - {extension: \"%s\", name: U%s, password: pw-%s, phone: {kind: desk, protocol: sip}}\n", ext, ext, ext)
		users = append(users, [2]string{ext, "pw-" + ext})
	}
	for range b.N {
		b.StopTimer()
		london, paris := writeSitesWith(b, "automatic", false, dir.String())
		withSIP(b, london, "127.0.0.1")
		parisSIP := withSIP(b, paris, "127.0.0.2")
		serveSite(b, paris.cfg)
		lp := serveSite(b, london.cfg)
		pc := adminOf(b, paris)
		waitFor(b, time.Minute, "paris holds london's phones", func() bool {
			return peerOf(pc, "london").GetHeldRecords() == 2*n && sipServing(pc)
		})
		lp.kill()
		waitFor(b, 10*time.Second, "failover", func() bool { return peerOf(pc, "london").GetState() == "failover" })

		b.StartTimer()
		t0 := time.Now()
		r, err := sipptest.Run{Scenario: "register", Server: parisSIP, Users: users, Calls: n, Rate: n, Limit: 2000,
			LocalIP: "127.0.0.2", Timeout: 2 * time.Minute}.Exec(context.Background(), b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		var guests uint32
		waitFor(b, time.Minute, fmt.Sprintf("the %d registered guests held (sipp: %d failed)", r.Successful, r.Failed), func() bool {
			st, err := pc.GetStatus(context.Background(), &adminv1.GetStatusRequest{})
			guests = st.GetSite().GetGuests()
			return err == nil && int(guests) == r.Successful
		})
		took := time.Since(t0)
		b.StopTimer()
		b.ReportMetric(took.Seconds(), "s/storm")
		b.ReportMetric(float64(r.Failed), "failed")
		if r.Failed > 0 {
			b.Logf("SIPp errors (first lines):\n%s", firstLines(r.Errors, 12))
		}
		b.ReportMetric(float64(guests)/took.Seconds(), "guests/s")
	}
}

// firstLines returns the first n lines of s.
func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}
