package sipplugin

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/rallyvoip/rally/plugins/sdk"
	"github.com/rallyvoip/rally/plugins/sdk/admission"
	"github.com/rallyvoip/rally/plugins/sip/digest"
	"github.com/rallyvoip/rally/plugins/sip/registrar"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// counters count what the registrar answered; malformed requests are
// dropped or answered 400 and counted, never a panic.
type counters struct {
	registered, guests, challenged, refused, unknown, badAuth, malformed atomic.Uint64
}

func (in *instance) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", "REGISTER, OPTIONS"))
	_ = tx.Respond(res)
}

func (in *instance) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	defer func() {
		// A hostile message must never take the plugin down.
		if r := recover(); r != nil {
			in.counters.malformed.Add(1)
			in.log.Warn("REGISTER handler recovered", "panic", r)
		}
	}()
	if res := in.register(req, time.Now()); res != nil {
		_ = tx.Respond(res)
	}
}

// register answers one REGISTER; nil means no answer (refuse: drop).
func (in *instance) register(req *sip.Request, now time.Time) *sip.Response {
	to, callID, cseq := req.To(), req.CallID(), req.CSeq()
	if to == nil || callID == nil || cseq == nil || to.Address.User == "" {
		in.counters.malformed.Add(1)
		return sip.NewResponseFromRequest(req, 400, "Bad Request", nil)
	}
	auth := req.GetHeader("Authorization")
	if auth == nil {
		in.counters.challenged.Add(1)
		return in.challenge(req, now, false)
	}
	creds, err := digest.ParseAuthorization(auth.Value())
	if err != nil {
		in.counters.malformed.Add(1)
		return sip.NewResponseFromRequest(req, 400, "Bad Authorization", nil)
	}
	phoneID := creds.Username

	// Admission first: cheap, local, and it decides where the credentials
	// are (this site's directory or the home's backup records).
	d := in.view.Table().Decide(phoneID, federationv1.Protocol_PROTOCOL_SIP, false)
	if !d.Admitted() {
		return in.refuse(req, phoneID, d)
	}
	home := ""
	if d.Outcome == admission.Guest {
		home = d.Home
	}
	entry, _ := in.view.Table().Phone(phoneID)
	if entry.User != to.Address.User {
		// A phone registers the AoR of its own user.
		in.counters.badAuth.Add(1)
		return sip.NewResponseFromRequest(req, 403, "Forbidden (not this phone's user)", nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	md5, sha, err := in.creds.lookup(ctx, home, phoneID, now)
	cancel()
	if err != nil {
		in.log.Warn("no credentials", "phone", phoneID, "error", err)
		return sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil)
	}
	if err := in.verifier.Check(creds, "REGISTER", md5, sha, now); err != nil {
		if errors.Is(err, digest.ErrStale) {
			in.counters.challenged.Add(1)
			return in.challenge(req, now, true)
		}
		in.counters.badAuth.Add(1)
		in.creds.forget(home, phoneID)
		in.log.Debug("digest refused", "phone", phoneID, "error", err)
		return sip.NewResponseFromRequest(req, 403, "Forbidden", nil)
	}

	r, ok := parseBindings(req)
	if !ok {
		in.counters.malformed.Add(1)
		return sip.NewResponseFromRequest(req, 400, "Bad Contact or Expires", nil)
	}
	r.PhoneID = phoneID
	r.Guest = d.Outcome == admission.Guest
	r.Transport = strings.ToLower(req.Transport())
	r.Source = req.Source()
	if ua := req.GetHeader("User-Agent"); ua != nil {
		r.UserAgent = ua.Value()
	}
	r.CallID = callID.Value()
	r.CSeq = cseq.SeqNo
	aor := "sip:" + to.Address.User + "@" + in.domain
	res, err := in.reg.Update(aor, r, now)
	if err != nil {
		code := registrar.StatusCode(err)
		out := sip.NewResponseFromRequest(req, code, reasonOf(code), nil)
		if code == 423 {
			out.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(res.MinExpires)))
		}
		return out
	}
	in.account(phoneID, d.Outcome, aor, res, r, now)
	out := sip.NewResponseFromRequest(req, 200, "OK", nil)
	for _, b := range res.Bindings {
		out.AppendHeader(sip.NewHeader("Contact", "<"+b.Contact+">;expires="+strconv.Itoa(b.ExpiresIn(now))))
	}
	out.AppendHeader(sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	return out
}

