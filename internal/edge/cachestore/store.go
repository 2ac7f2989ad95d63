// Package cachestore is the edge cache's object store: responses in
// memory, bounded in bytes, evicted by W-TinyLFU.
//
// The Store knows nothing of HTTP semantics: the pipeline decides what to
// store, for how long, and which variant a request may use; the Store keeps
// objects within Options.MaxBytes, keeps the popular ones, and finds them
// again by key (with the URI they were stored for) or by URI for
// invalidation. Expired objects are kept (they serve stale-if-error and
// conditional revalidation) until the policy evicts them or the pipeline
// deletes them.
package cachestore

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/tetherlb/tether/internal/clock"
)

// DefaultMaxBytes is the bound used when Options.MaxBytes is zero or less:
// 256 MiB, the edges[].max_bytes default.
const DefaultMaxBytes = 256 << 20

// shardCount is the number of key shards, each with its own lock.
const shardCount = 64

// readBufLen is the number of hits a shard buffers before they are
// applied to the eviction policy.
const readBufLen = 16

// Options configures a Store. The zero value selects every default.
type Options struct {
	// MaxBytes bounds the sum of the stored objects' Size. Zero or less
	// means DefaultMaxBytes. An object whose body is larger than
	// MaxBytes/4, or whose Size is larger than MaxBytes/2, is refused.
	MaxBytes int64
	// Clock sets Object.Stored when Put is given a zero one. Nil means the
	// wall clock.
	Clock clock.Clock
	// OnEvict, if not nil, is called with every stored object the eviction
	// policy drops to make room, and every variant dropped for a newer one
	// past MaxVariants (not for Delete, invalidation or replacement),
	// after the Store's locks are released. It must not
	// block for long: it runs on the goroutine that called Put.
	OnEvict func(o *Object)
}

// Stats counts what a Store holds and what it has dropped.
type Stats struct {
	// Objects is the number of stored objects (variants count one each).
	Objects int
	// Bytes is the sum of the stored objects' Size; never above MaxBytes.
	Bytes uint64
	// Evictions counts stored objects dropped to make room, and variants
	// dropped past MaxVariants.
	Evictions uint64
	// Rejected counts admission decisions the candidate lost: objects the
	// frequency sketch judged less popular than the one they would have
	// displaced (including Puts that returned false for that reason).
	Rejected uint64
	// TooLarge counts Puts refused as too large (see Add).
	TooLarge uint64
	// Invalidated counts objects dropped by InvalidateURI and Invalidate.
	Invalidated uint64
	// Fenced counts objects Add refused because an invalidation of their
	// URI ran while they were fetched (ErrInvalidated).
	Fenced uint64
}

// Store holds cached objects in memory. Its methods are safe for
// concurrent use.
//
// Objects are found through 64 shards chosen by the hash of their URI,
// each under its own read-write lock (see slot.go), so concurrent hits on
// different URIs do not wait for one another and a hit never takes a
// store-wide lock: it counts the key in the lock-free frequency sketch,
// reads the shard under its read lock, and records the hit in a small
// per-shard buffer that is applied to the eviction policy later, by a Put
// or when the buffer fills (hits that find the buffer full or busy, or
// their object's previous hit still waiting in it, are not recorded for
// recency: frequency is what protects popular objects). Put, Delete and
// invalidation serialize on the policy lock.
//
// Eviction is W-TinyLFU (Einziger, Friedman and Manes, "TinyLFU: A Highly
// Efficient Cache Admission Policy", https://arxiv.org/abs/1512.00727),
// weighted by bytes: new objects enter a small LRU window (1% of
// MaxBytes); to move on into the segmented-LRU main space an object must
// be estimated more frequent, by a count-min sketch of recent requests,
// than the object it would displace. A one-time sweep over many cold keys
// therefore does not flush the popular working set. Frequencies count
// every Get, hit or miss: one event per request, as TinyLFU counts them
// (a miss and the Add that follows it are one request).
//
// The zero Store is not usable; make one with New.
type Store struct {
	maxBytes int64
	clock    clock.Clock
	onEvict  func(*Object)
	seed     maphash.Seed
	hashMask uint64 // all ones; tests narrow it to make keys' hashes collide
	sketch   *sketch
	shards   [shardCount]shard

	mu  sync.Mutex // the policy lock: pol; taken before a shard lock
	pol policy

	// gen is the invalidation generation, and fences what the Store
	// remembers of the last invalidations (see fence.go). gen is written
	// under mu.
	gen    atomic.Uint64
	fences fences

	// bufferedShards counts the shards whose buffered is set, so that a
	// Put under a load of misses alone skips looking at all 64. Only a
	// shard's first buffered hit since its last drain writes it.
	bufferedShards atomic.Int32

	objects, bytes                                     atomic.Int64
	evictions, rejected, tooLarge, invalidated, fenced atomic.Uint64

	// scanned, when tests set it, is called by Invalidate after each
	// shard it has scanned and cleared, with no lock held.
	scanned func(shard int)
	// listed, when tests set it, is called by Invalidate once it has
	// listed a shard's objects, before it matches them, with no lock held.
	listed func(shard int)
}

