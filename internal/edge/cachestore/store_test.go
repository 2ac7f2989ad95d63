package cachestore

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/clock"
)

// key returns the primary key of name.
func key(name string) string { return "key:" + name }

// ref returns what finds object(name, …).
func ref(name string) Ref { return Ref{Key: key(name), URI: URI{Host: "example.com", Path: name}} }

// entryOf returns the entry of the first object stored under r, or nil.
func (s *Store) entryOf(r Ref) *entry {
	uh, h := s.uriHash(r.URI), s.hash(r.Key)
	sh := s.shard(uh)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	for _, e := range sh.m[uh].lookup(h) {
		if e.key == r.Key {
			return e
		}
	}
	return nil
}

// object returns an object for path with a body of n bytes.
func object(path string, n int) *Object {
	return &Object{Key: key(path), Host: "example.com", Path: path, Status: 200,
		Header: PackHeader(http.Header{"Content-Type": {"text/plain"}}, nil), Body: make([]byte, n), FreshFor: time.Minute}
}

// checkInvariants verifies the Store's bookkeeping: every stored entry is
// in exactly one policy region and in the slot of its URI, the byte and object
// counts match, and the bound holds.
func checkInvariants(t *testing.T, s *Store) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var bytes, objects int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for uh, sl := range sh.m {
			if sl.len() == 0 || s.shard(uh) != sh || sl.list != nil && sl.byKey != nil || len(sl.list) > slotListMax {
				t.Errorf("URI hash %x: slot of %d entries (list %d, by key %d) in shard %d", uh, sl.len(), len(sl.list), len(sl.byKey), i)
			}
			for h, es := range sl.byKey {
				if len(es) == 0 {
					t.Errorf("URI hash %x: key hash %x has an empty list", uh, h)
				}
				for _, e := range es {
					if e.hash != h {
						t.Errorf("entry %q under key hash %x has hash %x", e.key, h, e.hash)
					}
				}
			}
			for e := range sl.all() {
				if e.obj == nil || e.region == regionNone || e.uriHash != uh || s.uriHash(e.obj.Ref().URI) != uh || s.hash(e.key) != e.hash {
					t.Errorf("entry %q: obj %v region %d URI hash %x in slot %x", e.key, e.obj != nil, e.region, e.uriHash, uh)
				}
				bytes += e.size
				objects++
			}
		}
		sh.mu.RUnlock()
	}
	if got := s.pol.bytes(); got != bytes || s.bytes.Load() != bytes {
		t.Errorf("bytes: shards %d, policy %d, counter %d", bytes, got, s.bytes.Load())
	}
	if s.objects.Load() != objects {
		t.Errorf("objects: shards %d, counter %d", objects, s.objects.Load())
	}
	if bytes > s.maxBytes {
		t.Errorf("stored %d bytes, bound %d", bytes, s.maxBytes)
	}
}

func TestPutGetReplaceDelete(t *testing.T) {
	s := New(Options{MaxBytes: 1 << 20})
	a := object("/a", 10)
	if !s.Put(a) {
		t.Fatal("Put refused a small object into an empty store")
	}
	got, ok := s.Get(ref("/a"), nil)
	if !ok || got != a {
		t.Fatalf("Get = %p, %v; want the stored object", got, ok)
	}
	if _, ok := s.Get(ref("/b"), nil); ok {
		t.Fatal("Get found a key never stored")
	}
	a2 := object("/a", 20)
	s.Put(a2)
	if got, _ := s.Get(ref("/a"), nil); got != a2 {
		t.Fatal("Put with the same key and variant did not replace the object")
	}
	if st := s.Stats(); st.Objects != 1 || st.Bytes != uint64(a2.Size()) {
		t.Fatalf("after a replace: %+v, want one object of %d bytes", st, a2.Size())
	}
	s.Delete(ref("/a"))
	if _, ok := s.Get(ref("/a"), nil); ok {
		t.Fatal("Get found a deleted key")
	}
	checkInvariants(t, s)
}

// Contains finds any variant of a key, and counts nothing: neither a
// request in the sketch nor a hit for the policy.
func TestContains(t *testing.T) {
	s := New(Options{MaxBytes: 1 << 20})
	o := object("/c", 10)
	o.Variant = "gzip"
	s.Put(o)
	h := s.hash(key("/c"))
	before := s.sketch.estimate(h)
	for range 5 {
		if !s.Contains(ref("/c")) {
			t.Fatal("Contains misses a key stored under a variant")
		}
	}
	if s.Contains(ref("/d")) {
		t.Fatal("Contains finds a key never stored")
	}
	if got := s.sketch.estimate(h); got != before {
		t.Errorf("Contains counted in the sketch: estimate %d, was %d", got, before)
	}
	if s.bufferedShards.Load() != 0 {
		t.Error("Contains recorded a hit")
	}
	s.Get(ref("/c"), nil)
	if got := s.sketch.estimate(h); got != before+1 {
		t.Errorf("Get: estimate %d, want %d", got, before+1)
	}
}

