package ras

import "encoding/asn1"

// The RAS messages: one struct per SEQUENCE of the ASN.1, root components
// first, then the extension additions this package implements, each
// commented with its index among the type's additions. Every encoder writes
// an extension bitmap as long as the type's full list of additions, which is
// what makes it byte-identical to other encoders; mandatory additions
// (BOOLEANs, callIdentifier...) are always written, as a current endpoint
// does. Additions this package does not implement are skipped on decoding.

// Message is the CHOICE RasMessage: one of the message types below, or
// *UnknownMessage.
type Message interface {
	// MessageIndex is the RasMessage alternative's index.
	MessageIndex() int
	enc(*encoder)
	dec(*decoder)
}

// RasMessage alternatives, by index.
const (
	IndexGatekeeperRequest = iota
	IndexGatekeeperConfirm
	IndexGatekeeperReject
	IndexRegistrationRequest
	IndexRegistrationConfirm
	IndexRegistrationReject
	IndexUnregistrationRequest
	IndexUnregistrationConfirm
	IndexUnregistrationReject
	IndexAdmissionRequest
	IndexAdmissionConfirm
	IndexAdmissionReject
	IndexBandwidthRequest
	IndexBandwidthConfirm
	IndexBandwidthReject
	IndexDisengageRequest
	IndexDisengageConfirm
	IndexDisengageReject
	IndexLocationRequest
	IndexLocationConfirm
	IndexLocationReject
	IndexInfoRequest
	IndexInfoRequestResponse
	IndexNonStandardMessage
	IndexUnknownMessageResponse
	// Extension alternatives.
	IndexRequestInProgress
	IndexResourcesAvailableIndicate
	IndexResourcesAvailableConfirm
	IndexInfoRequestAck
	IndexInfoRequestNak
	IndexServiceControlIndication
	IndexServiceControlResponse
	IndexAdmissionConfirmSequence
)

const rasRoot = 25

func newMessage(idx int) Message {
	switch idx {
	case IndexGatekeeperRequest:
		return new(GatekeeperRequest)
	case IndexGatekeeperConfirm:
		return new(GatekeeperConfirm)
	case IndexGatekeeperReject:
		return new(GatekeeperReject)
	case IndexRegistrationRequest:
		return new(RegistrationRequest)
	case IndexRegistrationConfirm:
		return new(RegistrationConfirm)
	case IndexRegistrationReject:
		return new(RegistrationReject)
	case IndexUnregistrationRequest:
		return new(UnregistrationRequest)
	case IndexUnregistrationConfirm:
		return new(UnregistrationConfirm)
	case IndexUnregistrationReject:
		return new(UnregistrationReject)
	case IndexAdmissionRequest:
		return new(AdmissionRequest)
	case IndexAdmissionConfirm:
		return new(AdmissionConfirm)
	case IndexAdmissionReject:
		return new(AdmissionReject)
	case IndexBandwidthRequest:
		return new(BandwidthRequest)
	case IndexBandwidthConfirm:
		return new(BandwidthConfirm)
	case IndexBandwidthReject:
		return new(BandwidthReject)
	case IndexDisengageRequest:
		return new(DisengageRequest)
	case IndexDisengageConfirm:
		return new(DisengageConfirm)
	case IndexDisengageReject:
		return new(DisengageReject)
	case IndexLocationRequest:
		return new(LocationRequest)
	case IndexLocationConfirm:
		return new(LocationConfirm)
	case IndexLocationReject:
		return new(LocationReject)
	case IndexInfoRequest:
		return new(InfoRequest)
	case IndexInfoRequestResponse:
		return new(InfoRequestResponse)
	case IndexNonStandardMessage:
		return new(NonStandardMessage)
	case IndexUnknownMessageResponse:
		return new(UnknownMessageResponse)
	case IndexRequestInProgress:
		return new(RequestInProgress)
	case IndexInfoRequestAck:
		return new(InfoRequestAck)
	case IndexInfoRequestNak:
		return new(InfoRequestNak)
	}
	return nil
}

// UnknownMessage is a RasMessage extension alternative this package does
// not decode (resourcesAvailableIndicate/Confirm, serviceControlIndication/
// Response, admissionConfirmSequence, later ones), kept encoded.
type UnknownMessage struct {
	Index int
	Raw   []byte
}

func (m *UnknownMessage) MessageIndex() int { return m.Index }
func (m *UnknownMessage) enc(e *encoder)    { e.octetsRaw(m.Raw) }
func (m *UnknownMessage) dec(d *decoder)    {}

// Marshal encodes m as a RasMessage.
func Marshal(m Message) ([]byte, error) {
	var e encoder
	switch {
	case m == nil:
		e.fail("nil message")
	case m.MessageIndex() < rasRoot:
		e.choice(m.MessageIndex(), rasRoot, true)
		m.enc(&e)
	default:
		if u, ok := m.(*UnknownMessage); ok {
			encRaw(&e, u.Index, rasRoot, u.Raw)
		} else {
			e.choiceExt(m.MessageIndex(), rasRoot, m.enc)
		}
	}
	if e.err != nil {
		return nil, e.err
	}
	return e.bytes(), nil
}

// Unmarshal decodes a RasMessage. It never panics, and allocates at most in
// proportion to len(b): every length is checked against the input left.
func Unmarshal(b []byte) (Message, error) {
	d := newDecoder(b)
	idx, ext := d.choice(rasRoot, true)
	m := newMessage(idx)
	switch {
	case d.err != nil:
	case !ext:
		m.dec(d)
	case m == nil:
		m = &UnknownMessage{Index: idx, Raw: d.openRaw()}
	default:
		d.sub(m.dec)
	}
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}

// helpers for the optional components shared by many messages

func encOptNonStd(e *encoder, x *NonStandardParameter) {
	if x != nil {
		x.enc(e)
	}
}

func encOptID(e *encoder, s string) {
	if s != "" {
		encIdentifier(e, s)
	}
}

func addAltGKs(x *extensions, idx int, gks []AlternateGK) {
	x.addIf(gks != nil, idx, func(e *encoder) { encList(e, gks, encAltGK) })
}

func addAssignedGK(x *extensions, idx int, gk *AlternateGK) {
	x.addIf(gk != nil, idx, func(e *encoder) { encAltGK(e, *gk) })
}

func addAltGKInfo(x *extensions, idx int, a *AltGKInfo) {
	x.addIf(a != nil, idx, func(e *encoder) { a.enc(e) })
}

func addBool(x *extensions, idx int, b bool) {
	x.add(idx, func(e *encoder) { e.bit(b) })
}

func addOptBool(x *extensions, idx int, b *bool) {
	x.addIf(b != nil, idx, func(e *encoder) { e.bit(*b) })
}

func addNull(x *extensions, idx int, present bool) {
	x.addIf(present, idx, func(*encoder) {})
}

func addAliases(x *extensions, idx int, as []AliasAddress) {
	x.addIf(as != nil, idx, func(e *encoder) { encAliases(e, as) })
}

func addLanguage(x *extensions, idx int, ls []string) {
	x.addIf(ls != nil, idx, func(e *encoder) {
		encList(e, ls, func(e *encoder, s string) { e.chars(s, 1, 32, ia5Alphabet) })
	})
}

func decLanguage(d *decoder) []string {
	return decList(d, true, func(d *decoder) string { return d.chars(1, 32, ia5Alphabet) })
}

func decOptBool(d *decoder) *bool {
	b := d.bit()
	return &b
}

func encBandwidth(e *encoder, v uint32) { encU32(e, v) }
func decBandwidth(d *decoder) uint32    { return decU32(d) }

// ---- GRQ / GCF / GRJ ----

// GatekeeperRequest is GRQ.
type GatekeeperRequest struct {
	RequestSeqNum        uint16
	ProtocolIdentifier   asn1.ObjectIdentifier
	NonStandardData      *NonStandardParameter
	RASAddress           TransportAddress
	EndpointType         EndpointType
	GatekeeperIdentifier string // "" if absent
	CallServices         *QseriesOptions
	EndpointAlias        []AliasAddress
	// Extension additions (12).
	AlgorithmOIDs      []asn1.ObjectIdentifier // 4
	SupportsAltGK      bool                    // 7 (NULL)
	SupportsAssignedGK bool                    // 10
	AssignedGatekeeper *AlternateGK            // 11
}

func (*GatekeeperRequest) MessageIndex() int { return IndexGatekeeperRequest }

func (m *GatekeeperRequest) enc(e *encoder) {
	x := newExt(12)
	x.addIf(m.AlgorithmOIDs != nil, 4, func(e *encoder) { encList(e, m.AlgorithmOIDs, (*encoder).oid) })
	addNull(x, 7, m.SupportsAltGK)
	addBool(x, 10, m.SupportsAssignedGK)
	addAssignedGK(x, 11, m.AssignedGatekeeper)
	e.bit(x.present())
	e.optional(m.NonStandardData != nil, m.GatekeeperIdentifier != "", m.CallServices != nil, m.EndpointAlias != nil)
	encSeqNum(e, m.RequestSeqNum)
	e.oid(m.ProtocolIdentifier)
	encOptNonStd(e, m.NonStandardData)
	encTransport(e, m.RASAddress)
	m.EndpointType.enc(e)
	encOptID(e, m.GatekeeperIdentifier)
	if m.CallServices != nil {
		m.CallServices.enc(e)
	}
	if m.EndpointAlias != nil {
		encAliases(e, m.EndpointAlias)
	}
	x.encode(e)
}

func (m *GatekeeperRequest) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(4)
	m.RequestSeqNum = decSeqNum(d)
	m.ProtocolIdentifier = d.oid()
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	m.RASAddress = decTransport(d)
	m.EndpointType.dec(d)
	if o.has(1) {
		m.GatekeeperIdentifier = decIdentifier(d)
	}
	if o.has(2) {
		m.CallServices = decQseries(d)
	}
	if o.has(3) {
		m.EndpointAlias = decAliases(d, true)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 4:
				m.AlgorithmOIDs = decList(d, true, (*decoder).oid)
			case 7:
				m.SupportsAltGK = true
			case 10:
				m.SupportsAssignedGK = d.bit()
			case 11:
				m.AssignedGatekeeper = decAltGKPtr(d)
			}
		})
	}
}

