package sipplugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sip/digest"
)

// Refusal modes for phones homed at a live peer (config key refuse).
const (
	Refuse503  = "503"
	Refuse403  = "403"
	RefuseDrop = "drop"
)

// Defaults of the plugin's config section.
const (
	DefaultRefuse         = Refuse503
	DefaultRetryAfter     = 2 * time.Second
	DefaultGuestExpires   = 60 * time.Second
	DefaultMinExpires     = 30 * time.Second
	DefaultMaxExpires     = 3600 * time.Second
	DefaultDefaultExpires = 600 * time.Second
	DefaultNonceLifetime  = time.Minute
	DefaultListen         = "udp://127.0.0.1:5060"
)

// Config is the plugin's section of the site config (plugins.sip).
type Config struct {
	// Listen lists transport://host:port; transports udp, tcp and tls
	// (TLS with the site's identity certificate, server authentication only).
	Listen []string `json:"listen"`
	// Refuse is what a phone homed at a live peer gets: "503" (with
	// Retry-After: retry_after), "403" or "drop".
	Refuse string `json:"refuse"`
	// RetryAfter is the Retry-After of a 503: about federation.failover_after,
	// so that phones that honour it come back when failover could begin.
	RetryAfter Duration `json:"retry_after"`
	// GuestExpires caps guest registrations.
	GuestExpires   Duration `json:"guest_expires"`
	MinExpires     Duration `json:"min_expires"`
	MaxExpires     Duration `json:"max_expires"`
	DefaultExpires Duration `json:"default_expires"`
	NonceLifetime  Duration `json:"nonce_lifetime"`
	// Algorithms are the digest algorithms offered, strongest first:
	// MD5 and/or SHA-256. Default MD5 only: SIPp 3.6 and baresip 1.0, like
	// many deployed phones, give up on a challenge that offers SHA-256.
	Algorithms []string `json:"algorithms"`
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

// Endpoint is one listen address.
type Endpoint struct {
	Transport string // udp | tcp | tls
	Addr      string // host:port
}

// String is the endpoint as announced to peers: "sip:udp://host:port".
func (e Endpoint) String() string { return "sip:" + e.Transport + "://" + e.Addr }

// parseConfig reads and checks the plugin's JSON config; errors wrap
// sdk.ErrInvalidConfig and name the key (plugins.sip.KEY).
func parseConfig(data []byte) (Config, []Endpoint, error) {
	c := Config{}
	if len(bytes.TrimSpace(data)) > 0 && string(bytes.TrimSpace(data)) != "null" {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return c, nil, fmt.Errorf("%w: plugins.sip: %w", sdk.ErrInvalidConfig, err)
		}
	}
	def := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	if c.Refuse == "" {
		c.Refuse = DefaultRefuse
	}
	if len(c.Listen) == 0 {
		c.Listen = []string{DefaultListen}
	}
	def(&c.RetryAfter, DefaultRetryAfter)
	def(&c.GuestExpires, DefaultGuestExpires)
	def(&c.MinExpires, DefaultMinExpires)
	def(&c.MaxExpires, DefaultMaxExpires)
	def(&c.DefaultExpires, DefaultDefaultExpires)
	def(&c.NonceLifetime, DefaultNonceLifetime)
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%w: plugins.sip.%s: %s", sdk.ErrInvalidConfig, key, fmt.Sprintf(format, args...))
	}
	switch c.Refuse {
	case Refuse503, Refuse403, RefuseDrop:
	default:
		return c, nil, bad("refuse", "%q: want 503, 403 or drop", c.Refuse)
	}
	for _, k := range []struct {
		key string
		d   Duration
	}{{"retry_after", c.RetryAfter}, {"guest_expires", c.GuestExpires}, {"min_expires", c.MinExpires},
		{"max_expires", c.MaxExpires}, {"default_expires", c.DefaultExpires}, {"nonce_lifetime", c.NonceLifetime}} {
		if time.Duration(k.d) < time.Second {
			return c, nil, bad(k.key, "%v: want at least 1s", time.Duration(k.d))
		}
	}
	if c.MinExpires > c.MaxExpires {
		return c, nil, bad("min_expires", "%v is above max_expires %v", time.Duration(c.MinExpires), time.Duration(c.MaxExpires))
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = []string{digest.MD5}
	}
	for i, a := range c.Algorithms {
		if a != digest.MD5 && a != digest.SHA256 {
			return c, nil, bad(fmt.Sprintf("algorithms[%d]", i), "%q: want MD5 or SHA-256", a)
		}
	}
	var eps []Endpoint
	for i, l := range c.Listen {
		tr, addr, ok := strings.Cut(l, "://")
		if !ok || (tr != "udp" && tr != "tcp" && tr != "tls") {
			return c, nil, bad(fmt.Sprintf("listen[%d]", i), "%q: want udp://host:port, tcp://host:port or tls://host:port", l)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return c, nil, bad(fmt.Sprintf("listen[%d]", i), "%q: %v", l, err)
		}
		eps = append(eps, Endpoint{Transport: tr, Addr: addr})
	}
	return c, eps, nil
}

// listenError is the error of a listener that could not be opened. It
// names the key but is not an invalid config: a port another process
// holds, or an address not up yet, can clear, so the host starts the
// plugin again with backoff instead of giving up on it.
func listenError(ep Endpoint, err error) error {
	return fmt.Errorf("plugins.sip.listen: %s: %w", ep, err)
}
