package cli

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// netns is a network namespace a test made: its own loopback, where
// nftables rules drop packets for real (no reset: TCP retransmits into the
// void), as a dead link or a filtering firewall does.
type netns struct {
	t    *testing.T
	name string
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root (CI runs as root)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: ./scripts/test installs it (iproute2, nftables)", tool)
		}
	}
	n := &netns{t: t, name: fmt.Sprintf("rally-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)}
	n.host("ip", "netns", "add", n.name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.name).Run() })
	n.run("ip", "link", "set", "lo", "up")
	n.run("nft", "add", "table", "inet", "rally")
	n.run("nft", "add", "chain", "inet", "rally", "in", "{ type filter hook input priority 0 ; }")
	return n
}

func (n *netns) host(args ...string) {
	n.t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		n.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// run runs a command inside the namespace.
func (n *netns) run(args ...string) {
	n.t.Helper()
	n.host(append([]string{"ip", "netns", "exec", n.name}, args...)...)
}

// drop silently drops every packet to or from the TCP ports.
func (n *netns) drop(ports ...string) {
	set := "{ " + strings.Join(ports, ", ") + " }"
	n.run("nft", "add", "rule", "inet", "rally", "in", "tcp", "dport", set, "drop")
	n.run("nft", "add", "rule", "inet", "rally", "in", "tcp", "sport", set, "drop")
}

// heal removes the drop rules.
func (n *netns) heal() { n.run("nft", "flush", "chain", "inet", "rally", "in") }

// serve runs `rally serve` inside the namespace.
func (n *netns) serve(cfg string) *proc {
	n.t.Helper()
	p := &proc{log: &strings.Builder{}}
	p.cmd = exec.Command("ip", "netns", "exec", n.name, rallyBinary(n.t), "serve", "--config", cfg)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() {
		p.kill()
		if n.t.Failed() {
			n.t.Logf("log of rally serve --config %s:\n%s", cfg, p.log)
		}
	})
	return p
}

// TestSilentLossInNamespace: the link's packets are dropped by nftables
// (no reset). The backup declares the home down within failover_after +
// one heartbeat (+ slack) and admits its phones; the link heals and the
// phones fail back. Then a half-open link: the home is killed while its
// packets are dropped (its reset never arrives) and restarted; once the
// drop is lifted the backup takes the new stream, not the stale one.
func TestSilentLossInNamespace(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	ns := newNetns(t)
	london, paris := writeSites(t, "automatic", false)
	ns.serve(paris.cfg)
	lp := ns.serve(london.cfg)
	pc := adminOf(t, paris)
	waitFor(t, 10*time.Second, "paris sees london normal with records", func() bool {
		p := peerOf(pc, "london")
		return p.GetState() == "normal" && p.GetHeldRecords() > 0
	})
	ports := []string{portOf(t, london.listen), portOf(t, paris.listen)}

	cut := time.Now()
	ns.drop(ports...)
	waitFor(t, 5*time.Second, "failover", func() bool { return peerOf(pc, "london").GetState() == "failover" })
	took := time.Since(cut)
	if bound := 600*time.Millisecond + 100*time.Millisecond + 500*time.Millisecond; took > bound {
		t.Errorf("packet loss detected after %v, bound %v", took, bound)
	}
	t.Logf("dropped packets detected in %v", took)
	if got := decision(t, pc, "201"); got != "guest" {
		t.Fatalf("during failover: %s", got)
	}
	ns.heal()
	waitFor(t, 10*time.Second, "failback after the link heals", func() bool { return peerOf(pc, "london").GetState() == "normal" })

	// Half-open: kill the home while its packets are dropped.
	ns.drop(ports...)
	lp.kill()
	waitFor(t, 5*time.Second, "failover", func() bool { return peerOf(pc, "london").GetState() == "failover" })
	ns.serve(london.cfg)
	time.Sleep(300 * time.Millisecond)
	ns.heal()
	waitFor(t, 10*time.Second, "the restarted home links again", func() bool { return peerOf(pc, "london").GetState() == "normal" })
	if got := decision(t, pc, "201"); got != "refuse:homed_at_live_peer" {
		t.Fatalf("after failback: %s", got)
	}
}