// GatekeeperConfirm is GCF.
type GatekeeperConfirm struct {
	RequestSeqNum        uint16
	ProtocolIdentifier   asn1.ObjectIdentifier
	NonStandardData      *NonStandardParameter
	GatekeeperIdentifier string
	RASAddress           TransportAddress
	// Extension additions (11).
	AlternateGatekeeper []AlternateGK         // 0
	AlgorithmOID        asn1.ObjectIdentifier // 4
	AssignedGatekeeper  *AlternateGK          // 9
	RehomingModel       *int                  // 10: RehomingGatekeeperBased or RehomingEndpointBased
}

func (*GatekeeperConfirm) MessageIndex() int { return IndexGatekeeperConfirm }

func (m *GatekeeperConfirm) enc(e *encoder) {
	x := newExt(11)
	addAltGKs(x, 0, m.AlternateGatekeeper)
	x.addIf(m.AlgorithmOID != nil, 4, func(e *encoder) { e.oid(m.AlgorithmOID) })
	addAssignedGK(x, 9, m.AssignedGatekeeper)
	x.addIf(m.RehomingModel != nil, 10, func(e *encoder) { encEnum(e, *m.RehomingModel, 2, false) })
	e.bit(x.present())
	e.optional(m.NonStandardData != nil, m.GatekeeperIdentifier != "")
	encSeqNum(e, m.RequestSeqNum)
	e.oid(m.ProtocolIdentifier)
	encOptNonStd(e, m.NonStandardData)
	encOptID(e, m.GatekeeperIdentifier)
	encTransport(e, m.RASAddress)
	x.encode(e)
}

func (m *GatekeeperConfirm) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(2)
	m.RequestSeqNum = decSeqNum(d)
	m.ProtocolIdentifier = d.oid()
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	if o.has(1) {
		m.GatekeeperIdentifier = decIdentifier(d)
	}
	m.RASAddress = decTransport(d)
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 0:
				m.AlternateGatekeeper = decList(d, true, decAltGK)
			case 4:
				m.AlgorithmOID = d.oid()
			case 9:
				m.AssignedGatekeeper = decAltGKPtr(d)
			case 10:
				v := decEnum(d, 2, false)
				m.RehomingModel = &v
			}
		})
	}
}

// GatekeeperReject is GRJ.
type GatekeeperReject struct {
	RequestSeqNum        uint16
	ProtocolIdentifier   asn1.ObjectIdentifier
	NonStandardData      *NonStandardParameter
	GatekeeperIdentifier string
	RejectReason         GatekeeperRejectReason
	// Extension additions (6).
	AltGKInfo *AltGKInfo // 0
}

func (*GatekeeperReject) MessageIndex() int { return IndexGatekeeperReject }

func (m *GatekeeperReject) enc(e *encoder) {
	x := newExt(6)
	addAltGKInfo(x, 0, m.AltGKInfo)
	e.bit(x.present())
	e.optional(m.NonStandardData != nil, m.GatekeeperIdentifier != "")
	encSeqNum(e, m.RequestSeqNum)
	e.oid(m.ProtocolIdentifier)
	encOptNonStd(e, m.NonStandardData)
	encOptID(e, m.GatekeeperIdentifier)
	grjSpec.enc(e, m.RejectReason.view())
	x.encode(e)
}

func (m *GatekeeperReject) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(2)
	m.RequestSeqNum = decSeqNum(d)
	m.ProtocolIdentifier = d.oid()
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	if o.has(1) {
		m.GatekeeperIdentifier = decIdentifier(d)
	}
	grjSpec.dec(d, m.RejectReason.view())
	if ext {
		d.extensions(func(i int, d *decoder) {
			if i == 0 {
				m.AltGKInfo = decAltGKInfo(d)
			}
		})
	}
}

// ---- RRQ / RCF / RRJ ----

// RegistrationRequest is RRQ. A lightweight (keep-alive) RRQ sets KeepAlive
// and carries EndpointIdentifier, GatekeeperIdentifier and TimeToLive.
type RegistrationRequest struct {
	RequestSeqNum        uint16
	ProtocolIdentifier   asn1.ObjectIdentifier
	NonStandardData      *NonStandardParameter
	DiscoveryComplete    bool
	CallSignalAddress    []TransportAddress
	RASAddress           []TransportAddress
	TerminalType         EndpointType
	TerminalAlias        []AliasAddress
	GatekeeperIdentifier string
	EndpointVendor       VendorIdentifier
	// Extension additions (27).
	TimeToLive                  uint32                       // 1; 0 if absent
	KeepAlive                   bool                         // 5
	EndpointIdentifier          string                       // 6
	WillSupplyUUIEs             bool                         // 7
	MaintainConnection          bool                         // 8
	AlternateTransportAddresses *AlternateTransportAddresses // 9
	AdditiveRegistration        bool                         // 10 (NULL)
	TerminalAliasPattern        []AddressPattern             // 11
	SupportsAltGK               bool                         // 12 (NULL)
	MultipleCalls               *bool                        // 14
	Restart                     bool                         // 21 (NULL)
	SupportsACFSequences        bool                         // 22 (NULL)
	SupportsAssignedGK          bool                         // 23
	AssignedGatekeeper          *AlternateGK                 // 24
	TransportQOS                *TransportQOS                // 25
	Language                    []string                     // 26
}

func (*RegistrationRequest) MessageIndex() int { return IndexRegistrationRequest }

func (m *RegistrationRequest) enc(e *encoder) {
	x := newExt(27)
	x.addIf(m.TimeToLive != 0, 1, func(e *encoder) { encTTL(e, m.TimeToLive) })
	addBool(x, 5, m.KeepAlive)
	x.addIf(m.EndpointIdentifier != "", 6, func(e *encoder) { encIdentifier(e, m.EndpointIdentifier) })
	addBool(x, 7, m.WillSupplyUUIEs)
	addBool(x, 8, m.MaintainConnection)
	x.addIf(m.AlternateTransportAddresses != nil, 9, m.AlternateTransportAddresses.enc)
	addNull(x, 10, m.AdditiveRegistration)
	x.addIf(m.TerminalAliasPattern != nil, 11, func(e *encoder) { encList(e, m.TerminalAliasPattern, encPattern) })
	addNull(x, 12, m.SupportsAltGK)
	addOptBool(x, 14, m.MultipleCalls)
	addNull(x, 21, m.Restart)
	addNull(x, 22, m.SupportsACFSequences)
	addBool(x, 23, m.SupportsAssignedGK)
	addAssignedGK(x, 24, m.AssignedGatekeeper)
	x.addIf(m.TransportQOS != nil, 25, m.TransportQOS.enc)
	addLanguage(x, 26, m.Language)
	e.bit(x.present())
	e.optional(m.NonStandardData != nil, m.TerminalAlias != nil, m.GatekeeperIdentifier != "")
	encSeqNum(e, m.RequestSeqNum)
	e.oid(m.ProtocolIdentifier)
	encOptNonStd(e, m.NonStandardData)
	e.bit(m.DiscoveryComplete)
	encList(e, m.CallSignalAddress, encTransport)
	encList(e, m.RASAddress, encTransport)
	m.TerminalType.enc(e)
	if m.TerminalAlias != nil {
		encAliases(e, m.TerminalAlias)
	}
	encOptID(e, m.GatekeeperIdentifier)
	m.EndpointVendor.enc(e)
	x.encode(e)
}

func (m *RegistrationRequest) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(3)
	m.RequestSeqNum = decSeqNum(d)
	m.ProtocolIdentifier = d.oid()
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	m.DiscoveryComplete = d.bit()
	m.CallSignalAddress = decList(d, false, decTransport)
	m.RASAddress = decList(d, false, decTransport)
	m.TerminalType.dec(d)
	if o.has(1) {
		m.TerminalAlias = decAliases(d, true)
	}
	if o.has(2) {
		m.GatekeeperIdentifier = decIdentifier(d)
	}
	m.EndpointVendor.dec(d)
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 1:
				m.TimeToLive = decTTL(d)
			case 5:
				m.KeepAlive = d.bit()
			case 6:
				m.EndpointIdentifier = decIdentifier(d)
			case 7:
				m.WillSupplyUUIEs = d.bit()
			case 8:
				m.MaintainConnection = d.bit()
			case 9:
				m.AlternateTransportAddresses = decAltTransport(d)
			case 10:
				m.AdditiveRegistration = true
			case 11:
				m.TerminalAliasPattern = decList(d, true, decPattern)
			case 12:
				m.SupportsAltGK = true
			case 14:
				m.MultipleCalls = decOptBool(d)
			case 21:
				m.Restart = true
			case 22:
				m.SupportsACFSequences = true
			case 23:
				m.SupportsAssignedGK = d.bit()
			case 24:
				m.AssignedGatekeeper = decAltGKPtr(d)
			case 25:
				m.TransportQOS = decTransportQOS(d)
			case 26:
				m.Language = decLanguage(d)
			}
		})
	}
}

// PreGrantedARQ is RegistrationConfirm's preGrantedARQ.
type PreGrantedARQ struct {
	MakeCall                         bool
	UseGKCallSignalAddressToMakeCall bool
	AnswerCall                       bool
	UseGKCallSignalAddressToAnswer   bool
	// Extension additions (4).
	IRRFrequencyInCall          uint16                       // 0: 1..65535; 0 if absent
	TotalBandwidthRestriction   *uint32                      // 1
	AlternateTransportAddresses *AlternateTransportAddresses // 2
	UseSpecifiedTransport       *int                         // 3: TransportTCP, TransportAnnexE, TransportSCTP
}

