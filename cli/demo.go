package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rallyvoip/rally/core/pki"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// demoDirectory is london's seed directory in the demo.
const demoDirectory = `users:
  - {extension: "201", name: Alice, password: alice-secret, phone: {kind: desk, protocol: sip}}
  - {extension: "202", name: Bob, password: bob-secret, phone: {kind: softphone, protocol: sip}}
  - {extension: "203", name: Carol, h323_id: carol, password: carol-secret, phone: {kind: desk, protocol: h323}}
huntgroups:
  - {extension: "600", name: Sales, mode: collective, members: ["201", "202"]}
mailboxes:
  - {extension: "201", pin: "1234"}
`

// newDemoCmd runs two sites on loopback and walks through a failover and
// a failback, printing each step.
func newDemoCmd(f *globalFlags) *cobra.Command {
	var dir string
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Two sites on loopback: watch a home fail over to its backup and back",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				d, err := os.MkdirTemp("", "rally-demo-")
				if err != nil {
					return err
				}
				dir = d
				if !keep {
					defer os.RemoveAll(d)
				}
			}
			d := &demo{out: cmd.OutOrStdout(), dir: dir}
			defer d.stopAll()
			return d.run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "working directory (default: a temporary one, removed afterwards)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary directory (configs, certificates, logs)")
	return cmd
}

type demo struct {
	last  map[string]string // the last state printed, per peer
	out   io.Writer
	dir   string
	step  int
	procs map[string]*exec.Cmd
	conns []*grpc.ClientConn
}

// The demo's timings: fast enough to watch, as a real deployment could be.
const (
	demoHeartbeat     = 200 * time.Millisecond
	demoFailoverAfter = time.Second
	demoFailbackDelay = 3 * time.Second
)

func (d *demo) say(format string, args ...any) {
	d.step++
	fmt.Fprintf(d.out, "\n%d. %s\n", d.step, fmt.Sprintf(format, args...))
}

func (d *demo) detail(format string, args ...any) {
	fmt.Fprintf(d.out, "   %s\n", fmt.Sprintf(format, args...))
}

