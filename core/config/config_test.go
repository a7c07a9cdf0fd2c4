package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func testdata(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFullExample(t *testing.T) {
	path := testdata(t, "london.yaml")
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	dir := filepath.Dir(path)
	want := &Config{
		Path:      path,
		Site:      "london",
		SIPDomain: "voip.example",
		Admin:     "unix:///tmp/rally-london.sock",
		Metrics:   "127.0.0.1:9464",
		TLS: TLS{
			CA:   filepath.Join(dir, "pki/ca.crt"),
			Cert: filepath.Join(dir, "pki/london.crt"),
			Key:  filepath.Join(dir, "pki/london.key"),
		},
		Federation: Federation{
			Listen:        "127.0.0.1:7400",
			Heartbeat:     Duration(500 * time.Millisecond),
			FailoverAfter: Duration(2 * time.Second),
			Peers:         []Peer{{Site: "paris", Addr: "127.0.0.2:7400"}},
		},
		Backup: &Backup{
			Site:          "paris",
			Features:      []string{"phones", "users", "huntgroups", "voicemail"},
			Failback:      "automatic",
			FailbackDelay: Duration(60 * time.Second),
		},
		BacksUp:   []string{"paris"},
		Store:     Store{Path: filepath.Join(dir, "data/london")},
		Licenses:  100,
		Directory: filepath.Join(dir, "london-directory.yaml"),
		PluginDir: filepath.Join(dir, "data/london/plugins"),
	}
	plugins := c.Plugins
	c.Plugins = nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", c, want)
	}

	if got := len(plugins); got != 4 {
		t.Errorf("plugins: got %d sections, want 4", got)
	}
	c.Plugins = plugins
	var sip struct {
		Listen       []string `yaml:"listen"`
		Refuse       string   `yaml:"refuse"`
		GuestExpires Duration `yaml:"guest_expires"`
	}
	b, err := c.PluginYAML("sip")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &sip); err != nil {
		t.Fatalf("decode sip section %q: %v", b, err)
	}
	if sip.Refuse != "503" || sip.GuestExpires.Duration() != time.Minute || len(sip.Listen) != 2 {
		t.Errorf("sip section: got %+v", sip)
	}
	if b, _ := c.PluginYAML("huntgroup"); strings.TrimSpace(string(b)) != "{}" {
		t.Errorf("huntgroup section: got %q, want {}", b)
	}
	if b, _ := c.PluginYAML("absent"); b != nil {
		t.Errorf("absent section: got %q, want nil", b)
	}

	if n, a := c.AdminNetwork(); n != "unix" || a != "/tmp/rally-london.sock" {
		t.Errorf("AdminNetwork: got %s %s", n, a)
	}
	if got := c.BackedUpBy(); got != "paris" {
		t.Errorf("BackedUpBy: got %q", got)
	}
	if !c.BacksUpSite("paris") || c.BacksUpSite("berlin") {
		t.Errorf("BacksUpSite: wrong answer for paris/berlin")
	}
	if got := c.FailbackMode(); got != FailbackAutomatic {
		t.Errorf("FailbackMode: got %q", got)
	}
}

