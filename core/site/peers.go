package site

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/rallyvoip/rally/core/backupstore"
	"github.com/rallyvoip/rally/core/directory"
	"github.com/rallyvoip/rally/core/events"
	"github.com/rallyvoip/rally/core/federation"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// observer receives federation link events for the site.
type observer Site

func (o *observer) site() *Site { return (*Site)(o) }

func (o *observer) PeerConnected(peer string, remote *federationv1.Hello, rel federation.Relation) {
	s := o.site()
	m := s.ensureMachine(peer)
	info := &peerInfo{
		failback:      remote.GetFailbackMode(),
		failbackDelay: time.Duration(remote.GetFailbackDelayMs()) * time.Millisecond,
		clashes:       federation.ExtensionClashes(s.hello(), remote),
	}
	s.mu.Lock()
	s.peerInfo[peer] = info
	s.mu.Unlock()
	if rel.WeBackUp {
		m.SetFailback(info.failback, info.failbackDelay)
	}
	s.publish(m.Connected(time.Now()))
	s.bus.Publish(events.Event{Time: time.Now(), Kind: "link", Peer: peer, To: "up"})
	for _, d := range rel.Disagreements {
		s.log.Warn("backup relation disagreement", "peer", peer, "message", d)
	}
	if len(info.clashes) > 0 {
		s.log.Warn("extension clash", "peer", peer, "extensions", info.clashes)
	}
	s.updatePeerView(peer)
}

func (o *observer) PeerDisconnected(peer string, err error) {
	s := o.site()
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if m := s.machine(peer); m != nil {
		s.publish(m.Disconnected(time.Now(), msg))
	}
	s.bus.Publish(events.Event{Time: time.Now(), Kind: "link", Peer: peer, To: "down", Message: msg})
}

func (o *observer) PeerRefused(peer string, r *federationv1.Refusal) {
	s := o.site()
	m := s.ensureMachine(peer)
	s.publish(m.Incompatible(time.Now(), r.GetMessage()))
	s.bus.Publish(events.Event{Time: time.Now(), Kind: "refusal", Peer: peer, Message: r.GetMessage()})
	s.updatePeerView(peer)
}

func (o *observer) PeerLearned(peer, addr string) {
	s := o.site()
	s.ensureMachine(peer)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isConfiguredPeer(peer) {
		return
	}
	s.dynamic[peer] = addr
	s.savePeersLocked()
}

func (o *observer) HandshakeRefused(claimed string, err error) {
	s := o.site()
	who := "a client without a site identity"
	if claimed != "" {
		who = "a client claiming site " + claimed
	}
	msg := "refused " + who + ": " + err.Error()
	s.log.Warn("federation handshake refused", "claimed_site", claimed, "error", err)
	s.bus.Publish(events.Event{Time: time.Now(), Kind: "refusal", Peer: claimed, Message: msg})
	if tr := s.fed.Tracker(claimed); tr != nil && claimed != "" {
		tr.SetError(errors.New(msg))
	}
}

func (s *Site) isConfiguredPeer(peer string) bool {
	for _, p := range s.cfg.Federation.Peers {
		if p.Site == peer {
			return true
		}
	}
	return false
}

// tickLoop drives the resilience machines from the federation trackers:
// it is where silence becomes suspect and failover.
func (s *Site) tickLoop(ctx context.Context) {
	every := max(s.cfg.Federation.Heartbeat.Duration()/5, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.tick(now)
		}
	}
}

