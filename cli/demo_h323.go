package cli

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/h323sim"
	"github.com/rallyvoip/rally/plugins/h323/ras"
)

// The demo's H.323 phone: Carol's desk phone (203, h323_id carol), an
// h323sim endpoint registering with the built-in gatekeepers.

func newDemoH323Phone() (*h323sim.Endpoint, error) {
	return h323sim.New(h323sim.Config{Local: netip.MustParseAddr("127.0.0.1"),
		Aliases: []ras.AliasAddress{ras.H323ID("carol"), ras.DialedDigits("203")}, TimeToLive: 300,
		Retransmit: 300 * time.Millisecond, Tries: 3})
}

// h323RegisterUntil sends RRQs for e to gk (as gkID) until the answer is
// an RCF (wantRCF) or an RRJ, and prints it.
func (d *demo) h323RegisterUntil(ctx context.Context, e *h323sim.Endpoint, what, site string, gk netip.AddrPort, gkID string, wantRCF bool) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, err := e.RegisterAs(ctx, gk, gkID)
		if err == nil {
			_, isRCF := a.(*ras.RegistrationConfirm)
			if isRCF == wantRCF {
				d.detail("%s -> %s: %s", what, site, describeRAS(a))
				return nil
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("demo: %s at %s: %w", what, site, err)
			}
			return fmt.Errorf("demo: %s at %s answered %s", what, site, describeRAS(a))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// describeRAS says what a gatekeeper's answer means, in one line.
func describeRAS(m ras.Message) string {
	alt := ""
	if ap, id, ok := h323sim.AltGK(m); ok {
		alt = fmt.Sprintf(", alternate gatekeeper %s at %s", id, ap)
	}
	switch m := m.(type) {
	case *ras.RegistrationConfirm:
		return fmt.Sprintf("RCF (endpoint %s, time to live %ds%s)", m.EndpointIdentifier, m.TimeToLive, alt)
	case *ras.RegistrationReject:
		reason := map[int]string{ras.RRJResourceUnavailable: "resourceUnavailable", ras.RRJUndefinedReason: "undefinedReason",
			ras.RRJSecurityDenial: "securityDenial", ras.RRJInvalidAlias: "invalidAlias"}[m.RejectReason.Choice]
		if reason == "" {
			reason = fmt.Sprintf("reason %d", m.RejectReason.Choice)
		}
		return fmt.Sprintf("RRJ %s%s", reason, alt)
	case *ras.UnregistrationRequest:
		return "URQ" + alt
	}
	return fmt.Sprintf("%T", m)
}
