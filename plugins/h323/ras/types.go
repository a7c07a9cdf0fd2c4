package ras

import (
	"encoding/asn1"
	"fmt"
	"net/netip"
)

// This file holds the H.225.0 types the RAS messages share, each with its
// encoder (enc) and decoder (dec), in the order of the ASN.1 module. A CHOICE
// of NULLs is a Go int with constants; a CHOICE carrying values is either a
// sealed interface (TransportAddress, AliasAddress, Message) or a struct
// tagged by its Choice field. Extension alternatives this package does not
// decode keep their encoded value (Raw) and are written back as they came.

// ---- generic helpers ----

// encList writes a SEQUENCE OF without size constraint.
func encList[T any](e *encoder, xs []T, f func(*encoder, T)) {
	e.length(len(xs), 0, -1)
	for _, x := range xs {
		f(e, x)
	}
}

// decList reads a SEQUENCE OF without size constraint. An OPTIONAL one
// (present) decodes to a non-nil slice, even empty, so presence survives a
// round trip; a mandatory empty one decodes to nil.
func decList[T any](d *decoder, optional bool, f func(*decoder) T) []T {
	n := d.count(0, -1)
	if n == 0 && !optional {
		return nil
	}
	xs := make([]T, 0, min(n, 32))
	for i := 0; i < n && d.err == nil; i++ {
		xs = append(xs, f(d))
	}
	return xs
}

// encEnum writes a CHOICE whose alternatives are all NULL: root
// alternatives, then extension ones (an open type holding the empty NULL).
func encEnum(e *encoder, v, root int, extensible bool) {
	if v < 0 || v >= root && !extensible {
		e.fail("choice index %d", v)
		return
	}
	if v < root {
		e.choice(v, root, extensible)
		return
	}
	e.choiceExt(v, root, nil)
}

// decEnum reads a CHOICE of NULLs; an extension alternative's value (NULL
// for those H.225.0 defines, anything for unknown ones) is skipped.
func decEnum(d *decoder, root int, extensible bool) int {
	idx, ext := d.choice(root, extensible)
	if ext {
		d.openRaw()
	}
	return idx
}

// encRaw writes an extension alternative kept undecoded.
func encRaw(e *encoder, idx, root int, raw []byte) {
	if idx < root {
		e.fail("choice index %d is not an extension", idx)
		return
	}
	e.bit(true)
	e.smallNumber(uint64(idx - root))
	e.openRaw(raw)
}

func encU32(e *encoder, v uint32) { e.constrained(uint64(v), 0, 1<<32-1) }
func decU32(d *decoder) uint32    { return uint32(d.constrained(0, 1<<32-1)) }
func encU16(e *encoder, v uint16) { e.constrained(uint64(v), 0, 65535) }
func decU16(d *decoder) uint16    { return uint16(d.constrained(0, 65535)) }

// ---- simple types ----

// GUID is GloballyUniqueID, OCTET STRING (SIZE (16)); ConferenceIdentifier
// is one too.
type GUID [16]byte

func encGUID(e *encoder, g GUID) { e.octets(g[:], 16, 16) }
func decGUID(d *decoder) (g GUID) {
	copy(g[:], d.octets(16, 16))
	return g
}

// RequestSeqNum ::= INTEGER (1..65535): a zero value is rejected.
func encSeqNum(e *encoder, n uint16) { e.constrained(uint64(n), 1, 65535) }
func decSeqNum(d *decoder) uint16    { return uint16(d.constrained(1, 65535)) }

// TimeToLive ::= INTEGER (1..4294967295), in seconds.
func encTTL(e *encoder, v uint32) { e.constrained(uint64(v), 1, 1<<32-1) }
func decTTL(d *decoder) uint32    { return uint32(d.constrained(1, 1<<32-1)) }

// GatekeeperIdentifier and EndpointIdentifier ::= BMPString (SIZE (1..128)).
func encIdentifier(e *encoder, s string) { e.chars(s, 1, 128, bmpAlphabet) }
func decIdentifier(d *decoder) string    { return d.chars(1, 128, bmpAlphabet) }

// H.225.0 protocol identifiers, {itu-t(0) recommendation(0) h(8)
// h225-0(2250) version(0) N}.
var (
	ProtocolV2 = asn1.ObjectIdentifier{0, 0, 8, 2250, 0, 2}
	ProtocolV4 = asn1.ObjectIdentifier{0, 0, 8, 2250, 0, 4}
	ProtocolV6 = asn1.ObjectIdentifier{0, 0, 8, 2250, 0, 6}
	ProtocolV7 = asn1.ObjectIdentifier{0, 0, 8, 2250, 0, 7}
)

// ---- NonStandardParameter ----

// H221NonStandard ::= SEQUENCE {t35CountryCode, t35Extension,
// manufacturerCode, ...}.
type H221NonStandard struct {
	T35CountryCode   uint8
	T35Extension     uint8
	ManufacturerCode uint16
}

func (x *H221NonStandard) enc(e *encoder) {
	e.bit(false)
	e.constrained(uint64(x.T35CountryCode), 0, 255)
	e.constrained(uint64(x.T35Extension), 0, 255)
	encU16(e, x.ManufacturerCode)
}

func (x *H221NonStandard) dec(d *decoder) {
	ext := d.bit()
	x.T35CountryCode = uint8(d.constrained(0, 255))
	x.T35Extension = uint8(d.constrained(0, 255))
	x.ManufacturerCode = decU16(d)
	if ext {
		d.extensions(func(int, *decoder) {})
	}
}

// NonStandardIdentifier ::= CHOICE {object, h221NonStandard, ...}.
type NonStandardIdentifier struct {
	Choice          int // NonStandardObject or NonStandardH221
	Object          asn1.ObjectIdentifier
	H221NonStandard H221NonStandard
	Raw             []byte // an unknown extension alternative's value
}

// NonStandardIdentifier alternatives.
const (
	NonStandardObject = iota
	NonStandardH221
)

