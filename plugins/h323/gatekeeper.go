package h323plugin

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/ras"
	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

const protoH323 = federationv1.Protocol_PROTOCOL_H323

// handle answers one datagram from src. Malformed datagrams are dropped
// and counted; a panic is recovered and counted (never taken down).
func (in *instance) handle(b []byte, src netip.AddrPort, now time.Time) {
	in.c.received.Add(1)
	defer func() {
		if r := recover(); r != nil {
			in.c.panics.Add(1)
			in.c.malformed.Add(1)
			in.log.Warn("RAS handler recovered", "panic", r, "from", src.String())
		}
	}()
	m, err := ras.Unmarshal(b)
	if err != nil {
		in.c.malformed.Add(1)
		in.log.Debug("malformed RAS datagram dropped", "from", src.String(), "error", err)
		return
	}
	select {
	case <-in.view.Ready():
	default:
		// No view yet: every phone would look unknown. Silence makes the
		// endpoint retransmit, by when the view is there.
		in.c.ignored.Add(1)
		return
	}
	switch m := m.(type) {
	case *ras.GatekeeperRequest:
		in.onGRQ(m, src)
	case *ras.RegistrationRequest:
		in.onRRQ(m, src, now)
	case *ras.UnregistrationRequest:
		in.onURQ(m, src)
	case *ras.UnregistrationConfirm:
		in.onUCF(m.RequestSeqNum, src, true)
	case *ras.UnregistrationReject:
		in.onUCF(m.RequestSeqNum, src, false)
	case *ras.AdmissionRequest:
		in.onARQ(m, src)
	case *ras.DisengageRequest:
		in.onDRQ(m, src)
	case *ras.LocationRequest:
		in.onLRQ(m, src)
	case *ras.LocationConfirm:
		in.onLocationAnswer(m.RequestSeqNum, src, lrqAnswer{lcf: m})
	case *ras.LocationReject:
		in.onLocationAnswer(m.RequestSeqNum, src, lrqAnswer{})
	case *ras.BandwidthRequest:
		in.onBRQ(m, src)
	case *ras.InfoRequestResponse:
		if m.NeedResponse {
			in.send(&ras.InfoRequestAck{RequestSeqNum: m.RequestSeqNum}, src)
		}
	case *ras.UnknownMessage:
		// A RAS message of a later version: say it is not understood.
		in.c.unknownMessage.Add(1)
		in.send(&ras.UnknownMessageResponse{RequestSeqNum: 1, MessageNotUnderstood: append([]byte(nil), b...)}, src)
	default:
		in.c.ignored.Add(1) // confirms and rejects a gatekeeper never asked for
	}
}

// send encodes and sends m to dst.
func (in *instance) send(m ras.Message, dst netip.AddrPort) {
	b, err := ras.Marshal(m)
	if err != nil {
		in.c.writeErrors.Add(1)
		in.log.Warn("RAS message not encoded", "type", m.MessageIndex(), "error", err)
		return
	}
	if _, err := in.conn.WriteToUDPAddrPort(b, dst); err != nil {
		in.c.writeErrors.Add(1)
		in.log.Debug("RAS send failed", "to", dst.String(), "error", err)
	}
}

// resolve finds the phone an endpoint's aliases name: an alias that is
// the id of an H.323 phone of the view. conflict is true when the aliases
// name several phones.
func (in *instance) resolve(aliases []ras.AliasAddress) (entry admission.PhoneEntry, ok, conflict bool) {
	for _, a := range aliases {
		s, isText := aliasString(a)
		if !isText {
			continue
		}
		e, found := in.view.Table().Phone(s)
		if !found || e.Protocol != protoH323 {
			continue
		}
		if ok && e.ID != entry.ID {
			return entry, ok, true
		}
		entry, ok = e, true
	}
	return entry, ok, false
}

// gatekeeperOf returns the alternate gatekeeper entry of site: its H.323
// RAS endpoint from its hello.
func (in *instance) gatekeeperOf(site string, priority uint8) (ras.AlternateGK, bool) {
	v, ok := in.view.Table().Peer(site)
	if !ok {
		return ras.AlternateGK{}, false
	}
	return altGKOf(v, priority)
}

