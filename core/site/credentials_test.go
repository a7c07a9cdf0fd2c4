package site

import (
	"errors"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
)

// TestCredentialsForPlugins: the host lists HA1 values in bulk for this
// site's phones and for a home it backs up, and refuses a peer of which it
// holds only the redacted index, or nothing.
func TestCredentialsForPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site")
	}
	f := newFed(t)
	parisCfg, parisAddr := f.writeConfig(spec{name: "paris", host: "127.0.0.2", backsUp: []string{"london"}, directory: users(3000, 3)})
	londonCfg, _ := f.writeConfig(spec{name: "london", backup: "paris", peers: map[string]string{"paris": parisAddr}, directory: users(2000, 5)})
	paris := start(t, parisCfg)
	london := start(t, londonCfg)
	eventually(t, 10*time.Second, "paris holds london's records, london paris's index", func() bool {
		return paris.peer(t, "london").GetHeldRecords() == 10 && london.peer(t, "paris").GetHeldRecords() > 0
	})

	tests := []struct {
		name    string
		site    *running
		home    string
		want    int
		missing bool
	}{
		{name: "own phones", site: paris, home: "", want: 3},
		{name: "own phones by name", site: london, home: "london", want: 5},
		{name: "a backed-up home", site: paris, home: "london", want: 5},
		{name: "a peer's redacted index", site: london, home: "paris", missing: true},
		{name: "no such home", site: paris, home: "rome", missing: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds, err := (*hostBackend)(tt.site.site).Credentials(tt.home)
			if tt.missing {
				if !errors.Is(err, sdk.ErrNotFound) {
					t.Fatalf("Credentials(%q) = %d, %v; want ErrNotFound", tt.home, len(creds), err)
				}
				return
			}
			if err != nil || len(creds) != tt.want {
				t.Fatalf("Credentials(%q) = %d, %v; want %d", tt.home, len(creds), err, tt.want)
			}
			for _, c := range creds {
				if c.PhoneID == "" || len(c.HA1MD5) != 32 || len(c.HA1SHA256) != 64 {
					t.Fatalf("credentials without HA1 values: %+v", c)
				}
			}
		})
	}
}
