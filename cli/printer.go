package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

// schemaVersion is the "schema_version" of every JSON object the CLI
// prints. Bump it only for incompatible changes (a removed or renamed key,
// a changed type); adding a key is compatible. See doc.go for the shapes.
const schemaVersion = 1

// printer renders admin API answers, as tables for people or as JSON for
// scripts (package doc: "JSON output").
type printer interface {
	status(*adminv1.GetStatusResponse) error
	phones(*adminv1.ListPhonesResponse) error
	check(*adminv1.CheckResponse) error
	event(*adminv1.Event) error
	plugins(*adminv1.ListPluginsResponse) error
}

// newPrinter picks the printer for a command. lines asks JSON output to put
// each object on one line (--watch), not indented.
func (f *globalFlags) newPrinter(w io.Writer, asJSON, lines bool) printer {
	if asJSON {
		return &jsonPrinter{w: w, lines: lines}
	}
	return &tablePrinter{w: w, now: f.now, loc: f.loc}
}

var (
	_ printer = (*jsonPrinter)(nil)
	_ printer = (*tablePrinter)(nil)
)

// ---- JSON -----------------------------------------------------------------

// The output structs below are the documented JSON contract. Every key is
// always present: strings may be "", lists are [] and maps {} when empty,
// and times are null when unknown.

type statusJSON struct {
	SchemaVersion int        `json:"schema_version"`
	Site          siteJSON   `json:"site"`
	Peers         []peerJSON `json:"peers"`
}

type siteJSON struct {
	Site           string       `json:"site"`
	SIPDomain      string       `json:"sip_domain"`
	Revision       uint64       `json:"revision"`
	Licenses       uint32       `json:"licenses"`
	Licensed       uint32       `json:"licensed"`
	Guests         uint32       `json:"guests"`
	BackupSite     string       `json:"backup_site"`
	BackupMode     string       `json:"backup_mode"`
	FederationAddr string       `json:"federation_addr"`
	Started        *string      `json:"started"`
	Plugins        []pluginJSON `json:"plugins"`
}

type pluginJSON struct {
	Name       string   `json:"name"`
	Protocol   string   `json:"protocol"`
	Origin     string   `json:"origin"`
	Version    string   `json:"version"`
	Health     string   `json:"health"`
	Restarts   uint32   `json:"restarts"`
	LastError  string   `json:"last_error"`
	PID        int64    `json:"pid"`
	APIVersion uint32   `json:"api_version"`
	Endpoints  []string `json:"endpoints"`
	Path       string   `json:"path"`
	SHA256     string   `json:"sha256"`
}

type pluginsJSON struct {
	SchemaVersion int          `json:"schema_version"`
	Plugins       []pluginJSON `json:"plugins"`
}

type peerJSON struct {
	Site           string            `json:"site"`
	Addr           string            `json:"addr"`
	State          string            `json:"state"`
	StateSince     *string           `json:"state_since"`
	Relation       string            `json:"relation"`
	Resilience     string            `json:"resilience"`
	FailbackMode   string            `json:"failback_mode"`
	HeartbeatAgeMS *int64            `json:"heartbeat_age_ms"`
	LastHeard      *string           `json:"last_heard"`
	HeldRevision   uint64            `json:"held_revision"`
	PeerRevision   uint64            `json:"peer_revision"`
	AckedRevision  uint64            `json:"acked_revision"`
	HeldRecords    uint32            `json:"held_records"`
	Guests         uint32            `json:"guests"`
	Message        string            `json:"message"`
	Warnings       []string          `json:"warnings"`
	Plugins        map[string]string `json:"plugins"`
}

type phonesJSON struct {
	SchemaVersion int                `json:"schema_version"`
	Registrations []registrationJSON `json:"registrations"`
}

type registrationJSON struct {
	Phone     string  `json:"phone"`
	User      string  `json:"user"`
	Home      string  `json:"home"`
	HereAs    string  `json:"here_as"`
	Protocol  string  `json:"protocol"`
	Kind      string  `json:"kind"`
	Contact   string  `json:"contact"`
	Expires   *string `json:"expires"`
	AOR       string  `json:"aor"`
	Transport string  `json:"transport"`
	UserAgent string  `json:"user_agent"`
	Busy      bool    `json:"busy"`
	// Hot desking (DESIGN §1.9).
	ServedUser           string `json:"served_user"`
	HotDeskUser          string `json:"hotdesk_user"`
	HotDeskSuspendedUser string `json:"hotdesk_suspended_user"`
}

type checkJSON struct {
	SchemaVersion int               `json:"schema_version"`
	OK            bool              `json:"ok"`
	Results       []checkResultJSON `json:"results"`
}

