package main

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: 2^subBits buckets per power of
// two, so a recorded latency is off by less than 1/64 (1.6 %).
const subBits = 6

// histogram counts latencies in log-linear buckets, as HdrHistogram does
// (https://hdrhistogram.github.io/HdrHistogram/): exact below 64 ns, then
// 64 buckets per power of two. Recording never allocates. A histogram is
// not safe for concurrent use; each client has its own and they are
// merged afterwards.
type histogram struct {
	counts [(64 - subBits + 1) << subBits]uint64
	total  uint64
}

func bucketOf(ns uint64) int {
	if ns < 1<<subBits {
		return int(ns)
	}
	shift := bits.Len64(ns) - 1 - subBits
	return (shift+1)<<subBits + int(ns>>shift) - 1<<subBits
}

// bucketValue returns the middle of bucket i, in nanoseconds.
func bucketValue(i int) uint64 {
	if i < 1<<subBits {
		return uint64(i)
	}
	shift := i>>subBits - 1
	mant := uint64(i&(1<<subBits-1) + 1<<subBits)
	return mant<<shift + (uint64(1)<<shift)/2
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(uint64(max(d, 0)))]++
	h.total++
}

func (h *histogram) merge(o *histogram) {
	for i, n := range o.counts {
		h.counts[i] += n
	}
	h.total += o.total
}

// quantile returns the latency at or below which a fraction q of the
// recorded latencies fall.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = max(rank, 1)
	var seen uint64
	for i, n := range h.counts {
		seen += n
		if seen >= rank {
			return time.Duration(bucketValue(i))
		}
	}
	return 0
}
