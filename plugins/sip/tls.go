package sipplugin

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"

	"github.com/rallyvoip/rally/plugins/sdk"
)

// listenTLS opens a SIP-over-TLS listener (RFC 3261 §26.2) at ep with the
// site's identity certificate: phones trust the federation's root CA, the
// same one the sites' certificates chain to. Phones present no client
// certificate (server authentication only), as SIP phones do; a phone is
// authenticated by digest, as on UDP and TCP.
func listenTLS(cfg sdk.Config, ep Endpoint) (net.Listener, error) {
	if len(cfg.TLSCertPEM) == 0 || len(cfg.TLSKeyPEM) == 0 {
		return nil, fmt.Errorf("%w: plugins.sip.listen: %s: tls needs the site's identity certificate, and the host gave none",
			sdk.ErrInvalidConfig, ep)
	}
	pair, err := tls.X509KeyPair(cfg.TLSCertPEM, cfg.TLSKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: plugins.sip.listen: %s: the site's identity certificate: %w", sdk.ErrInvalidConfig, ep, err)
	}
	l, err := net.Listen("tcp", ep.Addr)
	if err != nil {
		return nil, listenError(ep, err)
	}
	return tls.NewListener(l, &tls.Config{
		Certificates: []tls.Certificate{pair},
		MinVersion:   tls.VersionTLS12,
		ClientAuth:   tls.NoClientCert,
	}), nil
}

// dialTLSConfig is the proxy's TLS client configuration for dialling a
// phone's contact, which it does only when the connection the phone
// registered on is gone: the phone's certificate must chain to the
// federation's root CA (the one the site's certificate chains to) and
// name the contact's address. A phone without such a certificate is not
// dialled (it is reached on its own connection only); without a root CA
// no dial succeeds. Never unverified.
func dialTLSConfig(cfg sdk.Config) *tls.Config {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(cfg.CACertPEM)
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}
