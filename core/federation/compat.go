package federation

import (
	"fmt"
	"slices"
	"strings"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// ProtocolVersion is the federation protocol version carried in Hello.
//
// History:
//   - 1: hello, heartbeat, record batches, acks, refusal.
const ProtocolVersion = 1

// Relation says who backs up whom between two sites, from their hellos.
type Relation struct {
	// WeBackUp: the remote asks us to back it up and we accept to.
	WeBackUp bool
	// TheyBackUp: we ask the remote to back us up and it accepts to.
	TheyBackUp bool
	// Disagreements lists one-sided claims, for status and check.
	Disagreements []string
}

// Relate derives the backup relation between local and remote.
func Relate(local, remote *federationv1.Hello) Relation {
	var r Relation
	asksUs := remote.GetBackupSite() == local.GetSite()
	weAccept := slices.Contains(local.GetBacksUp(), remote.GetSite())
	weAsk := local.GetBackupSite() == remote.GetSite()
	theyAccept := slices.Contains(remote.GetBacksUp(), local.GetSite())
	r.WeBackUp = asksUs && weAccept
	r.TheyBackUp = weAsk && theyAccept
	switch {
	case asksUs && !weAccept:
		r.Disagreements = append(r.Disagreements, fmt.Sprintf(
			"backup: %s names %s as its backup, but %s's backs_up does not list %s",
			remote.GetSite(), local.GetSite(), local.GetSite(), remote.GetSite()))
	case weAccept && !asksUs:
		r.Disagreements = append(r.Disagreements, fmt.Sprintf(
			"backs_up: %s lists %s, but %s's backup is %q",
			local.GetSite(), remote.GetSite(), remote.GetSite(), remote.GetBackupSite()))
	}
	switch {
	case weAsk && !theyAccept:
		r.Disagreements = append(r.Disagreements, fmt.Sprintf(
			"backup: %s names %s as its backup, but %s's backs_up does not list %s",
			local.GetSite(), remote.GetSite(), remote.GetSite(), local.GetSite()))
	case theyAccept && !weAsk:
		r.Disagreements = append(r.Disagreements, fmt.Sprintf(
			"backs_up: %s lists %s, but %s's backup is %q",
			remote.GetSite(), local.GetSite(), local.GetSite(), local.GetBackupSite()))
	}
	return r
}

// Compatible applies the link-time checks of DESIGN §1.12 to two hellos and
// returns a refusal naming the setting and both values, or nil. Both ends
// run it on the same pair of hellos and so reach the same verdict.
//
// The CA check is a second line: a certificate from another root already
// fails the TLS handshake.
func Compatible(local, remote *federationv1.Hello) *federationv1.Refusal {
	if local.GetProtocolVersion() != remote.GetProtocolVersion() {
		return &federationv1.Refusal{Setting: "protocol_version", Message: fmt.Sprintf(
			"protocol_version: %s speaks %d, %s speaks %d",
			local.GetSite(), local.GetProtocolVersion(), remote.GetSite(), remote.GetProtocolVersion())}
	}
	if local.GetCaFingerprint() != remote.GetCaFingerprint() {
		return &federationv1.Refusal{Setting: "tls.ca", Message: fmt.Sprintf(
			"tls.ca: %s has root CA %s, %s has root CA %s",
			local.GetSite(), short(local.GetCaFingerprint()), remote.GetSite(), short(remote.GetCaFingerprint()))}
	}
	// The pair checks apply wherever either side claims a backup relation:
	// a one-sided claim is a disagreement to report, but a relation that
	// could never work is refused outright.
	for _, pair := range claimedPairs(local, remote) {
		home, backup := pair[0], pair[1]
		if !strings.EqualFold(home.GetSipDomain(), backup.GetSipDomain()) {
			return &federationv1.Refusal{Setting: "sip_domain", Message: fmt.Sprintf(
				"sip_domain: %s (home) has %q, %s (backup) has %q; a backup pair must share the SIP domain",
				home.GetSite(), home.GetSipDomain(), backup.GetSite(), backup.GetSipDomain())}
		}
		if home.GetIpv6() && !backup.GetIpv6() {
			return &federationv1.Refusal{Setting: "ipv6", Message: fmt.Sprintf(
				"ipv6: %s (home) has ipv6: true, %s (backup) has ipv6: false; the backup must support IPv6",
				home.GetSite(), backup.GetSite())}
		}
	}
	return nil
}

// claimedPairs returns (home, backup) pairs that either side claims.
func claimedPairs(local, remote *federationv1.Hello) [][2]*federationv1.Hello {
	var pairs [][2]*federationv1.Hello
	if local.GetBackupSite() == remote.GetSite() || slices.Contains(remote.GetBacksUp(), local.GetSite()) {
		pairs = append(pairs, [2]*federationv1.Hello{local, remote})
	}
	if remote.GetBackupSite() == local.GetSite() || slices.Contains(local.GetBacksUp(), remote.GetSite()) {
		pairs = append(pairs, [2]*federationv1.Hello{remote, local})
	}
	return pairs
}

// ExtensionClashes lists extensions both hellos claim, sorted.
func ExtensionClashes(local, remote *federationv1.Hello) []string {
	mine := make(map[string]struct{}, len(local.GetExtensions()))
	for _, e := range local.GetExtensions() {
		mine[e] = struct{}{}
	}
	var clash []string
	for _, e := range remote.GetExtensions() {
		if _, ok := mine[e]; ok {
			clash = append(clash, e)
		}
	}
	slices.Sort(clash)
	return slices.Compact(clash)
}

func short(fp string) string {
	if len(fp) > 16 {
		return fp[:16]
	}
	return fp
}
