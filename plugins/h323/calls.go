package h323plugin

import (
	"net/netip"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/ras"
)

// Calls use direct endpoint call signalling: the gatekeeper admits them
// (ARQ → ACF with the callee's call signal address) and hears when they
// end (DRQ), and keeps no more call state than graceful failback and
// status need. A call goes on if the gatekeeper dies.

// maxCalls bounds the calls in progress of one registration: an ARQ for
// one more is refused (resourceUnavailable).
const maxCalls = 32

// callMaxAge is how long a call without its DRQ (the phone rebooted
// mid-call) keeps its registration busy: the sweep then drops it.
const callMaxAge = 12 * time.Hour

// maxLookups bounds the ARQs waiting for the peers' LCFs at once: an ARQ
// beyond is refused (resourceUnavailable).
const maxLookups = 64

// lrqAnswer is a peer gatekeeper's answer to an LRQ: an LCF, or nil for
// an LRJ.
type lrqAnswer struct{ lcf *ras.LocationConfirm }

// lrqWait is an LRQ in flight: the peer gatekeeper it was sent to (the
// only address whose answer counts) and the ARQ waiting.
type lrqWait struct {
	to netip.AddrPort
	ch chan lrqAnswer
}

// arqKey identifies an ARQ waiting for the peers' answers, so that its
// retransmissions are dropped.
type arqKey struct {
	src netip.AddrPort
	seq uint16
}

// callKey identifies a call: its callIdentifier, else its conferenceID.
func callKey(id ras.CallIdentifier, conf ras.GUID) ras.GUID {
	if id.GUID != (ras.GUID{}) {
		return id.GUID
	}
	return conf
}

func (in *instance) onARQ(m *ras.AdmissionRequest, src netip.AddrPort) {
	arj := func(reason int) {
		in.c.arj.Add(1)
		in.send(&ras.AdmissionReject{RequestSeqNum: m.RequestSeqNum, RejectReason: ras.AdmissionRejectReason{Choice: reason}}, src)
	}
	var caller registration
	known, denied := false, false
	in.regs.withEPID(m.EndpointIdentifier, func(r *registration) {
		if r != nil {
			caller, known, denied = *r, true, !r.sentBy(src)
		}
	})
	if !known {
		arj(ras.ARJCallerNotRegistered)
		return
	}
	if denied {
		in.c.denied.Add(1)
		arj(ras.ARJSecurityDenial)
		return
	}
	key := callKey(m.CallIdentifier, m.ConferenceID)
	if m.AnswerCall {
		in.admitCall(m, src, caller.phoneID, key, caller.csa, nil)
		return
	}
	if callee, ok := in.regs.lookup(m.DestinationInfo); ok {
		in.admitCall(m, src, caller.phoneID, key, callee.csa, callee.aliases)
		return
	}
	if len(m.DestinationInfo) == 0 {
		if ap, ok := addrPortOf(m.DestCallSignalAddress); ok {
			in.admitCall(m, src, caller.phoneID, key, ap, nil)
			return
		}
		arj(ras.ARJIncompleteAddress)
		return
	}
	// Not registered here: ask the peers' gatekeepers.
	k := arqKey{src, m.RequestSeqNum}
	in.pmu.Lock()
	_, waiting := in.arqs[k]
	in.arqs[k] = struct{}{}
	in.pmu.Unlock()
	if waiting {
		return
	}
	select {
	case in.lookups <- struct{}{}:
	default:
		in.pmu.Lock()
		delete(in.arqs, k)
		in.pmu.Unlock()
		arj(ras.ARJResourceUnavailable)
		return
	}
	in.wg.Add(1) // under a reader, itself in wg: never after stop's Wait
	go func() {
		defer in.wg.Done()
		defer func() {
			<-in.lookups
			in.pmu.Lock()
			delete(in.arqs, k)
			in.pmu.Unlock()
		}()
		defer func() {
			if r := recover(); r != nil {
				in.c.panics.Add(1)
				in.log.Warn("ARQ lookup recovered", "panic", r, "from", src.String())
			}
		}()
		lcf := in.locate(m.DestinationInfo)
		if lcf == nil {
			arj(ras.ARJCalledPartyNotRegistered)
			return
		}
		ap, ok := addrPortOf(lcf.CallSignalAddress)
		if !ok {
			arj(ras.ARJCalledPartyNotRegistered)
			return
		}
		in.admitCall(m, src, caller.phoneID, key, ap, lcf.DestinationInfo)
	}()
}