func TestLoadDefaults(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "minimal",
			file: "minimal.yaml",
			check: func(t *testing.T, c *Config) {
				if c.Federation.Heartbeat.Duration() != DefaultHeartbeat {
					t.Errorf("heartbeat: got %s", c.Federation.Heartbeat)
				}
				if c.Federation.FailoverAfter.Duration() != DefaultFailoverAfter {
					t.Errorf("failover_after: got %s", c.Federation.FailoverAfter)
				}
				if c.Licenses != DefaultLicenses {
					t.Errorf("licenses: got %d", c.Licenses)
				}
				if c.Metrics != "" {
					t.Errorf("metrics: got %q, want off", c.Metrics)
				}
				if c.Backup != nil || c.BackedUpBy() != "" || c.FailbackMode() != "" {
					t.Errorf("backup: got %+v, want none", c.Backup)
				}
				if c.IPv6 || c.Store.DurableBackups {
					t.Errorf("booleans should default to false")
				}
				if n, a := c.AdminNetwork(); n != "tcp" || a != "127.0.0.1:7501" {
					t.Errorf("AdminNetwork: got %s %s", n, a)
				}
			},
		},
		{
			name: "backup section with only a site",
			file: "backup-defaults.yaml",
			check: func(t *testing.T, c *Config) {
				want := &Backup{
					Site:          "london",
					Features:      DefaultFeatures(),
					Failback:      DefaultFailback,
					FailbackDelay: Duration(DefaultFailbackDelay),
				}
				if !reflect.DeepEqual(c.Backup, want) {
					t.Errorf("backup: got %+v, want %+v", c.Backup, want)
				}
				if c.Federation.Heartbeat.Duration() != time.Second {
					t.Errorf("heartbeat: got %s, want the file's 1s", c.Federation.Heartbeat)
				}
				if c.Federation.FailoverAfter.Duration() != DefaultFailoverAfter {
					t.Errorf("failover_after: got %s", c.Federation.FailoverAfter)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(testdata(t, tt.file))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestRelativePaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc")
	path := filepath.Join(dir, "paris.yaml")
	c, err := Load(testdata(t, "backup-defaults.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(c.Path)
	if err != nil {
		t.Fatal(err)
	}
	// Parse the same text as if it lived in dir.
	c, err = Parse(path, data)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "tls.ca", got: c.TLS.CA, want: filepath.Join(dir, "ca.crt")},
		{name: "tls.cert", got: c.TLS.Cert, want: filepath.Join(dir, "paris.crt")},
		{name: "tls.key", got: c.TLS.Key, want: filepath.Join(dir, "paris.key")},
		{name: "store.path", got: c.Store.Path, want: filepath.Join(dir, "data")},
		{name: "admin", got: c.Admin, want: "unix://" + filepath.Join(dir, "run/paris.sock")},
		{name: "directory unset stays empty", got: c.Directory, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	if n, a := c.AdminNetwork(); n != "unix" || a != filepath.Join(dir, "run/paris.sock") {
		t.Errorf("AdminNetwork: got %s %s", n, a)
	}
}

// TestInvalid edits the full example one key at a time; the error must name
// the file and the key.
func TestInvalid(t *testing.T) {
	base, err := os.ReadFile(testdata(t, "london.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		old     string // text of london.yaml to replace
		new     string
		wantKey string // "london.yaml: KEY: "
		wantMsg string // part of the message
	}{
		{name: "site missing", old: "site: london ", new: "", wantKey: "site", wantMsg: "required"},
		{name: "site upper case", old: "site: london ", new: "site: London ", wantKey: "site", wantMsg: "invalid site name"},
		{name: "site starts with digit", old: "site: london ", new: "site: 1london ", wantKey: "site", wantMsg: "starting with a letter"},
		{name: "sip_domain missing", old: "sip_domain: voip.example ", new: "", wantKey: "sip_domain", wantMsg: "required"},
		{name: "admin relative tcp", old: "admin: unix:///tmp/rally-london.sock", new: "admin: localhost", wantKey: "admin", wantMsg: "host:port"},
		{name: "admin empty unix path", old: "admin: unix:///tmp/rally-london.sock", new: "admin: unix://", wantKey: "admin", wantMsg: "unix:///absolute/path.sock"},
		{name: "metrics no port", old: "metrics: 127.0.0.1:9464", new: "metrics: 127.0.0.1", wantKey: "metrics", wantMsg: "host:port"},
		{name: "tls.key missing", old: ", key: pki/london.key}", new: "}", wantKey: "tls.key", wantMsg: "required"},
		{name: "federation.listen bad port", old: "listen: 127.0.0.1:7400", new: "listen: 127.0.0.1:http", wantKey: "federation.listen", wantMsg: "invalid port"},
		{name: "heartbeat zero", old: "heartbeat: 500ms", new: "heartbeat: 0s", wantKey: "federation.heartbeat", wantMsg: "must be > 0"},
		{name: "failover_after not above heartbeat", old: "failover_after: 2s", new: "failover_after: 400ms", wantKey: "federation.failover_after", wantMsg: "must be > heartbeat (500ms)"},
		{name: "duration without unit", old: "failover_after: 2s", new: "failover_after: 2", wantKey: "federation.failover_after", wantMsg: "invalid duration"},
		{name: "peer is self", old: "{site: paris, addr: 127.0.0.2:7400}", new: "{site: london, addr: 127.0.0.2:7400}", wantKey: "federation.peers[0].site", wantMsg: "must not be this site"},
		{name: "duplicate peer", old: "    - {site: paris, addr: 127.0.0.2:7400}", new: "    - {site: paris, addr: 127.0.0.2:7400}\n    - {site: paris, addr: 127.0.0.3:7400}", wantKey: "federation.peers[1].site", wantMsg: "duplicate peer paris"},
		{name: "peer addr without host", old: "addr: 127.0.0.2:7400", new: "addr: \":7400\"", wantKey: "federation.peers[0].addr", wantMsg: "no host"},
		{name: "peer addr bare IPv6", old: "addr: 127.0.0.2:7400", new: "addr: \"::1:7400\"", wantKey: "federation.peers[0].addr", wantMsg: "[addr]:port"},
		{name: "backup is self", old: "  site: paris\n", new: "  site: london\n", wantKey: "backup.site", wantMsg: "must not be this site (london)"},
		{name: "backup site missing", old: "  site: paris\n", new: "", wantKey: "backup.site", wantMsg: "required"},
		{name: "failback unknown", old: "failback: automatic", new: "failback: eventually", wantKey: "backup.failback", wantMsg: "automatic, graceful, manual"},
		{name: "failback_delay negative", old: "failback_delay: 60s", new: "failback_delay: -1s", wantKey: "backup.failback_delay", wantMsg: ">= 0"},
		{name: "unknown feature", old: "features: [phones, users, huntgroups, voicemail]", new: "features: [phones, fax]", wantKey: "backup.features[1]", wantMsg: `unknown feature "fax"`},
		{name: "features not a list", old: "features: [phones, users, huntgroups, voicemail]", new: "features: phones", wantKey: "backup.features", wantMsg: "must be a list"},
		{name: "backs_up self", old: "backs_up: [paris]", new: "backs_up: [paris, london]", wantKey: "backs_up[1]", wantMsg: "must not be this site"},
		{name: "backs_up duplicate", old: "backs_up: [paris]", new: "backs_up: [paris, paris]", wantKey: "backs_up[1]", wantMsg: "duplicate site paris"},
		{name: "backs_up invalid name", old: "backs_up: [paris]", new: "backs_up: [Paris_1]", wantKey: "backs_up[0]", wantMsg: "invalid site name"},
		{name: "store.path missing", old: "store: {path: data/london, durable_backups: false}", new: "store: {durable_backups: true}", wantKey: "store.path", wantMsg: "required"},
		{name: "licenses negative", old: "licenses: 100 ", new: "licenses: -1 ", wantKey: "licenses", wantMsg: ">= 0"},
		{name: "licenses not a number", old: "licenses: 100 ", new: "licenses: lots ", wantKey: "licenses", wantMsg: "must be an integer"},
		{name: "ipv6 not a bool", old: "ipv6: false", new: "ipv6: maybe", wantKey: "ipv6", wantMsg: "true or false"},
		{name: "tls not a mapping", old: "tls: {ca: pki/ca.crt, cert: pki/london.crt, key: pki/london.key}", new: "tls: pki", wantKey: "tls", wantMsg: "must be a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(string(base), tt.old) {
				t.Fatalf("fixture lacks %q", tt.old)
			}
			data := strings.Replace(string(base), tt.old, tt.new, 1)
			_, err := Parse("/etc/rally/london.yaml", []byte(data))
			if err == nil {
				t.Fatal("Parse: no error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a FieldError: %v", err)
			}
			// Only the edited key is wrong, so exactly one problem.
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
				t.Errorf("got %d problems, want 1:\n%v", n, err)
			}
			if fe.Key != tt.wantKey {
				t.Errorf("key: got %q, want %q (%v)", fe.Key, tt.wantKey, err)
			}
			prefix := "london.yaml"
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), ": "+tt.wantKey+": ") {
				t.Errorf("error %q does not name file and key %q", err, tt.wantKey)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q lacks %q", err, tt.wantMsg)
			}
		})
	}
}