// shard holds the entries of the URIs that hash to it.
type shard struct {
	mu sync.RWMutex
	// m finds entries by their URI's hash (Store.uriHash): a slot holds
	// every key and variant of a URI. A map key without pointers costs the
	// collector nothing to scan.
	m     map[uint64]slot
	bufMu sync.Mutex
	buf   [readBufLen]*entry
	n     int
	// buffered is set when buf holds hits, so that a Put skips the shards
	// that have none without taking their locks.
	buffered atomic.Bool
	_        [64]byte // keeps the next shard's locks off this one's cache line
}

// New returns an empty Store.
func New(opts Options) *Store {
	s := &Store{maxBytes: opts.MaxBytes, clock: opts.Clock, onEvict: opts.OnEvict}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxBytes
	}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	s.seed, s.hashMask = maphash.MakeSeed(), ^uint64(0)
	// Size the sketch for 4 KiB objects, at least 1024 of them.
	s.sketch = newSketch(int(min(max(s.maxBytes/4096, 1024), 1<<22)))
	for i := range s.shards {
		s.shards[i].m = make(map[uint64]slot)
	}
	s.pol.init(s.maxBytes)
	s.gen.Store(1)
	return s
}

// hash is the key's hash under the Store's random seed, so that request
// keys cannot be ground to collide in the sketch or in a slot. It only
// spreads keys: lookups compare keys whole.
func (s *Store) hash(key string) uint64 {
	return maphash.String(s.seed, key) & s.hashMask
}

// uriHash is u's hash under the Store's seed: it chooses the shard and
// the slot of the objects stored for u. Each field is hashed alone, the
// empty ones (most tenants and queries) not at all, and mixed in with a
// multiplier of its own, so that the same bytes in another field hash
// differently; like hash, it only spreads URIs.
func (s *Store) uriHash(u URI) uint64 {
	h := maphash.String(s.seed, u.Path)
	if u.Host != "" {
		h ^= maphash.String(s.seed, u.Host) * 0x9e3779b97f4a7c15
	}
	if u.Tenant != "" {
		h ^= maphash.String(s.seed, u.Tenant) * 0xc2b2ae3d27d4eb4f
	}
	if u.Query != "" {
		h ^= maphash.String(s.seed, u.Query) * 0x165667b19e3779f9
	}
	return h & s.hashMask
}

func (s *Store) shard(uh uint64) *shard { return &s.shards[uh>>58] }

// Ref names what a request looks up: the primary key (Object.Key) and the
// URI an object under that key is stored for (Object.Tenant, Host, Path
// and Query; see Object.Ref). A key names one URI: two Refs with the same
// Key and different URIs are a caller's mistake, and find nothing.
type Ref struct {
	Key string
	URI URI
}

