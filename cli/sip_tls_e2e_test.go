package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/rallyvoip/rally/core/pki"
)

// TestSIPOverTLSE2E: a real daemon whose SIP plugin listens on tls://
// serves it with the site's identity certificate (issued for the host by
// `rally pki issue --host`); a phone trusting the federation's root CA
// registers over TLS with digest, and `rally phones` lists it with
// transport tls. A phone trusting another CA fails the handshake.
func TestSIPOverTLSE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	t.Setenv(envAdmin, "")
	london, _ := writeSites(t, "automatic", false)
	pkiDir := filepath.Join(filepath.Dir(filepath.Dir(london.cfg)), "pki")
	if _, _, err := pki.IssueSite(pkiDir, "london", []string{"127.0.0.1"}, 0); err != nil {
		t.Fatal(err)
	}
	tlsAddr := freePort(t, "127.0.0.1")
	f, err := os.OpenFile(london.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("plugins:\n  sip: {listen: [tls://" + tlsAddr + "]}\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	serveSite(t, london.cfg)
	lc := adminOf(t, london)
	waitFor(t, 15*time.Second, "SIP serving", func() bool { return sipServing(lc) })
	if eps := sipPlugin(lc).GetEndpoints(); len(eps) != 1 || eps[0] != "sip:tls://"+tlsAddr {
		t.Fatalf("sip endpoints %v, want sip:tls://%s", eps, tlsAddr)
	}

	caPEM, err := os.ReadFile(filepath.Join(pkiDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	code, err := registerTLS(t, roots, tlsAddr, "201", "alice-secret")
	if err != nil || code != 200 {
		t.Fatalf("REGISTER over TLS: %d, %v", code, err)
	}
	waitFor(t, 5*time.Second, "rally phones lists 201 over tls", func() bool {
		r, ok := phonesJSONAt(t, london.cfg)["201"]
		return ok && r.Transport == "tls" && r.HereAs == "home"
	})

	other := filepath.Join(t.TempDir(), "other")
	if err := pki.InitCA(other, 0); err != nil {
		t.Fatal(err)
	}
	otherPEM, err := os.ReadFile(filepath.Join(other, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	otherRoots := x509.NewCertPool()
	otherRoots.AppendCertsFromPEM(otherPEM)
	if _, err := registerTLS(t, otherRoots, tlsAddr, "201", "alice-secret"); err == nil || !strings.Contains(err.Error(), "handshake") {
		t.Fatalf("a phone trusting another CA: %v, want a TLS handshake failure", err)
	}
}

// registerTLS registers phone id (its own user) over TLS at addr with
// digest, trusting roots, and returns the final status code.
func registerTLS(t *testing.T, roots *x509.CertPool, addr, id, password string) (int, error) {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("rally-tls-test-phone"),
		sipgo.WithUserAgenTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	host, port, err := splitHostPortInt(addr)
	if err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: host, Port: port})
	req.SetTransport("TLS")
	aor := sip.Uri{Scheme: "sip", User: id, Host: "voip.example"}
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: sip.HeaderParams{{K: "tag", V: strconv.FormatInt(time.Now().UnixNano(), 36)}}})
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: id, Host: "127.0.0.1", Port: 5061,
		UriParams: sip.HeaderParams{{K: "transport", V: "tls"}}}})
	req.AppendHeader(sip.NewHeader("Expires", "300"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := client.Do(ctx, req, sipgo.ClientRequestRegisterBuild)
	if err != nil {
		return 0, err
	}
	if res.StatusCode == 401 {
		if res, err = client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: id, Password: password}); err != nil {
			return 0, err
		}
	}
	return res.StatusCode, nil
}
