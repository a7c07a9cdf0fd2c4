package federation

import (
	"strings"
	"testing"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

func hello(site string, mod func(h *federationv1.Hello)) *federationv1.Hello {
	h := &federationv1.Hello{ProtocolVersion: ProtocolVersion, Site: site, SipDomain: "voip.example", CaFingerprint: "ab12"}
	if mod != nil {
		mod(h)
	}
	return h
}

func TestCompatible(t *testing.T) {
	homeOf := func(h *federationv1.Hello) { h.BackupSite = "paris" }
	backs := func(h *federationv1.Hello) { h.BacksUp = []string{"london"} }
	tests := []struct {
		name          string
		london, paris *federationv1.Hello
		setting       string // "" for compatible
		mentions      []string
	}{
		{"backup pair agrees", hello("london", homeOf), hello("paris", backs), "", nil},
		{"index peers may differ in domain", hello("london", func(h *federationv1.Hello) { h.SipDomain = "a.example" }), hello("paris", nil), "", nil},
		{"domain mismatch in a pair", hello("london", homeOf), hello("paris", func(h *federationv1.Hello) { backs(h); h.SipDomain = "other.example" }),
			"sip_domain", []string{"london", "paris", `"voip.example"`, `"other.example"`}},
		{"one-sided claim still checks the domain", hello("london", homeOf), hello("paris", func(h *federationv1.Hello) { h.SipDomain = "other.example" }),
			"sip_domain", []string{"other.example"}},
		{"domain compared without case", hello("london", homeOf), hello("paris", func(h *federationv1.Hello) { backs(h); h.SipDomain = "VOIP.example" }), "", nil},
		{"ipv6 home needs ipv6 backup", hello("london", func(h *federationv1.Hello) { homeOf(h); h.Ipv6 = true }), hello("paris", backs),
			"ipv6", []string{"london (home) has ipv6: true", "paris (backup) has ipv6: false"}},
		{"ipv6 backup of an ipv4 home is fine", hello("london", homeOf), hello("paris", func(h *federationv1.Hello) { backs(h); h.Ipv6 = true }), "", nil},
		{"another CA", hello("london", nil), hello("paris", func(h *federationv1.Hello) { h.CaFingerprint = "cd34" }),
			"tls.ca", []string{"ab12", "cd34"}},
		{"protocol version", hello("london", nil), hello("paris", func(h *federationv1.Hello) { h.ProtocolVersion = 99 }),
			"protocol_version", []string{"99"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, dir := range []struct{ local, remote *federationv1.Hello }{{tc.london, tc.paris}, {tc.paris, tc.london}} {
				r := Compatible(dir.local, dir.remote)
				if tc.setting == "" {
					if r != nil {
						t.Fatalf("refused: %v", r)
					}
					continue
				}
				if r.GetSetting() != tc.setting {
					t.Fatalf("%s side: setting %q, want %q (%v)", dir.local.GetSite(), r.GetSetting(), tc.setting, r)
				}
				for _, m := range tc.mentions {
					if !strings.Contains(r.GetMessage(), m) {
						t.Errorf("%s side: message %q does not mention %q", dir.local.GetSite(), r.GetMessage(), m)
					}
				}
			}
		})
	}
}

func TestRelate(t *testing.T) {
	tests := []struct {
		name                 string
		london, paris        *federationv1.Hello
		weBackUp, theyBackUp bool
		disagreements        int
	}{
		{"agreed", hello("london", func(h *federationv1.Hello) { h.BackupSite = "paris" }), hello("paris", func(h *federationv1.Hello) { h.BacksUp = []string{"london"} }), false, true, 0},
		{"home asks, backup does not accept", hello("london", func(h *federationv1.Hello) { h.BackupSite = "paris" }), hello("paris", nil), false, false, 1},
		{"backup accepts, home does not ask", hello("london", nil), hello("paris", func(h *federationv1.Hello) { h.BacksUp = []string{"london"} }), false, false, 1},
		{"mutual", hello("london", func(h *federationv1.Hello) { h.BackupSite = "paris"; h.BacksUp = []string{"paris"} }),
			hello("paris", func(h *federationv1.Hello) { h.BackupSite = "london"; h.BacksUp = []string{"london"} }), true, true, 0},
		{"strangers", hello("london", nil), hello("paris", nil), false, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Relate(tc.london, tc.paris)
			if r.WeBackUp != tc.weBackUp || r.TheyBackUp != tc.theyBackUp || len(r.Disagreements) != tc.disagreements {
				t.Fatalf("got %+v", r)
			}
			mirror := Relate(tc.paris, tc.london)
			if mirror.WeBackUp != r.TheyBackUp || mirror.TheyBackUp != r.WeBackUp || len(mirror.Disagreements) != len(r.Disagreements) {
				t.Fatalf("not symmetric: %+v vs %+v", r, mirror)
			}
		})
	}
}

func TestExtensionClashes(t *testing.T) {
	a := hello("london", func(h *federationv1.Hello) { h.Extensions = []string{"201", "600", "202"} })
	b := hello("paris", func(h *federationv1.Hello) { h.Extensions = []string{"600", "301", "201", "201"} })
	if got := strings.Join(ExtensionClashes(a, b), ","); got != "201,600" {
		t.Fatalf("clashes %q", got)
	}
}
