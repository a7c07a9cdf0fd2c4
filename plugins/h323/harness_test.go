package h323plugin

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/h323sim"
	"github.com/rallyvoip/rally/plugins/h323/ras"
	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// The gatekeeper is tested over real UDP on loopback, driven by the
// endpoint simulator, against an in-memory host whose admission view the
// tests change as the core would.

// testHost is an sdk.Host with a fixed directory and a view the test
// changes.
type testHost struct {
	mu      sync.Mutex
	snap    sdk.ViewSnapshot
	subs    []chan sdk.ViewUpdate
	users   map[string]*federationv1.User // "home/ext"
	reports []sdk.Registration
	busy    map[string]bool
	list    []sdk.Registration
	// listGate, when set, holds ListRegistrations until closed; listed
	// is closed when it has answered.
	listGate, listed chan struct{}
}

func newTestHost(site string, licenses int) *testHost {
	return &testHost{snap: sdk.ViewSnapshot{Site: site, Licenses: licenses}, users: map[string]*federationv1.User{},
		busy: map[string]bool{}}
}

// addPhone adds an H.323 phone id of user ext (with h323_ids ids) homed at
// home.
func (h *testHost) addPhone(home, id, ext string, ids ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.snap.Phones = append(h.snap.Phones, admission.PhoneEntry{ID: id, User: ext, Home: home,
		Kind: federationv1.PhoneKind_PHONE_KIND_DESK, Protocol: federationv1.Protocol_PROTOCOL_H323})
	h.users[home+"/"+ext] = &federationv1.User{Extension: ext, H323Ids: ids}
}

func (h *testHost) setPeer(v admission.PeerView) {
	h.mu.Lock()
	defer h.mu.Unlock()
	replaced := false
	for i := range h.snap.Peers {
		if h.snap.Peers[i].Site == v.Site {
			h.snap.Peers[i], replaced = v, true
		}
	}
	if !replaced {
		h.snap.Peers = append(h.snap.Peers, v)
	}
	for _, ch := range h.subs {
		c := v
		ch <- sdk.ViewUpdate{Change: &sdk.ViewChange{PutPeer: &c}}
	}
}

func (h *testHost) WatchView(ctx context.Context) (<-chan sdk.ViewUpdate, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan sdk.ViewUpdate, 64)
	snap := h.snap
	snap.Phones = append([]admission.PhoneEntry(nil), h.snap.Phones...)
	snap.Peers = append([]admission.PeerView(nil), h.snap.Peers...)
	ch <- sdk.ViewUpdate{Snapshot: &snap}
	h.subs = append(h.subs, ch)
	return ch, nil
}

func (h *testHost) GetRecord(_ context.Context, home, key string) (*federationv1.Record, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if home == "" {
		home = h.snap.Site
	}
	if ext, ok := strings.CutPrefix(key, "user/"); ok {
		if u := h.users[home+"/"+ext]; u != nil {
			return &federationv1.Record{Key: key, HomeSite: home, Body: &federationv1.Record_User{User: u}}, nil
		}
	}
	return nil, fmt.Errorf("%w: %s of %s", sdk.ErrNotFound, key, home)
}

func (h *testHost) ReportRegistration(_ context.Context, r sdk.Registration) (bool, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reports = append(h.reports, r)
	return true, "", nil
}

func (h *testHost) ReportCallState(_ context.Context, phoneID string, busy bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.busy[phoneID] = busy
	return nil
}

func (h *testHost) ReportRegistrations(ctx context.Context, rs []sdk.Registration) ([]sdk.ReportResult, error) {
	out := make([]sdk.ReportResult, len(rs))
	for i, r := range rs {
		ok, reason, err := h.ReportRegistration(ctx, r)
		if err != nil {
			return nil, err
		}
		out[i] = sdk.ReportResult{Accepted: ok, Reason: reason}
	}
	return out, nil
}