func (p *PreGrantedARQ) enc(e *encoder) {
	x := newExt(4)
	x.addIf(p.IRRFrequencyInCall != 0, 0, func(e *encoder) { e.constrained(uint64(p.IRRFrequencyInCall), 1, 65535) })
	x.addIf(p.TotalBandwidthRestriction != nil, 1, func(e *encoder) { encBandwidth(e, *p.TotalBandwidthRestriction) })
	x.addIf(p.AlternateTransportAddresses != nil, 2, p.AlternateTransportAddresses.enc)
	x.addIf(p.UseSpecifiedTransport != nil, 3, func(e *encoder) { encEnum(e, *p.UseSpecifiedTransport, 2, true) })
	e.bit(x.present())
	e.bit(p.MakeCall)
	e.bit(p.UseGKCallSignalAddressToMakeCall)
	e.bit(p.AnswerCall)
	e.bit(p.UseGKCallSignalAddressToAnswer)
	x.encode(e)
}

func decPreGranted(d *decoder) *PreGrantedARQ {
	p := new(PreGrantedARQ)
	ext := d.bit()
	p.MakeCall = d.bit()
	p.UseGKCallSignalAddressToMakeCall = d.bit()
	p.AnswerCall = d.bit()
	p.UseGKCallSignalAddressToAnswer = d.bit()
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 0:
				p.IRRFrequencyInCall = uint16(d.constrained(1, 65535))
			case 1:
				v := decBandwidth(d)
				p.TotalBandwidthRestriction = &v
			case 2:
				p.AlternateTransportAddresses = decAltTransport(d)
			case 3:
				v := decEnum(d, 2, true)
				p.UseSpecifiedTransport = &v
			}
		})
	}
	return p
}

// RegistrationConfirm is RCF.
type RegistrationConfirm struct {
	RequestSeqNum        uint16
	ProtocolIdentifier   asn1.ObjectIdentifier
	NonStandardData      *NonStandardParameter
	CallSignalAddress    []TransportAddress
	TerminalAlias        []AliasAddress
	GatekeeperIdentifier string
	EndpointIdentifier   string
	// Extension additions (20).
	AlternateGatekeeper          []AlternateGK     // 0
	TimeToLive                   uint32            // 1; 0 if absent
	WillRespondToIRR             bool              // 5
	PreGrantedARQ                *PreGrantedARQ    // 6
	MaintainConnection           bool              // 7
	SupportsAdditiveRegistration bool              // 9 (NULL)
	TerminalAliasPattern         []AddressPattern  // 10
	SupportedPrefixes            []SupportedPrefix // 11
	FeatureServerAlias           AliasAddress      // 13; nil if absent
	AssignedGatekeeper           *AlternateGK      // 17
	RehomingModel                *int              // 18
	TransportQOS                 *TransportQOS     // 19
}

func (*RegistrationConfirm) MessageIndex() int { return IndexRegistrationConfirm }

func (m *RegistrationConfirm) enc(e *encoder) {
	x := newExt(20)
	addAltGKs(x, 0, m.AlternateGatekeeper)
	x.addIf(m.TimeToLive != 0, 1, func(e *encoder) { encTTL(e, m.TimeToLive) })
	addBool(x, 5, m.WillRespondToIRR)
	x.addIf(m.PreGrantedARQ != nil, 6, m.PreGrantedARQ.enc)
	addBool(x, 7, m.MaintainConnection)
	addNull(x, 9, m.SupportsAdditiveRegistration)
	x.addIf(m.TerminalAliasPattern != nil, 10, func(e *encoder) { encList(e, m.TerminalAliasPattern, encPattern) })
	x.addIf(m.SupportedPrefixes != nil, 11, func(e *encoder) { encList(e, m.SupportedPrefixes, encPrefix) })
	x.addIf(m.FeatureServerAlias != nil, 13, func(e *encoder) { encAlias(e, m.FeatureServerAlias) })
	addAssignedGK(x, 17, m.AssignedGatekeeper)
	x.addIf(m.RehomingModel != nil, 18, func(e *encoder) { encEnum(e, *m.RehomingModel, 2, false) })
	x.addIf(m.TransportQOS != nil, 19, m.TransportQOS.enc)
	e.bit(x.present())
	e.optional(m.NonStandardData != nil, m.TerminalAlias != nil, m.GatekeeperIdentifier != "")
	encSeqNum(e, m.RequestSeqNum)
	e.oid(m.ProtocolIdentifier)
	encOptNonStd(e, m.NonStandardData)
	encList(e, m.CallSignalAddress, encTransport)
	if m.TerminalAlias != nil {
		encAliases(e, m.TerminalAlias)
	}
	encOptID(e, m.GatekeeperIdentifier)
	encIdentifier(e, m.EndpointIdentifier)
	x.encode(e)
}

func (m *RegistrationConfirm) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(3)
	m.RequestSeqNum = decSeqNum(d)
	m.ProtocolIdentifier = d.oid()
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	m.CallSignalAddress = decList(d, false, decTransport)
	if o.has(1) {
		m.TerminalAlias = decAliases(d, true)
	}
	if o.has(2) {
		m.GatekeeperIdentifier = decIdentifier(d)
	}
	m.EndpointIdentifier = decIdentifier(d)
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 0:
				m.AlternateGatekeeper = decList(d, true, decAltGK)
			case 1:
				m.TimeToLive = decTTL(d)
			case 5:
				m.WillRespondToIRR = d.bit()
			case 6:
				m.PreGrantedARQ = decPreGranted(d)
			case 7:
				m.MaintainConnection = d.bit()
			case 9:
				m.SupportsAdditiveRegistration = true
			case 10:
				m.TerminalAliasPattern = decList(d, true, decPattern)
			case 11:
				m.SupportedPrefixes = decList(d, true, decPrefix)
			case 13:
				m.FeatureServerAlias = decAlias(d)
			case 17:
				m.AssignedGatekeeper = decAltGKPtr(d)
			case 18:
				v := decEnum(d, 2, false)
				m.RehomingModel = &v
			case 19:
				m.TransportQOS = decTransportQOS(d)
			}
		})
	}
}

// RegistrationReject is RRJ.
type RegistrationReject struct {
	RequestSeqNum        uint16
	ProtocolIdentifier   asn1.ObjectIdentifier
	NonStandardData      *NonStandardParameter
	RejectReason         RegistrationRejectReason
	GatekeeperIdentifier string
	// Extension additions (7).
	AltGKInfo          *AltGKInfo   // 0
	AssignedGatekeeper *AlternateGK // 6
}

func (*RegistrationReject) MessageIndex() int { return IndexRegistrationReject }

func (m *RegistrationReject) enc(e *encoder) {
	x := newExt(7)
	addAltGKInfo(x, 0, m.AltGKInfo)
	addAssignedGK(x, 6, m.AssignedGatekeeper)
	e.bit(x.present())
	e.optional(m.NonStandardData != nil, m.GatekeeperIdentifier != "")
	encSeqNum(e, m.RequestSeqNum)
	e.oid(m.ProtocolIdentifier)
	encOptNonStd(e, m.NonStandardData)
	rrjSpec.enc(e, m.RejectReason.view())
	encOptID(e, m.GatekeeperIdentifier)
	x.encode(e)
}

func (m *RegistrationReject) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(2)
	m.RequestSeqNum = decSeqNum(d)
	m.ProtocolIdentifier = d.oid()
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	rrjSpec.dec(d, m.RejectReason.view())
	if o.has(1) {
		m.GatekeeperIdentifier = decIdentifier(d)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 0:
				m.AltGKInfo = decAltGKInfo(d)
			case 6:
				m.AssignedGatekeeper = decAltGKPtr(d)
			}
		})
	}
}

// ---- URQ / UCF / URJ ----

// UnregistrationRequest is URQ, from an endpoint or from the gatekeeper
// (then with AlternateGatekeeper to send the endpoint elsewhere).
type UnregistrationRequest struct {
	RequestSeqNum      uint16
	CallSignalAddress  []TransportAddress
	EndpointAlias      []AliasAddress
	NonStandardData    *NonStandardParameter
	EndpointIdentifier string
	// Extension additions (11).
	GatekeeperIdentifier string              // 1
	Reason               *UnregRequestReason // 5
	EndpointAliasPattern []AddressPattern    // 6
	SupportedPrefixes    []SupportedPrefix   // 7
	AlternateGatekeeper  []AlternateGK       // 8
	AssignedGatekeeper   *AlternateGK        // 10
}

func (*UnregistrationRequest) MessageIndex() int { return IndexUnregistrationRequest }

func (m *UnregistrationRequest) enc(e *encoder) {
	x := newExt(11)
	x.addIf(m.GatekeeperIdentifier != "", 1, func(e *encoder) { encIdentifier(e, m.GatekeeperIdentifier) })
	x.addIf(m.Reason != nil, 5, func(e *encoder) { urqReasonSpec.enc(e, m.Reason.view()) })
	x.addIf(m.EndpointAliasPattern != nil, 6, func(e *encoder) { encList(e, m.EndpointAliasPattern, encPattern) })
	x.addIf(m.SupportedPrefixes != nil, 7, func(e *encoder) { encList(e, m.SupportedPrefixes, encPrefix) })
	addAltGKs(x, 8, m.AlternateGatekeeper)
	addAssignedGK(x, 10, m.AssignedGatekeeper)
	e.bit(x.present())
	e.optional(m.EndpointAlias != nil, m.NonStandardData != nil, m.EndpointIdentifier != "")
	encSeqNum(e, m.RequestSeqNum)
	encList(e, m.CallSignalAddress, encTransport)
	if m.EndpointAlias != nil {
		encAliases(e, m.EndpointAlias)
	}
	encOptNonStd(e, m.NonStandardData)
	encOptID(e, m.EndpointIdentifier)
	x.encode(e)
}

