package ras

import (
	"bytes"
	"errors"
	"reflect"
	"runtime"
	"testing"
)

// Known answers for the PER primitives, worked out by hand from X.691
// (ALIGNED variant).
func TestPERPrimitives(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(*encoder)
		want []byte
	}{
		{"constrained 3 bits", func(e *encoder) { e.constrained(5, 0, 7) }, []byte{0xa0}},
		{"constrained one octet aligned", func(e *encoder) { e.bit(true); e.constrained(3, 0, 255) }, []byte{0x80, 0x03}},
		{"constrained two octets", func(e *encoder) { e.constrained(256, 0, 65535) }, []byte{0x01, 0x00}},
		{"constrained 1 of 1..65535", func(e *encoder) { e.constrained(1, 1, 65535) }, []byte{0x00, 0x00}},
		{"TimeToLive 300", func(e *encoder) { encTTL(e, 300) }, []byte{0x40, 0x01, 0x2b}},
		{"TimeToLive 1", func(e *encoder) { encTTL(e, 1) }, []byte{0x00, 0x00}},
		{"BandWidth max", func(e *encoder) { encU32(e, 1<<32-1) }, []byte{0xc0, 0xff, 0xff, 0xff, 0xff}},
		{"length 200", func(e *encoder) { e.length(200, 0, -1) }, []byte{0x80, 0xc8}},
		{"length 16383", func(e *encoder) { e.length(16383, 0, -1) }, []byte{0xbf, 0xff}},
		{"normally small 5", func(e *encoder) { e.smallNumber(5) }, []byte{0x0a}},
		{"normally small 70", func(e *encoder) { e.smallNumber(70) }, []byte{0x80, 0x01, 0x46}},
		{"dialedDigits indexes", func(e *encoder) { e.chars("#*,09", 1, 128, digitsAlph) }, []byte{0x08, 0x01, 0x23, 0xc0}},
		{"h323-ID", func(e *encoder) { e.chars("ab", 1, 256, bmpAlphabet) }, []byte{0x01, 0x00, 0x61, 0x00, 0x62}},
		{"gatekeeperIdentifier", func(e *encoder) { e.bit(true); encIdentifier(e, "a") }, []byte{0x80, 0x00, 0x61}},
		{"url-ID length is two octets", func(e *encoder) { e.chars("h", 1, 512, ia5Alphabet) }, []byte{0x00, 0x00, 0x68}},
		{"object identifier", func(e *encoder) { e.oid(ProtocolV7) }, []byte{0x06, 0x00, 0x08, 0x91, 0x4a, 0x00, 0x07}},
		{"open type", func(e *encoder) { e.openType(func(e *encoder) { e.bit(true) }) }, []byte{0x01, 0x80}},
		{"empty open type", func(e *encoder) { e.openType(func(*encoder) {}) }, []byte{0x01, 0x00}},
		{"extension bitmap", func(e *encoder) {
			x := newExt(4)
			x.add(1, func(e *encoder) { e.bit(true) })
			x.encode(e)
		}, []byte{0x06, 0x80, 0x01, 0x80}},
		{"ipx port not aligned", func(e *encoder) { e.bit(true); e.octets([]byte{0xff, 0xff}, 2, 2) }, []byte{0xff, 0xff, 0x80}},
		{"nsap length then aligned", func(e *encoder) { e.octets([]byte{0xaa}, 1, 20) }, []byte{0x00, 0xaa}},
		{"choice extension", func(e *encoder) { e.choiceExt(3, 2, func(*encoder) {}) }, []byte{0x81, 0x01, 0x00}},
	} {
		var e encoder
		tc.f(&e)
		if e.err != nil {
			t.Errorf("%s: %v", tc.name, e.err)
			continue
		}
		if got := e.bytes(); !bytes.Equal(got, tc.want) {
			t.Errorf("%s: %x, want %x", tc.name, got, tc.want)
		}
	}
}

