package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

// baresip is a running baresip 1.0, a real SIP phone, driven through its
// control socket (the ctrl_tcp module: netstring-framed JSON).
type baresip struct {
	t       *testing.T
	cmd     *exec.Cmd
	log     *syncBuffer // stdout and stderr, with the SIP trace (-s)
	sipAddr string      // the phone's own SIP address
	account string      // its line in the accounts file, for uanew
	aor     string

	conn  net.Conn
	mu    sync.Mutex
	msgs  []baresipMsg // every message from the control socket, in order
	token int
}

// baresipMsg is one message on baresip's control socket: a response to a
// command or an event. Flags are decoded loosely: ctrl_tcp sends
// "event": true although its documentation shows a string.
type baresipMsg struct {
	Event    any    `json:"event"`
	Response any    `json:"response"`
	OK       bool   `json:"ok"`
	Data     string `json:"data"`
	Token    string `json:"token"`
	Class    string `json:"class"`
	Type     string `json:"type"`
	Param    string `json:"param"`
	AOR      string `json:"accountaor"`
}

// baresipBinary is baresip's path; a machine without it fails the test
// rather than skipping it quietly.
func baresipBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatal("baresip is not installed: apt-get install baresip-core (scripts/test installs it)")
	}
	return bin
}

// freeBaresipPort finds a port on host for baresip's sip_listen: baresip
// binds UDP and TCP on it and TLS on the next port.
func freeBaresipPort(t *testing.T, host string) string {
	t.Helper()
	for range 100 {
		addr := freePort(t, host)
		port, _ := strconv.Atoi(portOf(t, addr))
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			continue
		}
		u.Close()
		next, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port+1)))
		if err != nil {
			continue
		}
		next.Close()
		return addr
	}
	t.Fatal("no free port for baresip")
	return ""
}

// startBaresip runs baresip registered as 201 with london as its first
// outbound proxy and paris as its second; with sipnat=outbound baresip 1.0
// registers to both at once (RFC 5626 flows reg-id 1 and 2). Loopback only:
// every address it is given is 127.0.0.x.
func startBaresip(t *testing.T, londonSIP, parisSIP string) *baresip {
	t.Helper()
	bin := baresipBinary(t)
	dir := t.TempDir()
	sipAddr := freeBaresipPort(t, "127.0.0.1")
	sipPort, _ := strconv.Atoi(portOf(t, sipAddr))
	ctrlAddr := freePort(t, "127.0.0.1")
	for p, _ := strconv.Atoi(portOf(t, ctrlAddr)); p == sipPort || p == sipPort+1; p, _ = strconv.Atoi(portOf(t, ctrlAddr)) {
		ctrlAddr = freePort(t, "127.0.0.1")
	}
	// No audio or video modules: registration needs none, and the phone
	// runs headless. uuid gives the +sip.instance outbound requires;
	// account reads the accounts file; menu holds uanew/uadel; ctrl_tcp is
	// the control socket. dns_server keeps any lookup on loopback.
	config := fmt.Sprintf(`poll_method		epoll
sip_listen		%s
net_interface		127.0.0.1
dns_server		127.0.0.1:53
module_path		/usr/lib/baresip/modules
module_tmp		uuid.so
module_tmp		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		%s
`, sipAddr, ctrlAddr)
	aor := "sip:201@voip.example"
	account := fmt.Sprintf(`<%s>;auth_pass=alice-secret;outbound="sip:%s;transport=udp";outbound2="sip:%s;transport=udp";sipnat=outbound;regint=600`,
		aor, londonSIP, parisSIP)
	for name, body := range map[string]string{"config": config, "accounts": account + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b := &baresip{t: t, log: &syncBuffer{}, sipAddr: sipAddr, account: account, aor: aor}
	b.cmd = exec.Command(bin, "-f", dir, "-s") // -s: SIP trace into the log
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		if b.conn != nil {
			b.conn.Close()
		}
		_ = b.cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("log of baresip -f %s -s:\n%s", dir, b.log)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for {
		b.conn, err = net.DialTimeout("tcp", ctrlAddr, time.Second)
		if err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("baresip exited: %v", b.cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip control socket %s: %v", ctrlAddr, err)
		}
	}
	go b.read(bufio.NewReader(b.conn))
	return b
}

// read collects the netstrings ("LEN:JSON,") of the control socket.
func (b *baresip) read(r *bufio.Reader) {
	for {
		head, err := r.ReadString(':')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(head[:len(head)-1])
		if err != nil || n < 0 {
			return
		}
		body := make([]byte, n+1) // the JSON and the trailing comma
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		var m baresipMsg
		if n > 0 && json.Unmarshal(body[:n], &m) != nil {
			m = baresipMsg{Data: "undecodable: " + string(body[:n])}
		}
		b.mu.Lock()
		b.msgs = append(b.msgs, m)
		b.mu.Unlock()
	}
}

// command runs one command through the control socket and returns its
// output; it fails the test if baresip does not answer ok.
func (b *baresip) command(command, params string) string {
	b.t.Helper()
	b.mu.Lock()
	b.token++
	token := strconv.Itoa(b.token)
	b.mu.Unlock()
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // the account line's <...> as is, not \u003c
	if err := enc.Encode(map[string]string{"command": command, "params": params, "token": token}); err != nil {
		b.t.Fatal(err)
	}
	msg := bytes.TrimSpace(body.Bytes())
	if _, err := fmt.Fprintf(b.conn, "%d:%s,", len(msg), msg); err != nil {
		b.t.Fatalf("baresip %s: %v", command, err)
	}
	var got baresipMsg
	waitFor(b.t, 5*time.Second, "baresip to answer "+command, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, m := range b.msgs {
			if m.Response != nil && m.Token == token {
				got = m
				return true
			}
		}
		return false
	})
	if !got.OK {
		b.t.Fatalf("baresip %s %s: %s", command, params, got.Data)
	}
	return got.Data
}

