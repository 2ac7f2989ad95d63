package affinity

import (
	"sync"
	"time"
)

// DefaultTableCap is the number of entries a Table holds before it stops
// taking new keys.
const DefaultTableCap = 500_000

const tableShards = 32

// Table remembers which target a key (a client address, a binding id) was
// last bound to and when it was last seen. It serves two purposes: the
// source_ip binding table, whose entries expire after an idle timeout like
// Kubernetes' ClientIP timeoutSeconds, and the count of active bindings per
// target for metrics. It is safe for concurrent use.
//
// The table is bounded: once it holds its cap of entries, new keys are not
// stored (Put reports false) until Sweep frees room; existing keys are
// still updated. A bounded table cannot be grown without limit by hostile
// clients.
type Table struct {
	idle   time.Duration
	cap    int
	shards [tableShards]tableShard
}

type tableShard struct {
	mu sync.Mutex
	m  map[string]tableEntry
	n  int // mirrors len(m) for the cap check across shards
}

type tableEntry struct {
	target string
	last   time.Time
}

// NewTable returns a table whose entries expire after idle without use. A
// cap of 0 means DefaultTableCap.
func NewTable(idle time.Duration, cap int) *Table {
	if cap <= 0 {
		cap = DefaultTableCap
	}
	t := &Table{idle: idle, cap: cap}
	for i := range t.shards {
		t.shards[i].m = make(map[string]tableEntry)
	}
	return t
}

func (t *Table) shard(key string) *tableShard {
	// FNV-1a; any spread is good enough to cut lock contention.
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return &t.shards[h%tableShards]
}

// Get returns the target bound to key. expired reports that an entry
// existed but had been idle too long; it is removed.
func (t *Table) Get(key string, now time.Time) (target string, ok, expired bool) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, found := s.m[key]
	if !found {
		return "", false, false
	}
	if now.Sub(e.last) >= t.idle {
		delete(s.m, key)
		s.n--
		return "", false, true
	}
	return e.target, true, false
}

// Put binds key to target, seen now. It reports false when the key is new
// and the table is full.
func (t *Table) Put(key, target string, now time.Time) bool {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, found := s.m[key]; !found {
		if s.n >= t.cap/tableShards+1 {
			return false
		}
		s.n++
	}
	s.m[key] = tableEntry{target: target, last: now}
	return true
}

// Delete forgets key.
func (t *Table) Delete(key string) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, found := s.m[key]; found {
		delete(s.m, key)
		s.n--
	}
}

// Sweep removes the entries idle for longer than the idle timeout and
// returns how many live entries each target has.
func (t *Table) Sweep(now time.Time) map[string]int {
	counts := map[string]int{}
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if now.Sub(e.last) >= t.idle {
				delete(s.m, k)
				s.n--
				continue
			}
			counts[e.target]++
		}
		s.mu.Unlock()
	}
	return counts
}

// Len returns the number of entries, live or not yet swept.
func (t *Table) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += s.n
		s.mu.Unlock()
	}
	return n
}
