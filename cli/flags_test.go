package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runCLI runs the command line as main does and returns what it printed.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(t.Context(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// execute runs the root command and returns its error, for errors.Is.
func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := NewRootCmd(&out, &errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

func TestMissingAdminAddress(t *testing.T) {
	t.Setenv(envAdmin, "")
	tests := []struct {
		name string
		args []string
	}{
		{name: "status", args: []string{"status"}},
		{name: "status watch", args: []string{"status", "--watch", "--json"}},
		{name: "phones", args: []string{"phones", "--json"}},
		{name: "check", args: []string{"check"}},
		{name: "link", args: []string{"link", "127.0.0.2:7400"}},
		{name: "unlink", args: []string{"unlink", "paris"}},
		{name: "failback", args: []string{"failback", "paris"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := execute(t, tt.args...); !errors.Is(err, errNoAdmin) {
				t.Fatalf("err = %v, want errNoAdmin", err)
			}
			stdout, stderr, code := runCLI(t, tt.args...)
			if code != 1 {
				t.Errorf("exit code = %d, want 1", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			want := "rally: no admin address: use --admin, --config or RALLY_ADMIN\n"
			if stderr != want {
				t.Errorf("stderr = %q, want %q", stderr, want)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	t.Setenv(envAdmin, "")
	dir := t.TempDir()
	tests := []struct {
		name       string
		args       []string
		wantErr    string // substring of stderr
		wantUsage  string // the "Run '... --help'" hint, "" for none
		wantStdout string
	}{
		{name: "issue both site and operator",
			args:      []string{"pki", "issue", "--dir", dir, "--site", "london", "--operator", "alice"},
			wantErr:   "rally: pki issue: give exactly one of --site and --operator, not both\n",
			wantUsage: "Run 'rally pki issue --help' for usage."},
		{name: "issue neither site nor operator",
			args:      []string{"pki", "issue", "--dir", dir},
			wantErr:   "rally: pki issue: give exactly one of --site NAME and --operator NAME\n",
			wantUsage: "Run 'rally pki issue --help' for usage."},
		{name: "issue host with operator",
			args:      []string{"pki", "issue", "--dir", dir, "--operator", "alice", "--host", "x.example"},
			wantErr:   "--host applies to --site only",
			wantUsage: "Run 'rally pki issue --help' for usage."},
		{name: "issue without dir",
			args:      []string{"pki", "issue", "--site", "london"},
			wantErr:   "pki issue: --dir is required",
			wantUsage: "Run 'rally pki issue --help' for usage."},
		{name: "hotdesk without subcommand",
			args:      []string{"hotdesk"},
			wantErr:   "rally: hotdesk: missing subcommand (login or logout)\n",
			wantUsage: "Run 'rally hotdesk --help' for usage."},
		{name: "hotdesk login without extension",
			args:      []string{"hotdesk", "login", "201"},
			wantErr:   "rally: login: missing EXTENSION\n",
			wantUsage: "Run 'rally hotdesk login --help' for usage."},
		{name: "hotdesk logout without phone",
			args:      []string{"hotdesk", "logout"},
			wantErr:   "rally: logout: missing PHONE\n",
			wantUsage: "Run 'rally hotdesk logout --help' for usage."},
		{name: "init without dir",
			args:      []string{"pki", "init"},
			wantErr:   "pki init: --dir is required",
			wantUsage: "Run 'rally pki init --help' for usage."},
		{name: "bad validity",
			args:      []string{"pki", "init", "--dir", dir, "--validity", "forever"},
			wantErr:   `invalid argument "forever" for "--validity" flag`,
			wantUsage: "Run 'rally pki init --help' for usage."},
		{name: "negative validity",
			args:      []string{"pki", "init", "--dir", dir, "--validity", "-1h"},
			wantErr:   "must be positive",
			wantUsage: "Run 'rally pki init --help' for usage."},
		{name: "unknown flag",
			args:      []string{"status", "--jsn"},
			wantErr:   "unknown flag: --jsn",
			wantUsage: "Run 'rally status --help' for usage."},
		{name: "link without address",
			args:      []string{"link"},
			wantErr:   "rally: link: missing ADDR\n",
			wantUsage: "Run 'rally link --help' for usage."},
		{name: "link not host:port",
			args:      []string{"link", "paris"},
			wantErr:   `link: "paris" is not a host:port federation address`,
			wantUsage: "Run 'rally link --help' for usage."},
		{name: "failback two sites",
			args:      []string{"failback", "paris", "berlin"},
			wantErr:   `failback: unexpected argument "berlin"`,
			wantUsage: "Run 'rally failback --help' for usage."},
		{name: "status with argument",
			args:      []string{"status", "paris"},
			wantErr:   `status: unexpected argument "paris"`,
			wantUsage: "Run 'rally status --help' for usage."},
		{name: "bad admin address",
			args:    []string{"status", "--admin", "nowhere"},
			wantErr: `rally: --admin: admin address "nowhere": want unix:///path.sock or host:port`},
		{name: "empty socket path",
			args:    []string{"status", "--admin", "unix://"},
			wantErr: `empty socket path`},
		{name: "socket missing",
			args:    []string{"status", "--admin", "unix://" + filepath.Join(dir, "none.sock")},
			wantErr: "none.sock (--admin) does not exist: is the site daemon (rally serve) running?"},
		{name: "remote without operator TLS",
			args:    []string{"status", "--admin", "127.0.0.1:7501"},
			wantErr: "remote admin address 127.0.0.1:7501 (--admin) requires operator mutual TLS: missing --cert, --key, --ca (issue one with: rally pki issue --dir DIR --operator NAME)"},
		{name: "remote without ca",
			args:    []string{"status", "--admin", "127.0.0.1:7501", "--cert", "op.crt", "--key", "op.key"},
			wantErr: "requires operator mutual TLS: missing --ca\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, tt.args...)
			if code != 1 {
				t.Errorf("exit code = %d, want 1", code)
			}
			if stdout != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", stdout, tt.wantStdout)
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantErr)
			}
			if hasHint := strings.Contains(stderr, "--help' for usage."); hasHint != (tt.wantUsage != "") ||
				!strings.Contains(stderr, tt.wantUsage) {
				t.Errorf("stderr = %q, want usage hint %q", stderr, tt.wantUsage)
			}
		})
	}
}

func TestAdminAddressSources(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "paris.yaml")
	cfg := `site: paris
sip_domain: voip.example
admin: unix://run/paris.sock
tls: {ca: pki/ca.crt, cert: pki/paris.crt, key: pki/paris.key}
federation: {listen: 127.0.0.2:7400}
store: {path: data}
`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	remoteCfg := filepath.Join(dir, "remote.yaml")
	if err := os.WriteFile(remoteCfg, []byte(strings.Replace(cfg, "unix://run/paris.sock", "127.0.0.1:7501", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name               string
		env                string
		flags              globalFlags
		wantNet, wantAddr  string
		wantSource, wantCA string
		wantCert           string
		wantErr            string
	}{
		{name: "env unix", env: "unix:///run/rally/london.sock",
			wantNet: "unix", wantAddr: "/run/rally/london.sock", wantSource: envAdmin},
		{name: "env remote", env: "10.0.0.1:7501",
			wantNet: "tcp", wantAddr: "10.0.0.1:7501", wantSource: envAdmin},
		{name: "bad env", env: "unix:", wantErr: "RALLY_ADMIN: admin address \"unix:\": empty socket path"},
		{name: "flag beats env", env: "unix:///a.sock", flags: globalFlags{admin: "unix:///b.sock"},
			wantNet: "unix", wantAddr: "/b.sock", wantSource: "--admin"},
		{name: "relative socket", flags: globalFlags{admin: "unix:rel.sock"},
			wantNet: "unix", wantAddr: "rel.sock", wantSource: "--admin"},
		{name: "config beats env", env: "unix:///a.sock", flags: globalFlags{config: cfgPath},
			wantNet: "unix", wantAddr: filepath.Join(dir, "run/paris.sock"),
			wantSource: "admin in " + cfgPath, wantCA: filepath.Join(dir, "pki/ca.crt")},
		{name: "flag beats config, config gives CA", flags: globalFlags{config: remoteCfg, admin: "10.0.0.2:7501", cert: "op.crt", key: "op.key"},
			wantNet: "tcp", wantAddr: "10.0.0.2:7501", wantSource: "--admin",
			wantCA: filepath.Join(dir, "pki/ca.crt"), wantCert: "op.crt"},
		{name: "ca flag beats config", flags: globalFlags{config: remoteCfg, ca: "other-ca.crt"},
			wantNet: "tcp", wantAddr: "127.0.0.1:7501", wantSource: "admin in " + remoteCfg, wantCA: "other-ca.crt"},
		{name: "missing config", flags: globalFlags{config: filepath.Join(dir, "nope.yaml")},
			wantErr: "config: read nope.yaml"},
		{name: "nothing", wantErr: errNoAdmin.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envAdmin, tt.env)
			ep, err := tt.flags.resolveAdmin()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ep.network != tt.wantNet || ep.addr != tt.wantAddr || ep.source != tt.wantSource ||
				ep.ca != tt.wantCA || ep.cert != tt.wantCert {
				t.Errorf("got %+v, want network %q addr %q source %q ca %q cert %q",
					ep, tt.wantNet, tt.wantAddr, tt.wantSource, tt.wantCA, tt.wantCert)
			}
		})
	}
}

func TestRemoteConfigNamesSiteCert(t *testing.T) {
	ep := adminEndpoint{network: "tcp", addr: "127.0.0.1:7501", source: "admin in site.yaml",
		ca: "ca.crt", configFile: "site.yaml"}
	_, _, err := ep.dialOptions()
	if err == nil || !strings.Contains(err.Error(), "the site certificate in site.yaml cannot administer a site") {
		t.Fatalf("err = %v", err)
	}
}

func TestValidityFlag(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{name: "hours", in: "8760h", want: 8760 * time.Hour},
		{name: "days", in: "30d", want: 30 * 24 * time.Hour},
		{name: "fractional days", in: "1.5d", want: 36 * time.Hour},
		{name: "zero", in: "0s", wantErr: true},
		{name: "negative days", in: "-2d", wantErr: true},
		{name: "garbage", in: "soon", wantErr: true},
		{name: "bare d", in: "d", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d time.Duration
			v := &validityValue{d: &d}
			err := v.Set(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Set(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err == nil && (d != tt.want || v.or(time.Hour) != tt.want) {
				t.Errorf("Set(%q) = %v, want %v", tt.in, d, tt.want)
			}
			if err != nil && v.or(time.Hour) != time.Hour {
				t.Errorf("unset flag: or() = %v, want the default", v.or(time.Hour))
			}
		})
	}
}
