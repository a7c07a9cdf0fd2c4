package h323plugin

import (
	"context"

	"github.com/rallyvoip/rally/plugins/sdk"
)

var _ sdk.MetricsSource = (*Plugin)(nil)

// Metrics reports the gatekeeper's counters (the host serves them on its
// /metrics as rally_plugin_h323_*): RAS messages by type and result,
// refusals, failback URQs, what was dropped, and the registrations held.
func (p *Plugin) Metrics(context.Context) ([]sdk.Metric, error) {
	p.mu.Lock()
	in := p.running
	p.mu.Unlock()
	if in == nil {
		return nil, nil
	}
	st := in.stats()
	const (
		sent     = "h323_ras_sent_total"
		sentHelp = "RAS messages the gatekeeper sent, by message."
		drop     = "h323_dropped_total"
		dropHelp = "Datagrams dropped unanswered, by reason."
	)
	msg := func(name string, v uint64) sdk.Metric {
		return sdk.Metric{Name: sent, Help: sentHelp, Value: float64(v), Labels: map[string]string{"message": name}}
	}
	dropped := func(reason string, v uint64) sdk.Metric {
		return sdk.Metric{Name: drop, Help: dropHelp, Value: float64(v), Labels: map[string]string{"reason": reason}}
	}
	return []sdk.Metric{
		{Name: "h323_received_total", Help: "RAS datagrams received.", Value: float64(st.Received)},
		dropped("malformed", st.Malformed),
		dropped("ignored", st.Ignored),
		dropped("panic", st.Panics),
		{Name: "h323_unknown_messages_total", Help: "RAS messages the gatekeeper does not handle (answered XRS).", Value: float64(st.UnknownMessage)},
		{Name: "h323_write_errors_total", Help: "RAS messages that could not be sent.", Value: float64(st.WriteErrors)},
		msg("gcf", st.GCF), msg("grj", st.GRJ), msg("rcf", st.RCF), msg("rrj", st.RRJ),
		msg("ucf", st.UCF), msg("urj", st.URJ), msg("urq", st.URQSent), msg("acf", st.ACF), msg("arj", st.ARJ),
		msg("dcf", st.DCF), msg("drj", st.DRJ), msg("lrq", st.LRQSent), msg("lcf", st.LCF), msg("lrj", st.LRJ),
		msg("bcf", st.BCF), msg("brj", st.BRJ),
		{Name: "h323_refused_total", Help: "Registrations refused because the phone's home is alive (DESIGN §1.1).", Value: float64(st.Refused)},
		{Name: "h323_denied_total", Help: "URQs, ARQs and DRQs naming a registration from another address (refused).", Value: float64(st.Denied)},
		{Name: "h323_keepalives_total", Help: "Lightweight RRQs that refreshed a registration.", Value: float64(st.KeepAlives)},
		{Name: "h323_urq_answered_total", Help: "URQs sent at failback that the endpoint answered.", Value: float64(st.URQAnswered)},
		{Name: "h323_expired_total", Help: "Registrations that expired without a keep-alive.", Value: float64(st.Expired)},
		{Name: "h323_registrations", Help: "Endpoints registered.", Gauge: true, Value: float64(st.Registrations)},
	}, nil
}
