package sipplugin

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
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
	// replays: REGISTERs whose digest reused a nonce count (challenged again).
	replays atomic.Uint64
	// notReady: REGISTERs answered 503 before the admission view loaded.
	notReady atomic.Uint64

	// The UDP path (udp.go): datagrams dropped — oversized, keep-alives,
	// responses, ACKs (ignored), copies of a request still in flight, over
	// the bound of requests waiting for the host (overload) — or answered
	// from the retransmission cache (retransmits); requests answered 501;
	// failed sends; panics recovered.
	oversized, keepalives, nonRequest, ignored, inFlight, overload atomic.Uint64
	retransmits, notImplemented, writeErrors, panics               atomic.Uint64
}

func (in *instance) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(optionsResponse(req))
}

// optionsResponse answers an OPTIONS (a reachability probe or keep-alive).
func optionsResponse(req *sip.Request) *sip.Response {
	res := newResponse(req, 200, "OK")
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	return res
}

// newResponse is sip.NewResponseFromRequest for the answers of this plugin
// (to REGISTER, OPTIONS and the methods it does not implement: no
// Record-Route, no Timestamp), for less: the response takes the request's
// own Via, From, To, Call-ID and CSeq headers rather than copies, since a
// request is not used once answered. The To gets its tag on the request
// (the UDP path gives it one first, the same for every response), and an
// empty rport its value (RFC 3581) from the source, as sipgo does.
func newResponse(req *sip.Request, code int, reason string) *sip.Response {
	res := sip.NewResponse(code, reason)
	res.SipVersion = req.SipVersion
	var from sip.Header
	for _, h := range req.Headers() {
		switch h.(type) {
		case *sip.ViaHeader:
			res.AppendHeader(h)
		case *sip.FromHeader:
			from = h
		default:
			// The UDP path leaves From unparsed: it is only copied.
			if from == nil && (strings.EqualFold(h.Name(), "From") || h.Name() == "f") {
				from = h
			}
		}
	}
	if via := req.Via(); via != nil {
		if v, ok := via.Params.Get("rport"); ok && v == "" {
			if host, port, err := net.SplitHostPort(req.Source()); err == nil {
				via.Params.Add("rport", port)
				via.Params.Add("received", host)
			}
		}
	}
	if from != nil {
		res.AppendHeader(from)
	}
	if h := req.To(); h != nil {
		if !h.Params.Has("tag") {
			h.Params.Add("tag", newTag())
		}
		res.AppendHeader(h)
	}
	if h := req.CallID(); h != nil {
		res.AppendHeader(h)
	}
	if h := req.CSeq(); h != nil {
		res.AppendHeader(h)
	}
	res.SetBody(nil) // Content-Length: 0
	res.SetTransport(req.Transport())
	res.SetDestination(req.Source())
	return res
}

// newTag returns a To tag: 64 random bits (RFC 3261 §19.3 asks for 32).
func newTag() string { return strconv.FormatUint(rand.Uint64(), 36) }

// header returns the first header of req named name (any case), or nil.
// sipgo's GetHeader lowercases every header name it compares, allocating
// for most of them.
func header(req *sip.Request, name string) sip.Header {
	for _, h := range req.Headers() {
		if strings.EqualFold(h.Name(), name) {
			return h
		}
	}
	return nil
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
	res, _ := in.registerOrDefer(req, now, true)
	return res
}

