package cli

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rallyvoip/rally/core/pki"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPKIEndToEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")

	stdout, stderr, code := runCLI(t, "pki", "init", "--dir", dir, "--validity", "3650d")
	if code != 0 {
		t.Fatalf("pki init: exit %d: %s", code, stderr)
	}
	caPath, caKey := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if want := "wrote " + caPath + "\nwrote " + caKey + "\n"; stdout != want {
		t.Errorf("pki init printed %q, want %q", stdout, want)
	}
	ca := readCert(t, caPath)
	if !ca.IsCA {
		t.Error("ca.crt is not a CA certificate")
	}
	if got := time.Until(ca.NotAfter); got < 3649*24*time.Hour || got > 3651*24*time.Hour {
		t.Errorf("CA lifetime %v, want about 3650 days", got)
	}
	if fi, err := os.Stat(caKey); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ca.key: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}

	// A second init must not overwrite the CA.
	if _, stderr, code := runCLI(t, "pki", "init", "--dir", dir); code != 1 || !strings.Contains(stderr, "already exists") {
		t.Errorf("second pki init: exit %d, stderr %q; want a refusal", code, stderr)
	}

	roots := x509.NewCertPool()
	roots.AddCert(ca)

	tests := []struct {
		name      string
		args      []string
		wantFiles []string
		wantURI   string
		wantUsage x509.ExtKeyUsage
		wantDNS   []string
		wantIPs   []string
		lifetime  time.Duration
	}{
		{
			name:      "site",
			args:      []string{"--site", "london", "--host", "127.0.0.1", "--host", "london.example", "--validity", "90d"},
			wantFiles: []string{"london.crt", "london.key"},
			wantURI:   "rally://site/london",
			wantUsage: x509.ExtKeyUsageServerAuth,
			wantDNS:   []string{"london.example"},
			wantIPs:   []string{"127.0.0.1"},
			lifetime:  90 * 24 * time.Hour,
		},
		{
			name:      "site default validity",
			args:      []string{"--site", "paris"},
			wantFiles: []string{"paris.crt", "paris.key"},
			wantURI:   "rally://site/paris",
			wantUsage: x509.ExtKeyUsageServerAuth,
			lifetime:  pki.DefaultSiteValidity,
		},
		{
			name:      "operator",
			args:      []string{"--operator", "alice", "--validity", "720h"},
			wantFiles: []string{"operator-alice.crt", "operator-alice.key"},
			wantURI:   "rally://operator/alice",
			wantUsage: x509.ExtKeyUsageClientAuth,
			lifetime:  720 * time.Hour,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"pki", "issue", "--dir", dir}, tt.args...)
			stdout, stderr, code := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			certPath, keyPath := filepath.Join(dir, tt.wantFiles[0]), filepath.Join(dir, tt.wantFiles[1])
			if want := "wrote " + certPath + "\nwrote " + keyPath + "\n"; stdout != want {
				t.Errorf("printed %q, want %q", stdout, want)
			}
			if _, err := os.Stat(keyPath); err != nil {
				t.Error(err)
			}
			c := readCert(t, certPath)
			if len(c.URIs) != 1 || c.URIs[0].String() != tt.wantURI {
				t.Errorf("URI SANs = %v, want [%s]", c.URIs, tt.wantURI)
			}
			if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{tt.wantUsage}}); err != nil {
				t.Errorf("does not verify against the CA: %v", err)
			}
			if !slices.Equal(c.DNSNames, tt.wantDNS) {
				t.Errorf("DNS SANs = %v, want %v", c.DNSNames, tt.wantDNS)
			}
			var ips []string
			for _, ip := range c.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, tt.wantIPs) {
				t.Errorf("IP SANs = %v, want %v", ips, tt.wantIPs)
			}
			if got := time.Until(c.NotAfter); got < tt.lifetime-time.Hour || got > tt.lifetime+time.Hour {
				t.Errorf("lifetime %v, want about %v", got, tt.lifetime)
			}
		})
	}

	t.Run("bad site name", func(t *testing.T) {
		_, stderr, code := runCLI(t, "pki", "issue", "--dir", dir, "--site", "London")
		if code != 1 || !strings.Contains(stderr, "rally: pki: invalid name \"London\"") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("no CA", func(t *testing.T) {
		_, stderr, code := runCLI(t, "pki", "issue", "--dir", t.TempDir(), "--site", "rome")
		if code != 1 || !strings.HasPrefix(stderr, "rally: pki: ") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}
