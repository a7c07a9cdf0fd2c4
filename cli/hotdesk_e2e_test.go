package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

// hotDeskDirectory is london's seed directory for the hot-desk test: Alice
// has a desk phone (201); Dan (204) has none of his own and hot-desks with
// code 4711.
const hotDeskDirectory = `users:
  - {extension: "201", name: Alice, password: alice-secret, phone: {kind: desk, protocol: sip}}
  - {extension: "202", name: Bob, password: bob-secret, phone: {kind: softphone, protocol: sip}}
  - {extension: "204", name: Dan, hotdesk_code: "4711"}
`

// watchEvents runs `rally status --watch --json` against cfg until the test
// ends and returns its output so far; it returns once the status line is
// out (the event stream is then open).
func watchEvents(t *testing.T, cfg string) *syncBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Main(ctx, []string{"--config", cfg, "status", "--watch", "--json"}, out, out)
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 10*time.Second, "status --watch prints the status", func() bool { return strings.Contains(out.String(), `"peers"`) })
	return out
}

// watchedEvent finds an event of kind with to and a message containing says
// in `status --watch --json` output.
func watchedEvent(out *syncBuffer, kind, to, says string) bool {
	for _, line := range strings.Split(out.String(), "\n") {
		var e eventJSON
		if json.Unmarshal([]byte(line), &e) == nil && e.Kind == kind && e.To == to && strings.Contains(e.Message, says) {
			return true
		}
	}
	return false
}

// phonesJSONAt runs `rally phones --json` against cfg.
func phonesJSONAt(t *testing.T, cfg string) map[string]registrationJSON {
	t.Helper()
	stdout, stderr, code := runCLI(t, "--config", cfg, "phones", "--json")
	if code != 0 {
		t.Fatalf("rally phones: exit %d: %s", code, stderr)
	}
	var out phonesJSON
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("rally phones --json: %v:\n%s", err, stdout)
	}
	m := make(map[string]registrationJSON)
	for _, r := range out.Registrations {
		m[r.Phone] = r
	}
	return m
}

