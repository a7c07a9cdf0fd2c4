package site

// Hot desking (DESIGN §1.9).
//
// A hot-desk login is a directory write: the user's settings.hotdesk_phone
// names the desk phone the user is logged in on. It replicates to the
// backup with the rest of the user record. The admission view the plugins
// see carries the hot-desked user (PhoneEntry.HotDeskUser) only for phones
// homed at this site: a guest phone at a backup serves its base extension,
// and that is the logout at failover. The login itself stands at the home,
// so when the phone registers home again it serves the hot-desked user
// again: the automatic log-back-in.
//
// Rules of the admin API (HotDeskLogin, HotDeskLogout):
//   - the phone and the user are this site's, the phone is a desk phone
//     (not a softphone) and is not the user's own base phone;
//   - the user's login code is checked against hotdesk_code_hash; a user
//     without a code cannot log in by code. force (an operator override)
//     needs no code;
//   - one user per phone: a phone with another user logged in is refused
//     unless force, which logs that user out; one phone per user: a login
//     moves the user from the phone they were on.

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/rallyvoip/rally/core/admin"
	"github.com/rallyvoip/rally/core/backupstore"
	"github.com/rallyvoip/rally/core/directory"
	"github.com/rallyvoip/rally/core/events"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// Hot-desk event names: the event kind and its "to" values.
const (
	eventHotDesk  = "hotdesk"
	hotDeskLogin  = "login"
	hotDeskLogout = "logout"
)

// hotDesk indexes hot-desk logins: this site's (from its directory) and
// those of the homes this site backs up (from the held backup records).
type hotDesk struct {
	mu      sync.Mutex
	users   map[string]string            // own user extension → phone it is hot-desked on
	phones  map[string]string            // the reverse of users: phone → user (see userOn)
	held    map[string]map[string]string // home → phone → user hot-desked on it there
	rev     uint64                       // own directory revision users reflects
	syncMu  sync.Mutex                   // one sync of the own index at a time
	writeMu sync.Mutex                   // one login/logout at a time

	changes *prometheus.CounterVec // event: login | logout | failover_logout | relogin | refused
	logins  prometheus.Gauge
}

func newHotDesk(reg prometheus.Registerer) *hotDesk {
	h := &hotDesk{
		users:  make(map[string]string),
		phones: make(map[string]string),
		held:   make(map[string]map[string]string),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rally_hotdesk_events_total",
			Help: "Hot-desk events: login, logout (by command), failover_logout (a guest phone serves its base extension), relogin (registered home again), refused (login refused).",
		}, []string{"event"}),
		logins: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rally_hotdesk_logins", Help: "Users of this site hot-desked on a phone.",
		}),
	}
	reg.MustRegister(h.changes, h.logins)
	return h
}

// userOn is the own user hot-desked on phone ("" for none). Were two users
// to name the same phone (records edited by hand), the lowest extension
// wins, so every caller agrees.
func (h *hotDesk) userOn(phone string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.userOnLocked(phone)
}

func (h *hotDesk) userOnLocked(phone string) string { return h.phones[phone] }

// reindexLocked rebuilds phones from users (on a change of a login: rare).
func (h *hotDesk) reindexLocked() {
	h.phones = make(map[string]string, len(h.users))
	for ext, p := range h.users {
		if old, ok := h.phones[p]; !ok || ext < old {
			h.phones[p] = ext
		}
	}
}

// phoneOf is the phone an own user is hot-desked on ("" for none).
func (h *hotDesk) phoneOf(ext string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.users[ext]
}

// heldUserOn is the user hot-desked on phone at home, from the held
// backup records ("" for none).
func (h *hotDesk) heldUserOn(home, phone string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held[home][phone]
}

// ownPhoneEntry is the admission entry of a phone record, with the
// hot-desked user for a phone homed here.
func (s *Site) ownPhoneEntry(r *federationv1.Record) admission.PhoneEntry {
	e := phoneEntry(r)
	if e.Home == s.cfg.Site {
		e.HotDeskUser = s.hd.userOn(e.ID)
	}
	return e
}

