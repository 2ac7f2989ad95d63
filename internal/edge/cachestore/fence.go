package cachestore

import (
	"errors"

	"github.com/tetherlb/tether/internal/glob"
)

// Invalidations fence the responses fetched before them. A response the
// pipeline fetched while an invalidation of its URI ran would otherwise be
// stored after it, and serve the content the invalidation meant to drop
// until it expired. So every invalidation moves the Store's generation on
// and is remembered; an Object carries the generation at which its
// response was requested (Object.Generation), and Add refuses it when an
// invalidation since then covers its URI, or when one of those
// invalidations has been forgotten.
//
// The two kinds are remembered apart. Invalidations of one URI (unsafe
// methods: every successful POST, PUT, PATCH or DELETE makes one) come
// with an application's ordinary write traffic, thousands a second: the
// last uriFenceLog are kept by URI, so that checking an object costs one
// lookup and a slow fetch of one page is not refused for the writes to
// others. Pattern invalidations (the API) are few and are kept in a log of
// the last fenceLog.

// uriFenceLog is how many recent one-URI invalidations the Store
// remembers (about 1.5 MiB once the log is full): a fetch during which more
// than this many ran is not stored.
const uriFenceLog = 1 << 15

// fenceLog is how many recent pattern invalidations the Store remembers.
// A fetch that outlasts more than this many is not stored.
const fenceLog = 256

// fence is one pattern invalidation: of the paths that patterns match in
// tenant ("" for all).
type fence struct {
	gen      uint64
	tenant   string
	patterns []*glob.Star
}

// uriFence is one one-URI invalidation, in the order of uriFences.log.
type uriFence struct{ uriHash, gen uint64 }

// fences is what the Store remembers of recent invalidations. It is
// guarded by the Store's mu.
type fences struct {
	// byURI maps the hash of each URI invalidated among the last
	// uriFenceLog to the generation of its last invalidation; log holds
	// them in order (a ring, allocated on first use), next counts them.
	byURI map[uint64]uint64
	log   []uriFence
	next  uint64
	// patterns holds the last fenceLog pattern invalidations (a ring),
	// npatterns counts them.
	patterns  [fenceLog]fence
	npatterns uint64
	// forgotten is the generation of the newest invalidation forgotten:
	// an object fetched before it cannot be checked.
	forgotten uint64
}

// Errors Add returns for an object it did not keep.
var (
	// ErrTooLarge: the object's body is larger than MaxBytes/4, or the
	// whole object than MaxBytes/2.
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

// fenceURILocked records an invalidation of the URI whose hash is uh. The
// caller holds s.mu.
func (s *Store) fenceURILocked(uh uint64) {
	f := &s.fences
	gen := s.gen.Add(1)
	if f.log == nil {
		f.log = make([]uriFence, uriFenceLog)
		f.byURI = make(map[uint64]uint64)
	}
	slot := &f.log[f.next%uriFenceLog]
	if f.next >= uriFenceLog {
		if f.byURI[slot.uriHash] == slot.gen { // not invalidated again since
			delete(f.byURI, slot.uriHash)
		}
		f.forgotten = max(f.forgotten, slot.gen)
	}
	*slot = uriFence{uriHash: uh, gen: gen}
	f.byURI[uh] = gen
	f.next++
}

// fencePatternsLocked records an invalidation of the paths patterns match
// in tenant and returns its generation: the objects with a lower
// Generation were fetched before it. The caller holds s.mu.
func (s *Store) fencePatternsLocked(tenant string, patterns []*glob.Star) uint64 {
	f := &s.fences
	gen := s.gen.Add(1)
	slot := &f.patterns[f.npatterns%fenceLog]
	if f.npatterns >= fenceLog {
		f.forgotten = max(f.forgotten, slot.gen)
	}
	*slot = fence{gen: gen, tenant: tenant, patterns: patterns}
	f.npatterns++
	return gen
}

// fencedLocked reports whether an invalidation since gen covers the URI
// u, whose hash is uh, or whether one since gen has been forgotten. The
// caller holds s.mu.
func (s *Store) fencedLocked(gen uint64, u URI, uh uint64) bool {
	f := &s.fences
	if gen == 0 || gen >= s.gen.Load() {
		return false // unchecked, or no invalidation since
	}
	if gen < f.forgotten {
		return true
	}
	if g, ok := f.byURI[uh]; ok && g > gen {
		return true
	}
	for i := range min(f.npatterns, fenceLog) {
		p := &f.patterns[i]
		if p.gen > gen && (p.tenant == "" || p.tenant == u.Tenant) && matchesAny(p.patterns, u) {
			return true
		}
	}
	return false
}
