package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

var (
	sip  = federationv1.Protocol_PROTOCOL_SIP
	h323 = federationv1.Protocol_PROTOCOL_H323
	desk = federationv1.PhoneKind_PHONE_KIND_DESK
	soft = federationv1.PhoneKind_PHONE_KIND_SOFTPHONE
)

// A time with nanoseconds in a zone other than UTC: it must cross intact
// (as an instant).
var when = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

func TestPluginCalls(t *testing.T) {
	fullCfg := sdk.Config{
		APIVersion: 1,
		Site:       "london",
		SIPDomain:  "voip.example",
		ConfigJSON: []byte(`{"listen":["udp://127.0.0.1:5060"]}`),
		TLSCertPEM: []byte("cert"),
		TLSKeyPEM:  []byte("key"),
		CACertPEM:  []byte("ca"),
	}
	tests := []struct {
		name string
		fake *fakePlugin
		run  func(t *testing.T, ctx context.Context, p sdk.Plugin, f *fakePlugin)
	}{
		{
			name: "info",
			fake: &fakePlugin{info: sdk.Info{Name: "sip", Protocol: "sip", Version: "1.2.3", ConfigSchema: `{"type":"object"}`, APIVersions: []uint32{1, 2},
				Events: []sdk.EventKind{sdk.EventPeerState, sdk.EventFailback}}},
			run: func(t *testing.T, ctx context.Context, p sdk.Plugin, f *fakePlugin) {
				got, err := p.Info(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, f.info) {
					t.Fatalf("Info = %+v, want %+v", got, f.info)
				}
			},
		},
		{
			name: "metrics",
			fake: &fakePlugin{metrics: []sdk.Metric{
				{Name: "sip_registers_total", Help: "REGISTERs.", Value: 3, Labels: map[string]string{"result": "home", "transport": "udp"}},
				{Name: "sip_bindings", Help: "Bindings.", Gauge: true, Value: 2.5},
			}},
			run: func(t *testing.T, ctx context.Context, p sdk.Plugin, f *fakePlugin) {
				src, ok := p.(sdk.MetricsSource)
				if !ok {
					t.Fatal("the host's plugin client is not a MetricsSource")
				}
				got, err := src.Metrics(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, f.metrics) {
					t.Fatalf("Metrics = %+v, want %+v", got, f.metrics)
				}
			},
		},
		{
			name: "info without api versions speaks the SDK's",
			fake: &fakePlugin{info: sdk.Info{Name: "webhook"}},
			run: func(t *testing.T, ctx context.Context, p sdk.Plugin, f *fakePlugin) {
				got, err := p.Info(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if want := []uint32{sdk.APIVersion}; !reflect.DeepEqual(got.APIVersions, want) {
					t.Fatalf("APIVersions = %v, want %v", got.APIVersions, want)
				}
			},
		},
		{
			name: "configure",
			fake: &fakePlugin{endpoints: []string{"sip:udp://127.0.0.1:5060", "sip:tcp://127.0.0.1:5060"}},
			run: func(t *testing.T, ctx context.Context, p sdk.Plugin, f *fakePlugin) {
				eps, err := p.Configure(ctx, fullCfg, newFakeHost("h"))
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(eps, f.endpoints) {
					t.Fatalf("endpoints = %v, want %v", eps, f.endpoints)
				}
				if len(f.cfgs) != 1 || !reflect.DeepEqual(f.cfgs[0], fullCfg) {
					t.Fatalf("plugin got %+v, want %+v", f.cfgs, fullCfg)
				}
				if f.hosts[0] == nil {
					t.Fatal("plugin got a nil Host")
				}
			},
		},
		{
			name: "configure with an empty config",
			fake: &fakePlugin{},
			run: func(t *testing.T, ctx context.Context, p sdk.Plugin, f *fakePlugin) {
				eps, err := p.Configure(ctx, sdk.Config{}, newFakeHost("h"))
				if err != nil || len(eps) != 0 {
					t.Fatalf("Configure = %v, %v", eps, err)
				}
				if got := f.cfgs[0]; got.Site != "" || len(got.ConfigJSON) != 0 || got.APIVersion != 0 {
					t.Fatalf("plugin got %+v", got)
				}
			},
		},
		{
			name: "configure without a host is refused",
			fake: &fakePlugin{},
			run: func(t *testing.T, ctx context.Context, p sdk.Plugin, f *fakePlugin) {
				if _, err := p.Configure(ctx, fullCfg, nil); err == nil {
					t.Fatal("Configure with a nil Host succeeded")
				}
				if f.calls != 0 {
					t.Fatal("the plugin was called")
				}
			},
		},
		{
			name: "invalid config comes back as ErrInvalidConfig",
			fake: &fakePlugin{err: fmt.Errorf("%w: sip: listen[0]: bad scheme \"foo\"", sdk.ErrInvalidConfig)},
			run: func(t *testing.T, ctx context.Context, p sdk.Plugin, f *fakePlugin) {
				_, err := p.Configure(ctx, fullCfg, newFakeHost("h"))
				if !errors.Is(err, sdk.ErrInvalidConfig) {
					t.Fatalf("err = %v, want ErrInvalidConfig", err)
				}
				if err.Error() != f.err.Error() {
					t.Fatalf("message = %q, want %q", err, f.err)
				}
				if status.Code(err) != codes.InvalidArgument {
					t.Fatalf("code = %v", status.Code(err))
				}
			},
		},
		{
			name: "events of every kind",
			fake: &fakePlugin{},
			run: func(t *testing.T, ctx context.Context, p sdk.Plugin, f *fakePlugin) {
				sent := []sdk.Event{
					{Time: when, Kind: sdk.EventPeerState, Peer: "paris", From: "normal", To: "failover", Message: "silent for 2s"},
					{Time: when, Kind: sdk.EventResilience, Peer: "paris", From: "inactive", To: "active"},
					{Time: when, Kind: sdk.EventFailback, Peer: "paris"},
					{Time: when, Kind: sdk.EventRegistration, PhoneID: "301", To: "guest"},
					{Kind: sdk.EventLink, Peer: "rome", To: "down"},
				}
				for _, e := range sent {
					if err := p.HandleEvent(ctx, e); err != nil {
						t.Fatalf("HandleEvent(%v): %v", e.Kind, err)
					}
				}
				if len(f.events) != len(sent) {
					t.Fatalf("plugin got %d events, want %d", len(f.events), len(sent))
				}
				for i, got := range f.events {
					want := sent[i]
					if !got.Time.Equal(want.Time) || got.Time.IsZero() != want.Time.IsZero() {
						t.Errorf("event %d: time %v, want %v", i, got.Time, want.Time)
					}
					got.Time, want.Time = time.Time{}, time.Time{}
					if got != want {
						t.Errorf("event %d: %+v, want %+v", i, got, want)
					}
				}
			},
		},
		{
			name: "an event kind outside the API is refused",
			fake: &fakePlugin{},
			run: func(t *testing.T, ctx context.Context, p sdk.Plugin, f *fakePlugin) {
				if sdk.EventKind("refusal").Valid() {
					t.Fatal("refusal is Valid")
				}
				if err := p.HandleEvent(ctx, sdk.Event{Kind: "refusal"}); err == nil {
					t.Fatal("HandleEvent(refusal) succeeded")
				}
				if f.calls != 0 {
					t.Fatal("the plugin was called")
				}
			},
		},
		{
			name: "health serving",
			fake: &fakePlugin{health: sdk.Health{Serving: true, Message: "2 listeners"}},
			run: func(t *testing.T, ctx context.Context, p sdk.Plugin, f *fakePlugin) {
				if h, err := p.Health(ctx); err != nil || h != f.health {
					t.Fatalf("Health = %+v, %v; want %+v", h, err, f.health)
				}
			},
		},
		{
			name: "health not serving",
			fake: &fakePlugin{health: sdk.Health{Message: "udp://127.0.0.1:5060: address in use"}},
			run: func(t *testing.T, ctx context.Context, p sdk.Plugin, f *fakePlugin) {
				if h, err := p.Health(ctx); err != nil || h != f.health {
					t.Fatalf("Health = %+v, %v; want %+v", h, err, f.health)
				}
			},
		},
		{
			name: "health starting",
			fake: &fakePlugin{health: sdk.Health{Starting: true, Message: "admission view not loaded yet"}},
			run: func(t *testing.T, ctx context.Context, p sdk.Plugin, f *fakePlugin) {
				if h, err := p.Health(ctx); err != nil || h != f.health {
					t.Fatalf("Health = %+v, %v; want %+v", h, err, f.health)
				}
			},
		},
		{
			name: "a plugin error comes back with its message",
			fake: &fakePlugin{err: errors.New("sip: registrar not started")},
			run: func(t *testing.T, ctx context.Context, p sdk.Plugin, f *fakePlugin) {
				for name, call := range map[string]func() error{
					"Info":        func() error { _, err := p.Info(ctx); return err },
					"Configure":   func() error { _, err := p.Configure(ctx, fullCfg, newFakeHost("h")); return err },
					"HandleEvent": func() error { return p.HandleEvent(ctx, sdk.Event{Kind: sdk.EventLink}) },
					"Health":      func() error { _, err := p.Health(ctx); return err },
				} {
					err := call()
					if err == nil || err.Error() != f.err.Error() {
						t.Errorf("%s: err = %v, want %q", name, err, f.err)
					}
					if errors.Is(err, sdk.ErrPluginShutdown) || errors.Is(err, sdk.ErrInvalidConfig) {
						t.Errorf("%s: err = %v is a sentinel", name, err)
					}
				}
			},
		},
		{
			name: "the caller's deadline ends a call",
			fake: &fakePlugin{block: true},
			run: func(t *testing.T, ctx context.Context, p sdk.Plugin, f *fakePlugin) {
				ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
				_, err := p.Health(ctx)
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("err = %v, want DeadlineExceeded", err)
				}
			},
		},
	}
	for _, multiplex := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/multiplex=%v", tt.name, multiplex), func(t *testing.T) {
				f := tt.fake.fresh()
				p, _, _ := connect(t, f, multiplex)
				tt.run(t, t.Context(), p, f)
			})
		}
	}
}