func (m *UnregistrationRequest) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(3)
	m.RequestSeqNum = decSeqNum(d)
	m.CallSignalAddress = decList(d, false, decTransport)
	if o.has(0) {
		m.EndpointAlias = decAliases(d, true)
	}
	if o.has(1) {
		m.NonStandardData = decNonStandard(d)
	}
	if o.has(2) {
		m.EndpointIdentifier = decIdentifier(d)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 1:
				m.GatekeeperIdentifier = decIdentifier(d)
			case 5:
				m.Reason = new(UnregRequestReason)
				urqReasonSpec.dec(d, m.Reason.view())
			case 6:
				m.EndpointAliasPattern = decList(d, true, decPattern)
			case 7:
				m.SupportedPrefixes = decList(d, true, decPrefix)
			case 8:
				m.AlternateGatekeeper = decList(d, true, decAltGK)
			case 10:
				m.AssignedGatekeeper = decAltGKPtr(d)
			}
		})
	}
}

// UnregistrationConfirm is UCF.
type UnregistrationConfirm struct {
	RequestSeqNum   uint16
	NonStandardData *NonStandardParameter
	// Extension additions (5).
	AssignedGatekeeper *AlternateGK // 4
}

func (*UnregistrationConfirm) MessageIndex() int { return IndexUnregistrationConfirm }

func (m *UnregistrationConfirm) enc(e *encoder) {
	x := newExt(5)
	addAssignedGK(x, 4, m.AssignedGatekeeper)
	e.bit(x.present())
	e.optional(m.NonStandardData != nil)
	encSeqNum(e, m.RequestSeqNum)
	encOptNonStd(e, m.NonStandardData)
	x.encode(e)
}

func (m *UnregistrationConfirm) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(1)
	m.RequestSeqNum = decSeqNum(d)
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			if i == 4 {
				m.AssignedGatekeeper = decAltGKPtr(d)
			}
		})
	}
}

// UnregistrationReject is URJ.
type UnregistrationReject struct {
	RequestSeqNum   uint16
	RejectReason    UnregRejectReason
	NonStandardData *NonStandardParameter
	// Extension additions (5).
	AltGKInfo *AltGKInfo // 0
}

func (*UnregistrationReject) MessageIndex() int { return IndexUnregistrationReject }

func (m *UnregistrationReject) enc(e *encoder) {
	x := newExt(5)
	addAltGKInfo(x, 0, m.AltGKInfo)
	e.bit(x.present())
	e.optional(m.NonStandardData != nil)
	encSeqNum(e, m.RequestSeqNum)
	urjSpec.enc(e, m.RejectReason.view())
	encOptNonStd(e, m.NonStandardData)
	x.encode(e)
}

func (m *UnregistrationReject) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(1)
	m.RequestSeqNum = decSeqNum(d)
	urjSpec.dec(d, m.RejectReason.view())
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			if i == 0 {
				m.AltGKInfo = decAltGKInfo(d)
			}
		})
	}
}

// ---- ARQ / ACF / ARJ ----

// AdmissionRequest is ARQ.
type AdmissionRequest struct {
	RequestSeqNum         uint16
	CallType              int  // CallPointToPoint...
	CallModel             *int // CallModelDirect or CallModelGatekeeperRouted
	EndpointIdentifier    string
	DestinationInfo       []AliasAddress
	DestCallSignalAddress TransportAddress // nil if absent
	DestExtraCallInfo     []AliasAddress
	SrcInfo               []AliasAddress
	SrcCallSignalAddress  TransportAddress // nil if absent
	BandWidth             uint32
	CallReferenceValue    uint16
	NonStandardData       *NonStandardParameter
	CallServices          *QseriesOptions
	ConferenceID          GUID
	ActiveMC              bool
	AnswerCall            bool
	// Extension additions (19).
	CanMapAlias              bool                 // 0
	CallIdentifier           CallIdentifier       // 1
	GatekeeperIdentifier     string               // 4
	TransportQOS             *TransportQOS        // 8
	WillSupplyUUIEs          bool                 // 9
	CallLinkage              *CallLinkage         // 10
	GatewayDataRate          *DataRate            // 11
	DesiredProtocols         []SupportedProtocols // 14
	DesiredTunnelledProtocol *TunnelledProtocol   // 15
	CanMapSrcAlias           bool                 // 18
}

func (*AdmissionRequest) MessageIndex() int { return IndexAdmissionRequest }

func (m *AdmissionRequest) enc(e *encoder) {
	x := newExt(19)
	addBool(x, 0, m.CanMapAlias)
	x.add(1, m.CallIdentifier.enc)
	x.addIf(m.GatekeeperIdentifier != "", 4, func(e *encoder) { encIdentifier(e, m.GatekeeperIdentifier) })
	x.addIf(m.TransportQOS != nil, 8, m.TransportQOS.enc)
	addBool(x, 9, m.WillSupplyUUIEs)
	x.addIf(m.CallLinkage != nil, 10, m.CallLinkage.enc)
	x.addIf(m.GatewayDataRate != nil, 11, func(e *encoder) { encDataRate(e, *m.GatewayDataRate) })
	x.addIf(m.DesiredProtocols != nil, 14, func(e *encoder) { encList(e, m.DesiredProtocols, encProtocol) })
	x.addIf(m.DesiredTunnelledProtocol != nil, 15, func(e *encoder) { encTunnelled(e, *m.DesiredTunnelledProtocol) })
	addBool(x, 18, m.CanMapSrcAlias)
	e.bit(x.present())
	e.optional(m.CallModel != nil, m.DestinationInfo != nil, m.DestCallSignalAddress != nil,
		m.DestExtraCallInfo != nil, m.SrcCallSignalAddress != nil, m.NonStandardData != nil, m.CallServices != nil)
	encSeqNum(e, m.RequestSeqNum)
	encCallType(e, m.CallType)
	if m.CallModel != nil {
		encCallModel(e, *m.CallModel)
	}
	encIdentifier(e, m.EndpointIdentifier)
	if m.DestinationInfo != nil {
		encAliases(e, m.DestinationInfo)
	}
	if m.DestCallSignalAddress != nil {
		encTransport(e, m.DestCallSignalAddress)
	}
	if m.DestExtraCallInfo != nil {
		encAliases(e, m.DestExtraCallInfo)
	}
	encAliases(e, m.SrcInfo)
	if m.SrcCallSignalAddress != nil {
		encTransport(e, m.SrcCallSignalAddress)
	}
	encBandwidth(e, m.BandWidth)
	encU16(e, m.CallReferenceValue)
	encOptNonStd(e, m.NonStandardData)
	if m.CallServices != nil {
		m.CallServices.enc(e)
	}
	encGUID(e, m.ConferenceID)
	e.bit(m.ActiveMC)
	e.bit(m.AnswerCall)
	x.encode(e)
}

func (m *AdmissionRequest) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(7)
	m.RequestSeqNum = decSeqNum(d)
	m.CallType = decCallType(d)
	if o.has(0) {
		v := decCallModel(d)
		m.CallModel = &v
	}
	m.EndpointIdentifier = decIdentifier(d)
	if o.has(1) {
		m.DestinationInfo = decAliases(d, true)
	}
	if o.has(2) {
		m.DestCallSignalAddress = decTransport(d)
	}
	if o.has(3) {
		m.DestExtraCallInfo = decAliases(d, true)
	}
	m.SrcInfo = decAliases(d, false)
	if o.has(4) {
		m.SrcCallSignalAddress = decTransport(d)
	}
	m.BandWidth = decBandwidth(d)
	m.CallReferenceValue = decU16(d)
	if o.has(5) {
		m.NonStandardData = decNonStandard(d)
	}
	if o.has(6) {
		m.CallServices = decQseries(d)
	}
	m.ConferenceID = decGUID(d)
	m.ActiveMC = d.bit()
	m.AnswerCall = d.bit()
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 0:
				m.CanMapAlias = d.bit()
			case 1:
				m.CallIdentifier = decCallID(d)
			case 4:
				m.GatekeeperIdentifier = decIdentifier(d)
			case 8:
				m.TransportQOS = decTransportQOS(d)
			case 9:
				m.WillSupplyUUIEs = d.bit()
			case 10:
				m.CallLinkage = decCallLinkage(d)
			case 11:
				r := decDataRate(d)
				m.GatewayDataRate = &r
			case 14:
				m.DesiredProtocols = decList(d, true, decProtocol)
			case 15:
				t := decTunnelled(d)
				m.DesiredTunnelledProtocol = &t
			case 18:
				m.CanMapSrcAlias = d.bit()
			}
		})
	}
}

// AdmissionConfirm is ACF.
type AdmissionConfirm struct {
	RequestSeqNum         uint16
	BandWidth             uint32
	CallModel             int
	DestCallSignalAddress TransportAddress
	IRRFrequency          uint16 // 1..65535; 0 if absent
	NonStandardData       *NonStandardParameter
	// Extension additions (23).
	DestinationInfo             []AliasAddress               // 0
	DestExtraCallInfo           []AliasAddress               // 1
	DestinationType             *EndpointType                // 2
	RemoteExtensionAddress      []AliasAddress               // 3
	TransportQOS                *TransportQOS                // 8
	WillRespondToIRR            bool                         // 9
	UUIEsRequested              UUIEsRequested               // 10
	Language                    []string                     // 11
	AlternateTransportAddresses *AlternateTransportAddresses // 12
	UseSpecifiedTransport       *int                         // 13
	SupportedProtocols          []SupportedProtocols         // 16
	MultipleCalls               *bool                        // 18
	ModifiedSrcInfo             []AliasAddress               // 21
	AssignedGatekeeper          *AlternateGK                 // 22
}

func (*AdmissionConfirm) MessageIndex() int { return IndexAdmissionConfirm }