func TestVariants(t *testing.T) {
	s := New(Options{MaxBytes: 1 << 20})
	for _, enc := range []string{"gzip", "br", ""} {
		o := object("/v", 10)
		o.Variant, o.VaryHeaders = enc, []string{"accept-encoding"}
		s.Put(o)
	}
	for _, enc := range []string{"gzip", "br", ""} {
		got, ok := s.Get(ref("/v"), func(o *Object) bool { return o.Variant == enc })
		if !ok || got.Variant != enc {
			t.Errorf("variant %q: got %v, %v", enc, got, ok)
		}
	}
	if _, ok := s.Get(ref("/v"), func(o *Object) bool { return o.Variant == "zstd" }); ok {
		t.Error("found a variant never stored")
	}
	if st := s.Stats(); st.Objects != 3 {
		t.Errorf("Objects = %d, want 3 variants", st.Objects)
	}
	s.Delete(ref("/v"))
	if st := s.Stats(); st.Objects != 0 || st.Bytes != 0 {
		t.Errorf("Delete left %+v; it removes every variant", st)
	}
	checkInvariants(t, s)
}

// TestHashCollisions stores keys whose hashes collide (the Store's hash
// narrowed to 2 bits: 4 values for 40 keys) with variants, replaces and
// deletes some, and checks that every lookup still finds exactly its own
// key's objects.
func TestHashCollisions(t *testing.T) {
	s := New(Options{MaxBytes: 1 << 20})
	s.hashMask = 3
	variant := func(v string) func(*Object) bool { return func(o *Object) bool { return o.Variant == v } }
	objs := map[string]*Object{}
	for i := range 40 {
		for _, v := range []string{"", "gzip"} {
			o := object(fmt.Sprint("/c", i), 10+i)
			o.Variant = v
			if !s.Put(o) {
				t.Fatalf("Put /c%d %q refused", i, v)
			}
			objs[fmt.Sprint(i, v)] = o
		}
	}
	for i := 0; i < 40; i += 3 { // replace one variant of every third key
		o := object(fmt.Sprint("/c", i), 100)
		o.Variant = "gzip"
		s.Put(o)
		objs[fmt.Sprint(i, "gzip")] = o
	}
	for i := 1; i < 40; i += 4 {
		s.Delete(ref(fmt.Sprint("/c", i)))
	}
	for i := range 40 {
		for _, v := range []string{"", "gzip"} {
			got, ok := s.Get(ref(fmt.Sprint("/c", i)), variant(v))
			if deleted := i%4 == 1; deleted {
				if ok {
					t.Errorf("/c%d %q: found after Delete", i, v)
				}
				continue
			}
			if !ok || got != objs[fmt.Sprint(i, v)] {
				t.Errorf("/c%d %q: Get = %p, %v; want %p", i, v, got, ok, objs[fmt.Sprint(i, v)])
			}
		}
	}
	if st := s.Stats(); st.Objects != 2*30 {
		t.Errorf("Objects = %d, want 60 (30 keys kept, 2 variants each)", st.Objects)
	}
	checkInvariants(t, s)
}

// TestHitsReachThePolicy checks that a buffered hit is applied to the
// eviction policy by the next Put, and that a Put with no hit waiting
// has no shard to drain.
func TestHitsReachThePolicy(t *testing.T) {
	s := New(Options{MaxBytes: 1 << 20})
	s.Put(object("/a", 10))
	s.Put(object("/b", 10))
	if n := s.bufferedShards.Load(); n != 0 {
		t.Fatalf("bufferedShards = %d before any hit", n)
	}
	s.Get(ref("/a"), nil)
	e := s.entryOf(ref("/a"))
	if n := s.bufferedShards.Load(); n != 1 || !e.hitPending.Load() {
		t.Fatalf("after a hit: bufferedShards = %d, hitPending %v; want 1, true", n, e.hitPending.Load())
	}
	s.mu.Lock()
	front := s.pol.window.root.next // most recent first
	s.mu.Unlock()
	if front.key != key("/b") {
		t.Fatalf("window front before the hit is applied: %q, want /b", front.key)
	}
	s.Put(object("/c", 10))
	s.mu.Lock()
	second := s.pol.window.root.next.next
	s.mu.Unlock()
	if n := s.bufferedShards.Load(); n != 0 || e.hitPending.Load() || second != e {
		t.Fatalf("after a Put: bufferedShards = %d, hitPending %v, /a second in the window %v", n, e.hitPending.Load(), second == e)
	}
	checkInvariants(t, s)
}

