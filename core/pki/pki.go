// Package pki is the federation's public key infrastructure: one root CA per
// federation, an identity certificate per site and a client certificate per
// operator, all ECDSA P-256, and the mutual-TLS configurations built on them.
//
// Identities live in a URI SAN, not in DNS names: a site certificate carries
// rally://site/NAME and an operator certificate rally://operator/NAME, read
// back with [SiteFromCert] and [OperatorFromCert]. A site certificate is good
// for both ServerAuth and ClientAuth, since sites both dial and accept; an
// operator certificate only for ClientAuth.
//
// Files in a PKI directory (all PEM; keys PKCS#8, mode 0600):
//
//	ca.crt, ca.key                        the root CA (InitCA)
//	NAME.crt, NAME.key                    site NAME (IssueSite)
//	operator-NAME.crt, operator-NAME.key  operator NAME (IssueOperator)
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Default validities, used when a validity of 0 is given.
const (
	DefaultCAValidity       = 10 * 365 * 24 * time.Hour
	DefaultSiteValidity     = 825 * 24 * time.Hour
	DefaultOperatorValidity = 365 * 24 * time.Hour
)

// File names in a PKI directory.
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	operatorPrefix = "operator-"
)

// URI SAN forms of the identities.
const (
	uriScheme        = "rally"
	uriSiteHost      = "site"
	uriOperatorHost  = "operator"
	backdate         = time.Hour // NotBefore is set this far back to absorb clock skew between sites
	maxNameLen       = 63
	serialNumberBits = 128
)

var (
	// ErrExists: InitCA found a CA already in the directory.
	ErrExists = errors.New("pki: already exists")
	// ErrInvalidName: a site or operator name breaks the naming rule.
	ErrInvalidName = errors.New("pki: invalid name")
	// ErrValidity: a validity period is negative or empty.
	ErrValidity = errors.New("pki: invalid validity")
	// ErrFormat: a file does not hold the expected PEM data.
	ErrFormat = errors.New("pki: bad file format")
	// ErrIdentity: a certificate does not carry exactly one identity of
	// the expected kind.
	ErrIdentity = errors.New("pki: certificate identity")
	// ErrVerify: a peer's certificate does not chain to the federation's CA
	// for the required usage (or is expired, or absent).
	ErrVerify = errors.New("pki: peer certificate rejected")
)

// SiteURI returns the URI SAN that identifies site name.
func SiteURI(name string) string { return uriScheme + "://" + uriSiteHost + "/" + name }

// OperatorURI returns the URI SAN that identifies operator name.
func OperatorURI(name string) string { return uriScheme + "://" + uriOperatorHost + "/" + name }

// validName applies the site naming rule of the config package (1 to 63
// lowercase letters, digits and '-', starting with a letter) to site and
// operator names alike; the rule keeps them safe in file names and URIs.
func validName(name string) error {
	ok := name != "" && len(name) <= maxNameLen && name[0] >= 'a' && name[0] <= 'z'
	for _, r := range name {
		ok = ok && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	}
	if !ok {
		return fmt.Errorf("%w %q: want 1-63 lowercase letters, digits and '-', starting with a letter", ErrInvalidName, name)
	}
	return nil
}

// validSiteName also refuses the names whose files would collide with the
// CA's or an operator's.
func validSiteName(name string) error {
	if err := validName(name); err != nil {
		return err
	}
	if name+".crt" == CACertFile || strings.HasPrefix(name, operatorPrefix) {
		return fmt.Errorf("%w %q: reserved for the CA or operator files", ErrInvalidName, name)
	}
	return nil
}