func (m *AdmissionConfirm) enc(e *encoder) {
	x := newExt(23)
	addAliases(x, 0, m.DestinationInfo)
	addAliases(x, 1, m.DestExtraCallInfo)
	x.addIf(m.DestinationType != nil, 2, m.DestinationType.enc)
	addAliases(x, 3, m.RemoteExtensionAddress)
	x.addIf(m.TransportQOS != nil, 8, m.TransportQOS.enc)
	addBool(x, 9, m.WillRespondToIRR)
	x.add(10, m.UUIEsRequested.enc)
	addLanguage(x, 11, m.Language)
	x.addIf(m.AlternateTransportAddresses != nil, 12, m.AlternateTransportAddresses.enc)
	x.addIf(m.UseSpecifiedTransport != nil, 13, func(e *encoder) { encEnum(e, *m.UseSpecifiedTransport, 2, true) })
	x.addIf(m.SupportedProtocols != nil, 16, func(e *encoder) { encList(e, m.SupportedProtocols, encProtocol) })
	addOptBool(x, 18, m.MultipleCalls)
	addAliases(x, 21, m.ModifiedSrcInfo)
	addAssignedGK(x, 22, m.AssignedGatekeeper)
	e.bit(x.present())
	e.optional(m.IRRFrequency != 0, m.NonStandardData != nil)
	encSeqNum(e, m.RequestSeqNum)
	encBandwidth(e, m.BandWidth)
	encCallModel(e, m.CallModel)
	encTransport(e, m.DestCallSignalAddress)
	if m.IRRFrequency != 0 {
		e.constrained(uint64(m.IRRFrequency), 1, 65535)
	}
	encOptNonStd(e, m.NonStandardData)
	x.encode(e)
}

func (m *AdmissionConfirm) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(2)
	m.RequestSeqNum = decSeqNum(d)
	m.BandWidth = decBandwidth(d)
	m.CallModel = decCallModel(d)
	m.DestCallSignalAddress = decTransport(d)
	if o.has(0) {
		m.IRRFrequency = uint16(d.constrained(1, 65535))
	}
	if o.has(1) {
		m.NonStandardData = decNonStandard(d)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 0:
				m.DestinationInfo = decAliases(d, true)
			case 1:
				m.DestExtraCallInfo = decAliases(d, true)
			case 2:
				m.DestinationType = new(EndpointType)
				m.DestinationType.dec(d)
			case 3:
				m.RemoteExtensionAddress = decAliases(d, true)
			case 8:
				m.TransportQOS = decTransportQOS(d)
			case 9:
				m.WillRespondToIRR = d.bit()
			case 10:
				m.UUIEsRequested.dec(d)
			case 11:
				m.Language = decLanguage(d)
			case 12:
				m.AlternateTransportAddresses = decAltTransport(d)
			case 13:
				v := decEnum(d, 2, true)
				m.UseSpecifiedTransport = &v
			case 16:
				m.SupportedProtocols = decList(d, true, decProtocol)
			case 18:
				m.MultipleCalls = decOptBool(d)
			case 21:
				m.ModifiedSrcInfo = decAliases(d, true)
			case 22:
				m.AssignedGatekeeper = decAltGKPtr(d)
			}
		})
	}
}

// AdmissionReject is ARJ.
type AdmissionReject struct {
	RequestSeqNum   uint16
	RejectReason    AdmissionRejectReason
	NonStandardData *NonStandardParameter
	// Extension additions (9).
	AltGKInfo          *AltGKInfo         // 0
	CallSignalAddress  []TransportAddress // 3
	AssignedGatekeeper *AlternateGK       // 8
}

func (*AdmissionReject) MessageIndex() int { return IndexAdmissionReject }

func (m *AdmissionReject) enc(e *encoder) {
	x := newExt(9)
	addAltGKInfo(x, 0, m.AltGKInfo)
	x.addIf(m.CallSignalAddress != nil, 3, func(e *encoder) { encList(e, m.CallSignalAddress, encTransport) })
	addAssignedGK(x, 8, m.AssignedGatekeeper)
	e.bit(x.present())
	e.optional(m.NonStandardData != nil)
	encSeqNum(e, m.RequestSeqNum)
	arjSpec.enc(e, m.RejectReason.view())
	encOptNonStd(e, m.NonStandardData)
	x.encode(e)
}

func (m *AdmissionReject) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(1)
	m.RequestSeqNum = decSeqNum(d)
	arjSpec.dec(d, m.RejectReason.view())
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 0:
				m.AltGKInfo = decAltGKInfo(d)
			case 3:
				m.CallSignalAddress = decList(d, true, decTransport)
			case 8:
				m.AssignedGatekeeper = decAltGKPtr(d)
			}
		})
	}
}

// ---- BRQ / BCF / BRJ ----

// BandwidthRequest is BRQ.
type BandwidthRequest struct {
	RequestSeqNum      uint16
	EndpointIdentifier string
	ConferenceID       GUID
	CallReferenceValue uint16
	CallType           *int
	BandWidth          uint32
	NonStandardData    *NonStandardParameter
	// Extension additions (12).
	CallIdentifier       CallIdentifier // 0
	GatekeeperIdentifier string         // 1
	AnsweredCall         bool           // 5
	CallLinkage          *CallLinkage   // 6
	TransportQOS         *TransportQOS  // 11
}

func (*BandwidthRequest) MessageIndex() int { return IndexBandwidthRequest }

func (m *BandwidthRequest) enc(e *encoder) {
	x := newExt(12)
	x.add(0, m.CallIdentifier.enc)
	x.addIf(m.GatekeeperIdentifier != "", 1, func(e *encoder) { encIdentifier(e, m.GatekeeperIdentifier) })
	addBool(x, 5, m.AnsweredCall)
	x.addIf(m.CallLinkage != nil, 6, m.CallLinkage.enc)
	x.addIf(m.TransportQOS != nil, 11, m.TransportQOS.enc)
	e.bit(x.present())
	e.optional(m.CallType != nil, m.NonStandardData != nil)
	encSeqNum(e, m.RequestSeqNum)
	encIdentifier(e, m.EndpointIdentifier)
	encGUID(e, m.ConferenceID)
	encU16(e, m.CallReferenceValue)
	if m.CallType != nil {
		encCallType(e, *m.CallType)
	}
	encBandwidth(e, m.BandWidth)
	encOptNonStd(e, m.NonStandardData)
	x.encode(e)
}

func (m *BandwidthRequest) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(2)
	m.RequestSeqNum = decSeqNum(d)
	m.EndpointIdentifier = decIdentifier(d)
	m.ConferenceID = decGUID(d)
	m.CallReferenceValue = decU16(d)
	if o.has(0) {
		v := decCallType(d)
		m.CallType = &v
	}
	m.BandWidth = decBandwidth(d)
	if o.has(1) {
		m.NonStandardData = decNonStandard(d)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 0:
				m.CallIdentifier = decCallID(d)
			case 1:
				m.GatekeeperIdentifier = decIdentifier(d)
			case 5:
				m.AnsweredCall = d.bit()
			case 6:
				m.CallLinkage = decCallLinkage(d)
			case 11:
				m.TransportQOS = decTransportQOS(d)
			}
		})
	}
}

// BandwidthConfirm is BCF.
type BandwidthConfirm struct {
	RequestSeqNum   uint16
	BandWidth       uint32
	NonStandardData *NonStandardParameter
	// Extension additions (6).
	TransportQOS *TransportQOS // 5
}

func (*BandwidthConfirm) MessageIndex() int { return IndexBandwidthConfirm }

func (m *BandwidthConfirm) enc(e *encoder) {
	x := newExt(6)
	x.addIf(m.TransportQOS != nil, 5, m.TransportQOS.enc)
	e.bit(x.present())
	e.optional(m.NonStandardData != nil)
	encSeqNum(e, m.RequestSeqNum)
	encBandwidth(e, m.BandWidth)
	encOptNonStd(e, m.NonStandardData)
	x.encode(e)
}

func (m *BandwidthConfirm) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(1)
	m.RequestSeqNum = decSeqNum(d)
	m.BandWidth = decBandwidth(d)
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			if i == 5 {
				m.TransportQOS = decTransportQOS(d)
			}
		})
	}
}

// BandwidthReject is BRJ.
type BandwidthReject struct {
	RequestSeqNum    uint16
	RejectReason     BandRejectReason
	AllowedBandWidth uint32
	NonStandardData  *NonStandardParameter
	// Extension additions (5).
	AltGKInfo *AltGKInfo // 0
}

func (*BandwidthReject) MessageIndex() int { return IndexBandwidthReject }

func (m *BandwidthReject) enc(e *encoder) {
	x := newExt(5)
	addAltGKInfo(x, 0, m.AltGKInfo)
	e.bit(x.present())
	e.optional(m.NonStandardData != nil)
	encSeqNum(e, m.RequestSeqNum)
	brjSpec.enc(e, m.RejectReason.view())
	encBandwidth(e, m.AllowedBandWidth)
	encOptNonStd(e, m.NonStandardData)
	x.encode(e)
}

func (m *BandwidthReject) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(1)
	m.RequestSeqNum = decSeqNum(d)
	brjSpec.dec(d, m.RejectReason.view())
	m.AllowedBandWidth = decBandwidth(d)
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			if i == 0 {
				m.AltGKInfo = decAltGKInfo(d)
			}
		})
	}
}

// ---- DRQ / DCF / DRJ ----

// DisengageRequest is DRQ.
type DisengageRequest struct {
	RequestSeqNum      uint16
	EndpointIdentifier string
	ConferenceID       GUID
	CallReferenceValue uint16
	DisengageReason    int // DisengageForcedDrop...
	NonStandardData    *NonStandardParameter
	// Extension additions (13).
	CallIdentifier       CallIdentifier        // 0
	GatekeeperIdentifier string                // 1
	AnsweredCall         bool                  // 5
	CallLinkage          *CallLinkage          // 6
	TerminationCause     *CallTerminationCause // 10
}

func (*DisengageRequest) MessageIndex() int { return IndexDisengageRequest }

