package sipplugin

import (
	"context"
	"net/netip"
	"testing"

	"github.com/rallyvoip/rally/plugins/sdk"
)

// slowViewHost is udpTestHost whose admission view arrives only once
// release is closed, as on a site with a large directory.
type slowViewHost struct {
	*udpTestHost
	release chan struct{}
}

func (h slowViewHost) WatchView(ctx context.Context) (<-chan sdk.ViewUpdate, error) {
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return h.udpTestHost.WatchView(ctx)
}

// TestNotReadyUntilViewLoaded: before its admission view is loaded the
// plugin is not healthy and answers a REGISTER with credentials 503 with
// Retry-After (every phone would look unknown, and a 403 would keep it
// away); once loaded, the same phone registers.
func TestNotReadyUntilViewLoaded(t *testing.T) {
	host := slowViewHost{udpTestHost: &udpTestHost{}, release: make(chan struct{})}
	p := New(nil)
	eps, err := p.Configure(t.Context(), sdk.Config{Site: udpTestSite, SIPDomain: udpTestRealm,
		ConfigJSON: []byte(`{"listen":["udp://127.0.0.1:0"], "retry_after": "7s"}`)}, host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if h, _ := p.Health(t.Context()); h.Serving || !h.Starting {
		t.Fatalf("health %+v before the view is loaded, want starting (not serving, not failed)", h)
	}
	addr := netip.MustParseAddrPort(eps[0][len("sip:udp://"):])
	peer := newUDPPeer(t, addr)
	register := func(cseq int) (int, string) {
		req := sipRequest{method: "REGISTER", via: peer.local().String() + ";rport;branch=z9hG4bK-s" + string(rune('a'+cseq)),
			callID: "startup", user: "201", contact: "2001", cseq: cseq}
		peer.send(req.bytes())
		res := peer.mustRecv()
		if res.StatusCode != 401 {
			return res.StatusCode, ""
		}
		req.cseq, req.via = cseq+1, peer.local().String()+";rport;branch=z9hG4bK-s"+string(rune('b'+cseq))
		req.auth = authorization(t, res, "2001", "pw-2001")
		peer.send(req.bytes())
		res = peer.mustRecv()
		ra := ""
		if h := res.GetHeader("Retry-After"); h != nil {
			ra = h.Value()
		}
		return res.StatusCode, ra
	}
	if code, ra := register(1); code != 503 || ra != "7" {
		t.Fatalf("REGISTER before the view = %d (Retry-After %q), want 503 with Retry-After 7", code, ra)
	}
	close(host.release)
	waitFor(t, "the plugin serving", func() bool { h, _ := p.Health(t.Context()); return h.Serving })
	if code, _ := register(3); code != 200 {
		t.Fatalf("REGISTER after the view = %d, want 200", code)
	}
}
