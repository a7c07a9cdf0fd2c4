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
//     an expired nonce or a nonce count used before (a replay, or a late
//     retransmission: see below);
//   - for a phone homed at a live peer: the configured refusal — 503 with a
//     short Retry-After (default), 403, or no answer — the same refusal that
//     steers a guest home at failback (its next refresh is refused and its
//     bindings here are dropped);
//   - 403 for an unknown phone, a wrong password, a phone whose home this
//     site does not back up, or one over the licence count;
//   - 200 with the bindings for home phones and guests, guests with a short
//     expiry (guest_expires) so that they can be steered home quickly.
//
// # The UDP path
//
// UDP is served by the plugin's own read loop (udp.go), not by sipgo's
// transport and transaction layers, which keep every non-INVITE server
// transaction for Timer J (32 s): at registration-storm rates that is
// millions of live transactions, gigabytes of heap and the GC work on them.
// TCP stays on sipgo. GOMAXPROCS goroutines read the socket (4 MB receive
// buffer), parse with sipgo's parser (only the headers a registrar reads
// are parsed, the others are kept as text) and answer themselves:
// REGISTER, OPTIONS, and 501 for the other methods until the proxy routes
// them. ACKs, responses, keep-alives and malformed or oversized datagrams
// are dropped and counted; a panic is recovered per datagram. A REGISTER
// that must wait for the host (the credentials of a phone not cached yet)
// is answered on a goroutine of its own, at most udpSlowMax at once. The
// response goes to the source address, and to its port when the top Via
// has rport (which is filled in, with received, as RFC 3581 asks), else to
// the Via's sent-by port (RFC 3261 §18.2.2).
//
// Retransmissions are absorbed as RFC 3261 §17.2.2 asks of a non-INVITE
// server transaction: the serialized response of each request is kept
// under its transaction key (top Via branch and sent-by, method, Call-ID
// and CSeq) and sent again, byte for byte, for a retransmission — neither
// the digest check (it would be a replay) nor the registrar (an
// out-of-order CSeq) runs twice — and a copy that arrives while the request
// is still being processed is dropped (its client retransmits).
//
// How long responses are kept is a trade-off between Timer J and memory.
// They are kept for Timer J (32 s), in generations of one second dropped
// whole, but within 64 MiB (txCacheBytes: about 530 bytes a response with
// its key and table entry, so about 125,000 responses). At everyday rates
// that is the whole of Timer J in a few megabytes. Under a storm of
// 30,000 registrations/s (two responses each) it is about 2 s: enough for
// the retransmissions of a lost response (T1 = 0.5 s, then 1.5 s after the
// first send), not for a client that keeps losing them. Such a late
// retransmission is processed again: without credentials it is challenged
// again (harmless); with credentials it reuses a nonce count, so it is
// challenged again with stale=true and the phone registers in one more
// round trip. Keeping all of Timer J at storm rates would take about 1 GB.
// Measured under the bench load (10,000 phones, ~29,000 registrations/s):
// the full cache is about 62 MB of the plugin's 88 MB of live heap, and the
// plugin peaks at about 205 MB RSS (GOGC 100; the daemon about 44 MB). The
// cache holds no pointers (responses are copied into 64 KiB chunks, keys
// are 128-bit hashes in an open-addressing table), so the GC never scans
// it.
//
// The packages digest (server-side digest) and registrar (the binding
// store) are beside it.
package sipplugin
