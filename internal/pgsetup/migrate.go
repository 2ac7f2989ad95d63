// Package pgsetup is what every tether PostgreSQL store does before it
// serves: connect without ever showing the DSN's password (Connect), and
// apply its embedded SQL migrations (Run): numbered files (001_name.sql,
// 002_name.sql, …) in which "{{table}}" stands for the store's table name,
// applied in one transaction under an advisory lock and recorded in
// TABLE_migrations. A migration, once released, never changes: a new one
// follows it.
package pgsetup

import (
	"context"
	"fmt"
	"hash/fnv"
	"io/fs"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Migration is one numbered SQL file, with the table name filled in.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load returns the migrations in dir of files for table, in order. Their
// numbers must run 1, 2, 3, … without a gap.
func Load(files fs.FS, dir, table string) ([]Migration, error) {
	entries, err := fs.ReadDir(files, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries { // ReadDir sorts by name
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil || v != len(ms)+1 {
			return nil, fmt.Errorf("migration %s: want number %03d", e.Name(), len(ms)+1)
		}
		b, err := fs.ReadFile(files, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{v, e.Name(), strings.ReplaceAll(string(b), "{{table}}", table)})
	}
	return ms, nil
}

// LockKey is the pg_advisory_xact_lock key that serialises the migrations
// of owner's table across every replica.
func LockKey(owner, table string) int64 {
	h := fnv.New64a()
	h.Write([]byte(owner + " migrate " + table))
	return int64(h.Sum64())
}

// Run brings table up to the newest migration in dir of files, in one
// transaction: it takes the advisory lock (so that replicas starting
// together queue here and each later one finds the work done), reads the
// version recorded in TABLE_migrations, and applies and records the
// migrations after it. A database migrated by a newer release (a version
// this one does not know) is left alone. owner names the store in the lock
// key, such as "tether/session/pgstore".
func Run(ctx context.Context, pool *pgxpool.Pool, files fs.FS, dir, table, owner string) error {
	ms, err := Load(files, dir, table)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback(ctx) // after Commit, a no-op
	history := `"` + table + `_migrations"`
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, LockKey(owner, table)); err != nil {
		return fmt.Errorf("migrate: taking the lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+history+` (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+history).Scan(&current); err != nil {
		return fmt.Errorf("migrate: reading the version: %w", err)
	}
	for _, m := range ms[min(current, len(ms)):] {
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+history+` (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return fmt.Errorf("migrate: recording %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