func (x *NonStandardIdentifier) enc(e *encoder) {
	switch x.Choice {
	case NonStandardObject:
		e.choice(0, 2, true)
		e.oid(x.Object)
	case NonStandardH221:
		e.choice(1, 2, true)
		x.H221NonStandard.enc(e)
	default:
		encRaw(e, x.Choice, 2, x.Raw)
	}
}

func (x *NonStandardIdentifier) dec(d *decoder) {
	idx, ext := d.choice(2, true)
	x.Choice = idx
	switch {
	case ext:
		x.Raw = d.openRaw()
	case idx == NonStandardObject:
		x.Object = d.oid()
	default:
		x.H221NonStandard.dec(d)
	}
}

// NonStandardParameter ::= SEQUENCE {nonStandardIdentifier, data OCTET
// STRING}.
type NonStandardParameter struct {
	Identifier NonStandardIdentifier
	Data       []byte
}

func (x *NonStandardParameter) enc(e *encoder) {
	x.Identifier.enc(e)
	e.octets(x.Data, 0, -1)
}

func decNonStandard(d *decoder) *NonStandardParameter {
	x := new(NonStandardParameter)
	x.Identifier.dec(d)
	x.Data = d.octets(0, -1)
	return x
}

// ---- TransportAddress ----

// TransportAddress is the CHOICE TransportAddress: IPAddress,
// IPSourceRoute, IPXAddress, IP6Address, NetBIOSAddress, NSAPAddress,
// NonStandardAddress, or UnknownTransportAddress for a later extension.
type TransportAddress interface {
	transportIndex() int
}

// IPAddress is ipAddress: SEQUENCE {ip OCTET STRING (SIZE (4)), port}.
type IPAddress struct {
	IP   [4]byte
	Port uint16
}

// IPSourceRoute is ipSourceRoute.
type IPSourceRoute struct {
	IP      [4]byte
	Port    uint16
	Route   [][4]byte
	Routing int // RoutingStrict or RoutingLoose
}

// ipSourceRoute routing alternatives.
const (
	RoutingStrict = iota
	RoutingLoose
)

// IPXAddress is ipxAddress.
type IPXAddress struct {
	Node   [6]byte
	NetNum [4]byte
	Port   [2]byte
}

// IP6Address is ip6Address.
type IP6Address struct {
	IP   [16]byte
	Port uint16
}

// NetBIOSAddress is netBios, OCTET STRING (SIZE (16)).
type NetBIOSAddress [16]byte

// NSAPAddress is nsap, OCTET STRING (SIZE (1..20)).
type NSAPAddress []byte

// NonStandardAddress is nonStandardAddress.
type NonStandardAddress struct{ NonStandardParameter }

// UnknownTransportAddress is an extension alternative of a later version,
// kept encoded.
type UnknownTransportAddress struct {
	Index int
	Raw   []byte
}

func (IPAddress) transportIndex() int                 { return 0 }
func (IPSourceRoute) transportIndex() int             { return 1 }
func (IPXAddress) transportIndex() int                { return 2 }
func (IP6Address) transportIndex() int                { return 3 }
func (NetBIOSAddress) transportIndex() int            { return 4 }
func (NSAPAddress) transportIndex() int               { return 5 }
func (NonStandardAddress) transportIndex() int        { return 6 }
func (a UnknownTransportAddress) transportIndex() int { return a.Index }

// FromAddrPort makes an ipAddress (ip6Address for an IPv6 address).
func FromAddrPort(ap netip.AddrPort) TransportAddress {
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		return IP6Address{IP: ap.Addr().As16(), Port: ap.Port()}
	}
	return IPAddress{IP: ap.Addr().Unmap().As4(), Port: ap.Port()}
}

// AddrPort is the address as a netip.AddrPort.
func (a IPAddress) AddrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4(a.IP), a.Port)
}

// AddrPort is the address as a netip.AddrPort.
func (a IP6Address) AddrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(a.IP), a.Port)
}

const transportRoot = 7

func encTransport(e *encoder, a TransportAddress) {
	switch a := a.(type) {
	case IPAddress:
		e.choice(0, transportRoot, true)
		e.octets(a.IP[:], 4, 4)
		encU16(e, a.Port)
	case IPSourceRoute:
		e.choice(1, transportRoot, true)
		e.bit(false)
		e.octets(a.IP[:], 4, 4)
		encU16(e, a.Port)
		encList(e, a.Route, func(e *encoder, r [4]byte) { e.octets(r[:], 4, 4) })
		encEnum(e, a.Routing, 2, true)
	case IPXAddress:
		e.choice(2, transportRoot, true)
		e.octets(a.Node[:], 6, 6)
		e.octets(a.NetNum[:], 4, 4)
		e.octets(a.Port[:], 2, 2)
	case IP6Address:
		e.choice(3, transportRoot, true)
		e.bit(false)
		e.octets(a.IP[:], 16, 16)
		encU16(e, a.Port)
	case NetBIOSAddress:
		e.choice(4, transportRoot, true)
		e.octets(a[:], 16, 16)
	case NSAPAddress:
		e.choice(5, transportRoot, true)
		e.octets(a, 1, 20)
	case NonStandardAddress:
		e.choice(6, transportRoot, true)
		a.enc(e)
	case UnknownTransportAddress:
		encRaw(e, a.Index, transportRoot, a.Raw)
	default:
		e.fail("transport address %T", a)
	}
}