// registerOrDefer is register; with mayWait false it returns deferred
// (and no response) instead of waiting for the host for credentials, before
// it has changed anything, so that the caller can run register on a
// goroutine that may wait.
func (in *instance) registerOrDefer(req *sip.Request, now time.Time, mayWait bool) (_ *sip.Response, deferred bool) {
	to, callID, cseq := req.To(), req.CallID(), req.CSeq()
	if to == nil || callID == nil || cseq == nil || to.Address.User == "" {
		in.counters.malformed.Add(1)
		return newResponse(req, 400, "Bad Request"), false
	}
	auth := header(req, "Authorization")
	if auth == nil {
		in.counters.challenged.Add(1)
		return in.challenge(req, now, false), false
	}
	creds, err := digest.ParseAuthorization(auth.Value())
	if err != nil {
		in.counters.malformed.Add(1)
		return newResponse(req, 400, "Bad Authorization"), false
	}
	phoneID := creds.Username

	// Until the admission view is loaded every phone would look unknown
	// (and be refused for good with a 403): ask it to come back instead.
	select {
	case <-in.view.Ready():
	default:
		in.counters.notReady.Add(1)
		res := newResponse(req, 503, "Service Unavailable (starting)")
		res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(int(time.Duration(in.conf.RetryAfter)/time.Second))))
		return res, false
	}

	// Admission first: cheap, local, and it decides where the credentials
	// are (this site's directory or the home's backup records).
	// busy: graceful failback keeps a guest in a call (calls.go).
	d := in.view.Table().Decide(phoneID, federationv1.Protocol_PROTOCOL_SIP, in.proxy.calls.busy(phoneID))
	if !d.Admitted() {
		return in.refuse(req, phoneID, d), false
	}
	home := ""
	if d.Outcome == admission.Guest {
		home = d.Home
	}
	entry, _ := in.view.Table().Phone(phoneID)
	if u := to.Address.User; u != entry.User && u != entry.HotDeskUser {
		// A phone registers the AoR of its own user, or of the user
		// hot-desked on it (set at the phone's home only: a guest serves
		// its base user, DESIGN §1.9).
		in.counters.badAuth.Add(1)
		return newResponse(req, 403, "Forbidden (not this phone's user)"), false
	}
	md5, sha, cached := in.creds.get(home, phoneID, now)
	if !cached {
		if !mayWait {
			return nil, true
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		md5, sha, err = in.creds.lookup(ctx, home, phoneID, now)
		cancel()
	}
	if err != nil {
		in.log.Warn("no credentials", "phone", phoneID, "error", err)
		return newResponse(req, 503, "Service Unavailable"), false
	}
	if err := in.verifier.Check(creds, "REGISTER", md5, sha, now); err != nil {
		if errors.Is(err, digest.ErrStale) {
			in.counters.challenged.Add(1)
			return in.challenge(req, now, true), false
		}
		if errors.Is(err, digest.ErrReplay) {
			// A right digest over a nonce count already used: a replay, or
			// a retransmission that came after its response left the
			// retransmission cache. A fresh challenge costs a replayer
			// nothing and brings a phone back in one round trip.
			in.counters.replays.Add(1)
			in.log.Debug("digest replayed", "phone", phoneID)
			return in.challenge(req, now, true), false
		}
		in.counters.badAuth.Add(1)
		in.creds.forget(home, phoneID)
		in.log.Debug("digest refused", "phone", phoneID, "error", err)
		return newResponse(req, 403, "Forbidden"), false
	}

	r, ok := parseBindings(req)
	if !ok {
		in.counters.malformed.Add(1)
		return newResponse(req, 400, "Bad Contact or Expires"), false
	}
	r.PhoneID = phoneID
	r.Guest = d.Outcome == admission.Guest
	r.Transport = lowerTransport(req.Transport())
	r.Source = req.Source()
	if ua := header(req, "User-Agent"); ua != nil {
		r.UserAgent = ua.Value()
	}
	r.CallID = callID.Value()
	r.CSeq = cseq.SeqNo
	aor := "sip:" + to.Address.User + "@" + in.domain
	res, err := in.reg.Update(aor, r, now)
	if err != nil {
		code := registrar.StatusCode(err)
		out := newResponse(req, code, reasonOf(code))
		if code == 423 {
			out.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(res.MinExpires)))
		}
		return out, false
	}
	in.account(phoneID, d.Outcome, aor, res, r, now)
	if r.Transport == "udp" || r.Transport == "" {
		for _, b := range res.Bindings { // behind NAT: reached at the REGISTER's source
			if b.Source == r.Source && b.PhoneID == phoneID {
				in.proxy.natContacts.note(b.Contact, b.Source, b.Expires)
			}
		}
	} else if r.Transport == "tcp" || r.Transport == "tls" {
		for _, c := range r.Contacts { // the proxy reaches them on this connection
			var u sip.Uri
			if c.Expires != 0 && sip.ParseUri(c.URI, &u) == nil {
				in.proxy.tcpContacts.noteURI(u, r.Source, now)
			}
		}
	}
	out := newResponse(req, 200, "OK")
	for _, b := range res.Bindings {
		out.AppendHeader(sip.NewHeader("Contact", "<"+b.Contact+">;expires="+strconv.Itoa(b.ExpiresIn(now))))
	}
	out.AppendHeader(sip.NewHeader("Date", httpDate(now)))
	return out, false
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
	var expires time.Time
	contact := ""
	for _, b := range res.Bindings {
		if b.PhoneID == phoneID && b.Expires.After(expires) {
			expires, contact = b.Expires, b.Contact
		}
	}
	if contact == "" && in.reg.PhoneCount(phoneID) == 0 {
		return // a query, by a phone with no binding
	}
	outcome := sdk.RegHome
	if o == admission.Guest {
		outcome = sdk.RegGuest
		in.counters.guests.Add(1)
	}
	in.counters.registered.Add(1)
	if cur, ok := in.view.Table().Registration(phoneID); !ok || cur != o {
		_ = in.view.Table().Registered(phoneID, o) // a refresh changes nothing: no write lock
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
			return newResponse(req, 403, "Forbidden (homed at "+d.Home+")")
		default:
			res := newResponse(req, 503, "Service Unavailable (homed at "+d.Home+")")
			res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(int(time.Duration(in.conf.RetryAfter)/time.Second))))
			return res
		}
	}
	in.counters.unknown.Add(1)
	return newResponse(req, 403, "Forbidden ("+d.Reason.String()+")")
}

