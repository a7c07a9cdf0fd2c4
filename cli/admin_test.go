package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/rallyvoip/rally/core/pki"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

// fakeAdmin answers the admin API with canned data. It stands in for a
// site daemon: the server side is not under test here, the CLI is.
type fakeAdmin struct {
	adminv1.UnimplementedAdminServiceServer

	checkOK bool
	// holdWatch keeps the event stream open after the events until the
	// client goes away; otherwise the server ends it.
	holdWatch bool

	mu       sync.Mutex
	linked   []string
	unlinked []string
	operator string // from the client certificate, over TLS
}

func (s *fakeAdmin) notePeer(ctx context.Context) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return
	}
	if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
		name, _ := pki.OperatorFromCert(info.State.PeerCertificates[0])
		s.mu.Lock()
		s.operator = name
		s.mu.Unlock()
	}
}

func (s *fakeAdmin) GetStatus(ctx context.Context, _ *adminv1.GetStatusRequest) (*adminv1.GetStatusResponse, error) {
	s.notePeer(ctx)
	return fixtureStatus(), nil
}

func (s *fakeAdmin) ListPhones(context.Context, *adminv1.ListPhonesRequest) (*adminv1.ListPhonesResponse, error) {
	return fixturePhones(), nil
}

func (s *fakeAdmin) Check(context.Context, *adminv1.CheckRequest) (*adminv1.CheckResponse, error) {
	return fixtureCheck(s.checkOK), nil
}

func (s *fakeAdmin) Link(_ context.Context, req *adminv1.LinkRequest) (*adminv1.LinkResponse, error) {
	if req.GetAddr() == "127.0.0.8:7400" {
		return nil, status.Error(codes.Unavailable, "federation: probe 127.0.0.8:7400: connect: connection refused")
	}
	if req.GetAddr() == "127.0.0.9:7400" {
		return nil, status.Error(codes.FailedPrecondition, "sip_domain: london has voip.example, rome has other.example")
	}
	s.mu.Lock()
	s.linked = append(s.linked, req.GetAddr())
	s.mu.Unlock()
	return &adminv1.LinkResponse{Site: "paris"}, nil
}

func (s *fakeAdmin) Unlink(_ context.Context, req *adminv1.UnlinkRequest) (*adminv1.UnlinkResponse, error) {
	if req.GetSite() != "paris" {
		return nil, status.Errorf(codes.NotFound, "no peer %q", req.GetSite())
	}
	s.mu.Lock()
	s.unlinked = append(s.unlinked, req.GetSite())
	s.mu.Unlock()
	return &adminv1.UnlinkResponse{}, nil
}

func (s *fakeAdmin) Failback(_ context.Context, req *adminv1.FailbackRequest) (*adminv1.FailbackResponse, error) {
	if req.GetSite() != "berlin" {
		return nil, status.Errorf(codes.FailedPrecondition, "%s is not in failover here", req.GetSite())
	}
	return &adminv1.FailbackResponse{State: "failback_pending"}, nil
}

func (s *fakeAdmin) WatchEvents(_ *adminv1.WatchEventsRequest, stream grpc.ServerStreamingServer[adminv1.WatchEventsResponse]) error {
	for _, e := range fixtureEvents() {
		if err := stream.Send(&adminv1.WatchEventsResponse{Event: e}); err != nil {
			return err
		}
	}
	if s.holdWatch {
		<-stream.Context().Done()
	}
	return nil
}