func decTransport(d *decoder) TransportAddress {
	idx, ext := d.choice(transportRoot, true)
	if ext {
		return UnknownTransportAddress{Index: idx, Raw: d.openRaw()}
	}
	switch idx {
	case 0:
		var a IPAddress
		copy(a.IP[:], d.octets(4, 4))
		a.Port = decU16(d)
		return a
	case 1:
		var a IPSourceRoute
		x := d.bit()
		copy(a.IP[:], d.octets(4, 4))
		a.Port = decU16(d)
		a.Route = decList(d, false, func(d *decoder) (r [4]byte) {
			copy(r[:], d.octets(4, 4))
			return r
		})
		a.Routing = decEnum(d, 2, true)
		if x {
			d.extensions(func(int, *decoder) {})
		}
		return a
	case 2:
		var a IPXAddress
		copy(a.Node[:], d.octets(6, 6))
		copy(a.NetNum[:], d.octets(4, 4))
		copy(a.Port[:], d.octets(2, 2))
		return a
	case 3:
		var a IP6Address
		x := d.bit()
		copy(a.IP[:], d.octets(16, 16))
		a.Port = decU16(d)
		if x {
			d.extensions(func(int, *decoder) {})
		}
		return a
	case 4:
		var a NetBIOSAddress
		copy(a[:], d.octets(16, 16))
		return a
	case 5:
		return NSAPAddress(d.octets(1, 20))
	default:
		return NonStandardAddress{*decNonStandard(d)}
	}
}

// ---- AliasAddress ----

// AliasAddress is the CHOICE AliasAddress: DialedDigits, H323ID, URLID,
// TransportID, EmailID, PartyNumber, or UnknownAlias (mobileUIM, isupNumber
// and later extensions, kept encoded).
type AliasAddress interface {
	aliasIndex() int
}

// DialedDigits is dialledDigits: IA5String (SIZE (1..128)) FROM
// ("0123456789#*,").
type DialedDigits string

// H323ID is h323-ID: BMPString (SIZE (1..256)).
type H323ID string

// URLID is url-ID: IA5String (SIZE (1..512)).
type URLID string

// TransportID is transportID.
type TransportID struct{ Address TransportAddress }

// EmailID is email-ID: IA5String (SIZE (1..512)).
type EmailID string

// UnknownAlias is an AliasAddress alternative this package keeps encoded.
type UnknownAlias struct {
	Index int
	Raw   []byte
}

// AliasAddress alternatives, by index.
const (
	AliasDialedDigits = iota
	AliasH323ID
	AliasURLID
	AliasTransportID
	AliasEmailID
	AliasPartyNumber
	AliasMobileUIM
	AliasIsupNumber
)

func (DialedDigits) aliasIndex() int   { return AliasDialedDigits }
func (H323ID) aliasIndex() int         { return AliasH323ID }
func (URLID) aliasIndex() int          { return AliasURLID }
func (TransportID) aliasIndex() int    { return AliasTransportID }
func (EmailID) aliasIndex() int        { return AliasEmailID }
func (PartyNumber) aliasIndex() int    { return AliasPartyNumber }
func (a UnknownAlias) aliasIndex() int { return a.Index }

const aliasRoot = 2

func encAlias(e *encoder, a AliasAddress) {
	switch a := a.(type) {
	case DialedDigits:
		e.choice(0, aliasRoot, true)
		e.chars(string(a), 1, 128, digitsAlph)
	case H323ID:
		e.choice(1, aliasRoot, true)
		e.chars(string(a), 1, 256, bmpAlphabet)
	case URLID:
		e.choiceExt(AliasURLID, aliasRoot, func(e *encoder) { e.chars(string(a), 1, 512, ia5Alphabet) })
	case TransportID:
		e.choiceExt(AliasTransportID, aliasRoot, func(e *encoder) { encTransport(e, a.Address) })
	case EmailID:
		e.choiceExt(AliasEmailID, aliasRoot, func(e *encoder) { e.chars(string(a), 1, 512, ia5Alphabet) })
	case PartyNumber:
		e.choiceExt(AliasPartyNumber, aliasRoot, a.enc)
	case UnknownAlias:
		encRaw(e, a.Index, aliasRoot, a.Raw)
	default:
		e.fail("alias address %T", a)
	}
}

func decAlias(d *decoder) AliasAddress {
	idx, ext := d.choice(aliasRoot, true)
	if !ext {
		if idx == 0 {
			return DialedDigits(d.chars(1, 128, digitsAlph))
		}
		return H323ID(d.chars(1, 256, bmpAlphabet))
	}
	var a AliasAddress
	switch idx {
	case AliasURLID:
		d.sub(func(d *decoder) { a = URLID(d.chars(1, 512, ia5Alphabet)) })
	case AliasTransportID:
		d.sub(func(d *decoder) { a = TransportID{decTransport(d)} })
	case AliasEmailID:
		d.sub(func(d *decoder) { a = EmailID(d.chars(1, 512, ia5Alphabet)) })
	case AliasPartyNumber:
		d.sub(func(d *decoder) {
			var p PartyNumber
			p.dec(d)
			a = p
		})
	default:
		a = UnknownAlias{Index: idx, Raw: d.openRaw()}
	}
	return a
}

func encAliases(e *encoder, as []AliasAddress) { encList(e, as, encAlias) }
func decAliases(d *decoder, optional bool) []AliasAddress {
	return decList(d, optional, decAlias)
}

// ---- PartyNumber ----

// PartyNumber is the CHOICE PartyNumber. For PartyE164 TypeOfNumber is a
// PublicTypeOfNumber, for PartyPrivate a PrivateTypeOfNumber; the other
// (reserved) alternatives are NumberDigits alone.
type PartyNumber struct {
	Choice       int
	TypeOfNumber int
	Digits       string // NumberDigits: IA5String (SIZE (1..128)) FROM ("0123456789#*,")
	Raw          []byte // an unknown extension alternative's value
}

// PartyNumber alternatives.
const (
	PartyE164 = iota
	PartyData
	PartyTelex
	PartyPrivate
	PartyNationalStandard
)

// PublicTypeOfNumber alternatives.
const (
	PublicUnknown = iota
	PublicInternationalNumber
	PublicNationalNumber
	PublicNetworkSpecificNumber
	PublicSubscriberNumber
	PublicAbbreviatedNumber
)

// PrivateTypeOfNumber alternatives.
const (
	PrivateUnknown = iota
	PrivateLevel2RegionalNumber
	PrivateLevel1RegionalNumber
	PrivatePISNSpecificNumber
	PrivateLocalNumber
	PrivateAbbreviatedNumber
)

