// Package digest is the server side of SIP digest authentication
// (RFC 3261 §22, RFC 7616, RFC 8760): parsing Authorization and
// Proxy-Authorization values, issuing and checking nonces, building
// WWW-Authenticate challenges and verifying responses against a stored HA1.
//
// It is hand-written because no maintained Go library does server-side SIP
// digest: sipgo (and the HTTP digest packages) only answer challenges. It
// depends on the standard library only and has no package-level mutable
// state; everything hangs off a [Verifier] (or the lower-level [Nonces]).
//
// # Use
//
// One [Verifier] per realm (the site's sip_domain), shared by all the
// goroutines that handle REGISTERs:
//
//	v := digest.NewVerifier("voip.example", secret, 30*time.Second)
//	// or, for phones known to do RFC 8760 (see WithAlgorithms):
//	v := digest.NewVerifier("voip.example", secret, 30*time.Second,
//		digest.WithAlgorithms(digest.SHA256, digest.MD5))
//
//	// REGISTER without credentials, or a failed check:
//	for _, ch := range v.ChallengeFor(now, stale, u.HA1MD5, u.HA1SHA256) {
//		res.AppendHeader(sip.NewHeader("WWW-Authenticate", ch))
//	}
//
//	// REGISTER with credentials:
//	c, err := digest.ParseAuthorization(authHeaderValue) // malformed → 400
//	u := directory.Lookup(c.Username)                     // HA1s only
//	err = v.Check(c, "REGISTER", u.HA1MD5, u.HA1SHA256, now)
//	switch {
//	case err == nil:                      // authenticated
//	case errors.Is(err, digest.ErrStale): // 401, challenge with stale=true
//	default:                              // 401 (or 403), fresh challenge
//	}
//
// # What the caller must do
//
//   - Call Check (or [Nonces.Verify]) once per new transaction, never for a
//     retransmission. With qop=auth the highest nonce count seen per nonce is
//     remembered and a repeated or lower count is a replay ([ErrReplay]); a
//     retransmitted REGISTER carries the same count, so it must be answered
//     from the transaction layer's (or the lean registrar's) response cache
//     before it reaches this package.
//   - Check that the authenticated username (c.Username, the phone id) may
//     register the AOR in To, and preferably that c.URI is the Request-URI.
//     This package only proves that the sender knows the HA1 it was given.
//   - Test errors with errors.Is: the returned errors wrap the sentinels and
//     a few wrap two (a nonce this server did not issue but a correct digest
//     for it is both [ErrBadNonce] and [ErrStale], so that a phone that
//     failed over with the home site's nonce retries silently).
//
// # Nonces
//
// A nonce is base64url(issue time ‖ 64 random bits ‖ HMAC-SHA256 truncated
// to 128 bits), 43 characters. Checking one needs no server state; only the
// replay guard for qop=auth keeps, per nonce used successfully, its highest
// nonce count, for at most 1.5 × lifetime and within a hard cap (see
// [WithMaxTracked]): about 25 bytes × authentications/s × 1.5 × lifetime.
// Without qop (RFC 2069 clients) a nonce can be reused until it expires;
// keep the lifetime short (tens of seconds: an expired nonce with a correct
// digest only costs the phone one more round trip with stale=true).
//
// Supported: algorithms MD5 and SHA-256 (the directory stores HA1 for both,
// never passwords), qop "auth" or none. Not supported: auth-int, the -sess
// variants, SHA-512-256 and userhash (answered with [ErrUnsupported]).
package digest
