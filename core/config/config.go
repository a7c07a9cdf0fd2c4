// Package config loads and validates a rally site configuration file.
//
// The file is YAML in the shape of DESIGN §4; its key names are part of the
// contract. [Load] reads a file, [Parse] does the same from bytes: both
// reject unknown keys, apply the Default* constants to absent keys, resolve
// relative paths against the directory of the file, and run
// [Config.Validate], which reports every problem at once, each naming the
// file and the key:
//
//	london.yaml: federation.failover_after: must be > heartbeat (500ms)
//
// The plugins section is kept raw ([yaml.Node] per plugin): each plugin
// validates its own section.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults applied to keys absent from the file.
const (
	DefaultHeartbeat     = 500 * time.Millisecond
	DefaultFailoverAfter = 2 * time.Second
	DefaultFailback      = FailbackAutomatic
	DefaultFailbackDelay = 60 * time.Second
	DefaultLicenses      = 100
	DefaultMetrics       = "" // metrics endpoint off
)

// Failback modes (backup.failback).
const (
	FailbackAutomatic = "automatic" // after the home has been stable for failback_delay
	FailbackGraceful  = "graceful"  // each phone as soon as it is idle
	FailbackManual    = "manual"    // operator runs `rally failback SITE`
)

// Backup features (backup.features).
const (
	FeaturePhones     = "phones"
	FeatureUsers      = "users"
	FeatureHuntgroups = "huntgroups"
	FeatureVoicemail  = "voicemail"
)

// DefaultFeatures returns a new slice holding every feature, the default of
// backup.features.
func DefaultFeatures() []string {
	return []string{FeaturePhones, FeatureUsers, FeatureHuntgroups, FeatureVoicemail}
}

// unixScheme prefixes an admin address that is a unix socket path.
const unixScheme = "unix://"

// maxUnixPath is the longest unix socket path Linux accepts (sun_path is
// 108 bytes, NUL included).
const maxUnixPath = 107

var (
	// ErrSyntax: the file is not well-formed YAML.
	ErrSyntax = errors.New("config: syntax error")
	// ErrUnknownKey: the file holds a key that is not part of the format.
	ErrUnknownKey = errors.New("config: unknown key")
	// ErrInvalid: a value has the wrong type or fails validation.
	ErrInvalid = errors.New("config: invalid value")
)

// Config is one site's configuration.
type Config struct {
	// Path is the absolute path of the file the config was loaded from;
	// relative paths in the file are resolved against its directory.
	Path       string     `yaml:"-"`
	Site       string     `yaml:"site"`
	SIPDomain  string     `yaml:"sip_domain"`
	IPv6       bool       `yaml:"ipv6"`
	Admin      string     `yaml:"admin"`   // "unix:///path.sock" or "host:port"
	Metrics    string     `yaml:"metrics"` // host:port, "" = off
	TLS        TLS        `yaml:"tls"`
	Federation Federation `yaml:"federation"`
	// Backup names the site that backs up THIS site; nil when none does.
	Backup *Backup `yaml:"backup"`
	// BacksUp lists the sites whose backup records this site accepts.
	BacksUp   []string `yaml:"backs_up"`
	Store     Store    `yaml:"store"`
	Licenses  int      `yaml:"licenses"`
	Directory string   `yaml:"directory"`
	PluginDir string   `yaml:"plugin_dir"`
	// Plugins holds each plugin's section as written; see [Config.PluginYAML].
	Plugins map[string]yaml.Node `yaml:"plugins"`
}

// TLS names this site's identity files (PEM).
type TLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Federation is how this site links with its peers.
type Federation struct {
	Listen        string   `yaml:"listen"`
	Heartbeat     Duration `yaml:"heartbeat"`
	FailoverAfter Duration `yaml:"failover_after"`
	Peers         []Peer   `yaml:"peers"`
}

// Peer is a site this one links to.
type Peer struct {
	Site string `yaml:"site"`
	Addr string `yaml:"addr"`
}

// Backup is who backs up this site, and how.
type Backup struct {
	Site          string   `yaml:"site"`
	Features      []string `yaml:"features"`
	Failback      string   `yaml:"failback"`
	FailbackDelay Duration `yaml:"failback_delay"`
}

// Store is where this site keeps its state.
type Store struct {
	Path           string `yaml:"path"`
	DurableBackups bool   `yaml:"durable_backups"`
}