func (x PartyNumber) enc(e *encoder) {
	if x.Choice >= 5 {
		encRaw(e, x.Choice, 5, x.Raw)
		return
	}
	e.choice(x.Choice, 5, true)
	if x.Choice == PartyE164 || x.Choice == PartyPrivate {
		encEnum(e, x.TypeOfNumber, 6, true)
	}
	e.chars(x.Digits, 1, 128, digitsAlph)
}

func (x *PartyNumber) dec(d *decoder) {
	idx, ext := d.choice(5, true)
	x.Choice = idx
	if ext {
		x.Raw = d.openRaw()
		return
	}
	if idx == PartyE164 || idx == PartyPrivate {
		x.TypeOfNumber = decEnum(d, 6, true)
	}
	x.Digits = d.chars(1, 128, digitsAlph)
}

func decPartyNumber(d *decoder) PartyNumber {
	var p PartyNumber
	p.dec(d)
	return p
}

// AddressPattern ::= CHOICE {wildcard AliasAddress, range SEQUENCE
// {startOfRange, endOfRange PartyNumber}, ...}.
type AddressPattern struct {
	Choice   int // PatternWildcard or PatternRange
	Wildcard AliasAddress
	Start    PartyNumber
	End      PartyNumber
	Raw      []byte
}

// AddressPattern alternatives.
const (
	PatternWildcard = iota
	PatternRange
)

func encPattern(e *encoder, x AddressPattern) {
	switch x.Choice {
	case PatternWildcard:
		e.choice(0, 2, true)
		encAlias(e, x.Wildcard)
	case PatternRange:
		e.choice(1, 2, true)
		x.Start.enc(e)
		x.End.enc(e)
	default:
		encRaw(e, x.Choice, 2, x.Raw)
	}
}

func decPattern(d *decoder) (x AddressPattern) {
	idx, ext := d.choice(2, true)
	x.Choice = idx
	switch {
	case ext:
		x.Raw = d.openRaw()
	case idx == PatternWildcard:
		x.Wildcard = decAlias(d)
	default:
		x.Start.dec(d)
		x.End.dec(d)
	}
	return x
}

// ---- EndpointType and what it holds ----

// VendorIdentifier ::= SEQUENCE {vendor, productId, versionId, ...,
// enterpriseNumber}.
type VendorIdentifier struct {
	Vendor           H221NonStandard
	ProductID        []byte // OCTET STRING (SIZE (1..256)), nil if absent
	VersionID        []byte
	EnterpriseNumber asn1.ObjectIdentifier // extension; nil if absent
}

func (x *VendorIdentifier) enc(e *encoder) {
	ext := newExt(1)
	ext.addIf(x.EnterpriseNumber != nil, 0, func(e *encoder) { e.oid(x.EnterpriseNumber) })
	e.bit(ext.present())
	e.optional(x.ProductID != nil, x.VersionID != nil)
	x.Vendor.enc(e)
	if x.ProductID != nil {
		e.octets(x.ProductID, 1, 256)
	}
	if x.VersionID != nil {
		e.octets(x.VersionID, 1, 256)
	}
	ext.encode(e)
}

func (x *VendorIdentifier) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(2)
	x.Vendor.dec(d)
	if o.has(0) {
		x.ProductID = d.octets(1, 256)
	}
	if o.has(1) {
		x.VersionID = d.octets(1, 256)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			if i == 0 {
				x.EnterpriseNumber = d.oid()
			}
		})
	}
}

// NonStandardOnly is the shape of GatekeeperInfo and TerminalInfo:
// SEQUENCE {nonStandardData OPTIONAL, ...}.
type NonStandardOnly struct {
	NonStandardData *NonStandardParameter
}

func (x *NonStandardOnly) enc(e *encoder) {
	e.bit(false)
	e.optional(x.NonStandardData != nil)
	if x.NonStandardData != nil {
		x.NonStandardData.enc(e)
	}
}

func decNonStandardOnly(d *decoder) *NonStandardOnly {
	x := new(NonStandardOnly)
	ext := d.bit()
	if d.optional(1).has(0) {
		x.NonStandardData = decNonStandard(d)
	}
	if ext {
		d.extensions(func(int, *decoder) {})
	}
	return x
}

// GatewayInfo ::= SEQUENCE {protocol SEQUENCE OF SupportedProtocols
// OPTIONAL, nonStandardData OPTIONAL, ...}.
type GatewayInfo struct {
	Protocol        []SupportedProtocols
	NonStandardData *NonStandardParameter
}

func (x *GatewayInfo) enc(e *encoder) {
	e.bit(false)
	e.optional(x.Protocol != nil, x.NonStandardData != nil)
	if x.Protocol != nil {
		encList(e, x.Protocol, encProtocol)
	}
	if x.NonStandardData != nil {
		x.NonStandardData.enc(e)
	}
}

func decGatewayInfo(d *decoder) *GatewayInfo {
	x := new(GatewayInfo)
	ext := d.bit()
	o := d.optional(2)
	if o.has(0) {
		x.Protocol = decList(d, true, decProtocol)
	}
	if o.has(1) {
		x.NonStandardData = decNonStandard(d)
	}
	if ext {
		d.extensions(func(int, *decoder) {})
	}
	return x
}

// McuInfo ::= SEQUENCE {nonStandardData OPTIONAL, ..., protocol SEQUENCE OF
// SupportedProtocols OPTIONAL}.
type McuInfo struct {
	NonStandardData *NonStandardParameter
	Protocol        []SupportedProtocols // extension
}

func (x *McuInfo) enc(e *encoder) {
	ext := newExt(1)
	ext.addIf(x.Protocol != nil, 0, func(e *encoder) { encList(e, x.Protocol, encProtocol) })
	e.bit(ext.present())
	e.optional(x.NonStandardData != nil)
	if x.NonStandardData != nil {
		x.NonStandardData.enc(e)
	}
	ext.encode(e)
}

func decMcuInfo(d *decoder) *McuInfo {
	x := new(McuInfo)
	ext := d.bit()
	if d.optional(1).has(0) {
		x.NonStandardData = decNonStandard(d)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			if i == 0 {
				x.Protocol = decList(d, true, decProtocol)
			}
		})
	}
	return x
}

