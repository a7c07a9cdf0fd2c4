package site

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rallyvoip/rally/core/admin"
	"github.com/rallyvoip/rally/core/directory"
	"github.com/rallyvoip/rally/core/events"
	"github.com/rallyvoip/rally/core/pluginhost"
	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// Option adjusts a Site at New.
type Option func(*options)

type options struct {
	executable string
	builtins   map[string][]string
}

// WithBuiltinPlugins declares the first-party plugins built into the
// executable exe ("" for this process's own): name → the arguments that
// make exe serve it. A built-in plugin runs when the site config has a
// section for it under plugins:.
func WithBuiltinPlugins(exe string, builtins map[string][]string) Option {
	return func(o *options) {
		o.executable = exe
		o.builtins = builtins
	}
}

// registration is a phone registered here, as a plugin reported it.
type registration struct {
	reg     sdk.Registration
	outcome admission.Outcome
	phone   admission.PhoneEntry
	busy    bool
}

// newPluginHost builds the plugin host of the site: the plugin directory
// (plugin_dir, default store.path/plugins), each plugin's config section
// as JSON, the site's identity PEMs, and the built-in plugins that the
// config has a section for.
func (s *Site) newPluginHost(o options) error {
	c := s.cfg
	file := filepath.Base(c.Path)
	sections := make(map[string][]byte, len(c.Plugins))
	for name := range c.Plugins {
		y, err := c.PluginYAML(name)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		var v any
		if err := yaml.Unmarshal(y, &v); err != nil {
			return fmt.Errorf("%s: plugins.%s: %w", file, name, err)
		}
		if v == nil {
			v = map[string]any{}
		}
		j, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%s: plugins.%s: not representable as JSON: %w", file, name, err)
		}
		sections[name] = j
	}
	var pems [3][]byte
	for i, f := range []string{c.TLS.Cert, c.TLS.Key, c.TLS.CA} {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("%s: tls: %w", file, err)
		}
		pems[i] = b
	}
	builtins := make(map[string][]string)
	for name, args := range o.builtins {
		if _, ok := sections[name]; ok {
			builtins[name] = args
		}
	}
	dir := c.PluginDir
	if dir == "" {
		dir = filepath.Join(c.Store.Path, "plugins")
	}
	s.plugins = pluginhost.New(pluginhost.Config{
		Site:       c.Site,
		SIPDomain:  c.SIPDomain,
		PluginDir:  dir,
		TLSCertPEM: pems[0], TLSKeyPEM: pems[1], CACertPEM: pems[2],
		Logger:  s.log.With("component", "plugins"),
		Backend: (*hostBackend)(s),
		PluginConfig: func(name string) ([]byte, bool) {
			j, ok := sections[name]
			return j, ok
		},
		Builtins:   builtins,
		Executable: o.executable,
	})
	return nil
}

// ---- the admission view streamed to plugins ------------------------------

// The site changes its admission table only through these helpers, which
// publish each change to the plugins' watch streams in the order the table
// took them (s.viewMu).

func (s *Site) putPhone(e admission.PhoneEntry) {
	s.viewMu.Lock()
	defer s.viewMu.Unlock()
	if s.table.PutPhone(e) == nil {
		s.view.Publish(sdk.ViewChange{PutPhone: &e})
	}
}

func (s *Site) removePhone(id string) {
	s.viewMu.Lock()
	defer s.viewMu.Unlock()
	s.table.RemovePhone(id)
	s.view.Publish(sdk.ViewChange{RemovePhone: id})
}

// setPeer sets a peer's view; the plugins hear of it only if it changed
// (the tick loop sets every peer every few milliseconds).
func (s *Site) setPeer(v admission.PeerView) {
	s.viewMu.Lock()
	defer s.viewMu.Unlock()
	old, had := s.table.Peer(v.Site)
	if s.table.SetPeer(v) != nil || (had && peerViewEqual(old, v)) {
		return
	}
	s.view.Publish(sdk.ViewChange{PutPeer: &v})
}

func (s *Site) removePeer(site string) {
	s.viewMu.Lock()
	defer s.viewMu.Unlock()
	s.table.RemovePeer(site)
	s.view.Publish(sdk.ViewChange{RemovePeer: site})
}

