package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ServerConfig returns the TLS configuration of a federation or admin
// listener: TLS 1.3 at least, presenting certPath/keyPath, and requiring a
// client certificate that chains to the CA at caPath with ClientAuth usage.
// Which identity the client has (site or operator) is for the caller to check
// with SiteFromCert or OperatorFromCert on the verified peer certificate.
func ServerConfig(caPath, certPath, keyPath string) (*tls.Config, error) {
	pool, _, err := LoadCA(caPath)
	if err != nil {
		return nil, err
	}
	cert, err := loadKeyPair(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}, nil
}

// ClientConfig returns the TLS configuration for dialing a federation peer
// or a remote admin API: TLS 1.3 at least, presenting certPath/keyPath, and
// verifying the server's certificate against the CA at caPath.
//
// Sites are identified by the URI SAN of their certificate, not by DNS names
// or IP addresses: a peer is dialed at whatever address the operator
// configured, which its certificate need not list. The standard verification
// would also check the dialed host name against the certificate, so it is
// turned off (InsecureSkipVerify) and replaced by a VerifyConnection callback
// that runs the same chain verification against the CA pool, at the current
// time and for ServerAuth, with no host name check. VerifyConnection runs on
// every handshake, resumed ones included, so nothing goes unverified. The
// caller still checks WHO the server is (SiteFromCert on
// ConnectionState.PeerCertificates[0] against the site it meant to reach),
// e.g. by chaining its own check after this VerifyConnection.
func ClientConfig(caPath, certPath, keyPath string) (*tls.Config, error) {
	pool, _, err := LoadCA(caPath)
	if err != nil {
		return nil, err
	}
	cert, err := loadKeyPair(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{cert},
		RootCAs:            pool,
		InsecureSkipVerify: true, // replaced by VerifyConnection; see the doc comment
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := VerifyPeer(cs, pool, x509.ExtKeyUsageServerAuth)
			return err
		},
	}, nil
}

// VerifyPeer verifies the peer's certificate chain in cs against pool, at
// the current time and for usage, without any host name check, and returns
// the peer's leaf certificate. Errors wrap ErrVerify.
func VerifyPeer(cs tls.ConnectionState, pool *x509.CertPool, usage x509.ExtKeyUsage) (*x509.Certificate, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, fmt.Errorf("%w: peer presented no certificate", ErrVerify)
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         pool,
		Intermediates: inter,
		CurrentTime:   time.Now(),
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrVerify, leaf.Subject.CommonName, err)
	}
	return leaf, nil
}

// loadKeyPair reads a PEM certificate and key, naming the file on failure.
func loadKeyPair(certPath, keyPath string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: read %s: %w", filepath.Base(certPath), err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: read %s: %w", filepath.Base(keyPath), err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: load %s with %s: %w", filepath.Base(certPath), filepath.Base(keyPath), err)
	}
	return cert, nil
}