func TestPERDecodePrimitives(t *testing.T) {
	d := newDecoder([]byte{0x40, 0x01, 0x2b})
	if v := decTTL(d); v != 300 || d.err != nil {
		t.Errorf("TimeToLive: %d %v", v, d.err)
	}
	d = newDecoder([]byte{0x08, 0x01, 0x23, 0xc0})
	if s := d.chars(1, 128, digitsAlph); s != "#*,09" || d.err != nil {
		t.Errorf("digits: %q %v", s, d.err)
	}
	d = newDecoder([]byte{0x00, 0xd0}) // one digit, index 13: not in the alphabet
	if d.chars(1, 128, digitsAlph); !errors.Is(d.err, ErrMalformed) {
		t.Errorf("digit index 13: %v", d.err)
	}
	d = newDecoder([]byte{0x06, 0x00, 0x08, 0x91, 0x4a, 0x00, 0x07})
	if o := d.oid(); !o.Equal(ProtocolV7) {
		t.Errorf("oid %v %v", o, d.err)
	}
	for _, bad := range [][]byte{{0x00}, {0x02, 0x2a, 0x80}, {0x02, 0x80, 0x01}} {
		d = newDecoder(bad)
		if d.oid(); !errors.Is(d.err, ErrMalformed) {
			t.Errorf("oid %x: %v", bad, d.err)
		}
	}
	d = newDecoder([]byte{0xc1, 0x00})
	if d.length(0, -1); !errors.Is(d.err, ErrMalformed) {
		t.Errorf("fragmented length: %v", d.err)
	}
	d = newDecoder([]byte{0xe0})
	if d.constrained(0, 6); !errors.Is(d.err, ErrMalformed) {
		t.Errorf("7 in 0..6: %v", d.err)
	}
	var e encoder
	if e.length(16384, 0, -1); !errors.Is(e.err, ErrValue) {
		t.Errorf("length 16384 encoded: %v", e.err)
	}
}

// hostile builds a RasMessage prefix then whatever f writes.
func hostile(f func(*encoder)) []byte {
	var e encoder
	f(&e)
	return e.bytes()
}

// TestHostileInput checks that lengths and counts larger than the input
// are refused before anything is allocated.
func TestHostileInput(t *testing.T) {
	cases := map[string][]byte{
		"empty": {},
		"octet string of 16383": hostile(func(e *encoder) {
			e.choice(IndexUnregistrationConfirm, rasRoot, true)
			e.bit(false)
			e.optional(true)
			encSeqNum(e, 1)
			e.choice(NonStandardObject, 2, true)
			e.oid(ProtocolV7)
			e.bits(0xbfff, 16) // data: 16383 octets, none there
		}),
		"fragmented octet string": hostile(func(e *encoder) {
			e.choice(IndexUnregistrationConfirm, rasRoot, true)
			e.bit(false)
			e.optional(true)
			encSeqNum(e, 1)
			e.choice(NonStandardObject, 2, true)
			e.oid(ProtocolV7)
			e.bits(0xc4, 8)
		}),
		"16383 addresses": hostile(func(e *encoder) {
			e.choice(IndexUnregistrationRequest, rasRoot, true)
			e.bit(false)
			e.optional(false, false, false)
			encSeqNum(e, 1)
			e.length(16383, 0, -1)
		}),
		"16383 extension additions": hostile(func(e *encoder) {
			e.choice(IndexUnregistrationConfirm, rasRoot, true)
			e.bit(true)
			e.optional(false)
			encSeqNum(e, 1)
			e.bit(true)
			e.length(16383, 0, -1)
		}),
		"h323-ID of 256 in 3 octets": hostile(func(e *encoder) {
			e.choice(IndexUnregistrationRequest, rasRoot, true)
			e.bit(false)
			e.optional(true, false, false)
			encSeqNum(e, 1)
			e.length(0, 0, -1)
			e.length(1, 0, -1)
			e.choice(AliasH323ID, aliasRoot, true)
			e.constrained(255, 0, 255)
		}),
		"open type longer than input": hostile(func(e *encoder) {
			e.bit(true)
			e.smallNumber(3)
			e.length(16000, 0, -1)
		}),
		"H.235 tokens in RIP": hostile(func(e *encoder) {
			e.choiceExt(IndexRequestInProgress, rasRoot, func(e *encoder) {
				e.bit(false)
				e.optional(false, true, false, false)
				encSeqNum(e, 1)
				e.length(0, 0, -1)
				e.constrained(1, 1, 65535)
			})
		}),
	}
	for name, b := range cases {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m, err := Unmarshal(b)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: decoded %#v", name, m)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > decodeAllocLimit(b) {
			t.Errorf("%s: %d bytes allocated for %d of input", name, n, len(b))
		}
	}
	if _, err := Unmarshal(cases["H.235 tokens in RIP"]); !errors.Is(err, ErrUnsupported) {
		t.Errorf("tokens in RIP: %v, want ErrUnsupported", err)
	}
}

