// Package memstore is the embedded, in-memory session.Store: the default
// when tether and the application run as one process on one machine.
//
// Records live in the process's memory, so they are lost when it exits and
// are not shared with other processes. Use session/filestore to keep
// sessions across restarts on one machine, and a shared store (redisstore,
// pgstore) behind several replicas or a load balancer without affinity.
//
// The Store is bounded: see Options.MaxEntries and the eviction policy
// described on Store. A stored session costs about 200 bytes of memory
// beyond its value, and each logged-in user about 140 more for the per-user
// index; BenchmarkMemoryPerSession measures a typical mix.
package memstore

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/session"
)

// Defaults for the zero fields of Options.
const (
	DefaultMaxEntries    = 1_000_000
	DefaultSweepInterval = time.Minute
)

// shardCount is the number of record shards and of user-index shards, each
// with its own lock: enough that 2 to 64 cores rarely wait for one another.
const shardCount = 64

// Options configures a Store. The zero value selects every default.
type Options struct {
	// MaxEntries bounds the number of records the Store holds, live or
	// expired but not yet swept. Zero or less means DefaultMaxEntries
	// (1,000,000, about 300 MB with 100-byte values).
	MaxEntries int
	// Clock tells the time records expire by and paces the sweeper. Nil
	// means the wall clock.
	Clock clock.Clock
	// SweepInterval is the time between two sweeps that delete expired
	// records. Zero or less means DefaultSweepInterval (one minute).
	SweepInterval time.Duration
}

// Stats counts what a Store holds and what it has dropped.
type Stats struct {
	// Entries is the number of records held, including expired records the
	// sweeper has not reached yet.
	Entries int
	// Evictions counts live records dropped to make room for a Create.
	Evictions uint64
	// Expired counts expired records deleted by the sweeper, by a Create
	// that made room, or by a Create that reused the ID.
	Expired uint64
}

// Store is a session.Store in memory. Make one with New; its methods are
// safe for concurrent use, and they never block on I/O, so they ignore
// their context.
//
// Records are spread over 64 shards by a hash of their ID, each guarded by
// its own read-write lock; Update's compare-and-swap runs under the lock
// of the record's shard. Tenants and users are kept by value, so no two
// (tenant, ID) pairs share a record whatever bytes they contain. Values are
// copied on the way in and on the way out: a caller may reuse its buffers.
//
// Get, Update, ListUser and DeleteUser treat a record at or past its
// Expires as absent at once; a background sweeper deletes such records
// every Options.SweepInterval, a bounded chunk of a shard at a time so that
// it never holds a lock for long.
//
// When a Create would make the Store hold more than Options.MaxEntries
// records, it first makes room. It picks a shard at random and samples
// five of its records at random; if any of them has expired it deletes
// those, and otherwise it evicts the sampled record closest to expiry.
// This approximates evicting the record closest to expiry in the whole
// Store, as Redis's volatile-ttl policy does
// (https://redis.io/docs/latest/develop/reference/eviction/), without
// keeping records ordered. Stats counts the evictions.
type Store struct {
	clock    clock.Clock
	max      int64
	seed     maphash.Seed
	shards   [shardCount]shard
	users    userIndex
	count    atomic.Int64
	evicted  atomic.Uint64
	expired  atomic.Uint64
	done     chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once
}

var _ session.Store = (*Store)(nil)