// InitCA creates the federation's root CA in dir (created if needed):
// dir/ca.crt and dir/ca.key (mode 0600). It refuses (ErrExists) if either
// file exists. A validity of 0 means DefaultCAValidity.
func InitCA(dir string, validity time.Duration) error {
	validity, err := defaultValidity(validity, DefaultCAValidity)
	if err != nil {
		return err
	}
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%w: %s (remove it to start a new federation)", ErrExists, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pki: stat %s: %w", filepath.Base(p), err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "rally federation root CA", Organization: []string{"rally"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true, // sites and operators only, no intermediates
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("pki: create CA certificate: %w", err)
	}
	keyPEM, err := marshalKey(key)
	if err != nil {
		return err
	}
	// O_EXCL: never overwrite, even if a CA appeared since the check.
	if err := writeNew(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeNew(certPath, pemCert(der), 0o644); err != nil {
		_ = os.Remove(keyPath)
		return err
	}
	return nil
}

// IssueSite issues site's identity certificate signed by the CA in dir and
// writes dir/<site>.crt and dir/<site>.key, replacing any earlier ones (a
// renewal). The certificate has the URI SAN rally://site/<site>, plus each
// host as an IP SAN if it parses as an IP, else as a DNS SAN, and is good
// for ServerAuth and ClientAuth. A validity of 0 means DefaultSiteValidity;
// it is cut short to end with the CA's.
func IssueSite(dir, site string, hosts []string, validity time.Duration) (certPath, keyPath string, err error) {
	validity, err = defaultValidity(validity, DefaultSiteValidity)
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	return issueSite(dir, site, hosts, now.Add(-backdate), now.Add(validity), true)
}

// IssueSiteWithTimes is IssueSite with an exact validity period, not cut to
// the CA's, so that tests can mint expired or not-yet-valid certificates.
func IssueSiteWithTimes(dir, site string, hosts []string, notBefore, notAfter time.Time) (certPath, keyPath string, err error) {
	return issueSite(dir, site, hosts, notBefore, notAfter, false)
}

func issueSite(dir, site string, hosts []string, notBefore, notAfter time.Time, clamp bool) (string, string, error) {
	if err := validSiteName(site); err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: site, Organization: []string{"rally"}, OrganizationalUnit: []string{"site"}},
		URIs:        []*url.URL{{Scheme: uriScheme, Host: uriSiteHost, Path: "/" + site}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(h), "["), "]")
		if h == "" || strings.ContainsAny(h, " /:") && net.ParseIP(h) == nil {
			return "", "", fmt.Errorf("%w: host %q is neither an IP address nor a DNS name", ErrInvalidName, h)
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return issue(dir, site, tmpl, notBefore, notAfter, clamp)
}

// IssueOperator issues operator name's client certificate signed by the CA
// in dir and writes dir/operator-<name>.crt and .key, replacing any earlier
// ones. The certificate has the URI SAN rally://operator/<name> and is good
// for ClientAuth only. A validity of 0 means DefaultOperatorValidity.
func IssueOperator(dir, name string, validity time.Duration) (certPath, keyPath string, err error) {
	validity, err = defaultValidity(validity, DefaultOperatorValidity)
	if err != nil {
		return "", "", err
	}
	if err := validName(name); err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: []string{"rally"}, OrganizationalUnit: []string{"operator"}},
		URIs:        []*url.URL{{Scheme: uriScheme, Host: uriOperatorHost, Path: "/" + name}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	now := time.Now()
	return issue(dir, operatorPrefix+name, tmpl, now.Add(-backdate), now.Add(validity), true)
}