// resetHomePhones replaces all the phones of home; the plugins resync from
// a snapshot (a view change names one phone at a time).
func (s *Site) resetHomePhones(home string, entries []admission.PhoneEntry) error {
	s.viewMu.Lock()
	defer s.viewMu.Unlock()
	err := s.table.ResetHome(home, entries)
	if err == nil {
		s.view.Resync()
	}
	return err
}

func peerViewEqual(a, b admission.PeerView) bool {
	return a.Site == b.Site && a.BackedUp == b.BackedUp && a.State == b.State &&
		a.Failback == b.Failback && maps.Equal(a.ProtocolDown, b.ProtocolDown) &&
		slices.Equal(a.Endpoints, b.Endpoints) && a.Backup == b.Backup && a.BacksUpSelf == b.BacksUpSelf
}

// ---- the host service (pluginhost.Backend) ----------------------------------

// hostBackend is the site as its plugins see it.
type hostBackend Site

var _ pluginhost.Backend = (*hostBackend)(nil)

func (h *hostBackend) site() *Site { return (*Site)(h) }

// ViewSnapshot builds the admission view from the stores: this site's
// phones, the phones of every home whose records it holds, and the peers
// and licences of the admission table.
func (h *hostBackend) ViewSnapshot() sdk.ViewSnapshot {
	s := h.site()
	snap := sdk.ViewSnapshot{Site: s.cfg.Site, Licenses: s.table.Licenses()}
	if phones, err := s.dir.List(directory.KindPhone); err == nil {
		for _, r := range phones {
			snap.Phones = append(snap.Phones, s.ownPhoneEntry(r))
		}
	} else {
		s.log.Warn("plugin view: listing phones", "error", err)
	}
	for _, home := range s.backups.Homes() {
		s.backups.Each(home, func(r *federationv1.Record) bool {
			if r.GetPhone() != nil {
				snap.Phones = append(snap.Phones, phoneEntry(r))
			}
			return true
		})
	}
	s.mu.Lock()
	names := slices.Sorted(maps.Keys(s.machines))
	s.mu.Unlock()
	for _, n := range names {
		if v, ok := s.table.Peer(n); ok {
			snap.Peers = append(snap.Peers, v)
		}
	}
	return snap
}

func (h *hostBackend) SubscribeView() (<-chan sdk.ViewChange, func()) {
	return h.site().view.Subscribe()
}

// GetRecord returns one of this site's records (home "" or this site) or
// a held backup record of home.
func (h *hostBackend) GetRecord(home, key string) (*federationv1.Record, error) {
	s := h.site()
	if home == "" || home == s.cfg.Site {
		r, err := s.dir.Get(key)
		if errors.Is(err, directory.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s", sdk.ErrNotFound, key)
		}
		return r, err
	}
	r, ok := s.backups.Get(home, key)
	if !ok {
		return nil, fmt.Errorf("%w: %s of %s", sdk.ErrNotFound, key, home)
	}
	return r, nil
}

// Credentials lists the HA1 values of the phones of home: this site's own
// (home "" or this site) or the full backup records it holds of a peer.
// The redacted index of a peer it does not back up has none: that is an
// error, as is a home it holds nothing of.
func (h *hostBackend) Credentials(home string) ([]sdk.Credentials, error) {
	s := h.site()
	cred := func(r *federationv1.Record) sdk.Credentials {
		p := r.GetPhone()
		return sdk.Credentials{PhoneID: p.GetId(), HA1MD5: p.GetHa1Md5(), HA1SHA256: p.GetHa1Sha256()}
	}
	if home == "" || home == s.cfg.Site {
		phones, err := s.dir.List(directory.KindPhone)
		if err != nil {
			return nil, err
		}
		out := make([]sdk.Credentials, 0, len(phones))
		for _, r := range phones {
			out = append(out, cred(r))
		}
		return out, nil
	}
	if !s.backups.Full(home) {
		return nil, fmt.Errorf("%w: no backup records of %s with credentials", sdk.ErrNotFound, home)
	}
	var out []sdk.Credentials
	s.backups.Each(home, func(r *federationv1.Record) bool {
		if r.GetPhone() != nil {
			out = append(out, cred(r))
		}
		return true
	})
	return out, nil
}