// SupportedProtocols is the CHOICE SupportedProtocols. The alternatives
// from ProtocolH310 to ProtocolT120Only, ProtocolNonStandardProtocol and
// ProtocolSIP carry Caps; ProtocolT38FaxAnnexbOnly (its H.245 fax types)
// and unknown alternatives are kept encoded in Raw.
type SupportedProtocols struct {
	Choice          int
	NonStandardData *NonStandardParameter // ProtocolNonStandardData
	Caps            ProtocolCaps
	Raw             []byte
}

// SupportedProtocols alternatives.
const (
	ProtocolNonStandardData = iota
	ProtocolH310
	ProtocolH320
	ProtocolH321
	ProtocolH322
	ProtocolH323
	ProtocolH324
	ProtocolVoice
	ProtocolT120Only
	ProtocolNonStandardProtocol
	ProtocolT38FaxAnnexbOnly
	ProtocolSIP
)

const protocolRoot = 9

// ProtocolCaps holds H310Caps .. T120OnlyCaps, NonStandardProtocol and
// SIPCaps, which share these components (SupportedPrefixes is a mandatory
// extension addition of the first ones; nil leaves it out).
type ProtocolCaps struct {
	NonStandardData    *NonStandardParameter
	DataRatesSupported []DataRate
	SupportedPrefixes  []SupportedPrefix
}

func encProtocol(e *encoder, x SupportedProtocols) {
	c := &x.Caps
	switch {
	case x.Choice == ProtocolNonStandardData:
		e.choice(0, protocolRoot, true)
		if x.NonStandardData == nil {
			e.fail("nonStandardData protocol without data")
			return
		}
		x.NonStandardData.enc(e)
	case x.Choice < protocolRoot: // H310Caps .. T120OnlyCaps
		e.choice(x.Choice, protocolRoot, true)
		ext := newExt(2)
		ext.addIf(c.DataRatesSupported != nil, 0, func(e *encoder) { encList(e, c.DataRatesSupported, encDataRate) })
		ext.addIf(c.SupportedPrefixes != nil, 1, func(e *encoder) { encList(e, c.SupportedPrefixes, encPrefix) })
		e.bit(ext.present())
		e.optional(c.NonStandardData != nil)
		if c.NonStandardData != nil {
			c.NonStandardData.enc(e)
		}
		ext.encode(e)
	case x.Choice == ProtocolNonStandardProtocol || x.Choice == ProtocolSIP:
		e.choiceExt(x.Choice, protocolRoot, func(e *encoder) {
			sip := x.Choice == ProtocolSIP
			e.bit(false)
			e.optional(c.NonStandardData != nil, c.DataRatesSupported != nil)
			if sip {
				e.optional(c.SupportedPrefixes != nil)
			}
			if c.NonStandardData != nil {
				c.NonStandardData.enc(e)
			}
			if c.DataRatesSupported != nil {
				encList(e, c.DataRatesSupported, encDataRate)
			}
			if !sip || c.SupportedPrefixes != nil {
				encList(e, c.SupportedPrefixes, encPrefix)
			}
		})
	default:
		encRaw(e, x.Choice, protocolRoot, x.Raw)
	}
}

func decProtocol(d *decoder) (x SupportedProtocols) {
	idx, ext := d.choice(protocolRoot, true)
	x.Choice = idx
	c := &x.Caps
	switch {
	case !ext && idx == ProtocolNonStandardData:
		x.NonStandardData = decNonStandard(d)
	case !ext:
		x2 := d.bit()
		if d.optional(1).has(0) {
			c.NonStandardData = decNonStandard(d)
		}
		if x2 {
			d.extensions(func(i int, d *decoder) {
				switch i {
				case 0:
					c.DataRatesSupported = decList(d, true, decDataRate)
				case 1:
					c.SupportedPrefixes = decList(d, true, decPrefix)
				}
			})
		}
	case idx == ProtocolNonStandardProtocol || idx == ProtocolSIP:
		d.sub(func(d *decoder) {
			sip := idx == ProtocolSIP
			x2 := d.bit()
			o := d.optional(2)
			var hasPrefixes bool
			if sip {
				hasPrefixes = d.optional(1).has(0)
			}
			if o.has(0) {
				c.NonStandardData = decNonStandard(d)
			}
			if o.has(1) {
				c.DataRatesSupported = decList(d, true, decDataRate)
			}
			if !sip || hasPrefixes {
				c.SupportedPrefixes = decList(d, sip, decPrefix)
			}
			if x2 {
				d.extensions(func(int, *decoder) {})
			}
		})
	default:
		x.Raw = d.openRaw()
	}
	return x
}

// DataRate ::= SEQUENCE {nonStandardData OPTIONAL, channelRate BandWidth,
// channelMultiplier INTEGER (1..256) OPTIONAL, ...}.
type DataRate struct {
	NonStandardData   *NonStandardParameter
	ChannelRate       uint32
	ChannelMultiplier uint16 // 1..256; 0 if absent
}

func encDataRate(e *encoder, x DataRate) {
	e.bit(false)
	e.optional(x.NonStandardData != nil, x.ChannelMultiplier != 0)
	if x.NonStandardData != nil {
		x.NonStandardData.enc(e)
	}
	encU32(e, x.ChannelRate)
	if x.ChannelMultiplier != 0 {
		e.constrained(uint64(x.ChannelMultiplier), 1, 256)
	}
}

func decDataRate(d *decoder) (x DataRate) {
	ext := d.bit()
	o := d.optional(2)
	if o.has(0) {
		x.NonStandardData = decNonStandard(d)
	}
	x.ChannelRate = decU32(d)
	if o.has(1) {
		x.ChannelMultiplier = uint16(d.constrained(1, 256))
	}
	if ext {
		d.extensions(func(int, *decoder) {})
	}
	return x
}

// SupportedPrefix ::= SEQUENCE {nonStandardData OPTIONAL, prefix
// AliasAddress, ...}.
type SupportedPrefix struct {
	NonStandardData *NonStandardParameter
	Prefix          AliasAddress
}

