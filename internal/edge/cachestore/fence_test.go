package cachestore

import (
	"errors"
	"fmt"
	"testing"
)

// An object fetched before an invalidation of its URI is refused; one
// fetched after it, or for another URI, is stored.
func TestAddFencedByInvalidation(t *testing.T) {
	s := New(Options{MaxBytes: 1 << 20})
	fetched := func(path string, gen uint64) *Object {
		o := object(path, 100)
		o.Generation = gen
		return o
	}
	g0 := s.Generation()
	if g0 == 0 {
		t.Fatal("Generation is 0, which Objects use for unchecked")
	}

	s.InvalidateURI(URI{"", "example.com", "/cart", ""})
	if s.Generation() == g0 {
		t.Fatal("InvalidateURI did not move the generation on")
	}
	if err := s.Add(fetched("/cart", g0)); !errors.Is(err, ErrInvalidated) {
		t.Errorf("/cart fetched before its invalidation: Add = %v, want ErrInvalidated", err)
	}
	if err := s.Add(fetched("/other", g0)); err != nil {
		t.Errorf("/other fetched before another URI's invalidation: Add = %v", err)
	}
	if err := s.Add(fetched("/cart", s.Generation())); err != nil {
		t.Errorf("/cart fetched after its invalidation: Add = %v", err)
	}
	if err := s.Add(fetched("/cart", 0)); err != nil {
		t.Errorf("/cart unchecked (Generation 0): Add = %v", err)
	}

	g1 := s.Generation()
	s.Invalidate("", []string{"/img/*"})
	if err := s.Add(fetched("/img/a.png", g1)); !errors.Is(err, ErrInvalidated) {
		t.Errorf("/img/a.png fetched before /img/*: Add = %v, want ErrInvalidated", err)
	}
	if err := s.Add(fetched("/css/a.css", g1)); err != nil {
		t.Errorf("/css/a.css fetched before /img/*: Add = %v", err)
	}

	// A pattern for one tenant does not fence another's objects.
	g2 := s.Generation()
	s.Invalidate("t1", []string{"/*"})
	other := fetched("/x", g2)
	other.Tenant = "t2"
	if err := s.Add(other); err != nil {
		t.Errorf("tenant t2's object fetched before t1's invalidation: Add = %v", err)
	}
	mine := fetched("/x", g2)
	mine.Tenant = "t1"
	if err := s.Add(mine); !errors.Is(err, ErrInvalidated) {
		t.Errorf("tenant t1's object fetched before t1's invalidation: Add = %v, want ErrInvalidated", err)
	}

	// An application's write traffic (a POST invalidates its URI) does
	// not keep a slow fetch of another page out of the cache: thousands of
	// one-URI invalidations are remembered by URI.
	g3 := s.Generation()
	for i := range 5000 {
		s.InvalidateURI(URI{"", "example.com", fmt.Sprintf("/form/%d", i), ""})
	}
	if err := s.Add(fetched("/page", g3)); err != nil {
		t.Errorf("fetched 5000 invalidations of other URIs ago: Add = %v", err)
	}
	if err := s.Add(fetched("/form/4321", g3)); !errors.Is(err, ErrInvalidated) {
		t.Errorf("/form/4321 fetched before its invalidation, 5000 ago: Add = %v, want ErrInvalidated", err)
	}

	// A fetch that outlasts more invalidations than a log holds is
	// refused, whatever they covered: uriFenceLog of one URI, or fenceLog
	// patterns.
	g4 := s.Generation()
	for i := range uriFenceLog + 1 {
		s.InvalidateURI(URI{"", "example.com", fmt.Sprintf("/gone/%d", i), ""})
	}
	if err := s.Add(fetched("/kept", g4)); !errors.Is(err, ErrInvalidated) {
		t.Errorf("fetched %d one-URI invalidations ago: Add = %v, want ErrInvalidated", uriFenceLog+1, err)
	}
	if err := s.Add(fetched("/kept", s.Generation()-uriFenceLog)); err != nil {
		t.Errorf("fetched %d invalidations ago, none of them its URI: Add = %v", uriFenceLog, err)
	}
	g5 := s.Generation()
	for i := range fenceLog + 1 {
		s.Invalidate("", []string{fmt.Sprintf("/old/%d/*", i)})
	}
	if err := s.Add(fetched("/kept2", g5)); !errors.Is(err, ErrInvalidated) {
		t.Errorf("fetched %d pattern invalidations ago: Add = %v, want ErrInvalidated", fenceLog+1, err)
	}
	if err := s.Add(fetched("/kept2", s.Generation()-fenceLog)); err != nil {
		t.Errorf("fetched %d pattern invalidations ago, none matching it: Add = %v", fenceLog, err)
	}
	if st := s.Stats(); st.Fenced != 6 {
		t.Errorf("Stats.Fenced = %d, want 6", st.Fenced)
	}
	checkInvariants(t, s)
}
