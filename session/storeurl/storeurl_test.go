package storeurl_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/testsupport"
	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/storeurl"
)

// roundTrip stores one record and reads it back.
func roundTrip(t *testing.T, s session.Store) {
	t.Helper()
	e := session.Entry{Tenant: "t", ID: strings.Repeat("ab", 32), UserID: "u", Version: 1, Expires: time.Now().Add(time.Hour), Value: []byte("v")}
	if ok, err := s.Create(context.Background(), e); !ok || err != nil {
		t.Fatalf("Create: %v %v", ok, err)
	}
	if got, ok, err := s.Get(context.Background(), "t", e.ID); !ok || err != nil || string(got.Value) != "v" {
		t.Fatalf("Get: %v %v %q", ok, err, got.Value)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	t.Run("memory", func(t *testing.T) {
		s, err := storeurl.Open(ctx, "memory", storeurl.Options{MaxSessions: 5000})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		roundTrip(t, s)
	})
	t.Run("file relative to the config", func(t *testing.T) {
		dir := t.TempDir()
		s, err := storeurl.Open(ctx, "file:sessions.db", storeurl.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		roundTrip(t, s)
		if _, err := os.Stat(filepath.Join(dir, "sessions.db")); err != nil {
			t.Errorf("the file store is not next to the config: %v", err)
		}
	})
	t.Run("redis", func(t *testing.T) {
		r := testsupport.StartRedis(t)
		s, err := storeurl.Open(ctx, "redis://"+r.Addr, storeurl.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		roundTrip(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		pg := testsupport.StartPostgres(t)
		s, err := storeurl.Open(ctx, pg.NewDatabase(t), storeurl.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		roundTrip(t, s)
	})
	for _, bad := range []string{"mysql://root:hunter2@db/app", "file:", "sqlite:x.db"} {
		if _, err := storeurl.Open(ctx, bad, storeurl.Options{}); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) = %v; want an error without the password", bad, err)
		}
	}
}

// TestOpenDuringOutage: a Redis or PostgreSQL store that is down when it
// is opened does not stop the start: Open succeeds, every call fails (so a
// Manager answers 503) until the server is back, and then the store works
// without a restart. With a negative Retry, Open fails as before.
func TestOpenDuringOutage(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"redis", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			var url string
			var stop, start func()
			if kind == "redis" {
				r := testsupport.StartRedis(t)
				url, stop, start = "redis://"+r.Addr, r.Stop, r.Start
			} else {
				pg := testsupport.StartPostgres(t)
				url = pg.NewDatabase(t)
				stop, start = func() { pg.Stop(t) }, func() { pg.Start(t) }
			}
			stop()
			if _, err := storeurl.Open(ctx, url, storeurl.Options{Retry: -1}); err == nil {
				t.Fatal("Open with Retry -1 of a store that is down succeeded")
			}
			s, err := storeurl.Open(ctx, url, storeurl.Options{Retry: 50 * time.Millisecond})
			if err != nil {
				t.Fatalf("Open of a store that is down: %v; want it to be reached later", err)
			}
			defer s.Close()
			if _, _, err := s.Get(ctx, "t", "x"); err == nil {
				t.Fatal("Get on a store not reached yet succeeded")
			}
			time.Sleep(300 * time.Millisecond) // a few retries fail first
			start()
			testsupport.WaitFor(t, "the store reached once it is up", func() bool {
				_, _, err := s.Get(ctx, "t", "x")
				return err == nil
			})
			roundTrip(t, s)
		})
	}
}
