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
//
// Both structures are blocked, as Caffeine's sketch is: a key's three
// doorkeeper bits are in one 64-bit word, and its four counters in one
// 64-byte block (one counter in each of four of its eight words). A key
// then costs one cache line of each instead of three and four: with a
// large store the sketch does not stay in the cores' caches, and every
// miss of a sweep counts a key never seen (BenchmarkSketchNewKeys).
type sketch struct {
	counters   []atomic.Uint64 // 16 counters of 4 bits per word, in blocks of 8 words
	blockMask  uint64          // number of blocks - 1 (a power of two minus one)
	door       []atomic.Uint64 // doorkeeper bits
	doorMask   uint64          // number of door words - 1
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
	s := &sketch{counters: make([]atomic.Uint64, words), blockMask: uint64(words)/8 - 1}
	s.sampleSize = int64(words) * 10
	doorBits := ceilPow2(int(s.sampleSize))
	s.door = make([]atomic.Uint64, doorBits/64)
	s.doorMask = uint64(doorBits)/64 - 1
	return s
}

// ceilPow2 returns the smallest power of two ≥ n (n ≥ 1).
func ceilPow2(n int) int {
	return 1 << bits.Len(uint(n-1))
}

// counter returns the word and the bit shift of h's i-th counter (i <
// 4): in the block the low bits of h pick, word 2i or 2i+1, one of its
// 16 counters. The bits of h it uses (0-18, 32-35 and 40-55) are not
// those that pick the Store's shard (58-63).
func (s *sketch) counter(h, i uint64) (*atomic.Uint64, uint64) {
	w := (h&s.blockMask)*8 + 2*i + (h>>(32+i))&1
	return &s.counters[w], (h >> (40 + 4*i) & 15) * 4
}

// doorBits returns h's doorkeeper word and its three bits in it (which
// may coincide). With g, h rotated left by 29, the word is picked by g's
// low bits (h's bits from 35 up) and the bits by h's bits 11-28, so the
// word and the bits in it do not depend on each other.
func (s *sketch) doorBits(h uint64) (*atomic.Uint64, uint64) {
	g := bits.RotateLeft64(h, 29)
	return &s.door[g&s.doorMask], 1<<(g>>40&63) | 1<<(g>>46&63) | 1<<(g>>52&63)
}

// increment counts one event of the key with hash h.
func (s *sketch) increment(h uint64) {
	if s.doorAdd(h) {
		for i := uint64(0); i < 4; i++ {
			s.incCounter(s.counter(h, i))
		}
	}
	if s.events.Add(1) >= s.sampleSize {
		s.reset()
	}
}

// doorAdd sets h's doorkeeper bits and reports whether they were all set
// already.
func (s *sketch) doorAdd(h uint64) bool {
	w, mask := s.doorBits(h)
	if w.Load()&mask == mask {
		return true
	}
	w.Or(mask)
	return false
}

// doorHas reports whether all of h's doorkeeper bits are set.
func (s *sketch) doorHas(h uint64) bool {
	w, mask := s.doorBits(h)
	return w.Load()&mask == mask
}

// incCounter adds one to the counter at shift in w unless it is
// saturated.
func (s *sketch) incCounter(w *atomic.Uint64, shift uint64) {
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
		w, shift := s.counter(h, i)
		est = min(est, w.Load()>>shift&15)
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
