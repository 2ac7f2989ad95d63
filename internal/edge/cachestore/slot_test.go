package cachestore

import (
	"fmt"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/clock"
)

// TestManyKeysOneURI stores one URI under many keys (a behavior that keys
// a cookie with many values), each in two variants: the URI's slot then
// finds its entries by key hash. With the hashes narrowed so that keys
// collide as well, every lookup still finds exactly its own object;
// replacing, deleting and invalidating the URI keep the bookkeeping
// right.
func TestManyKeysOneURI(t *testing.T) {
	for _, narrow := range []bool{false, true} {
		t.Run(fmt.Sprint("narrow=", narrow), func(t *testing.T) {
			s := New(Options{MaxBytes: 1 << 22})
			if narrow {
				s.hashMask = 7 // 8 hash values for 200 keys and 4 URIs
			}
			const n = 100
			at := func(i int, variant string) *Object {
				o := stored("t", "a.example", "/u", "", variant)
				o.Key = fmt.Sprint(key("/u"), ";session=", i)
				return o
			}
			objs := map[string]*Object{}
			for i := range n {
				for _, v := range []string{"", "gzip"} {
					o := at(i, v)
					if !s.Put(o) {
						t.Fatalf("Put key %d %q refused", i, v)
					}
					objs[fmt.Sprint(i, v)] = o
				}
			}
			others := []*Object{stored("t", "a.example", "/v", "", ""), stored("t", "b.example", "/u", "", "")}
			for _, o := range others {
				s.Put(o)
			}
			uh := s.uriHash(URI{"t", "a.example", "/u", ""})
			if sl := s.shard(uh).m[uh]; sl.byKey == nil || sl.len() < 2*n {
				t.Fatalf("slot of /u: %d entries, by key %v; want at least %d found by key", sl.len(), sl.byKey != nil, 2*n)
			}
			for i := 0; i < n; i += 5 { // a new version of some variants
				o := at(i, "gzip")
				s.Put(o)
				objs[fmt.Sprint(i, "gzip")] = o
			}
			for i := 1; i < n; i += 10 {
				s.Delete(at(i, "").Ref())
			}
			checkInvariants(t, s)
			for i := range n {
				for _, v := range []string{"", "gzip"} {
					got, ok := s.Get(at(i, v).Ref(), func(o *Object) bool { return o.Variant == v })
					if deleted := i%10 == 1; deleted {
						if ok {
							t.Errorf("key %d %q found after Delete", i, v)
						}
						continue
					}
					if !ok || got != objs[fmt.Sprint(i, v)] {
						t.Errorf("key %d %q: Get = %p, %v; want %p", i, v, got, ok, objs[fmt.Sprint(i, v)])
					}
				}
			}
			if got, want := s.InvalidateURI(URI{"t", "a.example", "/u", ""}), 2*(n-n/10); got != want {
				t.Errorf("InvalidateURI removed %d objects, want %d", got, want)
			}
			for _, o := range others {
				if _, ok := s.Get(o.Ref(), nil); !ok {
					t.Errorf("%s%s lost with /u", o.Host, o.Path)
				}
			}
			if st := s.Stats(); st.Objects != len(others) {
				t.Errorf("Objects = %d after the invalidation, want %d", st.Objects, len(others))
			}
			if sl, ok := s.shard(uh).m[uh]; ok && !narrow {
				t.Errorf("the slot of /u is kept with %d entries after its last entry left", sl.len())
			}
			checkInvariants(t, s)
		})
	}
}

// TestMaxVariants: a key keeps at most MaxVariants variants; a newer one
// replaces the one stored first, counted and reported as an eviction, and
// a new version of a kept variant replaces only itself.
func TestMaxVariants(t *testing.T) {
	var evicted []string
	clk := clock.NewFake(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))
	s := New(Options{MaxBytes: 1 << 22, Clock: clk, OnEvict: func(o *Object) { evicted = append(evicted, o.Variant) }})
	put := func(v int) *Object {
		o := object("/v", 10)
		o.Variant = fmt.Sprint("x-var=", v)
		clk.Advance(time.Second) // stored one after the other
		if !s.Put(o) {
			t.Fatalf("Put of variant %d refused", v)
		}
		return o
	}
	objs := map[int]*Object{}
	const extra = 8
	for v := range MaxVariants + extra {
		objs[v] = put(v)
	}
	objs[MaxVariants] = put(MaxVariants) // a new version of a kept variant
	for v := range MaxVariants + extra {
		got, ok := s.Get(ref("/v"), func(o *Object) bool { return o.Variant == fmt.Sprint("x-var=", v) })
		if dropped := v < extra; dropped == ok || ok && got != objs[v] {
			t.Errorf("variant %d: Get = %p, %v; want it dropped: %v", v, got, ok, dropped)
		}
	}
	if st := s.Stats(); st.Objects != MaxVariants || st.Evictions != extra || len(evicted) != extra || evicted[0] != "x-var=0" {
		t.Errorf("Objects %d, Evictions %d, OnEvict %v; want %d, %d and the %d oldest variants",
			st.Objects, st.Evictions, evicted, MaxVariants, extra, extra)
	}
	checkInvariants(t, s)
}