// Duration is a time.Duration written as a Go duration string ("500ms", "2s").
type Duration time.Duration

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a Go duration string. A bare number is refused: its
// unit would be a guess.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: must be a duration such as 500ms or 2s", n.Line)}}
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: invalid duration %q: want a number with a unit such as 500ms or 2s", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// FieldError is one problem in a config file. Its text is
// "FILE[:LINE]: KEY: message"; it wraps ErrSyntax, ErrUnknownKey or ErrInvalid.
type FieldError struct {
	File string // base name of the config file
	Line int    // 0 when unknown
	Key  string // dotted key path, e.g. "federation.peers[0].addr"; "" for syntax errors
	Msg  string
	Err  error // the sentinel
}

func (e *FieldError) Error() string {
	parts := make([]string, 0, 3)
	switch {
	case e.File != "" && e.Line > 0:
		parts = append(parts, e.File+":"+strconv.Itoa(e.Line))
	case e.File != "":
		parts = append(parts, e.File)
	case e.Line > 0:
		parts = append(parts, "line "+strconv.Itoa(e.Line))
	}
	if e.Key != "" {
		parts = append(parts, e.Key)
	}
	return strings.Join(append(parts, e.Msg), ": ")
}

func (e *FieldError) Unwrap() error { return e.Err }

// Load reads the config file at path; see [Parse].
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", filepath.Base(path), err)
	}
	return Parse(path, data)
}

// Parse decodes data as the config file at path: unknown keys are refused,
// defaults applied, relative paths resolved against path's directory, and
// the result validated. Errors are [FieldError]s (several joined with
// errors.Join) naming the file and key.
func Parse(path string, data []byte) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	c := &Config{Path: abs}
	if err := c.decode(data); err != nil {
		return nil, err
	}
	c.resolvePaths()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decode fills c from data with defaults for absent keys.
func (c *Config) decode(data []byte) error {
	file := filepath.Base(c.Path)
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return syntaxError(file, err)
	}
	var root *yaml.Node
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	// Check keys and types first, so that every error names its key path.
	if errs := checkNode(file, "", root, reflect.TypeFor[Config]()); len(errs) > 0 {
		return errors.Join(errs...)
	}

	c.setDefaults()
	if root == nil || root.ShortTag() == "!!null" {
		c.Backup = nil
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return typeError(file, err)
	}
	if !hasKey(root, "backup") {
		c.Backup = nil // the preset defaults were only for a present section
	}
	return nil
}

// setDefaults presets every defaulted key; decoding then overwrites the
// keys the file has.
func (c *Config) setDefaults() {
	c.Metrics = DefaultMetrics
	c.Federation.Heartbeat = Duration(DefaultHeartbeat)
	c.Federation.FailoverAfter = Duration(DefaultFailoverAfter)
	c.Backup = &Backup{
		Features:      DefaultFeatures(),
		Failback:      DefaultFailback,
		FailbackDelay: Duration(DefaultFailbackDelay),
	}
	c.Licenses = DefaultLicenses
}

func hasKey(m *yaml.Node, key string) bool {
	for m.Kind == yaml.AliasNode {
		m = m.Alias
	}
	if m.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
		if m.Content[i].Value == "<<" && hasKey(m.Content[i+1], key) {
			return true
		}
	}
	return false
}

// resolvePaths makes relative file paths absolute against the config's directory.
func (c *Config) resolvePaths() {
	dir := filepath.Dir(c.Path)
	resolve := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	resolve(&c.TLS.CA)
	resolve(&c.TLS.Cert)
	resolve(&c.TLS.Key)
	resolve(&c.Store.Path)
	resolve(&c.Directory)
	resolve(&c.PluginDir)
	if sock, ok := strings.CutPrefix(c.Admin, unixScheme); ok && sock != "" {
		resolve(&sock)
		c.Admin = unixScheme + sock
	}
}

// AdminNetwork returns the admin API listen address in the form net.Listen
// takes: ("unix", "/path.sock") or ("tcp", "host:port").
func (c *Config) AdminNetwork() (network, addr string) {
	if sock, ok := strings.CutPrefix(c.Admin, unixScheme); ok {
		return "unix", sock
	}
	return "tcp", c.Admin
}

// BackedUpBy returns the site that backs up this one, or "".
func (c *Config) BackedUpBy() string {
	if c.Backup == nil {
		return ""
	}
	return c.Backup.Site
}

