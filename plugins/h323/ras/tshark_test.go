package ras

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// gatekeeperEmits are the RasMessage alternatives a gatekeeper sends.
var gatekeeperEmits = map[int]string{
	IndexGatekeeperConfirm: "GCF", IndexGatekeeperReject: "GRJ",
	IndexRegistrationConfirm: "RCF", IndexRegistrationReject: "RRJ",
	IndexUnregistrationRequest: "URQ", IndexUnregistrationConfirm: "UCF", IndexUnregistrationReject: "URJ",
	IndexAdmissionConfirm: "ACF", IndexAdmissionReject: "ARJ",
	IndexDisengageConfirm: "DCF", IndexDisengageReject: "DRJ",
	IndexLocationConfirm: "LCF", IndexLocationReject: "LRJ",
	IndexBandwidthConfirm: "BCF", IndexBandwidthReject: "BRJ",
	IndexInfoRequest: "IRQ", IndexRequestInProgress: "RIP", IndexUnknownMessageResponse: "XRS",
}

// tsharkFields are the h225 fields the test reads back (tshark -G fields).
var tsharkFields = []string{
	"h225.RasMessage", "h225.requestSeqNum", "h225.endpointIdentifier",
	"h225.gatekeeperIdentifier", "h225.h323_ID", "h225.dialledDigits",
	"h225.url_ID", "h225.email_ID", "h225.timeToLive", "h225.keepAlive",
	"h225.needToRegister", "h225.priority", "h225.altGKisPermanent",
	"h225.rejectReason", "h225.reason", "h225.ipV4", "h225.ipV4_port",
	"h225.bandWidth", "h225.allowedBandWidth", "h225.irrFrequency",
	"h225.callReferenceValue", "h225.delay", "h225.messageNotUnderstood",
}

// tsharkWant is what tshark must show for some test values, beside the
// message type and sequence number checked for all (several occurrences
// of a field are joined by commas, in packet order).
var tsharkWant = map[string]map[string]string{
	"grq": {"h225.h323_ID": "alice", "h225.dialledDigits": "2001", "h225.ipV4": "127.0.0.2", "h225.ipV4_port": "1719"},
	"gcf": {"h225.gatekeeperIdentifier": "london-gk,paris-gk", "h225.needToRegister": "1", "h225.priority": "1",
		"h225.ipV4": "127.0.0.1,127.0.0.3"},
	"grj": {"h225.rejectReason": "1", "h225.gatekeeperIdentifier": "london-gk,paris-gk", "h225.altGKisPermanent": "0"},
	"rrq": {"h225.h323_ID": "alice", "h225.dialledDigits": "2001", "h225.url_ID": "h323:alice@voip.example",
		"h225.email_ID": "alice@voip.example", "h225.timeToLive": "300", "h225.keepAlive": "0",
		"h225.ipV4": "127.0.0.2,127.0.0.2", "h225.ipV4_port": "1720,1719"},
	"rrq-keepalive": {"h225.keepAlive": "1", "h225.endpointIdentifier": "ep-0001", "h225.timeToLive": "300",
		"h225.gatekeeperIdentifier": "london-gk"},
	"rcf": {"h225.endpointIdentifier": "ep-0001", "h225.timeToLive": "300", "h225.h323_ID": "alice",
		"h225.dialledDigits": "2001", "h225.gatekeeperIdentifier": "london-gk,paris-gk",
		"h225.needToRegister": "1", "h225.ipV4": "127.0.0.3"},
	"rrj": {"h225.rejectReason": "9", "h225.gatekeeperIdentifier": "paris-gk,london-gk",
		"h225.needToRegister": "1", "h225.priority": "0", "h225.ipV4": "127.0.0.1", "h225.ipV4_port": "1719"},
	"rrj-duplicate": {"h225.rejectReason": "4", "h225.dialledDigits": "2001"},
	"urq": {"h225.endpointIdentifier": "ep-0001", "h225.h323_ID": "alice", "h225.reason": "4",
		"h225.gatekeeperIdentifier": "paris-gk,london-gk", "h225.needToRegister": "1",
		"h225.ipV4": "127.0.0.2,127.0.0.1", "h225.ipV4_port": "1720,1719"},
	"urj": {"h225.rejectReason": "0"},
	"arq": {"h225.endpointIdentifier": "ep-0001", "h225.dialledDigits": "2002,2001", "h225.bandWidth": "1280",
		"h225.callReferenceValue": "42"},
	"acf": {"h225.dialledDigits": "2002", "h225.ipV4": "127.0.0.4", "h225.ipV4_port": "1720",
		"h225.bandWidth": "1280", "h225.irrFrequency": "120"},
	"arj":  {"h225.rejectReason": "0"},
	"bcf":  {"h225.bandWidth": "640"},
	"brj":  {"h225.rejectReason": "3", "h225.allowedBandWidth": "320"},
	"drj":  {"h225.rejectReason": "0"},
	"lrq":  {"h225.dialledDigits": "3001", "h225.gatekeeperIdentifier": "london-gk", "h225.ipV4": "127.0.0.1"},
	"lcf":  {"h225.dialledDigits": "3001", "h225.ipV4": "127.0.0.5,127.0.0.5", "h225.ipV4_port": "1720,1719"},
	"lrj":  {"h225.rejectReason": "2"},
	"irq":  {"h225.callReferenceValue": "0", "h225.ipV4": "127.0.0.1", "h225.ipV4_port": "1719"},
	"irr":  {"h225.endpointIdentifier": "ep-0001", "h225.h323_ID": "alice"},
	"inak": {"h225.gatekeeperIdentifier": "london-gk", "h225.altGKisPermanent": "1"},
	"rip":  {"h225.delay": "5000"},
	"xrs":  {"h225.messageNotUnderstood": "7e0001"},
}