func (m *DisengageRequest) enc(e *encoder) {
	x := newExt(13)
	x.add(0, m.CallIdentifier.enc)
	x.addIf(m.GatekeeperIdentifier != "", 1, func(e *encoder) { encIdentifier(e, m.GatekeeperIdentifier) })
	addBool(x, 5, m.AnsweredCall)
	x.addIf(m.CallLinkage != nil, 6, m.CallLinkage.enc)
	x.addIf(m.TerminationCause != nil, 10, m.TerminationCause.enc)
	e.bit(x.present())
	e.optional(m.NonStandardData != nil)
	encSeqNum(e, m.RequestSeqNum)
	encIdentifier(e, m.EndpointIdentifier)
	encGUID(e, m.ConferenceID)
	encU16(e, m.CallReferenceValue)
	encEnum(e, m.DisengageReason, 3, true)
	encOptNonStd(e, m.NonStandardData)
	x.encode(e)
}

func (m *DisengageRequest) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(1)
	m.RequestSeqNum = decSeqNum(d)
	m.EndpointIdentifier = decIdentifier(d)
	m.ConferenceID = decGUID(d)
	m.CallReferenceValue = decU16(d)
	m.DisengageReason = decEnum(d, 3, true)
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 0:
				m.CallIdentifier = decCallID(d)
			case 1:
				m.GatekeeperIdentifier = decIdentifier(d)
			case 5:
				m.AnsweredCall = d.bit()
			case 6:
				m.CallLinkage = decCallLinkage(d)
			case 10:
				m.TerminationCause = decTerminationCause(d)
			}
		})
	}
}

// DisengageConfirm is DCF.
type DisengageConfirm struct {
	RequestSeqNum   uint16
	NonStandardData *NonStandardParameter
	// Extension additions (8).
	AssignedGatekeeper *AlternateGK // 7
}

func (*DisengageConfirm) MessageIndex() int { return IndexDisengageConfirm }

func (m *DisengageConfirm) enc(e *encoder) {
	x := newExt(8)
	addAssignedGK(x, 7, m.AssignedGatekeeper)
	e.bit(x.present())
	e.optional(m.NonStandardData != nil)
	encSeqNum(e, m.RequestSeqNum)
	encOptNonStd(e, m.NonStandardData)
	x.encode(e)
}

func (m *DisengageConfirm) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(1)
	m.RequestSeqNum = decSeqNum(d)
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			if i == 7 {
				m.AssignedGatekeeper = decAltGKPtr(d)
			}
		})
	}
}

// DisengageReject is DRJ.
type DisengageReject struct {
	RequestSeqNum   uint16
	RejectReason    DisengageRejectReason
	NonStandardData *NonStandardParameter
	// Extension additions (5).
	AltGKInfo *AltGKInfo // 0
}

func (*DisengageReject) MessageIndex() int { return IndexDisengageReject }

func (m *DisengageReject) enc(e *encoder) {
	x := newExt(5)
	addAltGKInfo(x, 0, m.AltGKInfo)
	e.bit(x.present())
	e.optional(m.NonStandardData != nil)
	encSeqNum(e, m.RequestSeqNum)
	drjSpec.enc(e, m.RejectReason.view())
	encOptNonStd(e, m.NonStandardData)
	x.encode(e)
}

func (m *DisengageReject) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(1)
	m.RequestSeqNum = decSeqNum(d)
	drjSpec.dec(d, m.RejectReason.view())
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			if i == 0 {
				m.AltGKInfo = decAltGKInfo(d)
			}
		})
	}
}

// ---- LRQ / LCF / LRJ ----

// LocationRequest is LRQ.
type LocationRequest struct {
	RequestSeqNum      uint16
	EndpointIdentifier string
	DestinationInfo    []AliasAddress
	NonStandardData    *NonStandardParameter
	ReplyAddress       TransportAddress
	// Extension additions (17).
	SourceInfo               []AliasAddress       // 0
	CanMapAlias              bool                 // 1
	GatekeeperIdentifier     string               // 2
	DesiredProtocols         []SupportedProtocols // 6
	DesiredTunnelledProtocol *TunnelledProtocol   // 7
	HopCount                 uint8                // 10: 1..255; 0 if absent
	CallIdentifier           *CallIdentifier      // 12
	BandWidth                *uint32              // 13
	SourceEndpointInfo       []AliasAddress       // 14
	CanMapSrcAlias           bool                 // 15
	Language                 []string             // 16
}

func (*LocationRequest) MessageIndex() int { return IndexLocationRequest }

func (m *LocationRequest) enc(e *encoder) {
	x := newExt(17)
	addAliases(x, 0, m.SourceInfo)
	addBool(x, 1, m.CanMapAlias)
	x.addIf(m.GatekeeperIdentifier != "", 2, func(e *encoder) { encIdentifier(e, m.GatekeeperIdentifier) })
	x.addIf(m.DesiredProtocols != nil, 6, func(e *encoder) { encList(e, m.DesiredProtocols, encProtocol) })
	x.addIf(m.DesiredTunnelledProtocol != nil, 7, func(e *encoder) { encTunnelled(e, *m.DesiredTunnelledProtocol) })
	x.addIf(m.HopCount != 0, 10, func(e *encoder) { e.constrained(uint64(m.HopCount), 1, 255) })
	x.addIf(m.CallIdentifier != nil, 12, func(e *encoder) { m.CallIdentifier.enc(e) })
	x.addIf(m.BandWidth != nil, 13, func(e *encoder) { encBandwidth(e, *m.BandWidth) })
	addAliases(x, 14, m.SourceEndpointInfo)
	addBool(x, 15, m.CanMapSrcAlias)
	addLanguage(x, 16, m.Language)
	e.bit(x.present())
	e.optional(m.EndpointIdentifier != "", m.NonStandardData != nil)
	encSeqNum(e, m.RequestSeqNum)
	encOptID(e, m.EndpointIdentifier)
	encAliases(e, m.DestinationInfo)
	encOptNonStd(e, m.NonStandardData)
	encTransport(e, m.ReplyAddress)
	x.encode(e)
}

func (m *LocationRequest) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(2)
	m.RequestSeqNum = decSeqNum(d)
	if o.has(0) {
		m.EndpointIdentifier = decIdentifier(d)
	}
	m.DestinationInfo = decAliases(d, false)
	if o.has(1) {
		m.NonStandardData = decNonStandard(d)
	}
	m.ReplyAddress = decTransport(d)
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 0:
				m.SourceInfo = decAliases(d, true)
			case 1:
				m.CanMapAlias = d.bit()
			case 2:
				m.GatekeeperIdentifier = decIdentifier(d)
			case 6:
				m.DesiredProtocols = decList(d, true, decProtocol)
			case 7:
				t := decTunnelled(d)
				m.DesiredTunnelledProtocol = &t
			case 10:
				m.HopCount = uint8(d.constrained(1, 255))
			case 12:
				c := decCallID(d)
				m.CallIdentifier = &c
			case 13:
				v := decBandwidth(d)
				m.BandWidth = &v
			case 14:
				m.SourceEndpointInfo = decAliases(d, true)
			case 15:
				m.CanMapSrcAlias = d.bit()
			case 16:
				m.Language = decLanguage(d)
			}
		})
	}
}

// LocationConfirm is LCF.
type LocationConfirm struct {
	RequestSeqNum     uint16
	CallSignalAddress TransportAddress
	RASAddress        TransportAddress
	NonStandardData   *NonStandardParameter
	// Extension additions (17).
	DestinationInfo             []AliasAddress               // 0
	DestExtraCallInfo           []AliasAddress               // 1
	DestinationType             *EndpointType                // 2
	RemoteExtensionAddress      []AliasAddress               // 3
	AlternateTransportAddresses *AlternateTransportAddresses // 8
	SupportedProtocols          []SupportedProtocols         // 9
	MultipleCalls               *bool                        // 10
	ModifiedSrcInfo             []AliasAddress               // 15
	BandWidth                   *uint32                      // 16
}

func (*LocationConfirm) MessageIndex() int { return IndexLocationConfirm }

func (m *LocationConfirm) enc(e *encoder) {
	x := newExt(17)
	addAliases(x, 0, m.DestinationInfo)
	addAliases(x, 1, m.DestExtraCallInfo)
	x.addIf(m.DestinationType != nil, 2, m.DestinationType.enc)
	addAliases(x, 3, m.RemoteExtensionAddress)
	x.addIf(m.AlternateTransportAddresses != nil, 8, m.AlternateTransportAddresses.enc)
	x.addIf(m.SupportedProtocols != nil, 9, func(e *encoder) { encList(e, m.SupportedProtocols, encProtocol) })
	addOptBool(x, 10, m.MultipleCalls)
	addAliases(x, 15, m.ModifiedSrcInfo)
	x.addIf(m.BandWidth != nil, 16, func(e *encoder) { encBandwidth(e, *m.BandWidth) })
	e.bit(x.present())
	e.optional(m.NonStandardData != nil)
	encSeqNum(e, m.RequestSeqNum)
	encTransport(e, m.CallSignalAddress)
	encTransport(e, m.RASAddress)
	encOptNonStd(e, m.NonStandardData)
	x.encode(e)
}

func (m *LocationConfirm) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(1)
	m.RequestSeqNum = decSeqNum(d)
	m.CallSignalAddress = decTransport(d)
	m.RASAddress = decTransport(d)
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 0:
				m.DestinationInfo = decAliases(d, true)
			case 1:
				m.DestExtraCallInfo = decAliases(d, true)
			case 2:
				m.DestinationType = new(EndpointType)
				m.DestinationType.dec(d)
			case 3:
				m.RemoteExtensionAddress = decAliases(d, true)
			case 8:
				m.AlternateTransportAddresses = decAltTransport(d)
			case 9:
				m.SupportedProtocols = decList(d, true, decProtocol)
			case 10:
				m.MultipleCalls = decOptBool(d)
			case 15:
				m.ModifiedSrcInfo = decAliases(d, true)
			case 16:
				v := decBandwidth(d)
				m.BandWidth = &v
			}
		})
	}
}

