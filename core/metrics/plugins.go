package metrics

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rallyvoip/rally/plugins/sdk"
)

// PluginMetricsFunc returns the metrics of every running plugin, by plugin
// name. It must return by the time ctx ends.
type PluginMetricsFunc func(ctx context.Context) map[string][]sdk.Metric

// pluginScrapeTimeout bounds how long a scrape waits for the plugins.
const pluginScrapeTimeout = 2 * time.Second

var metricName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// AddPlugins serves the plugins' own metrics at each scrape, as
// rally_plugin_NAME with a plugin label. A sample whose name is not a
// valid metric name, or whose kind or label names differ from the first
// sample of its family, is skipped (counted in
// rally_plugin_metrics_skipped, per scrape).
func (m *Metrics) AddPlugins(f PluginMetricsFunc) {
	m.Registry.MustRegister(&pluginCollector{f: f})
}

var skippedDesc = prometheus.NewDesc("rally_plugin_metrics_skipped",
	"Plugin metric samples left out of this scrape: invalid name or label, kind or labels unlike their family's, or a duplicate.", nil, nil)

// pluginCollector is unchecked (it describes nothing): plugins choose
// their metrics at run time. Families are formed in the order of the
// plugins' names: the first sample of a name sets its kind, help and
// label names.
type pluginCollector struct {
	f PluginMetricsFunc
}

func (c *pluginCollector) Describe(chan<- *prometheus.Desc) {}

type pluginFamily struct {
	desc   *prometheus.Desc
	gauge  bool
	labels []string // the sample's own label names, sorted; then "plugin"
	seen   map[string]bool
}

func (c *pluginCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), pluginScrapeTimeout)
	defer cancel()
	byPlugin := c.f(ctx)
	families := make(map[string]*pluginFamily)
	skipped := 0
	defer func() { ch <- prometheus.MustNewConstMetric(skippedDesc, prometheus.GaugeValue, float64(skipped)) }()
	for _, plugin := range slices.Sorted(maps.Keys(byPlugin)) {
		for _, s := range byPlugin[plugin] {
			if !metricName.MatchString(s.Name) {
				skipped++
				continue
			}
			names := slices.Sorted(maps.Keys(s.Labels))
			if slices.Contains(names, "plugin") || slices.ContainsFunc(names, func(n string) bool { return !metricName.MatchString(n) }) {
				skipped++
				continue
			}
			name := "rally_plugin_" + s.Name
			fam, ok := families[name]
			if !ok {
				fam = &pluginFamily{
					desc:   prometheus.NewDesc(name, s.Help, append(slices.Clone(names), "plugin"), nil),
					gauge:  s.Gauge,
					labels: names,
					seen:   make(map[string]bool),
				}
				families[name] = fam
			}
			if fam.gauge != s.Gauge || !slices.Equal(fam.labels, names) {
				skipped++
				continue
			}
			values := make([]string, 0, len(names)+1)
			for _, n := range names {
				values = append(values, s.Labels[n])
			}
			values = append(values, plugin)
			if key := strings.Join(values, "\xff"); fam.seen[key] {
				skipped++ // a duplicate sample would fail the whole scrape
				continue
			} else {
				fam.seen[key] = true
			}
			kind := prometheus.CounterValue
			if s.Gauge {
				kind = prometheus.GaugeValue
			}
			if mt, err := prometheus.NewConstMetric(fam.desc, kind, s.Value, values...); err == nil {
				ch <- mt
			} else {
				skipped++
			}
		}
	}
}
