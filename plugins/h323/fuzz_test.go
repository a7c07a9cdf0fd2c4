package h323plugin

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/ras"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
)

// fuzzSeeds are requests a gatekeeper receives, the corpus of FuzzHandle
// (testdata/fuzz/FuzzHandle, written by TestFuzzHandleCorpus).
func fuzzSeeds() map[string]ras.Message {
	csa := ras.FromAddrPort(netip.MustParseAddrPort("127.0.0.1:1720"))
	rasA := ras.FromAddrPort(netip.MustParseAddrPort("127.0.0.1:9"))
	call := ras.CallIdentifier{GUID: ras.GUID{1, 2, 3}}
	model := ras.CallModelDirect
	return map[string]ras.Message{
		"grq": &ras.GatekeeperRequest{RequestSeqNum: 1, ProtocolIdentifier: ras.ProtocolV4, RASAddress: rasA,
			EndpointType: ras.EndpointType{Terminal: &ras.NonStandardOnly{}}, EndpointAlias: []ras.AliasAddress{ras.H323ID("carol")}},
		"rrq": &ras.RegistrationRequest{RequestSeqNum: 2, ProtocolIdentifier: ras.ProtocolV4,
			CallSignalAddress: []ras.TransportAddress{csa}, RASAddress: []ras.TransportAddress{rasA},
			TerminalType:  ras.EndpointType{Terminal: &ras.NonStandardOnly{}},
			TerminalAlias: []ras.AliasAddress{ras.H323ID("carol"), ras.DialedDigits("203")}, TimeToLive: 60},
		"rrq-guest": &ras.RegistrationRequest{RequestSeqNum: 3, ProtocolIdentifier: ras.ProtocolV4,
			CallSignalAddress: []ras.TransportAddress{csa}, RASAddress: []ras.TransportAddress{rasA},
			TerminalAlias: []ras.AliasAddress{ras.DialedDigits("301")}},
		"rrq-keepalive": &ras.RegistrationRequest{RequestSeqNum: 4, ProtocolIdentifier: ras.ProtocolV4,
			CallSignalAddress: []ras.TransportAddress{csa}, RASAddress: []ras.TransportAddress{rasA},
			KeepAlive: true, EndpointIdentifier: "203@london", GatekeeperIdentifier: "london", TimeToLive: 60},
		"urq": &ras.UnregistrationRequest{RequestSeqNum: 5, CallSignalAddress: []ras.TransportAddress{csa},
			EndpointIdentifier: "203@london"},
		"ucf": &ras.UnregistrationConfirm{RequestSeqNum: 6},
		"arq": &ras.AdmissionRequest{RequestSeqNum: 7, CallModel: &model, EndpointIdentifier: "203@london",
			DestinationInfo: []ras.AliasAddress{ras.DialedDigits("203")}, SrcInfo: []ras.AliasAddress{ras.H323ID("carol")},
			BandWidth: 1280, CallIdentifier: call},
		"drq": &ras.DisengageRequest{RequestSeqNum: 8, EndpointIdentifier: "203@london", CallIdentifier: call},
		"lrq": &ras.LocationRequest{RequestSeqNum: 9, DestinationInfo: []ras.AliasAddress{ras.H323ID("carol")}, ReplyAddress: rasA},
		"brq": &ras.BandwidthRequest{RequestSeqNum: 10, EndpointIdentifier: "203@london", BandWidth: 640},
		"irr": &ras.InfoRequestResponse{RequestSeqNum: 11, EndpointIdentifier: "203@london", RASAddress: rasA,
			CallSignalAddress: []ras.TransportAddress{csa}, NeedResponse: true},
	}
}

// FuzzHandle feeds arbitrary datagrams to a running gatekeeper's handler:
// it must never panic (the handler recovers, so a recovered panic is a
// failure here too), and must go on serving.
func FuzzHandle(f *testing.F) {
	for _, m := range fuzzSeeds() {
		b, err := ras.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	host := londonHost()
	host.snap.Peers[1].State = admission.StateFailover // rome's phones are guests here
	p, _ := startGK(f, host, "")
	in := p.running
	src := netip.MustParseAddrPort("127.0.0.1:9") // discard: answers go nowhere
	f.Fuzz(func(t *testing.T, b []byte) {
		in.handle(b, src, time.Now())
		if n := in.c.panics.Load(); n != 0 {
			t.Fatalf("the handler panicked on %x", b)
		}
	})
}

// TestFuzzHandleCorpus checks that testdata/fuzz/FuzzHandle holds the
// seeds; H323_UPDATE_CORPUS=1 writes them.
func TestFuzzHandleCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzHandle")
	update := os.Getenv("H323_UPDATE_CORPUS") == "1"
	if update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, m := range fuzzSeeds() {
		b, err := ras.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		path := filepath.Join(dir, "seed-"+name)
		if update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale (H323_UPDATE_CORPUS=1 go test -run TestFuzzHandleCorpus rewrites it)", path)
		}
	}
}