// Get returns the first stored variant under r for which match returns
// true (any variant when match is nil), and whether there was one. Hit or
// miss, it counts one request for r's key in the frequency sketch. match
// runs under the shard's read lock: it must be quick and must not call
// the Store.
func (s *Store) Get(r Ref, match func(*Object) bool) (*Object, bool) {
	h := s.hash(r.Key)
	s.sketch.increment(h)
	uh := s.uriHash(r.URI)
	sh := s.shard(uh)
	var e *entry
	var o *Object
	sh.mu.RLock()
	for _, c := range sh.m[uh].lookup(h) {
		if c.hash == h && c.key == r.Key && (match == nil || match(c.obj)) {
			e, o = c, c.obj
			break
		}
	}
	sh.mu.RUnlock()
	if e == nil {
		return nil, false
	}
	s.recordHit(sh, e)
	return o, true
}

// Contains reports whether any variant is stored under r. Unlike Get, it
// counts nothing, neither a request in the frequency sketch nor a hit for
// the policy: it is a request's second look at a key its Get already
// counted.
func (s *Store) Contains(r Ref) bool {
	h, uh := s.hash(r.Key), s.uriHash(r.URI)
	sh := s.shard(uh)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	for _, c := range sh.m[uh].lookup(h) {
		if c.hash == h && c.key == r.Key {
			return true
		}
	}
	return false
}

// recordHit buffers a hit on e for the policy; when the buffer fills, it
// applies the buffers if the policy lock is free.
func (s *Store) recordHit(sh *shard, e *entry) {
	if e.hitPending.Load() || !sh.bufMu.TryLock() {
		return
	}
	full := sh.n == readBufLen
	if !full && !e.hitPending.Load() {
		sh.buf[sh.n] = e
		sh.n++
		full = sh.n == readBufLen
		if !sh.buffered.Load() {
			sh.buffered.Store(true)
			s.bufferedShards.Add(1)
		}
		e.hitPending.Store(true)
	}
	sh.bufMu.Unlock()
	if full && s.mu.TryLock() {
		s.drainShardLocked(sh)
		s.mu.Unlock()
	}
}

// drainLocked applies every buffered hit to the policy. The caller holds
// s.mu.
func (s *Store) drainLocked() {
	if s.bufferedShards.Load() == 0 {
		return // a hit being buffered now is applied by a later drain
	}
	for i := range s.shards {
		s.drainShardLocked(&s.shards[i])
	}
}

// drainShardLocked applies the hits buffered in sh to the policy. The
// caller holds s.mu.
func (s *Store) drainShardLocked(sh *shard) {
	if !sh.buffered.Load() {
		return // a hit being buffered now is applied by a later drain
	}
	var hits [readBufLen]*entry
	sh.bufMu.Lock()
	n := copy(hits[:], sh.buf[:sh.n])
	clear(sh.buf[:sh.n])
	sh.n = 0
	if sh.buffered.Load() {
		sh.buffered.Store(false)
		s.bufferedShards.Add(-1)
	}
	sh.bufMu.Unlock()
	for _, e := range hits[:n] {
		e.hitPending.Store(false)
		s.pol.onHit(e)
	}
}

// Put stores o, as Add does, and reports whether it did.
func (s *Store) Put(o *Object) bool { return s.Add(o) == nil }

