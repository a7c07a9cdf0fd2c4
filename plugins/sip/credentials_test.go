package sipplugin

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
)

// TestCredentialsLoadedInBulk: the plugin loads this site's credentials in
// one ListCredentials stream once its view is ready, so a registration
// needs no look-up; a peer entering failover has its phones' credentials
// loaded at once (other events load nothing).
func TestCredentialsLoadedInBulk(t *testing.T) {
	host := &udpTestHost{}
	p := New(nil)
	eps, err := p.Configure(t.Context(), sdk.Config{Site: udpTestSite, SIPDomain: udpTestRealm,
		ConfigJSON: []byte(`{"listen":["udp://127.0.0.1:0"]}`)}, host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	listed := func() []string {
		host.mu.Lock()
		defer host.mu.Unlock()
		return slices.Clone(host.listedHomes)
	}
	waitFor(t, "this site's credentials loaded", func() bool { return slices.Contains(listed(), "") })

	ua, err := sipgo.NewUA(sipgo.WithUserAgent("bulk-test-phone"))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var uri sip.Uri
	if err := sip.ParseUri("sip:"+eps[0][len("sip:udp://"):], &uri); err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.REGISTER, uri)
	aor := sip.Uri{Scheme: "sip", User: "201", Host: udpTestRealm}
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: sip.HeaderParams{{K: "tag", V: "bulk"}}})
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "2001", Host: "127.0.0.1", Port: 5060}})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res, err := client.Do(ctx, req, sipgo.ClientRequestRegisterBuild)
	if err != nil {
		t.Fatal(err)
	}
	if res, err = client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "2001", Password: "pw-2001"}); err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER = %v, %v; want 200", res, err)
	}
	if n := host.getRecords.Load(); n != 0 {
		t.Fatalf("%d GetRecord look-ups after the bulk load, want 0", n)
	}

	events := []struct {
		e    sdk.Event
		load bool
	}{
		{sdk.Event{Kind: sdk.EventPeerState, Peer: "rome", From: admission.StateNormal, To: admission.StateSuspect}, false},
		{sdk.Event{Kind: sdk.EventLink, Peer: "rome", To: "down"}, false},
		{sdk.Event{Kind: sdk.EventPeerState, Peer: "paris", From: admission.StateSuspect, To: admission.StateFailover}, true},
	}
	for _, ev := range events {
		if err := p.HandleEvent(t.Context(), ev.e); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "paris's credentials loaded at its failover", func() bool { return slices.Contains(listed(), "paris") })
	if slices.Contains(listed(), "rome") {
		t.Fatalf("credentials of rome loaded on %v; only a failover loads", listed())
	}
}

// TestCredentialsForgetPhone: a view change of a phone (its record changed:
// perhaps its password) drops its cached credentials, for this site's
// phones and for a guest's home alike; the others stay.
func TestCredentialsForgetPhone(t *testing.T) {
	now := time.Now()
	c := newCredentials(&udpTestHost{})
	if n, err := c.load(t.Context(), "", now); err != nil || n != len(udpTestPhones) {
		t.Fatalf("load = %d, %v", n, err)
	}
	sh := c.shard("9001")
	sh.mu.Lock()
	sh.m[credKey{"paris", "9001"}] = ha1Entry{md5: "x", fetched: now}
	sh.mu.Unlock()

	c.forgetPhone(sdk.PhoneChanged{ID: "2001", Home: udpTestSite})
	c.forgetPhone(sdk.PhoneChanged{ID: "9001", Home: "paris"})
	for _, tt := range []struct {
		home, id string
		cached   bool
	}{{"", "2001", false}, {"", "2002", true}, {"paris", "9001", false}} {
		if _, _, ok := c.get(tt.home, tt.id, now); ok != tt.cached {
			t.Errorf("get(%q, %s) cached = %v, want %v", tt.home, tt.id, ok, tt.cached)
		}
	}
}
