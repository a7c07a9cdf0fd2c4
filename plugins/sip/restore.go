package sipplugin

import (
	"context"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
	"github.com/rallyvoip/rally/plugins/sip/registrar"
)

// restoredCallID marks bindings restored from the host after a restart:
// the phone's next REGISTER carries its own Call-ID and replaces them.
const restoredCallID = "rally-restored"

// restore puts back the bindings the host holds for SIP phones, so that a
// crash of this process does not unregister them (DESIGN §2: a crashed
// plugin is restarted and its state resynced). It returns how many it
// restored.
func (in *instance) restore(ctx context.Context, now time.Time) (int, error) {
	regs, err := in.host.ListRegistrations(ctx, "sip")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range regs {
		left := int(r.Expires.Sub(now) / time.Second)
		if r.PhoneID == "" || r.Contact == "" || r.AOR == "" || left <= 0 || r.Outcome == sdk.RegGone {
			continue
		}
		req := registrar.Request{
			CallID:        restoredCallID,
			Contacts:      []registrar.ContactReq{{URI: r.Contact, Expires: left, Q: registrar.Absent}},
			HeaderExpires: registrar.Absent,
			PhoneID:       r.PhoneID,
			Transport:     r.Transport,
			UserAgent:     r.UserAgent,
			Guest:         r.Outcome == sdk.RegGuest,
		}
		if _, err := in.reg.Update(r.AOR, req, now); err != nil {
			in.log.Warn("binding not restored", "phone", r.PhoneID, "error", err)
			continue
		}
		outcome := admission.Home
		if r.Outcome == sdk.RegGuest {
			outcome = admission.Guest
		}
		_ = in.view.Table().Registered(r.PhoneID, outcome)
		n++
	}
	return n, nil
}
