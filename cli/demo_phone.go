package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// demoPhone is a simulated SIP desk phone for the demo: it registers its
// user's AoR with digest authentication over UDP, as a real phone does.
type demoPhone struct {
	id, user, password, domain string
	host                       string // the phone's address, for its contact
	ua                         *sipgo.UserAgent
	client                     *sipgo.Client
}

func newDemoPhone(id, user, password, domain, localIP string) (*demoPhone, error) {
	quiet := slog.New(slog.DiscardHandler)
	sip.SetDefaultLogger(quiet) // sipgo's transport layer logs through its default logger
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("rally-demo-phone"))
	if err != nil {
		return nil, err
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname(localIP), sipgo.WithClientLogger(quiet))
	if err != nil {
		_ = ua.Close()
		return nil, err
	}
	return &demoPhone{id: id, user: user, password: password, domain: domain, host: localIP, ua: ua, client: client}, nil
}

func (p *demoPhone) close() {
	_ = p.client.Close()
	_ = p.ua.Close()
}

// register sends REGISTER to server (host:port) and returns the final
// answer: "200 OK (expires 60s)", "503 ... (Retry-After: 2)".
func (p *demoPhone) register(ctx context.Context, server string) (int, string, error) {
	res, err := p.do(ctx, server, true)
	if err != nil {
		return 0, "", err
	}
	detail := fmt.Sprintf("%d %s", res.StatusCode, res.Reason)
	if h := res.GetHeader("Retry-After"); h != nil {
		detail += " (Retry-After: " + h.Value() + ")"
	}
	if c := res.GetHeader("Contact"); c != nil && res.StatusCode == 200 {
		if _, e, ok := strings.Cut(c.Value(), "expires="); ok {
			detail += " (expires " + strings.TrimRight(e, "; ") + "s)"
		}
	}
	return res.StatusCode, detail, nil
}

// bindings asks server for the contacts bound to the phone's AoR: a
// REGISTER without Contact (RFC 3261 §10.2.3).
func (p *demoPhone) bindings(ctx context.Context, server string) ([]string, error) {
	res, err := p.do(ctx, server, false)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != 200 {
		return nil, fmt.Errorf("%d %s", res.StatusCode, res.Reason)
	}
	var out []string
	for _, h := range res.GetHeaders("Contact") {
		out = append(out, h.Value())
	}
	return out, nil
}

// do sends a REGISTER (with the phone's contact, or a query without) and
// answers a digest challenge.
func (p *demoPhone) do(ctx context.Context, server string, bind bool) (*sip.Response, error) {
	host, port, err := splitHostPortInt(server)
	if err != nil {
		return nil, err
	}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: host, Port: port})
	aor := sip.Uri{Scheme: "sip", User: p.user, Host: p.domain}
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: sip.HeaderParams{{K: "tag", V: strconv.FormatInt(time.Now().UnixNano(), 36)}}})
	req.AppendHeader(&sip.ToHeader{Address: aor})
	if bind {
		// The demo phone takes no calls; its contact only has to be unique.
		req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.id, Host: p.host, Port: 5060}})
		req.AppendHeader(sip.NewHeader("Expires", "300"))
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req, sipgo.ClientRequestRegisterBuild)
	if err != nil {
		return nil, fmt.Errorf("REGISTER to %s: %w", server, err)
	}
	if res.StatusCode == 401 || res.StatusCode == 407 {
		res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.id, Password: p.password})
		if err != nil {
			return nil, fmt.Errorf("REGISTER to %s: %w", server, err)
		}
	}
	return res, nil
}

func splitHostPortInt(addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	return host, port, err
}
