package users

import (
	"container/list"
	"sync"
	"time"
)

// limiter counts failed logins per key (a username or an address) in a
// sliding window: it keeps the times of the failures of the last window
// (a sliding log, at most limit of them per key), and when they reach limit
// it locks the key. The first lockout lasts one window; each one that
// follows within a window of the previous one's end lasts twice as long as
// that one, up to maxLock.
//
// An attempt holds a slot from acquire to release, and attempts in flight
// count as failures until they end, so that many attempts at once cannot
// all pass the check before the first of them fails: at most limit
// passwords are ever being tried per key and window.
//
// It tracks at most maxKeys keys, forgetting the one used least recently
// to make room. It is safe for concurrent use.
type limiter struct {
	limit   int
	window  time.Duration
	maxLock time.Duration
	maxKeys int

	mu      sync.Mutex
	entries map[string]*list.Element // of *limitEntry
	lru     list.List                // the entries, least recently used first
}

type limitEntry struct {
	key         string
	fails       []time.Time // within the window, oldest first
	pending     int         // attempts acquired and not yet released
	lockedUntil time.Time
	lockouts    int // in a row, each within a window of the previous one's end
}

// busyRetry is the retry-after of an attempt refused because the attempts
// in flight fill the key's slots: they end within a hash's time.
const busyRetry = time.Second

func newLimiter(limit int, window, maxLock time.Duration, maxKeys int) *limiter {
	return &limiter{limit: limit, window: window, maxLock: maxLock, maxKeys: maxKeys,
		entries: make(map[string]*list.Element)}
}

// acquire starts an attempt for key at now. It returns zero if the
// attempt may go ahead, and then release must end it; otherwise how long
// to wait before trying again.
func (l *limiter) acquire(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(key)
	if now.Before(e.lockedUntil) {
		return e.lockedUntil.Sub(now)
	}
	e.prune(now, l.window)
	if len(e.fails)+e.pending >= l.limit { // not locked: attempts are in flight
		return busyRetry
	}
	e.pending++
	return 0
}

// release ends an attempt that acquire let go ahead, recording a failure
// at now if it failed. When the failure locks the key, release returns the
// length of the lockout; otherwise zero.
func (l *limiter) release(key string, now time.Time, failed bool) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[key]
	if !ok {
		return 0 // evicted, or reset by a success, meanwhile
	}
	e := el.Value.(*limitEntry)
	e.pending = max(e.pending-1, 0)
	if !failed {
		return 0
	}
	if e.lockouts > 0 && now.Sub(e.lockedUntil) >= l.window {
		e.lockouts = 0 // a quiet window since the last lockout ended
	}
	e.prune(now, l.window)
	e.fails = append(e.fails, now)
	if len(e.fails) < l.limit {
		return 0
	}
	e.lockouts++
	d := l.window
	for i := 1; i < e.lockouts && d < l.maxLock; i++ {
		d *= 2
	}
	d = min(d, l.maxLock)
	e.lockedUntil, e.fails = now.Add(d), e.fails[:0]
	return d
}

// entry returns key's entry, made the most recently used, creating it,
// and evicting the least recently used one if need be. l.mu must be held.
func (l *limiter) entry(key string) *limitEntry {
	if el, ok := l.entries[key]; ok {
		l.lru.MoveToBack(el)
		return el.Value.(*limitEntry)
	}
	if len(l.entries) >= l.maxKeys {
		oldest := l.lru.Front()
		l.lru.Remove(oldest)
		delete(l.entries, oldest.Value.(*limitEntry).key)
	}
	e := &limitEntry{key: key}
	l.entries[key] = l.lru.PushBack(e)
	return e
}

// prune drops the failures that have left the window ending at now.
func (e *limitEntry) prune(now time.Time, window time.Duration) {
	cut := 0
	for cut < len(e.fails) && now.Sub(e.fails[cut]) >= window {
		cut++
	}
	e.fails = append(e.fails[:0], e.fails[cut:]...)
}

// reset forgets key's failures and lockouts.
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.entries[key]; ok {
		l.lru.Remove(el)
		delete(l.entries, key)
	}
}

// len returns how many keys are tracked.
func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
