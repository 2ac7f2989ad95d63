package pgstore

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The schema, as numbered SQL files (001_name.sql, 002_name.sql, …) in
// which "{{table}}" stands for Options.Table. A migration, once released,
// never changes: a new one follows it.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations for table, in order. Their
// numbers must run 1, 2, 3, … without a gap.
func migrations(table string) ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries { // ReadDir sorts by name
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil || v != len(ms)+1 {
			return nil, fmt.Errorf("migration %s: want number %03d", e.Name(), len(ms)+1)
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{v, e.Name(), strings.ReplaceAll(string(b), "{{table}}", table)})
	}
	return ms, nil
}

// lockKey is the pg_advisory_xact_lock key that serializes the migrations
// of table across every replica.
func lockKey(table string) int64 {
	h := fnv.New64a()
	h.Write([]byte("tether/session/pgstore migrate " + table))
	return int64(h.Sum64())
}

// migrate brings table up to the newest embedded migration in one
// transaction: it takes an advisory lock, so that replicas starting
// together queue here and each later one finds the work done, reads the
// version recorded in table_migrations, and applies and records the
// migrations after it. A database migrated by a newer release (a version
// this one does not know) is left alone.
func migrate(ctx context.Context, pool *pgxpool.Pool, table string) error {
	ms, err := migrations(table)
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	defer tx.Rollback(ctx) // after Commit, a no-op
	history := `"` + table + `_migrations"`
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(table)); err != nil {
		return fmt.Errorf("pgstore: migrate: taking the lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+history+` (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+history).Scan(&current); err != nil {
		return fmt.Errorf("pgstore: migrate: reading the version: %w", err)
	}
	for _, m := range ms[min(current, len(ms)):] {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("pgstore: migrate: %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+history+` (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			return fmt.Errorf("pgstore: migrate: recording %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	return nil
}