// New returns an empty Store configured by opts and starts its sweeper.
// Call Close to stop the sweeper.
func New(opts Options) *Store {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	s := &Store{
		clock:   opts.Clock,
		max:     int64(opts.MaxEntries),
		seed:    maphash.MakeSeed(),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	for i := range s.shards {
		s.shards[i].slots = make(map[skey]uint32)
		s.shards[i].tenants.ids = make(map[string]uint32)
	}
	s.users.init()
	go s.sweepEvery(opts.SweepInterval)
	return s
}

// Close stops the sweeper and waits for it to return. The records stay
// readable and still expire on read, but nothing deletes them in the
// background any more. Close always returns nil and may be called more
// than once.
func (s *Store) Close() error {
	s.stopOnce.Do(func() { close(s.done) })
	<-s.stopped
	return nil
}

// Stats returns the Store's current counts.
func (s *Store) Stats() Stats {
	return Stats{
		Entries:   int(s.count.Load()),
		Evictions: s.evicted.Load(),
		Expired:   s.expired.Load(),
	}
}

func (s *Store) shardOf(k ikey) *shard {
	return &s.shards[maphash.Bytes(s.seed, k.sum[:])%shardCount]
}

func (s *Store) now() int64 { return s.clock.Now().UnixNano() }

// unixNano returns t in Unix nanoseconds, clamped to the int64 range for
// times before 1678 or after 2262.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// drop deletes the record in slot i of sh and its index entry. The caller
// holds sh.mu.
func (s *Store) drop(sh *shard, i int) {
	e := &sh.entries[i]
	if e.user != "" {
		s.users.remove(sh.tenants.names[e.key.tenant], e.user, e.key.ikey)
	}
	sh.remove(i)
	s.count.Add(-1)
}

// Get returns the live record (tenant, id), with a copy of its value.
func (s *Store) Get(_ context.Context, tenant, id string) (session.Entry, bool, error) {
	k := parseID(id)
	sh := s.shardOf(k)
	now := s.now()
	sh.mu.RLock()
	i, ok := sh.find(tenant, k)
	var e entry
	if ok {
		e = sh.entries[i]
	}
	sh.mu.RUnlock()
	if !ok || e.expires <= now {
		return session.Entry{}, false, nil
	}
	return e.toEntry(tenant, id), true, nil
}

// Create stores a copy of e unless a live record (e.Tenant, e.ID) exists,
// making room first when the Store is full. It returns an error only when
// e.Version is not 1.
func (s *Store) Create(_ context.Context, e session.Entry) (bool, error) {
	if e.Version != 1 {
		return false, fmt.Errorf("memstore: create: version is %d, want 1", e.Version)
	}
	k := parseID(e.ID)
	ne := entry{
		expires: unixNano(e.Expires),
		version: 1,
		user:    strings.Clone(e.UserID),
		value:   string(e.Value),
	}
	s.reserve()
	sh := s.shardOf(k)
	now := s.now()
	sh.mu.Lock()
	created := s.createLocked(sh, e.Tenant, e.ID, k, ne, now)
	sh.mu.Unlock()
	if !created {
		s.count.Add(-1) // give back the room reserve took
	}
	return created, nil
}

func (s *Store) createLocked(sh *shard, tenant, id string, k ikey, ne entry, now int64) bool {
	if i, ok := sh.find(tenant, k); ok {
		if sh.entries[i].expires > now {
			return false
		}
		s.drop(sh, i)
		s.expired.Add(1)
	}
	tenant = sh.insert(tenant, id, k, ne)
	if ne.user != "" {
		s.users.add(tenant, ne.user, k)
	}
	return true
}

// Update replaces the live record (e.Tenant, e.ID) of version e.Version-1
// with a copy of e, and moves it in the user index when its user changed.
func (s *Store) Update(_ context.Context, e session.Entry) (bool, error) {
	k := parseID(e.ID)
	value := string(e.Value)
	sh := s.shardOf(k)
	now := s.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i, ok := sh.find(e.Tenant, k)
	if !ok {
		return false, nil
	}
	old := &sh.entries[i]
	if old.expires <= now || old.version != e.Version-1 {
		return false, nil
	}
	if old.user != e.UserID {
		if old.user != "" {
			s.users.remove(e.Tenant, old.user, k)
		}
		old.user = strings.Clone(e.UserID)
		if old.user != "" {
			s.users.add(sh.tenants.names[old.key.tenant], old.user, k)
		}
	}
	old.expires, old.version, old.value = unixNano(e.Expires), e.Version, value
	return true, nil
}

// Delete removes the record (tenant, id), if any, and its index entry.
func (s *Store) Delete(_ context.Context, tenant, id string) error {
	k := parseID(id)
	sh := s.shardOf(k)
	sh.mu.Lock()
	if i, ok := sh.find(tenant, k); ok {
		s.drop(sh, i)
	}
	sh.mu.Unlock()
	return nil
}

// ListUser returns copies of the live records of userID in tenant. An
// empty userID has no records: anonymous sessions are not indexed.
func (s *Store) ListUser(_ context.Context, tenant, userID string) ([]session.Entry, error) {
	if userID == "" {
		return nil, nil
	}
	keys := s.users.list(tenant, userID)
	now := s.now()
	out := make([]session.Entry, 0, len(keys))
	for _, k := range keys {
		sh := s.shardOf(k)
		sh.mu.RLock()
		i, ok := sh.find(tenant, k)
		var e entry
		var id string
		if ok {
			e, id = sh.entries[i], sh.id(i)
		}
		sh.mu.RUnlock()
		if ok && e.expires > now && e.user == userID {
			out = append(out, e.toEntry(tenant, id))
		}
	}
	return out, nil
}

// DeleteUser deletes the records of userID in tenant whose ID is not in
// except, and returns how many live records it deleted; it deletes the
// user's expired records too without counting them.
func (s *Store) DeleteUser(_ context.Context, tenant, userID string, except ...string) (int, error) {
	if userID == "" {
		return 0, nil
	}
	keep := make(map[ikey]bool, len(except))
	for _, id := range except {
		keep[parseID(id)] = true
	}
	now := s.now()
	n := 0
	for _, k := range s.users.list(tenant, userID) {
		if keep[k] {
			continue
		}
		sh := s.shardOf(k)
		sh.mu.Lock()
		if i, ok := sh.find(tenant, k); ok && sh.entries[i].user == userID {
			if sh.entries[i].expires > now {
				n++
			} else {
				s.expired.Add(1)
			}
			s.drop(sh, i)
		}
		sh.mu.Unlock()
	}
	return n, nil
}