// admitCall records the call and answers ACF.
func (in *instance) admitCall(m *ras.AdmissionRequest, src netip.AddrPort, phoneID string, key ras.GUID,
	dest netip.AddrPort, destAliases []ras.AliasAddress) {
	first, full := false, false
	in.regs.withPhone(phoneID, func(r *registration) {
		if r == nil {
			return
		}
		if _, ok := r.calls[key]; !ok {
			if full = len(r.calls) >= maxCalls; full {
				return
			}
			r.calls[key] = time.Now()
			first = len(r.calls) == 1
		}
	})
	if full {
		in.c.arj.Add(1)
		in.send(&ras.AdmissionReject{RequestSeqNum: m.RequestSeqNum, RejectReason: ras.AdmissionRejectReason{Choice: ras.ARJResourceUnavailable}}, src)
		return
	}
	if first {
		in.reports.callState(phoneID, true)
	}
	bw := m.BandWidth
	if bw == 0 {
		bw = 1280
	}
	in.c.acf.Add(1)
	in.send(&ras.AdmissionConfirm{
		RequestSeqNum: m.RequestSeqNum, BandWidth: bw, CallModel: ras.CallModelDirect,
		DestCallSignalAddress: ras.FromAddrPort(dest), DestinationInfo: destAliases,
	}, src)
}

func (in *instance) onDRQ(m *ras.DisengageRequest, src netip.AddrPort) {
	known, idle, denied := false, false, false
	var phoneID string
	key := callKey(m.CallIdentifier, m.ConferenceID)
	in.regs.withEPID(m.EndpointIdentifier, func(r *registration) {
		if r == nil {
			return
		}
		if !r.sentBy(src) {
			denied = true
			return
		}
		known, phoneID = true, r.phoneID
		if _, ok := r.calls[key]; ok {
			delete(r.calls, key)
			idle = len(r.calls) == 0
		}
	})
	if denied {
		in.c.denied.Add(1)
		in.c.drj.Add(1)
		in.send(&ras.DisengageReject{RequestSeqNum: m.RequestSeqNum, RejectReason: ras.DisengageRejectReason{Choice: ras.DRJSecurityDenial}}, src)
		return
	}
	if !known {
		in.c.drj.Add(1)
		in.send(&ras.DisengageReject{RequestSeqNum: m.RequestSeqNum, RejectReason: ras.DisengageRejectReason{Choice: ras.DRJNotRegistered}}, src)
		return
	}
	in.c.dcf.Add(1)
	in.send(&ras.DisengageConfirm{RequestSeqNum: m.RequestSeqNum}, src)
	if idle {
		in.reports.callState(phoneID, false)
		in.kickSweep() // graceful failback: an idle guest goes home now
	}
}

// onBRQ confirms the bandwidth a registered endpoint asks for; anyone
// else (an unknown endpoint identifier, or a known one from another
// address) is told notBound.
func (in *instance) onBRQ(m *ras.BandwidthRequest, src netip.AddrPort) {
	bound := false
	in.regs.withEPID(m.EndpointIdentifier, func(r *registration) { bound = r != nil && r.sentBy(src) })
	if !bound {
		in.c.brj.Add(1)
		in.send(&ras.BandwidthReject{RequestSeqNum: m.RequestSeqNum, RejectReason: ras.BandRejectReason{Choice: ras.BRJNotBound}}, src)
		return
	}
	in.c.bcf.Add(1)
	in.send(&ras.BandwidthConfirm{RequestSeqNum: m.RequestSeqNum, BandWidth: m.BandWidth}, src)
}

