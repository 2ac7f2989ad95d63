//go:build linux

package pgstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/testsupport"
	"github.com/tetherlb/tether/session"
)

// TestReconnect stops the server under a store: calls fail with an error,
// within their context's deadline, and once the server is back the same
// store works again.
func TestReconnect(t *testing.T) {
	server := testsupport.StartPostgres(t)
	s := openDSN(t, server.NewDatabase(t), Options{SweepInterval: -1})
	e := newEntry(time.Now(), "acme", "alice", time.Hour)
	if ok, err := s.Create(testCtx(t), e); err != nil || !ok {
		t.Fatalf("Create = %v, %v", ok, err)
	}

	server.Stop(t)
	for _, op := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Get", func(ctx context.Context) error {
			_, _, err := s.Get(ctx, e.Tenant, e.ID)
			return err
		}},
		{"Create", func(ctx context.Context) error {
			_, err := s.Create(ctx, newEntry(time.Now(), "acme", "", time.Hour))
			return err
		}},
		{"ListUser", func(ctx context.Context) error {
			_, err := s.ListUser(ctx, e.Tenant, e.UserID)
			return err
		}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := op.call(ctx)
		cancel()
		if err == nil {
			t.Fatalf("%s with the server stopped returned no error", op.name)
		}
	}

	server.Start(t)
	e = mustGetVersion(t, s, e, 1)
	e.Version = 2
	if ok, err := s.Update(testCtx(t), e); err != nil || !ok {
		t.Fatalf("Update after the server came back = %v, %v", ok, err)
	}
}

// TestRestartBetweenCalls restarts the server while the pool holds idle
// connections to it, which the restart broke: the next call must not fail
// because of them.
func TestRestartBetweenCalls(t *testing.T) {
	server := testsupport.StartPostgres(t)
	s := openDSN(t, server.NewDatabase(t), Options{SweepInterval: -1})
	e := newEntry(time.Now(), "acme", "alice", time.Hour)
	if ok, err := s.Create(testCtx(t), e); err != nil || !ok {
		t.Fatalf("Create = %v, %v", ok, err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				s.Get(testCtx(t), e.Tenant, e.ID)
			}
		})
	}
	wg.Wait()
	if n := s.pool.Stat().IdleConns(); n < 2 {
		t.Fatalf("the pool holds %d idle connections; the test needs several", n)
	}

	server.Stop(t)
	server.Start(t)
	mustGetVersion(t, s, e, 1)
	if got, err := s.ListUser(testCtx(t), e.Tenant, e.UserID); err != nil || len(got) != 1 {
		t.Fatalf("ListUser after the restart = %d records, %v; want 1", len(got), err)
	}
}

func mustGetVersion(t *testing.T, s *Store, e session.Entry, version uint64) session.Entry {
	t.Helper()
	got, ok, err := s.Get(testCtx(t), e.Tenant, e.ID)
	if err != nil || !ok || got.Version != version {
		t.Fatalf("Get after the server came back = version %d, %v, %v; want version %d", got.Version, ok, err, version)
	}
	return got
}
