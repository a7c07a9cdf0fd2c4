package sipplugin

import (
	"sync"
	"time"
)

// The retransmission cache of the UDP path: what RFC 3261 §17.2.2 asks of
// a non-INVITE server transaction, without a transaction object per
// request. See the package doc ("The UDP path") for the bounds.
const (
	// txTimerJ is how long a final response is kept for retransmissions:
	// Timer J, 64×T1 for UDP.
	txTimerJ = 64 * 500 * time.Millisecond
	// txGenWidth is the time slice of one generation: responses are
	// dropped a generation at a time.
	txGenWidth = time.Second
	// txCacheBytes bounds the memory of the cached responses (their bytes
	// plus txEntryOverhead each). Under a registration storm it, not
	// Timer J, sets how long a response is kept: 64 MiB hold about
	// 125,000 responses, 2 s at 30,000 registrations/s (two responses
	// each), which still covers a client's first retransmissions
	// (T1 = 0.5 s, then 1.5 s after the first send). See the package doc.
	txCacheBytes = 64 << 20
	// txEntryOverhead is what a cached response costs besides its bytes:
	// its table entry (32 bytes, at a load of 1/2 or more) and its key in
	// its generation's list (16).
	txEntryOverhead = 80
	txShards        = 32
	// txGens is the ring of generations of a shard: Timer J in
	// generations, plus the current one and one being dropped.
	txGens = int(txTimerJ/txGenWidth) + 2
	// txSplit: a generation holds at most 1/txSplit of a shard's bytes, so
	// that dropping the oldest one under the byte bound keeps most.
	txSplit   = 4
	txChunk   = 64 << 10 // responses are copied into chunks of this size
	txMaxFree = 2        // chunks a shard keeps for reuse
	// txMaxKeys: a dropped generation keeps its key list for reuse up to
	// this capacity; a longer one (a storm's) goes to the GC rather than
	// stay reserved in each of the txGens slots.
	txMaxKeys = 1024
)

// txKey identifies a server transaction: a 128-bit keyed hash of the
// fields RFC 3261 §17.2.3 matches on (see udpWorker.key). The cache holds
// no pointers, so the garbage collector never scans it.
type txKey [2]uint64

// txState is what begin found.
type txState int

const (
	txNew      txState = iota // first sight: the caller processes it and calls finish or abort
	txInFlight                // the same request is being processed: drop this copy
	txAnswered                // answered before: resend the response begin returned (if any)
)

// txCache remembers the final responses of recent server transactions,
// serialized, so that a retransmitted request gets the same bytes again
// without being processed twice. It is sharded by key; each shard keeps its
// responses in generations (of txGenWidth, or 1/txSplit of its bytes under
// a storm) and drops the oldest generation whole, once older than
// txTimerJ or when the shard is over its share of the byte bound.
type txCache struct {
	ttl, width int64 // ns
	shardCap   int   // bytes per shard
	shards     [txShards]txShard
}

type txShard struct {
	mu    sync.Mutex
	done  txTable // answered, or in flight (generation 0)
	gens  [txGens]txGen
	cur   int    // index of the current generation in gens
	next  uint32 // number of the next generation
	bytes int    // accounted bytes of all generations
	free  [][]byte
	_     [64]byte
}

// txGen is one generation: the keys it answered and their bytes.
type txGen struct {
	no     uint32 // 0: empty
	start  int64  // ns
	keys   []txKey
	chunks [][]byte
	bytes  int
}

// txSlot locates a response: generation (number and index in the ring),
// chunk, offset, length. A zero length means "answered with silence" (a
// refusal by drop). Generation number 0 (which no generation has, so that
// no drop removes it) marks a request in flight.
type txSlot struct {
	no         uint32
	gen, chunk uint16
	off, n     uint32
}

func newTxCache(ttl, width time.Duration, capBytes int) *txCache {
	c := &txCache{ttl: int64(ttl), width: int64(width), shardCap: max(capBytes/txShards, txChunk)}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.done.init(64)
		sh.next = 1
	}
	return c
}

func (c *txCache) shard(k txKey) *txShard { return &c.shards[k[0]%txShards] }