// locate sends an LRQ for aliases to every peer that announced a
// gatekeeper and returns the first LCF, nil if none came within
// lrq_timeout (or all refused).
func (in *instance) locate(aliases []ras.AliasAddress) *ras.LocationConfirm {
	var targets []netip.AddrPort
	for _, v := range in.view.Table().Peers() {
		if gk, ok := altGKOf(v, 0); ok {
			if ap, ok := addrPortOf(gk.RASAddress); ok {
				targets = append(targets, ap)
			}
		}
	}
	if len(targets) == 0 {
		return nil
	}
	ch := make(chan lrqAnswer, len(targets))
	seqs := make([]uint16, len(targets))
	in.pmu.Lock()
	for i, t := range targets {
		seqs[i] = in.nextSeqLocked()
		in.lrqs[seqs[i]] = lrqWait{to: t, ch: ch}
	}
	in.pmu.Unlock()
	defer func() {
		in.pmu.Lock()
		for _, s := range seqs {
			delete(in.lrqs, s)
		}
		in.pmu.Unlock()
	}()
	for i, t := range targets {
		in.c.lrqSent.Add(1)
		in.send(&ras.LocationRequest{RequestSeqNum: seqs[i], DestinationInfo: aliases,
			ReplyAddress: ras.FromAddrPort(in.addr), GatekeeperIdentifier: in.gkID, HopCount: 1}, t)
	}
	timeout := time.NewTimer(time.Duration(in.conf.LRQTimeout))
	defer timeout.Stop()
	for range targets {
		select {
		case a := <-ch:
			if a.lcf != nil {
				return a.lcf
			}
		case <-timeout.C:
			return nil
		case <-in.ctx.Done():
			return nil
		}
	}
	return nil
}

// onLocationAnswer takes a peer's LCF or LRJ to an LRQ of the gatekeeper;
// only one from the gatekeeper the LRQ went to counts (the sequence
// number is no secret: a forged LCF would redirect the call).
func (in *instance) onLocationAnswer(seq uint16, src netip.AddrPort, a lrqAnswer) {
	in.pmu.Lock()
	w, ok := in.lrqs[seq]
	ok = ok && w.to == src
	if ok {
		delete(in.lrqs, seq)
	}
	in.pmu.Unlock()
	if !ok {
		in.c.ignored.Add(1)
		return
	}
	w.ch <- a // buffered for every LRQ of the batch
}

// onLRQ answers a peer gatekeeper looking for an alias registered here.
// Only the gatekeepers the peers announced are answered with addresses.
func (in *instance) onLRQ(m *ras.LocationRequest, src netip.AddrPort) {
	lrj := func(reason int) {
		in.c.lrj.Add(1)
		in.send(&ras.LocationReject{RequestSeqNum: m.RequestSeqNum, RejectReason: ras.LocationRejectReason{Choice: reason}}, src)
	}
	peer := false
	for _, v := range in.view.Table().Peers() {
		if gk, ok := altGKOf(v, 0); ok {
			if ap, ok := addrPortOf(gk.RASAddress); ok && ap == src {
				peer = true
				break
			}
		}
	}
	if !peer {
		lrj(ras.LRJRequestDenied)
		return
	}
	r, ok := in.regs.lookup(m.DestinationInfo)
	if !ok {
		lrj(ras.LRJNotRegistered)
		return
	}
	rasAddr := r.ras
	if !rasAddr.IsValid() {
		rasAddr = r.csa
	}
	in.c.lcf.Add(1)
	in.send(&ras.LocationConfirm{RequestSeqNum: m.RequestSeqNum, CallSignalAddress: ras.FromAddrPort(r.csa),
		RASAddress: ras.FromAddrPort(rasAddr), DestinationInfo: r.aliases}, src)
}
