package edge

import (
	"weak"

	"github.com/tetherlb/tether/internal/edge/cachestore"
)

// StoreStats returns the counters of e's store, for the benchmarks.
func (e *Edge) StoreStats() cachestore.Stats { return e.store.Stats() }

// Running returns a weak pointer to the edge name runs now, for tests that
// check a replaced edge can be collected.
func (s *Servers) Running(name string) weak.Pointer[Edge] {
	return weak.Make(s.entries[name].cur.Load())
}
