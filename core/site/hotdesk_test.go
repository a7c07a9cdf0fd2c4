package site

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rallyvoip/rally/core/events"
	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// hotDeskDirectory: 2001 and 2004 have desk phones and no code, 2002 a
// softphone and code 4711, 2003 a desk phone and code 1234.
const hotDeskDirectory = `users:
  - {extension: "2001", name: Ann, password: pw-2001, phone: {kind: desk, protocol: sip}}
  - {extension: "2002", name: Ben, password: pw-2002, hotdesk_code: "4711", phone: {kind: softphone, protocol: sip}}
  - {extension: "2003", name: Cat, password: pw-2003, hotdesk_code: "1234", phone: {kind: desk, protocol: sip}}
  - {extension: "2004", name: Dan, password: pw-2004, phone: {kind: desk, protocol: sip}}
`

// hotDeskEvents are r's recent hot-desk events ("to: message").
func hotDeskEvents(r *running) []events.Event {
	var out []events.Event
	for _, e := range r.site.bus.Recent() {
		if e.Kind == eventHotDesk {
			out = append(out, e)
		}
	}
	return out
}

func hasHotDeskEvent(r *running, peer, to, says string) bool {
	for _, e := range hotDeskEvents(r) {
		if e.Peer == peer && e.To == to && strings.Contains(e.Message, says) {
			return true
		}
	}
	return false
}

// viewUser is the hot-desk user of phone in r's admission table and in a
// fresh plugin view snapshot, once they agree: the index a snapshot reads
// is updated a moment before the table, by the directory watcher.
func viewUser(t *testing.T, r *running, phone string) string {
	t.Helper()
	var table, snap string
	eventually(t, 5*time.Second, r.name+"'s table and view snapshot agree on phone "+phone, func() bool {
		e, ok := r.site.table.Phone(phone)
		if !ok {
			t.Fatalf("%s: phone %s not in the admission table", r.name, phone)
		}
		table, snap = e.HotDeskUser, "?"
		for _, p := range (*hostBackend)(r.site).ViewSnapshot().Phones {
			if p.ID == phone {
				snap = p.HotDeskUser
			}
		}
		return table == snap
	})
	return table
}

