package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tetherlb/tether/internal/users"
)

// columns are the columns a statement returns, in the order scanUser
// reads them.
const columns = `id, username, email, name, tenant_id, roles, attributes, password_hash,
	disabled, version, created_at, updated_at, password_changed_at`

// queries are the statements of a Store, with its table's name in them.
// Every value is a parameter; the table name, validated by Options, is the
// only text spliced in.
type queries struct {
	get, getByKey, list, create, update, version, setDisabled, setPassword string
}

func newQueries(table string) queries {
	q := queries{
		get:      `SELECT ` + columns + ` FROM "{{table}}" WHERE id = $1`,
		getByKey: `SELECT ` + columns + ` FROM "{{table}}" WHERE username_key = $1`,
		list:     `SELECT ` + columns + ` FROM "{{table}}" ORDER BY username_key`,
		create: `INSERT INTO "{{table}}" (id, username, username_key, email, name, tenant_id, roles, attributes,
				password_hash, disabled, version, created_at, updated_at, password_changed_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		// A concurrent Update of the same row waits for the row lock, then
		// re-checks the WHERE against the committed row: one of two writers
		// that read the same version loses.
		update: `UPDATE "{{table}}" SET username = $2, username_key = $3, email = $4, name = $5, tenant_id = $6,
				roles = $7, attributes = $8, password_hash = $9, disabled = $10, updated_at = $11,
				password_changed_at = $12, version = version + 1
			WHERE id = $1 AND version = $13
			RETURNING ` + columns,
		version: `SELECT version FROM "{{table}}" WHERE id = $1`,
		setDisabled: `UPDATE "{{table}}" SET disabled = $2, updated_at = $3, version = version + 1
			WHERE id = $1 RETURNING ` + columns,
		setPassword: `UPDATE "{{table}}" SET password_hash = $2, password_changed_at = $3, updated_at = $3,
				version = version + 1
			WHERE id = $1 RETURNING ` + columns,
	}
	for _, p := range []*string{&q.get, &q.getByKey, &q.list, &q.create, &q.update, &q.version, &q.setDisabled, &q.setPassword} {
		*p = strings.ReplaceAll(*p, "{{table}}", table)
	}
	return q
}

// scanUser reads a row of columns.
func scanUser(row pgx.CollectableRow) (users.User, error) {
	var u users.User
	var version int64
	var changed *time.Time
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.Name, &u.TenantID, &u.Roles, &u.Attributes,
		&u.PasswordHash, &u.Disabled, &version, &u.CreatedAt, &u.UpdatedAt, &changed)
	if err != nil {
		return users.User{}, err
	}
	u.Version = uint64(version)
	u.CreatedAt, u.UpdatedAt = users.StoreTime(u.CreatedAt), users.StoreTime(u.UpdatedAt)
	if changed != nil {
		u.PasswordChangedAt = users.StoreTime(*changed)
	}
	return u.Normalize(), nil
}

// one runs a statement that returns at most one user.
func (s *Store) one(ctx context.Context, sql string, args ...any) (users.User, bool, error) {
	rows, _ := s.pool.Query(ctx, sql, args...)
	u, err := pgx.CollectExactlyOneRow(rows, scanUser)
	if errors.Is(err, pgx.ErrNoRows) {
		return users.User{}, false, nil
	}
	if err != nil {
		return users.User{}, false, err
	}
	return u, true, nil
}

// Get returns the user with the ID id.
func (s *Store) Get(ctx context.Context, id string) (users.User, bool, error) {
	u, ok, err := s.one(ctx, s.q.get, id)
	if err != nil {
		return users.User{}, false, fmt.Errorf("users/pgstore: get: %w", err)
	}
	return u, ok, nil
}

// GetByUsername returns the user whose username has the same
// users.UsernameKey as username.
func (s *Store) GetByUsername(ctx context.Context, username string) (users.User, bool, error) {
	u, ok, err := s.one(ctx, s.q.getByKey, users.UsernameKey(username))
	if err != nil {
		return users.User{}, false, fmt.Errorf("users/pgstore: get by username: %w", err)
	}
	return u, ok, nil
}

// List returns every user, ordered by users.UsernameKey.
func (s *Store) List(ctx context.Context) ([]users.User, error) {
	rows, _ := s.pool.Query(ctx, s.q.list)
	out, err := pgx.CollectRows(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("users/pgstore: list: %w", err)
	}
	return out, nil
}

// Create adds u (see users.Store).
func (s *Store) Create(ctx context.Context, u users.User) (users.User, error) {
	u, err := users.PrepareCreate(u, s.clock.Now())
	if err != nil {
		return users.User{}, fmt.Errorf("users/pgstore: create: %w", err)
	}
	_, err = s.pool.Exec(ctx, s.q.create, u.ID, u.Username, users.UsernameKey(u.Username), u.Email, u.Name,
		u.TenantID, roles(u), attributes(u), u.PasswordHash, u.Disabled, int64(u.Version), u.CreatedAt, u.UpdatedAt,
		changedAt(u))
	if err != nil {
		return users.User{}, fmt.Errorf("users/pgstore: create %q: %w", u.Username, uniqueError(err, u))
	}
	return u, nil
}

// Update replaces the user u.ID with u if its version is still u.Version
// (see users.Store).
func (s *Store) Update(ctx context.Context, u users.User) (users.User, bool, error) {
	u, err := users.PrepareUpdate(u, s.clock.Now())
	if err != nil {
		return users.User{}, false, fmt.Errorf("users/pgstore: update: %w", err)
	}
	stored, ok, err := s.one(ctx, s.q.update, u.ID, u.Username, users.UsernameKey(u.Username), u.Email, u.Name,
		u.TenantID, roles(u), attributes(u), u.PasswordHash, u.Disabled, u.UpdatedAt, changedAt(u), int64(u.Version))
	if err != nil {
		return users.User{}, false, fmt.Errorf("users/pgstore: update %s: %w", u.ID, uniqueError(err, u))
	}
	if ok {
		return stored, true, nil
	}
	var version int64
	err = s.pool.QueryRow(ctx, s.q.version, u.ID).Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return users.User{}, false, nil
	case err != nil:
		return users.User{}, false, fmt.Errorf("users/pgstore: update %s: %w", u.ID, err)
	}
	return users.User{}, false, fmt.Errorf("users/pgstore: update %s: %w (version %d, stored %d)",
		u.ID, users.ErrConflict, u.Version, version)
}

// SetDisabled sets the user id's Disabled field (see users.Store).
func (s *Store) SetDisabled(ctx context.Context, id string, disabled bool) (users.User, bool, error) {
	u, ok, err := s.one(ctx, s.q.setDisabled, id, disabled, users.StoreTime(s.clock.Now()))
	if err != nil {
		return users.User{}, false, fmt.Errorf("users/pgstore: set disabled %s: %w", id, err)
	}
	return u, ok, nil
}

// SetPassword sets the user id's password hash (see users.Store).
func (s *Store) SetPassword(ctx context.Context, id, hash string) (users.User, bool, error) {
	if err := users.CheckHash(hash); err != nil {
		return users.User{}, false, fmt.Errorf("users/pgstore: set password %s: %w", id, err)
	}
	u, ok, err := s.one(ctx, s.q.setPassword, id, hash, users.StoreTime(s.clock.Now()))
	if err != nil {
		return users.User{}, false, fmt.Errorf("users/pgstore: set password %s: %w", id, err)
	}
	return u, ok, nil
}

// uniqueError turns a unique violation into an error wrapping
// users.ErrExists that says what is taken.
func uniqueError(err error, u users.User) error {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	if !ok || pgErr.Code != "23505" { // unique_violation
		return err
	}
	if strings.HasSuffix(pgErr.ConstraintName, "_username_key") {
		return fmt.Errorf("%w: the username %q is taken", users.ErrExists, u.Username)
	}
	return fmt.Errorf("%w: the id %s is taken", users.ErrExists, u.ID)
}

// roles returns u's roles as the column takes them: never NULL.
func roles(u users.User) []string {
	if u.Roles == nil {
		return []string{}
	}
	return u.Roles
}

// attributes returns u's attributes as the column takes them: a JSON
// object, never null.
func attributes(u users.User) map[string]string {
	if u.Attributes == nil {
		return map[string]string{}
	}
	return u.Attributes
}

// changedAt returns u's PasswordChangedAt as the column takes it: NULL
// when zero.
func changedAt(u users.User) *time.Time {
	if u.PasswordChangedAt.IsZero() {
		return nil
	}
	return &u.PasswordChangedAt
}
