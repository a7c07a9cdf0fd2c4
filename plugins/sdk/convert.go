package sdk

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rallyvoip/rally/plugins/sdk/admission"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
	pluginv1 "github.com/rallyvoip/rally/proto/rally/plugin/v1"
)

// Conversions between the domain types of the SDK and rally.plugin.v1.
// Only the shims call them.

func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func timeFromProto(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func infoToProto(i Info) *pluginv1.GetInfoResponse {
	r := &pluginv1.GetInfoResponse{
		Name:         i.Name,
		Protocol:     i.Protocol,
		ApiVersions:  i.APIVersions,
		ConfigSchema: i.ConfigSchema,
		Version:      i.Version,
	}
	for _, k := range i.Events {
		if pk, ok := eventKindToProto[k]; ok {
			r.Events = append(r.Events, pk)
		}
	}
	return r
}

func infoFromProto(r *pluginv1.GetInfoResponse) Info {
	i := Info{
		Name:         r.GetName(),
		Protocol:     r.GetProtocol(),
		Version:      r.GetVersion(),
		ConfigSchema: r.GetConfigSchema(),
		APIVersions:  r.GetApiVersions(),
	}
	for _, pk := range r.GetEvents() {
		i.Events = append(i.Events, eventKindFromProto(pk))
	}
	return i
}

func configToProto(c Config, hostBrokerID uint32) *pluginv1.ConfigureRequest {
	return &pluginv1.ConfigureRequest{
		ApiVersion:   c.APIVersion,
		Site:         c.Site,
		SipDomain:    c.SIPDomain,
		ConfigJson:   c.ConfigJSON,
		HostBrokerId: hostBrokerID,
		TlsCertPem:   c.TLSCertPEM,
		TlsKeyPem:    c.TLSKeyPEM,
		CaCertPem:    c.CACertPEM,
	}
}

func configFromProto(r *pluginv1.ConfigureRequest) Config {
	return Config{
		APIVersion: r.GetApiVersion(),
		Site:       r.GetSite(),
		SIPDomain:  r.GetSipDomain(),
		ConfigJSON: r.GetConfigJson(),
		TLSCertPEM: r.GetTlsCertPem(),
		TLSKeyPEM:  r.GetTlsKeyPem(),
		CACertPEM:  r.GetCaCertPem(),
	}
}

var eventKindToProto = map[EventKind]pluginv1.EventKind{
	EventPeerState:    pluginv1.EventKind_EVENT_KIND_PEER_STATE,
	EventResilience:   pluginv1.EventKind_EVENT_KIND_RESILIENCE,
	EventFailback:     pluginv1.EventKind_EVENT_KIND_FAILBACK,
	EventRegistration: pluginv1.EventKind_EVENT_KIND_REGISTRATION,
	EventLink:         pluginv1.EventKind_EVENT_KIND_LINK,
}

var errUnknownEventKind = errors.New("sdk: event kind not in the plugin API")

func eventToProto(e Event) (*pluginv1.Event, error) {
	k, ok := eventKindToProto[e.Kind]
	if !ok {
		return nil, fmt.Errorf("%w: %q", errUnknownEventKind, e.Kind)
	}
	return &pluginv1.Event{
		Time:    timeToProto(e.Time),
		Kind:    k,
		Peer:    e.Peer,
		From:    e.From,
		To:      e.To,
		PhoneId: e.PhoneID,
		Message: e.Message,
	}, nil
}

// eventKindFromProto maps an unknown kind (from a newer peer) to
// EventKind("unknown:N").
func eventKindFromProto(pk pluginv1.EventKind) EventKind {
	for k, v := range eventKindToProto {
		if v == pk {
			return k
		}
	}
	return EventKind(fmt.Sprintf("unknown:%d", pk))
}

// eventFromProto maps an unknown kind (from a newer host) to
// EventKind("unknown:N") so that a plugin can ignore it.
func eventFromProto(e *pluginv1.Event) Event {
	kind := EventKind(fmt.Sprintf("unknown:%d", e.GetKind()))
	for k, v := range eventKindToProto {
		if v == e.GetKind() {
			kind = k
			break
		}
	}
	return Event{
		Time:    timeFromProto(e.GetTime()),
		Kind:    kind,
		Peer:    e.GetPeer(),
		From:    e.GetFrom(),
		To:      e.GetTo(),
		PhoneID: e.GetPhoneId(),
		Message: e.GetMessage(),
	}
}

func healthToProto(h Health) *pluginv1.GetHealthResponse {
	r := &pluginv1.GetHealthResponse{Health: pluginv1.Health_HEALTH_NOT_SERVING, Message: h.Message}
	switch {
	case h.Serving:
		r.Health = pluginv1.Health_HEALTH_SERVING
	case h.Starting:
		r.Health = pluginv1.Health_HEALTH_STARTING
	}
	return r
}

func healthFromProto(r *pluginv1.GetHealthResponse) Health {
	return Health{
		Serving:  r.GetHealth() == pluginv1.Health_HEALTH_SERVING,
		Starting: r.GetHealth() == pluginv1.Health_HEALTH_STARTING,
		Message:  r.GetMessage(),
	}
}

func regOutcomeToProto(o RegOutcome) pluginv1.RegistrationOutcome {
	switch o {
	case RegHome:
		return pluginv1.RegistrationOutcome_REGISTRATION_OUTCOME_HOME
	case RegGuest:
		return pluginv1.RegistrationOutcome_REGISTRATION_OUTCOME_GUEST
	case RegGone:
		return pluginv1.RegistrationOutcome_REGISTRATION_OUTCOME_GONE
	}
	return pluginv1.RegistrationOutcome_REGISTRATION_OUTCOME_UNSPECIFIED
}

// regOutcomeFromProto returns 0 (not a valid RegOutcome) for UNSPECIFIED
// or an unknown value.
func regOutcomeFromProto(o pluginv1.RegistrationOutcome) RegOutcome {
	switch o {
	case pluginv1.RegistrationOutcome_REGISTRATION_OUTCOME_HOME:
		return RegHome
	case pluginv1.RegistrationOutcome_REGISTRATION_OUTCOME_GUEST:
		return RegGuest
	case pluginv1.RegistrationOutcome_REGISTRATION_OUTCOME_GONE:
		return RegGone
	}
	return 0
}

func registrationToProto(r Registration) *pluginv1.ReportRegistrationRequest {
	return &pluginv1.ReportRegistrationRequest{
		PhoneId:   r.PhoneID,
		Outcome:   regOutcomeToProto(r.Outcome),
		Contact:   r.Contact,
		Expires:   timeToProto(r.Expires),
		UserAgent: r.UserAgent,
		Transport: r.Transport,
		Aor:       r.AOR,
	}
}

func registrationFromProto(r *pluginv1.ReportRegistrationRequest) Registration {
	return Registration{
		PhoneID:   r.GetPhoneId(),
		Contact:   r.GetContact(),
		UserAgent: r.GetUserAgent(),
		Transport: r.GetTransport(),
		AOR:       r.GetAor(),
		Outcome:   regOutcomeFromProto(r.GetOutcome()),
		Expires:   timeFromProto(r.GetExpires()),
	}
}

func phoneToProto(p admission.PhoneEntry) *pluginv1.PhoneEntry {
	return &pluginv1.PhoneEntry{Id: p.ID, User: p.User, Home: p.Home, Kind: p.Kind, Protocol: p.Protocol, HotdeskUser: p.HotDeskUser}
}

func phoneFromProto(p *pluginv1.PhoneEntry) admission.PhoneEntry {
	return admission.PhoneEntry{ID: p.GetId(), User: p.GetUser(), Home: p.GetHome(), Kind: p.GetKind(), Protocol: p.GetProtocol(), HotDeskUser: p.GetHotdeskUser()}
}

func peerToProto(v admission.PeerView) *pluginv1.PeerView {
	var down []federationv1.Protocol
	for _, p := range slices.Sorted(maps.Keys(v.ProtocolDown)) {
		if v.ProtocolDown[p] {
			down = append(down, p)
		}
	}
	return &pluginv1.PeerView{
		Site:         v.Site,
		BackedUp:     v.BackedUp,
		State:        v.State,
		Failback:     v.Failback,
		ProtocolDown: down,
		Endpoints:    slices.Clone(v.Endpoints),
		Backup:       v.Backup,
		BacksUpSelf:  v.BacksUpSelf,
	}
}

func peerFromProto(v *pluginv1.PeerView) admission.PeerView {
	var down map[federationv1.Protocol]bool
	if len(v.GetProtocolDown()) > 0 {
		down = make(map[federationv1.Protocol]bool, len(v.GetProtocolDown()))
		for _, p := range v.GetProtocolDown() {
			down[p] = true
		}
	}
	return admission.PeerView{
		Site:         v.GetSite(),
		BackedUp:     v.GetBackedUp(),
		State:        v.GetState(),
		Failback:     v.GetFailback(),
		ProtocolDown: down,
		Endpoints:    slices.Clone(v.GetEndpoints()),
		Backup:       v.GetBackup(),
		BacksUpSelf:  v.GetBacksUpSelf(),
	}
}

func licensesToProto(n int) uint32 {
	return uint32(min(max(n, 0), 1<<32-1))
}

func snapshotToProto(s *ViewSnapshot) *pluginv1.ViewSnapshot {
	r := &pluginv1.ViewSnapshot{
		Site:     s.Site,
		Licenses: licensesToProto(s.Licenses),
		Phones:   make([]*pluginv1.PhoneEntry, 0, len(s.Phones)),
		Peers:    make([]*pluginv1.PeerView, 0, len(s.Peers)),
	}
	for _, p := range s.Phones {
		r.Phones = append(r.Phones, phoneToProto(p))
	}
	for _, v := range s.Peers {
		r.Peers = append(r.Peers, peerToProto(v))
	}
	return r
}

func snapshotFromProto(s *pluginv1.ViewSnapshot) *ViewSnapshot {
	r := &ViewSnapshot{Site: s.GetSite(), Licenses: int(s.GetLicenses())}
	for _, p := range s.GetPhones() {
		r.Phones = append(r.Phones, phoneFromProto(p))
	}
	for _, v := range s.GetPeers() {
		r.Peers = append(r.Peers, peerFromProto(v))
	}
	return r
}

var errBadViewChange = errors.New("sdk: a view change must set exactly one field")

func changeToProto(c *ViewChange) (*pluginv1.ViewChange, error) {
	var r []*pluginv1.ViewChange
	if c.PutPhone != nil {
		r = append(r, &pluginv1.ViewChange{Change: &pluginv1.ViewChange_PutPhone{PutPhone: phoneToProto(*c.PutPhone)}})
	}
	if c.RemovePhone != "" {
		r = append(r, &pluginv1.ViewChange{Change: &pluginv1.ViewChange_RemovePhone{RemovePhone: c.RemovePhone}})
	}
	if c.PutPeer != nil {
		r = append(r, &pluginv1.ViewChange{Change: &pluginv1.ViewChange_PutPeer{PutPeer: peerToProto(*c.PutPeer)}})
	}
	if c.RemovePeer != "" {
		r = append(r, &pluginv1.ViewChange{Change: &pluginv1.ViewChange_RemovePeer{RemovePeer: c.RemovePeer}})
	}
	if c.Licenses != nil {
		r = append(r, &pluginv1.ViewChange{Change: &pluginv1.ViewChange_Licenses{Licenses: licensesToProto(*c.Licenses)}})
	}
	if len(r) != 1 {
		return nil, fmt.Errorf("%w: %d set", errBadViewChange, len(r))
	}
	return r[0], nil
}

func changeFromProto(c *pluginv1.ViewChange) (*ViewChange, error) {
	switch ch := c.GetChange().(type) {
	case *pluginv1.ViewChange_PutPhone:
		p := phoneFromProto(ch.PutPhone)
		return &ViewChange{PutPhone: &p}, nil
	case *pluginv1.ViewChange_RemovePhone:
		return &ViewChange{RemovePhone: ch.RemovePhone}, nil
	case *pluginv1.ViewChange_PutPeer:
		v := peerFromProto(ch.PutPeer)
		return &ViewChange{PutPeer: &v}, nil
	case *pluginv1.ViewChange_RemovePeer:
		return &ViewChange{RemovePeer: ch.RemovePeer}, nil
	case *pluginv1.ViewChange_Licenses:
		n := int(ch.Licenses)
		return &ViewChange{Licenses: &n}, nil
	}
	return nil, fmt.Errorf("%w: none set (a change from a newer host?)", errBadViewChange)
}

func viewUpdateToProto(u ViewUpdate) (*pluginv1.WatchViewResponse, error) {
	switch {
	case u.Snapshot != nil && u.Change == nil:
		return &pluginv1.WatchViewResponse{Item: &pluginv1.WatchViewResponse_Snapshot{Snapshot: snapshotToProto(u.Snapshot)}}, nil
	case u.Change != nil && u.Snapshot == nil:
		c, err := changeToProto(u.Change)
		if err != nil {
			return nil, err
		}
		return &pluginv1.WatchViewResponse{Item: &pluginv1.WatchViewResponse_Change{Change: c}}, nil
	}
	return nil, errors.New("sdk: a view update must set exactly one of Snapshot, Change and Err")
}

func viewUpdateFromProto(r *pluginv1.WatchViewResponse) ViewUpdate {
	switch it := r.GetItem().(type) {
	case *pluginv1.WatchViewResponse_Snapshot:
		return ViewUpdate{Snapshot: snapshotFromProto(it.Snapshot)}
	case *pluginv1.WatchViewResponse_Change:
		c, err := changeFromProto(it.Change)
		if err != nil {
			return ViewUpdate{Err: err}
		}
		return ViewUpdate{Change: c}
	}
	return ViewUpdate{Err: errors.New("sdk: empty view update (an item from a newer host?)")}
}

func metricToProto(m Metric) *pluginv1.Metric {
	kind := pluginv1.MetricKind_METRIC_KIND_COUNTER
	if m.Gauge {
		kind = pluginv1.MetricKind_METRIC_KIND_GAUGE
	}
	r := &pluginv1.Metric{Name: m.Name, Help: m.Help, Kind: kind, Value: m.Value}
	for _, k := range slices.Sorted(maps.Keys(m.Labels)) {
		r.Labels = append(r.Labels, &pluginv1.MetricLabel{Name: k, Value: m.Labels[k]})
	}
	return r
}

func metricFromProto(r *pluginv1.Metric) Metric {
	m := Metric{Name: r.GetName(), Help: r.GetHelp(), Gauge: r.GetKind() == pluginv1.MetricKind_METRIC_KIND_GAUGE, Value: r.GetValue()}
	if len(r.GetLabels()) > 0 {
		m.Labels = make(map[string]string, len(r.GetLabels()))
		for _, l := range r.GetLabels() {
			m.Labels[l.GetName()] = l.GetValue()
		}
	}
	return m
}
