package site

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/rallyvoip/rally/core/config"
	"github.com/rallyvoip/rally/core/pki"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// TestLinkRefusals: each incompatible or untrusted peer is refused with a
// message naming the cause, and no record flows.
func TestLinkRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site")
	}
	tests := []struct {
		name string
		// paris is changed by mutate before it starts.
		mutate func(f *fed, sp *spec)
		// london's view of paris must contain these.
		londonSays []string
		// paris's view of london (or its log of refusals) must contain these.
		parisSays []string
	}{
		{
			name:       "sip domain mismatch",
			mutate:     func(_ *fed, sp *spec) { sp.sipDomain = "other.example" },
			londonSays: []string{"incompatible", "sip_domain", `"voip.example"`, `"other.example"`},
			parisSays:  []string{"incompatible", "sip_domain", `"voip.example"`, `"other.example"`},
		},
		{
			name:       "ipv6 home, backup without",
			mutate:     func(_ *fed, sp *spec) { sp.ipv6 = false },
			londonSays: []string{"incompatible", "ipv6", "london (home) has ipv6: true", "paris (backup) has ipv6: false"},
			parisSays:  []string{"incompatible", "ipv6"},
		},
		{
			name: "certificate from another CA",
			mutate: func(f *fed, sp *spec) {
				other := filepath.Join(f.dir, "otherpki")
				if err := pki.InitCA(other, 0); err != nil {
					t.Fatal(err)
				}
				if _, _, err := pki.IssueSite(other, "paris", nil, 0); err != nil {
					t.Fatal(err)
				}
				sp.pkiDir = other
				sp.caFile = filepath.Join(other, "ca.crt")
			},
			londonSays: []string{"connecting", "certificate"},
			parisSays:  []string{"connecting"},
		},
		{
			name: "certificate for another site",
			mutate: func(f *fed, sp *spec) {
				// The process at paris's address is berlin.
				sp.name = "berlin"
			},
			londonSays: []string{"connecting", "certificate is for site", "berlin", "expected"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFed(t)
			psp := spec{name: "paris", host: "127.0.0.2", backsUp: []string{"london"}, ipv6: true}
			tc.mutate(f, &psp)
			parisCfg, parisAddr := f.writeConfig(psp)
			londonCfg, _ := f.writeConfig(spec{
				name: "london", backup: "paris", ipv6: strings.Contains(tc.name, "ipv6"),
				peers: map[string]string{"paris": parisAddr}, directory: users(2000, 5),
			})
			paris := start(t, parisCfg)
			london := start(t, londonCfg)
			eventually(t, 5*time.Second, "london names the refusal", func() bool {
				p := london.peer(t, "paris")
				return containsAll(p.GetState()+" "+p.GetMessage(), tc.londonSays)
			})
			if len(tc.parisSays) > 0 {
				eventually(t, 5*time.Second, "paris names the refusal", func() bool {
					p := paris.peer(t, "london")
					return containsAll(p.GetState()+" "+p.GetMessage(), tc.parisSays)
				})
			}
			time.Sleep(300 * time.Millisecond)
			if n := paris.site.backups.Count("london"); n != 0 {
				t.Fatalf("%d records flowed to a refused peer", n)
			}
			if got := paris.explain(t, "2000"); got == "guest" {
				t.Fatalf("refused peer admits: %s", got)
			}
		})
	}
}

// TestFederationRejectsBadClients dials a site's federation port with an
// expired certificate, with none, and with an operator certificate: each
// is refused at the handshake and the site names the cause.
func TestFederationRejectsBadClients(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site")
	}
	f := newFed(t)
	cfgPath, addr := f.writeConfig(spec{name: "london", backsUp: []string{"paris"}})
	london := start(t, cfgPath)
	events, cancel := london.site.bus.Subscribe()
	defer cancel()

	now := time.Now()
	if _, _, err := pki.IssueSiteWithTimes(f.pkiDir, "paris", nil, now.Add(-48*time.Hour), now.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := pki.IssueOperator(f.pkiDir, "ops", 0); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(f.pkiDir, "ca.crt")
	tests := []struct {
		name      string
		cert, key string
		wantEvent string
	}{
		{"expired site certificate", "paris.crt", "paris.key", "expired"},
		{"no client certificate", "", "", "no client certificate"},
		{"operator certificate", "operator-ops.crt", "operator-ops.key", "site"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cfg *tls.Config
			if tc.cert == "" {
				pool, _, err := pki.LoadCA(ca)
				if err != nil {
					t.Fatal(err)
				}
				cfg = &tls.Config{RootCAs: pool, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
			} else {
				var err error
				cfg, err = pki.ClientConfig(ca, filepath.Join(f.pkiDir, tc.cert), filepath.Join(f.pkiDir, tc.key))
				if err != nil {
					t.Fatal(err)
				}
			}
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			stream, err := federationv1.NewFederationServiceClient(conn).Link(ctx)
			if err == nil {
				_ = stream.Send(&federationv1.LinkRequest{Frame: &federationv1.Frame{Kind: &federationv1.Frame_Hello{Hello: &federationv1.Hello{Site: "paris", ProtocolVersion: 1}}}})
				_, err = stream.Recv()
			}
			if err == nil {
				t.Fatal("a bad client got a federation stream")
			}
			t.Logf("client sees: %v", err)
			deadline := time.After(3 * time.Second)
			for {
				select {
				case e := <-events:
					if e.Kind == "refusal" && strings.Contains(e.Message, tc.wantEvent) {
						t.Logf("site says: %s", e.Message)
						return
					}
				case <-deadline:
					t.Fatalf("no refusal event naming %q", tc.wantEvent)
				}
			}
		})
	}
	if n := london.site.backups.Count("paris"); n != 0 {
		t.Fatalf("records accepted from a refused client: %d", n)
	}
}

// TestStartRefusesBadIdentity: a site does not start with an expired
// certificate or one issued for another site, and says which setting.
func TestStartRefusesBadIdentity(t *testing.T) {
	f := newFed(t)
	now := time.Now()
	if _, _, err := pki.IssueSiteWithTimes(f.pkiDir, "expired", nil, now.Add(-48*time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		sp   spec
		want []string
	}{
		{"expired", spec{name: "expired", pkiDir: f.pkiDir}, []string{"tls.cert", "expired"}},
		{"cert of another site", spec{name: "london", pkiDir: f.pkiDir, certName: "expired"}, []string{"site:", `"london"`, `"expired"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := f.writeConfig(tc.sp)
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(context.Background(), cfg, nil)
			if err == nil {
				s.Close()
				t.Fatal("site started")
			}
			if !containsAll(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