// mark is the number of control socket messages so far, for events().
func (b *baresip) mark() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs)
}

// events returns the events of type typ since mark, as "TYPE param".
func (b *baresip) events(since int, typ string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.msgs[since:] {
		if m.Event != nil && m.Type == typ {
			out = append(out, m.Type+" "+m.Param)
		}
	}
	return out
}

// answers counts the responses with code that baresip's SIP trace shows
// from server (host:port) to the phone.
func (b *baresip) answers(server string, code int) int {
	return strings.Count(b.log.String(), fmt.Sprintf("UDP %s -> %s\nSIP/2.0 %d ", server, b.sipAddr, code))
}

// reregister makes baresip register again now. baresip 1.0 has no
// command to refresh a registration (uareg came later), and its register
// client retries a failed registration only after 30-60 s, doubling: so
// the UA is deleted (uadel: it de-registers where it is registered) and
// created again from the same account line (uanew: it registers to both
// outbound proxies at once).
func (b *baresip) reregister() {
	b.t.Helper()
	b.command("uadel", b.aor)
	b.command("uanew", b.account)
}

// phonesAt lists a site's registrations as "phone/here_as".
func phonesAt(c adminv1.AdminServiceClient) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ph, err := c.ListPhones(ctx, &adminv1.ListPhonesRequest{})
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var out []string
	for _, r := range ph.GetRegistrations() {
		out = append(out, r.GetPhone()+"/"+r.GetHereAs())
	}
	return out
}

// TestBaresipFailover drives a real SIP phone, baresip 1.0, registered to
// london and paris at once (outbound + outbound2, sipnat=outbound): home
// at london and refused 503 at paris; kill -9 london → a guest at paris;
// london returns (automatic failback) → home at london again, and paris
// refuses the phone 503 and drops its binding.
func TestBaresipFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	baresipBinary(t)
	london, paris := writeSites(t, "automatic", false)
	londonSIP := withSIP(t, london, "127.0.0.1")
	parisSIP := withSIP(t, paris, "127.0.0.2")
	serveSite(t, paris.cfg)
	lp := serveSite(t, london.cfg)
	lc, pc := adminOf(t, london), adminOf(t, paris)
	waitFor(t, 15*time.Second, "linked, replicated, SIP serving", func() bool {
		p := peerOf(pc, "london")
		return p.GetState() == "normal" && p.GetHeldRecords() > 0 && sipServing(lc) && sipServing(pc)
	})

	// Both sites up: home at london, refused at paris. baresip registers
	// from its accounts file as it starts, before the control socket is
	// connected: its SIP trace tells what each server answered.
	phone := startBaresip(t, londonSIP, parisSIP)
	waitFor(t, 10*time.Second, "baresip registered home at london", func() bool {
		got := phonesAt(lc)
		return len(got) == 1 && got[0] == "201/home" && phone.answers(londonSIP, 200) > 0
	})
	waitFor(t, 10*time.Second, "paris refused baresip with 503", func() bool { return phone.answers(parisSIP, 503) > 0 })
	if n := phone.answers(parisSIP, 200); n != 0 {
		t.Errorf("paris answered baresip 200 %d times while london is up", n)
	}
	if got := phonesAt(pc); len(got) != 0 {
		t.Fatalf("paris lists %v while london is up", got)
	}

	// kill -9 london: failover at paris, where baresip now registers as a guest.
	lp.kill()
	waitFor(t, 5*time.Second, "failover", func() bool { return peerOf(pc, "london").GetState() == "failover" })
	mark := phone.mark()
	phone.reregister()
	waitFor(t, 10*time.Second, "baresip registered as a guest at paris", func() bool {
		got := phonesAt(pc)
		return len(got) == 1 && got[0] == "201/guest" && len(phone.events(mark, "REGISTER_OK")) > 0
	})
	waitFor(t, 5*time.Second, "paris counts the guest, resilience active", func() bool {
		p := peerOf(pc, "london")
		return p.GetGuests() == 1 && p.GetResilience() == "active"
	})

	// london returns: automatic failback after 1s; baresip goes home and
	// paris refuses it (503) and drops its binding.
	serveSite(t, london.cfg)
	waitFor(t, 15*time.Second, "failback", func() bool {
		return peerOf(pc, "london").GetState() == "normal" && sipServing(lc)
	})
	refused := phone.answers(parisSIP, 503)
	mark = phone.mark()
	phone.reregister()
	// Generous: under a loaded CI machine the restarted home, the failback
	// and baresip's digest rounds take a while.
	waitFor(t, 25*time.Second, "baresip registered home at london again", func() bool {
		got := phonesAt(lc)
		return len(got) == 1 && got[0] == "201/home" && len(phone.events(mark, "REGISTER_OK")) > 0
	})
	waitFor(t, 20*time.Second, "paris refused baresip with 503 and dropped the guest", func() bool {
		return phone.answers(parisSIP, 503) > refused && len(phonesAt(pc)) == 0
	})
	if got := phone.events(mark, "REGISTER_FAIL"); len(got) == 0 || !strings.HasPrefix(got[len(got)-1], "REGISTER_FAIL 503 ") {
		t.Errorf("baresip's registration at paris after failback: %q, want a 503", got)
	}
}