// Add stores o, replacing the object with the same Key and Variant, or,
// when o's key has MaxVariants other variants, the oldest of them. It
// stores nothing and returns ErrTooLarge if o's body is larger than
// MaxBytes/4 (the edge's largest max_object_bytes: a body of that size is
// stored, its header and bookkeeping counted on top) or its Size larger
// than MaxBytes/2,
// or ErrInvalidated if an invalidation that covers o's URI ran after
// o.Generation (see Generation); it returns ErrNotAdmitted if the
// admission policy preferred the objects o would have displaced, and a
// replaced object is then gone too. Add sets o.Stored if it is zero; o
// must not be changed afterwards.
func (s *Store) Add(o *Object) error {
	size := o.Size()
	if int64(len(o.Body)) > s.maxBytes/4 || size > s.maxBytes/2 {
		s.tooLarge.Add(1)
		return ErrTooLarge
	}
	if o.Stored.IsZero() {
		o.Stored = s.clock.Now()
	}
	u := o.Ref().URI
	e := &entry{obj: o, key: o.Key, hash: s.hash(o.Key), uriHash: s.uriHash(u), size: size}
	e.self[0] = e
	s.mu.Lock()
	if s.fencedLocked(o.Generation, u, e.uriHash) {
		s.mu.Unlock()
		s.fenced.Add(1)
		return ErrInvalidated
	}
	s.drainLocked()
	sh := s.shard(e.uriHash)
	sh.mu.Lock()
	sl, old := sh.m[e.uriHash].put(e)
	sh.m[e.uriHash] = sl
	var dropped *Object // another variant, the oldest of too many
	if old != nil {
		if old.obj.Variant != o.Variant {
			dropped = old.obj
		}
		old.obj = nil
	}
	sh.mu.Unlock()
	r := regionWindow
	if old != nil {
		r = old.region // the new version keeps the old one's standing
		s.unaccountLocked(old)
	}
	s.pol.add(e, r)
	s.accountLocked(e)
	evicted, kept := s.maintainLocked(e)
	if dropped != nil {
		evicted = append(evicted, dropped)
		s.evictions.Add(1)
	}
	s.mu.Unlock()
	if s.onEvict != nil {
		for _, o := range evicted {
			s.onEvict(o)
		}
	}
	if !kept {
		return ErrNotAdmitted
	}
	return nil
}

// Delete removes every variant stored under r.
func (s *Store) Delete(r Ref) {
	s.deleteWhere(r, func(*Object) bool { return true })
}

// DeleteObject removes o if it is still stored, and leaves the other
// variants of its key: a revalidation that replaces or drops one variant
// must not take its siblings, fresh ones included.
func (s *Store) DeleteObject(o *Object) {
	s.deleteWhere(o.Ref(), func(v *Object) bool { return v == o })
}

// DeleteVariants removes the variants stored under o's key, o aside, for
// which obsolete returns true (it runs under the shard's read lock: it
// must be quick and must not call the Store). It returns how many it
// removed.
func (s *Store) DeleteVariants(o *Object, obsolete func(*Object) bool) int {
	return s.deleteWhere(o.Ref(), func(v *Object) bool { return v != o && obsolete(v) })
}

// deleteWhere removes the variants stored under r for which doomed
// returns true, and returns how many.
func (s *Store) deleteWhere(r Ref, doomed func(*Object) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, uh := s.hash(r.Key), s.uriHash(r.URI)
	sh := s.shard(uh)
	var vs []*entry
	sh.mu.RLock()
	for _, e := range sh.m[uh].lookup(h) {
		if e.hash == h && e.key == r.Key && doomed(e.obj) {
			vs = append(vs, e)
		}
	}
	sh.mu.RUnlock()
	for _, e := range vs {
		s.removeLocked(e)
	}
	return len(vs)
}

// Stats returns the Store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Objects:     int(s.objects.Load()),
		Bytes:       uint64(s.bytes.Load()),
		Evictions:   s.evictions.Load(),
		Rejected:    s.rejected.Load(),
		TooLarge:    s.tooLarge.Load(),
		Invalidated: s.invalidated.Load(),
		Fenced:      s.fenced.Load(),
	}
}

// accountLocked counts a newly added entry. The caller holds s.mu.
func (s *Store) accountLocked(e *entry) {
	s.objects.Add(1)
	s.bytes.Add(e.size)
}

// unaccountLocked undoes accountLocked for an entry that has already left
// its shard, and takes it out of the policy. The caller holds s.mu.
func (s *Store) unaccountLocked(e *entry) {
	s.pol.unlink(e)
	s.objects.Add(-1)
	s.bytes.Add(-e.size)
}

// removeLocked takes a stored entry out of its shard and the policy. The
// caller holds s.mu.
func (s *Store) removeLocked(e *entry) {
	sh := s.shard(e.uriHash)
	sh.mu.Lock()
	if sl, empty := sh.m[e.uriHash].remove(e); empty {
		delete(sh.m, e.uriHash)
	} else {
		sh.m[e.uriHash] = sl
	}
	e.obj = nil
	sh.mu.Unlock()
	s.unaccountLocked(e)
}
