package edge

import "github.com/tetherlb/tether/internal/edge/cachestore"

// StoreStats returns the counters of e's store, for the benchmarks.
func (e *Edge) StoreStats() cachestore.Stats { return e.store.Stats() }
