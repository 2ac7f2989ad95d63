package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tetherlb/tether/session"
)

// queries are the statements of a Store, with its table's name in them.
// Every value is a parameter; the table name, validated by Options, is the
// only text spliced in.
type queries struct {
	get, create, update, delete, listUser, deleteUser, sweep string
}

func newQueries(table string) queries {
	q := queries{
		get: `SELECT user_id, version, expires_at, value FROM "{{table}}"
			WHERE tenant = $1 AND id = $2 AND expires_at > $3`,
		// A conflicting row is replaced only if it has expired: then the
		// insert is the ID's first life again, as far as anyone can tell.
		create: `INSERT INTO "{{table}}" AS old (tenant, id, user_id, version, expires_at, value)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (tenant, id) DO UPDATE SET user_id = excluded.user_id,
				version = excluded.version, expires_at = excluded.expires_at, value = excluded.value
			WHERE old.expires_at <= $7`,
		// A concurrent Update of the same row waits for the row lock, then
		// re-checks the WHERE against the committed row: one of two writers
		// that read the same version loses.
		update: `UPDATE "{{table}}" SET user_id = $3, version = $4, expires_at = $5, value = $6
			WHERE tenant = $1 AND id = $2 AND version = $7 AND expires_at > $8`,
		delete: `DELETE FROM "{{table}}" WHERE tenant = $1 AND id = $2`,
		// user_id <> '' repeats the index's predicate so that the planner
		// can use the partial index with a generic plan.
		listUser: `SELECT id, version, expires_at, value FROM "{{table}}"
			WHERE tenant = $1 AND user_id = $2 AND user_id <> '' AND expires_at > $3`,
		// Expired rows of the user go too, but only live ones are counted:
		// the others no longer existed.
		deleteUser: `WITH gone AS (
				DELETE FROM "{{table}}"
				WHERE tenant = $1 AND user_id = $2 AND user_id <> '' AND id <> ALL($3::text[])
				RETURNING expires_at)
			SELECT count(*) FROM gone WHERE expires_at > $4`,
		sweep: `DELETE FROM "{{table}}" WHERE (tenant, id) IN (
				SELECT tenant, id FROM "{{table}}" WHERE expires_at <= $1
				LIMIT $2 FOR UPDATE SKIP LOCKED)
			AND expires_at <= $1`,
	}
	for _, p := range []*string{&q.get, &q.create, &q.update, &q.delete, &q.listUser, &q.deleteUser, &q.sweep} {
		*p = strings.ReplaceAll(*p, "{{table}}", table)
	}
	return q
}

// Get returns the live record (tenant, id). It returns (Entry{}, false,
// nil) when there is none or it has expired.
func (s *Store) Get(ctx context.Context, tenant, id string) (session.Entry, bool, error) {
	e := session.Entry{Tenant: tenant, ID: id}
	var user string
	var version int64
	err := s.read(ctx, func() error {
		return s.pool.QueryRow(ctx, s.q.get, encodeKey(tenant), encodeKey(id), s.now()).
			Scan(&user, &version, &e.Expires, &e.Value)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return session.Entry{}, false, nil
	}
	if err != nil {
		return session.Entry{}, false, fmt.Errorf("pgstore: get: %w", err)
	}
	e.Version = uint64(version)
	if e.UserID, err = decodeColumn(user); err != nil {
		return session.Entry{}, false, fmt.Errorf("pgstore: get: %w", err)
	}
	return e, true, nil
}

// Create stores e unless a live record with the same tenant and ID
// exists; then it changes nothing and returns false. An expired record
// with the same key is replaced.
func (s *Store) Create(ctx context.Context, e session.Entry) (bool, error) {
	var tag pgconn.CommandTag
	err := s.write(func() (err error) {
		tag, err = s.pool.Exec(ctx, s.q.create, encodeKey(e.Tenant), encodeKey(e.ID), encodeKey(e.UserID),
			int64(e.Version), e.Expires, value(e.Value), s.now())
		return err
	})
	if err != nil {
		return false, fmt.Errorf("pgstore: create: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Update replaces the record (e.Tenant, e.ID) with e if it is live and has
// version e.Version-1, in one statement, and reports whether it did.
func (s *Store) Update(ctx context.Context, e session.Entry) (bool, error) {
	var tag pgconn.CommandTag
	err := s.write(func() (err error) {
		tag, err = s.pool.Exec(ctx, s.q.update, encodeKey(e.Tenant), encodeKey(e.ID), encodeKey(e.UserID),
			int64(e.Version), e.Expires, value(e.Value), int64(e.Version)-1, s.now())
		return err
	})
	if err != nil {
		return false, fmt.Errorf("pgstore: update: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Delete removes the record (tenant, id), if there is one.
func (s *Store) Delete(ctx context.Context, tenant, id string) error {
	// Deleting twice is deleting once: Delete retries like a read.
	err := s.read(ctx, func() error {
		_, err := s.pool.Exec(ctx, s.q.delete, encodeKey(tenant), encodeKey(id))
		return err
	})
	if err != nil {
		return fmt.Errorf("pgstore: delete: %w", err)
	}
	return nil
}

// ListUser returns the live records of userID in tenant, in no particular
// order. An empty userID (anonymous sessions) has none.
func (s *Store) ListUser(ctx context.Context, tenant, userID string) ([]session.Entry, error) {
	if userID == "" {
		return nil, nil
	}
	var out []session.Entry
	err := s.read(ctx, func() error {
		rows, _ := s.pool.Query(ctx, s.q.listUser, encodeKey(tenant), encodeKey(userID), s.now())
		var err error
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (session.Entry, error) {
			e := session.Entry{Tenant: tenant, UserID: userID}
			var id string
			var version int64
			if err := row.Scan(&id, &version, &e.Expires, &e.Value); err != nil {
				return session.Entry{}, err
			}
			e.Version = uint64(version)
			e.ID, err = decodeColumn(id)
			return e, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: list user: %w", err)
	}
	return out, nil
}

// DeleteUser deletes every record of userID in tenant except those whose
// ID is in except, in one statement, and returns how many live records it
// deleted. An empty userID (anonymous sessions) has none.
func (s *Store) DeleteUser(ctx context.Context, tenant, userID string, except ...string) (int, error) {
	if userID == "" {
		return 0, nil
	}
	// Never nil: id <> ALL(NULL) would match no row at all.
	keep := make([]string, len(except))
	for i, id := range except {
		keep[i] = encodeKey(id)
	}
	var n int64
	err := s.write(func() error {
		return s.pool.QueryRow(ctx, s.q.deleteUser, encodeKey(tenant), encodeKey(userID), keep, s.now()).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("pgstore: delete user: %w", err)
	}
	return int(n), nil
}

// decodeColumn decodes a key column read from a row; a failure wraps
// session.ErrCorrupt.
func decodeColumn(key string) (string, error) {
	k, err := decodeKey(key)
	if err != nil {
		return "", fmt.Errorf("%w: %v", session.ErrCorrupt, err)
	}
	return k, nil
}

// value returns v, or an empty slice for nil: pgx sends a nil slice as
// NULL, which the NOT NULL value column refuses.
func value(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}
