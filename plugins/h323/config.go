package h323plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
)

// Refusal modes for a phone homed at a live peer (config key refuse): the
// RRJ reason, always with altGKInfo naming the home's gatekeeper, or drop
// (no answer).
const (
	RefuseResourceUnavailable = "resource_unavailable"
	RefuseUndefinedReason     = "undefined_reason"
	RefuseSecurityDenial      = "security_denial"
	RefuseDrop                = "drop"
)

// Defaults of the plugin's config section.
const (
	DefaultListen          = "127.0.0.1:1719"
	DefaultRefuse          = RefuseResourceUnavailable
	DefaultTimeToLive      = 300 * time.Second
	DefaultGuestTimeToLive = 60 * time.Second
	DefaultURQRetry        = time.Second
	DefaultLRQTimeout      = 2 * time.Second
)

// Config is the plugin's section of the site config (plugins.h323).
type Config struct {
	// Listen is the RAS address, host:port (udp://host:port also reads).
	Listen string `json:"listen"`
	// Refuse is what a phone homed at a live peer gets: an RRJ with
	// reason resource_unavailable (default: a real endpoint then tries the
	// alternate gatekeeper of the altGKInfo, its home), undefined_reason or
	// security_denial, or drop.
	Refuse string `json:"refuse"`
	// TimeToLive is granted to home phones; GuestTimeToLive caps guests
	// (short, like SIP's guest_expires).
	TimeToLive      Duration `json:"time_to_live"`
	GuestTimeToLive Duration `json:"guest_time_to_live"`
	// URQRetry is the wait for a UCF before a URQ is sent again (twice),
	// then the registration is dropped anyway.
	URQRetry Duration `json:"urq_retry"`
	// LRQTimeout bounds the wait for a peer gatekeeper's LCF.
	LRQTimeout Duration `json:"lrq_timeout"`
}

// Duration is a time.Duration written as "60s" in the config.
type Duration time.Duration

// UnmarshalJSON reads "60s" (or a number of seconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n float64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("want a duration such as 60s")
		}
		*d = Duration(time.Duration(n * float64(time.Second)))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a number with a unit such as 60s", s)
	}
	*d = Duration(v)
	return nil
}

// parseConfig reads and checks the plugin's JSON config; errors wrap
// sdk.ErrInvalidConfig and name the key (plugins.h323.KEY).
func parseConfig(data []byte) (Config, netip.AddrPort, error) {
	c := Config{}
	if t := bytes.TrimSpace(data); len(t) > 0 && string(t) != "null" {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return c, netip.AddrPort{}, fmt.Errorf("%w: plugins.h323%s: %w", sdk.ErrInvalidConfig, badKey(data), err)
		}
	}
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%w: plugins.h323.%s: %s", sdk.ErrInvalidConfig, key, fmt.Sprintf(format, args...))
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Refuse == "" {
		c.Refuse = DefaultRefuse
	}
	def := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	def(&c.TimeToLive, DefaultTimeToLive)
	def(&c.GuestTimeToLive, DefaultGuestTimeToLive)
	def(&c.URQRetry, DefaultURQRetry)
	def(&c.LRQTimeout, DefaultLRQTimeout)
	switch c.Refuse {
	case RefuseResourceUnavailable, RefuseUndefinedReason, RefuseSecurityDenial, RefuseDrop:
	default:
		return c, netip.AddrPort{}, bad("refuse", "%q: want resource_unavailable, undefined_reason, security_denial or drop", c.Refuse)
	}
	for _, k := range []struct {
		key string
		d   Duration
		min time.Duration
	}{{"time_to_live", c.TimeToLive, time.Second}, {"guest_time_to_live", c.GuestTimeToLive, time.Second},
		{"urq_retry", c.URQRetry, 10 * time.Millisecond}, {"lrq_timeout", c.LRQTimeout, 10 * time.Millisecond}} {
		if time.Duration(k.d) < k.min {
			return c, netip.AddrPort{}, bad(k.key, "%v: want at least %v", time.Duration(k.d), k.min)
		}
	}
	addr := c.Listen
	if tr, rest, ok := strings.Cut(addr, "://"); ok {
		if tr != "udp" {
			return c, netip.AddrPort{}, bad("listen", "%q: RAS is UDP: want host:port or udp://host:port", c.Listen)
		}
		addr = rest
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return c, netip.AddrPort{}, bad("listen", "%q: want an IP address and port such as 127.0.0.1:1719", c.Listen)
	}
	if ap.Addr().IsUnspecified() {
		// The gatekeeper names its own RAS address (GCF) and peers name it
		// as alternate gatekeeper: it must be one an endpoint can reach.
		return c, netip.AddrPort{}, bad("listen", "%q: give the address endpoints reach, not a wildcard", c.Listen)
	}
	return c, ap, nil
}

// badKey finds the key of a config section whose value does not decode,
// as ".KEY" ("" if none is found), to name it in the error.
func badKey(data []byte) string {
	var raw map[string]json.RawMessage
	if json.Unmarshal(data, &raw) != nil {
		return ""
	}
	for k, v := range raw {
		one, _ := json.Marshal(map[string]json.RawMessage{k: v})
		var c Config
		dec := json.NewDecoder(bytes.NewReader(one))
		dec.DisallowUnknownFields()
		if dec.Decode(&c) != nil {
			return "." + k
		}
	}
	return ""
}
