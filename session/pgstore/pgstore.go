// Package pgstore is a session.Store kept in PostgreSQL, for applications
// and tether replicas that already run a PostgreSQL server they trust with
// their data.
//
// Records live in one table (tether_sessions by default), one row per
// session, with a primary key on (tenant, id), a partial index on (tenant,
// user_id) for the per-user operations and an index on the expiry for the
// sweeper. Open and New create the table and its indexes, or bring them up
// to date, with migrations embedded in the package: each runs once, inside
// a transaction that holds an advisory lock, so any number of replicas may
// start at the same moment.
//
// Every operation is one parameterized statement. Update is a
// compare-and-swap on the version column (UPDATE … WHERE version = $prev),
// so concurrent writers are serialized by PostgreSQL's row locks, and
// expiry is compared against Options.Now, passed as a parameter, never
// against the server's clock. Expired rows are invisible at once and
// deleted later, in batches, by a background sweeper.
//
// While the server is unreachable every call fails with an error, bounded
// by its context. When the server closes the connections (a restart, a
// failover), the store resets the pool, since every connection it holds is
// as dead, and reads and Delete run once more on a fresh one; writes are
// not retried, as they may have committed.
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
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tetherlb/tether/internal/pgsetup"
	"github.com/tetherlb/tether/session"
)

// Defaults for the zero fields of Options.
const (
	DefaultTable         = "tether_sessions"
	DefaultSweepInterval = time.Minute
	DefaultSweepBatch    = 1000
)

// maxTableLen leaves room, within PostgreSQL's 63-byte identifiers, for
// the longest suffix of the names derived from the table's
// ("_expires_idx"), which PostgreSQL would otherwise truncate, and make
// collide, silently.
const maxTableLen = 63 - len("_expires_idx")

// tableName is what Options.Table accepts: a plain lowercase SQL
// identifier, which needs no quoting and folds to itself.
var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// Table is the table the records live in. Its indexes and its
	// migration history (Table+"_migrations") are named after it. It must
	// be a plain lowercase identifier: ASCII letters, digits and
	// underscores, not starting with a digit, at most 51 bytes. Default
	// "tether_sessions".
	Table string

	// Now is the clock records expire by. Default time.Now. Replicas that
	// share a table should have clocks that agree.
	Now func() time.Time

	// SweepInterval is how often the background sweeper deletes expired
	// rows. Default one minute; a negative interval disables the sweeper,
	// for a deployment that has one replica sweep or sweeps with its own
	// job. Expired rows are never returned either way.
	SweepInterval time.Duration

	// SweepBatch is how many rows one sweep statement deletes at most, so
	// that a sweep never holds many row locks for long. Default 1000.
	SweepBatch int

	// Logger receives the sweeper's errors (Warn) and counts (Debug).
	// Default: nothing is logged.
	Logger *slog.Logger
}

// Validate reports every problem with o at once, naming the field. It does
// not contact the server.
func (o Options) Validate() error {
	var errs []error
	if o.Table != "" {
		if !tableName.MatchString(o.Table) {
			errs = append(errs, fmt.Errorf("pgstore: Table %q: want a plain lowercase identifier (a-z, 0-9, _; not starting with a digit)", o.Table))
		} else if len(o.Table) > maxTableLen {
			errs = append(errs, fmt.Errorf("pgstore: Table %q: longer than %d bytes", o.Table, maxTableLen))
		}
	}
	if o.SweepBatch < 0 {
		errs = append(errs, fmt.Errorf("pgstore: SweepBatch %d: want 0 (default %d) or more", o.SweepBatch, DefaultSweepBatch))
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.SweepBatch == 0 {
		o.SweepBatch = DefaultSweepBatch
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Store is a session.Store in a PostgreSQL table. It is safe for
// concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	ownsPool bool
	now      func() time.Time
	batch    int
	log      *slog.Logger
	q        queries

	stopSweep context.CancelFunc
	swept     chan struct{} // closed when the sweeper has returned
	closeOnce sync.Once
}

var _ session.Store = (*Store)(nil)

// Open connects to the PostgreSQL server dsn names (a URL or a keyword/value
// string, as pgxpool.ParseConfig accepts, pool settings included), migrates
// the table and returns a Store that owns the pool: Close closes it. Errors
// never include the DSN's password.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	pool, err := pgsetup.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: %w", err)
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
// stops the sweeper but leaves pool open: it is the caller's. The store
// resets pool (pgxpool.Pool.Reset) when a call finds that the server has
// closed the connection.
func New(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if err := migrate(ctx, pool, opts.Table); err != nil {
		return nil, err
	}
	sweepCtx, stop := context.WithCancel(context.Background())
	s := &Store{
		pool:      pool,
		now:       opts.Now,
		batch:     opts.SweepBatch,
		log:       opts.Logger.With("component", "pgstore", "table", opts.Table),
		q:         newQueries(opts.Table),
		stopSweep: stop,
		swept:     make(chan struct{}),
	}
	if opts.SweepInterval > 0 {
		go s.sweepEvery(sweepCtx, opts.SweepInterval)
	} else {
		close(s.swept)
	}
	return s, nil
}

// Close stops the sweeper, waiting for a sweep in progress to be
// cancelled, and closes the pool if Open created it. Close is idempotent
// and always returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopSweep()
		<-s.swept
		if s.ownsPool {
			s.pool.Close()
		}
	})
	return nil
}

// sweepEvery sweeps every interval until ctx is cancelled.
func (s *Store) sweepEvery(ctx context.Context, interval time.Duration) {
	defer close(s.swept)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n, err := s.sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.log.Warn("sweeping expired sessions", "deleted", n, "err", err)
		case n > 0:
			s.log.Debug("swept expired sessions", "deleted", n)
		}
	}
}

// sweep deletes every row expired by s.now(), SweepBatch rows per
// statement, and returns how many it deleted. Rows another sweeper (of
// another replica) has locked are skipped, not waited for.
func (s *Store) sweep(ctx context.Context) (int64, error) {
	now := s.now()
	var total int64
	for {
		var tag pgconn.CommandTag
		err := s.write(func() (err error) {
			tag, err = s.pool.Exec(ctx, s.q.sweep, now, s.batch)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("pgstore: sweep: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(s.batch) {
			return total, nil
		}
	}
}