// shortTempDir is a temporary directory whose paths fit a unix socket
// name (108 bytes), even when t.TempDir() is deep.
func shortTempDir(t *testing.T) string {
	dir := t.TempDir()
	if len(dir) < 80 {
		return dir
	}
	dir, err := os.MkdirTemp("", "rally")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// serveFake serves srv on a unix socket and returns its admin address.
func serveFake(t *testing.T, srv adminv1.AdminServiceServer) string {
	t.Helper()
	sock := filepath.Join(shortTempDir(t), "admin.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, lis, srv)
	return "unix://" + sock
}

// serve runs a gRPC server with srv on lis until the test ends.
func serve(t *testing.T, lis net.Listener, srv adminv1.AdminServiceServer, opts ...grpc.ServerOption) {
	t.Helper()
	g := grpc.NewServer(opts...)
	adminv1.RegisterAdminServiceServer(g, srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.Serve(lis)
	}()
	t.Cleanup(func() {
		g.Stop()
		<-done
	})
}

func TestAdminCommands(t *testing.T) {
	t.Setenv(envAdmin, "")
	srv := &fakeAdmin{}
	admin := serveFake(t, srv)
	okSrv := &fakeAdmin{checkOK: true}
	okAdmin := serveFake(t, okSrv)

	readGolden := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	tests := []struct {
		name       string
		args       []string
		env        string
		wantCode   int
		wantStdout string // exact, unless empty
		wantIn     []string
		wantStderr string // exact
	}{
		{name: "status json", args: []string{"--admin", admin, "status", "--json"},
			wantStdout: readGolden("status.json")},
		{name: "status json via RALLY_ADMIN", env: admin, args: []string{"status", "--json"},
			wantStdout: readGolden("status.json")},
		{name: "status table", args: []string{"status", "--admin", admin},
			wantIn: []string{"london", "voip.example", "3/100", "paris", "berlin", "failover", "never",
				"warning: berlin: plugin sip: down"}},
		{name: "phones json", args: []string{"--admin", admin, "phones", "--json"},
			wantStdout: readGolden("phones.json")},
		{name: "phones table", args: []string{"--admin", admin, "phones"},
			wantIn: []string{"PHONE", "carol", "guest", "softphone", "sip:301@10.1.0.9:5060;transport=tcp"}},
		{name: "check json failing", args: []string{"--admin", admin, "check", "--json"},
			wantCode: 1, wantStdout: readGolden("check.json"),
			wantStderr: "rally: preflight checks failed (1 of 4)\n"},
		{name: "check json ok", args: []string{"--admin", okAdmin, "check", "--json"},
			wantStdout: readGolden("check_ok.json")},
		{name: "check table failing", args: []string{"--admin", admin, "check"},
			wantCode: 1, wantStdout: readGolden("check.txt"),
			wantStderr: "rally: preflight checks failed (1 of 4)\n"},
		{name: "link", args: []string{"--admin", admin, "link", "127.0.0.2:7400"},
			wantStdout: "linked paris at 127.0.0.2:7400\n"},
		{name: "link refused", args: []string{"--admin", admin, "link", "127.0.0.9:7400"},
			wantCode:   1,
			wantStderr: "rally: link 127.0.0.9:7400: sip_domain: london has voip.example, rome has other.example\n"},
		{name: "link peer unreachable", args: []string{"--admin", admin, "link", "127.0.0.8:7400"},
			wantCode:   1,
			wantStderr: "rally: link 127.0.0.8:7400: federation: probe 127.0.0.8:7400: connect: connection refused\n"},
		{name: "unlink", args: []string{"--admin", admin, "unlink", "paris"},
			wantStdout: "unlinked paris\n"},
		{name: "unlink unknown", args: []string{"--admin", admin, "unlink", "oslo"},
			wantCode: 1, wantStderr: "rally: unlink oslo: no peer \"oslo\"\n"},
		{name: "failback", args: []string{"--admin", admin, "failback", "berlin"},
			wantStdout: "berlin: failback_pending\n"},
		{name: "failback refused", args: []string{"--admin", admin, "failback", "paris"},
			wantCode: 1, wantStderr: "rally: failback paris: paris is not in failover here\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envAdmin, tt.env)
			stdout, stderr, code := runCLI(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if tt.wantStdout != "" && stdout != tt.wantStdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, tt.wantStdout)
			}
			for _, s := range tt.wantIn {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			if stderr != tt.wantStderr {
				t.Errorf("stderr %q, want %q", stderr, tt.wantStderr)
			}
		})
	}

	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.linked) != 1 || srv.linked[0] != "127.0.0.2:7400" {
		t.Errorf("server saw links %v, want [127.0.0.2:7400]", srv.linked)
	}
	if len(srv.unlinked) != 1 || srv.unlinked[0] != "paris" {
		t.Errorf("server saw unlinks %v, want [paris]", srv.unlinked)
	}
}

