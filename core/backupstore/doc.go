// Package backupstore holds the records this site has replicated from its
// peers, per home site: full records with credentials for the homes this
// site backs up, the redacted directory index for the others.
//
// Two implementations share one engine and one set of semantics: [Memory]
// (the default; credentials of another site never touch this site's disk,
// and a restart loses them) and [Durable] (opt-in, store.durable_backups: a
// bbolt file, reloaded in full at open, so resilience survives a restart).
// Both keep every held record in memory as its marshalled proto bytes, so
// reads never touch the disk.
//
// # Applying batches
//
// [Store.Apply] takes the RecordBatch frames of a federation stream:
//
//   - SNAPSHOT: the batch with snapshot_begin starts a staging copy (an
//     earlier snapshot begun but never ended is discarded); later chunks add
//     to it; the batch with snapshot_end atomically replaces the home's copy
//     with exactly the staged records and sets the held revision to the
//     batch's revision. One batch may both begin and end a snapshot.
//   - INCREMENT: each record newer than both the held revision and the
//     record held under its key is applied (a tombstone deletes), then the
//     held revision becomes max(held, batch revision). Re-applying a batch,
//     or an older one, changes nothing. An increment needs a held copy
//     (a completed snapshot) of the same fullness and is refused during a
//     snapshot.
//
// A batch that is refused changes nothing: not the held copy, not the
// staging copy. A record whose home_site is not the batch's home is refused
// with [ErrWrongHome]; a batch that does not fit the sequence above with
// [ErrSequence]. In the durable store each increment, and each snapshot
// swap, is one bbolt transaction.
//
// # Watching changes
//
// [Store.Watch] registers a function that receives a [Change] after every
// commit: one [ChangePut] or [ChangeDelete] per record an increment changed,
// in batch order, and one [ChangeReset] when a home's copy was replaced
// wholesale (snapshot swap) or dropped ([Store.Forget]). On a reset the
// watcher rebuilds its view of that home from [Store.Each], which already
// shows the new copy; this lets a consumer such as the admission table
// build the new view aside and swap it in, never exposing a half-filled
// table.
package backupstore
