// Package ras encodes and decodes H.225.0 RAS messages (registration,
// admission and status: ITU-T H.225.0 12/2009, module H323-MESSAGES) in the
// ALIGNED variant of the Packed Encoding Rules (ITU-T X.691).
//
// No Go library encodes H.225.0 or aligned PER, so this package is written
// by hand from the ASN.1 module: per.go is the PER layer (constrained whole
// numbers, length determinants, normally small numbers, SEQUENCE preambles
// and extension bitmaps, CHOICE indexes, open types, OCTET/BIT STRING,
// known-multiplier character strings with their permitted alphabets, OBJECT
// IDENTIFIER); types.go, reasons.go and messages.go hold one Go type per
// ASN.1 type, with its encoder and decoder written component by component.
//
// The Go types follow the ASN.1: one struct per SEQUENCE with OPTIONAL
// components as pointers, nil slices, "" or 0 where the ASN.1 range excludes
// it (documented per field); a CHOICE carrying values is a sealed interface
// (Message, TransportAddress, AliasAddress) or a struct tagged by its Choice
// field; a CHOICE of NULLs is an int. Every CHOICE counts all its
// alternatives and every SEQUENCE all its extension additions, so index
// widths and extension bitmaps are those of any other encoder.
//
// What is decoded: every RasMessage alternative a gatekeeper meets (GRQ to
// XRS, RIP, IACK, INAK) with its root components and the extension
// additions a gatekeeper uses (alternateGatekeeper, timeToLive, keepAlive,
// endpointIdentifier, callIdentifier, altGKInfo, assignedGatekeeper...).
// What is skipped: extension additions not implemented here — H.235 tokens
// and cryptoTokens, integrity, featureSet, genericData, capacity,
// circuitInfo, serviceControl, usage reporting, alternateEndpoints — are
// skipped by their length on decoding and never written; so is anything a
// later version of H.225.0 adds. Extension alternatives not decoded here
// (RasMessage resourcesAvailableIndicate/Confirm, serviceControlIndication/
// Response, admissionConfirmSequence; AliasAddress mobileUIM, isupNumber;
// TransportQOS qOSCapabilities; SupportedProtocols t38FaxAnnexbOnly) keep
// their encoding in a Raw field and are written back unchanged. H.235
// tokens in the root of RIP, IACK and INAK are refused with ErrUnsupported.
//
// Decoding never panics and allocates in proportion to the input: every
// length and count is checked against the bits left before anything is
// allocated, and fragmented lengths (16K and more, which no RAS datagram
// needs) are refused.
//
// The codec is proven in its tests against two independent
// implementations: Wireshark's h225 dissector (tshark decodes every test
// message, all those a gatekeeper sends among them, with the expected
// fields and no malformed packet) and Erlang's asn1 compiler (erlc -bper
// on testdata/H225-RAS.asn, a cut-down module written for the test: the
// same values encode to the same bytes, and each side decodes the other's).
// FuzzDecode checks that decoding never panics, allocates in bounds, and
// that whatever decodes encodes again to the same value.
package ras