// begin looks k up. txAnswered appends the cached response to dst and
// returns it (nothing for a silent answer); txNew marks k in flight.
func (c *txCache) begin(k txKey, now time.Time, dst []byte) (txState, []byte) {
	sh := c.shard(k)
	nowNs := now.UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i := sh.done.find(k)
	if i >= 0 {
		s := sh.done.tab[i].s
		if s.no == 0 {
			return txInFlight, dst
		}
		g := &sh.gens[s.gen]
		if g.no == s.no && nowNs-g.start <= c.ttl+c.width {
			if s.n > 0 {
				dst = append(dst, g.chunks[s.chunk][s.off:s.off+s.n]...)
			}
			return txAnswered, dst
		}
		// expired (its generation goes at the next rotation): a new request
		sh.done.tab[i].s = txSlot{}
		return txNew, dst
	}
	sh.done.put(k, txSlot{})
	return txNew, dst
}

// abort forgets k in flight without an answer: a copy that arrives later
// is processed.
func (c *txCache) abort(k txKey) {
	sh := c.shard(k)
	sh.mu.Lock()
	if i := sh.done.find(k); i >= 0 && sh.done.tab[i].s.no == 0 {
		sh.done.remove(i)
	}
	sh.mu.Unlock()
}

// finish records res (nil: answered with silence) as the answer of k.
func (c *txCache) finish(k txKey, res []byte, now time.Time) {
	sh := c.shard(k)
	nowNs := now.UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	g := &sh.gens[sh.cur]
	if g.no == 0 || nowNs-g.start >= c.width || g.bytes >= c.shardCap/txSplit {
		g = sh.rotate(nowNs, c.ttl+c.width)
	}
	slot := txSlot{no: g.no, gen: uint16(sh.cur)}
	if len(res) > 0 {
		last := len(g.chunks) - 1
		if last < 0 || len(g.chunks[last])+len(res) > cap(g.chunks[last]) {
			g.chunks = append(g.chunks, sh.chunk(len(res)))
			last++
		}
		ch := g.chunks[last]
		slot.chunk, slot.off, slot.n = uint16(last), uint32(len(ch)), uint32(len(res))
		g.chunks[last] = append(ch, res...)
	}
	sh.done.put(k, slot)
	g.keys = append(g.keys, k)
	n := len(res) + txEntryOverhead
	g.bytes += n
	sh.bytes += n
	for sh.bytes > c.shardCap && sh.dropOldest() {
	}
}

// rotate starts a new current generation, dropping the one whose slot it
// reuses and those older than ttl.
func (sh *txShard) rotate(nowNs, ttl int64) *txGen {
	sh.expire(nowNs, ttl)
	sh.cur = (sh.cur + 1) % txGens
	g := &sh.gens[sh.cur]
	sh.drop(g)
	g.no, g.start = sh.next, nowNs
	sh.next++
	if sh.next == 0 { // wrapped: 0 marks an empty generation
		sh.next = 1
	}
	return g
}

// expire drops the generations that began more than ttl ago.
func (sh *txShard) expire(nowNs, ttl int64) {
	for i := 1; i < txGens; i++ {
		g := &sh.gens[(sh.cur+i)%txGens]
		if g.no != 0 && nowNs-g.start > ttl {
			sh.drop(g)
		}
	}
}

// dropOldest drops the oldest generation but the current one; false when
// there is none.
func (sh *txShard) dropOldest() bool {
	for i := 1; i < txGens; i++ {
		if g := &sh.gens[(sh.cur+i)%txGens]; g.no != 0 {
			sh.drop(g)
			return true
		}
	}
	return false
}

// drop empties g: its keys leave the table (unless a later generation
// answered them since), its chunks go back to the free list.
func (sh *txShard) drop(g *txGen) {
	if g.no == 0 {
		return
	}
	for _, k := range g.keys {
		if i := sh.done.find(k); i >= 0 && sh.done.tab[i].s.no == g.no {
			sh.done.remove(i)
		}
	}
	for _, ch := range g.chunks {
		if len(sh.free) < txMaxFree && cap(ch) == txChunk {
			sh.free = append(sh.free, ch[:0])
		}
	}
	clear(g.chunks)
	sh.bytes -= g.bytes
	keys := g.keys[:0]
	if cap(keys) > txMaxKeys {
		keys = nil
	}
	*g = txGen{keys: keys, chunks: g.chunks[:0]}
}

