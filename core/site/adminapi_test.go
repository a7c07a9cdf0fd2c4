package site

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/rallyvoip/rally/core/pki"
	"github.com/rallyvoip/rally/core/resilience"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

// linked waits until home and backup see each other normal and backup
// holds home's records in full at home's revision.
func linked(t *testing.T, home, backup *running) {
	t.Helper()
	eventually(t, 10*time.Second, home.name+" and "+backup.name+" linked, records replicated", func() bool {
		held, _ := backup.site.backups.Held(home.name)
		return home.state(t, backup.name) == "normal" && backup.state(t, home.name) == "normal" &&
			held == home.site.dir.Revision() && backup.site.backups.Full(home.name)
	})
}

// learnedPeers reads the peers a site persisted (store.path/peers.json).
func learnedPeers(t *testing.T, f *fed, site string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.dir, site, "data", "peers.json"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var pf peersFile
	if err := json.Unmarshal(data, &pf); err != nil {
		t.Fatalf("peers.json: %v: %s", err, data)
	}
	return pf.Learned
}

// TestAdminLinkUnlink: with no peers configured, `rally link ADDR` learns
// the peer's name from its certificate, links, replicates, and is
// remembered across a restart; `rally unlink SITE` ends the link for good;
// bad addresses are refused with the right code.
func TestAdminLinkUnlink(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site")
	}
	f := newFed(t)
	parisCfg, parisAddr := f.writeConfig(spec{
		name: "paris", host: "127.0.0.2", backsUp: []string{"london"}, directory: users(3000, 2),
	})
	londonCfg, _ := f.writeConfig(spec{name: "london", backup: "paris", directory: users(2000, 5)})
	paris := start(t, parisCfg)
	london := start(t, londonCfg)
	ctx := context.Background()

	t.Run("bad addresses", func(t *testing.T) {
		nobody := freeAddr(t, "127.0.0.3")
		for _, tc := range []struct {
			name, addr string
			code       codes.Code
			says       string
		}{
			{"nothing listens", nobody, codes.Unavailable, nobody},
			{"not host:port", "paris", codes.InvalidArgument, "host:port"},
			{"garbage", "::not an address::", codes.InvalidArgument, "host:port"},
			{"empty", "", codes.InvalidArgument, "host:port"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := london.admin.Link(ctx, &adminv1.LinkRequest{Addr: tc.addr})
				st := status.Convert(err)
				if st.Code() != tc.code || !strings.Contains(st.Message(), tc.says) {
					t.Fatalf("link %q: %v, want %v naming %q", tc.addr, err, tc.code, tc.says)
				}
			})
		}
		if p := london.peer(t, "paris"); p.GetAddr() != "" {
			t.Fatalf("a failed link left paris at %q", p.GetAddr())
		}
		if got := learnedPeers(t, f, "london"); len(got) != 0 {
			t.Fatalf("a failed link was persisted: %v", got)
		}
	})

	resp, err := london.admin.Link(ctx, &adminv1.LinkRequest{Addr: parisAddr})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetSite() != "paris" {
		t.Fatalf("link %s: site %q, want paris (from its certificate)", parisAddr, resp.GetSite())
	}
	linked(t, london, paris)
	if got := learnedPeers(t, f, "london"); got["paris"] != parisAddr {
		t.Fatalf("london persisted %v, want paris at %s", got, parisAddr)
	}

	// Restart both; london alone first, so that nothing but its own memory
	// of the link can tell it where paris is.
	london.stop()
	paris.stop()
	london = start(t, londonCfg)
	if p := london.peer(t, "paris"); p.GetAddr() != parisAddr {
		t.Fatalf("after a restart london sees paris at %q, want %s", p.GetAddr(), parisAddr)
	}
	paris = start(t, parisCfg)
	linked(t, london, paris)

	if _, err := london.admin.Unlink(ctx, &adminv1.UnlinkRequest{Site: "paris"}); err != nil {
		t.Fatal(err)
	}
	if p := london.peer(t, "paris"); p != nil {
		t.Fatalf("london still lists paris after unlink: %v", p)
	}
	eventually(t, 5*time.Second, "paris sees the stream end", func() bool {
		return !paris.site.fed.Trackers()["london"].Connected
	})
	// It stays ended: paris, which learned london's address, dials again
	// and is refused with a reason, so it neither brings the link back
	// nor takes london, alive, for dead (it would fail it over).
	for end := time.Now().Add(testFailoverAfter + time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if p := london.peer(t, "paris"); p != nil {
			t.Fatalf("paris is back in london's status after unlink: state %s, addr %q", p.GetState(), p.GetAddr())
		}
		if paris.site.fed.Trackers()["london"].Connected {
			t.Fatal("the link came back after unlink")
		}
		if st := paris.state(t, "london"); st == resilience.Failover {
			t.Fatal("paris fails over london, which unlinked it but lives")
		}
	}
	if p := paris.peer(t, "london"); p.GetState() != resilience.Incompatible || !strings.Contains(p.GetMessage(), "london has unlinked paris") {
		t.Errorf("paris sees london %s (%q), want incompatible: unlinked", p.GetState(), p.GetMessage())
	}
	if got := learnedPeers(t, f, "london"); got["paris"] != "" {
		t.Fatalf("london still persists paris after unlink: %v", got)
	}
	check, err := london.admin.Check(ctx, &adminv1.CheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(check.GetResults(), func(r *adminv1.CheckResult) bool {
		return r.GetCheck() == "backup" && !r.GetOk() && strings.Contains(r.GetMessage(), "not a linked peer")
	}) {
		t.Fatalf("check after unlink does not say paris is unlinked: %v", check.GetResults())
	}
	_, err = london.admin.Unlink(ctx, &adminv1.UnlinkRequest{Site: "paris"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("second unlink: %v, want NotFound", err)
	}

	// The unlink survives a restart of london, although paris still knows
	// london's address and dials it.
	london.stop()
	london = start(t, londonCfg)
	for end := time.Now().Add(testFailoverAfter + time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if p := london.peer(t, "paris"); p != nil {
			t.Fatalf("after a restart paris is back in london's status: state %s", p.GetState())
		}
	}

	// Linking again undoes the unlink.
	if _, err := london.admin.Link(ctx, &adminv1.LinkRequest{Addr: parisAddr}); err != nil {
		t.Fatal(err)
	}
	linked(t, london, paris)
}

// scrape reads a Prometheus text exposition: series (name{labels}) → value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	out := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("malformed metrics line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMetricsEndpoint: /metrics shows the peer's state, heartbeat age,
// revisions and admission decisions.
func TestMetricsEndpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site")
	}
	f := newFed(t)
	parisCfg, parisAddr := f.writeConfig(spec{
		name: "paris", host: "127.0.0.2", backsUp: []string{"london"}, directory: users(3000, 2),
	})
	metricsAddr := freeAddr(t, "127.0.0.1")
	londonCfg, _ := f.writeConfig(spec{
		name: "london", backup: "paris", peers: map[string]string{"paris": parisAddr},
		directory: users(2000, 5), metrics: metricsAddr,
	})
	paris := start(t, parisCfg)
	london := start(t, londonCfg)
	linked(t, london, paris)
	eventually(t, 5*time.Second, "london holds paris's index", func() bool {
		held, _ := london.site.backups.Held("paris")
		return held == paris.site.dir.Revision()
	})
	if got := london.explain(t, "2001"); got != "home" {
		t.Fatalf("explain 2001 at london: %s", got)
	}

	url := "http://" + metricsAddr + "/metrics"
	maxAge := testFailoverAfter.Seconds()
	checks := []struct {
		series string
		want   string
		ok     func(float64) bool
	}{
		{`rally_peer_state{peer="paris",state="normal"}`, "1", func(v float64) bool { return v == 1 }},
		{`rally_peer_state{peer="paris",state="failover"}`, "0", func(v float64) bool { return v == 0 }},
		{`rally_peer_state{peer="paris",state="connecting"}`, "0", func(v float64) bool { return v == 0 }},
		{`rally_peer_heartbeat_age_seconds{peer="paris"}`, fmt.Sprintf("in [0, %v)", maxAge),
			func(v float64) bool { return v >= 0 && v < maxAge }},
		{`rally_directory_revision`, fmt.Sprint(london.site.dir.Revision()),
			func(v float64) bool { return v == float64(london.site.dir.Revision()) }},
		{`rally_replication_held_revision{peer="paris"}`, fmt.Sprint(paris.site.dir.Revision()),
			func(v float64) bool { return v == float64(paris.site.dir.Revision()) }},
		{`rally_replication_acked_revision{peer="paris"}`, fmt.Sprint(london.site.dir.Revision()),
			func(v float64) bool { return v == float64(london.site.dir.Revision()) }},
		{`rally_backup_records{peer="paris"}`, "4", func(v float64) bool { return v == 4 }},
		{`rally_admissions_total{outcome="home",reason=""}`, "1", func(v float64) bool { return v == 1 }},
	}
	var got map[string]float64
	bad := func() []string {
		var out []string
		for _, c := range checks {
			v, ok := got[c.series]
			switch {
			case !ok:
				out = append(out, c.series+" missing")
			case !c.ok(v):
				out = append(out, fmt.Sprintf("%s = %v, want %s", c.series, v, c.want))
			}
		}
		return out
	}
	// The gauges follow the tick loop: give it a few ticks.
	deadline := time.Now().Add(3 * time.Second)
	for got = scrape(t, url); len(bad()) > 0 && time.Now().Before(deadline); got = scrape(t, url) {
		time.Sleep(50 * time.Millisecond)
	}
	for _, b := range bad() {
		t.Error(b)
	}
}