// LocationReject is LRJ.
type LocationReject struct {
	RequestSeqNum   uint16
	RejectReason    LocationRejectReason
	NonStandardData *NonStandardParameter
	// Extension additions (7).
	AltGKInfo *AltGKInfo // 0
}

func (*LocationReject) MessageIndex() int { return IndexLocationReject }

func (m *LocationReject) enc(e *encoder) {
	x := newExt(7)
	addAltGKInfo(x, 0, m.AltGKInfo)
	e.bit(x.present())
	e.optional(m.NonStandardData != nil)
	encSeqNum(e, m.RequestSeqNum)
	lrjSpec.enc(e, m.RejectReason.view())
	encOptNonStd(e, m.NonStandardData)
	x.encode(e)
}

func (m *LocationReject) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(1)
	m.RequestSeqNum = decSeqNum(d)
	lrjSpec.dec(d, m.RejectReason.view())
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			if i == 0 {
				m.AltGKInfo = decAltGKInfo(d)
			}
		})
	}
}

// ---- IRQ / IRR / IACK / INAK ----

// InfoRequest is IRQ.
type InfoRequest struct {
	RequestSeqNum      uint16
	CallReferenceValue uint16
	NonStandardData    *NonStandardParameter
	ReplyAddress       TransportAddress // nil if absent
	// Extension additions (12).
	CallIdentifier             CallIdentifier  // 0
	UUIEsRequested             *UUIEsRequested // 4
	CallLinkage                *CallLinkage    // 5
	SegmentedResponseSupported bool            // 7 (NULL)
	NextSegmentRequested       *uint16         // 8
	CapacityInfoRequested      bool            // 9 (NULL)
	AssignedGatekeeper         *AlternateGK    // 11
}

func (*InfoRequest) MessageIndex() int { return IndexInfoRequest }

func (m *InfoRequest) enc(e *encoder) {
	x := newExt(12)
	x.add(0, m.CallIdentifier.enc)
	x.addIf(m.UUIEsRequested != nil, 4, m.UUIEsRequested.enc)
	x.addIf(m.CallLinkage != nil, 5, m.CallLinkage.enc)
	addNull(x, 7, m.SegmentedResponseSupported)
	x.addIf(m.NextSegmentRequested != nil, 8, func(e *encoder) { encU16(e, *m.NextSegmentRequested) })
	addNull(x, 9, m.CapacityInfoRequested)
	addAssignedGK(x, 11, m.AssignedGatekeeper)
	e.bit(x.present())
	e.optional(m.NonStandardData != nil, m.ReplyAddress != nil)
	encSeqNum(e, m.RequestSeqNum)
	encU16(e, m.CallReferenceValue)
	encOptNonStd(e, m.NonStandardData)
	if m.ReplyAddress != nil {
		encTransport(e, m.ReplyAddress)
	}
	x.encode(e)
}

func (m *InfoRequest) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(2)
	m.RequestSeqNum = decSeqNum(d)
	m.CallReferenceValue = decU16(d)
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	if o.has(1) {
		m.ReplyAddress = decTransport(d)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 0:
				m.CallIdentifier = decCallID(d)
			case 4:
				m.UUIEsRequested = decUUIEs(d)
			case 5:
				m.CallLinkage = decCallLinkage(d)
			case 7:
				m.SegmentedResponseSupported = true
			case 8:
				v := decU16(d)
				m.NextSegmentRequested = &v
			case 9:
				m.CapacityInfoRequested = true
			case 11:
				m.AssignedGatekeeper = decAltGKPtr(d)
			}
		})
	}
}

// TransportChannelInfo ::= SEQUENCE {sendAddress, recvAddress
// (TransportAddress OPTIONAL), ...}.
type TransportChannelInfo struct {
	SendAddress TransportAddress
	RecvAddress TransportAddress
}

func encTCI(e *encoder, x TransportChannelInfo) {
	e.bit(false)
	e.optional(x.SendAddress != nil, x.RecvAddress != nil)
	if x.SendAddress != nil {
		encTransport(e, x.SendAddress)
	}
	if x.RecvAddress != nil {
		encTransport(e, x.RecvAddress)
	}
}

func decTCI(d *decoder) (x TransportChannelInfo) {
	ext := d.bit()
	o := d.optional(2)
	if o.has(0) {
		x.SendAddress = decTransport(d)
	}
	if o.has(1) {
		x.RecvAddress = decTransport(d)
	}
	if ext {
		d.extensions(func(int, *decoder) {})
	}
	return x
}

// RTPSession ::= SEQUENCE {rtpAddress, rtcpAddress, cname PrintableString,
// ssrc INTEGER (1..4294967295), sessionId INTEGER (1..255),
// associatedSessionIds SEQUENCE OF INTEGER (1..255), ..., multicast NULL
// OPTIONAL, bandwidth BandWidth OPTIONAL}.
type RTPSession struct {
	RTPAddress           TransportChannelInfo
	RTCPAddress          TransportChannelInfo
	CName                string
	SSRC                 uint32
	SessionID            uint8
	AssociatedSessionIDs []uint8
	// Extension additions (2).
	Multicast bool    // 0
	Bandwidth *uint32 // 1
}

func encRTPSession(e *encoder, x RTPSession) {
	ext := newExt(2)
	addNull(ext, 0, x.Multicast)
	ext.addIf(x.Bandwidth != nil, 1, func(e *encoder) { encBandwidth(e, *x.Bandwidth) })
	e.bit(ext.present())
	encTCI(e, x.RTPAddress)
	encTCI(e, x.RTCPAddress)
	e.chars(x.CName, 0, -1, printableAlph)
	e.constrained(uint64(x.SSRC), 1, 1<<32-1)
	e.constrained(uint64(x.SessionID), 1, 255)
	encList(e, x.AssociatedSessionIDs, func(e *encoder, v uint8) { e.constrained(uint64(v), 1, 255) })
	ext.encode(e)
}

func decRTPSession(d *decoder) (x RTPSession) {
	ext := d.bit()
	x.RTPAddress = decTCI(d)
	x.RTCPAddress = decTCI(d)
	x.CName = d.chars(0, -1, printableAlph)
	x.SSRC = uint32(d.constrained(1, 1<<32-1))
	x.SessionID = uint8(d.constrained(1, 255))
	x.AssociatedSessionIDs = decList(d, false, func(d *decoder) uint8 { return uint8(d.constrained(1, 255)) })
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 0:
				x.Multicast = true
			case 1:
				v := decBandwidth(d)
				x.Bandwidth = &v
			}
		})
	}
	return x
}

// PerCallInfo is an element of InfoRequestResponse's perCallInfo.
type PerCallInfo struct {
	NonStandardData    *NonStandardParameter
	CallReferenceValue uint16
	ConferenceID       GUID
	Originator         *bool
	Audio              []RTPSession
	Video              []RTPSession
	Data               []TransportChannelInfo
	H245               TransportChannelInfo
	CallSignalling     TransportChannelInfo
	CallType           int
	BandWidth          uint32
	CallModel          int
	// Extension additions (8).
	CallIdentifier    CallIdentifier // 0
	SubstituteConfIDs []GUID         // 3 (mandatory; nil leaves it out)
	CallLinkage       *CallLinkage   // 5
}

func encPerCallInfo(e *encoder, x PerCallInfo) {
	ext := newExt(8)
	ext.add(0, x.CallIdentifier.enc)
	ext.addIf(x.SubstituteConfIDs != nil, 3, func(e *encoder) { encList(e, x.SubstituteConfIDs, encGUID) })
	ext.addIf(x.CallLinkage != nil, 5, x.CallLinkage.enc)
	e.bit(ext.present())
	e.optional(x.NonStandardData != nil, x.Originator != nil, x.Audio != nil, x.Video != nil, x.Data != nil)
	encOptNonStd(e, x.NonStandardData)
	encU16(e, x.CallReferenceValue)
	encGUID(e, x.ConferenceID)
	if x.Originator != nil {
		e.bit(*x.Originator)
	}
	if x.Audio != nil {
		encList(e, x.Audio, encRTPSession)
	}
	if x.Video != nil {
		encList(e, x.Video, encRTPSession)
	}
	if x.Data != nil {
		encList(e, x.Data, encTCI)
	}
	encTCI(e, x.H245)
	encTCI(e, x.CallSignalling)
	encCallType(e, x.CallType)
	encBandwidth(e, x.BandWidth)
	encCallModel(e, x.CallModel)
	ext.encode(e)
}

func decPerCallInfo(d *decoder) (x PerCallInfo) {
	ext := d.bit()
	o := d.optional(5)
	if o.has(0) {
		x.NonStandardData = decNonStandard(d)
	}
	x.CallReferenceValue = decU16(d)
	x.ConferenceID = decGUID(d)
	if o.has(1) {
		x.Originator = decOptBool(d)
	}
	if o.has(2) {
		x.Audio = decList(d, true, decRTPSession)
	}
	if o.has(3) {
		x.Video = decList(d, true, decRTPSession)
	}
	if o.has(4) {
		x.Data = decList(d, true, decTCI)
	}
	x.H245 = decTCI(d)
	x.CallSignalling = decTCI(d)
	x.CallType = decCallType(d)
	x.BandWidth = decBandwidth(d)
	x.CallModel = decCallModel(d)
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 0:
				x.CallIdentifier = decCallID(d)
			case 3:
				x.SubstituteConfIDs = decList(d, false, decGUID)
			case 5:
				x.CallLinkage = decCallLinkage(d)
			}
		})
	}
	return x
}

// InfoRequestResponse is IRR.
type InfoRequestResponse struct {
	NonStandardData    *NonStandardParameter
	RequestSeqNum      uint16
	EndpointType       EndpointType
	EndpointIdentifier string
	RASAddress         TransportAddress
	CallSignalAddress  []TransportAddress
	EndpointAlias      []AliasAddress
	PerCallInfo        []PerCallInfo
	// Extension additions (8).
	NeedResponse bool                       // 3
	IRRStatus    *InfoRequestResponseStatus // 5
	Unsolicited  bool                       // 6
}

