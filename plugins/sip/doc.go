// Package sipplugin is rally's SIP plugin: a registrar (RFC 3261 §10) with
// server-side digest authentication, whose admission follows the site's
// resilience state (DESIGN §1.1, §1.3, §1.10), and a stateful proxy that
// routes calls between the phones registered here and to the other sites
// of the federation (DESIGN §1.8).
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
// buffer), parse REGISTERs with sipgo's parser (only the headers a
// registrar reads are parsed, the others are kept as text) and answer
// them themselves; the other requests and the responses go to the proxy
// (below), which answers OPTIONS to no user itself and the methods it does
// not route with 501. Keep-alives and malformed or oversized datagrams are
// dropped and counted; a panic is recovered per datagram. A REGISTER
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
// is still being processed is dropped (its client retransmits). Challenges
// (401) are the exception: they are sent statelessly (RFC 3261 §8.2.7), so
// a retransmitted request is challenged again with a fresh nonce, and a
// registration costs the cache one response, not two.
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
// # The proxy
//
// proxy.go is a stateful, record-routing proxy (RFC 3261 §16) for INVITE
// (and re-INVITE), ACK, BYE, CANCEL, OPTIONS to a user, MESSAGE, and any
// request within a dialog. It never anchors media: the SDP passes
// untouched and RTP goes phone to phone.
//
// Routing. An out-of-dialog request for an extension (the Request-URI's
// user) goes to the contacts registered here of the phones that serve it —
// home or guest, found through the admission view's index of phones by the
// extension they serve (admission.Table.PhonesServing; hot desking
// included; a phone's bindings are looked up under both the AoR of the
// user it serves and its base user's, since it may register either) —
// forked in parallel to all of them (at most 8; over UDP to
// the address their REGISTER came from, or over TCP or TLS for a phone
// registered over TCP or TLS: its registration's connection while it is
// open, else one dialled to its contact). When none is registered here it goes to the SIP
// endpoint (UDP, from the site's hello: PeerView.Endpoint) of the site
// where the user registers now: its home while the home serves SIP, the
// home's backup during failover (480 when that is this site), and for a
// user of this site this site's backup (a guest there while failback is in
// progress). An unknown extension is answered 404, one registered nowhere
// reachable 480. A request that came from a peer site's SIP endpoint (its
// source address is one the peer announced: admission.Table.PeerAt) is
// delivered only to phones registered here, never sent on to another site,
// so two sites never bounce a request between them; Max-Forwards (483 at
// zero) bounds any other loop. An out-of-dialog request goes only where
// these rules say: a Route naming this proxy (an outbound-proxy setting)
// is popped, one preloaded beyond it is refused with 403 (counted as an
// authentication failure), so that no client picks the next hop of a
// request the proxy authenticates. Listen on concrete addresses, not 0.0.0.0:
// the listen address is what peers see as the source, and what the proxy
// puts in its Via and Record-Route.
//
// Dialogs. The proxy adds a Record-Route (its address on the callee's
// transport, ;lr, with transport=tcp or transport=tls on those; two when
// the caller's transport differs, the callee's side on top: RFC 5658) to
// every dialog-creating INVITE, so the ACK of a 2xx, re-INVITEs and the
// BYE come back through it (through both sites' proxies for a call
// between sites). Each Record-Route carries a MAC of the dialog
// (;rly=, an HMAC-SHA-256 over the Call-ID and the caller's From tag,
// keyed by a key derived from the nonce secret): a request within a dialog
// is forwarded only if it carries this proxy's Route with the MAC of its
// own Call-ID and its From or To tag (either direction; popped; then to
// the next Route, else to the Request-URI, over the transport that URI
// names, else over the transport of the last Route popped: the proxy's
// side towards that hop). One without this proxy's Route is refused with
// 403, an ACK dropped; one whose Route names this proxy without the right
// MAC — anyone can write the proxy's address, and in-dialog requests are
// not challenged — likewise, counted as an authentication failure. Each
// proxy of a call between sites checks only its own Route. A next hop
// that is the contact of a phone registered here over UDP from another
// address (behind NAT) is sent to that address, as the dialog's INVITE
// was (natContacts: by the contact's user and address, until the
// binding expires; at most 100,000).
//
// Transactions. Each request received is a server transaction, each
// forwarded copy a client transaction (RFC 3261 §17), all under one mutex,
// with timers (time.AfterFunc: no goroutine each): 100 Trying to an
// INVITE at once; a retransmitted request is answered with the last
// response (absorbed after a 2xx); requests over UDP are retransmitted
// (Timers A and E), and a branch that never answers ends with a 408 of the
// proxy's own (B, F); an INVITE branch that rings for 3 minutes after its
// last provisional response other than 100 is cancelled (Timer C, armed by
// the first 1xx, re-armed by each 101-199). A CANCEL is answered 200 and cancels the pending branches of
// its INVITE (each once it rings), 481 when it matches none. The best
// final response is relayed (a 6xx, else the lowest class; a 503 becomes
// 500; 487 once cancelled); a 2xx is relayed at once and cancels the other
// branches, a 6xx cancels them too (relayed once they end); the callee's
// retransmitted 2xx passes (statelessly once its transaction is gone: for
// 64·T1, and only for a branch answered 2xx; any other response that
// matches no transaction is dropped and counted stray, never reflected to
// the Via it names). A non-2xx final is ACKed hop by hop downstream, and
// the caller's ACK of one is absorbed here (the final is retransmitted
// until it comes: Timer G). Transactions are kept 64·T1 after their final
// response to absorb retransmissions. Measured with SIPp on the 2-core
// test VM (shared): 1,000 calls/s (INVITE, 407, ACK, INVITE, 100, 180,
// 200, ACK, BYE, 200) through the proxy for 5 s, none failed, about
// 340 µs of CPU a call in the plugin (a third of a core at that rate),
// goroutines +4 at the peak (TestProxySIPpLoad); the REGISTER path is
// unchanged (BenchmarkUDPRegistration, about 37-40 µs before and after).
//
// Authentication. An out-of-dialog INVITE or MESSAGE from a phone is
// challenged with 407 (Proxy-Authenticate, the same digest and HA1
// credentials as REGISTER; the phone must be registered here). Requests
// from a peer site's SIP endpoint are trusted (the sites authenticate each
// other on the federation), and requests within a dialog that follow the
// Record-Route (with its MAC) are not challenged.
//
// Call state (calls.go). A phone is busy from the 2xx of an INVITE that
// set up a dialog through the proxy, as caller (the authenticated phone)
// or callee (the phone whose contact answered), until a BYE of the dialog
// passes, its registration here ends, or 12 hours pass. Changes are
// reported to the host asynchronously (Host.ReportCallState; `rally
// phones` shows busy) and feed admission: in graceful failback a busy
// guest stays until its call ends, and its next refresh is then refused
// with 503 + Retry-After. The proxy never sends a BYE of its own: a
// refused or changed registration leaves the call up (media
// preservation), and calls whose signalling ran through a dead site end
// on the phones.
//
// TCP (proxy_tcp.go). sipgo serves TCP, with its transport and
// transactions; its handlers hand requests to the same proxy, which
// answers through the sipgo server transaction (a CANCEL sipgo matches it
// answers itself; the proxy then cancels the branches). Requests to a
// phone on TCP go on a connection of sipgo's transport — the one the
// phone registered or last sent its contact on, else one dialled to its
// contact (never on a UDP reader: dialling may wait) — and their
// responses, which match no sipgo transaction, come to the proxy through
// sipgo's handler of unmatched responses. TCP writes leave the proxy's
// lock, in order per transaction, so a peer that stops reading blocks
// only itself. Peer sites are reached over UDP.
//
// The contacts of the phones that came over TCP or TLS are remembered
// with their connection (for a phone that does not listen on its
// contact), but only from what the proxy trusts: an authenticated
// REGISTER, a request it admitted —
// authenticated, or within a dialog it record-routed — and the responses
// to its own requests; an entry is not taken over by a connection from
// another IP address until it is an hour old, and the table is bounded:
// one entry out for each new one beyond 10,000.
//
// TLS is proxied as TCP is, on sipgo's TLS transport (the listener with
// the site's certificate, tls.go): requests from a phone on TLS are
// answered on its connection, requests to a phone registered over TLS
// (whatever its contact says; also a sips: or transport=tls contact) go on
// the connection it registered or last sent its contact on, with the
// proxy's Via (SIP/2.0/TLS and the TLS listener's address) and
// Record-Route (;transport=tls). Only when that connection is gone does
// the proxy dial the phone's contact over TLS, as a TLS client that
// verifies the phone: its certificate must chain to the federation's root
// CA and name the contact's address (dialTLSConfig). Phones rarely have
// such a certificate, so in practice a TLS phone is reached while its
// connection lasts — phones on TLS keep it open, refreshing their
// registration on it (RFC 5626 keep-alives help them) — and one whose
// connection dropped is unreachable (480) until it registers again. The
// proxy never dials a phone without verifying it: an unverified TLS
// connection is no better than TCP: whoever holds the contact's address
// on the network would get the phone's calls. The proxy presents no client
// certificate.
//
// Counters (proxyCounters): requests proxied and sent to peers, responses
// relayed, 404, 480, 407 challenges, 403 refusals, 483, 408 timeouts,
// CANCELs, 481, retransmissions absorbed, stray responses and requests,
// overload; malformed messages count with the registrar's (malformed).
//
// The packages digest (server-side digest) and registrar (the binding
// store) are beside it.
package sipplugin