// account keeps the local licence view and reports the registration.
func (in *instance) account(phoneID string, o admission.Outcome, aor string, res registrar.Result, r registrar.Request, now time.Time) {
	for _, b := range res.RemovedBindings {
		if b.PhoneID != phoneID {
			in.gone(b.PhoneID)
		}
	}
	if res.LastForPhone || (len(res.Bindings) == 0 && in.reg.PhoneCount(phoneID) == 0) {
		in.gone(phoneID)
		return
	}
	if in.reg.PhoneCount(phoneID) == 0 {
		return // a query, by a phone with no binding
	}
	outcome := sdk.RegHome
	if o == admission.Guest {
		outcome = sdk.RegGuest
		in.counters.guests.Add(1)
	}
	in.counters.registered.Add(1)
	_ = in.view.Table().Registered(phoneID, o)
	var expires time.Time
	contact := ""
	for _, b := range res.Bindings {
		if b.PhoneID == phoneID && b.Expires.After(expires) {
			expires, contact = b.Expires, b.Contact
		}
	}
	reg := sdk.Registration{PhoneID: phoneID, Outcome: outcome, Contact: contact, UserAgent: r.UserAgent,
		Transport: r.Transport, AOR: aor, Expires: expires}
	if res.FirstForPhone {
		in.reports.send(reg)
	} else {
		in.reports.refresh(reg, now)
	}
}

// refuse answers a phone this site does not admit now.
func (in *instance) refuse(req *sip.Request, phoneID string, d admission.Decision) *sip.Response {
	if d.Reason == admission.HomedAtLivePeer {
		in.counters.refused.Add(1)
		// A guest sent home at failback: its bindings here go.
		if in.reg.PhoneCount(phoneID) > 0 {
			in.reg.RemovePhone(phoneID)
			in.gone(phoneID)
		}
		switch in.conf.Refuse {
		case RefuseDrop:
			return nil
		case Refuse403:
			return sip.NewResponseFromRequest(req, 403, "Forbidden (homed at "+d.Home+")", nil)
		default:
			res := sip.NewResponseFromRequest(req, 503, "Service Unavailable (homed at "+d.Home+")", nil)
			res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(int(time.Duration(in.conf.RetryAfter)/time.Second))))
			return res
		}
	}
	in.counters.unknown.Add(1)
	return sip.NewResponseFromRequest(req, 403, "Forbidden ("+d.Reason.String()+")", nil)
}

func (in *instance) challenge(req *sip.Request, now time.Time, stale bool) *sip.Response {
	res := sip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
	for _, c := range in.verifier.Challenge(now, stale) {
		res.AppendHeader(sip.NewHeader("WWW-Authenticate", c))
	}
	return res
}

// parseBindings reads the Contact and Expires headers of a REGISTER.
func parseBindings(req *sip.Request) (registrar.Request, bool) {
	r := registrar.Request{HeaderExpires: registrar.Absent}
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || n < 0 {
			return r, false
		}
		r.HeaderExpires = n
	}
	for _, h := range req.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return r, false
		}
		if c.Address.Wildcard {
			r.Star = true
			continue
		}
		cr := registrar.ContactReq{URI: c.Address.String(), Expires: registrar.Absent, Q: registrar.Absent}
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return r, false
			}
			cr.Expires = n
		}
		if v, ok := c.Params.Get("q"); ok {
			q, err := strconv.ParseFloat(v, 32)
			if err != nil || q < 0 || q > 1 {
				return r, false
			}
			cr.Q = float32(q)
		}
		r.Contacts = append(r.Contacts, cr)
	}
	return r, true
}

func reasonOf(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 423:
		return "Interval Too Brief"
	default:
		return "Server Internal Error"
	}
}
