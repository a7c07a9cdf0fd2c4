package admission

import (
	"testing"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// FuzzDecide checks the invariants of the admission rule over arbitrary
// inputs: it never panics, it is deterministic, a guest is admitted only
// for a home elsewhere that this site backs up, and a home registration
// only for a phone of this site with a licence free.
//
// flags packs the booleans: bit 0 no phone, 1 no peer, 2 backed up,
// 3 licences free, 4 busy; down packs ProtocolDown: bit n marks protocol n.
func FuzzDecide(f *testing.F) {
	f.Add("london", "201", "201", "london", int32(1), int32(1), int32(1), "", "", "", uint8(0b01010), uint8(0))
	f.Add("london", "301", "301", "paris", int32(1), int32(1), int32(1), "paris", StateFailover, FailbackAutomatic, uint8(0b00100), uint8(0))
	f.Add("london", "301", "301", "paris", int32(1), int32(1), int32(1), "paris", StateNormal, FailbackAutomatic, uint8(0b00100), uint8(0b010))
	f.Add("london", "301", "301", "paris", int32(2), int32(2), int32(0), "paris", StateFailbackPending, FailbackGraceful, uint8(0b10100), uint8(0))
	f.Add("london", "301", "301", "paris", int32(1), int32(1), int32(1), "paris", StateSuspect, FailbackManual, uint8(0b00100), uint8(0))
	f.Add("", "", "", "", int32(-1), int32(99), int32(7), "", "", "", uint8(0xff), uint8(0xff))
	f.Fuzz(func(t *testing.T, self, id, user, home string, kind, protocol, proto int32,
		peerSite, state, failback string, flags, down uint8) {
		var phone *PhoneEntry
		if flags&1 == 0 {
			phone = &PhoneEntry{ID: id, User: user, Home: home,
				Kind: federationv1.PhoneKind(kind), Protocol: federationv1.Protocol(protocol)}
		}
		var peer *PeerView
		if flags&2 == 0 {
			peer = &PeerView{Site: peerSite, BackedUp: flags&4 != 0, State: state, Failback: failback}
			for p := range 8 {
				if down&(1<<p) != 0 {
					if peer.ProtocolDown == nil {
						peer.ProtocolDown = map[federationv1.Protocol]bool{}
					}
					peer.ProtocolDown[federationv1.Protocol(p)] = true
				}
			}
		}
		free, busy := flags&8 != 0, flags&16 != 0

		d := Decide(self, phone, federationv1.Protocol(proto), peer, free, busy)
		if again := Decide(self, phone, federationv1.Protocol(proto), peer, free, busy); again != d {
			t.Fatalf("not deterministic: %+v then %+v", d, again)
		}
		switch d.Outcome {
		case Home:
			if phone == nil || phone.Home == "" || phone.Home != self || !free {
				t.Fatalf("Home for phone %+v at %q (free %v)", phone, self, free)
			}
		case Guest:
			if phone == nil || phone.Home == "" || phone.Home == self {
				t.Fatalf("Guest for phone %+v at %q", phone, self)
			}
			if peer == nil || !peer.BackedUp || peer.Site != phone.Home {
				t.Fatalf("Guest with peer %+v for phone %+v", peer, phone)
			}
			if peer.State != StateFailover && peer.State != StateFailbackPending && !downFor(peer, phone, federationv1.Protocol(proto)) {
				t.Fatalf("Guest while peer %+v is up for protocol %d", peer, proto)
			}
		case Refuse:
			if d.Reason == None {
				t.Fatalf("Refuse without reason: %+v", d)
			}
		default:
			t.Fatalf("bad outcome %+v", d)
		}
		if d.Outcome != Refuse && d.Reason != None {
			t.Fatalf("admitted with a reason: %+v", d)
		}
		if phone != nil && d.Home != phone.Home {
			t.Fatalf("Decision.Home = %q, phone home %q", d.Home, phone.Home)
		}
		if _, err := ParseOutcome(d.Outcome.String()); err != nil {
			t.Fatal(err)
		}
		if _, err := ParseReason(d.Reason.String()); err != nil {
			t.Fatal(err)
		}
	})
}

func downFor(peer *PeerView, phone *PhoneEntry, proto federationv1.Protocol) bool {
	if proto == federationv1.Protocol_PROTOCOL_UNSPECIFIED {
		proto = phone.Protocol
	}
	return peer.ProtocolDown[proto]
}
