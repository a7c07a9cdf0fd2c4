// Package metrics holds a site daemon's Prometheus collectors on a registry
// of its own (no global state), and serves them on /metrics.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// PeerStates are the peer states, in the order of their gauge values.
var PeerStates = []string{"connecting", "normal", "suspect", "failover", "failback_pending", "incompatible"}

// Metrics are the site's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	HeartbeatAge   *prometheus.GaugeVec   // peer
	PeerState      *prometheus.GaugeVec   // peer, state: 1 for the current state
	Revision       prometheus.Gauge       // this site's directory revision
	HeldRevision   *prometheus.GaugeVec   // peer: the peer's revision held here
	ReplicationLag *prometheus.GaugeVec   // peer: peer revision - held revision
	AckedRevision  *prometheus.GaugeVec   // peer: this site's revision the peer acked
	Admissions     *prometheus.CounterVec // outcome, reason
	Registrations  *prometheus.GaugeVec   // kind: licensed | guest
	BackupRecords  *prometheus.GaugeVec   // peer
	Transitions    *prometheus.CounterVec // peer, to
	DroppedEvents  prometheus.Counter
}

// New registers the collectors on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		HeartbeatAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rally_peer_heartbeat_age_seconds", Help: "Time since the last frame from the peer.",
		}, []string{"peer"}),
		PeerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rally_peer_state", Help: "1 for the peer's current state as seen from this site.",
		}, []string{"peer", "state"}),
		Revision: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rally_directory_revision", Help: "This site's directory revision.",
		}),
		HeldRevision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rally_replication_held_revision", Help: "The peer's directory revision held at this site.",
		}, []string{"peer"}),
		ReplicationLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rally_replication_lag_revisions", Help: "Peer revisions not yet held here.",
		}, []string{"peer"}),
		AckedRevision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rally_replication_acked_revision", Help: "This site's revision the peer has acknowledged.",
		}, []string{"peer"}),
		Admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rally_admissions_total", Help: "Admission decisions by outcome and refusal reason.",
		}, []string{"outcome", "reason"}),
		Registrations: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rally_registrations", Help: "Phones registered here, by kind (licensed, guest).",
		}, []string{"kind"}),
		BackupRecords: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rally_backup_records", Help: "Records of the peer held here.",
		}, []string{"peer"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rally_peer_transitions_total", Help: "Peer state transitions by target state.",
		}, []string{"peer", "to"}),
		DroppedEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rally_events_dropped_total", Help: "Events not delivered to a slow watcher.",
		}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.HeartbeatAge, m.PeerState, m.Revision, m.HeldRevision, m.ReplicationLag,
		m.AckedRevision, m.Admissions, m.Registrations, m.BackupRecords, m.Transitions,
		m.DroppedEvents,
	)
	return m
}

// SetPeerState sets the one-hot state gauge of peer.
func (m *Metrics) SetPeerState(peer, state string) {
	for _, s := range PeerStates {
		v := 0.0
		if s == state {
			v = 1
		}
		m.PeerState.WithLabelValues(peer, s).Set(v)
	}
}

// ForgetPeer drops the series of an unlinked peer.
func (m *Metrics) ForgetPeer(peer string) {
	for _, v := range []*prometheus.GaugeVec{m.HeartbeatAge, m.HeldRevision, m.ReplicationLag, m.AckedRevision, m.BackupRecords} {
		v.DeleteLabelValues(peer)
	}
	m.PeerState.DeletePartialMatch(prometheus.Labels{"peer": peer})
}

// Serve serves /metrics on addr until ctx ends.
func (m *Metrics) Serve(ctx context.Context, lis net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: serve: %w", err)
	}
	return nil
}
