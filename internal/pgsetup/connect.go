package pgsetup

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Connect opens a pool on the server dsn names (a URL or a keyword/value
// string, as pgxpool.ParseConfig accepts, pool settings included). Its
// errors never include the DSN's password.
func Connect(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts passwords on a best-effort basis only; a DSN
		// malformed enough not to parse is not worth the risk.
		return nil, errors.New("the DSN does not parse (details withheld, they may include the password)")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return pool, nil
}
