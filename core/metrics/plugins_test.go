package metrics

import (
	"context"
	"strings"
	"testing"

	"github.com/rallyvoip/rally/plugins/sdk"
)

// TestPluginMetrics: the plugins' samples are served under rally_plugin_
// with a plugin label; invalid names, a kind or label set unlike the
// family's, a reserved label and duplicates are skipped and counted, and
// never fail the scrape.
func TestPluginMetrics(t *testing.T) {
	m := New()
	m.AddPlugins(func(context.Context) map[string][]sdk.Metric {
		return map[string][]sdk.Metric{
			"sip": {
				{Name: "sip_registers_total", Help: "REGISTERs.", Value: 3, Labels: map[string]string{"result": "home"}},
				{Name: "sip_registers_total", Help: "REGISTERs.", Value: 1, Labels: map[string]string{"result": "guest"}},
				{Name: "sip_registers_total", Help: "REGISTERs.", Value: 9, Labels: map[string]string{"result": "guest"}}, // duplicate
				{Name: "sip_bindings", Help: "Bindings.", Gauge: true, Value: 4},
				{Name: "Bad-Name", Value: 1},
				{Name: "sip_x_total", Value: 1, Labels: map[string]string{"plugin": "spoofed"}},
			},
			"zeta": {
				{Name: "sip_registers_total", Help: "REGISTERs.", Value: 2, Labels: map[string]string{"result": "home"}},
				{Name: "sip_registers_total", Value: 2, Labels: map[string]string{"other": "label"}}, // labels unlike the family's
				{Name: "sip_bindings", Value: 2}, // a counter in a gauge family
			},
		}
	})
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err) // a duplicate or an inconsistent family fails the scrape
	}
	got := make(map[string]float64)
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := mt.GetCounter().GetValue() + mt.GetGauge().GetValue()
			got[f.GetName()+"{"+strings.Join(labels, ",")+"} "+f.GetType().String()] = v
		}
	}
	want := map[string]float64{
		"rally_plugin_sip_registers_total{plugin=sip,result=home} COUNTER":  3,
		"rally_plugin_sip_registers_total{plugin=sip,result=guest} COUNTER": 1,
		"rally_plugin_sip_registers_total{plugin=zeta,result=home} COUNTER": 2,
		"rally_plugin_sip_bindings{plugin=sip} GAUGE":                       4,
		"rally_plugin_metrics_skipped{} GAUGE":                              5,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && strings.HasPrefix(k, "rally_plugin_") {
			t.Errorf("unexpected sample %s", k)
		}
	}
}
