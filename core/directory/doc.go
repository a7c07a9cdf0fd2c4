// Package directory is this site's own directory: the users, phones, hunt
// groups and voicemail boxes homed here, stored durably in a bbolt file.
//
// Every record is a *federationv1.Record whose key is "<kind>/<id>" (see
// [Key]). Each change — a put or a delete — takes the next store revision;
// revisions only grow and survive restarts. A delete leaves a tombstone so
// that peers replicating the directory learn about it from [Store.Changes];
// [Store.Compact] drops old tombstones, after which a peer that resumes from
// a revision below [Store.Compacted] needs a full [Store.Snapshot] instead.
//
// The bbolt file holds three buckets:
//
//	records  key → Record (proto, deterministic), tombstones included
//	byrev    8-byte big-endian revision → key, one entry per key at its
//	         newest revision
//	meta     "revision", "compacted" (8-byte big-endian) and "site"
//
// At first start the store is seeded from the directory YAML file
// ([Store.Seed], [LoadSeed]); after that the store is the truth. Plaintext
// secrets in that file are hashed on load (SIP digest HA1, SHA-256 of PINs
// and hot-desk codes) and never stored in clear.
//
// [Redact] strips credentials from a record for the directory index that is
// sent to peers that do not back this site up.
package directory
