package sipplugin

import (
	"context"

	"github.com/rallyvoip/rally/plugins/sdk"
)

var _ sdk.MetricsSource = (*Plugin)(nil)

// Metrics reports the plugin's counters (the host serves them on its
// /metrics as rally_plugin_sip_*): REGISTER outcomes, refusals, what the
// UDP path dropped or absorbed, and the bindings held.
func (p *Plugin) Metrics(context.Context) ([]sdk.Metric, error) {
	p.mu.Lock()
	in := p.running
	p.mu.Unlock()
	if in == nil {
		return nil, nil
	}
	c := &in.counters
	counter := func(name, help string, v uint64, labels ...string) sdk.Metric {
		m := sdk.Metric{Name: name, Help: help, Value: float64(v)}
		if len(labels) == 2 {
			m.Labels = map[string]string{labels[0]: labels[1]}
		}
		return m
	}
	const (
		registers = "sip_registers_total"
		regHelp   = "REGISTER requests by result (home and guest: registered; refused_homed_at_live_peer: DESIGN §1.1)."
		dropped   = "sip_dropped_total"
		dropHelp  = "Datagrams and requests dropped unanswered, by reason."
	)
	registered, guests := c.registered.Load(), c.guests.Load()
	out := []sdk.Metric{
		counter(registers, regHelp, registered-min(guests, registered), "result", "home"),
		counter(registers, regHelp, guests, "result", "guest"),
		counter(registers, regHelp, c.challenged.Load(), "result", "challenged"),
		counter(registers, regHelp, c.refused.Load(), "result", "refused_homed_at_live_peer"),
		counter(registers, regHelp, c.unknown.Load(), "result", "refused_other"),
		counter(registers, regHelp, c.badAuth.Load(), "result", "bad_auth"),
		counter(registers, regHelp, c.replays.Load(), "result", "replay"),
		counter(registers, regHelp, c.notReady.Load(), "result", "not_ready"),
		counter(dropped, dropHelp, c.malformed.Load(), "reason", "malformed"),
		counter(dropped, dropHelp, c.oversized.Load(), "reason", "oversized"),
		counter(dropped, dropHelp, c.keepalives.Load(), "reason", "keepalive"),
		counter(dropped, dropHelp, c.nonRequest.Load(), "reason", "response"),
		counter(dropped, dropHelp, c.ignored.Load(), "reason", "ignored"),
		counter(dropped, dropHelp, c.inFlight.Load(), "reason", "in_flight_copy"),
		counter(dropped, dropHelp, c.overload.Load(), "reason", "overload"),
		counter(dropped, dropHelp, c.panics.Load(), "reason", "panic"),
		counter("sip_retransmissions_absorbed_total", "Retransmitted requests answered from the retransmission cache.", c.retransmits.Load()),
		counter("sip_not_implemented_total", "Requests answered 501 Not Implemented.", c.notImplemented.Load()),
		counter("sip_write_errors_total", "Responses that could not be sent.", c.writeErrors.Load()),
	}
	if pc := in.proxy; pc != nil {
		const (
			answers = "sip_proxy_answers_total"
			ansHelp = "Requests the proxy answered itself, by status."
		)
		pcs := &pc.c
		out = append(out,
			counter("sip_proxy_forwarded_total", "Requests the proxy forwarded (one per branch), in dialog or not.", pcs.proxied.Load()),
			counter("sip_proxy_routed_to_peer_site_total", "Requests routed to a peer site's SIP endpoint (the callee is registered there).", pcs.toPeer.Load()),
			counter("sip_proxy_responses_relayed_total", "Responses the proxy relayed upstream.", pcs.relayed.Load()),
			counter(answers, ansHelp, pcs.notFound.Load(), "status", "404"),
			counter(answers, ansHelp, pcs.unavailable.Load(), "status", "480"),
			counter(answers, ansHelp, pcs.challenged.Load(), "status", "407"),
			counter(answers, ansHelp, pcs.authFailed.Load(), "status", "403"),
			counter(answers, ansHelp, pcs.tooManyHops.Load(), "status", "483"),
			counter(answers, ansHelp, pcs.timeouts.Load(), "status", "408"),
			counter(answers, ansHelp, pcs.noTransaction.Load(), "status", "481"),
			counter(answers, ansHelp, pcs.overload.Load(), "status", "503"),
			counter("sip_proxy_cancels_total", "CANCELs matched to their INVITE.", pcs.cancelled.Load()),
			counter("sip_proxy_retransmissions_absorbed_total", "Retransmitted requests answered from their transaction.", pcs.absorbed.Load()),
			counter(dropped, dropHelp, pcs.stray.Load(), "reason", "stray"),
		)
	}
	aors, bindings := in.reg.Count()
	out = append(out,
		sdk.Metric{Name: "sip_bindings", Help: "Contact bindings held by the registrar.", Gauge: true, Value: float64(bindings)},
		sdk.Metric{Name: "sip_aors", Help: "Addresses of record with at least one binding.", Gauge: true, Value: float64(aors)},
	)
	return out, nil
}
