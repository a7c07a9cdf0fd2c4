package ras

// The reject reasons and other reason CHOICEs: mostly NULL alternatives, a
// few carrying a value. Each is a struct tagged by Choice (the alternative's
// index in the ASN.1, extension alternatives counted on from the root ones);
// the field matching the alternative carries its value. One table-driven
// codec writes them all.

// reasonKind is what an alternative carries.
type reasonKind uint8

const (
	kindNull reasonKind = iota
	kindSecurityErrors
	kindSecurityErrors2
	kindAliases     // SEQUENCE OF AliasAddress
	kindParties     // SEQUENCE OF PartyNumber
	kindInvalidTA   // RegistrationRejectReason invalidTerminalAliases
	kindNonStandard // NonStandardParameter
	kindGUID        // ConferenceIdentifier
)

// reasonSpec describes one reason CHOICE: its root alternatives, how many
// extension alternatives this package knows, and the non-NULL ones.
type reasonSpec struct {
	root, ext int
	kinds     map[int]reasonKind
}

// reasonView points into a reason struct.
type reasonView struct {
	choice  *int
	sec     *int
	aliases *[]AliasAddress
	parties *[]PartyNumber
	ita     **InvalidTerminalAliases
	nonStd  **NonStandardParameter
	guid    *GUID
	raw     *[]byte
}

func (s *reasonSpec) kind(idx int) reasonKind { return s.kinds[idx] }

func (s *reasonSpec) encValue(e *encoder, v reasonView, k reasonKind) {
	switch k {
	case kindSecurityErrors:
		encSecurityErrors(e, *v.sec)
	case kindSecurityErrors2:
		encSecurityErrors2(e, *v.sec)
	case kindAliases:
		encAliases(e, *v.aliases)
	case kindParties:
		encList(e, *v.parties, func(e *encoder, p PartyNumber) { p.enc(e) })
	case kindInvalidTA:
		if *v.ita == nil {
			e.fail("invalidTerminalAliases without a value")
			return
		}
		(*v.ita).enc(e)
	case kindNonStandard:
		if *v.nonStd == nil {
			e.fail("nonStandardReason without a value")
			return
		}
		(*v.nonStd).enc(e)
	case kindGUID:
		encGUID(e, *v.guid)
	}
}

func (s *reasonSpec) decValue(d *decoder, v reasonView, k reasonKind) {
	switch k {
	case kindSecurityErrors:
		*v.sec = decSecurityErrors(d)
	case kindSecurityErrors2:
		*v.sec = decSecurityErrors2(d)
	case kindAliases:
		*v.aliases = decAliases(d, false)
	case kindParties:
		*v.parties = decList(d, false, decPartyNumber)
	case kindInvalidTA:
		*v.ita = decInvalidTA(d)
	case kindNonStandard:
		*v.nonStd = decNonStandard(d)
	case kindGUID:
		*v.guid = decGUID(d)
	}
}

func (s *reasonSpec) enc(e *encoder, v reasonView) {
	idx := *v.choice
	switch {
	case idx < 0:
		e.fail("reason %d", idx)
	case idx < s.root:
		e.choice(idx, s.root, true)
		s.encValue(e, v, s.kind(idx))
	case idx < s.root+s.ext:
		e.choiceExt(idx, s.root, func(e *encoder) { s.encValue(e, v, s.kind(idx)) })
	default:
		encRaw(e, idx, s.root, *v.raw)
	}
}

func (s *reasonSpec) dec(d *decoder, v reasonView) {
	idx, ext := d.choice(s.root, true)
	*v.choice = idx
	switch {
	case !ext:
		s.decValue(d, v, s.kind(idx))
	case idx < s.root+s.ext:
		d.sub(func(d *decoder) { s.decValue(d, v, s.kind(idx)) })
	default:
		*v.raw = d.openRaw()
	}
}

// GatekeeperRejectReason is the CHOICE GatekeeperRejectReason.
type GatekeeperRejectReason struct {
	Choice        int
	SecurityError int    // GRJSecurityError: a SecurityErrors alternative
	Raw           []byte // an unknown extension alternative's value
}

// GatekeeperRejectReason alternatives.
const (
	GRJResourceUnavailable = iota
	GRJTerminalExcluded
	GRJInvalidRevision
	GRJUndefinedReason
	GRJSecurityDenial
	GRJGenericDataReason
	GRJNeededFeatureNotSupported
	GRJSecurityError
)

var grjSpec = &reasonSpec{root: 4, ext: 4, kinds: map[int]reasonKind{GRJSecurityError: kindSecurityErrors}}

func (x *GatekeeperRejectReason) view() reasonView {
	return reasonView{choice: &x.Choice, sec: &x.SecurityError, raw: &x.Raw}
}

