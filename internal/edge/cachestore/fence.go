package cachestore

import "errors"

// Invalidations fence the responses fetched before them. A response the
// pipeline fetched while an invalidation of its URI ran would otherwise be
// stored after it, and serve the content the invalidation meant to drop
// until it expired. So every invalidation moves the Store's generation on
// and is remembered in a short log; an Object carries the generation at
// which its response was requested (Object.Generation), and Add refuses it
// when an invalidation since then covers its URI, or when the log no
// longer reaches back that far.

// fenceLog is how many recent invalidations the Store remembers. A fetch
// that outlasts this many invalidations of any URI is not stored.
const fenceLog = 256

// fence is one invalidation: of one URI (InvalidateURI), or of the paths
// that patterns match in tenant ("" for all; Invalidate).
type fence struct {
	gen      uint64
	uri      URI
	tenant   string
	patterns []string // nil for a URI fence
}

// Errors Add returns for an object it did not keep.
var (
	// ErrTooLarge: the object is larger than MaxBytes/4.
	ErrTooLarge = errors.New("cachestore: object larger than a quarter of the store")
	// ErrNotAdmitted: the admission policy preferred the objects the new
	// one would have displaced.
	ErrNotAdmitted = errors.New("cachestore: not admitted")
	// ErrInvalidated: an invalidation that covers the object's URI ran
	// after its Generation.
	ErrInvalidated = errors.New("cachestore: invalidated while it was fetched")
)

// Generation returns the Store's invalidation generation, which an Object
// fetched from now on carries in Generation. It starts at 1 and moves on
// with every invalidation.
func (s *Store) Generation() uint64 { return s.gen.Load() }

// fenceLocked records an invalidation and returns its generation: the
// objects with a lower Generation were fetched before it. The caller
// holds s.mu.
func (s *Store) fenceLocked(f fence) uint64 {
	f.gen = s.gen.Add(1)
	s.fences[f.gen%fenceLog] = f
	return f.gen
}

// fencedLocked reports whether an invalidation since gen covers the URI
// u, or whether the log has dropped one of those invalidations. The
// caller holds s.mu.
func (s *Store) fencedLocked(gen uint64, u URI) bool {
	now := s.gen.Load()
	if gen == 0 || gen >= now {
		return false // unchecked, or no invalidation since
	}
	if now-gen > fenceLog {
		return true // fetched before the oldest invalidation remembered
	}
	for g := gen + 1; g <= now; g++ {
		f := &s.fences[g%fenceLog]
		if f.patterns == nil {
			if f.uri == u {
				return true
			}
			continue
		}
		if f.tenant == "" || f.tenant == u.Tenant {
			if matchesAny(f.patterns, u) {
				return true
			}
		}
	}
	return false
}
