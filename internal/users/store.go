package users

import (
	"context"
	"fmt"
	"time"
)

// A Store keeps the users of a pool. Implementations live in their own
// packages (users/filestore, users/pgstore) and pass the conformance suite
// in users/userstest. Every method is safe for concurrent use, also with
// other Stores (in this process or another) over the same file or
// database. Errors are returned only for system failures (an unreachable
// server, a full disk, a damaged file) and for the sentinel cases named
// below, never for a user that is absent: the lookups return (User{},
// false, nil) then, and so do the changes to a user.
//
// Users go in and come out normalized (User.Normalize); the store sets ID
// (when empty), Version and the timestamps, to its own clock, truncated to
// the microsecond. A returned User shares no memory with the store.
type Store interface {
	// Create adds u, with a new ID (NewID) if u.ID is empty, Version 1,
	// CreatedAt and UpdatedAt now, and PasswordChangedAt now if u has a
	// password hash but no PasswordChangedAt; u.Version and u's other
	// timestamps are ignored. It returns the user as stored. The error
	// wraps ErrInvalid when u fails Validate and ErrExists when another
	// user has the same username (by UsernameKey) or ID.
	Create(ctx context.Context, u User) (User, error)

	// Get returns the user with the ID id.
	Get(ctx context.Context, id string) (User, bool, error)

	// GetByUsername returns the user whose username has the same
	// UsernameKey as username.
	GetByUsername(ctx context.Context, username string) (User, bool, error)

	// List returns every user, ordered by UsernameKey.
	List(ctx context.Context) ([]User, error)

	// Update replaces the user u.ID with u if its stored Version is still
	// u.Version: a compare-and-swap, so a change based on a stale read
	// never lands. ID and CreatedAt stay as stored; Version goes up by one
	// and UpdatedAt becomes now; every other field, PasswordHash and
	// PasswordChangedAt included, is written as u has it. It returns the
	// user as stored. The error wraps ErrConflict when the version has
	// moved on, ErrExists when the new username is another user's, and
	// ErrInvalid when u fails Validate.
	Update(ctx context.Context, u User) (User, bool, error)

	// SetDisabled sets the user id's Disabled field, whatever its
	// version, and returns the user as stored.
	SetDisabled(ctx context.Context, id string, disabled bool) (User, bool, error)

	// SetPassword sets the user id's PasswordHash to hash and its
	// PasswordChangedAt to now, whatever its version, and returns the
	// user as stored. The error wraps ErrInvalid when hash is not a hash
	// this package made (HashPassword).
	SetPassword(ctx context.Context, id, hash string) (User, bool, error)

	// Close releases the store's connections.
	Close() error
}

// StoreTime returns t as stores keep timestamps: in UTC, truncated to the
// microsecond (PostgreSQL's precision), so that every store returns the
// same times.
func StoreTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// PrepareCreate returns u as a Store's Create keeps it at now (see
// Store.Create), or an error wrapping ErrInvalid. It is for the
// implementations of Store.
func PrepareCreate(u User, now time.Time) (User, error) {
	u = u.Normalize()
	if err := u.Validate(); err != nil {
		return User{}, err
	}
	if u.ID == "" {
		u.ID = NewID()
	}
	now = StoreTime(now)
	u.Version, u.CreatedAt, u.UpdatedAt = 1, now, now
	u.PasswordChangedAt = StoreTime(u.PasswordChangedAt)
	if u.PasswordHash != "" && u.PasswordChangedAt.IsZero() {
		u.PasswordChangedAt = now
	}
	return u, nil
}

// PrepareUpdate returns u normalized, with UpdatedAt now, as a Store's
// Update writes it (see Store.Update), or an error wrapping ErrInvalid.
// The store keeps the stored ID and CreatedAt and sets Version. It is for
// the implementations of Store.
func PrepareUpdate(u User, now time.Time) (User, error) {
	u = u.Normalize()
	if u.ID == "" {
		return User{}, fmt.Errorf("%w: id is empty", ErrInvalid)
	}
	if err := u.Validate(); err != nil {
		return User{}, err
	}
	u.UpdatedAt = StoreTime(now)
	u.PasswordChangedAt = StoreTime(u.PasswordChangedAt)
	return u, nil
}

// CheckHash reports whether encoded is a password hash a Store accepts:
// an argon2id PHC string that VerifyPassword can check. Its error wraps
// ErrInvalid.
func CheckHash(encoded string) error {
	if _, err := parseHash(encoded); err != nil {
		return fmt.Errorf("%w: password hash: %v", ErrInvalid, err)
	}
	return nil
}