func (*InfoRequestResponse) MessageIndex() int { return IndexInfoRequestResponse }

func (m *InfoRequestResponse) enc(e *encoder) {
	x := newExt(8)
	addBool(x, 3, m.NeedResponse)
	x.addIf(m.IRRStatus != nil, 5, m.IRRStatus.enc)
	addBool(x, 6, m.Unsolicited)
	e.bit(x.present())
	e.optional(m.NonStandardData != nil, m.EndpointAlias != nil, m.PerCallInfo != nil)
	encOptNonStd(e, m.NonStandardData)
	encSeqNum(e, m.RequestSeqNum)
	m.EndpointType.enc(e)
	encIdentifier(e, m.EndpointIdentifier)
	encTransport(e, m.RASAddress)
	encList(e, m.CallSignalAddress, encTransport)
	if m.EndpointAlias != nil {
		encAliases(e, m.EndpointAlias)
	}
	if m.PerCallInfo != nil {
		encList(e, m.PerCallInfo, encPerCallInfo)
	}
	x.encode(e)
}

func (m *InfoRequestResponse) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(3)
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	m.RequestSeqNum = decSeqNum(d)
	m.EndpointType.dec(d)
	m.EndpointIdentifier = decIdentifier(d)
	m.RASAddress = decTransport(d)
	m.CallSignalAddress = decList(d, false, decTransport)
	if o.has(1) {
		m.EndpointAlias = decAliases(d, true)
	}
	if o.has(2) {
		m.PerCallInfo = decList(d, true, decPerCallInfo)
	}
	if ext {
		d.extensions(func(i int, d *decoder) {
			switch i {
			case 3:
				m.NeedResponse = d.bit()
			case 5:
				m.IRRStatus = decIRRStatus(d)
			case 6:
				m.Unsolicited = d.bit()
			}
		})
	}
}

// decTokensRoot handles the tokens, cryptoTokens and integrityCheckValue
// components some messages carry in their root (RIP, IACK, INAK). This
// package writes none of the H.235 tokens and refuses to decode them
// (ErrUnsupported); the ICV it handles.
func decTokensRoot(d *decoder, tokens, cryptoTokens bool) {
	if tokens || cryptoTokens {
		d.unsupported("H.235 tokens in the message root")
	}
}

// InfoRequestAck is IACK.
type InfoRequestAck struct {
	RequestSeqNum       uint16
	NonStandardData     *NonStandardParameter
	IntegrityCheckValue *ICV
}

func (*InfoRequestAck) MessageIndex() int { return IndexInfoRequestAck }

func (m *InfoRequestAck) enc(e *encoder) {
	e.bit(false)
	e.optional(m.NonStandardData != nil, false, false, m.IntegrityCheckValue != nil)
	encSeqNum(e, m.RequestSeqNum)
	encOptNonStd(e, m.NonStandardData)
	if m.IntegrityCheckValue != nil {
		m.IntegrityCheckValue.enc(e)
	}
}

func (m *InfoRequestAck) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(4)
	m.RequestSeqNum = decSeqNum(d)
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	decTokensRoot(d, o.has(1), o.has(2))
	if o.has(3) {
		m.IntegrityCheckValue = decICV(d)
	}
	if ext {
		d.extensions(func(int, *decoder) {})
	}
}

// InfoRequestNak is INAK.
type InfoRequestNak struct {
	RequestSeqNum       uint16
	NonStandardData     *NonStandardParameter
	NakReason           InfoRequestNakReason
	AltGKInfo           *AltGKInfo
	IntegrityCheckValue *ICV
}

func (*InfoRequestNak) MessageIndex() int { return IndexInfoRequestNak }

func (m *InfoRequestNak) enc(e *encoder) {
	e.bit(false)
	e.optional(m.NonStandardData != nil, m.AltGKInfo != nil, false, false, m.IntegrityCheckValue != nil)
	encSeqNum(e, m.RequestSeqNum)
	encOptNonStd(e, m.NonStandardData)
	inakSpec.enc(e, m.NakReason.view())
	if m.AltGKInfo != nil {
		m.AltGKInfo.enc(e)
	}
	if m.IntegrityCheckValue != nil {
		m.IntegrityCheckValue.enc(e)
	}
}

func (m *InfoRequestNak) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(5)
	m.RequestSeqNum = decSeqNum(d)
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	inakSpec.dec(d, m.NakReason.view())
	if o.has(1) {
		m.AltGKInfo = decAltGKInfo(d)
	}
	decTokensRoot(d, o.has(2), o.has(3))
	if o.has(4) {
		m.IntegrityCheckValue = decICV(d)
	}
	if ext {
		d.extensions(func(int, *decoder) {})
	}
}

// ---- NonStandardMessage, XRS, RIP ----

// NonStandardMessage is nonStandardMessage.
type NonStandardMessage struct {
	RequestSeqNum   uint16
	NonStandardData NonStandardParameter
}

func (*NonStandardMessage) MessageIndex() int { return IndexNonStandardMessage }

func (m *NonStandardMessage) enc(e *encoder) {
	e.bit(false)
	encSeqNum(e, m.RequestSeqNum)
	m.NonStandardData.enc(e)
}

func (m *NonStandardMessage) dec(d *decoder) {
	ext := d.bit()
	m.RequestSeqNum = decSeqNum(d)
	m.NonStandardData = *decNonStandard(d)
	if ext {
		d.extensions(func(int, *decoder) {})
	}
}

// UnknownMessageResponse is XRS. MessageNotUnderstood (a mandatory
// extension addition) is always written.
type UnknownMessageResponse struct {
	RequestSeqNum uint16
	// Extension additions (4).
	MessageNotUnderstood []byte // 3
}

func (*UnknownMessageResponse) MessageIndex() int { return IndexUnknownMessageResponse }

func (m *UnknownMessageResponse) enc(e *encoder) {
	x := newExt(4)
	x.add(3, func(e *encoder) { e.octets(m.MessageNotUnderstood, 0, -1) })
	e.bit(x.present())
	encSeqNum(e, m.RequestSeqNum)
	x.encode(e)
}

func (m *UnknownMessageResponse) dec(d *decoder) {
	ext := d.bit()
	m.RequestSeqNum = decSeqNum(d)
	if ext {
		d.extensions(func(i int, d *decoder) {
			if i == 3 {
				m.MessageNotUnderstood = d.octets(0, -1)
			}
		})
	}
}

// RequestInProgress is RIP.
type RequestInProgress struct {
	RequestSeqNum       uint16
	NonStandardData     *NonStandardParameter
	IntegrityCheckValue *ICV
	Delay               uint16 // 1..65535 milliseconds
}

func (*RequestInProgress) MessageIndex() int { return IndexRequestInProgress }

func (m *RequestInProgress) enc(e *encoder) {
	e.bit(false)
	e.optional(m.NonStandardData != nil, false, false, m.IntegrityCheckValue != nil)
	encSeqNum(e, m.RequestSeqNum)
	encOptNonStd(e, m.NonStandardData)
	if m.IntegrityCheckValue != nil {
		m.IntegrityCheckValue.enc(e)
	}
	e.constrained(uint64(m.Delay), 1, 65535)
}

func (m *RequestInProgress) dec(d *decoder) {
	ext := d.bit()
	o := d.optional(4)
	m.RequestSeqNum = decSeqNum(d)
	if o.has(0) {
		m.NonStandardData = decNonStandard(d)
	}
	decTokensRoot(d, o.has(1), o.has(2))
	if o.has(3) {
		m.IntegrityCheckValue = decICV(d)
	}
	m.Delay = uint16(d.constrained(1, 65535))
	if ext {
		d.extensions(func(int, *decoder) {})
	}
}

// RequestSeqNum is m's requestSeqNum (every decoded message type has one;
// false for UnknownMessage), e.g. for the XRS or RIP answering it.
func RequestSeqNum(m Message) (uint16, bool) {
	switch m := m.(type) {
	case *GatekeeperRequest:
		return m.RequestSeqNum, true
	case *GatekeeperConfirm:
		return m.RequestSeqNum, true
	case *GatekeeperReject:
		return m.RequestSeqNum, true
	case *RegistrationRequest:
		return m.RequestSeqNum, true
	case *RegistrationConfirm:
		return m.RequestSeqNum, true
	case *RegistrationReject:
		return m.RequestSeqNum, true
	case *UnregistrationRequest:
		return m.RequestSeqNum, true
	case *UnregistrationConfirm:
		return m.RequestSeqNum, true
	case *UnregistrationReject:
		return m.RequestSeqNum, true
	case *AdmissionRequest:
		return m.RequestSeqNum, true
	case *AdmissionConfirm:
		return m.RequestSeqNum, true
	case *AdmissionReject:
		return m.RequestSeqNum, true
	case *BandwidthRequest:
		return m.RequestSeqNum, true
	case *BandwidthConfirm:
		return m.RequestSeqNum, true
	case *BandwidthReject:
		return m.RequestSeqNum, true
	case *DisengageRequest:
		return m.RequestSeqNum, true
	case *DisengageConfirm:
		return m.RequestSeqNum, true
	case *DisengageReject:
		return m.RequestSeqNum, true
	case *LocationRequest:
		return m.RequestSeqNum, true
	case *LocationConfirm:
		return m.RequestSeqNum, true
	case *LocationReject:
		return m.RequestSeqNum, true
	case *InfoRequest:
		return m.RequestSeqNum, true
	case *InfoRequestResponse:
		return m.RequestSeqNum, true
	case *InfoRequestAck:
		return m.RequestSeqNum, true
	case *InfoRequestNak:
		return m.RequestSeqNum, true
	case *NonStandardMessage:
		return m.RequestSeqNum, true
	case *UnknownMessageResponse:
		return m.RequestSeqNum, true
	case *RequestInProgress:
		return m.RequestSeqNum, true
	}
	return 0, false
}
