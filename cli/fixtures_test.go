package cli

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

// Canned admin API answers shared by the printer tests and the end-to-end
// CLI tests. Times are fixed so golden files are stable.

var fixedNow = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func fixtureStatus() *adminv1.GetStatusResponse {
	return &adminv1.GetStatusResponse{
		Site: &adminv1.SiteStatus{
			Site:           "london",
			SipDomain:      "voip.example",
			Revision:       42,
			Licenses:       100,
			Licensed:       3,
			Guests:         2,
			BackupMode:     "memory",
			Started:        ts(fixedNow.Add(-time.Hour)),
			FederationAddr: "127.0.0.1:7400",
			BackupSite:     "paris",
			Plugins:        fixturePlugins().GetPlugins(),
		},
		Peers: []*adminv1.PeerStatus{
			{
				Site:           "paris",
				Addr:           "127.0.0.2:7400",
				State:          "normal",
				LastHeard:      ts(fixedNow.Add(-12 * time.Millisecond)),
				HeartbeatAgeMs: 12,
				Relation:       "both",
				Resilience:     "inactive",
				HeldRevision:   40,
				PeerRevision:   40,
				AckedRevision:  42,
				HeldRecords:    310,
				FailbackMode:   "automatic",
				StateSince:     ts(fixedNow.Add(-59 * time.Minute)),
				Plugins:        map[string]string{"sip": "serving", "h323": "serving"},
			},
			{
				Site:           "berlin",
				Addr:           "127.0.0.3:7400",
				State:          "failover",
				LastHeard:      ts(fixedNow.Add(-3250 * time.Millisecond)),
				HeartbeatAgeMs: 3250,
				Relation:       "backs_up_peer",
				Resilience:     "active",
				HeldRevision:   17,
				PeerRevision:   18,
				HeldRecords:    96,
				Guests:         2,
				FailbackMode:   "manual",
				Message:        "no frame for 3.2s (failover_after 2s)",
				Warnings:       []string{"held revision 17 is behind the peer's 18"},
				StateSince:     ts(fixedNow.Add(-1500 * time.Millisecond)),
				Plugins:        map[string]string{"sip": "down"},
			},
			{
				Site:  "madrid",
				Addr:  "127.0.0.4:7400",
				State: "connecting",
				// never heard: no last_heard, age -1 (as the daemon sends)
				HeartbeatAgeMs: -1,
				Relation:       "index",
				Message:        "dial 127.0.0.4:7400: connection refused",
			},
		},
	}
}

func fixturePhones() *adminv1.ListPhonesResponse {
	return &adminv1.ListPhonesResponse{Registrations: []*adminv1.Registration{
		{Phone: "201", User: "201", Home: "london", HereAs: "home", Protocol: "sip",
			Contact: "sip:201@10.0.0.5:5060", Expires: ts(fixedNow.Add(45 * time.Second)), Kind: "desk",
			Aor: "sip:201@voip.example", Transport: "udp", UserAgent: "Yealink SIP-T46U 108.86.0.20",
			ServedUser: "205", HotdeskUser: "205"},
		{Phone: "carol", User: "203", Home: "london", HereAs: "home", Protocol: "h323",
			Contact: "10.0.0.7:1720", Expires: ts(fixedNow.Add(-time.Second)), Kind: "desk", Transport: "ras",
			ServedUser: "203"},
		{Phone: "301", User: "301", Home: "berlin", HereAs: "guest", Protocol: "sip",
			Contact: "sip:301@10.1.0.9:5060;transport=tcp", Expires: ts(fixedNow.Add(60 * time.Second)), Kind: "softphone",
			Aor: "sip:301@voip.example", Transport: "tcp", Busy: true},
		{Phone: "302", User: "302", Home: "berlin", HereAs: "guest", Protocol: "sip",
			Contact: "sip:302@10.1.0.10:5060", Expires: ts(fixedNow.Add(60 * time.Second)), Kind: "desk",
			Aor: "sip:302@voip.example", Transport: "udp", ServedUser: "302", HotdeskSuspendedUser: "304"},
	}}
}

func fixturePlugins() *adminv1.ListPluginsResponse {
	return &adminv1.ListPluginsResponse{Plugins: []*adminv1.PluginStatus{
		{Name: "sip", Protocol: "sip", Origin: "builtin", Path: "/usr/local/bin/rally", Health: "serving",
			Pid: 4242, ApiVersion: 1, Version: "0.1.0",
			Endpoints: []string{"sip:udp://127.0.0.1:5060", "sip:tcp://127.0.0.1:5060"}},
		{Name: "webhook", Origin: "external", Path: "/var/lib/rally/london/plugins/webhook",
			Sha256: "9fba0e119a080529ffad50424a2105db673333269f0d98346a57c2ee96a6fd6e",
			Health: "failed", Restarts: 2,
			LastError: "/var/lib/rally/london/plugins/webhook does not match its pinned SHA-256 9fba0e119a08...: refusing to start it"},
	}}
}

func fixtureCheck(allOK bool) *adminv1.CheckResponse {
	r := &adminv1.CheckResponse{Results: []*adminv1.CheckResult{
		{Peer: "paris", Check: "link", Ok: true},
		{Peer: "paris", Check: "sip_domain", Ok: true},
		{Peer: "paris", Check: "ipv6", Ok: allOK, Message: "london has ipv6: true, paris has ipv6: false"},
		{Peer: "paris", Check: "reachable:sip:udp://127.0.0.2:5060", Ok: true},
	}}
	if allOK {
		r.Results[2].Message = ""
	}
	return r
}

func fixtureEvents() []*adminv1.Event {
	return []*adminv1.Event{
		{Time: ts(fixedNow.Add(2500 * time.Millisecond)), Kind: "peer_state", Peer: "paris",
			From: "normal", To: "suspect", Message: "no frame for 1s"},
		{Time: ts(fixedNow.Add(4 * time.Second)), Kind: "peer_state", Peer: "paris",
			From: "suspect", To: "failover", Message: "no frame for 2s (failover_after 2s)"},
		{Time: ts(fixedNow.Add(5 * time.Second)), Kind: "resilience", Peer: "paris",
			From: "inactive", To: "active", Message: "first physical phone 201 registered as guest"},
	}
}
