package site

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rallyvoip/rally/core/admin"
	"github.com/rallyvoip/rally/core/directory"
	"github.com/rallyvoip/rally/core/events"
	"github.com/rallyvoip/rally/core/federation"
	"github.com/rallyvoip/rally/core/resilience"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// adminService implements the admin API on the site.
type adminService struct {
	adminv1.UnimplementedAdminServiceServer
	s *Site
}

var _ adminv1.AdminServiceServer = (*adminService)(nil)

func (a *adminService) site() *Site { return a.s }

func (a *adminService) GetStatus(context.Context, *adminv1.GetStatusRequest) (*adminv1.GetStatusResponse, error) {
	return a.site().Status(), nil
}

// Status is what `rally status` shows.
func (s *Site) Status() *adminv1.GetStatusResponse {
	licensed, guests := s.table.Counts()
	resp := &adminv1.GetStatusResponse{Site: &adminv1.SiteStatus{
		Site:           s.cfg.Site,
		SipDomain:      s.cfg.SIPDomain,
		Revision:       s.dir.Revision(),
		Licenses:       uint32(s.cfg.Licenses),
		Licensed:       uint32(licensed),
		Guests:         uint32(guests),
		BackupMode:     s.backups.Mode(),
		Started:        timestamppb.New(s.started),
		FederationAddr: s.advertisedAddr(),
		BackupSite:     s.cfg.BackedUpBy(),
		Plugins:        s.plugins.Status(),
	}}
	trackers := s.fed.Trackers()
	s.mu.Lock()
	names := make([]string, 0, len(s.machines))
	for n := range s.machines {
		names = append(names, n)
	}
	s.mu.Unlock()
	sort.Strings(names)
	now := time.Now()
	for _, name := range names {
		m := s.machine(name)
		if m == nil {
			continue
		}
		st := m.Status()
		tr := trackers[name]
		held, _ := s.backups.Held(name)
		p := &adminv1.PeerStatus{
			Site:          name,
			Addr:          tr.Addr,
			State:         st.State,
			StateSince:    timestamppb.New(st.Since),
			Relation:      s.relation(name, tr),
			HeldRevision:  held,
			PeerRevision:  tr.PeerRevision,
			AckedRevision: tr.Acked,
			HeldRecords:   uint32(s.backups.Count(name)),
			Guests:        uint32(st.Guests),
			Message:       st.Message,
			Plugins:       map[string]string{},
		}
		if p.Message == "" {
			p.Message = tr.LastError
		}
		if !tr.LastHeard.IsZero() {
			p.LastHeard = timestamppb.New(tr.LastHeard)
			p.HeartbeatAgeMs = now.Sub(tr.LastHeard).Milliseconds()
		} else {
			p.HeartbeatAgeMs = -1
		}
		if s.cfg.BacksUpSite(name) {
			p.Resilience = st.Resilience
			p.FailbackMode = m.Config().Failback
			if st.Resilience == resilience.Lost {
				p.Warnings = append(p.Warnings, fmt.Sprintf(
					"resilience for %s is lost: this site restarted in memory mode and holds none of its records until it resyncs", name))
			}
		}
		for k, v := range tr.Plugins {
			p.Plugins[k] = strings.ToLower(strings.TrimPrefix(v.String(), "PLUGIN_HEALTH_"))
		}
		p.Warnings = append(p.Warnings, tr.Relation.Disagreements...)
		s.mu.Lock()
		if info := s.peerInfo[name]; info != nil && len(info.clashes) > 0 {
			p.Warnings = append(p.Warnings, "extension clash: "+strings.Join(info.clashes, ", ")+" exist at both sites")
		}
		s.mu.Unlock()
		resp.Peers = append(resp.Peers, p)
	}
	return resp
}

// relation names how this site and peer back each other up: as agreed in
// the last hellos, or as configured before any.
func (s *Site) relation(peer string, tr federation.TrackerSnapshot) string {
	we, they := s.cfg.BacksUpSite(peer), s.cfg.BackedUpBy() == peer
	if tr.Remote != nil {
		we, they = tr.Relation.WeBackUp, tr.Relation.TheyBackUp
	}
	switch {
	case we && they:
		return "both"
	case we:
		return "backs_up_peer"
	case they:
		return "backed_up_by_peer"
	default:
		return "index"
	}
}