// loadHotDesk builds the own index from the directory.
func (s *Site) loadHotDesk() error {
	s.hd.syncMu.Lock()
	defer s.hd.syncMu.Unlock()
	return s.loadHotDeskLocked()
}

// loadHotDeskLocked is loadHotDesk with s.hd.syncMu held.
func (s *Site) loadHotDeskLocked() error {
	rev := s.dir.Revision()
	users, err := s.dir.List(directory.KindUser)
	if err != nil {
		return err
	}
	idx := make(map[string]string)
	for _, r := range users {
		if p := r.GetUser().GetSettings().GetHotdeskPhone(); p != "" {
			idx[r.GetUser().GetExtension()] = p
		}
	}
	s.hd.mu.Lock()
	s.hd.users, s.hd.rev = idx, rev
	s.hd.reindexLocked()
	s.hd.mu.Unlock()
	s.hd.logins.Set(float64(len(idx)))
	return nil
}

// syncHotDesk brings the own index up to the directory's revision and
// publishes the phones whose hot-desked user changed to the plugins.
// Directory change notifications call it, and so do the admin calls that
// write logins (so their answer and `rally phones` agree at once).
func (s *Site) syncHotDesk() {
	s.hd.syncMu.Lock()
	defer s.hd.syncMu.Unlock()
	s.hd.mu.Lock()
	since := s.hd.rev
	s.hd.mu.Unlock()
	if since == s.dir.Revision() {
		return
	}
	recs, last, err := s.dir.Changes(since, 0)
	if errors.Is(err, directory.ErrNeedSnapshot) {
		// Compacted past us: rebuild and republish every own phone.
		if err = s.loadHotDeskLocked(); err == nil {
			s.republishOwnPhones(nil)
			return
		}
	}
	if err != nil {
		s.log.Warn("hot desk: reading directory changes", "error", err)
		return
	}
	touched := make(map[string]bool)
	s.hd.mu.Lock()
	before := make(map[string]string)
	for _, r := range recs {
		kind, ext, err := directory.SplitKey(r.GetKey())
		if err != nil || kind != directory.KindUser {
			continue
		}
		old := s.hd.users[ext]
		now := ""
		if !r.GetDeleted() {
			now = r.GetUser().GetSettings().GetHotdeskPhone()
		}
		if old == now {
			continue
		}
		for _, p := range []string{old, now} {
			if p != "" && !touched[p] {
				touched[p] = true
				before[p] = s.hd.userOnLocked(p)
			}
		}
		if now == "" {
			delete(s.hd.users, ext)
		} else {
			s.hd.users[ext] = now
		}
	}
	s.hd.rev = last
	if len(touched) > 0 {
		s.hd.reindexLocked()
	}
	n := len(s.hd.users)
	var changed []string
	for p := range touched {
		if s.hd.userOnLocked(p) != before[p] {
			changed = append(changed, p)
		}
	}
	s.hd.mu.Unlock()
	s.hd.logins.Set(float64(n))
	if len(changed) > 0 {
		s.republishOwnPhones(changed)
	}
}

// republishOwnPhones puts the given own phones (nil: all) into the
// admission table and the plugins' view with their current hot-desk user.
func (s *Site) republishOwnPhones(ids []string) {
	if ids == nil {
		phones, err := s.dir.List(directory.KindPhone)
		if err != nil {
			s.log.Warn("hot desk: listing phones", "error", err)
			return
		}
		for _, r := range phones {
			s.putPhone(s.ownPhoneEntry(r))
		}
		return
	}
	slices.Sort(ids)
	for _, id := range ids {
		e, ok := s.table.Phone(id)
		if !ok || e.Home != s.cfg.Site {
			continue
		}
		e.HotDeskUser = s.hd.userOn(id)
		s.putPhone(e)
	}
}