func encPrefix(e *encoder, x SupportedPrefix) {
	e.bit(false)
	e.optional(x.NonStandardData != nil)
	if x.NonStandardData != nil {
		x.NonStandardData.enc(e)
	}
	encAlias(e, x.Prefix)
}

func decPrefix(d *decoder) (x SupportedPrefix) {
	ext := d.bit()
	if d.optional(1).has(0) {
		x.NonStandardData = decNonStandard(d)
	}
	x.Prefix = decAlias(d)
	if ext {
		d.extensions(func(int, *decoder) {})
	}
	return x
}

// TunnelledProtocol ::= SEQUENCE {id CHOICE {tunnelledProtocolObjectID,
// tunnelledProtocolAlternateID, ...}, subIdentifier IA5String (SIZE (1..64))
// OPTIONAL, ...}.
type TunnelledProtocol struct {
	IDChoice      int // TunnelledObjectID or TunnelledAlternateID
	ObjectID      asn1.ObjectIdentifier
	AlternateID   TunnelledProtocolAlternateIdentifier
	RawID         []byte // an unknown id alternative
	SubIdentifier string // "" if absent
}

// TunnelledProtocol id alternatives.
const (
	TunnelledObjectID = iota
	TunnelledAlternateID
)

// TunnelledProtocolAlternateIdentifier ::= SEQUENCE {protocolType,
// protocolVariant OPTIONAL, ...}, both IA5String (SIZE (1..64)).
type TunnelledProtocolAlternateIdentifier struct {
	ProtocolType    string
	ProtocolVariant string // "" if absent
}

func encTunnelled(e *encoder, x TunnelledProtocol) {
	e.bit(false)
	e.optional(x.SubIdentifier != "")
	switch x.IDChoice {
	case TunnelledObjectID:
		e.choice(0, 2, true)
		e.oid(x.ObjectID)
	case TunnelledAlternateID:
		e.choice(1, 2, true)
		a := x.AlternateID
		e.bit(false)
		e.optional(a.ProtocolVariant != "")
		e.chars(a.ProtocolType, 1, 64, ia5Alphabet)
		if a.ProtocolVariant != "" {
			e.chars(a.ProtocolVariant, 1, 64, ia5Alphabet)
		}
	default:
		encRaw(e, x.IDChoice, 2, x.RawID)
	}
	if x.SubIdentifier != "" {
		e.chars(x.SubIdentifier, 1, 64, ia5Alphabet)
	}
}

func decTunnelled(d *decoder) (x TunnelledProtocol) {
	ext := d.bit()
	o := d.optional(1)
	idx, idExt := d.choice(2, true)
	x.IDChoice = idx
	switch {
	case idExt:
		x.RawID = d.openRaw()
	case idx == TunnelledObjectID:
		x.ObjectID = d.oid()
	default:
		a := &x.AlternateID
		aext := d.bit()
		ao := d.optional(1)
		a.ProtocolType = d.chars(1, 64, ia5Alphabet)
		if ao.has(0) {
			a.ProtocolVariant = d.chars(1, 64, ia5Alphabet)
		}
		if aext {
			d.extensions(func(int, *decoder) {})
		}
	}
	if o.has(0) {
		x.SubIdentifier = d.chars(1, 64, ia5Alphabet)
	}
	if ext {
		d.extensions(func(int, *decoder) {})
	}
	return x
}

// EndpointType ::= SEQUENCE {nonStandardData, vendor, gatekeeper, gateway,
// mcu, terminal (all OPTIONAL), mc, undefinedNode, ..., set,
// supportedTunnelledProtocols}.
type EndpointType struct {
	NonStandardData *NonStandardParameter
	Vendor          *VendorIdentifier
	Gatekeeper      *NonStandardOnly // GatekeeperInfo
	Gateway         *GatewayInfo
	MCU             *McuInfo
	Terminal        *NonStandardOnly // TerminalInfo
	MC              bool
	UndefinedNode   bool
	// Extension additions.
	Set                         []byte // BIT STRING (SIZE (32)): 4 octets; nil if absent
	SupportedTunnelledProtocols []TunnelledProtocol
}

func (x *EndpointType) enc(e *encoder) {
	ext := newExt(2)
	ext.addIf(x.Set != nil, 0, func(e *encoder) { e.bitString(asn1.BitString{Bytes: x.Set, BitLength: 8 * len(x.Set)}, 32, 32) })
	ext.addIf(x.SupportedTunnelledProtocols != nil, 1, func(e *encoder) {
		encList(e, x.SupportedTunnelledProtocols, encTunnelled)
	})
	e.bit(ext.present())
	e.optional(x.NonStandardData != nil, x.Vendor != nil, x.Gatekeeper != nil, x.Gateway != nil, x.MCU != nil, x.Terminal != nil)
	if x.NonStandardData != nil {
		x.NonStandardData.enc(e)
	}
	if x.Vendor != nil {
		x.Vendor.enc(e)
	}
	if x.Gatekeeper != nil {
		x.Gatekeeper.enc(e)
	}
	if x.Gateway != nil {
		x.Gateway.enc(e)
	}
	if x.MCU != nil {
		x.MCU.enc(e)
	}
	if x.Terminal != nil {
		x.Terminal.enc(e)
	}
	e.bit(x.MC)
	e.bit(x.UndefinedNode)
	ext.encode(e)
}

func (x *EndpointType) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(6)
	if o.has(0) {
		x.NonStandardData = decNonStandard(d)
	}
	if o.has(1) {
		x.Vendor = new(VendorIdentifier)
		x.Vendor.dec(d)
	}
	if o.has(2) {
		x.Gatekeeper = decNonStandardOnly(d)
	}
	if o.has(3) {
		x.Gateway = decGatewayInfo(d)
	}
	if o.has(4) {
		x.MCU = decMcuInfo(d)
	}
	if o.has(5) {
		x.Terminal = decNonStandardOnly(d)
	}
	x.MC = d.bit()
	x.UndefinedNode = d.bit()
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 0:
				x.Set = d.bitString(32, 32).Bytes
			case 1:
				x.SupportedTunnelledProtocols = decList(d, true, decTunnelled)
			}
		})
	}
}