// RegistrationRejectReason is the CHOICE RegistrationRejectReason.
type RegistrationRejectReason struct {
	Choice                 int
	DuplicateAlias         []AliasAddress          // RRJDuplicateAlias
	InvalidTerminalAliases *InvalidTerminalAliases // RRJInvalidTerminalAliases
	SecurityError          int                     // RRJSecurityError
	Raw                    []byte
}

// RegistrationRejectReason alternatives.
const (
	RRJDiscoveryRequired = iota
	RRJInvalidRevision
	RRJInvalidCallSignalAddress
	RRJInvalidRASAddress
	RRJDuplicateAlias
	RRJInvalidTerminalType
	RRJUndefinedReason
	RRJTransportNotSupported
	RRJTransportQOSNotSupported
	RRJResourceUnavailable
	RRJInvalidAlias
	RRJSecurityDenial
	RRJFullRegistrationRequired
	RRJAdditiveRegistrationNotSupported
	RRJInvalidTerminalAliases
	RRJGenericDataReason
	RRJNeededFeatureNotSupported
	RRJSecurityError
	RRJRegisterWithAssignedGK
)

var rrjSpec = &reasonSpec{root: 8, ext: 11, kinds: map[int]reasonKind{
	RRJDuplicateAlias:         kindAliases,
	RRJInvalidTerminalAliases: kindInvalidTA,
	RRJSecurityError:          kindSecurityErrors,
}}

func (x *RegistrationRejectReason) view() reasonView {
	return reasonView{choice: &x.Choice, aliases: &x.DuplicateAlias, ita: &x.InvalidTerminalAliases, sec: &x.SecurityError, raw: &x.Raw}
}

// InvalidTerminalAliases is RegistrationRejectReason's invalidTerminalAliases:
// SEQUENCE {terminalAlias, terminalAliasPattern, supportedPrefixes (all
// OPTIONAL), ...}.
type InvalidTerminalAliases struct {
	TerminalAlias        []AliasAddress
	TerminalAliasPattern []AddressPattern
	SupportedPrefixes    []SupportedPrefix
}

func (x *InvalidTerminalAliases) enc(e *encoder) {
	e.bit(false)
	e.optional(x.TerminalAlias != nil, x.TerminalAliasPattern != nil, x.SupportedPrefixes != nil)
	if x.TerminalAlias != nil {
		encAliases(e, x.TerminalAlias)
	}
	if x.TerminalAliasPattern != nil {
		encList(e, x.TerminalAliasPattern, encPattern)
	}
	if x.SupportedPrefixes != nil {
		encList(e, x.SupportedPrefixes, encPrefix)
	}
}

func decInvalidTA(d *decoder) *InvalidTerminalAliases {
	x := new(InvalidTerminalAliases)
	ext := d.bit()
	o := d.optional(3)
	if o.has(0) {
		x.TerminalAlias = decAliases(d, true)
	}
	if o.has(1) {
		x.TerminalAliasPattern = decList(d, true, decPattern)
	}
	if o.has(2) {
		x.SupportedPrefixes = decList(d, true, decPrefix)
	}
	if ext {
		d.extensions(func(int, *decoder) {})
	}
	return x
}

// UnregRequestReason is the CHOICE UnregRequestReason.
type UnregRequestReason struct {
	Choice        int
	SecurityError int // URQSecurityError: a SecurityErrors2 alternative
	Raw           []byte
}

// UnregRequestReason alternatives.
const (
	URQReregistrationRequired = iota
	URQTTLExpired
	URQSecurityDenial
	URQUndefinedReason
	URQMaintenance
	URQSecurityError
	URQRegisterWithAssignedGK
)

var urqReasonSpec = &reasonSpec{root: 4, ext: 3, kinds: map[int]reasonKind{URQSecurityError: kindSecurityErrors2}}

func (x *UnregRequestReason) view() reasonView {
	return reasonView{choice: &x.Choice, sec: &x.SecurityError, raw: &x.Raw}
}

// UnregRejectReason is the CHOICE UnregRejectReason.
type UnregRejectReason struct {
	Choice        int
	SecurityError int // URJSecurityError: a SecurityErrors2 alternative
	Raw           []byte
}

// UnregRejectReason alternatives.
const (
	URJNotCurrentlyRegistered = iota
	URJCallInProgress
	URJUndefinedReason
	URJPermissionDenied
	URJSecurityDenial
	URJSecurityError
)

var urjSpec = &reasonSpec{root: 3, ext: 3, kinds: map[int]reasonKind{URJSecurityError: kindSecurityErrors2}}

func (x *UnregRejectReason) view() reasonView {
	return reasonView{choice: &x.Choice, sec: &x.SecurityError, raw: &x.Raw}
}