func (s *Site) tick(now time.Time) {
	s.mu.Lock()
	names := make([]string, 0, len(s.machines))
	for n := range s.machines {
		names = append(names, n)
	}
	s.mu.Unlock()
	s.metrics.Revision.Set(float64(s.dir.Revision()))
	s.compactTombstones(now)
	for _, peer := range names {
		m := s.machine(peer)
		if m == nil {
			continue
		}
		if tr := s.fed.Tracker(peer); tr != nil {
			if lh := tr.LastHeard(); !lh.IsZero() && lh.After(m.LastHeard()) {
				s.publish(m.Heard(lh))
			}
			snap := tr.Snapshot()
			held, ok := s.backups.Held(peer)
			s.metrics.HeldRevision.WithLabelValues(peer).Set(float64(held))
			s.metrics.AckedRevision.WithLabelValues(peer).Set(float64(snap.Acked))
			if snap.PeerRevision >= held {
				s.metrics.ReplicationLag.WithLabelValues(peer).Set(float64(snap.PeerRevision - held))
			}
			s.metrics.BackupRecords.WithLabelValues(peer).Set(float64(s.backups.Count(peer)))
			if !snap.LastHeard.IsZero() {
				s.metrics.HeartbeatAge.WithLabelValues(peer).Set(now.Sub(snap.LastHeard).Seconds())
			}
			s.publish(m.SetHeld(now, ok && s.backups.Full(peer)))
		}
		s.publish(m.Tick(now))
		s.updatePeerView(peer)
	}
	s.expireRegistrations(now)
	licensed, guests := s.table.Counts()
	s.metrics.Registrations.WithLabelValues("licensed").Set(float64(licensed))
	s.metrics.Registrations.WithLabelValues("guest").Set(float64(guests))
}

// tombstoneWindow is how many revisions of deletes the directory keeps: a
// peer further behind than that gets a snapshot instead of increments.
const tombstoneWindow = 10000

// compactTombstones drops old tombstones once a minute.
func (s *Site) compactTombstones(now time.Time) {
	if now.Sub(s.compactedAt) < time.Minute {
		return
	}
	s.compactedAt = now
	rev := s.dir.Revision()
	if rev <= tombstoneWindow || s.dir.Compacted() >= rev-tombstoneWindow {
		return
	}
	if err := s.dir.Compact(rev - tombstoneWindow); err != nil {
		s.log.Warn("compacting tombstones", "error", err)
	}
}

// updatePeerView hands the admission table the peer's current state.
func (s *Site) updatePeerView(peer string) {
	m := s.machine(peer)
	if m == nil {
		return
	}
	view := admission.PeerView{
		Site:     peer,
		BackedUp: s.cfg.BacksUpSite(peer) && s.backups.Full(peer),
		State:    m.State(),
		Failback: m.Config().Failback,
		// The peer's own backup claim and endpoints come with its hello.
		BacksUpSelf: s.cfg.BackedUpBy() == peer,
	}
	if tr := s.fed.Tracker(peer); tr != nil {
		snap := tr.Snapshot()
		if snap.Remote != nil {
			view.Endpoints = slices.Clone(snap.Remote.GetEndpoints())
			view.Backup = snap.Remote.GetBackupSite()
		}
		for proto, h := range snap.Plugins {
			if h != federationv1.PluginHealth_PLUGIN_HEALTH_DOWN {
				continue
			}
			if view.ProtocolDown == nil {
				view.ProtocolDown = make(map[federationv1.Protocol]bool)
			}
			switch proto {
			case "sip":
				view.ProtocolDown[federationv1.Protocol_PROTOCOL_SIP] = true
			case "h323":
				view.ProtocolDown[federationv1.Protocol_PROTOCOL_H323] = true
			}
		}
	}
	s.setPeer(view)
}

// backupChanged keeps the admission table in step with the backup store.
func (s *Site) backupChanged(c backupstore.Change) {
	s.hotDeskBackupChanged(c)
	if c.Kind == backupstore.ChangeReset {
		s.resetHome(c.Home)
		return
	}
	kind, id, err := directory.SplitKey(c.Key)
	if err != nil || kind != directory.KindPhone {
		return
	}
	if c.Kind == backupstore.ChangeDelete {
		s.removePhone(id)
		return
	}
	s.putPhone(phoneEntry(c.Record))
}

// resetHome reloads every phone of home into the admission table.
func (s *Site) resetHome(home string) {
	s.reloadHeldHotDesk(home)
	var entries []admission.PhoneEntry
	s.backups.Each(home, func(r *federationv1.Record) bool {
		if r.GetPhone() != nil {
			entries = append(entries, phoneEntry(r))
		}
		return true
	})
	_ = s.resetHomePhones(home, entries)
	s.updatePeerView(home)
}
