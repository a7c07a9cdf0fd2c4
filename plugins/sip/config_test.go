package sipplugin

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		wantKey string // "" for valid
		check   func(t *testing.T, c Config, eps []Endpoint)
	}{
		{name: "empty takes defaults", json: ``, check: func(t *testing.T, c Config, eps []Endpoint) {
			if c.Refuse != "503" || time.Duration(c.GuestExpires) != 60*time.Second || len(eps) != 1 || eps[0].String() != "sip:udp://127.0.0.1:5060" {
				t.Fatalf("defaults: %+v %v", c, eps)
			}
		}},
		{name: "design example", json: `{"listen":["udp://127.0.0.1:5060","tcp://127.0.0.1:5060"],"refuse":"503","guest_expires":"60s"}`,
			check: func(t *testing.T, c Config, eps []Endpoint) {
				if len(eps) != 2 || eps[1].Transport != "tcp" {
					t.Fatalf("endpoints %v", eps)
				}
			}},
		{name: "tls", json: `{"listen":["udp://127.0.0.1:5060","tls://127.0.0.1:5061"]}`,
			check: func(t *testing.T, c Config, eps []Endpoint) {
				if len(eps) != 2 || eps[1].String() != "sip:tls://127.0.0.1:5061" {
					t.Fatalf("endpoints %v", eps)
				}
			}},
		{name: "tls without port", json: `{"listen":["tls://127.0.0.1"]}`, wantKey: "plugins.sip.listen[0]"},
		{name: "drop", json: `{"refuse":"drop","retry_after":"3s"}`},
		{name: "sha-256 offered", json: `{"algorithms":["SHA-256","MD5"]}`},
		{name: "bad refuse", json: `{"refuse":"404"}`, wantKey: "plugins.sip.refuse"},
		{name: "bad transport", json: `{"listen":["sctp://127.0.0.1:5060"]}`, wantKey: "plugins.sip.listen[0]"},
		{name: "no port", json: `{"listen":["udp://127.0.0.1"]}`, wantKey: "plugins.sip.listen[0]"},
		{name: "short guest expiry", json: `{"guest_expires":"500ms"}`, wantKey: "plugins.sip.guest_expires"},
		{name: "bad duration", json: `{"guest_expires":"soon"}`, wantKey: "plugins.sip"},
		{name: "min above max", json: `{"min_expires":"2h","max_expires":"1h"}`, wantKey: "plugins.sip.min_expires"},
		{name: "unknown key", json: `{"refuse":"503","refuze":"403"}`, wantKey: "refuze"},
		{name: "bad algorithm", json: `{"algorithms":["SHA-1"]}`, wantKey: "plugins.sip.algorithms[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, eps, err := parseConfig([]byte(tc.json))
			if tc.wantKey == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.check != nil {
					tc.check(t, c, eps)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantKey) {
				t.Fatalf("error %v does not name %s", err, tc.wantKey)
			}
			if !errors.Is(err, sdk.ErrInvalidConfig) {
				t.Fatalf("error %v is not sdk.ErrInvalidConfig (the host would restart a misconfigured plugin)", err)
			}
		})
	}
}
