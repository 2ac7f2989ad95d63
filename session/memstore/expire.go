package memstore

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"time"
)

const (
	// evictionSamples is how many records a full Store samples to choose
	// one to evict: Redis's default maxmemory-samples.
	evictionSamples = 5
	// sweepChunk is how many records the sweeper checks per lock hold.
	sweepChunk = 256
)

// reserve makes room for one more record and counts it, evicting as needed
// so that the count never exceeds s.max. A caller that then stores nothing
// gives the room back with s.count.Add(-1).
func (s *Store) reserve() {
	for {
		n := s.count.Load()
		if n < s.max {
			if s.count.CompareAndSwap(n, n+1) {
				return
			}
			continue
		}
		if !s.evictOne() {
			// Every record counted is a reservation still being stored;
			// wait for one to land or be given back.
			runtime.Gosched()
		}
	}
}

// evictOne deletes at least one record from a shard chosen at random, or
// from the next one holding records, and reports whether it found any.
func (s *Store) evictOne() bool {
	start := rand.IntN(shardCount)
	now := s.now()
	for j := range shardCount {
		sh := &s.shards[(start+j)%shardCount]
		sh.mu.Lock()
		ok := s.evictFrom(sh, now)
		sh.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// evictFrom samples evictionSamples records of sh; it deletes the expired
// ones among them or, when there are none, the one closest to expiry. It
// reports whether sh had a record to delete. The caller holds sh.mu.
func (s *Store) evictFrom(sh *shard, now int64) bool {
	n := len(sh.entries)
	if n == 0 {
		return false
	}
	var sample [evictionSamples]int
	victim := -1
	for j := range sample {
		sample[j] = rand.IntN(n)
		if victim < 0 || sh.entries[sample[j]].expires < sh.entries[victim].expires {
			victim = sample[j]
		}
	}
	if sh.entries[victim].expires > now {
		s.drop(sh, victim)
		s.evicted.Add(1)
		return true
	}
	// Delete from the highest slot down: removal moves the last record
	// into the freed slot, which leaves lower slots in place.
	slices.Sort(sample[:])
	for j := len(sample) - 1; j >= 0; j-- {
		i := sample[j]
		if (j == len(sample)-1 || i != sample[j+1]) && sh.entries[i].expires <= now {
			s.drop(sh, i)
			s.expired.Add(1)
		}
	}
	return true
}

// sweepEvery runs sweep every interval until Close.
func (s *Store) sweepEvery(interval time.Duration) {
	defer close(s.stopped)
	for {
		select {
		case <-s.done:
			return
		case <-s.clock.After(interval):
			s.sweep()
		}
	}
}

// sweep deletes the expired records of every shard and returns how many.
func (s *Store) sweep() int {
	n := 0
	for i := range s.shards {
		n += s.sweepShard(&s.shards[i])
	}
	s.expired.Add(uint64(n))
	return n
}

// sweepShard deletes the expired records of sh, sweepChunk slots per lock
// hold. It walks the slots from the last down: removal moves the last
// record into the freed slot, so a record that stays in the shard for the
// whole sweep is checked once even as other calls add and remove records
// between chunks.
func (s *Store) sweepShard(sh *shard) int {
	sh.mu.RLock()
	i := len(sh.entries)
	sh.mu.RUnlock()
	n := 0
	for i > 0 {
		now := s.now()
		sh.mu.Lock()
		i = min(i, len(sh.entries))
		for stop := max(0, i-sweepChunk); i > stop; {
			i--
			if sh.entries[i].expires <= now {
				s.drop(sh, i)
				n++
			}
		}
		if i == 0 {
			sh.shrink()
		}
		sh.mu.Unlock()
	}
	return n
}