func TestValidateExactText(t *testing.T) {
	c, err := Load(testdata(t, "london.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c.Federation.FailoverAfter = Duration(300 * time.Millisecond)
	want := "london.yaml: federation.failover_after: must be > heartbeat (500ms)"
	if err := c.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate: got %v, want %q", err, want)
	}
}

func TestValidateReportsAll(t *testing.T) {
	c := &Config{Path: "/x/berlin.yaml", Licenses: -3}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate: no error")
	}
	for _, key := range []string{
		"site", "sip_domain", "admin", "tls.ca", "tls.cert", "tls.key",
		"federation.listen", "federation.heartbeat", "federation.failover_after",
		"store.path", "licenses",
	} {
		if !strings.Contains(err.Error(), "berlin.yaml: "+key+": ") {
			t.Errorf("missing problem for %s in:\n%v", key, err)
		}
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 11 {
		t.Errorf("want 11 joined problems, got:\n%v", err)
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		data string // "" = the unknown-key.yaml fixture
		want []string
	}{
		{
			name: "fixture",
			want: []string{
				"unknown-key.yaml:8: federation.peers[0].adress: unknown key",
				"unknown-key.yaml:10: licences: unknown key",
			},
		},
		{
			name: "nested in store",
			data: "store: {path: x, durable: true}\n",
			want: []string{"unknown-key.yaml:1: store.durable: unknown key"},
		},
		{
			name: "in backup",
			data: "backup:\n  site: paris\n  mode: manual\n",
			want: []string{"unknown-key.yaml:3: backup.mode: unknown key"},
		},
		{
			name: "plugin sections are not checked",
			data: "site: london\nplugins:\n  sip: {anything: [1, 2]}\n",
			want: nil, // only validation errors, no unknown key
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.data == "" {
				_, err = Load(testdata(t, "unknown-key.yaml"))
			} else {
				_, err = Parse("unknown-key.yaml", []byte(tt.data))
			}
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrUnknownKey) != (tt.want != nil) {
				t.Fatalf("errors.Is(ErrUnknownKey) = %v: %v", !(tt.want != nil), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestSyntaxError(t *testing.T) {
	_, err := Parse("bad.yaml", []byte("site: london\n  sip_domain: [\n"))
	if !errors.Is(err, ErrSyntax) {
		t.Fatalf("got %v, want ErrSyntax", err)
	}
	if !strings.HasPrefix(err.Error(), "bad.yaml:") {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("got %v, want a not-exist error naming the file", err)
	}
}

func TestValidSiteName(t *testing.T) {
	tests := []struct {
		name string
		site string
		ok   bool
	}{
		{name: "simple", site: "london", ok: true},
		{name: "digits and dash", site: "site-2", ok: true},
		{name: "single letter", site: "a", ok: true},
		{name: "63 chars", site: "a" + strings.Repeat("b", 62), ok: true},
		{name: "64 chars", site: "a" + strings.Repeat("b", 63)},
		{name: "empty", site: ""},
		{name: "upper", site: "London"},
		{name: "leading digit", site: "1a"},
		{name: "leading dash", site: "-a"},
		{name: "underscore", site: "a_b"},
		{name: "dot", site: "a.b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidSiteName(tt.site); (err == nil) != tt.ok {
				t.Errorf("ValidSiteName(%q) = %v, want ok=%v", tt.site, err, tt.ok)
			}
		})
	}
}

func TestFailbackModeDefault(t *testing.T) {
	tests := []struct {
		name   string
		backup *Backup
		want   string
	}{
		{name: "no backup", backup: nil, want: ""},
		{name: "unset mode", backup: &Backup{Site: "paris"}, want: FailbackAutomatic},
		{name: "manual", backup: &Backup{Site: "paris", Failback: FailbackManual}, want: FailbackManual},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{Backup: tt.backup}
			if got := c.FailbackMode(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProtocolEndpoints(t *testing.T) {
	tests := []struct {
		name    string
		plugins string
		want    []string
	}{
		{name: "none", plugins: "{}", want: nil},
		{name: "sip list and h323 scalar", plugins: `
sip: {listen: [udp://127.0.0.1:5060, tcp://127.0.0.1:5060, tls://127.0.0.1:5061]}
h323: {listen: 127.0.0.1:1719}
voicemail: {extension: "500"}`,
			want: []string{"sip:udp://127.0.0.1:5060", "sip:tcp://127.0.0.1:5060", "sip:tls://127.0.0.1:5061", "h323:udp://127.0.0.1:1719"}},
		{name: "empty sections", plugins: "sip: {}\nh323:\n", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			if err := yaml.Unmarshal([]byte(tt.plugins), &c.Plugins); err != nil {
				t.Fatal(err)
			}
			if got := c.ProtocolEndpoints(); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