// TestAdminOverTCP: a host:port admin API serves operators only; health
// and reflection answer on the local socket.
func TestAdminOverTCP(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site")
	}
	f := newFed(t)
	adminAddr := freeAddr(t, "127.0.0.1")
	londonCfg, _ := f.writeConfig(spec{name: "london", admin: adminAddr})
	start(t, londonCfg)

	caFile := filepath.Join(f.pkiDir, "ca.crt")
	tlsFrom := func(caFile, cert, key string) *tls.Config {
		c, err := pki.ClientConfig(caFile, cert, key)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	opCert, opKey, err := pki.IssueOperator(f.pkiDir, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	f.issue("paris")
	other := filepath.Join(f.dir, "otherpki")
	if err := pki.InitCA(other, 0); err != nil {
		t.Fatal(err)
	}
	strangerCert, strangerKey, err := pki.IssueOperator(other, "mallory", 0)
	if err != nil {
		t.Fatal(err)
	}
	pool, _, err := pki.LoadCA(caFile)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		tls  *tls.Config
		// code is the status of GetStatus and WatchEvents; with anyErr,
		// any failure will do (the TLS handshake fails).
		code   codes.Code
		anyErr bool
	}{
		{name: "operator", tls: tlsFrom(caFile, opCert, opKey), code: codes.OK},
		{name: "site certificate", code: codes.PermissionDenied,
			tls: tlsFrom(caFile, filepath.Join(f.pkiDir, "paris.crt"), filepath.Join(f.pkiDir, "paris.key"))},
		{name: "no client certificate", anyErr: true,
			tls: &tls.Config{RootCAs: pool, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}},
		{name: "operator of another CA", anyErr: true, tls: tlsFrom(caFile, strangerCert, strangerKey)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := grpc.NewClient(adminAddr, grpc.WithTransportCredentials(credentials.NewTLS(tc.tls)))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			client := adminv1.NewAdminServiceClient(conn)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()

			st, err := client.GetStatus(ctx, &adminv1.GetStatusRequest{})
			switch {
			case tc.anyErr && err == nil:
				t.Fatalf("GetStatus succeeded: %v", st)
			case !tc.anyErr && status.Code(err) != tc.code:
				t.Fatalf("GetStatus: %v, want %v", err, tc.code)
			case err == nil && st.GetSite().GetSite() != "london":
				t.Fatalf("GetStatus: site %q", st.GetSite().GetSite())
			}
			if tc.code == codes.PermissionDenied && !strings.Contains(status.Convert(err).Message(), "operator") {
				t.Errorf("refusal does not say an operator certificate is needed: %v", err)
			}
			t.Logf("GetStatus: %v", err)

			// The streaming call is guarded alike.
			wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer wcancel()
			stream, err := client.WatchEvents(wctx, &adminv1.WatchEventsRequest{})
			if err == nil {
				_, err = stream.Recv()
			}
			switch {
			case tc.code == codes.OK && !tc.anyErr:
				// No event comes: the call stays open until the deadline.
				if status.Code(err) != codes.DeadlineExceeded {
					t.Fatalf("WatchEvents: %v, want it open until the deadline", err)
				}
			case tc.anyErr:
				if err == nil || status.Code(err) == codes.DeadlineExceeded {
					t.Fatalf("WatchEvents: %v, want a failure", err)
				}
			default:
				if status.Code(err) != tc.code {
					t.Fatalf("WatchEvents: %v, want %v", err, tc.code)
				}
			}
		})
	}
}

