package token

import (
	"hash/maphash"
	"sync"
	"time"
)

// cacheShards spreads the verified-token cache over several locks.
const cacheShards = 16

// cache remembers tokens that verified, keyed by a seeded 64-bit hash of
// the raw token (hash/maphash, with a random seed per cache, so collisions
// cannot be aimed at), until their exp. Each entry keeps the token itself
// and a hit compares it in full, so a collision is only ever a miss. It holds at most its size in entries, evicting
// the oldest insertion first (FIFO, so that a hit takes only a read lock).
// Failures are never stored. A nil *cache stores nothing.
type cache struct {
	seed   maphash.Seed
	shards []cacheShard
}

type cacheShard struct {
	mu    sync.RWMutex
	m     map[uint64]*cacheEntry
	order []uint64 // insertion ring; every key of m exactly once
	next  int      // the ring slot to overwrite when full
	max   int
}

// cacheEntry is a verified token: its claims, the key that verified it
// (a hit needs the key still published) and when it stops being served.
type cacheEntry struct {
	raw     string
	claims  *Claims
	key     *verifyKey
	expires time.Time
}

// newCache returns a cache of about size entries, or nil if size < 1.
func newCache(size int) *cache {
	if size < 1 {
		return nil
	}
	n := cacheShards
	if size < 4*cacheShards {
		n = 1
	}
	c := &cache{seed: maphash.MakeSeed(), shards: make([]cacheShard, n)}
	for i := range c.shards {
		c.shards[i].max = (size + n - 1) / n
		c.shards[i].m = make(map[uint64]*cacheEntry)
	}
	return c
}

// key returns the cache key of raw.
func (c *cache) key(raw string) uint64 { return maphash.String(c.seed, raw) }

func (c *cache) shard(k uint64) *cacheShard {
	return &c.shards[k%uint64(len(c.shards))]
}

// get returns the entry of raw, whose key is k, if there is one that has
// not expired at now.
func (c *cache) get(k uint64, raw string, now time.Time) *cacheEntry {
	if c == nil {
		return nil
	}
	s := c.shard(k)
	s.mu.RLock()
	e := s.m[k]
	s.mu.RUnlock()
	if e == nil || e.raw != raw || !now.Before(e.expires) {
		return nil
	}
	return e
}

// put stores e under k, evicting the oldest entry of k's shard when full.
// Expired entries stay until they are evicted or replaced; get ignores them.
func (c *cache) put(k uint64, e *cacheEntry) {
	if c == nil {
		return
	}
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; ok {
		s.m[k] = e
		return
	}
	if len(s.order) < s.max {
		s.order = append(s.order, k)
	} else {
		delete(s.m, s.order[s.next])
		s.order[s.next] = k
		s.next = (s.next + 1) % s.max
	}
	s.m[k] = e
}

// len returns the number of entries, expired ones included.
func (c *cache) len() int {
	if c == nil {
		return 0
	}
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
