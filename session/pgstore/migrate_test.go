//go:build linux

package pgstore

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestMigrationsNumbered checks the embedded files: numbered from 1
// without a gap, and naming the table only through the placeholder.
func TestMigrationsNumbered(t *testing.T) {
	ms, err := migrations("some_table")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations are embedded")
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %s has version %d, want %d", m.Name, m.Version, i+1)
		}
		if strings.Contains(m.SQL, DefaultTable) || strings.Contains(m.SQL, "{{") {
			t.Errorf("migration %s names a table without the placeholder", m.Name)
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

func TestMigrateIdempotent(t *testing.T) {
	first, dsn := openStore(t, Options{})
	ctx := testCtx(t)
	e := newEntry(time.Now(), "acme", "alice", time.Hour)
	if ok, err := first.Create(ctx, e); err != nil || !ok {
		t.Fatalf("Create = %v, %v", ok, err)
	}
	wantVersions, wantIndexes := schema(t, dsn, DefaultTable)

	again := openDSN(t, dsn, Options{})
	versions, indexes := schema(t, dsn, DefaultTable)
	if !slices.Equal(versions, wantVersions) || !slices.Equal(indexes, wantIndexes) {
		t.Fatalf("after a second Open: versions %v, indexes %v; want %v, %v", versions, indexes, wantVersions, wantIndexes)
	}
	if want := []string{"tether_sessions_expires_idx", "tether_sessions_pkey", "tether_sessions_user_idx"}; !slices.Equal(indexes, want) {
		t.Fatalf("indexes = %v, want %v", indexes, want)
	}
	if _, ok, err := again.Get(ctx, e.Tenant, e.ID); err != nil || !ok {
		t.Fatalf("the record stored before the second Open: Get = %v, %v", ok, err)
	}
}

// TestMigrateConcurrentOpen starts replicas at once on an empty database:
// all of them must come up, and the migrations run once.
func TestMigrateConcurrentOpen(t *testing.T) {
	dsn := pg.Get(t).NewDatabase(t)
	const replicas = 6
	var wg sync.WaitGroup
	errs := make(chan error, replicas)
	for range replicas {
		wg.Go(func() {
			s, err := Open(testCtx(t), dsn, Options{})
			if err != nil {
				errs <- err
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Open: %v", err)
	}
	ms, _ := migrations(DefaultTable)
	versions, _ := schema(t, dsn, DefaultTable)
	if len(versions) != len(ms) {
		t.Fatalf("recorded versions %v, want 1 to %d once each", versions, len(ms))
	}
}

// TestTablesApart checks that two stores with different tables in one
// database keep their own records and migration histories.
func TestTablesApart(t *testing.T) {
	a, dsn := openStore(t, Options{Table: "sessions_a"})
	b := openDSN(t, dsn, Options{Table: "sessions_b"})
	ctx := testCtx(t)
	e := newEntry(time.Now(), "acme", "alice", time.Hour)
	if ok, err := a.Create(ctx, e); err != nil || !ok {
		t.Fatalf("Create = %v, %v", ok, err)
	}
	if _, ok, err := b.Get(ctx, e.Tenant, e.ID); err != nil || ok {
		t.Fatalf("the store of table sessions_b found a record of sessions_a (%v, %v)", ok, err)
	}
	if v, _ := schema(t, dsn, "sessions_b"); len(v) == 0 {
		t.Fatal("sessions_b has no migration history of its own")
	}
}