// TestAdminHealthAndReflection: any gRPC client can check the admin API's
// health and discover it by reflection.
func TestAdminHealthAndReflection(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site")
	}
	f := newFed(t)
	cfg, _ := f.writeConfig(spec{name: "london"})
	start(t, cfg)
	conn, err := grpc.NewClient("unix://"+filepath.Join(f.dir, "london", "admin.sock"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	const svc = "rally.admin.v1.AdminService"
	if adminv1.AdminService_ServiceDesc.ServiceName != svc {
		t.Fatalf("service name %q", adminv1.AdminService_ServiceDesc.ServiceName)
	}
	health := healthpb.NewHealthClient(conn)
	for _, tc := range []struct {
		service string
		code    codes.Code
		want    healthpb.HealthCheckResponse_ServingStatus
	}{
		{svc, codes.OK, healthpb.HealthCheckResponse_SERVING},
		{"", codes.OK, healthpb.HealthCheckResponse_SERVING},
		{"rally.admin.v1.NoSuchService", codes.NotFound, 0},
	} {
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: tc.service})
		if status.Code(err) != tc.code || resp.GetStatus() != tc.want {
			t.Errorf("health %q: %v %v, want %v %v", tc.service, resp.GetStatus(), err, tc.code, tc.want)
		}
	}

	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ask := func(req *reflectionpb.ServerReflectionRequest) *reflectionpb.ServerReflectionResponse {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if e := resp.GetErrorResponse(); e != nil {
			t.Fatalf("reflection %v: %v", req, e)
		}
		return resp
	}
	var names []string
	for _, s := range ask(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"},
	}).GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{svc, "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, not %s", names, want)
		}
	}
	// Its descriptors resolve, so grpcurl-like clients can call it.
	files := ask(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: svc},
	}).GetFileDescriptorResponse().GetFileDescriptorProto()
	if len(files) == 0 {
		t.Errorf("reflection has no descriptor for %s", svc)
	}
	_ = stream.CloseSend()
}

