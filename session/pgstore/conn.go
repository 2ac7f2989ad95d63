package pgstore

import (
	"context"
	"errors"
	"io"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// connLost reports whether err means that the server closed the
// connection the statement was sent on: it shut down or restarted
// (SQLSTATE 57P01 admin_shutdown, 57P02 crash_shutdown), or the connection
// broke. A pool holds such connections until it tries them, one failed
// call each.
func connLost(err error) bool {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pgErr.Code == "57P01" || pgErr.Code == "57P02"
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// write runs a statement that changes rows. When the connection was lost
// under it, the pool drops all its connections, which went with the same
// server, so that the next call dials afresh; the write is not retried,
// since it may have committed before the connection went.
func (s *Store) write(f func() error) error {
	err := f()
	if err != nil && connLost(err) {
		s.reset(err)
	}
	return err
}

// read runs a statement that can safely run twice: after a lost
// connection the pool drops its connections and the statement runs once
// more, so that a server restart between two calls costs none of them.
func (s *Store) read(ctx context.Context, f func() error) error {
	err := f()
	if err != nil && connLost(err) && ctx.Err() == nil {
		s.reset(err)
		err = f()
	}
	return err
}

// reset closes every connection of the pool after err showed one lost.
func (s *Store) reset(err error) {
	s.log.Warn("the server closed a connection; dropping the pooled ones", "err", err)
	s.pool.Reset()
}