// ListCredentials: H.323 phones have no digest credentials here.
func (h *testHost) ListCredentials(context.Context, string) ([]sdk.Credentials, error) {
	return nil, nil
}

func (h *testHost) ListRegistrations(ctx context.Context, _ string) ([]sdk.Registration, error) {
	if h.listGate != nil {
		select {
		case <-h.listGate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		defer close(h.listed)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sdk.Registration(nil), h.list...), nil
}

// lastReport returns the last report of phone.
func (h *testHost) lastReport(phone string) (sdk.Registration, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.reports) - 1; i >= 0; i-- {
		if h.reports[i].PhoneID == phone {
			return h.reports[i], true
		}
	}
	return sdk.Registration{}, false
}

func (h *testHost) isBusy(phone string) (busy, known bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	busy, known = h.busy[phone]
	return busy, known
}

// startGK configures a gatekeeper on a free port of 127.0.0.1 with extra
// config keys and waits for its view.
func startGK(tb testing.TB, host *testHost, extra string) (*Plugin, netip.AddrPort) {
	tb.Helper()
	p := New(nil)
	cfg := `{"listen":"127.0.0.1:0"` + extra + `}`
	eps, err := p.Configure(context.Background(), sdk.Config{Site: host.snap.Site, ConfigJSON: []byte(cfg)}, host)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	select {
	case <-p.running.view.Ready():
	case <-time.After(5 * time.Second):
		tb.Fatal("admission view not ready")
	}
	addr, err := netip.ParseAddrPort(strings.TrimPrefix(eps[0], "h323:udp://"))
	if err != nil {
		tb.Fatal(err)
	}
	startedMu.Lock()
	started[addr] = p
	startedMu.Unlock()
	return p, addr
}

// newSim starts a simulated endpoint on 127.0.0.1 with aliases.
func newSim(tb testing.TB, aliases ...ras.AliasAddress) *h323sim.Endpoint {
	tb.Helper()
	e, err := h323sim.New(h323sim.Config{Local: netip.MustParseAddr("127.0.0.1"), Aliases: aliases, TimeToLive: 300,
		Retransmit: 300 * time.Millisecond, Tries: 5})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.Close)
	return e
}

func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkTshark has tshark decode everything the endpoints received from
// the gatekeepers: no packet malformed, and each a RAS message a
// gatekeeper sends; it returns the message types seen.
func checkTshark(tb testing.TB, gks []netip.AddrPort, sims ...*h323sim.Endpoint) map[int]int {
	tb.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		tb.Fatal("tshark not found in PATH; install it: apt-get install -y tshark")
	}
	var ports []uint16
	for _, g := range gks {
		ports = append(ports, g.Port())
	}
	seen := map[int]int{}
	for _, s := range sims {
		res, err := h323sim.Tshark(context.Background(), tshark, s.Capture(), ports...)
		if err != nil {
			tb.Fatal(err)
		}
		if res.Malformed != "" {
			tb.Fatalf("tshark found malformed packets:\n%s", res.Malformed)
		}
		if len(res.Messages) != s.Capture().Len() {
			tb.Fatalf("tshark decoded %d of %d datagrams", len(res.Messages), s.Capture().Len())
		}
		for _, m := range res.Messages {
			if m < 0 {
				tb.Fatalf("tshark did not decode a datagram as RAS: %v", res.Messages)
			}
			seen[m]++
		}
	}
	return seen
}

func isRCF(m ras.Message) bool { _, ok := m.(*ras.RegistrationConfirm); return ok }

// plugins started by startGK, by address, so a test can stop one.
var startedMu sync.Mutex
var started = map[netip.AddrPort]*Plugin{}

func runningOf(tb testing.TB, gk netip.AddrPort) *Plugin {
	tb.Helper()
	startedMu.Lock()
	defer startedMu.Unlock()
	p := started[gk]
	if p == nil {
		tb.Fatalf("no gatekeeper at %s", gk)
	}
	return p
}