// TestLinkTimeReports: what links but is wrong is reported at link time,
// in the status of both sites and by the check RPC.
func TestLinkTimeReports(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site")
	}
	for _, tc := range []struct {
		name          string
		parisBacksUp  []string
		londonUsers   string
		parisUsers    string
		warning       []string // in both sites' view of the other
		check         string   // a failed check at both sites
		parisFullCopy bool
	}{
		{
			name: "extension clash", parisBacksUp: []string{"london"},
			londonUsers: users(2000, 3), parisUsers: users(2000, 3),
			warning: []string{"extension clash", "2000", "2001", "2002"}, check: "extensions",
			parisFullCopy: true,
		},
		{
			name:        "backup disagreement",
			londonUsers: users(2000, 3), parisUsers: users(3000, 3),
			warning: []string{"backs_up", "london names paris as its backup"}, check: "backup",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFed(t)
			parisCfg, parisAddr := f.writeConfig(spec{
				name: "paris", host: "127.0.0.2", backsUp: tc.parisBacksUp, directory: tc.parisUsers,
			})
			londonCfg, _ := f.writeConfig(spec{
				name: "london", backup: "paris", peers: map[string]string{"paris": parisAddr}, directory: tc.londonUsers,
			})
			paris := start(t, parisCfg)
			london := start(t, londonCfg)
			eventually(t, 10*time.Second, "linked, records replicated both ways", func() bool {
				lh, _ := london.site.backups.Held("paris")
				ph, _ := paris.site.backups.Held("london")
				return london.state(t, "paris") == "normal" && paris.state(t, "london") == "normal" &&
					lh == paris.site.dir.Revision() && ph == london.site.dir.Revision()
			})
			if got := paris.site.backups.Full("london"); got != tc.parisFullCopy {
				t.Errorf("paris holds london's full records: %v, want %v", got, tc.parisFullCopy)
			}
			if tc.parisFullCopy {
				if rec, _ := paris.site.backups.Get("london", "phone/2001"); rec.GetPhone().GetHa1Md5() == "" {
					t.Errorf("paris, london's backup, holds no credential: %v", rec)
				}
			} else if rec, _ := paris.site.backups.Get("london", "phone/2001"); rec.GetPhone().GetHa1Md5() != "" {
				t.Errorf("paris, not london's backup, received credentials: %v", rec)
			}
			ctx := context.Background()
			for _, side := range []struct {
				at   *running
				peer string
			}{{london, "paris"}, {paris, "london"}} {
				p := side.at.peer(t, side.peer)
				all := strings.Join(p.GetWarnings(), "\n")
				for _, w := range tc.warning {
					if !strings.Contains(all, w) {
						t.Errorf("%s's warnings about %s lack %q: %q", side.at.name, side.peer, w, p.GetWarnings())
					}
				}
				resp, err := side.at.admin.Check(ctx, &adminv1.CheckRequest{})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.ContainsFunc(resp.GetResults(), func(r *adminv1.CheckResult) bool {
					return r.GetPeer() == side.peer && r.GetCheck() == tc.check && !r.GetOk() && r.GetMessage() != ""
				}) {
					t.Errorf("%s: check has no failed %q result for %s: %v", side.at.name, tc.check, side.peer, resp.GetResults())
				}
			}
		})
	}
}