// watchHotDesk follows the directory's change notifications until ctx
// ends, so a login written by any path (the admin API, PutRecord of a user
// record) reaches the plugins' view.
func (s *Site) watchHotDesk(ctx context.Context) {
	ch, cancel := s.dir.Subscribe()
	defer cancel()
	s.syncHotDesk()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-ch:
			if !ok {
				return
			}
			s.syncHotDesk()
		}
	}
}

// ---- held records (this site as a backup) --------------------------------

// hotDeskBackupChanged keeps the index of the held homes' hot-desk logins
// in step with the backup store's increments (resetHome reloads a home
// whose copy was replaced).
func (s *Site) hotDeskBackupChanged(c backupstore.Change) {
	if c.Kind == backupstore.ChangeReset {
		return
	}
	kind, ext, err := directory.SplitKey(c.Key)
	if err != nil || kind != directory.KindUser {
		return
	}
	phone := ""
	if c.Kind == backupstore.ChangePut {
		phone = c.Record.GetUser().GetSettings().GetHotdeskPhone()
	}
	s.hd.mu.Lock()
	defer s.hd.mu.Unlock()
	m := s.hd.held[c.Home]
	for p, u := range m {
		if u == ext {
			delete(m, p)
		}
	}
	if phone == "" {
		return
	}
	if m == nil {
		m = make(map[string]string)
		s.hd.held[c.Home] = m
	}
	if u, ok := m[phone]; !ok || ext < u {
		m[phone] = ext
	}
}

// reloadHeldHotDesk rebuilds the index of home's hot-desk logins.
func (s *Site) reloadHeldHotDesk(home string) {
	m := make(map[string]string)
	s.backups.Each(home, func(r *federationv1.Record) bool {
		if u := r.GetUser(); u != nil {
			if p := u.GetSettings().GetHotdeskPhone(); p != "" {
				if old, ok := m[p]; !ok || u.GetExtension() < old {
					m[p] = u.GetExtension()
				}
			}
		}
		return true
	})
	s.hd.mu.Lock()
	defer s.hd.mu.Unlock()
	if len(m) == 0 {
		delete(s.hd.held, home)
		return
	}
	s.hd.held[home] = m
}

// ---- registrations ------------------------------------------------------

// hotDeskRegistered reports what a new registration (not a refresh) means
// for hot desking: a guest phone whose home says a user is hot-desked on
// it serves its base extension (the user is logged out of it while it is a
// guest); a home phone with a standing login serves the hot-desked user
// again.
func (s *Site) hotDeskRegistered(now time.Time, phone admission.PhoneEntry, outcome admission.Outcome) {
	switch outcome {
	case admission.Guest:
		u := s.hd.heldUserOn(phone.Home, phone.ID)
		if u == "" {
			return
		}
		s.hd.changes.WithLabelValues("failover_logout").Inc()
		s.hotDeskEvent(now, phone.Home, hotDeskLogout, fmt.Sprintf(
			"hot-desked user %s logged out of guest phone %s (serves its base extension %s)", u, phone.ID, phone.User))
	case admission.Home:
		if phone.HotDeskUser == "" {
			return
		}
		s.hd.changes.WithLabelValues("relogin").Inc()
		s.hotDeskEvent(now, "", hotDeskLogin, fmt.Sprintf(
			"hot-desked user %s logged back in on phone %s (registered home)", phone.HotDeskUser, phone.ID))
	}
}

// hotDeskEvent publishes a hot-desk event: from → to is logout → login or
// login → logout; peer is the phone's home when that is not this site.
func (s *Site) hotDeskEvent(now time.Time, peer, to, msg string) {
	from := hotDeskLogout
	if to == hotDeskLogout {
		from = hotDeskLogin
	}
	s.log.Info("hot desk", "event", to, "peer", peer, "message", msg)
	s.bus.Publish(events.Event{Time: now, Kind: eventHotDesk, Peer: peer, From: from, To: to, Message: msg})
}

