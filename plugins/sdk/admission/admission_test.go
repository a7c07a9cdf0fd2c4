package admission

import (
	"errors"
	"testing"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

const (
	sip  = federationv1.Protocol_PROTOCOL_SIP
	h323 = federationv1.Protocol_PROTOCOL_H323
	anyP = federationv1.Protocol_PROTOCOL_UNSPECIFIED
	desk = federationv1.PhoneKind_PHONE_KIND_DESK
	soft = federationv1.PhoneKind_PHONE_KIND_SOFTPHONE
)

func TestDecide(t *testing.T) {
	own := &PhoneEntry{ID: "201", User: "201", Home: "london", Kind: desk, Protocol: sip}
	parisSIP := &PhoneEntry{ID: "301", User: "301", Home: "paris", Kind: desk, Protocol: sip}
	parisH323 := &PhoneEntry{ID: "carol", User: "303", Home: "paris", Kind: desk, Protocol: h323}
	peer := func(state, failback string, down ...federationv1.Protocol) *PeerView {
		v := &PeerView{Site: "paris", BackedUp: true, State: state, Failback: failback}
		for _, p := range down {
			if v.ProtocolDown == nil {
				v.ProtocolDown = map[federationv1.Protocol]bool{}
			}
			v.ProtocolDown[p] = true
		}
		return v
	}
	guest := Decision{Outcome: Guest, Home: "paris"}
	homedAtLive := Decision{Outcome: Refuse, Reason: HomedAtLivePeer, Home: "paris"}
	notBackedUp := Decision{Outcome: Refuse, Reason: NotBackedUp, Home: "paris"}

	tests := []struct {
		name  string
		phone *PhoneEntry
		proto federationv1.Protocol
		peer  *PeerView
		free  bool
		busy  bool
		want  Decision
	}{
		{name: "unknown phone", phone: nil, proto: sip, free: true, want: Decision{Outcome: Refuse, Reason: Unknown}},
		{name: "phone homed nowhere", phone: &PhoneEntry{ID: "x"}, proto: sip, free: true, want: Decision{Outcome: Refuse, Reason: Unknown}},
		{name: "own phone with licence", phone: own, proto: sip, free: true, want: Decision{Outcome: Home, Home: "london"}},
		{name: "own phone ignores peer", phone: own, proto: sip, peer: peer(StateNormal, ""), free: true, want: Decision{Outcome: Home, Home: "london"}},
		{name: "own phone over capacity", phone: own, proto: sip, free: false, want: Decision{Outcome: Refuse, Reason: OverCapacity, Home: "london"}},
		{name: "peer unknown", phone: parisSIP, proto: sip, peer: nil, free: true, want: notBackedUp},
		{name: "peer not backed up", phone: parisSIP, proto: sip, peer: &PeerView{Site: "paris", State: StateFailover}, want: notBackedUp},
		{name: "peer view of another site", phone: parisSIP, proto: sip, peer: &PeerView{Site: "rome", BackedUp: true, State: StateFailover}, want: notBackedUp},
		{name: "failover admits guest", phone: parisSIP, proto: sip, peer: peer(StateFailover, ""), want: guest},
		{name: "failover admits guest without licence", phone: parisSIP, proto: sip, peer: peer(StateFailover, FailbackManual), free: false, want: guest},
		{name: "normal refuses", phone: parisSIP, proto: sip, peer: peer(StateNormal, ""), free: true, want: homedAtLive},
		{name: "suspect refuses", phone: parisSIP, proto: sip, peer: peer(StateSuspect, ""), want: homedAtLive},
		{name: "connecting refuses", phone: parisSIP, proto: sip, peer: peer(StateConnecting, ""), want: homedAtLive},
		{name: "incompatible refuses", phone: parisSIP, proto: sip, peer: peer(StateIncompatible, ""), want: homedAtLive},
		{name: "unknown state refuses", phone: parisSIP, proto: sip, peer: peer("exploded", ""), want: homedAtLive},
		{name: "normal with sip plugin dead admits sip", phone: parisSIP, proto: sip, peer: peer(StateNormal, "", sip), want: guest},
		{name: "normal with sip plugin dead refuses h323", phone: parisH323, proto: h323, peer: peer(StateNormal, "", sip), want: homedAtLive},
		{name: "suspect with h323 plugin dead admits h323", phone: parisH323, proto: h323, peer: peer(StateSuspect, "", h323), want: guest},
		{name: "unspecified protocol uses the phone's", phone: parisH323, proto: anyP, peer: peer(StateNormal, "", h323), want: guest},
		{name: "protocol down ignored while connecting", phone: parisSIP, proto: sip, peer: peer(StateConnecting, "", sip), want: homedAtLive},
		{name: "protocol down ignored when incompatible", phone: parisSIP, proto: sip, peer: peer(StateIncompatible, "", sip), want: homedAtLive},
		{name: "failback pending automatic keeps guests", phone: parisSIP, proto: sip, peer: peer(StateFailbackPending, FailbackAutomatic), want: guest},
		{name: "failback pending default mode keeps guests", phone: parisSIP, proto: sip, peer: peer(StateFailbackPending, ""), want: guest},
		{name: "failback pending manual keeps guests", phone: parisSIP, proto: sip, peer: peer(StateFailbackPending, FailbackManual), want: guest},
		{name: "failback pending graceful keeps busy guest", phone: parisSIP, proto: sip, peer: peer(StateFailbackPending, FailbackGraceful), busy: true, want: guest},
		{name: "failback pending graceful sends idle guest home", phone: parisSIP, proto: sip, peer: peer(StateFailbackPending, FailbackGraceful), want: homedAtLive},
		{name: "failback pending graceful keeps idle guest when its protocol is down", phone: parisSIP, proto: sip, peer: peer(StateFailbackPending, FailbackGraceful, sip), want: guest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide("london", tt.phone, tt.proto, tt.peer, tt.free, tt.busy)
			if got != tt.want {
				t.Errorf("Decide = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestOutcomeNames(t *testing.T) {
	tests := []struct {
		name    string
		outcome Outcome
		text    string
	}{
		{name: "home", outcome: Home, text: "home"},
		{name: "guest", outcome: Guest, text: "guest"},
		{name: "refuse", outcome: Refuse, text: "refuse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.outcome.String(); got != tt.text {
				t.Fatalf("String = %q, want %q", got, tt.text)
			}
			o, err := ParseOutcome(tt.text)
			if err != nil || o != tt.outcome {
				t.Fatalf("ParseOutcome(%q) = %v, %v", tt.text, o, err)
			}
		})
	}
}

func TestReasonNames(t *testing.T) {
	tests := []struct {
		name   string
		reason Reason
		text   string
	}{
		{name: "none", reason: None, text: ""},
		{name: "homed at live peer", reason: HomedAtLivePeer, text: "homed_at_live_peer"},
		{name: "unknown", reason: Unknown, text: "unknown"},
		{name: "not backed up", reason: NotBackedUp, text: "not_backed_up"},
		{name: "over capacity", reason: OverCapacity, text: "over_capacity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.reason.String(); got != tt.text {
				t.Fatalf("String = %q, want %q", got, tt.text)
			}
			r, err := ParseReason(tt.text)
			if err != nil || r != tt.reason {
				t.Fatalf("ParseReason(%q) = %v, %v", tt.text, r, err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		parse func() error
		want  error
	}{
		{name: "outcome", parse: func() error { _, err := ParseOutcome("maybe"); return err }, want: ErrBadOutcome},
		{name: "reason", parse: func() error { _, err := ParseReason("because"); return err }, want: ErrBadReason},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.parse(); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if s := Outcome(9).String(); s != "Outcome(9)" {
		t.Errorf("Outcome(9).String() = %q", s)
	}
	if s := Reason(9).String(); s != "Reason(9)" {
		t.Errorf("Reason(9).String() = %q", s)
	}
}

func TestZeroDecisionRefuses(t *testing.T) {
	var d Decision
	if d.Admitted() || d.Outcome != Refuse {
		t.Fatalf("zero Decision = %+v admits", d)
	}
}

func TestPhysical(t *testing.T) {
	tests := []struct {
		name string
		kind federationv1.PhoneKind
		want bool
	}{
		{name: "desk", kind: desk, want: true},
		{name: "softphone", kind: soft, want: false},
		{name: "unspecified counts as physical", kind: federationv1.PhoneKind_PHONE_KIND_UNSPECIFIED, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (PhoneEntry{Kind: tt.kind}).Physical(); got != tt.want {
				t.Fatalf("Physical = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPeerViewEndpoint(t *testing.T) {
	v := PeerView{Site: "paris", Endpoints: []string{"bogus", "sip:tcp://", "sip:udp://127.0.0.2:5060", "sip:tls://127.0.0.2:5061", "h323:udp://127.0.0.2:1719"}}
	tests := []struct {
		protocol, transport string
		scheme, addr        string
		ok                  bool
	}{
		{"sip", "", "udp", "127.0.0.2:5060", true},
		{"sip", "tls", "tls", "127.0.0.2:5061", true},
		{"sip", "tcp", "", "", false},
		{"h323", "", "udp", "127.0.0.2:1719", true},
		{"mgcp", "", "", "", false},
	}
	for _, tt := range tests {
		scheme, addr, ok := v.Endpoint(tt.protocol, tt.transport)
		if scheme != tt.scheme || addr != tt.addr || ok != tt.ok {
			t.Errorf("Endpoint(%q, %q) = %q, %q, %v; want %q, %q, %v", tt.protocol, tt.transport, scheme, addr, ok, tt.scheme, tt.addr, tt.ok)
		}
	}
}
