package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// newCA makes a PKI directory with a CA.
func newCA(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	if err := InitCA(dir, 0); err != nil {
		t.Fatalf("InitCA: %v", err)
	}
	return dir
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	certs, err := readCerts(path)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

func TestInitIssueLoad(t *testing.T) {
	dir := newCA(t)
	pool, ca, err := LoadCA(filepath.Join(dir, CACertFile))
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if !ca.IsCA || ca.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("CA: IsCA=%v algorithm=%v", ca.IsCA, ca.PublicKeyAlgorithm)
	}
	if d := time.Until(ca.NotAfter) - DefaultCAValidity; d < -time.Minute || d > time.Minute {
		t.Errorf("CA NotAfter %s, want about now + %s", ca.NotAfter, DefaultCAValidity)
	}

	certPath, keyPath, err := IssueSite(dir, "london", []string{"127.0.0.1", "london.example", "[::1]"}, 0)
	if err != nil {
		t.Fatalf("IssueSite: %v", err)
	}
	if certPath != filepath.Join(dir, "london.crt") || keyPath != filepath.Join(dir, "london.key") {
		t.Errorf("paths: %s %s", certPath, keyPath)
	}
	c := readCert(t, certPath)
	if got := c.PublicKey.(*ecdsa.PublicKey).Curve; got != elliptic.P256() {
		t.Errorf("curve %v, want P-256", got.Params().Name)
	}

	tests := []struct {
		name string
		got  any
		want any
	}{
		{name: "URI SAN", got: c.URIs[0].String(), want: "rally://site/london"},
		{name: "DNS SANs", got: c.DNSNames, want: []string{"london.example"}},
		{name: "IP SANs", got: len(c.IPAddresses), want: 2},
		{name: "first IP", got: c.IPAddresses[0].String(), want: "127.0.0.1"},
		{name: "second IP", got: c.IPAddresses[1].String(), want: "::1"},
		{name: "ext key usage", got: c.ExtKeyUsage, want: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}},
		{name: "not a CA", got: c.IsCA, want: false},
		{name: "issuer", got: c.Issuer.String(), want: ca.Subject.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	if d := time.Until(c.NotAfter) - DefaultSiteValidity; d < -time.Minute || d > time.Minute {
		t.Errorf("site NotAfter %s, want about now + %s", c.NotAfter, DefaultSiteValidity)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("site cert does not verify for ServerAuth: %v", err)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("site cert does not verify for ClientAuth: %v", err)
	}
	if _, err := tls.LoadX509KeyPair(certPath, keyPath); err != nil {
		t.Errorf("key pair: %v", err)
	}
	for _, p := range []string{keyPath, filepath.Join(dir, CAKeyFile)} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", p, fi.Mode().Perm(), err)
		}
	}

	// Re-issuing replaces the pair (renewal).
	again, _, err := IssueSite(dir, "london", nil, time.Hour)
	if err != nil {
		t.Fatalf("IssueSite again: %v", err)
	}
	if c2 := readCert(t, again); c2.SerialNumber.Cmp(c.SerialNumber) == 0 || len(c2.DNSNames) != 0 {
		t.Errorf("re-issue did not replace the certificate")
	}
}

func TestValidityClampedToCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	if err := InitCA(dir, 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	certPath, _, err := IssueSite(dir, "london", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, ca, err := LoadCA(filepath.Join(dir, CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := readCert(t, certPath).NotAfter; !got.Equal(ca.NotAfter) {
		t.Errorf("site NotAfter %s, want the CA's %s", got, ca.NotAfter)
	}
}

func TestInitCARefusesOverwrite(t *testing.T) {
	tests := []struct {
		name  string
		exist string
	}{
		{name: "certificate exists", exist: CACertFile},
		{name: "key exists", exist: CAKeyFile},
		{name: "whole CA exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.exist != "" {
				if err := os.WriteFile(filepath.Join(dir, tt.exist), []byte("keep me"), 0o600); err != nil {
					t.Fatal(err)
				}
			} else if err := InitCA(dir, 0); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(filepath.Join(dir, CACertFile))
			err := InitCA(dir, 0)
			if !errors.Is(err, ErrExists) {
				t.Fatalf("InitCA: got %v, want ErrExists", err)
			}
			after, _ := os.ReadFile(filepath.Join(dir, CACertFile))
			if !bytes.Equal(before, after) {
				t.Errorf("ca.crt changed")
			}
		})
	}
}

func TestIssueErrors(t *testing.T) {
	dir := newCA(t)
	tests := []struct {
		name  string
		issue func() error
		want  error
	}{
		{name: "upper-case site", want: ErrInvalidName, issue: func() error { _, _, err := IssueSite(dir, "London", nil, 0); return err }},
		{name: "empty site", want: ErrInvalidName, issue: func() error { _, _, err := IssueSite(dir, "", nil, 0); return err }},
		{name: "site named ca", want: ErrInvalidName, issue: func() error { _, _, err := IssueSite(dir, "ca", nil, 0); return err }},
		{name: "site with operator prefix", want: ErrInvalidName, issue: func() error { _, _, err := IssueSite(dir, "operator-bob", nil, 0); return err }},
		{name: "bad host", want: ErrInvalidName, issue: func() error { _, _, err := IssueSite(dir, "london", []string{"a b"}, 0); return err }},
		{name: "operator with slash", want: ErrInvalidName, issue: func() error { _, _, err := IssueOperator(dir, "../x", 0); return err }},
		{name: "negative validity", want: ErrValidity, issue: func() error { _, _, err := IssueSite(dir, "london", nil, -time.Hour); return err }},
		{name: "empty period", want: ErrValidity, issue: func() error {
			now := time.Now()
			_, _, err := IssueSiteWithTimes(dir, "london", nil, now, now)
			return err
		}},
		{name: "no CA", want: fs.ErrNotExist, issue: func() error { _, _, err := IssueSite(t.TempDir(), "london", nil, 0); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.issue(); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "London.crt")); err == nil {
		t.Errorf("a refused issue wrote a file")
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	dir := newCA(t)
	garbage := filepath.Join(dir, "garbage.crt")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	site, _, err := IssueSite(dir, "london", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		load func() error
		want string
		is   error
	}{
		{name: "missing CA", want: "pki: read nope.crt: ", is: fs.ErrNotExist, load: func() error { _, _, err := LoadCA(filepath.Join(dir, "nope.crt")); return err }},
		{name: "not PEM", want: "garbage.crt", is: ErrFormat, load: func() error { _, _, err := LoadCA(garbage); return err }},
		{name: "CA file holds a site cert", want: "london.crt", is: ErrFormat, load: func() error { _, _, err := LoadCA(site); return err }},
		{name: "missing key", want: "pki: read paris.key: ", is: fs.ErrNotExist, load: func() error {
			_, err := ServerConfig(filepath.Join(dir, CACertFile), site, filepath.Join(dir, "paris.key"))
			return err
		}},
		{name: "missing cert", want: "pki: read paris.crt: ", is: fs.ErrNotExist, load: func() error {
			_, err := ClientConfig(filepath.Join(dir, CACertFile), filepath.Join(dir, "paris.crt"), filepath.Join(dir, "london.key"))
			return err
		}},
		{name: "mismatched key", want: "london.crt", load: func() error {
			_, err := ServerConfig(filepath.Join(dir, CACertFile), site, filepath.Join(dir, CAKeyFile))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.load()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("got %v, want errors.Is %v", err, tt.is)
			}
		})
	}
}

// selfSigned makes a throwaway certificate with the given URI SANs.
func selfSigned(t *testing.T, uris ...string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"}, NotAfter: time.Now().Add(time.Hour)}
	for _, u := range uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIdentityFromCert(t *testing.T) {
	dir := newCA(t)
	sitePath, _, err := IssueSite(dir, "london", []string{"127.0.0.1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	opPath, _, err := IssueOperator(dir, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		cert     *x509.Certificate
		site     string // "" = SiteFromCert must fail
		operator string // "" = OperatorFromCert must fail
	}{
		{name: "issued site", cert: readCert(t, sitePath), site: "london"},
		{name: "issued operator", cert: readCert(t, opPath), operator: "alice"},
		{name: "no URI SAN", cert: selfSigned(t)},
		{name: "two URI SANs", cert: selfSigned(t, "rally://site/london", "rally://site/paris")},
		{name: "site plus another URI", cert: selfSigned(t, "rally://site/london", "spiffe://x/y")},
		{name: "other scheme", cert: selfSigned(t, "https://site/london")},
		{name: "invalid name", cert: selfSigned(t, "rally://site/London")},
		{name: "nested path", cert: selfSigned(t, "rally://site/london/x")},
		{name: "query", cert: selfSigned(t, "rally://site/london?x=1")},
		{name: "hand-made site", cert: selfSigned(t, "rally://site/paris"), site: "paris"},
		{name: "nil", cert: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site, err := SiteFromCert(tt.cert)
			if site != tt.site || (err == nil) != (tt.site != "") {
				t.Errorf("SiteFromCert = %q, %v; want %q", site, err, tt.site)
			}
			if err != nil && !errors.Is(err, ErrIdentity) {
				t.Errorf("SiteFromCert error %v does not wrap ErrIdentity", err)
			}
			op, err := OperatorFromCert(tt.cert)
			if op != tt.operator || (err == nil) != (tt.operator != "") {
				t.Errorf("OperatorFromCert = %q, %v; want %q", op, err, tt.operator)
			}
		})
	}
}

func TestOperatorCert(t *testing.T) {
	dir := newCA(t)
	certPath, keyPath, err := IssueOperator(dir, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	if certPath != filepath.Join(dir, "operator-alice.crt") || keyPath != filepath.Join(dir, "operator-alice.key") {
		t.Errorf("paths: %s %s", certPath, keyPath)
	}
	c := readCert(t, certPath)
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ext key usage %v, want ClientAuth only", c.ExtKeyUsage)
	}
	if got := c.URIs[0].String(); got != "rally://operator/alice" {
		t.Errorf("URI SAN %s", got)
	}
	pool, _, err := LoadCA(filepath.Join(dir, CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
	if _, err := VerifyPeer(cs, pool, x509.ExtKeyUsageServerAuth); !errors.Is(err, ErrVerify) {
		t.Errorf("operator cert verified for ServerAuth: %v", err)
	}
	if leaf, err := VerifyPeer(cs, pool, x509.ExtKeyUsageClientAuth); err != nil || leaf != c {
		t.Errorf("operator cert for ClientAuth: %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	dir := newCA(t)
	_, ca, err := LoadCA(filepath.Join(dir, CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(ca.Raw)
	if got, want := Fingerprint(ca), hex.EncodeToString(sum[:]); got != want || len(got) != 64 || strings.ToLower(got) != got {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}
}

// handshake runs one TLS handshake over loopback TCP and a one-byte
// exchange (in TLS 1.3 the client learns that the server refused its
// certificate only when it reads). It returns each side's error and what
// each side saw of the other.
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error, serverSaw, clientSaw *x509.Certificate) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		err  error
		peer *x509.Certificate
	}
	done := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(conn, server)
		if err := tc.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		_, err = tc.Write([]byte{1})
		var peer *x509.Certificate
		if pc := tc.ConnectionState().PeerCertificates; len(pc) > 0 {
			peer = pc[0]
		}
		done <- result{err: err, peer: peer}
	}()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(conn, client)
	clientErr = tc.Handshake()
	if clientErr == nil {
		clientSaw = tc.ConnectionState().PeerCertificates[0]
		_, clientErr = tc.Read(make([]byte, 1))
	}
	conn.Close()
	r := <-done
	return r.err, clientErr, r.peer, clientSaw
}

func TestHandshake(t *testing.T) {
	dir := newCA(t)
	other := newCA(t) // another federation
	ca := filepath.Join(dir, CACertFile)
	issue := func(dir, site string) (string, string) {
		c, k, err := IssueSite(dir, site, []string{"127.0.0.1"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return c, k
	}
	londonCrt, londonKey := issue(dir, "london")
	parisCrt, parisKey := issue(dir, "paris")
	rogueCrt, rogueKey := issue(other, "paris")
	expCrt, expKey, err := IssueSiteWithTimes(dir, "expired", []string{"127.0.0.1"}, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	opCrt, opKey, err := IssueOperator(dir, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}

	server := func(crt, key string) *tls.Config {
		cfg, err := ServerConfig(ca, crt, key)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	client := func(crt, key string) *tls.Config {
		cfg, err := ClientConfig(ca, crt, key)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	noCert := client(parisCrt, parisKey)
	noCert.Certificates = nil

	tests := []struct {
		name       string
		server     *tls.Config
		client     *tls.Config
		serverSees string // site or operator the server reads from the client cert; "" = must fail
		clientSees string // site the client reads from the server cert
		serverErr  string // part of the server's error when the server refuses
		clientErr  error  // the client's error when the client refuses
	}{
		{name: "site to site", server: server(londonCrt, londonKey), client: client(parisCrt, parisKey), serverSees: "paris", clientSees: "london"},
		{name: "operator to site", server: server(londonCrt, londonKey), client: client(opCrt, opKey), serverSees: "alice", clientSees: "london"},
		{name: "client cert from another CA", server: server(londonCrt, londonKey), client: client(rogueCrt, rogueKey), serverErr: "unknown authority"},
		{name: "server cert from another CA", server: server(rogueCrt, rogueKey), client: client(londonCrt, londonKey), clientErr: ErrVerify},
		{name: "expired client cert", server: server(londonCrt, londonKey), client: client(expCrt, expKey), serverErr: "expired"},
		{name: "expired server cert", server: server(expCrt, expKey), client: client(londonCrt, londonKey), clientErr: ErrVerify},
		{name: "no client cert", server: server(londonCrt, londonKey), client: noCert, serverErr: "didn't provide a certificate"},
		{name: "operator cert as server", server: server(opCrt, opKey), client: client(londonCrt, londonKey), clientErr: ErrVerify},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serverErr, clientErr, serverSaw, clientSaw := handshake(t, tt.server, tt.client)
			if tt.serverSees != "" {
				if serverErr != nil || clientErr != nil {
					t.Fatalf("handshake failed: server %v, client %v", serverErr, clientErr)
				}
				id, err := SiteFromCert(serverSaw)
				if err != nil {
					id, err = OperatorFromCert(serverSaw)
				}
				if err != nil || id != tt.serverSees {
					t.Errorf("server saw %q (%v), want %q", id, err, tt.serverSees)
				}
				if id, err := SiteFromCert(clientSaw); err != nil || id != tt.clientSees {
					t.Errorf("client saw %q (%v), want %q", id, err, tt.clientSees)
				}
				return
			}
			t.Logf("server: %v\n client: %v", serverErr, clientErr)
			if serverErr == nil || clientErr == nil {
				t.Fatalf("handshake should fail on both sides: server %v, client %v", serverErr, clientErr)
			}
			if tt.serverErr != "" && !strings.Contains(serverErr.Error(), tt.serverErr) {
				t.Errorf("server error %q lacks %q", serverErr, tt.serverErr)
			}
			if tt.clientErr != nil && !errors.Is(clientErr, tt.clientErr) {
				t.Errorf("client error %v is not %v", clientErr, tt.clientErr)
			}
		})
	}
}

func TestConfigs(t *testing.T) {
	dir := newCA(t)
	crt, key, err := IssueSite(dir, "london", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ServerConfig(filepath.Join(dir, CACertFile), crt, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ClientConfig(filepath.Join(dir, CACertFile), crt, key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ok   bool
	}{
		{name: "server TLS 1.3", ok: s.MinVersion == tls.VersionTLS13},
		{name: "server requires client cert", ok: s.ClientAuth == tls.RequireAndVerifyClientCert && s.ClientCAs != nil},
		{name: "client TLS 1.3", ok: c.MinVersion == tls.VersionTLS13},
		{name: "client verifies by callback", ok: c.InsecureSkipVerify && c.VerifyConnection != nil && c.RootCAs != nil},
		{name: "client presents its cert", ok: len(c.Certificates) == 1 && c.Certificates[0].Leaf != nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ok {
				t.Error("not so")
			}
		})
	}
}
