//go:build linux

package pgstore

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/testsupport"
	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/storetest"
)

// pg is the PostgreSQL server the package's tests share; each store gets a
// database of its own on it.
var pg testsupport.SharedPostgres

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pg.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = max(code, 1)
	}
	os.Exit(code)
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openStore opens a Store on a fresh database of the shared server and
// returns it with the database's DSN. The store is closed when the test
// ends.
func openStore(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	dsn := pg.Get(t).NewDatabase(t)
	return openDSN(t, dsn, opts), dsn
}

func openDSN(t testing.TB, dsn string, opts Options) *Store {
	t.Helper()
	s, err := Open(testCtx(t), dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// countRows returns how many rows table holds, expired or not.
func countRows(t testing.TB, dsn, table string) int {
	t.Helper()
	ctx := testCtx(t)
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM "`+table+`"`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func newEntry(now time.Time, tenant, user string, ttl time.Duration) session.Entry {
	return session.Entry{
		Tenant:  tenant,
		ID:      storetest.NewID(),
		UserID:  user,
		Version: 1,
		Expires: now.Add(ttl),
		Value:   []byte(`{"cart":["apple"]}`),
	}
}

func TestConformance(t *testing.T) {
	fake := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) session.Store {
			s, _ := openStore(t, Options{Now: fake.Now})
			return s
		},
		Now:     fake.Now,
		Advance: fake.Advance,
	})
}

// TestReservedWordTable checks that the table name is quoted everywhere:
// "user" is a valid identifier but a reserved word.
func TestReservedWordTable(t *testing.T) {
	s, dsn := openStore(t, Options{Table: "user"})
	ctx := testCtx(t)
	e := newEntry(time.Now(), "acme", "alice", time.Hour)
	if ok, err := s.Create(ctx, e); err != nil || !ok {
		t.Fatalf("Create = %v, %v", ok, err)
	}
	if _, ok, err := s.Get(ctx, e.Tenant, e.ID); err != nil || !ok {
		t.Fatalf("Get = %v, %v", ok, err)
	}
	if n, err := s.sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	if n := countRows(t, dsn, "user"); n != 1 {
		t.Fatalf("table user holds %d rows, want 1", n)
	}
}

// TestStoredKeysReadable checks that ordinary tenants and users are stored
// as they are, so operators can query the table, and hostile ones come
// back intact.
func TestStoredKeysReadable(t *testing.T) {
	s, dsn := openStore(t, Options{})
	ctx := testCtx(t)
	plain := newEntry(time.Now(), "acme", "alice@example.com", time.Hour)
	hostile := newEntry(time.Now(), "a\x00b\\", "\xff\xfeu", time.Hour)
	for _, e := range []session.Entry{plain, hostile} {
		if ok, err := s.Create(ctx, e); err != nil || !ok {
			t.Fatalf("Create(%q) = %v, %v", e.Tenant, ok, err)
		}
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	err = c.QueryRow(ctx, `SELECT count(*) FROM tether_sessions WHERE tenant = 'acme' AND user_id = 'alice@example.com'`).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("rows of acme/alice@example.com found by SQL = %d, %v; want 1", n, err)
	}
	got, err := s.ListUser(ctx, hostile.Tenant, hostile.UserID)
	if err != nil || len(got) != 1 || got[0].ID != hostile.ID {
		t.Fatalf("ListUser(%q, %q) = %v, %v; want the hostile record", hostile.Tenant, hostile.UserID, got, err)
	}
	e, ok, err := s.Get(ctx, hostile.Tenant, hostile.ID)
	if err != nil || !ok || e.UserID != hostile.UserID {
		t.Fatalf("Get of the hostile record = %q, %v, %v; want user %q", e.UserID, ok, err, hostile.UserID)
	}
}

func TestDeleteUserCountsLiveRecords(t *testing.T) {
	fake := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s, dsn := openStore(t, Options{Now: fake.Now, SweepInterval: -1})
	ctx := testCtx(t)
	for _, ttl := range []time.Duration{time.Second, time.Hour, time.Hour} {
		if ok, err := s.Create(ctx, newEntry(fake.Now(), "acme", "alice", ttl)); err != nil || !ok {
			t.Fatalf("Create = %v, %v", ok, err)
		}
	}
	fake.Advance(2 * time.Second)
	if n, err := s.DeleteUser(ctx, "acme", "alice"); err != nil || n != 2 {
		t.Fatalf("DeleteUser = %d, %v; want 2: the expired record no longer existed", n, err)
	}
	if n := countRows(t, dsn, DefaultTable); n != 0 {
		t.Fatalf("after DeleteUser the table holds %d rows, want 0: the expired one goes too", n)
	}
}
