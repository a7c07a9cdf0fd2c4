package h323sim

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/ras"
)

// TestTsharkControl: the tshark check decodes RAS on a gatekeeper port
// other than 1719, and it does flag a broken datagram (an RCF cut short):
// the check of the gatekeeper tests proves something.
func TestTsharkControl(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Fatal("tshark not found in PATH; install it: apt-get install -y tshark")
	}
	rcf, err := ras.Marshal(&ras.RegistrationConfirm{RequestSeqNum: 5, ProtocolIdentifier: ras.ProtocolV4,
		CallSignalAddress: []ras.TransportAddress{}, TerminalAlias: []ras.AliasAddress{ras.H323ID("carol")},
		GatekeeperIdentifier: "london", EndpointIdentifier: "203@london", TimeToLive: 60})
	if err != nil {
		t.Fatal(err)
	}
	gk := netip.MustParseAddrPort("127.0.0.1:23456")
	ep := netip.MustParseAddrPort("127.0.0.1:34567")
	var good, bad Capture
	good.Add(timeZero, gk, ep, rcf)
	bad.Add(timeZero, gk, ep, rcf[:12])
	res, err := Tshark(context.Background(), tshark, &good, gk.Port())
	if err != nil {
		t.Fatal(err)
	}
	if res.Malformed != "" || len(res.Messages) != 1 || res.Messages[0] != ras.IndexRegistrationConfirm {
		t.Fatalf("a good RCF: %+v", res)
	}
	res, err = Tshark(context.Background(), tshark, &bad, gk.Port())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Malformed, "Malformed") {
		t.Fatalf("a truncated RCF is not flagged: %+v", res)
	}
	// Without the decode-as the port is not RAS: the check would see it.
	res, err = Tshark(context.Background(), tshark, &good)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 1 || res.Messages[0] != -1 {
		t.Fatalf("port 23456 decoded as RAS without being asked: %+v", res)
	}
}

var timeZero = time.Unix(1700000000, 0)
