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