// AdmissionRejectReason is the CHOICE AdmissionRejectReason.
type AdmissionRejectReason struct {
	Choice         int
	RouteCallToSCN []PartyNumber // ARJRouteCallToSCN
	SecurityError  int           // ARJSecurityError: a SecurityErrors2 alternative
	Raw            []byte
}

// AdmissionRejectReason alternatives.
const (
	ARJCalledPartyNotRegistered = iota
	ARJInvalidPermission
	ARJRequestDenied
	ARJUndefinedReason
	ARJCallerNotRegistered
	ARJRouteCallToGatekeeper
	ARJInvalidEndpointIdentifier
	ARJResourceUnavailable
	ARJSecurityDenial
	ARJQOSControlNotSupported
	ARJIncompleteAddress
	ARJAliasesInconsistent
	ARJRouteCallToSCN
	ARJExceedsCallCapacity
	ARJCollectDestination
	ARJCollectPIN
	ARJGenericDataReason
	ARJNeededFeatureNotSupported
	ARJSecurityError
	ARJSecurityDHmismatch
	ARJNoRouteToDestination
	ARJUnallocatedNumber
	ARJRegisterWithAssignedGK
)

var arjSpec = &reasonSpec{root: 8, ext: 15, kinds: map[int]reasonKind{
	ARJRouteCallToSCN: kindParties,
	ARJSecurityError:  kindSecurityErrors2,
}}

func (x *AdmissionRejectReason) view() reasonView {
	return reasonView{choice: &x.Choice, parties: &x.RouteCallToSCN, sec: &x.SecurityError, raw: &x.Raw}
}

// BandRejectReason is the CHOICE BandRejectReason.
type BandRejectReason struct {
	Choice        int
	SecurityError int // BRJSecurityError: a SecurityErrors2 alternative
	Raw           []byte
}

// BandRejectReason alternatives.
const (
	BRJNotBound = iota
	BRJInvalidConferenceID
	BRJInvalidPermission
	BRJInsufficientResources
	BRJInvalidRevision
	BRJUndefinedReason
	BRJSecurityDenial
	BRJSecurityError
)

var brjSpec = &reasonSpec{root: 6, ext: 2, kinds: map[int]reasonKind{BRJSecurityError: kindSecurityErrors2}}

func (x *BandRejectReason) view() reasonView {
	return reasonView{choice: &x.Choice, sec: &x.SecurityError, raw: &x.Raw}
}

// LocationRejectReason is the CHOICE LocationRejectReason.
type LocationRejectReason struct {
	Choice         int
	RouteCallToSCN []PartyNumber // LRJRouteCallToSCN
	SecurityError  int           // LRJSecurityError: a SecurityErrors2 alternative
	Raw            []byte
}

// LocationRejectReason alternatives.
const (
	LRJNotRegistered = iota
	LRJInvalidPermission
	LRJRequestDenied
	LRJUndefinedReason
	LRJSecurityDenial
	LRJAliasesInconsistent
	LRJRouteCallToSCN
	LRJResourceUnavailable
	LRJGenericDataReason
	LRJNeededFeatureNotSupported
	LRJHopCountExceeded
	LRJIncompleteAddress
	LRJSecurityError
	LRJSecurityDHmismatch
	LRJNoRouteToDestination
	LRJUnallocatedNumber
)

var lrjSpec = &reasonSpec{root: 4, ext: 12, kinds: map[int]reasonKind{
	LRJRouteCallToSCN: kindParties,
	LRJSecurityError:  kindSecurityErrors2,
}}

func (x *LocationRejectReason) view() reasonView {
	return reasonView{choice: &x.Choice, parties: &x.RouteCallToSCN, sec: &x.SecurityError, raw: &x.Raw}
}

// DisengageRejectReason is the CHOICE DisengageRejectReason.
type DisengageRejectReason struct {
	Choice        int
	SecurityError int // DRJSecurityError: a SecurityErrors2 alternative
	Raw           []byte
}

// DisengageRejectReason alternatives.
const (
	DRJNotRegistered = iota
	DRJRequestToDropOther
	DRJSecurityDenial
	DRJSecurityError
)

var drjSpec = &reasonSpec{root: 2, ext: 2, kinds: map[int]reasonKind{DRJSecurityError: kindSecurityErrors2}}

func (x *DisengageRejectReason) view() reasonView {
	return reasonView{choice: &x.Choice, sec: &x.SecurityError, raw: &x.Raw}
}

// InfoRequestNakReason is the CHOICE InfoRequestNakReason.
type InfoRequestNakReason struct {
	Choice        int
	SecurityError int // INAKSecurityError: a SecurityErrors2 alternative
	Raw           []byte
}

// InfoRequestNakReason alternatives.
const (
	INAKNotRegistered = iota
	INAKSecurityDenial
	INAKUndefinedReason
	INAKSecurityError
)

var inakSpec = &reasonSpec{root: 3, ext: 1, kinds: map[int]reasonKind{INAKSecurityError: kindSecurityErrors2}}