func (a *adminService) ListPhones(context.Context, *adminv1.ListPhonesRequest) (*adminv1.ListPhonesResponse, error) {
	// The protocol plugins hold the registrations and report them.
	return &adminv1.ListPhonesResponse{Registrations: a.site().registrations()}, nil
}

func (a *adminService) Link(ctx context.Context, req *adminv1.LinkRequest) (*adminv1.LinkResponse, error) {
	s := a.site()
	addr := req.GetAddr()
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("%w: link %q: want host:port: %w", admin.ErrInvalid, addr, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	peer, err := s.fed.Probe(pctx, addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", admin.ErrUnavailable, err)
	}
	s.mu.Lock()
	delete(s.unlinked, peer)
	if !s.isConfiguredPeer(peer) {
		s.dynamic[peer] = addr
	}
	s.savePeersLocked()
	s.mu.Unlock()
	s.addPeer(peer, addr)
	s.bus.Publish(events.Event{Time: time.Now(), Kind: "link", Peer: peer, To: "linked", Message: "linked by operator to " + addr})
	return &adminv1.LinkResponse{Site: peer}, nil
}

func (a *adminService) Unlink(_ context.Context, req *adminv1.UnlinkRequest) (*adminv1.UnlinkResponse, error) {
	s := a.site()
	peer := req.GetSite()
	if !s.fed.RemovePeer(peer) {
		return nil, fmt.Errorf("%w: no linked peer %q", admin.ErrNotFound, peer)
	}
	s.mu.Lock()
	delete(s.machines, peer)
	delete(s.peerInfo, peer)
	delete(s.dynamic, peer)
	s.unlinked[peer] = true
	s.savePeersLocked()
	s.mu.Unlock()
	if err := s.backups.Forget(peer); err != nil {
		s.log.Warn("forgetting unlinked peer's records", "peer", peer, "error", err)
	}
	s.removePeer(peer)
	_ = s.resetHomePhones(peer, nil)
	s.metrics.ForgetPeer(peer)
	s.bus.Publish(events.Event{Time: time.Now(), Kind: "link", Peer: peer, To: "unlinked", Message: "unlinked by operator"})
	return &adminv1.UnlinkResponse{}, nil
}

func (a *adminService) Failback(_ context.Context, req *adminv1.FailbackRequest) (*adminv1.FailbackResponse, error) {
	s := a.site()
	m := s.machine(req.GetSite())
	if m == nil {
		return nil, fmt.Errorf("%w: no linked peer %q", admin.ErrNotFound, req.GetSite())
	}
	evs, err := m.Failback(time.Now())
	if err != nil {
		return nil, fmt.Errorf("%w: failback %s: %w (state %s)", admin.ErrConflict, req.GetSite(), err, m.State())
	}
	s.publish(evs)
	s.updatePeerView(req.GetSite())
	return &adminv1.FailbackResponse{State: m.State()}, nil
}

func (a *adminService) ExplainAdmission(_ context.Context, req *adminv1.ExplainAdmissionRequest) (*adminv1.ExplainAdmissionResponse, error) {
	s := a.site()
	if req.GetPhoneId() == "" {
		return nil, fmt.Errorf("%w: phone_id is required", admin.ErrInvalid)
	}
	d := s.table.Decide(req.GetPhoneId(), req.GetProtocol(), false)
	s.metrics.Admissions.WithLabelValues(d.Outcome.String(), d.Reason.String()).Inc()
	return &adminv1.ExplainAdmissionResponse{
		Outcome: d.Outcome.String(), Reason: d.Reason.String(), HomeSite: d.Home,
	}, nil
}

func (a *adminService) PutRecord(ctx context.Context, req *adminv1.PutRecordRequest) (*adminv1.PutRecordResponse, error) {
	s := a.site()
	rec := proto.Clone(req.GetRecord()).(*federationv1.Record)
	if rec == nil || rec.GetBody() == nil {
		return nil, fmt.Errorf("%w: record with a body is required", admin.ErrInvalid)
	}
	if pw := req.GetPassword(); pw != "" {
		ph := rec.GetPhone()
		if ph == nil {
			return nil, fmt.Errorf("%w: password applies to phone records only", admin.ErrInvalid)
		}
		ph.Ha1Md5 = directory.HA1MD5(ph.GetId(), s.cfg.SIPDomain, pw)
		ph.Ha1Sha256 = directory.HA1SHA256(ph.GetId(), s.cfg.SIPDomain, pw)
	}
	if pin := req.GetPin(); pin != "" {
		mb := rec.GetMailbox()
		if mb == nil {
			return nil, fmt.Errorf("%w: pin applies to mailbox records only", admin.ErrInvalid)
		}
		mb.PinHash = directory.HashSecret(pin)
	}
	if rec.GetUser() != nil {
		// Not across a hot-desk login or logout (a user record write).
		s.hd.writeMu.Lock()
		defer s.hd.writeMu.Unlock()
	}
	if err := s.checkRevision(rec); err != nil {
		return nil, err
	}
	out, err := s.dir.Put(ctx, rec)
	if err != nil {
		return nil, mapDirErr(err)
	}
	if out.GetPhone() != nil {
		s.putPhone(s.ownPhoneEntry(out))
	}
	if out.GetUser() != nil {
		s.syncHotDesk()
	}
	return &adminv1.PutRecordResponse{Record: out}, nil
}

func (a *adminService) DeleteRecord(ctx context.Context, req *adminv1.DeleteRecordRequest) (*adminv1.DeleteRecordResponse, error) {
	s := a.site()
	rev, err := s.dir.Delete(ctx, req.GetKey())
	if err != nil {
		return nil, mapDirErr(err)
	}
	if kind, id, err := directory.SplitKey(req.GetKey()); err == nil && kind == directory.KindPhone {
		s.removePhone(id)
	}
	return &adminv1.DeleteRecordResponse{Revision: rev}, nil
}

func (a *adminService) GetRecord(_ context.Context, req *adminv1.GetRecordRequest) (*adminv1.GetRecordResponse, error) {
	rec, err := a.site().dir.Get(req.GetKey())
	if err != nil {
		return nil, mapDirErr(err)
	}
	return &adminv1.GetRecordResponse{Record: rec}, nil
}

func (a *adminService) ListRecords(_ context.Context, req *adminv1.ListRecordsRequest) (*adminv1.ListRecordsResponse, error) {
	recs, err := a.site().dir.List(req.GetKind())
	if err != nil {
		return nil, mapDirErr(err)
	}
	return &adminv1.ListRecordsResponse{Records: recs}, nil
}

func (a *adminService) WatchEvents(_ *adminv1.WatchEventsRequest, stream adminv1.AdminService_WatchEventsServer) error {
	ch, cancel := a.site().bus.Subscribe()
	defer cancel()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case e, ok := <-ch:
			if !ok {
				return nil
			}
			if err := stream.Send(&adminv1.WatchEventsResponse{Event: &adminv1.Event{
				Time: timestamppb.New(e.Time), Kind: e.Kind, Peer: e.Peer,
				From: e.From, To: e.To, Message: e.Message,
			}}); err != nil {
				return err
			}
		}
	}
}

