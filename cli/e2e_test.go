package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rallyvoip/rally/core/pki"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// rallyBinary builds the rally binary once per test run.
func rallyBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rally-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "rally")
		out, err := exec.Command("go", "build", "-o", binPath, "./rally").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a `rally serve` child process.
type proc struct {
	cmd *exec.Cmd
	log io.Writer
}

func serveSite(t testing.TB, cfg string) *proc {
	t.Helper()
	p := &proc{log: &bytes.Buffer{}}
	p.cmd = exec.Command(rallyBinary(t), "serve", "--config", cfg)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("log of rally serve --config %s:\n%s", cfg, p.log)
		}
	})
	return p
}

// kill sends SIGKILL: no goodbye frame, no graceful close.
func (p *proc) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

type e2eSite struct {
	name, cfg, sock string
	listen          string // federation address
}

// writeSites writes london (home, backed up by paris) and paris configs.
func writeSites(t testing.TB, failback string, durable bool) (london, paris e2eSite) {
	t.Helper()
	return writeSitesWith(t, failback, durable, demoDirectory)
}

// writeSitesWith is writeSites with london's seed directory given.
func writeSitesWith(t testing.TB, failback string, durable bool, directory string) (london, paris e2eSite) {
	t.Helper()
	dir, err := os.MkdirTemp("", "rly")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pkiDir := filepath.Join(dir, "pki")
	if err := pki.InitCA(pkiDir, 0); err != nil {
		t.Fatal(err)
	}
	addr := map[string]string{}
	for _, s := range []struct{ name, host string }{{"london", "127.0.0.1"}, {"paris", "127.0.0.2"}} {
		if _, _, err := pki.IssueSite(pkiDir, s.name, nil, 0); err != nil {
			t.Fatal(err)
		}
		addr[s.name] = freePort(t, s.host)
	}
	write := func(name, extra string) e2eSite {
		sd := filepath.Join(dir, name)
		if err := os.MkdirAll(sd, 0o755); err != nil {
			t.Fatal(err)
		}
		s := e2eSite{name: name, cfg: filepath.Join(sd, name+".yaml"), sock: filepath.Join(sd, "admin.sock"), listen: addr[name]}
		body := fmt.Sprintf(`site: %s
sip_domain: voip.example
admin: unix://%s
tls: {ca: %s/ca.crt, cert: %s/%s.crt, key: %s/%s.key}
federation: {listen: %s, heartbeat: 100ms, failover_after: 600ms}
store: {path: %s/data, durable_backups: %v}
%s`, name, s.sock, pkiDir, pkiDir, name, pkiDir, name, addr[name], sd, durable, extra)
		if err := os.WriteFile(s.cfg, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return s
	}
	dirYAML := filepath.Join(dir, "london-directory.yaml")
	if err := os.WriteFile(dirYAML, []byte(directory), 0o644); err != nil {
		t.Fatal(err)
	}
	london = write("london", fmt.Sprintf(`backup: {site: paris, failback: %s, failback_delay: 1s}
federation_peers_placeholder: x
directory: %s
`, failback, dirYAML))
	// Peers go inside federation; rewrite the placeholder line.
	data, _ := os.ReadFile(london.cfg)
	data = bytes.Replace(data, []byte("federation: {listen: "+addr["london"]+", heartbeat: 100ms, failover_after: 600ms}"),
		[]byte("federation: {listen: "+addr["london"]+", heartbeat: 100ms, failover_after: 600ms, peers: [{site: paris, addr: "+addr["paris"]+"}]}"), 1)
	data = bytes.Replace(data, []byte("federation_peers_placeholder: x\n"), nil, 1)
	if err := os.WriteFile(london.cfg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	paris = write("paris", "backs_up: [london]\n")
	return london, paris
}

// freePort finds a free TCP port on host below the kernel's ephemeral
// range (32768+), where an outgoing connection could take it before the
// daemon binds it.
func freePort(t testing.TB, host string) string {
	t.Helper()
	for range 100 {
		addr := net.JoinHostPort(host, fmt.Sprint(20000+rand.IntN(12000)))
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			return addr
		}
	}
	t.Fatal("no free port")
	return ""
}

func portOf(t testing.TB, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func adminOf(t testing.TB, s e2eSite) adminv1.AdminServiceClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+s.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return adminv1.NewAdminServiceClient(conn)
}

func peerOf(c adminv1.AdminServiceClient, peer string) *adminv1.PeerStatus {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.GetStatus(ctx, &adminv1.GetStatusRequest{})
	if err != nil {
		return nil
	}
	for _, p := range st.GetPeers() {
		if p.GetSite() == peer {
			return p
		}
	}
	return nil
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func decision(t testing.TB, c adminv1.AdminServiceClient, phone string) string {
	t.Helper()
	r, err := c.ExplainAdmission(context.Background(), &adminv1.ExplainAdmissionRequest{PhoneId: phone, Protocol: federationv1.Protocol_PROTOCOL_SIP})
	if err != nil {
		t.Fatal(err)
	}
	if r.GetReason() != "" {
		return r.GetOutcome() + ":" + r.GetReason()
	}
	return r.GetOutcome()
}

// TestKillHome: kill -9 the home; the backup declares it down within
// failover_after + one heartbeat (+ slack), admits its phones as guests,
// and fails them back per mode when the home is restarted.
func TestKillHome(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	for _, mode := range []string{"automatic", "graceful"} {
		t.Run(mode, func(t *testing.T) {
			london, paris := writeSites(t, mode, false)
			pp := serveSite(t, paris.cfg)
			lp := serveSite(t, london.cfg)
			pc := adminOf(t, paris)
			waitFor(t, 10*time.Second, "paris sees london normal with records", func() bool {
				p := peerOf(pc, "london")
				return p.GetState() == "normal" && p.GetHeldRecords() > 0
			})
			if got := decision(t, pc, "201"); got != "refuse:homed_at_live_peer" {
				t.Fatalf("before: %s", got)
			}
			killed := time.Now()
			lp.kill()
			waitFor(t, 5*time.Second, "failover", func() bool { return peerOf(pc, "london").GetState() == "failover" })
			took := time.Since(killed)
			if bound := 600*time.Millisecond + 100*time.Millisecond + 500*time.Millisecond; took > bound {
				t.Errorf("declared down %v after kill -9, bound %v", took, bound)
			}
			t.Logf("kill -9 detected in %v", took)
			if got := decision(t, pc, "201"); got != "guest" {
				t.Fatalf("during failover: %s", got)
			}
			serveSite(t, london.cfg)
			waitFor(t, 10*time.Second, "failback to normal", func() bool { return peerOf(pc, "london").GetState() == "normal" })
			if got := decision(t, pc, "201"); got != "refuse:homed_at_live_peer" {
				t.Fatalf("after failback: %s", got)
			}
			_ = pp
		})
	}
}

// TestRestartBackupDuringFailover: in memory mode the restarted backup has
// lost the home's records and says so; with durable_backups it keeps them
// and resumes failover.
func TestRestartBackupDuringFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	for _, tc := range []struct {
		durable        bool
		wantResilience string
		wantDecision   string
	}{
		{false, "lost", "refuse:unknown"}, // the records are gone with the process
		{true, "inactive", "guest"},
	} {
		t.Run(fmt.Sprintf("durable=%v", tc.durable), func(t *testing.T) {
			london, paris := writeSites(t, "automatic", tc.durable)
			pp := serveSite(t, paris.cfg)
			lp := serveSite(t, london.cfg)
			pc := adminOf(t, paris)
			waitFor(t, 10*time.Second, "replicated", func() bool {
				p := peerOf(pc, "london")
				return p.GetState() == "normal" && p.GetHeldRecords() > 0
			})
			lp.kill()
			waitFor(t, 5*time.Second, "failover", func() bool { return peerOf(pc, "london").GetState() == "failover" })
			pp.kill()
			serveSite(t, paris.cfg)
			waitFor(t, 5*time.Second, "restarted paris sees london "+tc.wantResilience, func() bool {
				p := peerOf(pc, "london")
				return p.GetResilience() == tc.wantResilience && (!tc.durable || p.GetState() == "failover")
			})
			p := peerOf(pc, "london")
			if !tc.durable && !strings.Contains(strings.Join(p.GetWarnings(), " "), "lost") {
				t.Errorf("status does not say resilience is lost: %v", p.GetWarnings())
			}
			if got := decision(t, pc, "201"); got != tc.wantDecision {
				t.Fatalf("after restart: %s, want %s", got, tc.wantDecision)
			}
		})
	}
}

// TestServeRefusesBadConfig: each invalid key is named with its file, and
// the daemon does not start (no admin socket appears).
func TestServeRefusesBadConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	london, _ := writeSites(t, "automatic", false)
	good, err := os.ReadFile(london.cfg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from, to, want string
	}{
		{"failover below heartbeat", "failover_after: 600ms", "failover_after: 50ms", "london.yaml: federation.failover_after"},
		{"unknown failback mode", "failback: automatic", "failback: sometimes", "london.yaml: backup.failback"},
		{"bad duration", "heartbeat: 100ms", "heartbeat: soon", "federation.heartbeat"},
		{"unknown key", "sip_domain: voip.example", "sip_domain: voip.example\nsip_domian: x", "sip_domian"},
		{"missing cert file", "london.crt", "nosuch.crt", "tls.cert"},
		{"self as backup", "backup: {site: paris", "backup: {site: london", "backup.site"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(good, []byte(tc.from)) {
				t.Fatalf("fixture lacks %q", tc.from)
			}
			bad := filepath.Join(filepath.Dir(london.cfg), "london.yaml")
			if err := os.WriteFile(bad, bytes.Replace(good, []byte(tc.from), []byte(tc.to), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.WriteFile(bad, good, 0o644)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, rallyBinary(t), "serve", "--config", bad).CombinedOutput()
			if err == nil {
				t.Fatalf("serve started with a bad config:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("error does not name %q:\n%s", tc.want, out)
			}
			if _, err := os.Stat(london.sock); err == nil {
				t.Fatal("the admin socket exists: the daemon started half-configured")
			}
		})
	}
}
