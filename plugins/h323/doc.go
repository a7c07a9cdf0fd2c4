// Package h323plugin is the H.323 gatekeeper of rally: an H.225.0 RAS
// server on UDP (port 1719 by default) that registers the site's H.323
// phones and, during a failover, the phones of the homes the site backs
// up, as guests (DESIGN §1.1, §1.3, §1.10).
//
// It runs as a plugin process (rally plugin-serve h323) and, like the SIP
// plugin, decides admission from the local view the host streams
// (sdk.View): no round trip per RRQ.
//
//   - GRQ → GCF/GRJ; RRQ → RCF/RRJ with an endpointIdentifier and a
//     timeToLive; lightweight RRQs refresh, expiry unregisters; URQ both
//     ways (the endpoint leaving, or the gatekeeper sending it elsewhere).
//   - A phone is known by its directory phone id, which must be one of
//     its aliases (h323-ID or dialedDigits); the RCF grants the aliases of
//     the user the phone serves (its extension and h323_ids), so user
//     resilience follows: a guest serves its base user (a hot-desked user
//     is logged out), a home phone the hot-desked user if any.
//   - The GCF and RCF of a home phone name the site's backup as alternate
//     gatekeeper (learned from the peers' hellos), those of a guest its
//     home. A phone homed at a live peer gets an RRJ (reason refuse,
//     default resourceUnavailable) whose altGKInfo names its home.
//   - Failback is active: a guest the admission rule no longer admits
//     (automatic or manual failback done; in graceful mode as soon as it
//     has no call) gets a URQ naming its home as alternate gatekeeper with
//     needToRegister. ARQ and DRQ tell the gatekeeper when calls start and
//     end (reported to the host as call state).
//   - Calls use direct endpoint call signalling: an ARQ gets an ACF with
//     the callee's call signal address, found among the registrations
//     here or by LRQ to the peers' gatekeepers; calls do not depend on the
//     gatekeeper once admitted.
//
// Every malformed datagram is dropped and counted, never a panic.
//
// The RAS codec is the sub-package ras; h323sim is an endpoint simulator
// on it, for tests and the demo.
package h323plugin