func TestHostCalls(t *testing.T) {
	rec := &federationv1.Record{Key: "user/301", Revision: 42, HomeSite: "paris"}
	tests := []struct {
		name  string
		setup func(h *fakeHost)
		run   func(t *testing.T, ctx context.Context, host sdk.Host, h *fakeHost)
	}{
		{
			name:  "get a held record",
			setup: func(h *fakeHost) { h.records[[2]string{"paris", "user/301"}] = rec },
			run: func(t *testing.T, ctx context.Context, host sdk.Host, h *fakeHost) {
				got, err := host.GetRecord(ctx, "paris", "user/301")
				if err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(got, rec) {
					t.Fatalf("GetRecord = %v, want %v", got, rec)
				}
			},
		},
		{
			name: "get an own record",
			setup: func(h *fakeHost) {
				h.records[[2]string{"", "user/201"}] = &federationv1.Record{Key: "user/201", HomeSite: "london"}
			},
			run: func(t *testing.T, ctx context.Context, host sdk.Host, h *fakeHost) {
				got, err := host.GetRecord(ctx, "", "user/201")
				if err != nil || got.GetHomeSite() != "london" {
					t.Fatalf("GetRecord = %v, %v", got, err)
				}
			},
		},
		{
			name: "a missing record is ErrNotFound",
			run: func(t *testing.T, ctx context.Context, host sdk.Host, h *fakeHost) {
				got, err := host.GetRecord(ctx, "paris", "user/999")
				if !errors.Is(err, sdk.ErrNotFound) || got != nil {
					t.Fatalf("GetRecord = %v, %v; want ErrNotFound", got, err)
				}
			},
		},
		{
			name:  "host not-found error is ErrNotFound",
			setup: func(h *fakeHost) { h.err = fmt.Errorf("directory: %w: no user 999", sdk.ErrNotFound) },
			run: func(t *testing.T, ctx context.Context, host sdk.Host, h *fakeHost) {
				_, err := host.GetRecord(ctx, "", "user/999")
				if !errors.Is(err, sdk.ErrNotFound) || err.Error() != h.err.Error() {
					t.Fatalf("err = %v, want %v", err, h.err)
				}
			},
		},
		{
			name:  "report registrations",
			setup: func(h *fakeHost) { h.accepted = true },
			run: func(t *testing.T, ctx context.Context, host sdk.Host, h *fakeHost) {
				sent := []sdk.Registration{
					{PhoneID: "201", Contact: "sip:201@10.0.0.5:5060", UserAgent: "Yealink T46U", Transport: "udp", AOR: "sip:201@voip.example", Outcome: sdk.RegHome, Expires: when},
					{PhoneID: "301", Contact: "sip:301@10.1.0.7:5061;transport=tls", Transport: "tls", AOR: "sip:301@voip.example", Outcome: sdk.RegGuest, Expires: when.Add(time.Minute)},
					{PhoneID: "203", Transport: "ras", Outcome: sdk.RegGone},
				}
				for _, r := range sent {
					ok, reason, err := host.ReportRegistration(ctx, r)
					if err != nil || !ok || reason != "" {
						t.Fatalf("ReportRegistration(%s) = %v, %q, %v", r.PhoneID, ok, reason, err)
					}
				}
				if len(h.regs) != len(sent) {
					t.Fatalf("host got %d registrations, want %d", len(h.regs), len(sent))
				}
				for i, got := range h.regs {
					want := sent[i]
					if !got.Expires.Equal(want.Expires) || got.Expires.IsZero() != want.Expires.IsZero() {
						t.Errorf("registration %d: expires %v, want %v", i, got.Expires, want.Expires)
					}
					got.Expires, want.Expires = time.Time{}, time.Time{}
					if got != want {
						t.Errorf("registration %d: %+v, want %+v", i, got, want)
					}
				}
				// A restarted plugin gets them back.
				back, err := host.ListRegistrations(ctx, "sip")
				if err != nil || len(back) != len(sent) {
					t.Fatalf("ListRegistrations = %d, %v; want %d", len(back), err, len(sent))
				}
				for i := range back {
					if back[i].PhoneID != sent[i].PhoneID || back[i].Contact != sent[i].Contact || !back[i].Expires.Equal(sent[i].Expires) {
						t.Errorf("listed registration %d: %+v, want %+v", i, back[i], sent[i])
					}
				}
			},
		},
		{
			name: "credentials in bulk, in batches",
			setup: func(h *fakeHost) {
				for i := range 2500 {
					id := fmt.Sprintf("p%05d", i)
					h.records[[2]string{"paris", "phone/" + id}] = &federationv1.Record{Key: "phone/" + id, HomeSite: "paris",
						Body: &federationv1.Record_Phone{Phone: &federationv1.Phone{Id: id, Ha1Md5: "md5-" + id, Ha1Sha256: "sha-" + id}}}
				}
				h.records[[2]string{"paris", "user/201"}] = &federationv1.Record{Key: "user/201", HomeSite: "paris",
					Body: &federationv1.Record_User{User: &federationv1.User{Extension: "201"}}}
			},
			run: func(t *testing.T, ctx context.Context, host sdk.Host, h *fakeHost) {
				creds, err := host.ListCredentials(ctx, "paris")
				if err != nil || len(creds) != 2500 {
					t.Fatalf("ListCredentials(paris) = %d, %v; want 2500", len(creds), err)
				}
				for i, c := range creds {
					id := fmt.Sprintf("p%05d", i)
					if c != (sdk.Credentials{PhoneID: id, HA1MD5: "md5-" + id, HA1SHA256: "sha-" + id}) {
						t.Fatalf("credentials %d = %+v", i, c)
					}
				}
				if _, err := host.ListCredentials(ctx, "rome"); !errors.Is(err, sdk.ErrNotFound) {
					t.Fatalf("ListCredentials(rome) = %v, want ErrNotFound", err)
				}
			},
		},
		{
			name:  "registrations in bulk, with one result each",
			setup: func(h *fakeHost) { h.accepted = true },
			run: func(t *testing.T, ctx context.Context, host sdk.Host, h *fakeHost) {
				var sent []sdk.Registration
				for i := range 1500 {
					sent = append(sent, sdk.Registration{PhoneID: fmt.Sprint(100000 + i), Transport: "udp", Outcome: sdk.RegGuest, Expires: when})
				}
				results, err := host.ReportRegistrations(ctx, sent)
				if err != nil || len(results) != len(sent) {
					t.Fatalf("ReportRegistrations = %d results, %v; want %d", len(results), err, len(sent))
				}
				if results[0] != (sdk.ReportResult{Accepted: true}) || len(h.regs) != len(sent) || h.regs[1499].PhoneID != "101499" {
					t.Fatalf("results[0] = %+v, host holds %d", results[0], len(h.regs))
				}
				if _, err := host.ReportRegistrations(ctx, []sdk.Registration{{PhoneID: "1"}}); err == nil {
					t.Fatal("a registration without an outcome was accepted")
				}
			},
		},
		{
			name:  "a refused registration comes back with its reason",
			setup: func(h *fakeHost) { h.reason = "over_capacity" },
			run: func(t *testing.T, ctx context.Context, host sdk.Host, h *fakeHost) {
				ok, reason, err := host.ReportRegistration(ctx, sdk.Registration{PhoneID: "202", Outcome: sdk.RegHome})
				if err != nil || ok || reason != "over_capacity" {
					t.Fatalf("ReportRegistration = %v, %q, %v", ok, reason, err)
				}
			},
		},
		{
			name: "a registration without an outcome is refused at the edge",
			run: func(t *testing.T, ctx context.Context, host sdk.Host, h *fakeHost) {
				if _, _, err := host.ReportRegistration(ctx, sdk.Registration{PhoneID: "202"}); status.Code(err) != codes.InvalidArgument {
					t.Fatalf("err = %v, want InvalidArgument", err)
				}
				if _, _, err := host.ReportRegistration(ctx, sdk.Registration{Outcome: sdk.RegHome}); status.Code(err) != codes.InvalidArgument {
					t.Fatalf("err = %v, want InvalidArgument", err)
				}
				if len(h.regs) != 0 {
					t.Fatalf("host got %v", h.regs)
				}
			},
		},
		{
			name: "report call state",
			run: func(t *testing.T, ctx context.Context, host sdk.Host, h *fakeHost) {
				for _, c := range []callState{{"301", true}, {"301", false}} {
					if err := host.ReportCallState(ctx, c.phoneID, c.busy); err != nil {
						t.Fatal(err)
					}
				}
				if want := []callState{{"301", true}, {"301", false}}; !reflect.DeepEqual(h.calls, want) {
					t.Fatalf("host got %v, want %v", h.calls, want)
				}
			},
		},
		{
			name:  "a host error comes back as an error",
			setup: func(h *fakeHost) { h.err = errors.New("directory: store closed") },
			run: func(t *testing.T, ctx context.Context, host sdk.Host, h *fakeHost) {
				for name, call := range map[string]func() error{
					"GetRecord": func() error { _, err := host.GetRecord(ctx, "paris", "user/301"); return err },
					"ReportRegistration": func() error {
						_, _, err := host.ReportRegistration(ctx, sdk.Registration{PhoneID: "1", Outcome: sdk.RegGone})
						return err
					},
					"ReportCallState": func() error { return host.ReportCallState(ctx, "1", true) },
					"WatchView": func() error {
						ch, err := host.WatchView(ctx)
						if err != nil {
							return err
						}
						u, ok := <-ch
						if !ok {
							return errors.New("closed without an error")
						}
						if _, more := <-ch; more {
							t.Error("WatchView: an update after the error")
						}
						return u.Err
					},
				} {
					err := call()
					if err == nil || !errorsHasSuffix(err, h.err.Error()) {
						t.Errorf("%s: err = %v, want %q", name, err, h.err)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakePlugin{}
			p, _, _ := connect(t, f, false)
			h := newFakeHost("h")
			if tt.setup != nil {
				tt.setup(h)
			}
			if _, err := p.Configure(t.Context(), sdk.Config{Site: "london"}, h); err != nil {
				t.Fatal(err)
			}
			tt.run(t, t.Context(), f.lastHost(t), h)
		})
	}
}

func errorsHasSuffix(err error, s string) bool {
	m := err.Error()
	return len(m) >= len(s) && m[len(m)-len(s):] == s
}

// TestReconfigure: a second Configure of the same process reuses the
// HostService, switched to the new host; the Host the plugin kept from
// the first Configure keeps working.
func TestReconfigure(t *testing.T) {
	f := &fakePlugin{}
	p, _, _ := connect(t, f, false)
	a, b := newFakeHost("a"), newFakeHost("b")
	for _, h := range []*fakeHost{a, b} {
		if _, err := p.Configure(t.Context(), sdk.Config{Site: "london"}, h); err != nil {
			t.Fatal(err)
		}
	}
	for i, host := range f.hosts {
		if err := host.ReportCallState(t.Context(), fmt.Sprint(i), true); err != nil {
			t.Fatalf("host %d: %v", i, err)
		}
	}
	if len(a.calls) != 0 || len(b.calls) != 2 {
		t.Fatalf("calls: a %v, b %v; want all at b", a.calls, b.calls)
	}
}

// TestPluginShutdown: once the plugin's connection is gone, every call of
// the host's client returns ErrPluginShutdown.
func TestPluginShutdown(t *testing.T) {
	tests := []struct {
		name string
		kill func(t *testing.T, c interface{ Close() error }, s interface{ Stop() })
	}{
		{name: "the host closed the connection", kill: func(t *testing.T, c interface{ Close() error }, s interface{ Stop() }) { _ = c.Close() }},
		{name: "the plugin server stopped", kill: func(t *testing.T, c interface{ Close() error }, s interface{ Stop() }) { s.Stop() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakePlugin{health: sdk.Health{Serving: true}}
			p, client, server := connect(t, f, false)
			ctx := t.Context()
			if h, err := p.Health(ctx); err != nil || !h.Serving {
				t.Fatalf("Health before = %+v, %v", h, err)
			}
			tt.kill(t, client, server)
			for name, call := range map[string]func() error{
				"Info":        func() error { _, err := p.Info(ctx); return err },
				"Configure":   func() error { _, err := p.Configure(ctx, sdk.Config{}, newFakeHost("h")); return err },
				"HandleEvent": func() error { return p.HandleEvent(ctx, sdk.Event{Kind: sdk.EventLink}) },
				"Health":      func() error { _, err := p.Health(ctx); return err },
			} {
				if err := call(); !errors.Is(err, sdk.ErrPluginShutdown) {
					t.Errorf("%s: err = %v, want ErrPluginShutdown", name, err)
				}
			}
		})
	}
}

// TestView: WatchView carries a snapshot then changes across the shims,
// and the plugin's View decides accordingly.
func TestView(t *testing.T) {
	f := &fakePlugin{}
	p, _, _ := connect(t, f, false)
	h := newFakeHost("h")
	if _, err := p.Configure(t.Context(), sdk.Config{Site: "london"}, h); err != nil {
		t.Fatal(err)
	}
	host := f.lastHost(t)

	view := sdk.NewView("london")
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- view.Run(ctx, host) }()

	tb := view.Table()
	decide := func(id string) admission.Decision { return tb.Decide(id, sip, false) }
	want := func(id string, d admission.Decision) {
		t.Helper()
		eventually(t, fmt.Sprintf("Decide(%s) = %+v (now %+v)", id, d, decide(id)), func() bool { return decide(id) == d })
	}

	feed := h.feed()
	feed <- sdk.ViewUpdate{Snapshot: &sdk.ViewSnapshot{
		Site:     "london",
		Licenses: 2,
		Phones: []admission.PhoneEntry{
			{ID: "201", User: "201", Home: "london", Kind: desk, Protocol: sip},
			{ID: "301", User: "301", Home: "paris", Kind: desk, Protocol: sip},
			{ID: "303", User: "303", Home: "paris", Kind: soft, Protocol: h323},
		},
		Peers: []admission.PeerView{{Site: "paris", BackedUp: true, State: admission.StateNormal, Failback: admission.FailbackGraceful}},
	}}
	select {
	case <-view.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("view not ready after the snapshot")
	}
	if d := decide("201"); d != (admission.Decision{Outcome: admission.Home, Home: "london"}) {
		t.Fatalf("Decide(201) = %+v", d)
	}
	if d := decide("301"); d != (admission.Decision{Outcome: admission.Refuse, Reason: admission.HomedAtLivePeer, Home: "paris"}) {
		t.Fatalf("Decide(301) = %+v", d)
	}
	if pe, ok := tb.Phone("303"); !ok || pe.Kind != soft || pe.Protocol != h323 || pe.User != "303" {
		t.Fatalf("Phone(303) = %+v, %v", pe, ok)
	}
	if pv, ok := tb.Peer("paris"); !ok || !pv.BackedUp || pv.Failback != admission.FailbackGraceful {
		t.Fatalf("Peer(paris) = %+v, %v", pv, ok)
	}

	// The home fails: the guest is admitted.
	feed <- sdk.ViewUpdate{Change: &sdk.ViewChange{PutPeer: &admission.PeerView{Site: "paris", BackedUp: true, State: admission.StateFailover}}}
	want("301", admission.Decision{Outcome: admission.Guest, Home: "paris"})

	// The home lives but its H.323 plugin is dead: H.323 phones come, SIP ones do not.
	feed <- sdk.ViewUpdate{Change: &sdk.ViewChange{PutPeer: &admission.PeerView{Site: "paris", BackedUp: true, State: admission.StateNormal,
		ProtocolDown: map[federationv1.Protocol]bool{h323: true}}}}
	want("301", admission.Decision{Outcome: admission.Refuse, Reason: admission.HomedAtLivePeer, Home: "paris"})
	if d := tb.Decide("303", h323, false); d.Outcome != admission.Guest {
		t.Fatalf("Decide(303, h323) = %+v, want guest", d)
	}

	feed <- sdk.ViewUpdate{Change: &sdk.ViewChange{PutPeer: &admission.PeerView{Site: "paris", BackedUp: true, State: admission.StateFailover}}}
	feed <- sdk.ViewUpdate{Change: &sdk.ViewChange{PutPhone: &admission.PhoneEntry{ID: "302", Home: "paris", Protocol: sip}}}
	want("302", admission.Decision{Outcome: admission.Guest, Home: "paris"})
	feed <- sdk.ViewUpdate{Change: &sdk.ViewChange{RemovePhone: "301"}}
	want("301", admission.Decision{Outcome: admission.Refuse, Reason: admission.Unknown})
	zero := 0
	feed <- sdk.ViewUpdate{Change: &sdk.ViewChange{Licenses: &zero}}
	want("201", admission.Decision{Outcome: admission.Refuse, Reason: admission.OverCapacity, Home: "london"})
	feed <- sdk.ViewUpdate{Change: &sdk.ViewChange{RemovePeer: "paris"}}
	want("302", admission.Decision{Outcome: admission.Refuse, Reason: admission.NotBackedUp, Home: "paris"})

	// The plugin's own licence accounting survives a resync.
	feed <- sdk.ViewUpdate{Change: &sdk.ViewChange{Licenses: new(int(5))}}
	want("201", admission.Decision{Outcome: admission.Home, Home: "london"})
	if err := tb.Registered("201", admission.Home); err != nil {
		t.Fatal(err)
	}

	// The stream fails: the view watches again and the new snapshot
	// replaces the whole view (paris is gone, rome is new).
	feed <- sdk.ViewUpdate{Err: errors.New("host: view reset")}
	feed = h.feed()
	feed <- sdk.ViewUpdate{Snapshot: &sdk.ViewSnapshot{
		Site:     "london",
		Licenses: 1,
		Phones: []admission.PhoneEntry{
			{ID: "201", User: "201", Home: "london", Kind: desk, Protocol: sip},
			{ID: "401", User: "401", Home: "rome", Kind: desk, Protocol: sip},
		},
		Peers: []admission.PeerView{{Site: "rome", BackedUp: true, State: admission.StateFailover}},
	}}
	want("401", admission.Decision{Outcome: admission.Guest, Home: "rome"})
	want("302", admission.Decision{Outcome: admission.Refuse, Reason: admission.Unknown})
	if d := decide("303"); d.Reason != admission.Unknown {
		t.Fatalf("Decide(303) = %+v after the resync, want unknown", d)
	}
	// 201 holds the only licence: its refresh is admitted.
	want("201", admission.Decision{Outcome: admission.Home, Home: "london"})
	if l, g := tb.Counts(); l != 1 || g != 0 {
		t.Fatalf("Counts = %d, %d", l, g)
	}

	// The plugin stops watching: Run returns and the host's stream ends.
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	h.mu.Lock()
	ctxs := append([]context.Context(nil), h.watchCtx...)
	h.mu.Unlock()
	if len(ctxs) < 2 {
		t.Fatalf("host saw %d watches, want 2", len(ctxs))
	}
	for i, c := range ctxs {
		eventually(t, fmt.Sprintf("the host's watch %d to end", i), func() bool { return c.Err() != nil })
	}
}

func TestViewWrongSite(t *testing.T) {
	f := &fakePlugin{}
	p, _, _ := connect(t, f, false)
	h := newFakeHost("h")
	if _, err := p.Configure(t.Context(), sdk.Config{Site: "london"}, h); err != nil {
		t.Fatal(err)
	}
	view := sdk.NewView("london")
	done := make(chan error, 1)
	go func() { done <- view.Run(t.Context(), f.lastHost(t)) }()
	h.feed() <- sdk.ViewUpdate{Snapshot: &sdk.ViewSnapshot{Site: "paris"}}
	select {
	case err := <-done:
		if !errors.Is(err, sdk.ErrWrongSite) {
			t.Fatalf("Run = %v, want ErrWrongSite", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	select {
	case <-view.Ready():
		t.Fatal("view ready with another site's snapshot")
	default:
	}
}

// TestViewRetriesWatch: a host that cannot start a watch is retried.
func TestViewRetriesWatch(t *testing.T) {
	f := &fakePlugin{}
	p, _, _ := connect(t, f, false)
	h := newFakeHost("h")
	h.err = errors.New("host: starting")
	if _, err := p.Configure(t.Context(), sdk.Config{Site: "london"}, h); err != nil {
		t.Fatal(err)
	}
	view := sdk.NewView("london")
	go func() { _ = view.Run(t.Context(), f.lastHost(t)) }()
	time.Sleep(100 * time.Millisecond) // a few failed watches
	h.mu.Lock()
	h.err = nil
	h.mu.Unlock()
	h.feed() <- sdk.ViewUpdate{Snapshot: &sdk.ViewSnapshot{Site: "london", Licenses: 1,
		Phones: []admission.PhoneEntry{{ID: "201", Home: "london", Protocol: sip}}}}
	select {
	case <-view.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("view not ready")
	}
	if d := view.Table().Decide("201", sip, false); d.Outcome != admission.Home {
		t.Fatalf("Decide(201) = %+v", d)
	}
}

// TestViewOnPhone: the view tells its owner of every phone a change puts
// or removes, with its home, after the table has it.
func TestViewOnPhone(t *testing.T) {
	f := &fakePlugin{}
	p, _, _ := connect(t, f, false)
	h := newFakeHost("h")
	if _, err := p.Configure(t.Context(), sdk.Config{Site: "london"}, h); err != nil {
		t.Fatal(err)
	}
	view := sdk.NewView("london")
	var mu sync.Mutex
	var seen []string
	view.SetOnPhone(func(c sdk.PhoneChanged) {
		if _, ok := view.Table().Phone(c.ID); !ok && !strings.HasPrefix(c.ID, "gone") {
			t.Errorf("told of %s before the table has it", c.ID)
		}
		mu.Lock()
		seen = append(seen, c.ID+"@"+c.Home)
		mu.Unlock()
	})
	go func() { _ = view.Run(t.Context(), f.lastHost(t)) }()
	feed := h.feed()
	feed <- sdk.ViewUpdate{Snapshot: &sdk.ViewSnapshot{Site: "london", Phones: []admission.PhoneEntry{{ID: "gone-301", Home: "paris"}}}}
	feed <- sdk.ViewUpdate{Change: &sdk.ViewChange{PutPhone: &admission.PhoneEntry{ID: "201", Home: "london"}}}
	feed <- sdk.ViewUpdate{Change: &sdk.ViewChange{RemovePhone: "gone-301"}}
	eventually(t, "two phone changes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(seen, " "); got != "201@london gone-301@paris" {
		t.Fatalf("told of %q, want the put and the removal (the snapshot's phones are not changes)", got)
	}
}

func TestProtocolHealth(t *testing.T) {
	v := sdk.NewView("london")
	if h := sdk.ProtocolHealth(v, nil); h.Serving || !h.Starting {
		t.Fatalf("before the view = %+v, want starting", h)
	}
	if h := sdk.ProtocolHealth(v, errors.New("listen udp: address in use")); h.Serving || h.Starting || h.Message == "" {
		t.Fatalf("failed = %+v, want not serving with the error", h)
	}
}