// TestWatchEvents: a watcher of the backup sees the home go normal →
// suspect → failover, in order and timestamped, whether the home goes
// silent or stops.
func TestWatchEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site")
	}
	for _, tc := range []struct {
		name string
		kill func(p *pair)
	}{
		{"silent loss", func(p *pair) { p.toParis.blackhole(true); p.toLondon.blackhole(true) }},
		{"home stopped", func(p *pair) { p.london.stop() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, "automatic", "500ms", false)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			stream, err := p.paris.admin.WatchEvents(ctx, &adminv1.WatchEventsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			evc := make(chan *adminv1.Event)
			go func() {
				defer close(evc)
				for {
					resp, err := stream.Recv()
					if err != nil {
						return
					}
					select {
					case evc <- resp.GetEvent():
					case <-ctx.Done():
						return
					}
				}
			}()
			// The watch is subscribed by the time the first frame is
			// missed: suspicion takes two heartbeats of silence.
			time.Sleep(50 * time.Millisecond)
			killedAt := time.Now()
			tc.kill(p)

			var got []*adminv1.Event
			for len(got) == 0 || got[len(got)-1].GetTo() != resilience.Failover {
				select {
				case e, ok := <-evc:
					if !ok {
						t.Fatalf("event stream ended after %v", got)
					}
					if e.GetKind() == resilience.KindPeerState && e.GetPeer() == "london" {
						got = append(got, e)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("no failover event; peer_state events so far: %v", got)
				}
			}
			want := [][2]string{{resilience.Normal, resilience.Suspect}, {resilience.Suspect, resilience.Failover}}
			if len(got) != len(want) {
				t.Fatalf("peer_state events %v, want %v", got, want)
			}
			prev := killedAt
			for i, e := range got {
				if e.GetFrom() != want[i][0] || e.GetTo() != want[i][1] {
					t.Errorf("event %d: %s → %s, want %s → %s", i, e.GetFrom(), e.GetTo(), want[i][0], want[i][1])
				}
				if !e.GetTime().IsValid() || e.GetTime().AsTime().Before(prev) || e.GetTime().AsTime().After(time.Now()) {
					t.Errorf("event %d (%s): time %v, want between %v and now", i, e.GetTo(), e.GetTime().AsTime(), prev)
				}
				if e.GetMessage() == "" {
					t.Errorf("event %d (%s) does not say why", i, e.GetTo())
				}
				prev = e.GetTime().AsTime()
			}
			if st := p.paris.state(t, "london"); st != resilience.Failover {
				t.Errorf("paris's status says %s after the failover event", st)
			}
		})
	}
}
