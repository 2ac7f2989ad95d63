package token

import (
	"crypto/sha256"
	"sync"
	"time"
)

// cacheShards spreads the verified-token cache over several locks.
const cacheShards = 16

// cache remembers tokens that verified, keyed by the SHA-256 of the raw
// token, until their exp. It holds at most its size in entries, evicting
// the oldest insertion first (FIFO, so that a hit takes only a read lock).
// Failures are never stored. A nil *cache stores nothing.
type cache struct {
	shards []cacheShard
}

type cacheShard struct {
	mu    sync.RWMutex
	m     map[[sha256.Size]byte]*cacheEntry
	order [][sha256.Size]byte // insertion ring; every key of m exactly once
	next  int                 // the ring slot to overwrite when full
	max   int
}

// cacheEntry is a verified token: its claims, the key that verified it
// (a hit needs the key still published) and when it stops being served.
type cacheEntry struct {
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
	c := &cache{shards: make([]cacheShard, n)}
	for i := range c.shards {
		c.shards[i].max = (size + n - 1) / n
		c.shards[i].m = make(map[[sha256.Size]byte]*cacheEntry)
	}
	return c
}

// cacheKey returns the cache key of raw, its SHA-256. It feeds raw to the
// hash through a buffer on the stack: converting a token to a []byte
// would allocate on every Verify.
func cacheKey(raw string) [sha256.Size]byte {
	h := sha256.New()
	var buf [512]byte
	for len(raw) > 0 {
		n := copy(buf[:], raw)
		h.Write(buf[:n])
		raw = raw[n:]
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

func (c *cache) shard(k [sha256.Size]byte) *cacheShard {
	return &c.shards[int(k[0])%len(c.shards)]
}

// get returns the entry for k if there is one that has not expired at now.
func (c *cache) get(k [sha256.Size]byte, now time.Time) *cacheEntry {
	if c == nil {
		return nil
	}
	s := c.shard(k)
	s.mu.RLock()
	e := s.m[k]
	s.mu.RUnlock()
	if e == nil || !now.Before(e.expires) {
		return nil
	}
	return e
}

// put stores e under k, evicting the oldest entry of k's shard when full.
// Expired entries stay until they are evicted or replaced; get ignores them.
func (c *cache) put(k [sha256.Size]byte, e *cacheEntry) {
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