func (in *instance) challenge(req *sip.Request, now time.Time, stale bool) *sip.Response {
	res := newResponse(req, 401, "Unauthorized")
	for _, c := range in.verifier.Challenge(now, stale) {
		res.AppendHeader(sip.NewHeader("WWW-Authenticate", c))
	}
	return res
}

// parseBindings reads the Contact and Expires headers of a REGISTER.
func parseBindings(req *sip.Request) (registrar.Request, bool) {
	r := registrar.Request{HeaderExpires: registrar.Absent}
	if h := header(req, "Expires"); h != nil {
		n, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || n < 0 {
			return r, false
		}
		r.HeaderExpires = n
	}
	for _, h := range req.Headers() {
		if !strings.EqualFold(h.Name(), "Contact") {
			continue
		}
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

// lowerTransport is strings.ToLower(t) without allocating for the
// transports sipgo names.
func lowerTransport(t string) string {
	switch t {
	case "UDP":
		return "udp"
	case "TCP":
		return "tcp"
	case "TLS":
		return "tls"
	case "WS":
		return "ws"
	case "WSS":
		return "wss"
	}
	return strings.ToLower(t)
}

// dateCache holds the Date header value of the current second.
var dateCache atomic.Pointer[dateValue]

type dateValue struct {
	sec int64
	s   string
}

// httpDate is the Date header value for now (RFC 3261 §20.17: RFC 1123
// in "GMT", not "UTC"), formatted once a second.
func httpDate(now time.Time) string {
	sec := now.Unix()
	if d := dateCache.Load(); d != nil && d.sec == sec {
		return d.s
	}
	d := &dateValue{sec: sec, s: now.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")}
	dateCache.Store(d)
	return d.s
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
