package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/sip/sipptest"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

// TestSIPpAgainstRally runs SIPp scenarios (a SIP implementation nobody
// here wrote) against the built-in SIP plugin of real sites: digest
// registration, a wrong password, a stale nonce, unregistering, OPTIONS,
// and the refusal of a phone homed at a live peer — then, after kill -9 of
// the home, its registration as a guest.
func TestSIPpAgainstRally(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	london, paris := writeSites(t, "automatic", false)
	londonSIP := withSIP(t, london, "127.0.0.1")
	parisSIP := withSIP(t, paris, "127.0.0.2")
	serveSite(t, paris.cfg)
	lp := serveSite(t, london.cfg)
	lc, pc := adminOf(t, london), adminOf(t, paris)
	waitFor(t, 15*time.Second, "linked and SIP serving", func() bool {
		return peerOf(pc, "london").GetState() == "normal" && peerOf(pc, "london").GetHeldRecords() > 0 && sipServing(lc) && sipServing(pc)
	})
	alice := [][2]string{{"201", "alice-secret"}}
	tests := []struct {
		name   string
		run    sipptest.Run
		assert func(t *testing.T, r sipptest.Result)
	}{
		{"register with MD5 digest", sipptest.Run{Scenario: "register", Server: londonSIP, Users: alice}, nil},
		{"options", sipptest.Run{Scenario: "options", Server: londonSIP}, nil},
		{"wrong password", sipptest.Run{Scenario: "register-wrong-password", Server: londonSIP, Users: alice}, nil},
		{"stale nonce", sipptest.Run{Scenario: "register-stale", Server: londonSIP, Users: alice,
			Keys: map[string]string{"stale_wait_ms": "2500"}}, nil},
		{"unregister all", sipptest.Run{Scenario: "unregister-all", Server: londonSIP, Users: alice}, nil},
		{"refused at the backup while home lives", sipptest.Run{Scenario: "register-refused-after-auth", Server: parisSIP, Users: alice, LocalIP: "127.0.0.2"},
			func(t *testing.T, r sipptest.Result) {
				if !strings.Contains(r.Log, "retry_after=2") {
					t.Errorf("503 without Retry-After: 2: %s", r.Log)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r, err := tc.run.Exec(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if !r.OK(1) {
				t.Fatalf("sipp: %d ok, %d failed, exit %d\n%s\n%s", r.Successful, r.Failed, r.ExitCode, r.Errors, r.Messages)
			}
			if tc.assert != nil {
				tc.assert(t, r)
			}
		})
	}

	// Unregistered: the registration is gone from rally phones.
	waitFor(t, 5*time.Second, "201 unregistered at london", func() bool {
		ph, err := lc.ListPhones(context.Background(), &adminv1.ListPhonesRequest{})
		return err == nil && len(ph.GetRegistrations()) == 0
	})

	lp.kill()
	waitFor(t, 5*time.Second, "failover", func() bool { return peerOf(pc, "london").GetState() == "failover" })
	r, err := sipptest.Run{Scenario: "register", Server: parisSIP, Users: alice, LocalIP: "127.0.0.2"}.Exec(context.Background(), t.TempDir())
	if err != nil || !r.OK(1) {
		t.Fatalf("guest registration with SIPp: %v %+v", err, r)
	}
	if !strings.Contains(r.Messages, "expires=60") {
		t.Errorf("guest registration without the short guest expiry:\n%s", r.Messages)
	}
	waitFor(t, 5*time.Second, "paris lists the guest", func() bool {
		ph, err := pc.ListPhones(context.Background(), &adminv1.ListPhonesRequest{})
		return err == nil && len(ph.GetRegistrations()) == 1 && ph.GetRegistrations()[0].GetHereAs() == "guest"
	})
}
