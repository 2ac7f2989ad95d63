package pgstore

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tetherlb/tether/internal/pgsetup"
)

// The schema, as numbered SQL files (001_name.sql, 002_name.sql, …) in
// which "{{table}}" stands for Options.Table; see internal/pgsetup.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationOwner names this store in the migrations' advisory lock key.
const migrationOwner = "tether/session/pgstore"

// migrations returns the embedded migrations for table, in order.
func migrations(table string) ([]pgsetup.Migration, error) {
	return pgsetup.Load(migrationFiles, "migrations", table)
}

// migrate brings table up to the newest embedded migration (see
// pgsetup.Run).
func migrate(ctx context.Context, pool *pgxpool.Pool, table string) error {
	if err := pgsetup.Run(ctx, pool, migrationFiles, "migrations", table, migrationOwner); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	return nil
}