// TestTruncatedAndFlipped decodes every prefix and every one-bit change of
// every test encoding: errors are fine, panics are not, and whatever
// decodes must encode again.
func TestTruncatedAndFlipped(t *testing.T) {
	for _, tc := range testMessages() {
		b, err := Marshal(tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		try := func(in []byte) {
			m, err := Unmarshal(in)
			if err != nil {
				return
			}
			if _, err := Marshal(m); err != nil {
				t.Errorf("%s: %x decodes to a value that does not encode: %v", tc.name, in, err)
			}
		}
		for i := range b {
			try(b[:i])
		}
		for i := 0; i < 8*len(b); i++ {
			c := bytes.Clone(b)
			c[i/8] ^= 0x80 >> (i % 8)
			try(c)
		}
	}
}

// TestSkipUnknownAdditions decodes a GCF from a later version: extension
// additions this package does not know (a bitmap longer than the 11 of
// H.225.0 v7), and known ones it does not implement (tokens), are skipped
// by their length.
func TestSkipUnknownAdditions(t *testing.T) {
	b := hostile(func(e *encoder) {
		e.choice(IndexGatekeeperConfirm, rasRoot, true)
		x := newExt(14)
		x.add(0, func(e *encoder) { encList(e, []AlternateGK{altGKParis}, encAltGK) })
		x.add(2, func(e *encoder) { e.octetsRaw([]byte{1, 2, 3, 4, 5}) }) // tokens, opaque here
		x.add(13, func(e *encoder) { e.bits(0x1234, 16) })                // unknown to H.225.0 v7
		e.bit(true)
		e.optional(false, true)
		encSeqNum(e, 1)
		e.oid(ProtocolV7)
		encIdentifier(e, "gk")
		encTransport(e, ip("127.0.0.1:1719"))
		x.encode(e)
	})
	m, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	want := &GatekeeperConfirm{
		RequestSeqNum: 1, ProtocolIdentifier: ProtocolV7, GatekeeperIdentifier: "gk",
		RASAddress: ip("127.0.0.1:1719"), AlternateGatekeeper: []AlternateGK{altGKParis},
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %#v", m)
	}
}

// TestVersion1Message decodes an RRQ without extension additions (an H.323
// v1 endpoint): the mandatory additions take their zero values.
func TestVersion1Message(t *testing.T) {
	in := &RegistrationRequest{
		RequestSeqNum: 1, ProtocolIdentifier: asn1OID(0, 0, 8, 2250, 0, 1),
		CallSignalAddress: []TransportAddress{ip("10.0.0.1:1720")},
		RASAddress:        []TransportAddress{ip("10.0.0.1:1719")},
		TerminalType:      EndpointType{Terminal: &NonStandardOnly{}},
		EndpointVendor:    VendorIdentifier{Vendor: vendorRally},
	}
	b := hostile(func(e *encoder) {
		e.choice(IndexRegistrationRequest, rasRoot, true)
		e.bit(false) // no extensions at all
		e.optional(false, false, false)
		encSeqNum(e, 1)
		e.oid(in.ProtocolIdentifier)
		e.bit(false)
		encList(e, in.CallSignalAddress, encTransport)
		encList(e, in.RASAddress, encTransport)
		in.TerminalType.enc(e)
		in.EndpointVendor.enc(e)
	})
	m, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, in) {
		t.Fatalf("got %#v", m)
	}
}

// TestUnknownAlternativesKept checks that CHOICE extension alternatives
// this package does not decode are kept and written back unchanged.
func TestUnknownAlternativesKept(t *testing.T) {
	in := &LocationRequest{
		RequestSeqNum: 1,
		DestinationInfo: []AliasAddress{
			UnknownAlias{Index: AliasMobileUIM, Raw: []byte{0x00, 0x01, 0x02}},
			UnknownAlias{Index: AliasIsupNumber, Raw: []byte{0x44}},
		},
		ReplyAddress: UnknownTransportAddress{Index: 9, Raw: []byte{0xab}},
		DesiredProtocols: []SupportedProtocols{
			{Choice: ProtocolT38FaxAnnexbOnly, Raw: []byte{0x01, 0x02}},
			{Choice: ProtocolNonStandardProtocol, Caps: ProtocolCaps{SupportedPrefixes: []SupportedPrefix{{Prefix: H323ID("gw")}}}},
			{Choice: ProtocolNonStandardData, NonStandardData: &NonStandardParameter{Identifier: NonStandardIdentifier{Choice: 5, Raw: []byte{0x07}}}},
		},
		DesiredTunnelledProtocol: &TunnelledProtocol{IDChoice: TunnelledObjectID, ObjectID: asn1OID(1, 2, 3)},
	}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, in) {
		t.Fatalf("got %#v\nwant %#v", m, in)
	}
}

func asn1OID(arcs ...int) []int { return arcs }

// TestBMPSurrogates checks that a BMPString holding surrogates (UTF-16, not
// UCS-2) decodes to something that encodes again.
func TestBMPSurrogates(t *testing.T) {
	d := newDecoder([]byte{0x01, 0xd8, 0x3d, 0xde, 0x00}) // h323-ID of 2 units: a surrogate pair
	s := d.chars(1, 256, bmpAlphabet)
	if d.err != nil || s != "\ufffd\ufffd" {
		t.Fatalf("%q %v", s, d.err)
	}
	var e encoder
	e.chars(s, 1, 256, bmpAlphabet)
	if e.err != nil || !bytes.Equal(e.bytes(), []byte{0x01, 0xff, 0xfd, 0xff, 0xfd}) {
		t.Fatalf("%x %v", e.bytes(), e.err)
	}
}