func (d *demo) run(ctx context.Context) error {
	d.procs = make(map[string]*exec.Cmd)
	d.last = make(map[string]string)
	pkiDir := filepath.Join(d.dir, "pki")
	d.say("Federation root CA and site certificates in %s", pkiDir)
	if err := pki.InitCA(pkiDir, 0); err != nil && !errors.Is(err, pki.ErrExists) {
		return err
	}
	for _, s := range []string{"london", "paris"} {
		cert, _, err := pki.IssueSite(pkiDir, s, []string{"127.0.0.1"}, 0)
		if err != nil {
			return err
		}
		d.detail("%s: %s (URI SAN rally://site/%s)", s, cert, s)
	}

	d.say("Two sites: london (home of 201 Alice's desk phone and 202 Bob's softphone, both SIP, and 203 Carol's H.323 desk phone), backed up by paris")
	londonAddr, err := freeLoopback("127.0.0.1")
	if err != nil {
		return err
	}
	parisAddr, err := freeLoopback("127.0.0.2")
	if err != nil {
		return err
	}
	londonSIP, err := freeUDP("127.0.0.1")
	if err != nil {
		return err
	}
	parisSIP, err := freeUDP("127.0.0.2")
	if err != nil {
		return err
	}
	londonGK, err := freeUDP("127.0.0.1")
	if err != nil {
		return err
	}
	parisGK, err := freeUDP("127.0.0.2")
	if err != nil {
		return err
	}
	london, err := d.writeConfig("london", londonAddr, parisAddr, londonSIP, londonGK, true)
	if err != nil {
		return err
	}
	paris, err := d.writeConfig("paris", parisAddr, "", parisSIP, parisGK, false)
	if err != nil {
		return err
	}
	d.detail("heartbeat %v, failover_after %v, failback automatic after %v", demoHeartbeat, demoFailoverAfter, demoFailbackDelay)
	d.detail("SIP registrars (the built-in sip plugin, its own process): london udp %s, paris udp %s", londonSIP, parisSIP)
	d.detail("H.323 gatekeepers (the built-in h323 plugin): london ras %s, paris ras %s", londonGK, parisGK)
	for _, s := range []struct{ name, cfg string }{{"paris", paris}, {"london", london}} {
		if err := d.startSite(s.name, s.cfg); err != nil {
			return err
		}
	}
	lc, err := d.client("london")
	if err != nil {
		return err
	}
	pc, err := d.client("paris")
	if err != nil {
		return err
	}
	alice, err := newDemoPhone("201", "201", "alice-secret", "voip.example", "127.0.0.1")
	if err != nil {
		return err
	}
	defer alice.close()
	bob, err := newDemoPhone("202", "202", "bob-secret", "voip.example", "127.0.0.1")
	if err != nil {
		return err
	}
	defer bob.close()
	carol, err := newDemoH323Phone()
	if err != nil {
		return err
	}
	defer carol.Close()
	lGK, pGK := netip.MustParseAddrPort(londonGK), netip.MustParseAddrPort(parisGK)

	d.say("Linking over mutual TLS; london replicates its backup records to paris")
	if err := d.waitState(ctx, pc, "london", "normal", 15*time.Second); err != nil {
		return err
	}
	if err := d.waitReplicated(ctx, lc, pc); err != nil {
		return err
	}
	if err := d.waitPlugin(ctx, lc, "sip"); err != nil {
		return err
	}
	if err := d.waitPlugin(ctx, pc, "sip"); err != nil {
		return err
	}
	for _, c := range []adminv1.AdminServiceClient{lc, pc} {
		if err := d.waitPlugin(ctx, c, "h323"); err != nil {
			return err
		}
	}

	d.say("Normal operation: the phones register at home; paris refuses them with a short Retry-After")
	if err := d.registerUntil(ctx, alice, "Alice's desk phone", "london", londonSIP, 200); err != nil {
		return err
	}
	if err := d.registerUntil(ctx, alice, "Alice's desk phone", "paris", parisSIP, 503); err != nil {
		return err
	}
	if err := d.h323RegisterUntil(ctx, carol, "Carol's H.323 phone", "london", lGK, "", true); err != nil {
		return err
	}
	if err := d.h323RegisterUntil(ctx, carol, "Carol's H.323 phone (a stray RRQ)", "paris", pGK, "", false); err != nil {
		return err
	}
	if err := d.explainAll(ctx, "paris", pc); err != nil {
		return err
	}

	d.say("kill -9 london")
	killedAt := time.Now()
	if err := d.kill("london"); err != nil {
		return err
	}
	if err := d.waitState(ctx, pc, "london", "failover", 10*time.Second); err != nil {
		return err
	}
	d.detail("paris declared london down %.2fs after the kill (failover_after %v of silence since london's last frame)",
		time.Since(killedAt).Seconds(), demoFailoverAfter)

	d.say("Failover: london's phones register at paris as guests, authenticated with the replicated HA1")
	if err := d.registerUntil(ctx, bob, "Bob's softphone", "paris", parisSIP, 200); err != nil {
		return err
	}
	if err := d.showResilience(ctx, pc, "a softphone alone does not start user, hunt group and voicemail resilience"); err != nil {
		return err
	}
	if err := d.registerUntil(ctx, alice, "Alice's desk phone", "paris", parisSIP, 200); err != nil {
		return err
	}
	if err := d.showResilience(ctx, pc, "a physical phone as guest starts it"); err != nil {
		return err
	}
	if err := d.h323RegisterUntil(ctx, carol, "Carol's H.323 phone, at the alternate gatekeeper its RCF named", "paris", pGK, "paris", true); err != nil {
		return err
	}
	if err := d.explainAll(ctx, "paris", pc); err != nil {
		return err
	}

	d.say("london comes back")
	if err := d.startSite("london", london); err != nil {
		return err
	}
	if err := d.waitState(ctx, pc, "london", "failback_pending", 15*time.Second); err != nil {
		return err
	}
	d.detail("guests stay at paris until london has been stable for %v", demoFailbackDelay)
	if err := d.waitState(ctx, pc, "london", "normal", demoFailbackDelay+10*time.Second); err != nil {
		return err
	}
	if err := d.waitPlugin(ctx, lc, "sip"); err != nil {
		return err
	}
	d.say("Failback: the guests' next refresh at paris is refused, which sends them home")
	for _, ph := range []struct {
		p    *demoPhone
		what string
	}{{alice, "Alice's desk phone"}, {bob, "Bob's softphone"}} {
		if err := d.registerUntil(ctx, ph.p, ph.what, "paris", parisSIP, 503); err != nil {
			return err
		}
		if err := d.registerUntil(ctx, ph.p, ph.what, "london", londonSIP, 200); err != nil {
			return err
		}
	}
	d.say("Failback of the H.323 phone is active: paris sends it a URQ naming london (needToRegister)")
	urqCtx, cancelURQ := context.WithTimeout(ctx, 10*time.Second)
	urq, err := carol.WaitURQ(urqCtx)
	cancelURQ()
	if err != nil {
		return fmt.Errorf("demo: no URQ from paris: %w", err)
	}
	d.detail("paris -> Carol's H.323 phone: %s", describeRAS(urq))
	if err := d.h323RegisterUntil(ctx, carol, "Carol's H.323 phone", "london", lGK, "london", true); err != nil {
		return err
	}
	if err := d.showPhones(ctx, lc, "london"); err != nil {
		return err
	}
	d.say("Done. Every step above is also an event on the admin API: rally status --watch --config %s", paris)
	return nil
}

