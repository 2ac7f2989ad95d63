package cachestore

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// sketch is TinyLFU's approximate frequency histogram: a count-min sketch
// of 4-bit counters behind a doorkeeper Bloom filter, aged by halving every
// counter once sampleSize events have been counted (Einziger, Friedman and
// Manes, "TinyLFU: A Highly Efficient Cache Admission Policy", §3.2-3.4,
// https://arxiv.org/abs/1512.00727).
//
// A key's first event in a sample only sets its doorkeeper bits; later
// events increment its four counters (saturating at 15). The estimate is
// the smallest of the four counters, plus one if the doorkeeper holds the
// key. Every operation is lock-free (atomic compare-and-swap on 64-bit
// words); the periodic reset halves the counters word by word under a
// TryLock, so racing increments may be lost, which only blurs an estimate.
type sketch struct {
	counters   []atomic.Uint64 // 16 counters of 4 bits per word
	counterMax uint64          // number of counters - 1 (a power of two minus one)
	door       []atomic.Uint64 // doorkeeper bits
	doorMax    uint64          // number of bits - 1
	sampleSize int64
	resetMu    sync.Mutex
	// events counts the events since the last reset. Every increment
	// writes it: it has a cache line of its own, so that the fields every
	// probe reads above stay in the other cores' caches.
	_      [64]byte
	events atomic.Int64
	_      [56]byte
}

// newSketch sizes a sketch for about entries distinct keys: 16 counters
// per expected entry (1 KiB per 128 entries), a reset every 10 × entries
// events (the paper's W/C = 10), and a doorkeeper of one bit per sampled
// event.
func newSketch(entries int) *sketch {
	words := ceilPow2(max(entries, 64))
	s := &sketch{counters: make([]atomic.Uint64, words), counterMax: uint64(words)*16 - 1}
	s.sampleSize = int64(words) * 10
	doorBits := ceilPow2(int(s.sampleSize))
	s.door = make([]atomic.Uint64, doorBits/64)
	s.doorMax = uint64(doorBits) - 1
	return s
}

// ceilPow2 returns the smallest power of two ≥ n (n ≥ 1).
func ceilPow2(n int) int {
	return 1 << bits.Len(uint(n-1))
}

// probe returns the i-th position of h by double hashing.
func probe(h uint64, i uint64) uint64 {
	return h + i*(h>>32|1)*0x9e3779b97f4a7c15
}

// increment counts one event of the key with hash h.
func (s *sketch) increment(h uint64) {
	if s.doorAdd(h) {
		for i := uint64(0); i < 4; i++ {
			s.incCounter(probe(h, i) & s.counterMax)
		}
	}
	if s.events.Add(1) >= s.sampleSize {
		s.reset()
	}
}

// doorAdd sets h's doorkeeper bits and reports whether they were all set
// already.
func (s *sketch) doorAdd(h uint64) bool {
	seen := true
	g := bits.RotateLeft64(h, 29)
	for i := uint64(0); i < 3; i++ {
		bit := probe(g, i) & s.doorMax
		w, mask := &s.door[bit>>6], uint64(1)<<(bit&63)
		if w.Load()&mask == 0 {
			seen = false
			w.Or(mask)
		}
	}
	return seen
}

// doorHas reports whether all of h's doorkeeper bits are set.
func (s *sketch) doorHas(h uint64) bool {
	g := bits.RotateLeft64(h, 29)
	for i := uint64(0); i < 3; i++ {
		bit := probe(g, i) & s.doorMax
		if s.door[bit>>6].Load()&(uint64(1)<<(bit&63)) == 0 {
			return false
		}
	}
	return true
}

// incCounter adds one to counter c unless it is saturated.
func (s *sketch) incCounter(c uint64) {
	w, shift := &s.counters[c>>4], (c&15)*4
	for {
		old := w.Load()
		if (old>>shift)&15 == 15 || w.CompareAndSwap(old, old+1<<shift) {
			return
		}
	}
}

// estimate returns the approximate number of events of h in the current
// sample (0..16).
func (s *sketch) estimate(h uint64) int {
	est := uint64(15)
	for i := uint64(0); i < 4; i++ {
		c := probe(h, i) & s.counterMax
		est = min(est, (s.counters[c>>4].Load()>>((c&15)*4))&15)
	}
	if s.doorHas(h) {
		est++
	}
	return int(est)
}

// reset halves every counter and clears the doorkeeper (the paper's
// "Reset" operation), unless another goroutine is already doing it.
func (s *sketch) reset() {
	if !s.resetMu.TryLock() {
		return
	}
	defer s.resetMu.Unlock()
	if s.events.Load() < s.sampleSize {
		return
	}
	for i := range s.counters {
		w := &s.counters[i]
		for {
			old := w.Load()
			if w.CompareAndSwap(old, (old>>1)&0x7777777777777777) {
				break
			}
		}
	}
	for i := range s.door {
		s.door[i].Store(0)
	}
	s.events.Store(0)
}
