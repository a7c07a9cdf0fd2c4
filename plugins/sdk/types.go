package sdk

import (
	"context"
	"fmt"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk/admission"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// Plugin is what a plugin implements; the host's client for a plugin
// implements it too. Every method may be called concurrently with the
// others.
type Plugin interface {
	// Info names the plugin, the protocol it serves and the API versions
	// it speaks.
	Info(ctx context.Context) (Info, error)
	// Configure is called after every (re)start. host is the site daemon's
	// HostService (over go-plugin's broker); keep it for the plugin's life.
	// It returns the endpoints the plugin listens on. A config the plugin
	// cannot use is reported with an error wrapping ErrInvalidConfig.
	Configure(ctx context.Context, cfg Config, host Host) (endpoints []string, err error)
	// HandleEvent delivers one site event.
	HandleEvent(ctx context.Context, e Event) error
	// Health reports whether the plugin serves its protocol. The host
	// carries it in its heartbeats: a plugin that does not serve makes its
	// site count as down for that protocol (DESIGN §1.2).
	Health(ctx context.Context) (Health, error)
}

// MetricsSource is implemented by a plugin that has metrics of its own
// (optional: a plugin without it reports none). The host asks at each
// scrape of its /metrics and serves them as rally_plugin_NAME with a
// plugin label; keep it cheap.
type MetricsSource interface {
	Metrics(ctx context.Context) ([]Metric, error)
}

// Metric is one sample of a plugin's metric. Samples with the same Name
// are one family and must share Gauge, Help and label names.
type Metric struct {
	// Name is lowercase letters, digits and '_'; a counter's ends in
	// _total.
	Name string
	Help string
	// Gauge is true for a value that goes up and down; false is a counter.
	Gauge  bool
	Value  float64
	Labels map[string]string
}

// Info describes a plugin.
type Info struct {
	// Name is the plugin's name: its key under `plugins:` in the site
	// config.
	Name string
	// Protocol is "sip", "h323", or "" for a plugin that serves no phones.
	Protocol string
	// Version is the plugin's own version, for display.
	Version string
	// ConfigSchema is a JSON Schema of the plugin's config section, "" if
	// none.
	ConfigSchema string
	// APIVersions lists the rally.plugin.v1 API versions the plugin
	// speaks. A plugin that leaves it empty is taken to speak APIVersion
	// of the SDK it was built with.
	APIVersions []uint32
	// Events lists the kinds of event the plugin wants HandleEvent to
	// deliver; empty means every kind.
	Events []EventKind
}

// Config is what the host hands a plugin in Configure.
type Config struct {
	// APIVersion is the API version negotiated for this plugin.
	APIVersion uint32
	// Site is the name of the site the plugin serves.
	Site string
	// SIPDomain is the site's SIP domain (the digest realm).
	SIPDomain string
	// ConfigJSON is the plugin's section of the site config, as JSON
	// (`plugins: {NAME: {...}}`); "{}" or empty when the section is empty.
	ConfigJSON []byte
	// TLSCertPEM, TLSKeyPEM and CACertPEM are the site's identity, for
	// plugins that serve TLS: phones trust the federation's root CA.
	TLSCertPEM, TLSKeyPEM, CACertPEM []byte
}

// EventKind is what happened in an Event.
type EventKind string

// Event kinds.
const (
	// EventPeerState: a peer's state changed (Peer, From, To).
	EventPeerState EventKind = "peer_state"
	// EventResilience: a backed-up home's resilience changed (Peer, From,
	// To: inactive | active | lost).
	EventResilience EventKind = "resilience"
	// EventFailback: a failback completed (Peer).
	EventFailback EventKind = "failback"
	// EventRegistration: a phone registered or left here (PhoneID, To:
	// home | guest | gone).
	EventRegistration EventKind = "registration"
	// EventLink: a link came up or went down (Peer, To: up | down |
	// linked | unlinked).
	EventLink EventKind = "link"
)

// Valid reports whether k is one of the kinds the plugin API carries. The
// host's client refuses to send an event of another kind.
func (k EventKind) Valid() bool {
	_, ok := eventKindToProto[k]
	return ok
}

// Event is a site event.
type Event struct {
	Time    time.Time
	Kind    EventKind
	Peer    string
	From    string
	To      string
	PhoneID string
	Message string
}

// Health is a plugin's own view of whether it serves.
type Health struct {
	Serving bool
	// Starting (with Serving false) says the plugin is still loading what
	// it needs, such as its admission view: the host shows it as starting
	// and, unlike a plugin that does not serve, does not count its site as
	// down for its protocol.
	Starting bool
	// Message says why not, or anything worth showing in status.
	Message string
}

// RegOutcome is how a phone is registered here.
type RegOutcome int

// Registration outcomes. The zero RegOutcome is not valid.
const (
	// RegHome: the phone registered (or refreshed) as a home phone.
	RegHome RegOutcome = iota + 1
	// RegGuest: the phone registered (or refreshed) as a guest.
	RegGuest
	// RegGone: the phone left (unregistered or expired).
	RegGone
)

// String returns "home", "guest" or "gone".
func (o RegOutcome) String() string {
	switch o {
	case RegHome:
		return "home"
	case RegGuest:
		return "guest"
	case RegGone:
		return "gone"
	}
	return fmt.Sprintf("RegOutcome(%d)", int(o))
}

// Registration is a phone's registration as a plugin reports it.
type Registration struct {
	// PhoneID is the phone id (digest username or H.323 alias).
	PhoneID string
	// Contact is where the phone is reached (SIP Contact URI, H.323
	// call signalling address).
	Contact   string
	UserAgent string
	// Transport is "udp", "tcp", "tls" (SIP) or "ras" (H.323).
	Transport string
	// AOR is the address of record the phone registered
	// ("sip:201@voip.example").
	AOR     string
	Outcome RegOutcome
	// Expires is when the registration lapses unless refreshed.
	Expires time.Time
}

// ViewSnapshot replaces a plugin's whole admission view.
type ViewSnapshot struct {
	Site     string
	Licenses int
	Phones   []admission.PhoneEntry
	Peers    []admission.PeerView
}

// ViewChange is one change to the admission view: exactly one field is
// set.
type ViewChange struct {
	PutPhone    *admission.PhoneEntry
	RemovePhone string
	PutPeer     *admission.PeerView
	RemovePeer  string
	Licenses    *int
}

// ViewUpdate is one item of Host.WatchView: exactly one of Snapshot,
// Change and Err is set. Err is the last item of a stream that failed.
type ViewUpdate struct {
	Snapshot *ViewSnapshot
	Change   *ViewChange
	Err      error
}

// Host is the site daemon as a plugin sees it (HostService).
type Host interface {
	// WatchView streams the admission view: first a snapshot, then
	// changes. The producer closes the channel when the stream ends; a
	// stream that fails ends with an update carrying Err. Cancel ctx to
	// stop watching: the producer then closes the channel.
	WatchView(ctx context.Context) (<-chan ViewUpdate, error)
	// GetRecord looks one directory record up: this site's own (home "")
	// or a held backup record of the peer home. A missing record is an
	// error wrapping ErrNotFound.
	GetRecord(ctx context.Context, home, key string) (*federationv1.Record, error)
	// ReportRegistration tells the host a phone registered, refreshed or
	// left. accepted is false (with a reason) when the host refuses a home
	// registration over the licence count.
	ReportRegistration(ctx context.Context, r Registration) (accepted bool, reason string, err error)
	// ReportRegistrations reports many registrations in one call, with
	// one result each, in order. An error means none was recorded.
	ReportRegistrations(ctx context.Context, rs []Registration) ([]ReportResult, error)
	// ReportCallState tells the host whether a phone is in a call.
	ReportCallState(ctx context.Context, phoneID string, busy bool) error
	// ListRegistrations returns the registrations the host holds for
	// protocol ("sip", "h323"): a restarted plugin restores them.
	ListRegistrations(ctx context.Context, protocol string) ([]Registration, error)
	// ListCredentials returns the HA1 values of every phone of home (""
	// for this site's own, else a peer whose backup records this site
	// holds): a plugin loads them in bulk rather than one GetRecord per
	// phone. A home whose records are not held is an error wrapping
	// ErrNotFound.
	ListCredentials(ctx context.Context, home string) ([]Credentials, error)
}

// ReportResult is the host's answer to one reported registration:
// Accepted is false (with a Reason) for a home registration over the
// licence count.
type ReportResult struct {
	Accepted bool
	Reason   string
}

// Credentials are a phone's digest HA1 values in hex (MD5 and SHA-256,
// either may be empty), never its password.
type Credentials struct {
	PhoneID   string
	HA1MD5    string
	HA1SHA256 string
}