type checkResultJSON struct {
	Peer    string `json:"peer"`
	Check   string `json:"check"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

type eventJSON struct {
	SchemaVersion int     `json:"schema_version"`
	Time          *string `json:"time"`
	Kind          string  `json:"kind"`
	Peer          string  `json:"peer"`
	From          string  `json:"from"`
	To            string  `json:"to"`
	Message       string  `json:"message"`
}

// rfc3339 formats a proto timestamp as RFC 3339 in UTC (with fractional
// seconds when it has them), or nil when unset.
func rfc3339(ts *timestamppb.Timestamp) *string {
	if ts == nil {
		return nil
	}
	s := ts.AsTime().UTC().Format(time.RFC3339Nano)
	return &s
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func statusToJSON(r *adminv1.GetStatusResponse) statusJSON {
	s := r.GetSite()
	out := statusJSON{
		SchemaVersion: schemaVersion,
		Site: siteJSON{
			Site:           s.GetSite(),
			SIPDomain:      s.GetSipDomain(),
			Revision:       s.GetRevision(),
			Licenses:       s.GetLicenses(),
			Licensed:       s.GetLicensed(),
			Guests:         s.GetGuests(),
			BackupSite:     s.GetBackupSite(),
			BackupMode:     s.GetBackupMode(),
			FederationAddr: s.GetFederationAddr(),
			Started:        rfc3339(s.GetStarted()),
			Plugins:        pluginsToJSON(s.GetPlugins()),
		},
		Peers: []peerJSON{},
	}
	for _, p := range r.GetPeers() {
		var age *int64
		if heard(p) {
			a := p.GetHeartbeatAgeMs()
			age = &a
		}
		plugins := p.GetPlugins()
		if plugins == nil {
			plugins = map[string]string{}
		}
		out.Peers = append(out.Peers, peerJSON{
			Site:           p.GetSite(),
			Addr:           p.GetAddr(),
			State:          p.GetState(),
			StateSince:     rfc3339(p.GetStateSince()),
			Relation:       p.GetRelation(),
			Resilience:     p.GetResilience(),
			FailbackMode:   p.GetFailbackMode(),
			HeartbeatAgeMS: age,
			LastHeard:      rfc3339(p.GetLastHeard()),
			HeldRevision:   p.GetHeldRevision(),
			PeerRevision:   p.GetPeerRevision(),
			AckedRevision:  p.GetAckedRevision(),
			HeldRecords:    p.GetHeldRecords(),
			Guests:         p.GetGuests(),
			Message:        p.GetMessage(),
			Warnings:       orEmpty(p.GetWarnings()),
			Plugins:        plugins,
		})
	}
	return out
}

func pluginsToJSON(ps []*adminv1.PluginStatus) []pluginJSON {
	out := []pluginJSON{}
	for _, p := range ps {
		out = append(out, pluginJSON{
			Name:       p.GetName(),
			Protocol:   p.GetProtocol(),
			Origin:     p.GetOrigin(),
			Version:    p.GetVersion(),
			Health:     p.GetHealth(),
			Restarts:   p.GetRestarts(),
			LastError:  p.GetLastError(),
			PID:        p.GetPid(),
			APIVersion: p.GetApiVersion(),
			Endpoints:  orEmpty(p.GetEndpoints()),
			Path:       p.GetPath(),
			SHA256:     p.GetSha256(),
		})
	}
	return out
}

func phonesToJSON(r *adminv1.ListPhonesResponse) phonesJSON {
	out := phonesJSON{SchemaVersion: schemaVersion, Registrations: []registrationJSON{}}
	for _, g := range r.GetRegistrations() {
		out.Registrations = append(out.Registrations, registrationJSON{
			Phone:     g.GetPhone(),
			User:      g.GetUser(),
			Home:      g.GetHome(),
			HereAs:    g.GetHereAs(),
			Protocol:  g.GetProtocol(),
			Kind:      g.GetKind(),
			Contact:   g.GetContact(),
			Expires:   rfc3339(g.GetExpires()),
			AOR:       g.GetAor(),
			Transport: g.GetTransport(),
			UserAgent: g.GetUserAgent(),
			Busy:      g.GetBusy(),

			ServedUser:           servedUser(g),
			HotDeskUser:          g.GetHotdeskUser(),
			HotDeskSuspendedUser: g.GetHotdeskSuspendedUser(),
		})
	}
	return out
}

// servedUser is the user the phone serves: a daemon that predates hot
// desking does not say, and then it is the base user.
func servedUser(g *adminv1.Registration) string {
	if u := g.GetServedUser(); u != "" {
		return u
	}
	return g.GetUser()
}

func checkToJSON(r *adminv1.CheckResponse) checkJSON {
	out := checkJSON{SchemaVersion: schemaVersion, OK: true, Results: []checkResultJSON{}}
	for _, c := range r.GetResults() {
		out.OK = out.OK && c.GetOk()
		out.Results = append(out.Results, checkResultJSON{
			Peer:    c.GetPeer(),
			Check:   c.GetCheck(),
			OK:      c.GetOk(),
			Message: c.GetMessage(),
		})
	}
	return out
}

func eventToJSON(e *adminv1.Event) eventJSON {
	return eventJSON{
		SchemaVersion: schemaVersion,
		Time:          rfc3339(e.GetTime()),
		Kind:          e.GetKind(),
		Peer:          e.GetPeer(),
		From:          e.GetFrom(),
		To:            e.GetTo(),
		Message:       e.GetMessage(),
	}
}

// jsonPrinter writes one JSON object per answer: indented, or on a single
// line when lines is set (--watch, so the output is JSON Lines).
type jsonPrinter struct {
	w     io.Writer
	lines bool
}

func (p *jsonPrinter) write(v any) error {
	enc := json.NewEncoder(p.w)
	enc.SetEscapeHTML(false)
	if !p.lines {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}

func (p *jsonPrinter) status(r *adminv1.GetStatusResponse) error  { return p.write(statusToJSON(r)) }
func (p *jsonPrinter) phones(r *adminv1.ListPhonesResponse) error { return p.write(phonesToJSON(r)) }
func (p *jsonPrinter) check(r *adminv1.CheckResponse) error       { return p.write(checkToJSON(r)) }
func (p *jsonPrinter) event(e *adminv1.Event) error               { return p.write(eventToJSON(e)) }
func (p *jsonPrinter) plugins(r *adminv1.ListPluginsResponse) error {
	return p.write(pluginsJSON{SchemaVersion: schemaVersion, Plugins: pluginsToJSON(r.GetPlugins())})
}

// ---- tables ---------------------------------------------------------------

// tablePrinter writes aligned columns for people. Its layout is not a
// contract: scripts use --json.
type tablePrinter struct {
	w   io.Writer
	now func() time.Time
	loc *time.Location
}

func (p *tablePrinter) table(header string, rows [][]string) error {
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		for i := range r {
			r[i] = cell(r[i])
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// cell keeps a table cell on one line and shows "-" for nothing.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	return s
}

func (p *tablePrinter) status(r *adminv1.GetStatusResponse) error {
	s := r.GetSite()
	licensed := fmt.Sprintf("%d/%d", s.GetLicensed(), s.GetLicenses())
	if err := p.table("SITE\tSIP DOMAIN\tREVISION\tLICENSED\tGUESTS\tBACKED UP BY\tBACKUP STORE", [][]string{{
		s.GetSite(), s.GetSipDomain(), fmt.Sprint(s.GetRevision()), licensed,
		fmt.Sprint(s.GetGuests()), s.GetBackupSite(), s.GetBackupMode(),
	}}); err != nil {
		return err
	}
	fmt.Fprintln(p.w)
	if ps := s.GetPlugins(); len(ps) > 0 {
		rows := make([][]string, 0, len(ps))
		for _, pl := range ps {
			rows = append(rows, []string{pl.GetName(), pl.GetHealth(), fmt.Sprint(pl.GetRestarts()), pl.GetLastError()})
		}
		if err := p.table("PLUGIN\tHEALTH\tRESTARTS\tLAST ERROR", rows); err != nil {
			return err
		}
		fmt.Fprintln(p.w)
	}
	peers := r.GetPeers()
	if len(peers) == 0 {
		_, err := fmt.Fprintln(p.w, "no peers linked")
		return err
	}
	rows := make([][]string, 0, len(peers))
	for _, pe := range peers {
		rows = append(rows, []string{
			pe.GetSite(), pe.GetState(), pe.GetRelation(), pe.GetResilience(),
			heartbeatAge(pe),
			fmt.Sprintf("%d/%d", pe.GetHeldRevision(), pe.GetPeerRevision()),
			fmt.Sprint(pe.GetGuests()), pe.GetMessage(),
		})
	}
	if err := p.table("PEER\tSTATE\tRELATION\tRESILIENCE\tHEARTBEAT\tHELD/PEER REV\tGUESTS\tMESSAGE", rows); err != nil {
		return err
	}
	for _, pe := range peers {
		for _, w := range pe.GetWarnings() {
			fmt.Fprintf(p.w, "warning: %s: %s\n", pe.GetSite(), w)
		}
		for _, name := range slices.Sorted(maps.Keys(pe.GetPlugins())) {
			if h := pe.GetPlugins()[name]; h == "down" {
				fmt.Fprintf(p.w, "warning: %s: plugin %s: %s\n", pe.GetSite(), name, h)
			}
		}
	}
	return nil
}

// heard reports whether the peer was ever heard from (the daemon sends no
// last_heard and a heartbeat age of -1 when not).
func heard(pe *adminv1.PeerStatus) bool {
	return pe.GetLastHeard() != nil && pe.GetHeartbeatAgeMs() >= 0
}

// heartbeatAge renders the time since the peer was last heard.
func heartbeatAge(pe *adminv1.PeerStatus) string {
	if !heard(pe) {
		return "never"
	}
	return shortDuration(time.Duration(pe.GetHeartbeatAgeMs()) * time.Millisecond)
}

// shortDuration: "12ms", "2.3s", "45s", "4m5s", "26h3m".
func shortDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		s := d.Round(time.Second).String()
		if m, ok := strings.CutSuffix(s, "m0s"); ok {
			return m + "m"
		}
		return s
	default:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s") // "26h3m0s"
	}
}

func (p *tablePrinter) phones(r *adminv1.ListPhonesResponse) error {
	regs := r.GetRegistrations()
	if len(regs) == 0 {
		_, err := fmt.Fprintln(p.w, "no phones registered")
		return err
	}
	now := p.now()
	rows := make([][]string, 0, len(regs))
	for _, g := range regs {
		expires := ""
		if g.GetExpires() != nil {
			if d := g.GetExpires().AsTime().Sub(now); d > 0 {
				expires = "in " + shortDuration(d.Round(time.Second))
			} else {
				expires = "expired"
			}
		}
		serves := servedUser(g)
		if g.GetHotdeskUser() != "" {
			serves += " (hot-desk)"
		} else if u := g.GetHotdeskSuspendedUser(); u != "" {
			serves += " (hot-desk " + u + " logged out)"
		}
		rows = append(rows, []string{
			g.GetPhone(), g.GetUser(), serves, cell(g.GetAor()), g.GetHome(), g.GetHereAs(),
			g.GetProtocol(), g.GetKind(), g.GetTransport(), g.GetContact(), cell(g.GetUserAgent()), expires,
		})
	}
	return p.table("PHONE\tUSER\tSERVES\tAOR\tHOME\tHERE AS\tPROTOCOL\tKIND\tTRANSPORT\tCONTACT\tUSER AGENT\tEXPIRES", rows)
}

func (p *tablePrinter) check(r *adminv1.CheckResponse) error {
	results := r.GetResults()
	if len(results) == 0 {
		_, err := fmt.Fprintln(p.w, "nothing to check: no peers configured")
		return err
	}
	rows := make([][]string, 0, len(results))
	for _, c := range results {
		result := "ok"
		if !c.GetOk() {
			result = "FAIL"
		}
		rows = append(rows, []string{c.GetPeer(), c.GetCheck(), result, c.GetMessage()})
	}
	return p.table("PEER\tCHECK\tRESULT\tMESSAGE", rows)
}

func (p *tablePrinter) plugins(r *adminv1.ListPluginsResponse) error {
	ps := r.GetPlugins()
	if len(ps) == 0 {
		_, err := fmt.Fprintln(p.w, "no plugins")
		return err
	}
	rows := make([][]string, 0, len(ps))
	for _, pl := range ps {
		pid := ""
		if pl.GetPid() > 0 {
			pid = fmt.Sprint(pl.GetPid())
		}
		sum := pl.GetSha256()
		if len(sum) > 12 {
			sum = sum[:12]
		}
		rows = append(rows, []string{
			pl.GetName(), pl.GetOrigin(), pl.GetProtocol(), pl.GetVersion(), pl.GetHealth(),
			fmt.Sprint(pl.GetRestarts()), pid, strings.Join(pl.GetEndpoints(), ","), sum, pl.GetLastError(),
		})
	}
	return p.table("NAME\tORIGIN\tPROTOCOL\tVERSION\tHEALTH\tRESTARTS\tPID\tENDPOINTS\tSHA256\tLAST ERROR", rows)
}

// event prints one line: time, kind, peer, from -> to, message.
func (p *tablePrinter) event(e *adminv1.Event) error {
	var b strings.Builder
	if e.GetTime() != nil {
		b.WriteString(e.GetTime().AsTime().In(p.loc).Format(time.RFC3339))
	} else {
		b.WriteString("-")
	}
	b.WriteString("  " + cell(e.GetKind()))
	if e.GetPeer() != "" {
		b.WriteString("  " + e.GetPeer())
	}
	if e.GetFrom() != "" || e.GetTo() != "" {
		b.WriteString("  " + cell(e.GetFrom()) + " -> " + cell(e.GetTo()))
	}
	if e.GetMessage() != "" {
		b.WriteString("  " + strings.Join(strings.Fields(e.GetMessage()), " "))
	}
	_, err := fmt.Fprintln(p.w, b.String())
	return err
}
