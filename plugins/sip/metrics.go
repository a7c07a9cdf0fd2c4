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
	aors, bindings := in.reg.Count()
	out = append(out,
		sdk.Metric{Name: "sip_bindings", Help: "Contact bindings held by the registrar.", Gauge: true, Value: float64(bindings)},
		sdk.Metric{Name: "sip_aors", Help: "Addresses of record with at least one binding.", Gauge: true, Value: float64(aors)},
	)
	return out, nil
}