// hotDeskState fills a listed registration's hot-desk fields.
func (s *Site) hotDeskState(g *adminv1.Registration, outcome admission.Outcome) {
	e, ok := s.table.Phone(g.GetPhone())
	switch {
	case ok && outcome == admission.Home:
		g.HotdeskUser = e.HotDeskUser
		g.ServedUser = e.ServedUser()
	case ok:
		g.ServedUser = e.User
		g.HotdeskSuspendedUser = s.hd.heldUserOn(e.Home, e.ID)
	default:
		g.ServedUser = g.GetUser()
	}
}

// ---- admin API -------------------------------------------------------------

func (a *adminService) HotDeskLogin(ctx context.Context, req *adminv1.HotDeskLoginRequest) (*adminv1.HotDeskLoginResponse, error) {
	resp, err := a.site().hotDeskLogin(ctx, req)
	if err != nil {
		a.site().hd.changes.WithLabelValues("refused").Inc()
		a.site().log.Info("hot-desk login refused", "phone", req.GetPhoneId(), "user", req.GetExtension(), "error", err)
	}
	return resp, err
}

func (s *Site) hotDeskLogin(ctx context.Context, req *adminv1.HotDeskLoginRequest) (*adminv1.HotDeskLoginResponse, error) {
	phoneID, ext := req.GetPhoneId(), req.GetExtension()
	if phoneID == "" || ext == "" {
		return nil, fmt.Errorf("%w: hot-desk login: phone_id and extension are required", admin.ErrInvalid)
	}
	phone, err := s.ownPhone(phoneID)
	if err != nil {
		return nil, err
	}
	if phone.GetKind() != federationv1.PhoneKind_PHONE_KIND_DESK {
		return nil, fmt.Errorf("%w: phone %s is a %s: only desk phones take hot-desk logins", admin.ErrInvalid,
			phoneID, enumName(phone.GetKind().String(), "PHONE_KIND_"))
	}
	if phone.GetUser() == ext {
		return nil, fmt.Errorf("%w: phone %s is the own phone of user %s: nothing to log in", admin.ErrInvalid, phoneID, ext)
	}
	s.hd.writeMu.Lock()
	defer s.hd.writeMu.Unlock()
	s.syncHotDesk()
	user, err := s.ownUser(ext)
	if err != nil {
		return nil, err
	}
	if !req.GetForce() {
		hash := user.GetUser().GetHotdeskCodeHash()
		switch {
		case hash == "":
			return nil, fmt.Errorf("%w: user %s has no hot-desk code (an operator may log them in with force)", admin.ErrDenied, ext)
		case req.GetCode() == "":
			return nil, fmt.Errorf("%w: hot-desk login: the user's code is required (or force, by an operator)", admin.ErrInvalid)
		case subtle.ConstantTimeCompare([]byte(directory.HashSecret(req.GetCode())), []byte(hash)) != 1:
			return nil, fmt.Errorf("%w: wrong hot-desk code for user %s", admin.ErrDenied, ext)
		}
	}
	resp := &adminv1.HotDeskLoginResponse{PhoneId: phoneID, Extension: ext, MovedFrom: s.hd.phoneOf(ext)}
	if resp.MovedFrom == phoneID {
		resp.MovedFrom = ""
		return resp, nil // already logged in there
	}
	var writes []*federationv1.Record
	if occupant := s.hd.userOn(phoneID); occupant != "" {
		if !req.GetForce() {
			return nil, fmt.Errorf("%w: user %s is hot-desked on phone %s: log them out first (or force, by an operator)",
				admin.ErrConflict, occupant, phoneID)
		}
		o, err := s.ownUser(occupant)
		if err != nil {
			return nil, err
		}
		writes = append(writes, withHotDeskPhone(o, ""))
		resp.DisplacedUser = occupant
	}
	writes = append(writes, withHotDeskPhone(user, phoneID))
	if _, err := s.dir.PutMany(ctx, writes); err != nil {
		return nil, mapDirErr(err)
	}
	s.syncHotDesk()
	now := time.Now()
	if resp.DisplacedUser != "" {
		s.hd.changes.WithLabelValues("logout").Inc()
		s.hotDeskEvent(now, "", hotDeskLogout, fmt.Sprintf("hot-desked user %s logged out of phone %s (forced off by a login of %s)",
			resp.DisplacedUser, phoneID, ext))
	}
	msg := fmt.Sprintf("user %s hot-desked on phone %s (base extension %s)", ext, phoneID, phone.GetUser())
	if resp.MovedFrom != "" {
		msg += ", moved from phone " + resp.MovedFrom
	}
	s.hd.changes.WithLabelValues("login").Inc()
	s.hotDeskEvent(now, "", hotDeskLogin, msg)
	return resp, nil
}