func altGKOf(v admission.PeerView, priority uint8) (ras.AlternateGK, bool) {
	_, addr, ok := v.Endpoint("h323", "udp")
	if !ok {
		return ras.AlternateGK{}, false
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return ras.AlternateGK{}, false
	}
	return ras.AlternateGK{RASAddress: ras.FromAddrPort(ap), GatekeeperIdentifier: v.Site, NeedToRegister: true, Priority: priority}, true
}

// alternates are the gatekeepers a phone admitted with d should turn to if
// this one fails: for a home phone, the site's backup; for a guest, its
// home.
func (in *instance) alternates(d admission.Decision) []ras.AlternateGK {
	if d.Outcome == admission.Guest {
		if gk, ok := in.gatekeeperOf(d.Home, 0); ok {
			return []ras.AlternateGK{gk}
		}
		return nil
	}
	var out []ras.AlternateGK
	for _, v := range in.view.Table().Peers() {
		if v.BacksUpSelf {
			if gk, ok := altGKOf(v, 1); ok {
				out = append(out, gk)
			}
		}
	}
	return out
}

// homeAltGKInfo is the altGKInfo naming the home of a phone refused with
// HomedAtLivePeer, nil when the home announced no gatekeeper.
func (in *instance) homeAltGKInfo(d admission.Decision) *ras.AltGKInfo {
	if d.Reason != admission.HomedAtLivePeer {
		return nil
	}
	gk, ok := in.gatekeeperOf(d.Home, 0)
	if !ok {
		return nil
	}
	return &ras.AltGKInfo{AlternateGatekeeper: []ras.AlternateGK{gk}, AltGKIsPermanent: true}
}

// ---- GRQ ----

func (in *instance) onGRQ(m *ras.GatekeeperRequest, src netip.AddrPort) {
	reply := replyAddr(m.RASAddress, src)
	grj := func(reason int, alt *ras.AltGKInfo) {
		in.c.grj.Add(1)
		in.send(&ras.GatekeeperReject{RequestSeqNum: m.RequestSeqNum, ProtocolIdentifier: ras.ProtocolV4,
			GatekeeperIdentifier: in.gkID, RejectReason: ras.GatekeeperRejectReason{Choice: reason}, AltGKInfo: alt}, reply)
	}
	if m.GatekeeperIdentifier != "" && m.GatekeeperIdentifier != in.gkID {
		grj(ras.GRJTerminalExcluded, nil)
		return
	}
	d := admission.Decision{Outcome: admission.Home}
	if len(m.EndpointAlias) > 0 {
		entry, ok, conflict := in.resolve(m.EndpointAlias)
		if !ok || conflict {
			grj(ras.GRJTerminalExcluded, nil)
			return
		}
		d = in.view.Table().Decide(entry.ID, protoH323, in.busy(entry.ID))
		if !d.Admitted() && d.Reason != admission.OverCapacity {
			if d.Reason == admission.HomedAtLivePeer {
				grj(ras.GRJResourceUnavailable, in.homeAltGKInfo(d))
			} else {
				grj(ras.GRJTerminalExcluded, nil)
			}
			return
		}
	}
	in.c.gcf.Add(1)
	in.send(&ras.GatekeeperConfirm{RequestSeqNum: m.RequestSeqNum, ProtocolIdentifier: ras.ProtocolV4,
		GatekeeperIdentifier: in.gkID, RASAddress: ras.FromAddrPort(in.addr), AlternateGatekeeper: in.alternates(d)}, reply)
}

// replyAddr is where to answer: the RAS address the endpoint gives when
// it is on the datagram's source IP (another port is the endpoint's
// choice), else the source itself, so that no one makes the gatekeeper
// send to a third party.
func replyAddr(a ras.TransportAddress, src netip.AddrPort) netip.AddrPort {
	if ap, ok := addrPortOf(a); ok && ap.Addr().Unmap() == src.Addr() && ap.Port() != 0 {
		return netip.AddrPortFrom(src.Addr(), ap.Port())
	}
	return src
}