// ReportRegistration keeps the licence and guest accounting of the
// admission table, the physical-phone trigger of the home's resilience
// (DESIGN §1.4) and the registrations `rally phones` lists. A home
// registration over the licence count is refused.
func (h *hostBackend) ReportRegistration(r sdk.Registration) (bool, string) {
	s := h.site()
	now := time.Now()
	if r.PhoneID == "" {
		return false, "no phone id"
	}
	phone, known := s.table.Phone(r.PhoneID)
	prev, was := s.table.Registration(r.PhoneID)
	var outcome admission.Outcome
	switch r.Outcome {
	case sdk.RegGone:
		s.unregister(now, r.PhoneID)
		return true, ""
	case sdk.RegHome:
		if !known || phone.Home != s.cfg.Site {
			return false, fmt.Sprintf("phone %s is not homed at %s", r.PhoneID, s.cfg.Site)
		}
		outcome = admission.Home
	case sdk.RegGuest:
		if !known || phone.Home == s.cfg.Site || !s.cfg.BacksUpSite(phone.Home) {
			return false, fmt.Sprintf("phone %s is not a phone of a site %s backs up", r.PhoneID, s.cfg.Site)
		}
		outcome = admission.Guest
	default:
		return false, fmt.Sprintf("bad outcome %v", r.Outcome)
	}
	if err := s.table.Registered(r.PhoneID, outcome); err != nil {
		s.log.Debug("registration refused", "phone", r.PhoneID, "error", err)
		return false, err.Error()
	}
	s.mu.Lock()
	old := s.regs[r.PhoneID]
	reg := &registration{reg: r, outcome: outcome, phone: phone}
	if old != nil {
		reg.busy = old.busy
	}
	s.regs[r.PhoneID] = reg
	s.mu.Unlock()
	if was && prev == admission.Guest && outcome == admission.Home && old != nil {
		if m := s.machine(old.phone.Home); m != nil {
			s.publish(m.GuestUnregistered(now, r.PhoneID))
		}
	}
	if outcome == admission.Guest {
		if m := s.machine(phone.Home); m != nil {
			s.publish(m.GuestRegistered(now, r.PhoneID, phone.Physical()))
		}
	}
	if !was || prev != outcome {
		s.hotDeskRegistered(now, phone, outcome)
		s.plugins.Events(sdk.Event{Time: now, Kind: sdk.EventRegistration, PhoneID: r.PhoneID,
			Peer: phone.Home, To: outcome.String()})
	}
	return true, ""
}

// unregister ends a registration: the licence or guest slot is freed and a
// guest leaves its home's machine.
func (s *Site) unregister(now time.Time, phoneID string) {
	prev, was := s.table.Registration(phoneID)
	s.table.Unregistered(phoneID)
	s.mu.Lock()
	old := s.regs[phoneID]
	delete(s.regs, phoneID)
	s.mu.Unlock()
	if !was {
		return
	}
	home := ""
	if old != nil {
		home = old.phone.Home
	}
	if prev == admission.Guest && home != "" {
		if m := s.machine(home); m != nil {
			s.publish(m.GuestUnregistered(now, phoneID))
		}
	}
	s.plugins.Events(sdk.Event{Time: now, Kind: sdk.EventRegistration, PhoneID: phoneID, Peer: home, To: sdk.RegGone.String()})
}

// expireRegistrations ends registrations that lapsed without a refresh or
// a report that they ended (a plugin that crashed cannot report them). The
// tick loop calls it; it looks once a second.
func (s *Site) expireRegistrations(now time.Time) {
	const grace = 10 * time.Second
	if now.Sub(s.sweptAt) < time.Second {
		return
	}
	s.sweptAt = now
	s.mu.Lock()
	var lapsed []string
	for id, r := range s.regs {
		if !r.reg.Expires.IsZero() && now.After(r.reg.Expires.Add(grace)) {
			lapsed = append(lapsed, id)
		}
	}
	s.mu.Unlock()
	for _, id := range lapsed {
		s.log.Debug("registration lapsed", "phone", id)
		s.unregister(now, id)
	}
}