// registerUntil registers p at server until the answer is want (a site
// that just started may still be loading its view), and prints it.
func (d *demo) registerUntil(ctx context.Context, p *demoPhone, what, site, server string, want int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, detail, err := p.register(ctx, server)
		if err == nil && code == want {
			d.detail("%s -> %s: %s", what, site, detail)
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("demo: %s at %s: %w", what, site, err)
			}
			return fmt.Errorf("demo: %s at %s answered %s, want %d", what, site, detail, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitPlugin waits until site's plugin name serves.
func (d *demo) waitPlugin(ctx context.Context, c adminv1.AdminServiceClient, name string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := c.GetStatus(ctx, &adminv1.GetStatusRequest{})
		if err == nil {
			for _, p := range st.GetSite().GetPlugins() {
				if p.GetName() == name && p.GetHealth() == "serving" {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: plugin %s is not serving (logs in %s)", name, d.dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// showResilience prints paris's guest count and london's resilience.
func (d *demo) showResilience(ctx context.Context, pc adminv1.AdminServiceClient, why string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := pc.GetStatus(ctx, &adminv1.GetStatusRequest{})
		if err != nil {
			return err
		}
		for _, p := range st.GetPeers() {
			if p.GetSite() != "london" {
				continue
			}
			if p.GetGuests() > 0 && (p.GetResilience() == "active" || strings.Contains(why, "alone") || time.Now().After(deadline)) {
				d.detail("paris: %d guest(s) of london, licences used %d/%d, resilience %s: %s",
					p.GetGuests(), st.GetSite().GetLicensed(), st.GetSite().GetLicenses(), p.GetResilience(), why)
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("demo: paris reports no guest")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// showPhones prints the registrations at a site.
func (d *demo) showPhones(ctx context.Context, c adminv1.AdminServiceClient, site string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := c.ListPhones(ctx, &adminv1.ListPhonesRequest{})
		if err != nil {
			return err
		}
		if len(r.GetRegistrations()) >= 3 || time.Now().After(deadline) {
			for _, reg := range r.GetRegistrations() {
				d.detail("%s: phone %s (user %s, %s %s, %s) registered here as %s", site, reg.GetPhone(), reg.GetUser(),
					reg.GetProtocol(), reg.GetKind(), reg.GetAor(), reg.GetHereAs())
			}
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *demo) writeConfig(site, listen, peer, sipAddr, gkAddr string, home bool) (string, error) {
	sd := filepath.Join(d.dir, site)
	if err := os.MkdirAll(sd, 0o755); err != nil {
		return "", err
	}
	pkiDir := filepath.Join(d.dir, "pki")
	var b strings.Builder
	fmt.Fprintf(&b, "site: %s\nsip_domain: voip.example\nadmin: unix://%s\n", site, filepath.Join(sd, "admin.sock"))
	fmt.Fprintf(&b, "tls: {ca: %s, cert: %s, key: %s}\n", filepath.Join(pkiDir, "ca.crt"),
		filepath.Join(pkiDir, site+".crt"), filepath.Join(pkiDir, site+".key"))
	fmt.Fprintf(&b, "federation:\n  listen: %s\n  heartbeat: %v\n  failover_after: %v\n", listen, demoHeartbeat, demoFailoverAfter)
	if peer != "" {
		fmt.Fprintf(&b, "  peers:\n    - {site: paris, addr: %s}\n", peer)
	}
	if home {
		fmt.Fprintf(&b, "backup: {site: paris, failback: automatic, failback_delay: %v}\n", demoFailbackDelay)
		dp := filepath.Join(sd, "directory.yaml")
		if err := os.WriteFile(dp, []byte(demoDirectory), 0o644); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "directory: %s\n", dp)
	} else {
		b.WriteString("backs_up: [london]\n")
	}
	fmt.Fprintf(&b, "store: {path: %s}\nlicenses: 10\n", filepath.Join(sd, "data"))
	fmt.Fprintf(&b, "plugins:\n  sip: {listen: [udp://%s], refuse: \"503\", guest_expires: 60s, retry_after: 2s}\n", sipAddr)
	fmt.Fprintf(&b, "  h323: {listen: %s, guest_time_to_live: 60s}\n", gkAddr)
	path := filepath.Join(sd, site+".yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// startSite runs `rally serve` for site as a child process.
func (d *demo) startSite(site, cfg string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(d.dir, site, site+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "serve", "--config", cfg, "--log-level", "debug")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", site, err)
	}
	logf.Close()
	d.procs[site] = cmd
	d.detail("%s: rally serve --config %s (pid %d, log %s)", site, cfg, cmd.Process.Pid, logf.Name())
	return nil
}

// kill sends SIGKILL: no goodbye, the peer must detect it.
func (d *demo) kill(site string) error {
	cmd := d.procs[site]
	if err := cmd.Process.Kill(); err != nil {
		return err
	}
	_ = cmd.Wait()
	delete(d.procs, site)
	return nil
}

func (d *demo) stopAll() {
	for _, c := range d.conns {
		c.Close()
	}
	for site, cmd := range d.procs {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = cmd.Process.Kill()
		}
		delete(d.procs, site)
	}
}

// freeUDP returns a free UDP address on host.
func freeUDP(host string) (string, error) {
	c, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("demo: %s: %w", host, err)
	}
	defer c.Close()
	return c.LocalAddr().String(), nil
}

// freeLoopback returns a free TCP address on host.
func freeLoopback(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("demo: %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (d *demo) client(site string) (adminv1.AdminServiceClient, error) {
	conn, err := grpc.NewClient("unix://"+filepath.Join(d.dir, site, "admin.sock"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	d.conns = append(d.conns, conn)
	return adminv1.NewAdminServiceClient(conn), nil
}

// waitState polls c's view of peer until it is state.
func (d *demo) waitState(ctx context.Context, c adminv1.AdminServiceClient, peer, state string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := d.last[peer]
	defer func() { d.last[peer] = last }()
	for {
		st, err := c.GetStatus(ctx, &adminv1.GetStatusRequest{})
		if err == nil {
			for _, p := range st.GetPeers() {
				if p.GetSite() != peer || p.GetState() == last {
					continue
				}
				last = p.GetState()
				d.detail("%s sees %s: %s", st.GetSite().GetSite(), peer, last)
			}
		}
		if last == state {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: %s did not reach %s within %v (last %q; logs in %s)", peer, state, timeout, last, d.dir)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (d *demo) waitReplicated(ctx context.Context, lc, pc adminv1.AdminServiceClient) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ls, err1 := lc.GetStatus(ctx, &adminv1.GetStatusRequest{})
		ps, err2 := pc.GetStatus(ctx, &adminv1.GetStatusRequest{})
		if err1 == nil && err2 == nil {
			for _, p := range ps.GetPeers() {
				if p.GetSite() == "london" && p.GetHeldRevision() == ls.GetSite().GetRevision() && p.GetHeldRevision() > 0 {
					d.detail("paris holds %d records of london at revision %d (resilience %s, backups in %s)",
						p.GetHeldRecords(), p.GetHeldRevision(), p.GetResilience(), ps.GetSite().GetBackupMode())
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return errors.New("demo: replication did not complete")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// explainAll prints site's admission decision for each demo phone.
func (d *demo) explainAll(ctx context.Context, site string, c adminv1.AdminServiceClient) error {
	for _, ph := range []struct {
		id    string
		proto federationv1.Protocol
		what  string
	}{
		{"201", federationv1.Protocol_PROTOCOL_SIP, "Alice's desk phone (SIP)"},
		{"202", federationv1.Protocol_PROTOCOL_SIP, "Bob's softphone (SIP)"},
		{"203", federationv1.Protocol_PROTOCOL_H323, "Carol's desk phone (H.323)"},
	} {
		r, err := c.ExplainAdmission(ctx, &adminv1.ExplainAdmissionRequest{PhoneId: ph.id, Protocol: ph.proto})
		if err != nil {
			return fmt.Errorf("demo: ask %s about %s: %w", site, ph.id, err)
		}
		verdict := r.GetOutcome()
		if r.GetReason() != "" {
			verdict += " (" + r.GetReason() + ")"
		}
		d.detail("%-6s phone %s, %-27s -> %s", site+":", ph.id, ph.what, verdict)
	}
	return nil
}