// ---- alternate gatekeepers ----

// AlternateGK ::= SEQUENCE {rasAddress, gatekeeperIdentifier OPTIONAL,
// needToRegister BOOLEAN, priority INTEGER (0..127), ...}.
type AlternateGK struct {
	RASAddress           TransportAddress
	GatekeeperIdentifier string // "" if absent
	NeedToRegister       bool
	Priority             uint8 // 0..127
}

func encAltGK(e *encoder, x AlternateGK) {
	e.bit(false)
	e.optional(x.GatekeeperIdentifier != "")
	encTransport(e, x.RASAddress)
	if x.GatekeeperIdentifier != "" {
		encIdentifier(e, x.GatekeeperIdentifier)
	}
	e.bit(x.NeedToRegister)
	e.constrained(uint64(x.Priority), 0, 127)
}

func decAltGK(d *decoder) (x AlternateGK) {
	ext := d.bit()
	o := d.optional(1)
	x.RASAddress = decTransport(d)
	if o.has(0) {
		x.GatekeeperIdentifier = decIdentifier(d)
	}
	x.NeedToRegister = d.bit()
	x.Priority = uint8(d.constrained(0, 127))
	if ext {
		d.extensions(func(int, *decoder) {})
	}
	return x
}

func decAltGKPtr(d *decoder) *AlternateGK {
	x := decAltGK(d)
	return &x
}

// AltGKInfo ::= SEQUENCE {alternateGatekeeper SEQUENCE OF AlternateGK,
// altGKisPermanent BOOLEAN, ...}.
type AltGKInfo struct {
	AlternateGatekeeper []AlternateGK
	AltGKIsPermanent    bool
}

func (x *AltGKInfo) enc(e *encoder) {
	e.bit(false)
	encList(e, x.AlternateGatekeeper, encAltGK)
	e.bit(x.AltGKIsPermanent)
}

func decAltGKInfo(d *decoder) *AltGKInfo {
	x := new(AltGKInfo)
	ext := d.bit()
	x.AlternateGatekeeper = decList(d, false, decAltGK)
	x.AltGKIsPermanent = d.bit()
	if ext {
		d.extensions(func(int, *decoder) {})
	}
	return x
}

// ---- call related ----

// CallIdentifier ::= SEQUENCE {guid GloballyUniqueID, ...}.
type CallIdentifier struct{ GUID GUID }

func (x CallIdentifier) enc(e *encoder) {
	e.bit(false)
	encGUID(e, x.GUID)
}

func decCallID(d *decoder) (x CallIdentifier) {
	ext := d.bit()
	x.GUID = decGUID(d)
	if ext {
		d.extensions(func(int, *decoder) {})
	}
	return x
}

// CallLinkage ::= SEQUENCE {globalCallId, threadId (GloballyUniqueID
// OPTIONAL), ...}.
type CallLinkage struct {
	GlobalCallID *GUID
	ThreadID     *GUID
}

func (x *CallLinkage) enc(e *encoder) {
	e.bit(false)
	e.optional(x.GlobalCallID != nil, x.ThreadID != nil)
	if x.GlobalCallID != nil {
		encGUID(e, *x.GlobalCallID)
	}
	if x.ThreadID != nil {
		encGUID(e, *x.ThreadID)
	}
}

func decCallLinkage(d *decoder) *CallLinkage {
	x := new(CallLinkage)
	ext := d.bit()
	o := d.optional(2)
	if o.has(0) {
		g := decGUID(d)
		x.GlobalCallID = &g
	}
	if o.has(1) {
		g := decGUID(d)
		x.ThreadID = &g
	}
	if ext {
		d.extensions(func(int, *decoder) {})
	}
	return x
}

// CallType alternatives (CHOICE of NULL, extensible).
const (
	CallPointToPoint = iota
	CallOneToN
	CallNToOne
	CallNToN
)

// CallModel alternatives.
const (
	CallModelDirect = iota
	CallModelGatekeeperRouted
)

func encCallType(e *encoder, v int)  { encEnum(e, v, 4, true) }
func decCallType(d *decoder) int     { return decEnum(d, 4, true) }
func encCallModel(e *encoder, v int) { encEnum(e, v, 2, true) }
func decCallModel(d *decoder) int    { return decEnum(d, 2, true) }

// QseriesOptions ::= SEQUENCE {q932Full .. q957Full BOOLEAN, q954Info
// Q954Details, ...}.
type QseriesOptions struct {
	Q932Full, Q951Full, Q952Full, Q953Full, Q955Full, Q956Full, Q957Full bool
	Q954Info                                                             Q954Details
}

// Q954Details ::= SEQUENCE {conferenceCalling, threePartyService, ...}.
type Q954Details struct {
	ConferenceCalling bool
	ThreePartyService bool
}

func (x *QseriesOptions) enc(e *encoder) {
	e.bit(false)
	for _, b := range []bool{x.Q932Full, x.Q951Full, x.Q952Full, x.Q953Full, x.Q955Full, x.Q956Full, x.Q957Full} {
		e.bit(b)
	}
	e.bit(false)
	e.bit(x.Q954Info.ConferenceCalling)
	e.bit(x.Q954Info.ThreePartyService)
}

func decQseries(d *decoder) *QseriesOptions {
	x := new(QseriesOptions)
	ext := d.bit()
	for _, b := range []*bool{&x.Q932Full, &x.Q951Full, &x.Q952Full, &x.Q953Full, &x.Q955Full, &x.Q956Full, &x.Q957Full} {
		*b = d.bit()
	}
	qext := d.bit()
	x.Q954Info.ConferenceCalling = d.bit()
	x.Q954Info.ThreePartyService = d.bit()
	if qext {
		d.extensions(func(int, *decoder) {})
	}
	if ext {
		d.extensions(func(int, *decoder) {})
	}
	return x
}

