package edge

import (
	"sync"
	"time"

	"github.com/tetherlb/tether/internal/edge/cachestore"
)

// Request collapsing (spec §2.12): the first miss on a key fetches from the
// origin; later misses on the same key wait for it and get the object it
// stored. A waiter never gets the leader's own response: when the leader's
// response was not stored (it set a cookie, was private, …), each waiter
// fetches for itself. After such a response the key is "hit-for-miss" for
// a while, so requests on it are not serialised behind one another.

// collapseTimeout is how long a waiter waits for the leader before it
// fetches on its own, as nginx's proxy_cache_lock_timeout.
const collapseTimeout = 5 * time.Second

// hitForMissFor is how long a key stays hit-for-miss (Varnish's default).
const hitForMissFor = 120 * time.Second

type flight struct {
	done chan struct{}
	obj  *cachestore.Object // what the leader stored; nil if nothing
}

type flights struct {
	mu  sync.Mutex
	m   map[[32]byte]*flight
	hfm map[[32]byte]time.Time // key → hit-for-miss until
}

func newFlights() *flights {
	return &flights{m: map[[32]byte]*flight{}, hfm: map[[32]byte]time.Time{}}
}

// join returns the flight on key and whether the caller leads it.
func (f *flights) join(key [32]byte) (*flight, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.m[key]; ok {
		return fl, false
	}
	fl := &flight{done: make(chan struct{})}
	f.m[key] = fl
	return fl, true
}

// land ends the leader's flight with the object it stored (or nil).
func (f *flights) land(key [32]byte, fl *flight, obj *cachestore.Object) {
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
	fl.obj = obj
	close(fl.done)
}

// hitForMiss reports whether key is hit-for-miss at now.
func (f *flights) hitForMiss(key [32]byte, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	until, ok := f.hfm[key]
	if ok && !now.Before(until) {
		delete(f.hfm, key)
		return false
	}
	return ok
}

// markHitForMiss makes key hit-for-miss until now+hitForMissFor; clear
// ends it (a cacheable response came back). The memo is bounded: when it
// is large, expired entries are dropped first.
func (f *flights) markHitForMiss(key [32]byte, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.hfm) >= 100_000 {
		for k, until := range f.hfm {
			if !now.Before(until) || len(f.hfm) >= 100_000 {
				delete(f.hfm, k)
			}
		}
	}
	f.hfm[key] = now.Add(hitForMissFor)
}

func (f *flights) clearHitForMiss(key [32]byte) {
	f.mu.Lock()
	delete(f.hfm, key)
	f.mu.Unlock()
}
