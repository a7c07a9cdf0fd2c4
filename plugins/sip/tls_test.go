package sipplugin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/rallyvoip/rally/plugins/sdk"
)

// testCA is a root CA made for one test (the plugin may not import the
// core's PKI; this is the same shape: an ECDSA root and a site leaf with a
// rally://site/NAME URI SAN and the host's IP).
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// site issues a site identity certificate for 127.0.0.1.
func (ca *testCA) site(t *testing.T, site string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("rally://site/" + site)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: site},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{u}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// startTLSTest configures a plugin with a TLS listener on a free port of
// 127.0.0.1, with a site certificate from ca, and returns the address.
func startTLSTest(t *testing.T, ca *testCA) (*instance, *udpTestHost, string) {
	t.Helper()
	certPEM, keyPEM := ca.site(t, udpTestSite)
	host := &udpTestHost{}
	p := New(nil)
	eps, err := p.Configure(context.Background(), sdk.Config{Site: udpTestSite, SIPDomain: udpTestRealm,
		ConfigJSON: []byte(`{"listen":["tls://127.0.0.1:0"]}`),
		TLSCertPEM: certPEM, TLSKeyPEM: keyPEM, CACertPEM: ca.pem}, host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if len(eps) != 1 || !strings.HasPrefix(eps[0], "sip:tls://127.0.0.1:") {
		t.Fatalf("endpoints %v, want one sip:tls:// endpoint", eps)
	}
	in := p.running
	select {
	case <-in.view.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("admission view not ready")
	}
	return in, host, strings.TrimPrefix(eps[0], "sip:tls://")
}

// tlsRegister registers phone id (AoR user) over TLS at addr with a sipgo
// client trusting roots, answering the digest challenge with password.
func tlsRegister(t *testing.T, roots *x509.CertPool, addr, id, user, password string) (*sip.Response, error) {
	t.Helper()
	return sipgoRegister(t, "TLS", addr, id, user, password,
		sipgo.WithUserAgenTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
}

// sipgoRegister registers phone id (AoR user) at addr over transport with
// sipgo's client, answering the digest challenge with password.
func sipgoRegister(t *testing.T, transport, addr, id, user, password string, opts ...sipgo.UserAgentOption) (*sip.Response, error) {
	t.Helper()
	ua, err := sipgo.NewUA(append([]sipgo.UserAgentOption{sipgo.WithUserAgent("sipgo-test-phone")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: h, Port: port})
	req.SetTransport(transport)
	aor := sip.Uri{Scheme: "sip", User: user, Host: udpTestRealm}
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: sip.HeaderParams{{K: "tag", V: "t" + id + user}}})
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: id, Host: "127.0.0.1", Port: 5061,
		UriParams: sip.HeaderParams{{K: "transport", V: strings.ToLower(transport)}}}})
	req.AppendHeader(sip.NewHeader("Expires", "300"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := client.Do(ctx, req, sipgo.ClientRequestRegisterBuild)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != 401 {
		t.Fatalf("first answer %d %s, want a 401 challenge", res.StatusCode, res.Reason)
	}
	return client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: id, Password: password})
}

// TestTLSRegister: a phone trusting the federation's root CA registers over
// TLS with digest (the site's identity certificate serves SIP); the
// registration is reported with transport tls; a wrong password is refused
// over TLS as over UDP.
func TestTLSRegister(t *testing.T) {
	ca := newTestCA(t, "rally test root")
	in, host, addr := startTLSTest(t, ca)
	tests := []struct {
		name, id, user, password string
		want                     int
	}{
		{"right password", "2001", "201", "pw-2001", 200},
		{"wrong password", "2002", "202", "nope", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tlsRegister(t, ca.pool(), addr, tt.id, tt.user, tt.password)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.want {
				t.Fatalf("answer %d %s, want %d", res.StatusCode, res.Reason, tt.want)
			}
		})
	}
	if n := in.reg.PhoneCount("2001"); n != 1 {
		t.Fatalf("registrar holds %d bindings of 2001, want 1", n)
	}
	if n := in.reg.PhoneCount("2002"); n != 0 {
		t.Fatalf("registrar holds %d bindings of 2002, want 0", n)
	}
	waitFor(t, "the TLS registration reported", func() bool {
		host.mu.Lock()
		defer host.mu.Unlock()
		for _, r := range host.reports {
			if r.PhoneID == "2001" && r.Outcome == sdk.RegHome {
				if r.Transport != "tls" {
					t.Fatalf("reported transport %q, want tls", r.Transport)
				}
				return true
			}
		}
		return false
	})
}

// TestTLSOtherCA: a phone that trusts another root CA fails the handshake
// (and registers nothing); a raw TLS client names the cause.
func TestTLSOtherCA(t *testing.T) {
	ca := newTestCA(t, "rally test root")
	in, _, addr := startTLSTest(t, ca)
	other := newTestCA(t, "another root")
	_, err := tlsRegister(t, other.pool(), addr, "2001", "201", "pw-2001")
	if err == nil {
		t.Fatal("a client trusting another CA registered over TLS")
	}
	if !strings.Contains(err.Error(), "handshake") {
		t.Fatalf("error %v, want a TLS handshake failure", err)
	}
	if n := in.reg.PhoneCount("2001"); n != 0 {
		t.Fatalf("registrar holds %d bindings", n)
	}
	_, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: other.pool(), MinVersion: tls.VersionTLS12})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("raw TLS dial with another CA: %v, want x509.UnknownAuthorityError", err)
	}
	// The listener survives the failed handshakes.
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: ca.pool(), MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("dial with the right CA after failures: %v", err)
	}
	_ = c.Close()
}

// TestTLSNeedsIdentity: a tls listener without the site's certificate is a
// config error naming the key.
func TestTLSNeedsIdentity(t *testing.T) {
	p := New(nil)
	defer p.Close()
	_, err := p.Configure(context.Background(), sdk.Config{Site: udpTestSite, SIPDomain: udpTestRealm,
		ConfigJSON: []byte(`{"listen":["tls://127.0.0.1:0"]}`)}, &udpTestHost{})
	if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), "plugins.sip.listen") {
		t.Fatalf("Configure without a certificate: %v, want ErrInvalidConfig naming plugins.sip.listen", err)
	}
}
