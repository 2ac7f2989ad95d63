package edge

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
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
	// done is closed when the leader lands. It is made for the first
	// waiter (under flights.mu): most misses have none.
	done chan struct{}
	obj  *cachestore.Object // what the leader stored; nil if nothing
	// failed records that the leader's revalidation got an origin error
	// or a 5xx: the stale object it was to replace stays stored, and a
	// waiter within stale-if-error takes it rather than asking again.
	failed bool
}

type flights struct {
	mu sync.Mutex
	m  map[string]*flight
	// hfm maps the SHA-256 of a key to the end of its hit-for-miss: a
	// digest rather than the key, so that the memo's 100,000 entries stay
	// small however long the keys are.
	hfm map[[sha256.Size]byte]time.Time
	// marked is len(hfm), written under mu, so that a miss need not lock
	// (or hash its key) to learn that no key is hit-for-miss.
	marked atomic.Int64
}

func newFlights() *flights {
	return &flights{m: map[string]*flight{}, hfm: map[[sha256.Size]byte]time.Time{}}
}

// join returns the flight on key and whether the caller leads it; a
// caller that does not lead waits for the flight's done. A flight is its
// own allocation, never part of the leader's exchange: waiters read it
// after the leader has returned, when its exchange serves another request.
func (f *flights) join(key string) (*flight, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.m[key]; ok {
		if fl.done == nil {
			fl.done = make(chan struct{})
		}
		return fl, false
	}
	fl := new(flight)
	f.m[key] = fl
	return fl, true
}

// land ends the leader's flight with the object it stored (or nil).
func (f *flights) land(key string, fl *flight, obj *cachestore.Object) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, key)
	fl.obj = obj
	if fl.done != nil {
		close(fl.done)
	}
}

// hitForMiss reports whether x's key is hit-for-miss at now.
func (f *flights) hitForMiss(x *exchange, now time.Time) bool {
	if f.marked.Load() == 0 {
		return false // the common case: no key is, and no digest is needed
	}
	d := x.keyDigest()
	f.mu.Lock()
	defer f.mu.Unlock()
	until, ok := f.hfm[d]
	if ok && !now.Before(until) {
		delete(f.hfm, d)
		f.marked.Store(int64(len(f.hfm)))
		return false
	}
	return ok
}

// forgetHitForMiss empties the hit-for-miss memo: a reload that carries
// the flights over to a new edge may have changed what is cacheable.
func (f *flights) forgetHitForMiss() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.hfm)
	f.marked.Store(0)
}

// hitForMissMax bounds the hit-for-miss memo.
const hitForMissMax = 100_000

// markHitForMiss makes x's key hit-for-miss until now+hitForMissFor;
// clearHitForMiss ends it (a cacheable response came back). The memo is
// bounded: when it is full, expired entries are dropped, and others too
// until an eighth of it is free, so that the sweep, which reads the whole
// memo under the lock every miss takes, runs once per 12,500 marks at
// most, not at every mark of a client that keeps it full.
func (f *flights) markHitForMiss(x *exchange, now time.Time) {
	d := x.keyDigest()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.hfm) >= hitForMissMax {
		for k, until := range f.hfm {
			if !now.Before(until) {
				delete(f.hfm, k)
			}
		}
		for k := range f.hfm {
			if len(f.hfm) <= hitForMissMax*7/8 {
				break
			}
			delete(f.hfm, k)
		}
	}
	f.hfm[d] = now.Add(hitForMissFor)
	f.marked.Store(int64(len(f.hfm)))
}

func (f *flights) clearHitForMiss(x *exchange) {
	if f.marked.Load() == 0 {
		return
	}
	d := x.keyDigest()
	f.mu.Lock()
	delete(f.hfm, d)
	f.marked.Store(int64(len(f.hfm)))
	f.mu.Unlock()
}
