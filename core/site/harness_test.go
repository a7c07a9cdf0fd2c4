package site

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rallyvoip/rally/core/config"
	"github.com/rallyvoip/rally/core/pki"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// spec describes one test site; zero values take test defaults.
type spec struct {
	name          string
	host          string // 127.0.0.x
	port          int    // 0: a free port
	pkiDir        string // where its cert is (default: the federation's)
	caFile        string // its root CA (default: the federation's)
	certName      string // cert file base name (default name)
	sipDomain     string
	ipv6          bool
	peers         map[string]string // site → addr
	backup        string
	failback      string
	failbackDelay string
	backsUp       []string
	durable       bool
	directory     string // YAML text of the seed directory
	heartbeat     string
	failoverAfter string
	licenses      int
	admin         string // host:port (operator mTLS); "" = a unix socket
	metrics       string // host:port of /metrics; "" = off
}

// federation is a test federation: a root CA and sites in one temp dir.
type fed struct {
	t      testing.TB
	dir    string
	pkiDir string
}

func newFed(t testing.TB) *fed {
	t.Helper()
	// Unix socket paths must stay short: use a short temp dir.
	dir, err := os.MkdirTemp("", "rly")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fed{t: t, dir: dir, pkiDir: filepath.Join(dir, "pki")}
	if err := pki.InitCA(f.pkiDir, 0); err != nil {
		t.Fatal(err)
	}
	return f
}

