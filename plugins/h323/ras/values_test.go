package ras

import (
	"bytes"
	"encoding/asn1"
	"net/netip"
	"strings"
)

// The test values shared by the round-trip, tshark, Erlang and fuzz tests.
// testdata/erlang/values.escript holds the same values as Erlang terms,
// under the same names: keep the two in step.

type namedMessage struct {
	name string
	msg  Message
}

func ip(s string) IPAddress {
	ap := netip.MustParseAddrPort(s)
	return IPAddress{IP: ap.Addr().As4(), Port: ap.Port()}
}

var (
	guidConf = GUID{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00}
	guidCall = GUID{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

	vendorRally = H221NonStandard{T35CountryCode: 181, T35Extension: 0, ManufacturerCode: 29281}

	terminal = EndpointType{
		Vendor: &VendorIdentifier{
			Vendor:    vendorRally,
			ProductID: []byte("rally-sim"),
			VersionID: []byte("1.0"),
		},
		Terminal: &NonStandardOnly{},
	}

	altGKParis = AlternateGK{
		RASAddress:           ip("127.0.0.3:1719"),
		GatekeeperIdentifier: "paris-gk",
		NeedToRegister:       true,
		Priority:             1,
	}
	altGKLondon = AlternateGK{
		RASAddress:           ip("127.0.0.1:1719"),
		GatekeeperIdentifier: "london-gk",
		NeedToRegister:       true,
		Priority:             0,
	}
)

func ptr[T any](v T) *T { return &v }

// testMessages are the values every proof runs over: each message type,
// some several times with different components.
func testMessages() []namedMessage {
	return []namedMessage{
		{"grq", &GatekeeperRequest{
			RequestSeqNum:      1,
			ProtocolIdentifier: ProtocolV7,
			RASAddress:         ip("127.0.0.2:1719"),
			EndpointType:       terminal,
			EndpointAlias:      []AliasAddress{H323ID("alice"), DialedDigits("2001")},
			AlgorithmOIDs:      []asn1.ObjectIdentifier{{1, 2, 840, 113549, 2, 5}},
			SupportsAltGK:      true,
		}},
		{"gcf", &GatekeeperConfirm{
			RequestSeqNum:        1,
			ProtocolIdentifier:   ProtocolV7,
			GatekeeperIdentifier: "london-gk",
			RASAddress:           ip("127.0.0.1:1719"),
			AlternateGatekeeper:  []AlternateGK{altGKParis},
		}},
		{"grj", &GatekeeperReject{
			RequestSeqNum:        2,
			ProtocolIdentifier:   ProtocolV7,
			GatekeeperIdentifier: "london-gk",
			RejectReason:         GatekeeperRejectReason{Choice: GRJTerminalExcluded},
			AltGKInfo:            &AltGKInfo{AlternateGatekeeper: []AlternateGK{altGKParis}},
		}},
		{"rrq", &RegistrationRequest{
			RequestSeqNum:      3,
			ProtocolIdentifier: ProtocolV7,
			DiscoveryComplete:  true,
			CallSignalAddress:  []TransportAddress{ip("127.0.0.2:1720")},
			RASAddress:         []TransportAddress{ip("127.0.0.2:1719")},
			TerminalType:       terminal,
			TerminalAlias: []AliasAddress{
				H323ID("alice"), DialedDigits("2001"),
				URLID("h323:alice@voip.example"), EmailID("alice@voip.example"),
			},
			GatekeeperIdentifier: "london-gk",
			EndpointVendor:       VendorIdentifier{Vendor: vendorRally, ProductID: []byte("rally-sim"), VersionID: []byte("1.0")},
			TimeToLive:           300,
			SupportsAltGK:        true,
			MultipleCalls:        ptr(false),
			Language:             []string{"en", "fr"},
		}},
		{"rrq-keepalive", &RegistrationRequest{
			RequestSeqNum:        4,
			ProtocolIdentifier:   ProtocolV7,
			CallSignalAddress:    []TransportAddress{ip("127.0.0.2:1720")},
			RASAddress:           []TransportAddress{ip("127.0.0.2:1719")},
			TerminalType:         EndpointType{Terminal: &NonStandardOnly{}},
			GatekeeperIdentifier: "london-gk",
			EndpointVendor:       VendorIdentifier{Vendor: vendorRally},
			TimeToLive:           300,
			KeepAlive:            true,
			EndpointIdentifier:   "ep-0001",
		}},
		{"rrq-gateway", &RegistrationRequest{
			RequestSeqNum:      5,
			ProtocolIdentifier: ProtocolV4,
			NonStandardData: &NonStandardParameter{
				Identifier: NonStandardIdentifier{Choice: NonStandardObject, Object: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}},
				Data:       []byte{1, 2, 3},
			},
			DiscoveryComplete: false,
			CallSignalAddress: []TransportAddress{
				IP6Address{IP: netip.MustParseAddr("2001:db8::2").As16(), Port: 1720},
				NSAPAddress{0x47, 0x00, 0x05},
			},
			RASAddress: []TransportAddress{ip("127.0.0.2:1719")},
			TerminalType: EndpointType{
				Gateway: &GatewayInfo{Protocol: []SupportedProtocols{
					{Choice: ProtocolVoice, Caps: ProtocolCaps{SupportedPrefixes: []SupportedPrefix{{Prefix: DialedDigits("0#")}}}},
					{Choice: ProtocolH323, Caps: ProtocolCaps{
						DataRatesSupported: []DataRate{{ChannelRate: 640, ChannelMultiplier: 2}},
						SupportedPrefixes:  []SupportedPrefix{{Prefix: DialedDigits("9")}},
					}},
					{Choice: ProtocolSIP, Caps: ProtocolCaps{}},
				}},
				MC:  false,
				Set: []byte{0x80, 0, 0, 1},
				SupportedTunnelledProtocols: []TunnelledProtocol{
					{IDChoice: TunnelledAlternateID, AlternateID: TunnelledProtocolAlternateIdentifier{ProtocolType: "qsig", ProtocolVariant: "v2"}, SubIdentifier: "x"},
				},
			},
			TerminalAlias: []AliasAddress{
				PartyNumber{Choice: PartyE164, TypeOfNumber: PublicInternationalNumber, Digits: "441234567"},
				TransportID{Address: ip("127.0.0.2:1720")},
			},
			EndpointVendor:       VendorIdentifier{Vendor: vendorRally, EnterpriseNumber: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999}},
			TerminalAliasPattern: []AddressPattern{{Choice: PatternWildcard, Wildcard: DialedDigits("44*")}},
			Restart:              true,
			SupportsAssignedGK:   true,
			TransportQOS:         &TransportQOS{Choice: QOSEndpointControlled},
		}},
		{"rcf", &RegistrationConfirm{
			RequestSeqNum:        3,
			ProtocolIdentifier:   ProtocolV7,
			TerminalAlias:        []AliasAddress{H323ID("alice"), DialedDigits("2001")},
			GatekeeperIdentifier: "london-gk",
			EndpointIdentifier:   "ep-0001",
			AlternateGatekeeper:  []AlternateGK{altGKParis},
			TimeToLive:           300,
			PreGrantedARQ: &PreGrantedARQ{
				MakeCall: true, AnswerCall: true,
				IRRFrequencyInCall: 60,
			},
			MaintainConnection: false,
		}},
		{"rrj", &RegistrationReject{
			RequestSeqNum:        3,
			ProtocolIdentifier:   ProtocolV7,
			RejectReason:         RegistrationRejectReason{Choice: RRJResourceUnavailable},
			GatekeeperIdentifier: "paris-gk",
			AltGKInfo: &AltGKInfo{
				AlternateGatekeeper: []AlternateGK{altGKLondon},
				AltGKIsPermanent:    false,
			},
		}},
		{"rrj-duplicate", &RegistrationReject{
			RequestSeqNum:      9,
			ProtocolIdentifier: ProtocolV7,
			RejectReason:       RegistrationRejectReason{Choice: RRJDuplicateAlias, DuplicateAlias: []AliasAddress{DialedDigits("2001")}},
		}},
		{"rrj-invalid-aliases", &RegistrationReject{
			RequestSeqNum:      10,
			ProtocolIdentifier: ProtocolV7,
			RejectReason: RegistrationRejectReason{Choice: RRJInvalidTerminalAliases, InvalidTerminalAliases: &InvalidTerminalAliases{
				TerminalAlias:        []AliasAddress{H323ID("bob")},
				TerminalAliasPattern: []AddressPattern{{Choice: PatternRange, Start: PartyNumber{Choice: PartyPrivate, TypeOfNumber: PrivateLocalNumber, Digits: "100"}, End: PartyNumber{Choice: PartyPrivate, TypeOfNumber: PrivateLocalNumber, Digits: "199"}}},
			}},
		}},
		{"urq", &UnregistrationRequest{
			RequestSeqNum:        6,
			CallSignalAddress:    []TransportAddress{ip("127.0.0.2:1720")},
			EndpointAlias:        []AliasAddress{H323ID("alice")},
			EndpointIdentifier:   "ep-0001",
			GatekeeperIdentifier: "paris-gk",
			Reason:               &UnregRequestReason{Choice: URQMaintenance},
			AlternateGatekeeper:  []AlternateGK{altGKLondon},
		}},
		{"urq-endpoint", &UnregistrationRequest{
			RequestSeqNum:      7,
			CallSignalAddress:  []TransportAddress{ip("127.0.0.2:1720")},
			EndpointIdentifier: "ep-0001",
			Reason:             &UnregRequestReason{Choice: URQUndefinedReason},
		}},
		{"ucf", &UnregistrationConfirm{RequestSeqNum: 6}},
		{"urj", &UnregistrationReject{
			RequestSeqNum: 7,
			RejectReason:  UnregRejectReason{Choice: URJNotCurrentlyRegistered},
		}},
		{"arq", &AdmissionRequest{
			RequestSeqNum:        8,
			CallType:             CallPointToPoint,
			CallModel:            ptr(CallModelDirect),
			EndpointIdentifier:   "ep-0001",
			DestinationInfo:      []AliasAddress{DialedDigits("2002")},
			SrcInfo:              []AliasAddress{H323ID("alice"), DialedDigits("2001")},
			SrcCallSignalAddress: ip("127.0.0.2:1720"),
			BandWidth:            1280,
			CallReferenceValue:   42,
			ConferenceID:         guidConf,
			CanMapAlias:          true,
			CallIdentifier:       CallIdentifier{GUID: guidCall},
			GatekeeperIdentifier: "london-gk",
		}},
		{"arq-exotic", &AdmissionRequest{
			RequestSeqNum:      11,
			CallType:           CallNToN,
			EndpointIdentifier: "ep-0002",
			DestCallSignalAddress: IPSourceRoute{
				IP: [4]byte{10, 0, 0, 1}, Port: 1720,
				Route:   [][4]byte{{10, 0, 0, 254}},
				Routing: RoutingLoose,
			},
			DestExtraCallInfo: []AliasAddress{PartyNumber{Choice: PartyData, Digits: "12"}},
			SrcInfo:           []AliasAddress{H323ID("bob")},
			SrcCallSignalAddress: IPXAddress{
				Node: [6]byte{1, 2, 3, 4, 5, 6}, NetNum: [4]byte{0, 0, 0, 9}, Port: [2]byte{0x12, 0x34},
			},
			BandWidth:          0,
			CallReferenceValue: 65535,
			CallServices:       &QseriesOptions{Q932Full: true, Q954Info: Q954Details{ThreePartyService: true}},
			ConferenceID:       guidConf,
			ActiveMC:           true,
			AnswerCall:         true,
			CallIdentifier:     CallIdentifier{GUID: guidCall},
			TransportQOS:       &TransportQOS{Choice: QOSNoControl},
			WillSupplyUUIEs:    true,
			CallLinkage:        &CallLinkage{GlobalCallID: ptr(guidCall)},
			GatewayDataRate:    &DataRate{ChannelRate: 4294967295},
			CanMapSrcAlias:     true,
		}},
		{"acf", &AdmissionConfirm{
			RequestSeqNum:         8,
			BandWidth:             1280,
			CallModel:             CallModelDirect,
			DestCallSignalAddress: ip("127.0.0.4:1720"),
			IRRFrequency:          120,
			DestinationInfo:       []AliasAddress{DialedDigits("2002")},
			DestinationType:       &EndpointType{Terminal: &NonStandardOnly{}},
			UUIEsRequested:        UUIEsRequested{ReleaseComplete: true, Status: true},
		}},
		{"arj", &AdmissionReject{
			RequestSeqNum: 9,
			RejectReason:  AdmissionRejectReason{Choice: ARJCalledPartyNotRegistered},
		}},
		{"arj-scn", &AdmissionReject{
			RequestSeqNum: 12,
			RejectReason: AdmissionRejectReason{Choice: ARJRouteCallToSCN, RouteCallToSCN: []PartyNumber{
				{Choice: PartyE164, TypeOfNumber: PublicNationalNumber, Digits: "0123456789"},
			}},
			CallSignalAddress: []TransportAddress{NetBIOSAddress{'R', 'A', 'L', 'L', 'Y'}},
		}},
		{"brq", &BandwidthRequest{
			RequestSeqNum:      10,
			EndpointIdentifier: "ep-0001",
			ConferenceID:       guidConf,
			CallReferenceValue: 42,
			CallType:           ptr(CallPointToPoint),
			BandWidth:          640,
			CallIdentifier:     CallIdentifier{GUID: guidCall},
		}},
		{"bcf", &BandwidthConfirm{RequestSeqNum: 10, BandWidth: 640}},
		{"brj", &BandwidthReject{
			RequestSeqNum:    11,
			RejectReason:     BandRejectReason{Choice: BRJInsufficientResources},
			AllowedBandWidth: 320,
		}},
		{"drq", &DisengageRequest{
			RequestSeqNum:      12,
			EndpointIdentifier: "ep-0001",
			ConferenceID:       guidConf,
			CallReferenceValue: 42,
			DisengageReason:    DisengageNormalDrop,
			CallIdentifier:     CallIdentifier{GUID: guidCall},
			AnsweredCall:       false,
			TerminationCause: &CallTerminationCause{
				Choice:                TerminationReleaseCompleteReason,
				ReleaseCompleteReason: ReleaseCompleteReason{Choice: RCUndefinedReason},
			},
		}},
		{"dcf", &DisengageConfirm{RequestSeqNum: 12}},
		{"drj", &DisengageReject{
			RequestSeqNum: 13,
			RejectReason:  DisengageRejectReason{Choice: DRJNotRegistered},
		}},
		{"lrq", &LocationRequest{
			RequestSeqNum:        14,
			DestinationInfo:      []AliasAddress{DialedDigits("3001")},
			ReplyAddress:         ip("127.0.0.1:1719"),
			SourceInfo:           []AliasAddress{H323ID("london-gk")},
			GatekeeperIdentifier: "london-gk",
			HopCount:             3,
			CallIdentifier:       &CallIdentifier{GUID: guidCall},
			BandWidth:            ptr(uint32(1280)),
		}},
		{"lcf", &LocationConfirm{
			RequestSeqNum:     14,
			CallSignalAddress: ip("127.0.0.5:1720"),
			RASAddress:        ip("127.0.0.5:1719"),
			DestinationInfo:   []AliasAddress{DialedDigits("3001")},
			MultipleCalls:     ptr(true),
		}},
		{"lrj", &LocationReject{
			RequestSeqNum: 15,
			RejectReason:  LocationRejectReason{Choice: LRJRequestDenied},
		}},
		{"irq", &InfoRequest{
			RequestSeqNum:      16,
			CallReferenceValue: 0,
			ReplyAddress:       ip("127.0.0.1:1719"),
		}},
		{"irr", &InfoRequestResponse{
			RequestSeqNum:      16,
			EndpointType:       EndpointType{Terminal: &NonStandardOnly{}},
			EndpointIdentifier: "ep-0001",
			RASAddress:         ip("127.0.0.2:1719"),
			CallSignalAddress:  []TransportAddress{ip("127.0.0.2:1720")},
			EndpointAlias:      []AliasAddress{H323ID("alice")},
			PerCallInfo: []PerCallInfo{{
				CallReferenceValue: 42,
				ConferenceID:       guidConf,
				Originator:         ptr(true),
				Audio: []RTPSession{{
					RTPAddress:  TransportChannelInfo{SendAddress: ip("127.0.0.2:5004"), RecvAddress: ip("127.0.0.4:5004")},
					RTCPAddress: TransportChannelInfo{SendAddress: ip("127.0.0.2:5005")},
					CName:       "alice host",
					SSRC:        12345,
					SessionID:   1,
				}},
				H245:           TransportChannelInfo{},
				CallSignalling: TransportChannelInfo{RecvAddress: ip("127.0.0.4:1720")},
				CallType:       CallPointToPoint,
				BandWidth:      640,
				CallModel:      CallModelDirect,
				CallIdentifier: CallIdentifier{GUID: guidCall},
			}},
			NeedResponse: true,
			IRRStatus:    &InfoRequestResponseStatus{Choice: IRRComplete},
		}},
		{"iack", &InfoRequestAck{RequestSeqNum: 16}},
		{"inak", &InfoRequestNak{
			RequestSeqNum: 16,
			NakReason:     InfoRequestNakReason{Choice: INAKNotRegistered},
			AltGKInfo:     &AltGKInfo{AlternateGatekeeper: []AlternateGK{altGKLondon}, AltGKIsPermanent: true},
		}},
		{"nsm", &NonStandardMessage{
			RequestSeqNum: 17,
			NonStandardData: NonStandardParameter{
				Identifier: NonStandardIdentifier{Choice: NonStandardH221, H221NonStandard: vendorRally},
				Data:       []byte("hello"),
			},
		}},
		{"nsm-long", &NonStandardMessage{
			RequestSeqNum: 65535,
			NonStandardData: NonStandardParameter{
				Identifier: NonStandardIdentifier{Choice: NonStandardObject, Object: asn1.ObjectIdentifier{2, 999, 1}},
				Data:       bytes.Repeat([]byte{0xa5}, 200),
			},
		}},
		{"urq-long-aliases", &UnregistrationRequest{
			RequestSeqNum:     20,
			CallSignalAddress: nil,
			EndpointAlias: []AliasAddress{
				H323ID("Zo\u00eb \u6771\u4eac"),
				DialedDigits(strings.Repeat("0123456789#*,", 10)[:128]),
				URLID("h323:" + strings.Repeat("a", 295)),
			},
		}},
		{"xrs", &UnknownMessageResponse{RequestSeqNum: 18, MessageNotUnderstood: []byte{0x7e, 0x00, 0x01}}},
		{"rip", &RequestInProgress{RequestSeqNum: 19, Delay: 5000}},
	}
}
