// Package sipplugin is rally's SIP plugin: a registrar (RFC 3261 §10) with
// server-side digest authentication, whose admission follows the site's
// resilience state (DESIGN §1.1, §1.3, §1.10).
//
// It runs out of process, as every plugin does, and sees the site only
// through plugins/sdk: a local admission view fed by the host's watch
// stream (no round trip per request), HA1 look-ups cached per phone, and
// registration reports sent asynchronously.
//
// A REGISTER is answered:
//   - 401 with a digest challenge (MD5 by default; SHA-256 too when the
//     algorithms key lists it) without credentials, or with stale=true for
//     an expired nonce;
//   - for a phone homed at a live peer: the configured refusal — 503 with a
//     short Retry-After (default), 403, or no answer — the same refusal that
//     steers a guest home at failback (its next refresh is refused and its
//     bindings here are dropped);
//   - 403 for an unknown phone, a wrong password, a phone whose home this
//     site does not back up, or one over the licence count;
//   - 200 with the bindings for home phones and guests, guests with a short
//     expiry (guest_expires) so that they can be steered home quickly.
//
// The packages digest (server-side digest) and registrar (the binding
// store) are beside it.
package sipplugin
