// Package pgstore is a users.Store kept in PostgreSQL, for pools that
// outgrow a file or that several machines share.
//
// Users live in one table (tether_users by default), one row per user,
// keyed by ID, with a unique index on username_key: the users.UsernameKey
// of the username, computed in Go so that uniqueness regardless of case
// means the same as in the file store whatever the database's collation.
// Open and New create the table and its index, or bring them up to date,
// with migrations embedded in the package: each runs once, inside a
// transaction that holds an advisory lock, so any number of processes may
// start at the same moment.
//
// Every operation is one parameterized statement (an Update that matches
// no row is followed by a lookup, to tell a stale version from a missing
// user). Update is a compare-and-swap on the version column, and the
// timestamps are the store's clock, passed as parameters, never the
// server's.
//
//	store, err := pgstore.Open(ctx, "postgres://tether@db.internal/app", pgstore.Options{})
//	if err != nil {
//		return err
//	}
//	defer store.Close()
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/pgsetup"
	"github.com/tetherlb/tether/internal/users"
)

// DefaultTable is the table of a zero Options.Table.
const DefaultTable = "tether_users"

// maxTableLen leaves room, within PostgreSQL's 63-byte identifiers, for
// the longest suffix of the names derived from the table's
// ("_username_key"), which PostgreSQL would otherwise truncate silently.
const maxTableLen = 63 - len("_username_key")

// tableName is what Options.Table accepts: a plain lowercase SQL
// identifier, which needs no quoting and folds to itself.
var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// Table is the table the users live in. Its index and its migration
	// history (Table+"_migrations") are named after it. It must be a plain
	// lowercase identifier: ASCII letters, digits and underscores, not
	// starting with a digit, at most 50 bytes. Default "tether_users".
	Table string

	// Clock sets the users' timestamps. Nil: the wall clock.
	Clock clock.Clock
}

// Validate reports every problem with o at once, naming the field. It does
// not contact the server.
func (o Options) Validate() error {
	var errs []error
	if o.Table != "" {
		if !tableName.MatchString(o.Table) {
			errs = append(errs, fmt.Errorf("users/pgstore: Table %q: want a plain lowercase identifier (a-z, 0-9, _; not starting with a digit)", o.Table))
		} else if len(o.Table) > maxTableLen {
			errs = append(errs, fmt.Errorf("users/pgstore: Table %q: longer than %d bytes", o.Table, maxTableLen))
		}
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	return o
}

// Store is a users.Store in a PostgreSQL table. It is safe for concurrent
// use.
type Store struct {
	pool     *pgxpool.Pool
	ownsPool bool
	clock    clock.Clock
	q        queries
}

var _ users.Store = (*Store)(nil)

// Open connects to the PostgreSQL server dsn names (a URL or a
// keyword/value string, as pgxpool.ParseConfig accepts, pool settings
// included), migrates the table and returns a Store that owns the pool:
// Close closes it. Errors never include the DSN's password.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	pool, err := pgsetup.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("users/pgstore: open: %w", err)
	}
	s, err := New(ctx, pool, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownsPool = true
	return s, nil
}

// New returns a Store that uses pool, after migrating the table. Close
// leaves pool open: it is the caller's.
func New(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if err := migrate(ctx, pool, opts.Table); err != nil {
		return nil, err
	}
	return &Store{pool: pool, clock: opts.Clock, q: newQueries(opts.Table)}, nil
}

// Close closes the pool if Open created it. It is idempotent and returns
// nil.
func (s *Store) Close() error {
	if s.ownsPool {
		s.pool.Close()
	}
	return nil
}
