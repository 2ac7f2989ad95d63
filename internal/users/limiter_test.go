package users

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fail runs one failed attempt for key at now and returns the lockout it
// caused; an attempt refused returns the negated retry-after.
func fail(l *limiter, key string, now time.Time) time.Duration {
	if d := l.acquire(key, now); d > 0 {
		return -d
	}
	return l.release(key, now, true)
}

// lockedFor returns how long an attempt for key at now must wait.
func lockedFor(l *limiter, key string, now time.Time) time.Duration {
	d := l.acquire(key, now)
	if d == 0 {
		l.release(key, now, false)
	}
	return d
}

func TestLimiterSlidingWindow(t *testing.T) {
	l := newLimiter(3, 10*time.Minute, time.Hour, 100)
	fail(l, "k", t0)
	fail(l, "k", t0.Add(6*time.Minute))
	// The first failure leaves the window before the third comes.
	if d := fail(l, "k", t0.Add(11*time.Minute)); d != 0 {
		t.Fatalf("third failure over 11 minutes locked for %v; the window is 10", d)
	}
	if d := fail(l, "k", t0.Add(12*time.Minute)); d != 10*time.Minute {
		t.Fatalf("third failure within 10 minutes locked for %v, want 10m", d)
	}
	if d := lockedFor(l, "k", t0.Add(15*time.Minute)); d != 7*time.Minute {
		t.Fatalf("lockedFor 3 minutes into the lockout = %v, want 7m", d)
	}
	if d := lockedFor(l, "other", t0.Add(15*time.Minute)); d != 0 {
		t.Fatalf("another key is locked for %v", d)
	}
	if d := lockedFor(l, "k", t0.Add(22*time.Minute)); d != 0 {
		t.Fatalf("still locked for %v after the lockout", d)
	}
}

func TestLimiterLockoutsDouble(t *testing.T) {
	const window = 10 * time.Minute
	l := newLimiter(2, window, 35*time.Minute, 100)
	now := t0
	var got []time.Duration
	for range 4 {
		fail(l, "k", now)
		d := fail(l, "k", now)
		got = append(got, d)
		now = now.Add(d) // fail again as soon as the lockout ends
	}
	if want := fmt.Sprint([]time.Duration{10 * time.Minute, 20 * time.Minute, 35 * time.Minute, 35 * time.Minute}); fmt.Sprint(got) != want {
		t.Fatalf("lockouts in a row = %v, want %v (doubling, capped)", got, want)
	}
	// A quiet window after the last lockout starts over.
	now = now.Add(window)
	fail(l, "k", now)
	if d := fail(l, "k", now); d != window {
		t.Fatalf("lockout after a quiet window = %v, want %v", d, window)
	}
}

func TestLimiterReset(t *testing.T) {
	l := newLimiter(2, time.Minute, time.Hour, 100)
	fail(l, "k", t0)
	l.reset("k")
	if d := fail(l, "k", t0); d != 0 {
		t.Fatalf("a failure after reset locked for %v: the one before was not forgotten", d)
	}
}

func TestLimiterBoundedKeys(t *testing.T) {
	l := newLimiter(2, time.Minute, time.Hour, 3)
	fail(l, "old", t0)
	fail(l, "a", t0)
	fail(l, "b", t0)
	fail(l, "old", t0) // "old" locks, and is now the most recent
	fail(l, "c", t0)   // evicts "a", the least recent
	if n := l.len(); n != 3 {
		t.Fatalf("tracking %d keys, want at most 3", n)
	}
	if lockedFor(l, "old", t0) == 0 {
		t.Fatal("the most recently failed key was evicted")
	}
	if d := fail(l, "a", t0); d != 0 {
		t.Fatal("the evicted key kept its failure")
	}
}

// TestLimiterAttemptsInFlight checks that attempts in flight take slots:
// many at once cannot all pass before the first of them fails.
func TestLimiterAttemptsInFlight(t *testing.T) {
	l := newLimiter(3, time.Minute, time.Hour, 100)
	fail(l, "k", t0)
	for i := range 2 {
		if d := l.acquire("k", t0); d != 0 {
			t.Fatalf("attempt %d refused (%v) with one failure and %d in flight", i+2, d, i)
		}
	}
	if d := l.acquire("k", t0); d != busyRetry {
		t.Fatalf("attempt with 1 failure and 2 in flight = %v, want refused for %v", d, busyRetry)
	}
	l.release("k", t0, false)
	if d := l.acquire("k", t0); d != 0 {
		t.Fatalf("attempt after one in flight succeeded = %v, want it to go ahead", d)
	}
	l.release("k", t0, true)
	if d := l.release("k", t0, true); d != time.Minute {
		t.Fatalf("the third failure locked for %v, want 1m", d)
	}
}
