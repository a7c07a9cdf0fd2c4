package ras

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
)

// TestRoundTrip encodes every test value, decodes it back and compares, and
// checks that encoding the decoded value gives the same bytes.
func TestRoundTrip(t *testing.T) {
	seen := map[int]bool{}
	for _, tc := range testMessages() {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Marshal(tc.msg)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			got, err := Unmarshal(b)
			if err != nil {
				t.Fatalf("Unmarshal(%x): %v", b, err)
			}
			if !reflect.DeepEqual(got, tc.msg) {
				t.Fatalf("round trip differs\n got %#v\nwant %#v\nbytes %x", got, tc.msg, b)
			}
			again, err := Marshal(got)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encoding: %x, %v; want %x", again, err, b)
			}
			seen[tc.msg.MessageIndex()] = true
			t.Logf("%s: %s", tc.name, hex.EncodeToString(b))
		})
	}
	for idx := 0; idx <= IndexInfoRequestNak; idx++ {
		if newMessage(idx) != nil && !seen[idx] {
			t.Errorf("no test value for RasMessage alternative %d", idx)
		}
	}
}

// TestUnknownMessageKept checks that a RasMessage extension alternative
// this package does not decode comes back as UnknownMessage and is written
// back unchanged.
func TestUnknownMessageKept(t *testing.T) {
	in := &UnknownMessage{Index: IndexServiceControlIndication, Raw: []byte{0x01, 0x02, 0x03}}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("got %#v", got)
	}
	// A far future alternative (index 40): normally small number 15.
	b = []byte{0x80 | 15, 0x01, 0x00}
	got, err = Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := got.(*UnknownMessage); !ok || u.Index != rasRoot+15 {
		t.Fatalf("got %#v", got)
	}
}

// TestEncodeErrors checks that values outside their constraints are
// refused, not written wrong.
func TestEncodeErrors(t *testing.T) {
	for name, m := range map[string]Message{
		"seqnum 0":          &UnregistrationConfirm{},
		"digit":             &LocationRequest{RequestSeqNum: 1, DestinationInfo: []AliasAddress{DialedDigits("12a")}, ReplyAddress: ip("127.0.0.1:1719")},
		"empty digits":      &LocationRequest{RequestSeqNum: 1, DestinationInfo: []AliasAddress{DialedDigits("")}, ReplyAddress: ip("127.0.0.1:1719")},
		"nil address":       &LocationRequest{RequestSeqNum: 1, DestinationInfo: []AliasAddress{}},
		"long gk id":        &GatekeeperConfirm{RequestSeqNum: 1, ProtocolIdentifier: ProtocolV7, GatekeeperIdentifier: string(make([]byte, 129)), RASAddress: ip("127.0.0.1:1719")},
		"bad oid":           &GatekeeperConfirm{RequestSeqNum: 1, ProtocolIdentifier: []int{3, 1}, RASAddress: ip("127.0.0.1:1719")},
		"non-BMP h323-ID":   &UnregistrationRequest{RequestSeqNum: 1, EndpointAlias: []AliasAddress{H323ID("\U0001F600")}},
		"non-IA5 url":       &UnregistrationRequest{RequestSeqNum: 1, EndpointAlias: []AliasAddress{URLID("h323:é")}},
		"priority 128":      &GatekeeperConfirm{RequestSeqNum: 1, ProtocolIdentifier: ProtocolV7, RASAddress: ip("127.0.0.1:1719"), AlternateGatekeeper: []AlternateGK{{RASAddress: ip("127.0.0.1:1719"), Priority: 128}}},
		"set of 3 octets":   &InfoRequestResponse{RequestSeqNum: 1, EndpointType: EndpointType{Set: []byte{1, 2, 3}}, EndpointIdentifier: "e", RASAddress: ip("127.0.0.1:1719")},
		"nil message":       nil,
		"nsap too long":     &UnregistrationRequest{RequestSeqNum: 1, CallSignalAddress: []TransportAddress{NSAPAddress(make([]byte, 21))}},
		"too many aliases":  &UnregistrationRequest{RequestSeqNum: 1, EndpointAlias: make([]AliasAddress, 20000)},
		"not-extension raw": &UnregistrationRequest{RequestSeqNum: 1, EndpointAlias: []AliasAddress{UnknownAlias{Index: 1}}},
	} {
		if b, err := Marshal(m); !errors.Is(err, ErrValue) {
			t.Errorf("%s: Marshal = %x, %v; want ErrValue", name, b, err)
		}
	}
}