// TransportQOS ::= CHOICE {endpointControlled, gatekeeperControlled,
// noControl, ..., qOSCapabilities}. qOSCapabilities (H.245 QOSCapability)
// is kept encoded in Raw.
type TransportQOS struct {
	Choice int
	Raw    []byte
}

// TransportQOS alternatives.
const (
	QOSEndpointControlled = iota
	QOSGatekeeperControlled
	QOSNoControl
	QOSCapabilities
)

func (x *TransportQOS) enc(e *encoder) {
	if x.Choice < 3 {
		e.choice(x.Choice, 3, true)
		return
	}
	encRaw(e, x.Choice, 3, x.Raw)
}

func decTransportQOS(d *decoder) *TransportQOS {
	x := new(TransportQOS)
	idx, ext := d.choice(3, true)
	x.Choice = idx
	if ext {
		x.Raw = d.openRaw()
	}
	return x
}

// UUIEsRequested ::= SEQUENCE {setup .. empty BOOLEAN, ..., status,
// statusInquiry, setupAcknowledge, notify BOOLEAN}. The four extension
// additions are mandatory and always written.
type UUIEsRequested struct {
	Setup, CallProceeding, Connect, Alerting, Information, ReleaseComplete,
	Facility, Progress, Empty bool
	Status, StatusInquiry, SetupAcknowledge, Notify bool
}

func (x *UUIEsRequested) enc(e *encoder) {
	ext := newExt(4)
	for i, b := range []bool{x.Status, x.StatusInquiry, x.SetupAcknowledge, x.Notify} {
		ext.add(i, func(e *encoder) { e.bit(b) })
	}
	e.bit(true)
	for _, b := range []bool{x.Setup, x.CallProceeding, x.Connect, x.Alerting, x.Information, x.ReleaseComplete, x.Facility, x.Progress, x.Empty} {
		e.bit(b)
	}
	ext.encode(e)
}

func (x *UUIEsRequested) dec(d *decoder) {
	ext := d.bit()
	for _, b := range []*bool{&x.Setup, &x.CallProceeding, &x.Connect, &x.Alerting, &x.Information, &x.ReleaseComplete, &x.Facility, &x.Progress, &x.Empty} {
		*b = d.bit()
	}
	if ext {
		adds := []*bool{&x.Status, &x.StatusInquiry, &x.SetupAcknowledge, &x.Notify}
		d.extensions(func(i int, d *decoder) {
			if i < len(adds) {
				*adds[i] = d.bit()
			}
		})
	}
}

func decUUIEs(d *decoder) *UUIEsRequested {
	x := new(UUIEsRequested)
	x.dec(d)
	return x
}

// AlternateTransportAddresses ::= SEQUENCE {annexE SEQUENCE OF
// TransportAddress OPTIONAL, ..., sctp SEQUENCE OF TransportAddress
// OPTIONAL}.
type AlternateTransportAddresses struct {
	AnnexE []TransportAddress
	SCTP   []TransportAddress // extension
}

func (x *AlternateTransportAddresses) enc(e *encoder) {
	ext := newExt(1)
	ext.addIf(x.SCTP != nil, 0, func(e *encoder) { encList(e, x.SCTP, encTransport) })
	e.bit(ext.present())
	e.optional(x.AnnexE != nil)
	if x.AnnexE != nil {
		encList(e, x.AnnexE, encTransport)
	}
	ext.encode(e)
}

func decAltTransport(d *decoder) *AlternateTransportAddresses {
	x := new(AlternateTransportAddresses)
	ext := d.bit()
	if d.optional(1).has(0) {
		x.AnnexE = decList(d, true, decTransport)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			if i == 0 {
				x.SCTP = decList(d, true, decTransport)
			}
		})
	}
	return x
}

// UseSpecifiedTransport alternatives (tcp, annexE, ..., sctp).
const (
	TransportTCP = iota
	TransportAnnexE
	TransportSCTP
)

// RehomingModel alternatives (CHOICE {gatekeeperBased, endpointBased},
// not extensible).
const (
	RehomingGatekeeperBased = iota
	RehomingEndpointBased
)

// ICV ::= SEQUENCE {algorithmOID OBJECT IDENTIFIER, icv BIT STRING}.
type ICV struct {
	AlgorithmOID asn1.ObjectIdentifier
	ICV          asn1.BitString
}

func (x *ICV) enc(e *encoder) {
	e.oid(x.AlgorithmOID)
	e.bitString(x.ICV, 0, -1)
}

func decICV(d *decoder) *ICV {
	x := new(ICV)
	x.AlgorithmOID = d.oid()
	x.ICV = d.bitString(0, -1)
	return x
}

// SecurityErrors (16 root alternatives) and SecurityErrors2 (6), CHOICEs
// of NULL, carried as their index.
const (
	SecurityWrongSyncTime = iota
	SecurityReplay
	SecurityWrongGeneralID
	SecurityWrongSendersID
	SecurityIntegrityFailed
	SecurityWrongOID
	SecurityDHmismatch
	SecurityCertificateExpired
	SecurityCertificateDateInvalid
	SecurityCertificateRevoked
	SecurityCertificateNotReadable
	SecurityCertificateSignatureInvalid
	SecurityCertificateMissing
	SecurityCertificateIncomplete
	SecurityUnsupportedCertificateAlgOID
	SecurityUnknownCA
)

func encSecurityErrors(e *encoder, v int)  { encEnum(e, v, 16, true) }
func decSecurityErrors(d *decoder) int     { return decEnum(d, 16, true) }
func encSecurityErrors2(e *encoder, v int) { encEnum(e, v, 6, true) }
func decSecurityErrors2(d *decoder) int    { return decEnum(d, 6, true) }

// String forms, for logs.

func (a IPAddress) String() string  { return a.AddrPort().String() }
func (a IP6Address) String() string { return a.AddrPort().String() }
func (p PartyNumber) String() string {
	return fmt.Sprintf("partyNumber(%d:%s)", p.Choice, p.Digits)
}