// TestHotDeskFailoverE2E: two real daemons with the SIP plugin and a SIP
// phone with digest. Dan hot-desks on Alice's desk phone at home (`rally
// hotdesk login`): `rally phones` shows the phone serving him, and the
// phone may now register Dan's AoR. kill -9 the home: the phone registers
// at the backup as a guest serving its base extension (Dan's AoR is
// refused there), and the backup's `rally status --watch` says Dan was
// logged out of it. Restart the home: the phone fails back, registers
// home, and Dan is logged back in (phones shows it, an event says so, his
// AoR registers again). After `rally hotdesk logout` it no longer does.
func TestHotDeskFailoverE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	t.Setenv(envAdmin, "")
	london, paris := writeSitesWith(t, "automatic", false, hotDeskDirectory)
	londonSIP := withSIP(t, london, "127.0.0.1")
	parisSIP := withSIP(t, paris, "127.0.0.2")
	serveSite(t, paris.cfg)
	lp := serveSite(t, london.cfg)
	lc, pc := adminOf(t, london), adminOf(t, paris)
	waitFor(t, 15*time.Second, "linked, replicated, SIP serving", func() bool {
		p := peerOf(pc, "london")
		return p.GetState() == "normal" && p.GetHeldRecords() > 0 && sipServing(lc) && sipServing(pc)
	})
	phone, err := newDemoPhone("201", "201", "alice-secret", "voip.example", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer phone.close()
	// The same desk phone registering the AoR of the user hot-desked on it.
	asDan, err := newDemoPhone("201", "204", "alice-secret", "voip.example", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer asDan.close()
	registerAt(t, phone, londonSIP, 200)
	if got := registerAt(t, asDan, londonSIP, 403); !strings.Contains(got, "not this phone's user") {
		t.Fatalf("Dan's AoR before the login: %s", got)
	}

	// Wrong code, then the right one.
	if _, stderr, code := runCLI(t, "--config", london.cfg, "hotdesk", "login", "201", "204", "--code", "1111"); code == 0 || !strings.Contains(stderr, "wrong hot-desk code for user 204") {
		t.Fatalf("login with a wrong code: exit %d, %q", code, stderr)
	}
	stdout, stderr, code := runCLI(t, "--config", london.cfg, "hotdesk", "login", "201", "204", "--code", "4711")
	if code != 0 || stdout != "204 logged in on 201\n" {
		t.Fatalf("rally hotdesk login: exit %d, %q %q", code, stdout, stderr)
	}
	waitFor(t, 5*time.Second, "london lists 201 registered", func() bool { _, ok := phonesJSONAt(t, london.cfg)["201"]; return ok })
	if r := phonesJSONAt(t, london.cfg)["201"]; r.ServedUser != "204" || r.HotDeskUser != "204" || r.User != "201" || r.HereAs != "home" {
		t.Fatalf("london phones: %+v; want 201 at home serving hot-desk user 204", r)
	}
	registerAt(t, asDan, londonSIP, 200) // the plugin's view follows the login
	if table, _, _ := runCLI(t, "--config", london.cfg, "phones"); !strings.Contains(table, "204 (hot-desk)") {
		t.Errorf("rally phones table does not mark the hot desk:\n%s", table)
	}
	// The login replicates before the home dies.
	waitFor(t, 10*time.Second, "paris holds london's revision", func() bool {
		st, err := lc.GetStatus(context.Background(), &adminv1.GetStatusRequest{})
		return err == nil && peerOf(pc, "london").GetHeldRevision() == st.GetSite().GetRevision()
	})

	parisEvents := watchEvents(t, paris.cfg)
	lp.kill()
	waitFor(t, 5*time.Second, "failover", func() bool { return peerOf(pc, "london").GetState() == "failover" })
	registerAt(t, phone, parisSIP, 200)
	waitFor(t, 5*time.Second, "paris lists the guest", func() bool { _, ok := phonesJSONAt(t, paris.cfg)["201"]; return ok })
	if r := phonesJSONAt(t, paris.cfg)["201"]; r.HereAs != "guest" || r.ServedUser != "201" || r.HotDeskUser != "" || r.HotDeskSuspendedUser != "204" {
		t.Fatalf("paris phones: %+v; want a guest serving its base extension 201, 204 logged out", r)
	}
	if got := registerAt(t, asDan, parisSIP, 403); !strings.Contains(got, "not this phone's user") {
		t.Fatalf("Dan's AoR on the guest phone: %s", got)
	}
	waitFor(t, 5*time.Second, "paris's logout event", func() bool {
		return watchedEvent(parisEvents, "hotdesk", "logout", "hot-desked user 204 logged out of guest phone 201 (serves its base extension 201)")
	})

	serveSite(t, london.cfg)
	waitFor(t, 15*time.Second, "london back, failback", func() bool {
		return peerOf(pc, "london").GetState() == "normal" && sipServing(lc)
	})
	londonEvents := watchEvents(t, london.cfg)
	registerAt(t, phone, parisSIP, 503)
	registerAt(t, phone, londonSIP, 200)
	waitFor(t, 5*time.Second, "london's log-back-in event", func() bool {
		return watchedEvent(londonEvents, "hotdesk", "login", "hot-desked user 204 logged back in on phone 201")
	})
	if r := phonesJSONAt(t, london.cfg)["201"]; r.ServedUser != "204" || r.HotDeskUser != "204" || r.HereAs != "home" {
		t.Fatalf("london phones after failback: %+v; want 201 at home serving 204 again", r)
	}
	registerAt(t, asDan, londonSIP, 200)

	// Logout: the phone serves its base extension again.
	if stdout, stderr, code := runCLI(t, "--config", london.cfg, "hotdesk", "logout", "201"); code != 0 || stdout != "204 logged out of 201\n" {
		t.Fatalf("rally hotdesk logout: exit %d, %q %q", code, stdout, stderr)
	}
	if r := phonesJSONAt(t, london.cfg)["201"]; r.ServedUser != "201" || r.HotDeskUser != "" {
		t.Fatalf("london phones after logout: %+v", r)
	}
	registerAt(t, asDan, londonSIP, 403)
	if !watchedEvent(londonEvents, "hotdesk", "logout", "hot-desked user 204 logged out of phone 201") {
		t.Errorf("no logout event at london:\n%s", londonEvents.String())
	}
}