func (x *InfoRequestNakReason) view() reasonView {
	return reasonView{choice: &x.Choice, sec: &x.SecurityError, raw: &x.Raw}
}

// DisengageReason alternatives (CHOICE of NULL, extensible).
const (
	DisengageForcedDrop = iota
	DisengageNormalDrop
	DisengageUndefinedReason
)

// ReleaseCompleteReason is the CHOICE ReleaseCompleteReason (H.225.0 call
// signalling, carried in a DRQ's terminationCause).
type ReleaseCompleteReason struct {
	Choice                      int
	NonStandardReason           *NonStandardParameter // RCNonStandardReason
	ReplaceWithConferenceInvite GUID                  // RCReplaceWithConferenceInvite
	SecurityError               int                   // RCSecurityError: a SecurityErrors alternative
	Raw                         []byte
}

// ReleaseCompleteReason alternatives.
const (
	RCNoBandwidth = iota
	RCGatekeeperResources
	RCUnreachableDestination
	RCDestinationRejection
	RCInvalidRevision
	RCNoPermission
	RCUnreachableGatekeeper
	RCGatewayResources
	RCBadFormatAddress
	RCAdaptiveBusy
	RCInConf
	RCUndefinedReason
	RCFacilityCallDeflection
	RCSecurityDenied
	RCCalledPartyNotRegistered
	RCCallerNotRegistered
	RCNewConnectionNeeded
	RCNonStandardReason
	RCReplaceWithConferenceInvite
	RCGenericDataReason
	RCNeededFeatureNotSupported
	RCTunnelledSignallingRejected
	RCInvalidCID
	RCSecurityError
	RCHopCountExceeded
)

var rcSpec = &reasonSpec{root: 12, ext: 13, kinds: map[int]reasonKind{
	RCNonStandardReason:           kindNonStandard,
	RCReplaceWithConferenceInvite: kindGUID,
	RCSecurityError:               kindSecurityErrors,
}}

func (x *ReleaseCompleteReason) view() reasonView {
	return reasonView{choice: &x.Choice, nonStd: &x.NonStandardReason, guid: &x.ReplaceWithConferenceInvite, sec: &x.SecurityError, raw: &x.Raw}
}

// CallTerminationCause ::= CHOICE {releaseCompleteReason,
// releaseCompleteCauseIE OCTET STRING (SIZE (2..32)), ...}.
type CallTerminationCause struct {
	Choice                 int // TerminationReleaseCompleteReason or TerminationCauseIE
	ReleaseCompleteReason  ReleaseCompleteReason
	ReleaseCompleteCauseIE []byte
	Raw                    []byte
}

// CallTerminationCause alternatives.
const (
	TerminationReleaseCompleteReason = iota
	TerminationCauseIE
)

func (x *CallTerminationCause) enc(e *encoder) {
	switch x.Choice {
	case TerminationReleaseCompleteReason:
		e.choice(0, 2, true)
		rcSpec.enc(e, x.ReleaseCompleteReason.view())
	case TerminationCauseIE:
		e.choice(1, 2, true)
		e.octets(x.ReleaseCompleteCauseIE, 2, 32)
	default:
		encRaw(e, x.Choice, 2, x.Raw)
	}
}

func decTerminationCause(d *decoder) *CallTerminationCause {
	x := new(CallTerminationCause)
	idx, ext := d.choice(2, true)
	x.Choice = idx
	switch {
	case ext:
		x.Raw = d.openRaw()
	case idx == TerminationReleaseCompleteReason:
		rcSpec.dec(d, x.ReleaseCompleteReason.view())
	default:
		x.ReleaseCompleteCauseIE = d.octets(2, 32)
	}
	return x
}

// InfoRequestResponseStatus ::= CHOICE {complete, incomplete, segment
// INTEGER (0..65535), invalidCall, ...}.
type InfoRequestResponseStatus struct {
	Choice  int
	Segment uint16 // IRRSegment
	Raw     []byte
}

// InfoRequestResponseStatus alternatives.
const (
	IRRComplete = iota
	IRRIncomplete
	IRRSegment
	IRRInvalidCall
)

func (x *InfoRequestResponseStatus) enc(e *encoder) {
	if x.Choice >= 4 {
		encRaw(e, x.Choice, 4, x.Raw)
		return
	}
	e.choice(x.Choice, 4, true)
	if x.Choice == IRRSegment {
		encU16(e, x.Segment)
	}
}

func decIRRStatus(d *decoder) *InfoRequestResponseStatus {
	x := new(InfoRequestResponseStatus)
	idx, ext := d.choice(4, true)
	x.Choice = idx
	switch {
	case ext:
		x.Raw = d.openRaw()
	case idx == IRRSegment:
		x.Segment = decU16(d)
	}
	return x
}
