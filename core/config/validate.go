package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Validate checks c and returns every problem found, joined with
// errors.Join; each is a [FieldError] "FILE: KEY: message" wrapping
// ErrInvalid. It does not check that files exist: the daemon does, when it
// opens them.
func (c *Config) Validate() error {
	v := validator{}
	if c.Path != "" {
		v.file = filepath.Base(c.Path)
	}

	if c.Site == "" {
		v.add("site", "required")
	} else if err := ValidSiteName(c.Site); err != nil {
		v.add("site", "%v", err)
	}
	switch {
	case c.SIPDomain == "":
		v.add("sip_domain", "required")
	case !validHost(c.SIPDomain):
		v.add("sip_domain", "invalid domain %q", c.SIPDomain)
	}
	c.validateAdmin(&v)
	if c.Metrics != "" {
		if err := checkHostPort(c.Metrics, true, true); err != nil {
			v.add("metrics", "must be host:port or empty (off): %v", err)
		}
	}
	for _, f := range []struct{ key, val string }{
		{"tls.ca", c.TLS.CA}, {"tls.cert", c.TLS.Cert}, {"tls.key", c.TLS.Key},
	} {
		if f.val == "" {
			v.add(f.key, "required")
		}
	}
	c.validateFederation(&v)
	c.validateBackup(&v)
	c.validateSiteList(&v, "backs_up", c.BacksUp)
	if c.Store.Path == "" {
		v.add("store.path", "required")
	}
	if c.Licenses < 0 {
		v.add("licenses", "must be >= 0 (got %d)", c.Licenses)
	}
	return errors.Join(v.errs...)
}

func (c *Config) validateAdmin(v *validator) {
	if c.Admin == "" {
		v.add("admin", "required")
		return
	}
	if sock, ok := strings.CutPrefix(c.Admin, unixScheme); ok {
		switch {
		case sock == "" || !filepath.IsAbs(sock):
			v.add("admin", "want unix:///absolute/path.sock, got %q", c.Admin)
		case len(sock) > maxUnixPath:
			v.add("admin", "unix socket path is %d bytes, longer than the %d the system allows", len(sock), maxUnixPath)
		}
		return
	}
	if err := checkHostPort(c.Admin, true, true); err != nil {
		v.add("admin", "must be unix:///path.sock or host:port: %v", err)
	}
}

func (c *Config) validateFederation(v *validator) {
	f := c.Federation
	if f.Listen == "" {
		v.add("federation.listen", "required")
	} else if err := checkHostPort(f.Listen, true, true); err != nil {
		v.add("federation.listen", "must be host:port: %v", err)
	}
	if f.Heartbeat <= 0 {
		v.add("federation.heartbeat", "must be > 0 (got %s)", f.Heartbeat)
	}
	if f.FailoverAfter <= f.Heartbeat {
		v.add("federation.failover_after", "must be > heartbeat (%s)", f.Heartbeat)
	}
	seen := map[string]int{}
	for i, p := range f.Peers {
		key := "federation.peers[" + strconv.Itoa(i) + "]"
		switch {
		case p.Site == "":
			v.add(key+".site", "required")
		case ValidSiteName(p.Site) != nil:
			v.add(key+".site", "%v", ValidSiteName(p.Site))
		case p.Site == c.Site:
			v.add(key+".site", "must not be this site (%s)", c.Site)
		default:
			if j, dup := seen[p.Site]; dup {
				v.add(key+".site", "duplicate peer %s (also peers[%d])", p.Site, j)
			} else {
				seen[p.Site] = i
			}
		}
		if p.Addr == "" {
			v.add(key+".addr", "required")
		} else if err := checkHostPort(p.Addr, false, false); err != nil {
			v.add(key+".addr", "must be host:port: %v", err)
		}
	}
}

func (c *Config) validateBackup(v *validator) {
	b := c.Backup
	if b == nil {
		return
	}
	switch {
	case b.Site == "":
		v.add("backup.site", "required")
	case ValidSiteName(b.Site) != nil:
		v.add("backup.site", "%v", ValidSiteName(b.Site))
	case b.Site == c.Site:
		v.add("backup.site", "must not be this site (%s)", c.Site)
	}
	switch b.Failback {
	case FailbackAutomatic, FailbackGraceful, FailbackManual:
	case "":
		// FailbackMode treats "" as the default.
	default:
		v.add("backup.failback", "must be one of %s, %s, %s (got %q)", FailbackAutomatic, FailbackGraceful, FailbackManual, b.Failback)
	}
	if b.FailbackDelay < 0 {
		v.add("backup.failback_delay", "must be >= 0 (got %s)", b.FailbackDelay)
	}
	all := DefaultFeatures()
	seen := map[string]int{}
	for i, f := range b.Features {
		key := "backup.features[" + strconv.Itoa(i) + "]"
		switch j, dup := seen[f]; {
		case !slices.Contains(all, f):
			v.add(key, "unknown feature %q (want %s)", f, strings.Join(all, ", "))
		case dup:
			v.add(key, "duplicate feature %s (also features[%d])", f, j)
		default:
			seen[f] = i
		}
	}
}

// validateSiteList checks a list of site names other than this one.
func (c *Config) validateSiteList(v *validator, key string, sites []string) {
	seen := map[string]int{}
	for i, s := range sites {
		k := key + "[" + strconv.Itoa(i) + "]"
		switch j, dup := seen[s]; {
		case ValidSiteName(s) != nil:
			v.add(k, "%v", ValidSiteName(s))
		case s == c.Site:
			v.add(k, "must not be this site (%s)", c.Site)
		case dup:
			v.add(k, "duplicate site %s (also %s[%d])", s, key, j)
		default:
			seen[s] = i
		}
	}
}

type validator struct {
	file string
	errs []error
}

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{File: v.file, Key: key, Msg: fmt.Sprintf(format, args...), Err: ErrInvalid})
}
