//go:build linux

package pgstore

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/testsupport"
	"github.com/tetherlb/tether/internal/users"
	"github.com/tetherlb/tether/internal/users/userstest"
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

func openDSN(t testing.TB, dsn string, opts Options) *Store {
	t.Helper()
	s, err := Open(testCtx(t), dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	fc := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC))
	userstest.Run(t, userstest.Harness{
		New: func(t *testing.T) users.Store {
			return openDSN(t, pg.Get(t).NewDatabase(t), Options{Clock: fc})
		},
		Now:     fc.Now,
		Advance: fc.Advance,
	})
}

// TestMigrationsNumbered checks the embedded files: numbered from 1
// without a gap, and naming the table only through the placeholder.
func TestMigrationsNumbered(t *testing.T) {
	ms, err := migrations("some_table")
	if err != nil || len(ms) == 0 {
		t.Fatalf("migrations = %d, %v", len(ms), err)
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %s has version %d, want %d", m.Name, m.Version, i+1)
		}
	}
}

// schema returns the versions recorded in table_migrations and the names
// of table's indexes.
func schema(t *testing.T, dsn, table string) (versions []int, indexes []string) {
	t.Helper()
	ctx := testCtx(t)
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, _ := c.Query(ctx, `SELECT version FROM "`+table+`_migrations" ORDER BY version`)
	if versions, err = pgx.CollectRows(rows, pgx.RowTo[int]); err != nil {
		t.Fatal(err)
	}
	rows, _ = c.Query(ctx, `SELECT indexname::text FROM pg_indexes WHERE tablename = $1 ORDER BY indexname`, table)
	if indexes, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	return versions, indexes
}

// TestMigrateConcurrentOpen starts processes at once on an empty database,
// then once more: all come up, the migrations run once, users stay.
func TestMigrateConcurrentOpen(t *testing.T) {
	dsn := pg.Get(t).NewDatabase(t)
	const replicas = 4
	var wg sync.WaitGroup
	for range replicas {
		wg.Go(func() {
			s, err := Open(testCtx(t), dsn, Options{})
			if err != nil {
				t.Errorf("concurrent Open: %v", err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	s := openDSN(t, dsn, Options{})
	if _, err := s.Create(testCtx(t), users.User{Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	openDSN(t, dsn, Options{})
	ms, _ := migrations(DefaultTable)
	versions, indexes := schema(t, dsn, DefaultTable)
	if len(versions) != len(ms) {
		t.Fatalf("recorded versions %v, want 1 to %d once each", versions, len(ms))
	}
	if want := []string{"tether_users_pkey", "tether_users_username_key"}; !slices.Equal(indexes, want) {
		t.Fatalf("indexes = %v, want %v", indexes, want)
	}
	if _, ok, err := s.GetByUsername(testCtx(t), "alice"); !ok || err != nil {
		t.Fatalf("the user added before the last Open: %v, %v", ok, err)
	}
}

// TestRowsReadable checks that operators can query the table: the
// username key, roles and attributes are plain SQL values.
func TestRowsReadable(t *testing.T) {
	dsn := pg.Get(t).NewDatabase(t)
	s := openDSN(t, dsn, Options{Table: "user"}) // a reserved word: quoted everywhere
	ctx := testCtx(t)
	if _, err := s.Create(ctx, users.User{Username: "Émile", Roles: []string{"admin"},
		Attributes: map[string]string{"plan": "pro"}}); err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	err = c.QueryRow(ctx, `SELECT count(*) FROM "user" WHERE username_key = 'émile' AND 'admin' = ANY(roles)
		AND attributes->>'plan' = 'pro' AND password_changed_at IS NULL`).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("rows found by SQL = %d, %v; want 1", n, err)
	}
}

func TestOptionsValidate(t *testing.T) {
	err := Options{Table: "Users; DROP"}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a table name that needs quoting")
	}
	if err := (Options{Table: "a_long_table_name_that_is_fifty_bytes_long_xxxxxxx"}).Validate(); err != nil {
		t.Fatalf("Validate of a 50-byte table name: %v", err)
	}
	if err := (Options{Table: "a_long_table_name_that_is_fifty_one_bytes_long_xxxx"}).Validate(); err == nil {
		t.Fatal("Validate accepted a 51-byte table name")
	}
}