// Registrations lists the live registrations of protocol's phones, so that
// a restarted plugin restores its bindings.
func (h *hostBackend) Registrations(protocol string) []sdk.Registration {
	s := h.site()
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sdk.Registration
	for _, r := range s.regs {
		if enumName(r.phone.Protocol.String(), "PROTOCOL_") != protocol || (!r.reg.Expires.IsZero() && r.reg.Expires.Before(now)) {
			continue
		}
		out = append(out, r.reg)
	}
	return out
}

// ReportCallState records whether a phone is in a call.
func (h *hostBackend) ReportCallState(phoneID string, busy bool) {
	s := h.site()
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.regs[phoneID]; r != nil {
		r.busy = busy
	}
}

// registrations lists the phones registered here, sorted by phone id.
func (s *Site) registrations() []*adminv1.Registration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*adminv1.Registration, 0, len(s.regs))
	for _, id := range slices.Sorted(maps.Keys(s.regs)) {
		r := s.regs[id]
		g := &adminv1.Registration{
			Phone:     id,
			User:      r.phone.User,
			Home:      r.phone.Home,
			HereAs:    r.outcome.String(),
			Protocol:  enumName(r.phone.Protocol.String(), "PROTOCOL_"),
			Contact:   r.reg.Contact,
			Kind:      enumName(r.phone.Kind.String(), "PHONE_KIND_"),
			Aor:       r.reg.AOR,
			Transport: r.reg.Transport,
			UserAgent: r.reg.UserAgent,
			Busy:      r.busy,
		}
		if !r.reg.Expires.IsZero() {
			g.Expires = timestamppb.New(r.reg.Expires)
		}
		s.hotDeskState(g, r.outcome)
		out = append(out, g)
	}
	return out
}

// enumName turns PROTOCOL_SIP into "sip" ("" for UNSPECIFIED).
func enumName(s, prefix string) string {
	s = strings.ToLower(strings.TrimPrefix(s, prefix))
	if s == "unspecified" {
		return ""
	}
	return s
}

// forwardEvents hands the site's events to the plugins until ch closes:
// the kinds of the plugin API (peer_state, resilience, failback, link).
func (s *Site) forwardEvents(ch <-chan events.Event) {
	for e := range ch {
		k := sdk.EventKind(e.Kind)
		if !k.Valid() || k == sdk.EventRegistration {
			continue
		}
		s.plugins.Events(sdk.Event{Time: e.Time, Kind: k, Peer: e.Peer, From: e.From, To: e.To, Message: e.Message})
	}
}

// ---- admin API -----------------------------------------------------------

func (a *adminService) ListPlugins(context.Context, *adminv1.ListPluginsRequest) (*adminv1.ListPluginsResponse, error) {
	return &adminv1.ListPluginsResponse{Plugins: a.site().plugins.Status()}, nil
}

func (a *adminService) InstallPlugin(ctx context.Context, req *adminv1.InstallPluginRequest) (*adminv1.InstallPluginResponse, error) {
	path := req.GetPath()
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("%w: install: path %q must be absolute (a file on the daemon's host)", admin.ErrInvalid, path)
	}
	st, err := a.site().plugins.Install(ctx, path, req.GetName())
	if err != nil {
		return nil, mapPluginErr(err)
	}
	return &adminv1.InstallPluginResponse{Plugin: st}, nil
}

func (a *adminService) RemovePlugin(_ context.Context, req *adminv1.RemovePluginRequest) (*adminv1.RemovePluginResponse, error) {
	if err := a.site().plugins.Remove(req.GetName()); err != nil {
		return nil, mapPluginErr(err)
	}
	return &adminv1.RemovePluginResponse{}, nil
}

func mapPluginErr(err error) error {
	switch {
	case errors.Is(err, pluginhost.ErrNotFound):
		return fmt.Errorf("%w: %w", admin.ErrNotFound, err)
	case errors.Is(err, pluginhost.ErrInvalid), errors.Is(err, pluginhost.ErrStart):
		return fmt.Errorf("%w: %w", admin.ErrInvalid, err)
	case errors.Is(err, pluginhost.ErrExists), errors.Is(err, pluginhost.ErrBuiltin):
		return fmt.Errorf("%w: %w", admin.ErrConflict, err)
	default:
		return err
	}
}
