// Package federation links sites: one long-lived bidirectional gRPC stream
// per linked pair over mutual TLS (DESIGN §2).
//
// One stream per pair: the stream dialled by the site whose name sorts
// first is the one kept. Peers are often configured on one side only (or
// added with `rally link ADDR`), so a site dials every peer whose address
// it knows, including addresses learned from a peer's hello; when both ends
// dial at once, both keep the stream from the site that sorts first and
// refuse the other. A newer stream otherwise replaces an older one, which
// is how a half-open connection is cleared. The peer's name is always taken
// from its verified certificate (URI SAN rally://site/NAME), never from what
// the hello claims.
//
// On a stream each side first sends a Hello carrying its settings, so that a
// refusal (see Compatible) can name both values. Then both sides send
// heartbeats and replicate their directory: a chunked snapshot when the peer
// holds nothing usable, increments in revision order after that, each batch
// acknowledged once the peer has applied it. The peer's resume revision comes
// from its hello, so a cut link resumes where it stopped; applying is
// idempotent by revision, so nothing is lost or applied twice.
//
// Any frame is proof of life. A stream silent for failover_after is torn
// down by a watchdog, which also catches silent loss and half-open
// connections; the site's resilience machines read LastHeard to decide
// suspect and failover.
package federation