// metricValue reads a gauge or counter from r's registry; event is the
// "event" label ("" for none).
func metricValue(t *testing.T, r *running, name, event string) float64 {
	t.Helper()
	mfs, err := r.site.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := event == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "event" && l.GetValue() == event {
					match = true
				}
			}
			if match {
				return m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func listedPhone(t *testing.T, r *running, phone string) *adminv1.Registration {
	t.Helper()
	resp, err := r.admin.ListPhones(context.Background(), &adminv1.ListPhonesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range resp.GetRegistrations() {
		if g.GetPhone() == phone {
			return g
		}
	}
	t.Fatalf("%s: phone %s not registered", r.name, phone)
	return nil
}

// TestHotDesk: logins and logouts through the admin API, with every
// refusal mapped to its code; the view the plugins see carries the
// hot-desked user for home phones only; the login replicates to the
// backup, where a guest phone serves its base extension (logout event)
// while the home still holds the login, and a home registration of the
// phone serves the user again (log-back-in event).
func TestHotDesk(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site")
	}
	f := newFed(t)
	parisCfg, parisAddr := f.writeConfig(spec{name: "paris", host: "127.0.0.2", backsUp: []string{"london"}, directory: users(3000, 1)})
	londonCfg, _ := f.writeConfig(spec{name: "london", backup: "paris", directory: hotDeskDirectory,
		peers: map[string]string{"paris": parisAddr}})
	paris := start(t, parisCfg)
	london := start(t, londonCfg)
	linked(t, london, paris)
	ctx := context.Background()
	feed, cancelFeed := (*hostBackend)(london.site).SubscribeView()
	defer cancelFeed()

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			at   *running
			req  *adminv1.HotDeskLoginRequest
			code codes.Code
			says string
		}{
			{"wrong code", london, &adminv1.HotDeskLoginRequest{PhoneId: "2001", Extension: "2003", Code: "9999"}, codes.PermissionDenied, "wrong hot-desk code"},
			{"no code", london, &adminv1.HotDeskLoginRequest{PhoneId: "2001", Extension: "2003"}, codes.InvalidArgument, "code is required"},
			{"user without a code", london, &adminv1.HotDeskLoginRequest{PhoneId: "2001", Extension: "2004", Code: "1234"}, codes.PermissionDenied, "has no hot-desk code"},
			{"unknown phone", london, &adminv1.HotDeskLoginRequest{PhoneId: "9999", Extension: "2003", Code: "1234"}, codes.NotFound, "no phone 9999"},
			{"unknown user", london, &adminv1.HotDeskLoginRequest{PhoneId: "2001", Extension: "2999", Code: "1234"}, codes.NotFound, "no user 2999"},
			{"softphone", london, &adminv1.HotDeskLoginRequest{PhoneId: "2002", Extension: "2003", Code: "1234"}, codes.InvalidArgument, "softphone"},
			{"own phone", london, &adminv1.HotDeskLoginRequest{PhoneId: "2003", Extension: "2003", Code: "1234"}, codes.InvalidArgument, "own phone"},
			{"missing fields", london, &adminv1.HotDeskLoginRequest{PhoneId: "2001"}, codes.InvalidArgument, "required"},
			{"phone of another site", paris, &adminv1.HotDeskLoginRequest{PhoneId: "2001", Extension: "3000", Force: true}, codes.FailedPrecondition, "homed at london"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := tc.at.admin.HotDeskLogin(ctx, tc.req)
				st := status.Convert(err)
				if st.Code() != tc.code || !strings.Contains(st.Message(), tc.says) {
					t.Fatalf("login %v: %v, want %v saying %q", tc.req, err, tc.code, tc.says)
				}
			})
		}
		if u := viewUser(t, london, "2001"); u != "" {
			t.Fatalf("a refused login left %q on 2001", u)
		}
		for _, tc := range []struct {
			name string
			req  *adminv1.HotDeskLogoutRequest
			code codes.Code
		}{
			{"nobody logged in", &adminv1.HotDeskLogoutRequest{PhoneId: "2001"}, codes.NotFound},
			{"user not logged in", &adminv1.HotDeskLogoutRequest{Extension: "2003"}, codes.NotFound},
			{"both named", &adminv1.HotDeskLogoutRequest{PhoneId: "2001", Extension: "2003"}, codes.InvalidArgument},
			{"none named", &adminv1.HotDeskLogoutRequest{}, codes.InvalidArgument},
		} {
			t.Run("logout "+tc.name, func(t *testing.T) {
				if _, err := london.admin.HotDeskLogout(ctx, tc.req); status.Code(err) != tc.code {
					t.Fatalf("logout %v: %v, want %v", tc.req, err, tc.code)
				}
			})
		}
	})

	// 2003 logs in on 2001 with the right code.
	resp, err := london.admin.HotDeskLogin(ctx, &adminv1.HotDeskLoginRequest{PhoneId: "2001", Extension: "2003", Code: "1234"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetMovedFrom() != "" || resp.GetDisplacedUser() != "" {
		t.Fatalf("login = %v", resp)
	}
	if u := viewUser(t, london, "2001"); u != "2003" {
		t.Fatalf("london's view: 2001 hot-desk user %q, want 2003", u)
	}
	// The plugins hear of it as a view change.
	deadline := time.After(5 * time.Second)
	for got := false; !got; {
		select {
		case c := <-feed:
			got = c.PutPhone != nil && c.PutPhone.ID == "2001" && c.PutPhone.HotDeskUser == "2003"
		case <-deadline:
			t.Fatal("no view change for phone 2001 with hot-desk user 2003")
		}
	}
	if !hasHotDeskEvent(london, "", hotDeskLogin, "user 2003 hot-desked on phone 2001") {
		t.Errorf("no login event at london: %v", hotDeskEvents(london))
	}
	rec, err := london.site.dir.Get("user/2003")
	if err != nil || rec.GetUser().GetSettings().GetHotdeskPhone() != "2001" {
		t.Fatalf("user/2003 = %v, %v; want settings.hotdesk_phone 2001", rec, err)
	}

	t.Run("one user per phone", func(t *testing.T) {
		_, err := london.admin.HotDeskLogin(ctx, &adminv1.HotDeskLoginRequest{PhoneId: "2001", Extension: "2002", Code: "4711"})
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "user 2003 is hot-desked on phone 2001") {
			t.Fatalf("second login on 2001: %v, want FailedPrecondition naming 2003", err)
		}
		// Logging in again where one is is a no-op.
		if resp, err := london.admin.HotDeskLogin(ctx, &adminv1.HotDeskLoginRequest{PhoneId: "2001", Extension: "2003", Code: "1234"}); err != nil || resp.GetMovedFrom() != "" {
			t.Fatalf("repeated login: %v, %v", resp, err)
		}
	})

	t.Run("a login moves the user, force displaces", func(t *testing.T) {
		// 2002 forced onto 2004 (no code), then onto 2001, displacing 2003.
		if _, err := london.admin.HotDeskLogin(ctx, &adminv1.HotDeskLoginRequest{PhoneId: "2004", Extension: "2002", Force: true}); err != nil {
			t.Fatal(err)
		}
		resp, err := london.admin.HotDeskLogin(ctx, &adminv1.HotDeskLoginRequest{PhoneId: "2001", Extension: "2002", Force: true})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetMovedFrom() != "2004" || resp.GetDisplacedUser() != "2003" {
			t.Fatalf("login = %v, want moved from 2004, displacing 2003", resp)
		}
		if a, b := viewUser(t, london, "2001"), viewUser(t, london, "2004"); a != "2002" || b != "" {
			t.Fatalf("2001 serves hot-desk %q, 2004 %q; want 2002 and none", a, b)
		}
		if !hasHotDeskEvent(london, "", hotDeskLogout, "user 2003 logged out of phone 2001") {
			t.Errorf("no logout event for the displaced user: %v", hotDeskEvents(london))
		}
		// Back to 2003 on 2001, by logging 2002 out by extension.
		out, err := london.admin.HotDeskLogout(ctx, &adminv1.HotDeskLogoutRequest{Extension: "2002"})
		if err != nil || out.GetPhoneId() != "2001" {
			t.Fatalf("logout 2002: %v, %v", out, err)
		}
		if _, err := london.admin.HotDeskLogin(ctx, &adminv1.HotDeskLoginRequest{PhoneId: "2001", Extension: "2003", Code: "1234"}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a user record written directly reaches the view", func(t *testing.T) {
		rec, err := london.site.dir.Get("user/2004")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := london.admin.PutRecord(ctx, &adminv1.PutRecordRequest{Record: withHotDeskPhone(rec, "2003")}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "2004 on 2003 in london's view", func() bool { return viewUser(t, london, "2003") == "2004" })
		if _, err := london.admin.HotDeskLogout(ctx, &adminv1.HotDeskLogoutRequest{PhoneId: "2003"}); err != nil {
			t.Fatal(err)
		}
		if u := viewUser(t, london, "2003"); u != "" {
			t.Fatalf("after logout 2003 serves hot-desk %q", u)
		}
	})

	t.Run("a user written back from before a login does not undo it", func(t *testing.T) {
		stale, err := london.site.dir.Get("user/2002")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := london.admin.HotDeskLogin(ctx, &adminv1.HotDeskLoginRequest{PhoneId: "2004", Extension: "2002", Force: true}); err != nil {
			t.Fatal(err)
		}
		stale = proto.Clone(stale).(*federationv1.Record)
		if stale.GetUser().Settings == nil {
			stale.GetUser().Settings = &federationv1.UserSettings{}
		}
		stale.GetUser().Settings.Dnd = true
		_, err = london.admin.PutRecord(ctx, &adminv1.PutRecordRequest{Record: stale})
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "read it again") {
			t.Fatalf("stale write = %v, want FailedPrecondition", err)
		}
		if u := viewUser(t, london, "2004"); u != "2002" {
			t.Fatalf("2004 serves hot-desk %q after a stale write, want 2002", u)
		}
		// Read again, it is written (and the login stands).
		cur, err := london.site.dir.Get("user/2002")
		if err != nil {
			t.Fatal(err)
		}
		cur = proto.Clone(cur).(*federationv1.Record)
		cur.GetUser().Settings.Dnd = true
		if _, err := london.admin.PutRecord(ctx, &adminv1.PutRecordRequest{Record: cur}); err != nil {
			t.Fatal(err)
		}
		if u := viewUser(t, london, "2004"); u != "2002" {
			t.Fatalf("2004 serves hot-desk %q after a fresh write, want 2002", u)
		}
		if _, err := london.admin.HotDeskLogout(ctx, &adminv1.HotDeskLogoutRequest{PhoneId: "2004"}); err != nil {
			t.Fatal(err)
		}
	})

	// The state replicates; the backup's view of the home's phone has no
	// hot-desk user (a guest serves its base extension).
	eventually(t, 10*time.Second, "user/2003's login held at paris", func() bool {
		r, ok := paris.site.backups.Get("london", "user/2003")
		return ok && r.GetUser().GetSettings().GetHotdeskPhone() == "2001" && paris.site.hd.heldUserOn("london", "2001") == "2003"
	})
	if u := viewUser(t, paris, "2001"); u != "" {
		t.Fatalf("paris's view of london's 2001 has hot-desk user %q, want none", u)
	}

	// A home registration lists the served user.
	reg := func(r *running, phone string, out sdk.RegOutcome) {
		t.Helper()
		if ok, why := (*hostBackend)(r.site).ReportRegistration(sdk.Registration{
			PhoneID: phone, Contact: "sip:" + phone + "@127.0.0.1:5099", Transport: "udp",
			AOR: "sip:" + phone + "@voip.example", Outcome: out, Expires: time.Now().Add(time.Hour),
		}); !ok {
			t.Fatalf("%s: registration of %s refused: %s", r.name, phone, why)
		}
	}
	reg(london, "2001", sdk.RegHome)
	if g := listedPhone(t, london, "2001"); g.GetServedUser() != "2003" || g.GetHotdeskUser() != "2003" || g.GetUser() != "2001" {
		t.Fatalf("london lists 2001 as %v; want user 2001 serving hot-desk user 2003", g)
	}
	if n := metricValue(t, london, "rally_hotdesk_logins", ""); n != 1 {
		t.Errorf("london's rally_hotdesk_logins = %v, want 1", n)
	}

	// Failover: the phone registers at paris as a guest and serves its base
	// extension; paris says the hot-desked user is logged out of it.
	london.stop()
	eventually(t, 10*time.Second, "paris declares london down", func() bool { return paris.state(t, "london") == "failover" })
	if d := paris.site.table.Decide("2001", federationv1.Protocol_PROTOCOL_SIP, false); d.Outcome != admission.Guest {
		t.Fatalf("paris decides %v for 2001", d)
	}
	reg(paris, "2001", sdk.RegGuest)
	g := listedPhone(t, paris, "2001")
	if g.GetHereAs() != "guest" || g.GetServedUser() != "2001" || g.GetHotdeskUser() != "" || g.GetHotdeskSuspendedUser() != "2003" {
		t.Fatalf("paris lists 2001 as %v; want a guest serving 2001, 2003 suspended", g)
	}
	if !hasHotDeskEvent(paris, "london", hotDeskLogout, "hot-desked user 2003 logged out of guest phone 2001 (serves its base extension 2001)") {
		t.Fatalf("no failover logout event at paris: %v", hotDeskEvents(paris))
	}
	if n := metricValue(t, paris, "rally_hotdesk_events_total", "failover_logout"); n != 1 {
		t.Errorf("paris counts %v failover logouts, want 1", n)
	}
	// A refresh says nothing more.
	reg(paris, "2001", sdk.RegGuest)
	if n := len(hotDeskEvents(paris)); n != 1 {
		t.Fatalf("paris has %d hot-desk events, want 1: %v", n, hotDeskEvents(paris))
	}

	// The home returns with the login standing: the phone registers home
	// and serves the hot-desked user again.
	london = start(t, londonCfg)
	if u := viewUser(t, london, "2001"); u != "2003" {
		t.Fatalf("restarted london's view: 2001 hot-desk user %q, want 2003", u)
	}
	reg(london, "2001", sdk.RegHome)
	if !hasHotDeskEvent(london, "", hotDeskLogin, "hot-desked user 2003 logged back in on phone 2001") {
		t.Fatalf("no log-back-in event at london: %v", hotDeskEvents(london))
	}
	if g := listedPhone(t, london, "2001"); g.GetServedUser() != "2003" || g.GetHotdeskUser() != "2003" {
		t.Fatalf("london lists 2001 as %v after its return", g)
	}
}
