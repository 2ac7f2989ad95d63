//go:build linux

package pgstore

import (
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/clock"
)

func TestSweep(t *testing.T) {
	fake := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	// A batch of 3 makes the 10 expired rows take four statements.
	s, dsn := openStore(t, Options{Now: fake.Now, SweepInterval: -1, SweepBatch: 3})
	ctx := testCtx(t)
	for i := range 12 {
		ttl := time.Second
		if i%6 == 0 {
			ttl = time.Hour
		}
		if ok, err := s.Create(ctx, newEntry(fake.Now(), "acme", "alice", ttl)); err != nil || !ok {
			t.Fatalf("Create = %v, %v", ok, err)
		}
	}
	if n, err := s.sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep before anything expired = %d, %v; want 0", n, err)
	}
	fake.Advance(2 * time.Second)
	if n := countRows(t, dsn, DefaultTable); n != 12 {
		t.Fatalf("before the sweep the table holds %d rows, want 12", n)
	}
	if n, err := s.sweep(ctx); err != nil || n != 10 {
		t.Fatalf("sweep = %d, %v; want 10", n, err)
	}
	if n := countRows(t, dsn, DefaultTable); n != 2 {
		t.Fatalf("after the sweep the table holds %d rows, want the 2 live ones", n)
	}
	if got, err := s.ListUser(ctx, "acme", "alice"); err != nil || len(got) != 2 {
		t.Fatalf("ListUser after the sweep = %d records, %v; want 2", len(got), err)
	}
}

// TestSweeperRuns checks the background sweeper: expired rows disappear
// without anyone calling sweep, and Close stops it.
func TestSweeperRuns(t *testing.T) {
	fake := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s, dsn := openStore(t, Options{Now: fake.Now, SweepInterval: 10 * time.Millisecond})
	ctx := testCtx(t)
	for range 3 {
		if ok, err := s.Create(ctx, newEntry(fake.Now(), "acme", "", time.Second)); err != nil || !ok {
			t.Fatalf("Create = %v, %v", ok, err)
		}
	}
	fake.Advance(2 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for countRows(t, dsn, DefaultTable) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper left expired rows in the table for 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	select {
	case <-s.swept:
	default:
		t.Fatal("the sweeper still runs after Close")
	}
}
