package h323plugin

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/ras"
	"github.com/rallyvoip/rally/plugins/sdk"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name, json, wantErr, wantAddr string
		check                         func(Config) bool
	}{
		{name: "empty: defaults", json: ``, wantAddr: "127.0.0.1:1719", check: func(c Config) bool {
			return c.Refuse == RefuseResourceUnavailable && time.Duration(c.TimeToLive) == 300*time.Second &&
				time.Duration(c.GuestTimeToLive) == 60*time.Second
		}},
		{name: "null", json: `null`, wantAddr: "127.0.0.1:1719"},
		{name: "udp scheme", json: `{"listen":"udp://127.0.0.2:1719"}`, wantAddr: "127.0.0.2:1719"},
		{name: "durations", json: `{"listen":"127.0.0.1:0","time_to_live":"90s","guest_time_to_live":30,"refuse":"drop"}`,
			wantAddr: "127.0.0.1:0", check: func(c Config) bool {
				return time.Duration(c.TimeToLive) == 90*time.Second && time.Duration(c.GuestTimeToLive) == 30*time.Second && c.Refuse == RefuseDrop
			}},
		{name: "unknown key", json: `{"lisen":"127.0.0.1:1719"}`, wantErr: "lisen"},
		{name: "tcp", json: `{"listen":"tcp://127.0.0.1:1719"}`, wantErr: "plugins.h323.listen"},
		{name: "wildcard", json: `{"listen":"0.0.0.0:1719"}`, wantErr: "plugins.h323.listen"},
		{name: "host name", json: `{"listen":"localhost:1719"}`, wantErr: "plugins.h323.listen"},
		{name: "bad refuse", json: `{"refuse":"503"}`, wantErr: "plugins.h323.refuse"},
		{name: "short ttl", json: `{"time_to_live":"500ms"}`, wantErr: "plugins.h323.time_to_live"},
		{name: "bad duration", json: `{"guest_time_to_live":"soon"}`, wantErr: "guest_time_to_live"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, addr, err := parseConfig([]byte(tc.json))
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want ErrInvalidConfig naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if addr.String() != tc.wantAddr {
				t.Errorf("listen %s, want %s", addr, tc.wantAddr)
			}
			if tc.check != nil && !tc.check(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}

// TestConfigurePortInUse: a RAS port taken fails Configure at once, naming
// the key; not as an invalid config, since the port may be freed (the host
// starts the plugin again with backoff).
func TestConfigurePortInUse(t *testing.T) {
	_, gk := startGK(t, londonHost(), "")
	p := New(nil)
	defer p.Close()
	_, err := p.Configure(ctxT(t), sdk.Config{Site: "london", ConfigJSON: []byte(`{"listen":"` + gk.String() + `"}`)}, londonHost())
	if err == nil || errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), "plugins.h323.listen") {
		t.Fatalf("err %v, want a listen error naming the key, not an invalid config", err)
	}
	if h, _ := p.Health(ctxT(t)); h.Serving {
		t.Error("serving without a socket")
	}
}

// TestRestore: a restarted plugin takes back the registrations the host
// holds; the endpoint's next lightweight RRQ finds its registration (same
// endpoint identifier), and teaches it the RAS address.
func TestRestore(t *testing.T) {
	host := londonHost()
	carol := newSim(t, ras.DialedDigits("203"))
	_, gk := startGK(t, host, "")
	if a, err := carol.Register(ctxT(t), gk); err != nil || !isRCF(a) {
		t.Fatalf("got %+v %v", a, err)
	}
	waitFor(t, 5*time.Second, "reported", func() bool { _, ok := host.lastReport("203"); return ok })
	r, _ := host.lastReport("203")
	host.mu.Lock()
	host.list = []sdk.Registration{r}
	host.mu.Unlock()

	// A new plugin process on the same port.
	host2 := londonHost()
	host2.list = []sdk.Registration{r}
	old := runningOf(t, gk)
	old.Close()
	p2 := New(nil)
	if _, err := p2.Configure(ctxT(t), sdk.Config{Site: "london", ConfigJSON: []byte(`{"listen":"` + gk.String() + `"}`)}, host2); err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	waitFor(t, 5*time.Second, "restored", func() bool { return p2.Stats().Registrations == 1 })
	if lic, _ := p2.running.view.Table().Counts(); lic != 1 {
		t.Errorf("licensed %d after restore, want 1", lic)
	}
	ka, err := carol.KeepAlive(ctxT(t))
	if err != nil || !isRCF(ka) {
		t.Fatalf("keep-alive after restore got %+v %v", ka, err)
	}
	var rasOK bool
	p2.running.regs.withPhone("203", func(x *registration) { rasOK = x != nil && x.ras == carol.RAS() })
	if !rasOK {
		t.Error("RAS address not learned from the keep-alive")
	}
}
