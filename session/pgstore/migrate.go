package pgstore

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tetherlb/tether/internal/pgmigrate"
)

// The schema, as numbered SQL files (001_name.sql, 002_name.sql, …) in
// which "{{table}}" stands for Options.Table; see internal/pgmigrate.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationOwner names this store in the migrations' advisory lock key.
const migrationOwner = "tether/session/pgstore"

// migrations returns the embedded migrations for table, in order.
func migrations(table string) ([]pgmigrate.Migration, error) {
	return pgmigrate.Load(migrationFiles, "migrations", table)
}

// migrate brings table up to the newest embedded migration (see
// pgmigrate.Run).
func migrate(ctx context.Context, pool *pgxpool.Pool, table string) error {
	if err := pgmigrate.Run(ctx, pool, migrationFiles, "migrations", table, migrationOwner); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	return nil
}