// TestStatusWatchJSON: the status on the first line, then one event per
// line, each a complete JSON object; a clean end of the stream is success.
func TestStatusWatchJSON(t *testing.T) {
	admin := serveFake(t, &fakeAdmin{})
	stdout, stderr, code := runCLI(t, "--admin", admin, "status", "--watch", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4:\n%s", len(lines), stdout)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(lines[0]), &st); err != nil {
		t.Fatalf("first line: %v", err)
	}
	if st.SchemaVersion != 1 || st.Site.Site != "london" || len(st.Peers) != 3 || st.Peers[0].State != "normal" {
		t.Errorf("first line = %+v", st)
	}
	golden(t, "events.jsonl", []byte(strings.Join(lines[1:], "\n")+"\n"))
}

// TestStatusWatchInterrupted: watching ends without error when the context
// ends (Ctrl-C), after printing what arrived.
func TestStatusWatchInterrupted(t *testing.T) {
	admin := serveFake(t, &fakeAdmin{holdWatch: true})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out syncBuffer
	var errOut bytes.Buffer
	codec := make(chan int, 1)
	go func() { codec <- Main(ctx, []string{"--admin", admin, "status", "--watch"}, &out, &errOut) }()

	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "resilience  paris  inactive -> active") {
		if time.Now().After(deadline) {
			t.Fatalf("events not printed; output so far:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-codec:
		if code != 0 {
			t.Errorf("exit %d after interrupt, want 0: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop after the context ended")
	}
	if !strings.Contains(out.String(), "peer_state  paris  normal -> suspect  no frame for 1s") {
		t.Errorf("output:\n%s", out.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestAdminUnavailable: a socket file nobody serves gives a clear error.
func TestAdminUnavailable(t *testing.T) {
	sock := filepath.Join(shortTempDir(t), "stale.sock")
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI(t, "--admin", "unix://"+sock, "status", "--json")
	if code != 1 || !strings.HasPrefix(stderr, "rally: status: admin API unavailable: ") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestRemoteAdminTLS runs the CLI against a host:port admin API that
// requires an operator certificate, with real certificates from pki.
func TestRemoteAdminTLS(t *testing.T) {
	t.Setenv(envAdmin, "")
	dir := t.TempDir()
	if err := pki.InitCA(dir, 0); err != nil {
		t.Fatal(err)
	}
	siteCert, siteKey, err := pki.IssueSite(dir, "london", []string{"127.0.0.1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	opCert, opKey, err := pki.IssueOperator(dir, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, pki.CACertFile)
	serverTLS, err := pki.ServerConfig(ca, siteCert, siteKey)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fakeAdmin{}
	serve(t, lis, srv, grpc.Creds(credentials.NewTLS(serverTLS)))
	addr := lis.Addr().String()

	// A config naming the site, for the --config cases.
	writeConfig := func(site string) string {
		p := filepath.Join(t.TempDir(), site+".yaml")
		cfg := "site: " + site + "\nsip_domain: voip.example\nadmin: " + addr +
			"\ntls: {ca: " + ca + ", cert: " + siteCert + ", key: " + siteKey + "}" +
			"\nfederation: {listen: 127.0.0.1:7400}\nstore: {path: data}\n"
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("operator cert", func(t *testing.T) {
		stdout, stderr, code := runCLI(t, "--admin", addr, "--ca", ca, "--cert", opCert, "--key", opKey, "status", "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, `"site": "london"`) {
			t.Errorf("stdout:\n%s", stdout)
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if srv.operator != "alice" {
			t.Errorf("server saw operator %q, want alice", srv.operator)
		}
	})
	t.Run("config gives address and CA", func(t *testing.T) {
		_, stderr, code := runCLI(t, "--config", writeConfig("london"), "--cert", opCert, "--key", opKey, "status", "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	t.Run("config names another site", func(t *testing.T) {
		_, stderr, code := runCLI(t, "--config", writeConfig("paris"), "--cert", opCert, "--key", opKey, "status", "--json")
		if code != 1 || !strings.Contains(stderr, `is site "london", not "paris"`) {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("config without operator cert", func(t *testing.T) {
		cfg := writeConfig("london")
		_, stderr, code := runCLI(t, "--config", cfg, "status")
		if code != 1 || !strings.Contains(stderr, "cannot administer a site") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("CA of another federation", func(t *testing.T) {
		other := t.TempDir()
		if err := pki.InitCA(other, 0); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runCLI(t, "--admin", addr, "--ca", filepath.Join(other, pki.CACertFile),
			"--cert", opCert, "--key", opKey, "status")
		if code != 1 || !strings.HasPrefix(stderr, "rally: status: admin API unavailable: ") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}
