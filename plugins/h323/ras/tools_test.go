package ras

import (
	"encoding/binary"
	"os/exec"
	"testing"
)

// requireTool finds a tool the independent proofs run, or fails the test
// with the Debian package to install: these proofs are never skipped.
func requireTool(t *testing.T, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not found in PATH; install it: apt-get install -y %s", tool, pkg)
	}
	return p
}

// pcapRAS writes a classic pcap file (LINKTYPE_RAW: bare IPv4 packets), one
// UDP datagram 127.0.0.1:1719 -> 127.0.0.1:1719 per payload.
func pcapRAS(payloads [][]byte) []byte {
	var out []byte
	le := binary.LittleEndian
	out = le.AppendUint32(out, 0xa1b2c3d4) // magic, microsecond timestamps
	out = le.AppendUint16(out, 2)
	out = le.AppendUint16(out, 4)
	out = le.AppendUint32(out, 0) // thiszone
	out = le.AppendUint32(out, 0) // sigfigs
	out = le.AppendUint32(out, 65535)
	out = le.AppendUint32(out, 101) // LINKTYPE_RAW
	for i, p := range payloads {
		pkt := ipv4UDP(p, uint16(i+1))
		out = le.AppendUint32(out, 1700000000+uint32(i))
		out = le.AppendUint32(out, 0)
		out = le.AppendUint32(out, uint32(len(pkt)))
		out = le.AppendUint32(out, uint32(len(pkt)))
		out = append(out, pkt...)
	}
	return out
}

func ipv4UDP(payload []byte, id uint16) []byte {
	be := binary.BigEndian
	total := 20 + 8 + len(payload)
	h := make([]byte, 20, total)
	h[0] = 0x45
	be.PutUint16(h[2:], uint16(total))
	be.PutUint16(h[4:], id)
	h[8] = 64 // TTL
	h[9] = 17 // UDP
	copy(h[12:], []byte{127, 0, 0, 1})
	copy(h[16:], []byte{127, 0, 0, 1})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(be.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	be.PutUint16(h[10:], ^uint16(sum))
	u := make([]byte, 8)
	be.PutUint16(u[0:], 1719)
	be.PutUint16(u[2:], 1719)
	be.PutUint16(u[4:], uint16(8+len(payload)))
	// UDP checksum 0: none (allowed over IPv4).
	return append(append(h, u...), payload...)
}