// issue completes tmpl, signs it with the CA in dir and writes
// dir/<base>.crt and .key.
func issue(dir, base string, tmpl *x509.Certificate, notBefore, notAfter time.Time, clamp bool) (string, string, error) {
	caCert, caKey, err := loadCAKeyPair(dir)
	if err != nil {
		return "", "", err
	}
	if clamp && notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter
	}
	if !notAfter.After(notBefore) {
		return "", "", fmt.Errorf("%w: not after (%s) is not later than not before (%s)", ErrValidity, notAfter.Format(time.RFC3339), notBefore.Format(time.RFC3339))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("pki: generate key: %w", err)
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return "", "", err
	}
	tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return "", "", fmt.Errorf("pki: create certificate for %s: %w", base, err)
	}
	keyPEM, err := marshalKey(key)
	if err != nil {
		return "", "", err
	}
	certPath, keyPath := filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key")
	if err := writeReplace(keyPath, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := writeReplace(certPath, pemCert(der), 0o644); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

// SiteFromCert returns the site named by c's URI SAN rally://site/NAME. It
// fails if c has no URI SAN, more than one, or one of another form.
func SiteFromCert(c *x509.Certificate) (string, error) {
	return identity(c, uriSiteHost)
}

// OperatorFromCert returns the operator named by c's URI SAN
// rally://operator/NAME, under the same rules as SiteFromCert.
func OperatorFromCert(c *x509.Certificate) (string, error) {
	return identity(c, uriOperatorHost)
}

func identity(c *x509.Certificate, kind string) (string, error) {
	if c == nil {
		return "", fmt.Errorf("%w: no certificate", ErrIdentity)
	}
	switch len(c.URIs) {
	case 0:
		return "", fmt.Errorf("%w: %q has no URI SAN", ErrIdentity, c.Subject.CommonName)
	case 1:
	default:
		return "", fmt.Errorf("%w: %q has %d URI SANs, want exactly one", ErrIdentity, c.Subject.CommonName, len(c.URIs))
	}
	u := c.URIs[0]
	name, ok := strings.CutPrefix(u.Path, "/")
	if u.Scheme != uriScheme || u.Host != kind || !ok || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: URI SAN %q is not %s://%s/NAME", ErrIdentity, u, uriScheme, kind)
	}
	if err := validName(name); err != nil {
		return "", fmt.Errorf("%w: URI SAN %q: %w", ErrIdentity, u, err)
	}
	return name, nil
}

// Fingerprint returns the lowercase hex SHA-256 of c's DER encoding.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// LoadCA reads the CA certificate(s) at path and returns a pool holding all
// of them and the first one.
func LoadCA(path string) (*x509.CertPool, *x509.Certificate, error) {
	certs, err := readCerts(path)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		if !c.IsCA {
			return nil, nil, fmt.Errorf("%w: %s: %q is not a CA certificate", ErrFormat, filepath.Base(path), c.Subject.CommonName)
		}
		pool.AddCert(c)
	}
	return pool, certs[0], nil
}

// readCerts reads every CERTIFICATE block of a PEM file.
func readCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: read %s: %w", filepath.Base(path), err)
	}
	var certs []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pki: parse %s: %w", filepath.Base(path), err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: %s: no PEM CERTIFICATE block", ErrFormat, filepath.Base(path))
	}
	return certs, nil
}

// loadCAKeyPair reads the CA certificate and key in dir, for signing.
func loadCAKeyPair(dir string) (*x509.Certificate, crypto.Signer, error) {
	certs, err := readCerts(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, nil, err
	}
	cert := certs[0]
	keyPath := filepath.Join(dir, CAKeyFile)
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: read %s: %w", CAKeyFile, err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, nil, fmt.Errorf("%w: %s: no PEM block", ErrFormat, CAKeyFile)
	}
	var key any
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		return nil, nil, fmt.Errorf("%w: %s: PEM block %q is not a private key", ErrFormat, CAKeyFile, b.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("pki: parse %s: %w", CAKeyFile, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s: unsupported key type %T", ErrFormat, CAKeyFile, key)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("%w: %s does not match %s", ErrFormat, CAKeyFile, CACertFile)
	}
	return cert, signer, nil
}

func defaultValidity(v, def time.Duration) (time.Duration, error) {
	switch {
	case v == 0:
		return def, nil
	case v < 0:
		return 0, fmt.Errorf("%w: %s is negative", ErrValidity, v)
	}
	return v, nil
}

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), serialNumberBits))
	if err != nil {
		return nil, fmt.Errorf("pki: serial number: %w", err)
	}
	return n, nil
}

func marshalKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		return fmt.Errorf("pki: write %s: %w", filepath.Base(path), err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("pki: write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// writeReplace atomically replaces path (temp file + rename), so a reader
// never sees half a key and a concurrent issue never interleaves.
func writeReplace(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("pki: write %s: %w", filepath.Base(path), err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("pki: write %s: %w", filepath.Base(path), err)
	}
	return nil
}
