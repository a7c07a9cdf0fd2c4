package h323plugin

import (
	"context"
	"net/netip"
	"time"

	"github.com/rallyvoip/rally/plugins/h323/ras"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
)

// sweepEvery is how often the gatekeeper looks for registrations to end:
// lapsed ones, and those the admission rule no longer admits (failback).
const sweepEvery = 200 * time.Millisecond

// urqTries is how many URQs a registration sent home gets before it is
// dropped without a UCF.
const urqTries = 3

// urqWait is a URQ in flight: the phone sent away and the RAS address
// the URQ went to (the only address whose UCF or URJ counts).
type urqWait struct {
	phoneID string
	to      netip.AddrPort
}

// statsEvery is how often the counters are logged, when they changed.
const statsEvery = time.Minute

func (in *instance) sweepLoop(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	var logged Stats
	loggedAt := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-in.kick:
		}
		now := time.Now()
		in.sweep(now)
		if now.Sub(loggedAt) >= statsEvery {
			loggedAt = now
			if s := in.stats(); s != logged {
				logged = s
				in.log.Info("gatekeeper counters", "registrations", s.Registrations, "received", s.Received,
					"rcf", s.RCF, "rrj", s.RRJ, "refused", s.Refused, "malformed", s.Malformed, "ignored", s.Ignored,
					"urq_sent", s.URQSent, "expired", s.Expired, "acf", s.ACF, "arj", s.ARJ, "lcf", s.LCF, "lrj", s.LRJ)
			}
		}
	}
}

// expiryGrace is how long after its time to live a registration that was
// not refreshed lapses.
func expiryGrace(ttl time.Duration) time.Duration { return time.Second + ttl/10 }

// sweep ends lapsed registrations, and sends home (URQ with the home as
// alternate gatekeeper, needToRegister) every registration the admission
// rule refuses now: the failback is done (automatic after failback_delay,
// manual on command), or in graceful mode the guest has no call left.
// Failback is thus an active step, not a wait for the time to live.
func (in *instance) sweep(now time.Time) {
	type urq struct {
		msg *ras.UnregistrationRequest
		to  ras.TransportAddress
		r   *registration
	}
	var (
		sends []urq
		ended []*registration
		idle  []string
	)
	tbl := in.view.Table()
	for _, id := range in.regs.phones() {
		var drop bool
		in.regs.withPhone(id, func(r *registration) {
			if r == nil {
				return
			}
			if n := len(r.calls); n > 0 {
				// A call whose DRQ never came (the phone rebooted
				// mid-call) does not keep the phone busy for ever.
				for k, at := range r.calls {
					if now.Sub(at) > callMaxAge {
						delete(r.calls, k)
					}
				}
				if len(r.calls) == 0 {
					idle = append(idle, r.phoneID)
				}
			}
			switch {
			case r.leaving:
				if now.Before(r.urqNext) {
					return
				}
				if r.urqSent >= urqTries || !r.ras.IsValid() {
					drop = true
					return
				}
			case now.After(r.expires.Add(expiryGrace(r.ttl))):
				in.c.expired.Add(1)
				drop = true
				return
			default:
				d := tbl.Decide(r.phoneID, protoH323, len(r.calls) > 0)
				if d.Admitted() {
					return
				}
				r.leaving = true
				if gk, ok := in.gatekeeperOf(d.Home, 0); ok && d.Reason == admission.HomedAtLivePeer {
					r.altGK = &gk
				}
				in.pmu.Lock()
				r.urqSeq = in.nextSeqLocked()
				in.urqs[r.urqSeq] = urqWait{phoneID: r.phoneID, to: r.ras}
				in.pmu.Unlock()
				in.log.Info("sending the endpoint away", "phone", r.phoneID, "reason", d.Reason.String(), "home", d.Home)
				if !r.ras.IsValid() {
					drop = true
					return
				}
			}
			r.urqSent++
			r.urqNext = now.Add(time.Duration(in.conf.URQRetry))
			m := &ras.UnregistrationRequest{
				RequestSeqNum:        r.urqSeq,
				CallSignalAddress:    []ras.TransportAddress{ras.FromAddrPort(r.csa)},
				EndpointAlias:        r.aliases,
				EndpointIdentifier:   r.epid,
				GatekeeperIdentifier: in.gkID,
				Reason:               &ras.UnregRequestReason{Choice: ras.URQMaintenance},
			}
			if r.altGK != nil {
				m.AlternateGatekeeper = []ras.AlternateGK{*r.altGK}
			}
			sends = append(sends, urq{msg: m, to: ras.FromAddrPort(r.ras), r: r})
		})
		if drop {
			if r := in.regs.remove(id); r != nil {
				if r.leaving {
					in.pmu.Lock()
					delete(in.urqs, r.urqSeq)
					in.pmu.Unlock()
				}
				ended = append(ended, r)
			}
		}
	}
	for _, s := range sends {
		in.c.urqSent.Add(1)
		ap, _ := addrPortOf(s.to)
		in.send(s.msg, ap)
	}
	for _, r := range ended {
		in.gone(r)
	}
	for _, id := range idle {
		in.reports.callState(id, false)
	}
}