// A body of MaxBytes/4, the largest max_object_bytes the edge allows, is
// stored, its header and bookkeeping counted on top; a byte more is not.
func TestTooLargeRefused(t *testing.T) {
	s := New(Options{MaxBytes: 100_000})
	if s.Put(object("/big", 25_001)) {
		t.Fatal("stored a body larger than MaxBytes/4")
	}
	if !s.Put(object("/ok", 25_000)) {
		t.Fatal("refused a body of MaxBytes/4")
	}
	if st := s.Stats(); st.TooLarge != 1 || st.Objects != 1 {
		t.Fatalf("stats %+v, want TooLarge 1 and one object", st)
	}
}

func TestPutSetsStoredFromClock(t *testing.T) {
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s := New(Options{Clock: clock.NewFake(start)})
	o := object("/t", 1)
	s.Put(o)
	if !o.Stored.Equal(start) {
		t.Fatalf("Stored = %v, want the clock's %v", o.Stored, start)
	}
}

// TestBoundNeverExceeded is a property test: whatever the sizes and the
// order of Puts, Gets, Deletes and invalidations, the store stays within
// MaxBytes and its bookkeeping stays consistent.
func TestBoundNeverExceeded(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 42))
			maxBytes := int64(20_000 + r.IntN(200_000))
			var evicted int
			s := New(Options{MaxBytes: maxBytes, OnEvict: func(*Object) { evicted++ }})
			for i := range 3000 {
				path := fmt.Sprint("/p", r.IntN(400))
				switch op := r.IntN(10); {
				case op < 5:
					o := object(path, r.IntN(int(maxBytes/3)))
					o.Variant = fmt.Sprint(r.IntN(3))
					s.Put(o)
				case op < 8:
					s.Get(ref(path), nil)
				case op < 9:
					s.Delete(ref(path))
				default:
					s.InvalidateURI(URI{"", "example.com", path, ""})
				}
				if st := s.Stats(); int64(st.Bytes) > maxBytes {
					t.Fatalf("op %d: %d bytes stored, bound %d", i, st.Bytes, maxBytes)
				}
			}
			checkInvariants(t, s)
			if st := s.Stats(); st.Evictions != uint64(evicted) {
				t.Errorf("Evictions %d, OnEvict calls %d", st.Evictions, evicted)
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	s := New(Options{MaxBytes: 200_000})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range 3000 {
				path := fmt.Sprint("/c", r.IntN(300))
				switch op := r.IntN(20); {
				case op < 6:
					s.Put(object(path, r.IntN(3000)))
				case op < 16:
					if o, ok := s.Get(ref(path), func(o *Object) bool { return o.Status == 200 }); ok && o.Path != path {
						t.Errorf("Get(%s) returned %s", path, o.Path)
					}
				case op < 17:
					s.Contains(ref(path))
				case op < 18:
					s.Delete(ref(path))
				case op < 19:
					s.InvalidateURI(URI{"", "example.com", path, ""})
				default:
					s.Invalidate("", []string{path + "*"})
				}
			}
		})
	}
	wg.Wait()
	checkInvariants(t, s)
}

func TestOnEvictOnlyForEvictions(t *testing.T) {
	var got []string
	s := New(Options{MaxBytes: 40_000, OnEvict: func(o *Object) { got = append(got, o.Path) }})
	s.Put(object("/gone-by-delete", 100))
	s.Delete(ref("/gone-by-delete"))
	s.Put(object("/gone-by-invalidation", 100))
	s.Invalidate("", []string{"/*"})
	s.Put(object("/replaced", 100))
	s.Put(object("/replaced", 200))
	if len(got) != 0 {
		t.Fatalf("OnEvict called for %v; Delete, invalidation and replacement are not evictions", got)
	}
	for i := range 100 { // ever more popular objects: each displaces older ones
		for range i/10 + 2 {
			s.Get(ref(fmt.Sprint("/fill", i)), nil)
		}
		s.Put(object(fmt.Sprint("/fill", i), 2000))
	}
	st := s.Stats()
	if len(got) == 0 || uint64(len(got)) != st.Evictions {
		t.Fatalf("OnEvict called %d times, Evictions %d; want equal and > 0", len(got), st.Evictions)
	}
}