func (a *adminService) HotDeskLogout(ctx context.Context, req *adminv1.HotDeskLogoutRequest) (*adminv1.HotDeskLogoutResponse, error) {
	s := a.site()
	phoneID, ext := req.GetPhoneId(), req.GetExtension()
	if (phoneID == "") == (ext == "") {
		return nil, fmt.Errorf("%w: hot-desk logout: give exactly one of phone_id and extension", admin.ErrInvalid)
	}
	s.hd.writeMu.Lock()
	defer s.hd.writeMu.Unlock()
	s.syncHotDesk()
	if phoneID != "" {
		if _, err := s.ownPhone(phoneID); err != nil {
			return nil, err
		}
		if ext = s.hd.userOn(phoneID); ext == "" {
			return nil, fmt.Errorf("%w: no user is hot-desked on phone %s", admin.ErrNotFound, phoneID)
		}
	} else if phoneID = s.hd.phoneOf(ext); phoneID == "" {
		if _, err := s.ownUser(ext); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: user %s is not hot-desked on any phone", admin.ErrNotFound, ext)
	}
	user, err := s.ownUser(ext)
	if err != nil {
		return nil, err
	}
	if _, err := s.dir.Put(ctx, withHotDeskPhone(user, "")); err != nil {
		return nil, mapDirErr(err)
	}
	s.syncHotDesk()
	s.hd.changes.WithLabelValues("logout").Inc()
	s.hotDeskEvent(time.Now(), "", hotDeskLogout, fmt.Sprintf("hot-desked user %s logged out of phone %s", ext, phoneID))
	return &adminv1.HotDeskLogoutResponse{PhoneId: phoneID, Extension: ext}, nil
}

// ownPhone is phone id of this site's directory; a phone of another site
// is named as such.
func (s *Site) ownPhone(id string) (*federationv1.Phone, error) {
	r, err := s.dir.Get(directory.KindPhone + "/" + id)
	if err == nil {
		return r.GetPhone(), nil
	}
	if !errors.Is(err, directory.ErrNotFound) {
		return nil, err
	}
	if e, ok := s.table.Phone(id); ok && e.Home != s.cfg.Site {
		return nil, fmt.Errorf("%w: phone %s is homed at %s, not %s: hot-desk logins are made at the phone's home",
			admin.ErrConflict, id, e.Home, s.cfg.Site)
	}
	return nil, fmt.Errorf("%w: no phone %s at %s", admin.ErrNotFound, id, s.cfg.Site)
}

// ownUser is the record of user ext of this site's directory.
func (s *Site) ownUser(ext string) (*federationv1.Record, error) {
	r, err := s.dir.Get(directory.KindUser + "/" + ext)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, fmt.Errorf("%w: no user %s at %s", admin.ErrNotFound, ext, s.cfg.Site)
	}
	return r, err
}

// withHotDeskPhone is a copy of user record r with its hot-desk phone set.
func withHotDeskPhone(r *federationv1.Record, phone string) *federationv1.Record {
	c := proto.CloneOf(r)
	u := c.GetUser()
	if u.Settings == nil {
		u.Settings = &federationv1.UserSettings{}
	}
	u.Settings.HotdeskPhone = phone
	return c
}
