package h323sim

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Capture records UDP datagrams as a classic pcap file (LINKTYPE_RAW: bare
// IPv4 packets), with their real addresses and times, for Wireshark's
// decoders. It is safe for concurrent use.
type Capture struct {
	mu      sync.Mutex
	packets []packet
}

type packet struct {
	at       time.Time
	src, dst netip.AddrPort
	payload  []byte
}

// Add records one datagram.
func (c *Capture) Add(at time.Time, src, dst netip.AddrPort, payload []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.packets = append(c.packets, packet{at, src, dst, append([]byte(nil), payload...)})
}

// Len returns the number of datagrams recorded.
func (c *Capture) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.packets)
}

// Ports returns the UDP ports the datagrams came from.
func (c *Capture) Ports() []uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[uint16]bool{}
	var out []uint16
	for _, p := range c.packets {
		if !seen[p.src.Port()] {
			seen[p.src.Port()] = true
			out = append(out, p.src.Port())
		}
	}
	return out
}

// Pcap returns the recorded datagrams as a pcap file. IPv6 datagrams are
// left out.
func (c *Capture) Pcap() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	le := binary.LittleEndian
	var out []byte
	out = le.AppendUint32(out, 0xa1b2c3d4) // magic, microsecond timestamps
	out = le.AppendUint16(out, 2)
	out = le.AppendUint16(out, 4)
	out = le.AppendUint32(out, 0) // thiszone
	out = le.AppendUint32(out, 0) // sigfigs
	out = le.AppendUint32(out, 65535)
	out = le.AppendUint32(out, 101) // LINKTYPE_RAW
	for i, p := range c.packets {
		if !p.src.Addr().Is4() || !p.dst.Addr().Is4() {
			continue
		}
		pkt := ipv4UDP(p.src, p.dst, p.payload, uint16(i+1))
		out = le.AppendUint32(out, uint32(p.at.Unix()))
		out = le.AppendUint32(out, uint32(p.at.Nanosecond()/1000))
		out = le.AppendUint32(out, uint32(len(pkt)))
		out = le.AppendUint32(out, uint32(len(pkt)))
		out = append(out, pkt...)
	}
	return out
}

func ipv4UDP(src, dst netip.AddrPort, payload []byte, id uint16) []byte {
	be := binary.BigEndian
	total := 20 + 8 + len(payload)
	h := make([]byte, 20, total)
	h[0] = 0x45
	be.PutUint16(h[2:], uint16(total))
	be.PutUint16(h[4:], id)
	h[8] = 64 // TTL
	h[9] = 17 // UDP
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(be.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	be.PutUint16(h[10:], ^uint16(sum))
	u := make([]byte, 8)
	be.PutUint16(u[0:], src.Port())
	be.PutUint16(u[2:], dst.Port())
	be.PutUint16(u[4:], uint16(8+len(payload)))
	// UDP checksum 0: none (allowed over IPv4).
	return append(append(h, u...), payload...)
}

// TsharkResult is what Wireshark's H.225.0 RAS dissector made of a
// capture.
type TsharkResult struct {
	// Messages are the RasMessage alternatives, one per packet, in order.
	Messages []int
	// Malformed lists the packets tshark flags as malformed or in error
	// (its verbose output), "" if none.
	Malformed string
}

// Tshark decodes the capture with tshark as H.225.0 RAS (the datagrams
// from the gatekeeper ports given are decoded as RAS whatever the port,
// like UDP 1719) and returns the message types and any malformed packet.
func Tshark(ctx context.Context, tshark string, c *Capture, gatekeeperPorts ...uint16) (TsharkResult, error) {
	dir, err := os.MkdirTemp("", "h323sim-pcap")
	if err != nil {
		return TsharkResult{}, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "ras.pcap")
	if err := os.WriteFile(file, c.Pcap(), 0o644); err != nil {
		return TsharkResult{}, err
	}
	base := []string{"-r", file}
	for _, p := range gatekeeperPorts {
		if p != 1719 {
			base = append(base, "-d", "udp.port=="+strconv.Itoa(int(p))+",h225")
		}
	}
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, tshark, append(append([]string{}, base...), args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("tshark %v: %w\n%s", cmd.Args, err, stderr.String())
		}
		return stdout.String(), nil
	}
	var res TsharkResult
	bad, err := run("-V", "-Y", "_ws.malformed || _ws.expert.severity >= error")
	if err != nil {
		return res, err
	}
	res.Malformed = strings.TrimSpace(bad)
	out, err := run("-T", "fields", "-e", "h225.RasMessage")
	if err != nil {
		return res, err
	}
	if out == "" {
		return res, nil // no packet
	}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if strings.TrimSpace(l) == "" {
			res.Messages = append(res.Messages, -1) // not decoded as RAS
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil {
			return res, fmt.Errorf("tshark printed %q for h225.RasMessage", l)
		}
		res.Messages = append(res.Messages, n)
	}
	return res, nil
}