// BacksUpSite reports whether this site accepts to hold name's backup records.
func (c *Config) BacksUpSite(name string) bool {
	for _, s := range c.BacksUp {
		if s == name {
			return true
		}
	}
	return false
}

// FailbackMode returns how this site's phones fail back from its backup:
// one of the Failback* constants, or "" when no site backs this one up.
func (c *Config) FailbackMode() string {
	switch {
	case c.Backup == nil:
		return ""
	case c.Backup.Failback == "":
		return DefaultFailback
	}
	return c.Backup.Failback
}

// PluginYAML returns plugin name's section re-encoded as a YAML document,
// for the plugin to decode and validate itself; nil when the section is
// absent.
func (c *Config) PluginYAML(name string) ([]byte, error) {
	n, ok := c.Plugins[name]
	if !ok {
		return nil, nil
	}
	if n.Kind == 0 || n.ShortTag() == "!!null" {
		return []byte("{}\n"), nil
	}
	b, err := yaml.Marshal(&n)
	if err != nil {
		return nil, fmt.Errorf("config: plugins.%s: %w", name, err)
	}
	return b, nil
}

// ProtocolEndpoints lists where the protocol plugins listen, from the
// `listen` key of the sip and h323 sections, as "PROTOCOL:SCHEME://ADDR"
// ("sip:udp://127.0.0.1:5060", "h323:udp://127.0.0.1:1719"). A site
// announces them in its hello: peers forward calls there and name it as
// alternate gatekeeper. A listen entry without a scheme is UDP.
func (c *Config) ProtocolEndpoints() []string {
	var out []string
	for _, proto := range []string{"sip", "h323"} {
		n, ok := c.Plugins[proto]
		if !ok || n.Kind != yaml.MappingNode {
			continue
		}
		var sec struct {
			Listen yaml.Node `yaml:"listen"`
		}
		if n.Decode(&sec) != nil {
			continue
		}
		var addrs []string
		switch sec.Listen.Kind {
		case yaml.ScalarNode:
			addrs = []string{sec.Listen.Value}
		case yaml.SequenceNode:
			_ = sec.Listen.Decode(&addrs)
		}
		for _, a := range addrs {
			if a == "" {
				continue
			}
			if !strings.Contains(a, "://") {
				a = "udp://" + a
			}
			out = append(out, proto+":"+a)
		}
	}
	return out
}

// ValidSiteName reports why name is not a valid site name, or nil: 1 to 63
// lowercase letters, digits and '-', starting with a letter.
func ValidSiteName(name string) error {
	const rule = "want 1-63 lowercase letters, digits and '-', starting with a letter"
	if name == "" {
		return errors.New("empty site name")
	}
	if len(name) > 63 {
		return fmt.Errorf("invalid site name %q: longer than 63 characters", name)
	}
	if name[0] < 'a' || name[0] > 'z' {
		return fmt.Errorf("invalid site name %q: %s", name, rule)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("invalid site name %q: %s", name, rule)
		}
	}
	return nil
}

// checkHostPort checks a "host:port" address. An empty host (all
// interfaces) is allowed only if emptyHost; port 0 only if anyPort.
func checkHostPort(addr string, emptyHost, anyPort bool) error {
	host, port, err := splitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" && !emptyHost {
		return fmt.Errorf("%q has no host", addr)
	}
	if host != "" && !validHost(host) {
		return fmt.Errorf("%q: invalid host %q", addr, host)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("%q: invalid port %q", addr, port)
	}
	if p == 0 && !anyPort {
		return fmt.Errorf("%q: port must be 1-65535", addr)
	}
	return nil
}

func splitHostPort(addr string) (host, port string, err error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", "", fmt.Errorf("%q is not host:port", addr)
	}
	host, port = addr[:i], addr[i+1:]
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return "", "", fmt.Errorf("%q is not host:port", addr)
		}
		host = host[1 : len(host)-1]
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return "", "", fmt.Errorf("%q: invalid IPv6 address %q", addr, host)
		}
		return host, port, nil
	}
	if strings.Contains(host, ":") {
		return "", "", fmt.Errorf("%q is not host:port (write an IPv6 address as [addr]:port)", addr)
	}
	return host, port, nil
}

// validHost accepts an IP address or a DNS name.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}
