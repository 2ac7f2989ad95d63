package cachestore

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
)

// BenchmarkGetParallel measures the hit path: concurrent Gets spread over
// 10,000 stored keys (Zipf-distributed, as CDN traffic is).
func BenchmarkGetParallel(b *testing.B) {
	const n = 10_000
	s := New(Options{MaxBytes: 256 << 20})
	refs := make([]Ref, n)
	for i := range refs {
		o := &Object{Key: key(fmt.Sprint("/bench/", i)), Path: fmt.Sprint("/bench/", i), Body: make([]byte, 512)}
		s.Put(o)
		refs[i] = o.Ref()
	}
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, n-1)
	seq := make([]uint32, 1<<16) // drawn beforehand: the Zipf generator costs more than a Get
	for i := range seq {
		seq[i] = uint32(z.Uint64())
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(seq))
		for pb.Next() {
			i = (i + 1) & (len(seq) - 1)
			if _, ok := s.Get(refs[seq[i]], nil); !ok {
				b.Error("miss on a stored key")
				return
			}
		}
	})
}

// BenchmarkGetParallelOneKey measures the worst case for the hit path:
// every goroutine reads the same object.
func BenchmarkGetParallelOneKey(b *testing.B) {
	s := New(Options{})
	o := &Object{Key: key("/hot"), Path: "/hot", Body: make([]byte, 512)}
	s.Put(o)
	k := o.Ref()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Get(k, nil)
		}
	})
}

// BenchmarkPut measures storing new objects in a full store, where every
// Put runs the admission contest and evicts.
func BenchmarkPut(b *testing.B) {
	s := New(Options{MaxBytes: 4 << 20})
	objs := make([]*Object, 1<<16)
	for i := range objs {
		objs[i] = &Object{Key: key(fmt.Sprint("/put/", i)), Path: fmt.Sprint("/put/", i), Body: make([]byte, 1024)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		o := *objs[i&(len(objs)-1)]
		s.Get(o.Ref(), nil)
		s.Put(&o)
	}
}

// BenchmarkSketchNewKeys measures counting a key never seen before, as
// every miss of a sweep does, and estimating it, as admission does, in
// the largest sketch (a store of 16 GiB or more: 32 MiB of counters and 5
// MiB of doorkeeper, more than the caches hold, as a smaller sketch also
// is once a busy heap has pushed it out): the cost is the cache lines the
// doorkeeper and the counters touch.
func BenchmarkSketchNewKeys(b *testing.B) {
	sk := newSketch(1 << 22)
	r := rand.New(rand.NewPCG(3, 4))
	hashes := make([]uint64, 1<<20)
	for i := range hashes {
		hashes[i] = r.Uint64()
	}
	b.ResetTimer()
	for i := range b.N {
		h := hashes[i&(len(hashes)-1)]
		sk.increment(h)
		sk.estimate(h)
	}
}

// BenchmarkPackHeader packs a typical response header, as a miss does.
func BenchmarkPackHeader(b *testing.B) {
	h := http.Header{
		"Cache-Control":  {"max-age=3600"},
		"Content-Length": {"1024"},
		"Content-Type":   {"text/plain; charset=utf-8"},
		"Date":           {"Sun, 22 Nov 2026 12:00:00 GMT"},
		"Etag":           {`"v1"`},
		"Last-Modified":  {"Sun, 22 Nov 2026 11:00:00 GMT"},
	}
	keep := func(name string) bool { return name != "Content-Length" }
	b.ReportAllocs()
	for b.Loop() {
		PackHeader(h, keep)
	}
}