func (in *instance) busy(phoneID string) bool {
	busy := false
	in.regs.withPhone(phoneID, func(r *registration) { busy = r != nil && len(r.calls) > 0 })
	return busy
}

// ---- RRQ ----

func (in *instance) onRRQ(m *ras.RegistrationRequest, src netip.AddrPort, now time.Time) {
	var rasAddr netip.AddrPort
	if ap, ok := ipOf(m.RASAddress); ok {
		rasAddr = replyAddr(ap2t(ap), src)
	} else {
		rasAddr = src
	}
	rrj := func(reason ras.RegistrationRejectReason, alt *ras.AltGKInfo) {
		in.c.rrj.Add(1)
		in.send(&ras.RegistrationReject{RequestSeqNum: m.RequestSeqNum, ProtocolIdentifier: ras.ProtocolV4,
			RejectReason: reason, GatekeeperIdentifier: in.gkID, AltGKInfo: alt}, rasAddr)
	}
	if m.GatekeeperIdentifier != "" && m.GatekeeperIdentifier != in.gkID {
		rrj(ras.RegistrationRejectReason{Choice: ras.RRJUndefinedReason}, nil)
		return
	}
	if m.KeepAlive {
		in.keepAlive(m, src, rasAddr, now, rrj)
		return
	}
	entry, ok, conflict := in.resolve(m.TerminalAlias)
	if !ok || conflict {
		in.c.refused.Add(1)
		rrj(ras.RegistrationRejectReason{Choice: ras.RRJInvalidAlias}, nil)
		return
	}
	csa, ok := ipOf(m.CallSignalAddress)
	if !ok {
		rrj(ras.RegistrationRejectReason{Choice: ras.RRJInvalidCallSignalAddress}, nil)
		return
	}
	d := in.view.Table().Decide(entry.ID, protoH323, in.busy(entry.ID))
	if !d.Admitted() {
		in.refuseRRQ(entry.ID, d, rrj)
		return
	}
	guest := d.Outcome == admission.Guest
	served := entry.ServedUser()
	userHome := ""
	if guest {
		// A guest serves its base user (a hot-desked user is logged out,
		// DESIGN §1.9); its aliases come from the replicated records.
		served, userHome = entry.User, entry.Home
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	ids, err := in.users.aliases(ctx, userHome, served, now)
	cancel()
	if err != nil {
		in.log.Debug("user aliases not found; granting the phone id and extension", "phone", entry.ID, "error", err)
	}
	names := grantedNames(entry.ID, served, ids)
	ttl := time.Duration(in.conf.TimeToLive)
	if guest {
		ttl = time.Duration(in.conf.GuestTimeToLive)
	}
	if asked := time.Duration(m.TimeToLive) * time.Second; asked > 0 && asked < ttl {
		ttl = asked
	}
	ttl = ttl.Truncate(time.Second)
	r := &registration{
		phoneID: entry.ID, home: entry.Home, guest: guest, epid: epidFor(in.site, entry.ID),
		ras: rasAddr, csa: csa, names: names, vendor: vendorString(m.EndpointVendor),
		ttl: ttl, expires: now.Add(ttl),
	}
	for _, n := range names {
		r.aliases = append(r.aliases, aliasFor(n))
	}
	outcome := admission.Home
	if guest {
		outcome = admission.Guest
	}
	if cur, held := in.view.Table().Registration(entry.ID); !held || cur != outcome {
		if err := in.view.Table().Registered(entry.ID, outcome); err != nil {
			in.c.refused.Add(1)
			rrj(ras.RegistrationRejectReason{Choice: ras.RRJResourceUnavailable}, nil)
			return
		}
	}
	same := in.regs.put(r)
	in.c.rcf.Add(1)
	in.send(&ras.RegistrationConfirm{
		RequestSeqNum: m.RequestSeqNum, ProtocolIdentifier: ras.ProtocolV4,
		CallSignalAddress: []ras.TransportAddress{}, TerminalAlias: r.aliases,
		GatekeeperIdentifier: in.gkID, EndpointIdentifier: r.epid,
		AlternateGatekeeper: in.alternates(d), TimeToLive: uint32(ttl / time.Second),
	}, rasAddr)
	if same {
		in.reports.refresh(in.registrationOf(r), now)
	} else {
		in.reports.send(in.registrationOf(r))
	}
}

// keepAlive answers a lightweight RRQ: the registration is refreshed, or
// refused if the admission rule no longer admits the phone.
func (in *instance) keepAlive(m *ras.RegistrationRequest, src, rasAddr netip.AddrPort, now time.Time,
	rrj func(ras.RegistrationRejectReason, *ras.AltGKInfo)) {
	in.c.keepalives.Add(1)
	var (
		phoneID string
		known   bool
		busy    bool
	)
	in.regs.withEPID(m.EndpointIdentifier, func(r *registration) {
		// The endpoint identifier is no secret: a keep-alive counts only
		// from the registered endpoint's address (any port: NAT), or, from
		// its call signal address's IP, teaches the RAS address of a
		// restored registration.
		if r == nil || !r.sentBy(src) {
			return
		}
		known, phoneID, busy = true, r.phoneID, len(r.calls) > 0
	})
	if !known {
		rrj(ras.RegistrationRejectReason{Choice: ras.RRJFullRegistrationRequired}, nil)
		return
	}
	d := in.view.Table().Decide(phoneID, protoH323, busy)
	if !d.Admitted() {
		in.refuseRRQ(phoneID, d, rrj)
		return
	}
	var (
		rcf *ras.RegistrationConfirm
		reg sdk.Registration
	)
	in.regs.withEPID(m.EndpointIdentifier, func(r *registration) {
		if r == nil || r.leaving {
			return
		}
		ttl := r.ttl
		if asked := time.Duration(m.TimeToLive) * time.Second; asked > 0 && asked < ttl {
			ttl = asked
		}
		r.expires = now.Add(ttl)
		if !r.ras.IsValid() || r.ras != rasAddr {
			r.ras = rasAddr
		}
		rcf = &ras.RegistrationConfirm{
			RequestSeqNum: m.RequestSeqNum, ProtocolIdentifier: ras.ProtocolV4,
			CallSignalAddress: []ras.TransportAddress{}, GatekeeperIdentifier: in.gkID,
			EndpointIdentifier: r.epid, TimeToLive: uint32(ttl / time.Second),
		}
		reg = in.registrationOf(r)
	})
	if rcf == nil { // sent home meanwhile
		rrj(ras.RegistrationRejectReason{Choice: ras.RRJFullRegistrationRequired}, nil)
		return
	}
	in.c.rcf.Add(1)
	in.send(rcf, rasAddr)
	in.reports.refresh(reg, now)
}

// refuseRRQ refuses a phone the rule does not admit; a registration it
// held here (a guest sent home) ends.
func (in *instance) refuseRRQ(phoneID string, d admission.Decision, rrj func(ras.RegistrationRejectReason, *ras.AltGKInfo)) {
	in.c.refused.Add(1)
	in.log.Debug("registration refused", "phone", phoneID, "reason", d.Reason.String(), "home", d.Home)
	if r := in.regs.remove(phoneID); r != nil {
		in.gone(r)
	}
	switch d.Reason {
	case admission.HomedAtLivePeer:
		alt := in.homeAltGKInfo(d)
		switch in.conf.Refuse {
		case RefuseDrop:
		case RefuseUndefinedReason:
			rrj(ras.RegistrationRejectReason{Choice: ras.RRJUndefinedReason}, alt)
		case RefuseSecurityDenial:
			rrj(ras.RegistrationRejectReason{Choice: ras.RRJSecurityDenial}, alt)
		default:
			rrj(ras.RegistrationRejectReason{Choice: ras.RRJResourceUnavailable}, alt)
		}
	case admission.OverCapacity:
		rrj(ras.RegistrationRejectReason{Choice: ras.RRJResourceUnavailable}, nil)
	case admission.NotBackedUp:
		rrj(ras.RegistrationRejectReason{Choice: ras.RRJSecurityDenial}, nil)
	default:
		rrj(ras.RegistrationRejectReason{Choice: ras.RRJInvalidAlias}, nil)
	}
}

// gone ends a registration removed from the registry: the licence or
// guest slot is freed and the host told.
func (in *instance) gone(r *registration) {
	in.view.Table().Unregistered(r.phoneID)
	in.reports.send(sdk.Registration{PhoneID: r.phoneID, Outcome: sdk.RegGone, Transport: Transport})
}

func (in *instance) registrationOf(r *registration) sdk.Registration {
	o := sdk.RegHome
	if r.guest {
		o = sdk.RegGuest
	}
	return sdk.Registration{PhoneID: r.phoneID, Contact: r.csa.String(), UserAgent: r.vendor, Transport: Transport,
		AOR: strings.Join(r.names, ","), Outcome: o, Expires: r.expires}
}

// grantedNames are the aliases a phone registers: the phone id, the
// extension of the user it serves and that user's h323_ids.
func grantedNames(phoneID, ext string, ids []string) []string {
	out := []string{phoneID}
	seen := map[string]bool{phoneID: true}
	for _, n := range append([]string{ext}, ids...) {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func vendorString(v ras.VendorIdentifier) string {
	s := strings.TrimSpace(string(v.ProductID) + " " + string(v.VersionID))
	return strings.ToValidUTF8(s, "?")
}

func ap2t(ap netip.AddrPort) ras.TransportAddress { return ras.FromAddrPort(ap) }

// ---- URQ / UCF ----

// onURQ: the endpoint leaves.
func (in *instance) onURQ(m *ras.UnregistrationRequest, src netip.AddrPort) {
	var phoneID string
	denied := false
	if m.EndpointIdentifier != "" {
		in.regs.withEPID(m.EndpointIdentifier, func(r *registration) {
			if r != nil {
				phoneID, denied = r.phoneID, !r.sentBy(src)
			}
		})
	} else if r, ok := in.regs.lookup(m.EndpointAlias); ok {
		if csa, ok := ipOf(m.CallSignalAddress); ok && csa == r.csa {
			phoneID, denied = r.phoneID, !r.sentBy(src)
		}
	}
	if denied {
		in.c.denied.Add(1)
		in.c.urj.Add(1)
		in.send(&ras.UnregistrationReject{RequestSeqNum: m.RequestSeqNum,
			RejectReason: ras.UnregRejectReason{Choice: ras.URJSecurityDenial}}, src)
		return
	}
	var r *registration
	if phoneID != "" {
		r = in.regs.remove(phoneID)
	}
	if r == nil {
		in.c.urj.Add(1)
		in.send(&ras.UnregistrationReject{RequestSeqNum: m.RequestSeqNum,
			RejectReason: ras.UnregRejectReason{Choice: ras.URJNotCurrentlyRegistered}}, src)
		return
	}
	in.gone(r)
	in.c.ucf.Add(1)
	in.send(&ras.UnregistrationConfirm{RequestSeqNum: m.RequestSeqNum}, src)
}

// onUCF: an endpoint answered a URQ of the gatekeeper (UCF, or URJ: it
// was not registered): the registration ends. Only an answer from the
// address the URQ went to counts: the sequence number is no secret.
func (in *instance) onUCF(seq uint16, src netip.AddrPort, confirmed bool) {
	in.pmu.Lock()
	w, ok := in.urqs[seq]
	if ok && w.to == src {
		delete(in.urqs, seq)
	}
	in.pmu.Unlock()
	if !ok || w.to != src {
		in.c.ignored.Add(1)
		return
	}
	phoneID := w.phoneID
	in.c.urqAnswered.Add(1)
	var r *registration
	in.regs.withPhone(phoneID, func(x *registration) {
		if x != nil && x.leaving && x.urqSeq == seq {
			r = x
		}
	})
	if r != nil && in.regs.remove(phoneID) == r {
		in.gone(r)
	}
}
