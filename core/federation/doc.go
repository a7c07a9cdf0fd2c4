// Package federation links sites: one long-lived bidirectional gRPC stream
// per linked pair over mutual TLS (DESIGN §2).
//
// The site whose name sorts first dials; the other accepts. A site that was
// told of a peer with `rally link ADDR` but sorts second dials once to
// introduce itself; the peer learns its address from the hello and dials from
// then on. The peer's name is always taken from its verified certificate
// (URI SAN rally://site/NAME), never from what the hello claims.
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