// freeAddr finds a free TCP port on host below the kernel's ephemeral
// range (32768+): a port from there could be taken, between this check and
// the daemon's bind, as the local port of some outgoing connection.
func freeAddr(t testing.TB, host string) string {
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

// issue makes a site cert in the federation's PKI.
func (f *fed) issue(name string) {
	f.t.Helper()
	if _, err := os.Stat(filepath.Join(f.pkiDir, name+".crt")); err == nil {
		return
	}
	if _, _, err := pki.IssueSite(f.pkiDir, name, []string{"127.0.0.1"}, 0); err != nil {
		f.t.Fatal(err)
	}
}

// writeConfig writes sp's config (and seed directory) and returns its path
// and federation address.
func (f *fed) writeConfig(sp spec) (path, addr string) {
	f.t.Helper()
	if sp.host == "" {
		sp.host = "127.0.0.1"
	}
	if sp.port == 0 {
		addr = freeAddr(f.t, sp.host)
	} else {
		addr = net.JoinHostPort(sp.host, fmt.Sprint(sp.port))
	}
	pkiDir := sp.pkiDir
	if pkiDir == "" {
		pkiDir = f.pkiDir
		f.issue(sp.name)
	}
	certName := sp.certName
	if certName == "" {
		certName = sp.name
	}
	if sp.sipDomain == "" {
		sp.sipDomain = "voip.example"
	}
	if sp.heartbeat == "" {
		sp.heartbeat = "100ms"
	}
	if sp.failoverAfter == "" {
		sp.failoverAfter = "600ms"
	}
	if sp.licenses == 0 {
		sp.licenses = 100000
	}
	siteDir := filepath.Join(f.dir, sp.name)
	if err := os.MkdirAll(siteDir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	caFile := sp.caFile
	if caFile == "" {
		caFile = filepath.Join(f.pkiDir, "ca.crt")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "site: %s\nsip_domain: %s\nipv6: %v\n", sp.name, sp.sipDomain, sp.ipv6)
	if sp.admin != "" {
		fmt.Fprintf(&b, "admin: %s\n", sp.admin)
	} else {
		fmt.Fprintf(&b, "admin: unix://%s\n", filepath.Join(siteDir, "admin.sock"))
	}
	if sp.metrics != "" {
		fmt.Fprintf(&b, "metrics: %s\n", sp.metrics)
	}
	fmt.Fprintf(&b, "tls: {ca: %s, cert: %s, key: %s}\n",
		caFile, filepath.Join(pkiDir, certName+".crt"), filepath.Join(pkiDir, certName+".key"))
	fmt.Fprintf(&b, "federation:\n  listen: %s\n  heartbeat: %s\n  failover_after: %s\n", addr, sp.heartbeat, sp.failoverAfter)
	if len(sp.peers) > 0 {
		b.WriteString("  peers:\n")
		for s, a := range sp.peers {
			fmt.Fprintf(&b, "    - {site: %s, addr: %s}\n", s, a)
		}
	}
	if sp.backup != "" {
		fb, delay := sp.failback, sp.failbackDelay
		if fb == "" {
			fb = "automatic"
		}
		if delay == "" {
			delay = "500ms"
		}
		fmt.Fprintf(&b, "backup: {site: %s, failback: %s, failback_delay: %s}\n", sp.backup, fb, delay)
	}
	if len(sp.backsUp) > 0 {
		fmt.Fprintf(&b, "backs_up: [%s]\n", strings.Join(sp.backsUp, ", "))
	}
	fmt.Fprintf(&b, "store: {path: %s, durable_backups: %v}\n", filepath.Join(siteDir, "data"), sp.durable)
	fmt.Fprintf(&b, "licenses: %d\n", sp.licenses)
	if sp.directory != "" {
		dp := filepath.Join(siteDir, "directory.yaml")
		if err := os.WriteFile(dp, []byte(sp.directory), 0o644); err != nil {
			f.t.Fatal(err)
		}
		fmt.Fprintf(&b, "directory: %s\n", dp)
	}
	path = filepath.Join(siteDir, sp.name+".yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		f.t.Fatal(err)
	}
	return path, addr
}

// running is an in-process site daemon with real listeners.
type running struct {
	name   string
	site   *Site
	cancel context.CancelFunc
	done   chan error
	admin  adminv1.AdminServiceClient
}

// start runs the site of cfgPath in this process until the test ends or
// stop is called.
func start(t testing.TB, cfgPath string) *running {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := New(context.Background(), cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{name: cfg.Site, site: s, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := s.Serve(ctx)
		s.Close() // before stop returns: a restart reopens the stores
		r.done <- err
	}()
	network, addr := cfg.AdminNetwork()
	target, creds := "unix://"+addr, insecure.NewCredentials()
	if network == "tcp" {
		target, creds = addr, operatorCreds(t, cfg.TLS.CA)
	}
	// Wait for the listener, so that gRPC's first connect succeeds rather
	// than backing off for a second.
	eventually(t, 5*time.Second, cfg.Site+" admin listener", func() bool {
		c, err := net.Dial(network, addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	r.admin = adminv1.NewAdminServiceClient(conn)
	t.Cleanup(func() {
		conn.Close()
		r.stop()
	})
	eventually(t, 5*time.Second, cfg.Site+" admin API up", func() bool {
		_, err := r.admin.GetStatus(context.Background(), &adminv1.GetStatusRequest{})
		return err == nil
	})
	return r
}

// operatorCreds issues an operator certificate from the root CA at caFile
// (its key beside it) and returns client credentials presenting it, for a
// host:port admin API.
func operatorCreds(t testing.TB, caFile string) credentials.TransportCredentials {
	t.Helper()
	cert, key, err := pki.IssueOperator(filepath.Dir(caFile), "tester", 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.ClientConfig(caFile, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return credentials.NewTLS(cfg)
}

// stop ends the daemon (its listeners close: peers see a reset).
func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.cancel = nil
}

// peer returns r's view of site, or nil.
func (r *running) peer(t testing.TB, site string) *adminv1.PeerStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := r.admin.GetStatus(ctx, &adminv1.GetStatusRequest{})
	if err != nil {
		t.Fatalf("%s: status: %v", r.name, err)
	}
	for _, p := range st.GetPeers() {
		if p.GetSite() == site {
			return p
		}
	}
	return nil
}

// state is r's view of site's state ("" if unknown).
func (r *running) state(t testing.TB, site string) string {
	return r.peer(t, site).GetState()
}

// explain asks r's admission decision for phone.
func (r *running) explain(t testing.TB, phone string) string {
	t.Helper()
	resp, err := r.admin.ExplainAdmission(context.Background(), &adminv1.ExplainAdmissionRequest{
		PhoneId: phone, Protocol: federationv1.Protocol_PROTOCOL_SIP,
	})
	if err != nil {
		t.Fatalf("%s: explain %s: %v", r.name, phone, err)
	}
	if resp.GetReason() != "" {
		return resp.GetOutcome() + ":" + resp.GetReason()
	}
	return resp.GetOutcome()
}

// eventually polls cond every 10 ms until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// users returns a seed directory of n users, each with a desk phone.
func users(first, n int) string {
	var b strings.Builder
	b.WriteString("users:\n")
	for i := range n {
		ext := first + i
		fmt.Fprintf(&b, "  - {extension: \"%d\", name: User %d, password: pw-%d, phone: {kind: desk, protocol: sip}}\n", ext, ext, ext)
	}
	return b.String()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var errTimeout = errors.New("timeout")

func splitHostPort(addr string) (string, int, error) {
	h, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	var n int
	_, err = fmt.Sscan(ps, &n)
	return h, n, err
}