func (a *adminService) Check(ctx context.Context, _ *adminv1.CheckRequest) (*adminv1.CheckResponse, error) {
	return &adminv1.CheckResponse{Results: a.site().check(ctx)}, nil
}

// check is the compatibility and reachability preflight (DESIGN §1.13).
func (s *Site) check(ctx context.Context) []*adminv1.CheckResult {
	var out []*adminv1.CheckResult
	add := func(peer, check string, ok bool, msg string) {
		out = append(out, &adminv1.CheckResult{Peer: peer, Check: check, Ok: ok, Message: msg})
	}
	trackers := s.fed.Trackers()
	names := make([]string, 0, len(trackers))
	for n := range trackers {
		names = append(names, n)
	}
	sort.Strings(names)
	if b := s.cfg.BackedUpBy(); b != "" && !slices.Contains(names, b) {
		add(b, "backup", false, fmt.Sprintf("backup.site is %s, but %s is not a linked peer (add it to federation.peers or run rally link)", b, b))
	}
	for _, name := range names {
		tr := trackers[name]
		switch {
		case tr.Refusal != nil:
			add(name, tr.Refusal.GetSetting(), false, tr.Refusal.GetMessage())
		case tr.Connected:
			add(name, "link", true, "linked since "+tr.Since.Format(time.RFC3339))
		default:
			msg := "not linked"
			if tr.LastError != "" {
				msg += ": " + tr.LastError
			}
			add(name, "link", false, msg)
		}
		for _, d := range tr.Relation.Disagreements {
			add(name, "backup", false, d)
		}
		if tr.Remote != nil {
			local := s.hello()
			if c := federation.ExtensionClashes(local, tr.Remote); len(c) > 0 {
				add(name, "extensions", false, "extensions at both sites: "+strings.Join(c, ", "))
			} else {
				add(name, "extensions", true, "no extension clash")
			}
		}
		if tr.Addr != "" {
			add(name, "reachable:federation "+tr.Addr, dialable(ctx, tr.Addr), "")
		}
		// Only the endpoints of a backup this site's phones fail over to
		// matter for failover.
		if tr.Remote != nil && s.cfg.BackedUpBy() == name {
			for _, ep := range tr.Remote.GetEndpoints() {
				ok, msg := endpointReachable(ctx, ep)
				add(name, "reachable:"+ep, ok, msg)
			}
		}
	}
	for _, r := range out {
		if strings.HasPrefix(r.Check, "reachable:") && r.Message == "" {
			if r.Ok {
				r.Message = "reachable"
			} else {
				r.Message = "unreachable"
			}
		}
	}
	return out
}

