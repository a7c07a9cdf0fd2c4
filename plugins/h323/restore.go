package h323plugin

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
)

// restore puts back the registrations the host holds for H.323 phones, so
// that a crash of this process does not unregister them (DESIGN §2). The
// endpoint identifier of a phone is the same across restarts (epidFor), so
// the endpoints' lightweight RRQs find their registrations; the RAS
// address is learned from the first of them, from the call signal
// address's IP only. Phones registered afresh meanwhile are skipped. It
// returns how many it
// restored.
func (in *instance) restore(ctx context.Context, now time.Time) (int, error) {
	regs, err := in.host.ListRegistrations(ctx, "h323")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range regs {
		csa, err := netip.ParseAddrPort(r.Contact)
		left := r.Expires.Sub(now).Truncate(time.Second)
		if r.PhoneID == "" || err != nil || left <= 0 || r.Outcome == sdk.RegGone {
			continue
		}
		entry, ok := in.view.Table().Phone(r.PhoneID)
		if !ok {
			continue
		}
		names := strings.Split(r.AOR, ",")
		if r.AOR == "" {
			names = []string{r.PhoneID}
		}
		reg := &registration{
			phoneID: r.PhoneID, home: entry.Home, guest: r.Outcome == sdk.RegGuest,
			epid: epidFor(in.site, r.PhoneID), csa: csa, names: names, vendor: r.UserAgent,
			ttl: time.Duration(in.conf.TimeToLive), expires: r.Expires,
		}
		if reg.guest {
			reg.ttl = time.Duration(in.conf.GuestTimeToLive)
		}
		for _, nm := range names {
			reg.aliases = append(reg.aliases, aliasFor(nm))
		}
		outcome := admission.Home
		if reg.guest {
			outcome = admission.Guest
		}
		// A phone that registered afresh since the start keeps that
		// registration.
		if !in.regs.putNew(reg) {
			continue
		}
		if err := in.view.Table().Registered(r.PhoneID, outcome); err != nil {
			in.regs.drop(reg)
			in.log.Warn("registration not restored", "phone", r.PhoneID, "error", err)
			continue
		}
		n++
	}
	return n, nil
}
