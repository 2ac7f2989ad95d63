package edge

import (
	"fmt"
	"testing"
	"time"
)

// The hit-for-miss memo stays bounded, and a sweep of a full memo frees
// an eighth of it, so that a client marking new keys one after the other
// does not make every mark read the whole memo.
func TestHitForMissMemoBounded(t *testing.T) {
	f := newFlights()
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	mark := func(i int) {
		x := &exchange{key: fmt.Sprint("key-", i)}
		f.markHitForMiss(x, now)
	}
	for i := range hitForMissMax {
		mark(i)
	}
	if n := len(f.hfm); n != hitForMissMax {
		t.Fatalf("%d keys marked, memo holds %d", hitForMissMax, n)
	}
	mark(hitForMissMax) // full, nothing expired: the sweep frees an eighth
	if n, want := len(f.hfm), hitForMissMax*7/8+1; n != want {
		t.Errorf("after a sweep of the full memo: %d entries, want %d", n, want)
	}
	for i := range hitForMissMax / 8 { // the room it made: no sweep
		mark(hitForMissMax + 1 + i)
	}
	if n := len(f.hfm); n > hitForMissMax {
		t.Errorf("memo holds %d entries, bound %d", n, hitForMissMax)
	}
	// Every mark so far expires; new ones fill the memo again, and the
	// sweep drops the expired ones, all of them, and keeps the new.
	now = now.Add(hitForMissFor)
	fresh := hitForMissMax - len(f.hfm) + 1
	for i := range fresh {
		mark(-1 - i)
	}
	if n := len(f.hfm); n != fresh || f.marked.Load() != int64(fresh) {
		t.Errorf("after a sweep of expired marks: %d entries (marked %d), want the %d new ones", n, f.marked.Load(), fresh)
	}
}