func dialable(ctx context.Context, addr string) bool {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// endpointReachable checks one plugin endpoint such as
// "sip:tcp://127.0.0.1:5060". UDP cannot be proven reachable without the
// protocol, so it is reported as not checked.
func endpointReachable(ctx context.Context, ep string) (bool, string) {
	_, rest, _ := strings.Cut(ep, ":")
	scheme, addr, ok := strings.Cut(rest, "://")
	if !ok {
		return false, "malformed endpoint"
	}
	switch scheme {
	case "tcp", "tls":
		if dialable(ctx, addr) {
			return true, "reachable"
		}
		return false, "unreachable"
	default:
		return true, "udp: not checked without the protocol"
	}
}

func mapDirErr(err error) error {
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return fmt.Errorf("%w: %w", admin.ErrNotFound, err)
	case errors.Is(err, directory.ErrInvalid):
		return fmt.Errorf("%w: %w", admin.ErrInvalid, err)
	default:
		return err
	}
}

// checkRevision refuses to write a record read at a revision that is not
// its latest (optimistic concurrency): a script that read a user before a
// hot-desk login and writes it back would otherwise undo the login, or a
// login a concurrent settings change. A record without a revision (0) is
// written as it is.
func (s *Site) checkRevision(rec *federationv1.Record) error {
	if rec.GetRevision() == 0 {
		return nil
	}
	key, err := directory.KeyOf(rec)
	if err != nil {
		return fmt.Errorf("%w: %w", admin.ErrInvalid, err)
	}
	cur, err := s.dir.Get(key)
	if errors.Is(err, directory.ErrNotFound) {
		return fmt.Errorf("%w: %s was read at revision %d and is gone since", admin.ErrConflict, key, rec.GetRevision())
	}
	if err != nil {
		return mapDirErr(err)
	}
	if cur.GetRevision() != rec.GetRevision() {
		return fmt.Errorf("%w: %s was read at revision %d and changed at revision %d since: read it again", admin.ErrConflict, key, rec.GetRevision(), cur.GetRevision())
	}
	return nil
}