// TestTshark writes every test value (all the messages a gatekeeper emits
// among them) into a pcap as UDP 1719 datagrams and has Wireshark's h225
// dissector decode them: no packet may be malformed or carry an error,
// each must be the right RasMessage, and the listed fields must read back.
func TestTshark(t *testing.T) {
	tshark := requireTool(t, "tshark", "tshark")
	msgs := testMessages()
	covered := map[int]bool{}
	var payloads [][]byte
	for _, tc := range msgs {
		b, err := Marshal(tc.msg)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		payloads = append(payloads, b)
		covered[tc.msg.MessageIndex()] = true
	}
	for idx, name := range gatekeeperEmits {
		if !covered[idx] {
			t.Errorf("no test value for %s", name)
		}
	}
	pcap := filepath.Join(t.TempDir(), "ras.pcap")
	if err := os.WriteFile(pcap, pcapRAS(payloads), 0o644); err != nil {
		t.Fatal(err)
	}

	const malformed = "_ws.malformed || _ws.expert.severity >= error"
	bad := runTshark(t, tshark, "-r", pcap, "-V", "-Y", malformed)
	if strings.TrimSpace(bad) != "" {
		t.Fatalf("tshark found malformed packets:\n%s", bad)
	}
	// The control: the same filter does catch a broken datagram (an RCF
	// cut short).
	var rcf []byte
	for i, tc := range msgs {
		if tc.name == "rcf" {
			rcf = payloads[i]
		}
	}
	control := filepath.Join(t.TempDir(), "control.pcap")
	if err := os.WriteFile(control, pcapRAS([][]byte{rcf[:12]}), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := runTshark(t, tshark, "-r", control, "-Y", malformed); strings.TrimSpace(out) == "" {
		t.Fatalf("tshark does not flag a truncated RCF: the malformed check proves nothing")
	}

	args := []string{"-r", pcap, "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"}
	for _, f := range tsharkFields {
		args = append(args, "-e", f)
	}
	out := runTshark(t, tshark, args...)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != len(msgs) {
		t.Fatalf("tshark printed %d lines for %d packets:\n%s", len(lines), len(msgs), out)
	}
	for i, tc := range msgs {
		cols := strings.Split(lines[i], "|")
		if len(cols) != len(tsharkFields) {
			t.Fatalf("%s: %d columns in %q", tc.name, len(cols), lines[i])
		}
		got := map[string]string{}
		for j, f := range tsharkFields {
			got[f] = cols[j]
		}
		want := map[string]string{
			"h225.RasMessage":    strconv.Itoa(tc.msg.MessageIndex()),
			"h225.requestSeqNum": strconv.Itoa(int(mustSeqNum(t, tc.msg))),
		}
		for f, v := range tsharkWant[tc.name] {
			want[f] = v
		}
		for f, v := range want {
			if got[f] != v {
				t.Errorf("%s: tshark %s = %q, want %q", tc.name, f, got[f], v)
			}
		}
	}
}

func runTshark(t *testing.T, tshark string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tshark, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

func mustSeqNum(t *testing.T, m Message) uint16 {
	n, ok := RequestSeqNum(m)
	if !ok {
		t.Fatalf("%T has no requestSeqNum", m)
	}
	return n
}