// chunk returns an empty chunk with room for n bytes.
func (sh *txShard) chunk(n int) []byte {
	if n > txChunk {
		return make([]byte, 0, n)
	}
	if k := len(sh.free); k > 0 {
		ch := sh.free[k-1]
		sh.free = sh.free[:k-1]
		return ch
	}
	return make([]byte, 0, txChunk)
}

// sweep drops expired generations of idle shards (finish does it for busy
// ones); run it every second or so.
func (c *txCache) sweep(now time.Time) {
	nowNs := now.UnixNano()
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.expire(nowNs, c.ttl+c.width)
		if g := &sh.gens[sh.cur]; g.no != 0 && nowNs-g.start > c.ttl+c.width {
			sh.drop(g)
		}
		sh.mu.Unlock()
	}
}

// stats returns the responses held and their accounted bytes.
func (c *txCache) stats() (entries, bytes int) {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		entries += sh.done.n
		bytes += sh.bytes
		sh.mu.Unlock()
	}
	return entries, bytes
}

// txTable is the map of a shard from keys to slots: open addressing with
// linear probing and backward-shift deletion, 32 bytes an entry, so that a
// look-up touches one cache line where a Go map touches two or three (it
// is the one random access of every request). It holds no pointers.
type txTable struct {
	tab  []txEntry // length a power of two
	n    int
	mask uint64
}

type txEntry struct {
	k txKey // {0, 0}: empty (keys are stored with the low bit of k[1] set)
	s txSlot
}

func (t *txTable) init(size int) {
	t.tab = make([]txEntry, size)
	t.mask = uint64(size - 1)
	t.n = 0
}

func tableKey(k txKey) txKey {
	k[1] |= 1
	return k
}

// find returns the index of k, or -1.
func (t *txTable) find(k txKey) int {
	k = tableKey(k)
	for i := k[1] >> 1 & t.mask; ; i = (i + 1) & t.mask {
		e := &t.tab[i]
		if e.k == k {
			return int(i)
		}
		if e.k == (txKey{}) {
			return -1
		}
	}
}

// put sets the slot of k, adding k if absent.
func (t *txTable) put(k txKey, s txSlot) {
	if (t.n+1)*8 > len(t.tab)*5 { // load above 5/8: grow
		old := t.tab
		t.init(2 * len(old))
		for _, e := range old {
			if e.k != (txKey{}) {
				t.insert(e.k, e.s)
			}
		}
	}
	k = tableKey(k)
	for i := k[1] >> 1 & t.mask; ; i = (i + 1) & t.mask {
		e := &t.tab[i]
		if e.k == k {
			e.s = s
			return
		}
		if e.k == (txKey{}) {
			*e = txEntry{k: k, s: s}
			t.n++
			return
		}
	}
}

// insert adds k (in table form, absent) without growing.
func (t *txTable) insert(k txKey, s txSlot) {
	for i := k[1] >> 1 & t.mask; ; i = (i + 1) & t.mask {
		if e := &t.tab[i]; e.k == (txKey{}) {
			*e = txEntry{k: k, s: s}
			t.n++
			return
		}
	}
}

// remove deletes the entry at i, shifting back the entries after it that
// probed past it.
func (t *txTable) remove(i int) {
	hole := uint64(i)
	for j := (hole + 1) & t.mask; ; j = (j + 1) & t.mask {
		e := &t.tab[j]
		if e.k == (txKey{}) {
			break
		}
		home := e.k[1] >> 1 & t.mask
		// e stays if its home is cyclically in (hole, j]
		if (hole < j && hole < home && home <= j) || (hole > j && (home > hole || home <= j)) {
			continue
		}
		t.tab[hole] = *e
		hole = j
	}
	t.tab[hole] = txEntry{}
	t.n--
}
