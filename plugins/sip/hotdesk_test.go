package sipplugin

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// hotDeskTestHost is udpTestHost whose view has user 209 hot-desked on
// phone 2001 (homed here).
type hotDeskTestHost struct{ udpTestHost }

func (h *hotDeskTestHost) WatchView(ctx context.Context) (<-chan sdk.ViewUpdate, error) {
	snap := &sdk.ViewSnapshot{Site: udpTestSite, Licenses: 10}
	for _, p := range udpTestPhones {
		e := admission.PhoneEntry{ID: p.id, User: p.user, Home: udpTestSite,
			Kind: federationv1.PhoneKind_PHONE_KIND_DESK, Protocol: federationv1.Protocol_PROTOCOL_SIP}
		if p.id == "2001" {
			e.HotDeskUser = "209"
		}
		snap.Phones = append(snap.Phones, e)
	}
	ch := make(chan sdk.ViewUpdate, 1)
	ch <- sdk.ViewUpdate{Snapshot: snap}
	go func() { <-ctx.Done(); close(ch) }()
	return ch, nil
}

// TestHotDeskAoR: a phone registers the AoR of its base user or of the user
// hot-desked on it (DESIGN §1.9), and no other user's.
func TestHotDeskAoR(t *testing.T) {
	host := &hotDeskTestHost{}
	p := New(nil)
	eps, err := p.Configure(context.Background(), sdk.Config{Site: udpTestSite, SIPDomain: udpTestRealm,
		ConfigJSON: []byte(`{"listen":["udp://127.0.0.1:0"]}`)}, host)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	select {
	case <-p.running.view.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("admission view not ready")
	}
	addr := strings.TrimPrefix(eps[0], "sip:udp://")
	for _, tc := range []struct {
		name, id, user string
		want           int
	}{
		{"hot-desked user on the phone", "2001", "209", 200},
		{"base user of the phone", "2001", "201", 200},
		{"another phone's user", "2001", "202", 403},
		{"hot-desked user from another phone", "2002", "209", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pw := "pw-" + tc.id
			res, err := sipgoRegister(t, "UDP", addr, tc.id, tc.user, pw)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.want {
				t.Fatalf("REGISTER sip:%s@ by phone %s: %d %s, want %d", tc.user, tc.id, res.StatusCode, res.Reason, tc.want)
			}
		})
	}
	if n := p.running.reg.PhoneCount("2001"); n != 2 {
		t.Fatalf("phone 2001 holds %d bindings, want 2 (its base AoR and the hot-desked user's)", n)
	}
}

// TestHotDeskCall: a phone that registered only the AoR of the user
// hot-desked on it gets that user's calls.
func TestHotDeskCall(t *testing.T) {
	host := &hotDeskTestHost{}
	p := New(nil)
	eps, err := p.Configure(context.Background(), sdk.Config{Site: udpTestSite, SIPDomain: udpTestRealm,
		ConfigJSON: []byte(`{"listen":["udp://127.0.0.1:0"]}`)}, host)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	select {
	case <-p.running.view.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("admission view not ready")
	}
	addr := netip.MustParseAddrPort(strings.TrimPrefix(eps[0], "sip:udp://"))
	desk := newProxyUA(t, addr, "2001", "209", "pw-2001") // registers sip:209@ only
	caller := newProxyUA(t, addr, "2002", "202", "pw-2002")
	desk.register()
	caller.register()
	caller.authedInvite("209", "hd1")
	got := desk.request(sip.INVITE)
	if got.Recipient.String() != desk.contact() {
		t.Errorf("Request-URI %s, want %s", got.Recipient.String(), desk.contact())
	}
	desk.reply(got, 486, "Busy Here", "d-hd1")
	desk.request(sip.ACK)
	caller.response(486)
}
