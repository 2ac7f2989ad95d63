// Package filestore is the embedded users.Store: the whole user pool in one
// JSON file, for a single machine and pools of up to some thousands of
// users (every change rewrites the file). Beyond that, or behind several
// machines, use users/pgstore.
//
// The file holds password hashes, so the store writes it with mode 0600 and
// refuses to read one that its group or others may read or write. Every
// change rewrites it whole: a temporary file in the same directory, synced,
// renamed over the old one, and the directory synced, so that a reader or a
// crash sees the old pool or the new one, never a mix. Changes are
// serialized across processes by an exclusive flock(2) on PATH.lock, a
// file next to PATH that the store creates (mode 0600) and never deletes:
// each change takes the lock, reads the file afresh, changes it and
// replaces it before letting go, so two `tether users add` at once both
// land. Reads take no lock; they reuse the pool last read while the file's
// identity, size and modification time stay the same, and read it again
// when they change.
//
// The format (format 1):
//
//	{
//	  "format": 1,
//	  "users": [
//	    {
//	      "id": "3f1c…", "username": "alice", "email": "alice@example.com",
//	      "name": "Alice", "tenant_id": "acme", "roles": ["admin"],
//	      "attributes": {"plan": "pro"},
//	      "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$…$…",
//	      "disabled": false, "version": 3,
//	      "created_at": "2030-01-02T03:04:05.123456Z",
//	      "updated_at": "…", "password_changed_at": "…"
//	    }
//	  ]
//	}
//
// Unknown keys, a format other than 1, duplicate IDs or usernames and
// users that fail users.User.Validate are errors: the store refuses a file
// it cannot fully understand rather than rewrite it without what it did
// not understand.
//
// Locking needs flock(2): Linux, the BSDs and macOS. Elsewhere every
// change fails; reads work.
package filestore

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/users"
)

// MaxFileSize bounds the file the store reads: 64 MiB, some hundred
// thousand users.
const MaxFileSize = 64 << 20

// Options configures a Store. The zero value selects every default.
type Options struct {
	// Clock sets the users' timestamps. Nil: the wall clock.
	Clock clock.Clock
}

// Store is a users.Store in a JSON file. Open one with Open; it is safe for
// concurrent use, also with Stores over the same file in other processes.
// Its methods block while another writer holds the lock, until ctx ends.
type Store struct {
	path  string
	clock clock.Clock

	mu     sync.Mutex
	cached *pool       // the pool last read or written
	stat   os.FileInfo // the file it came from; nil when there was none
}

var _ users.Store = (*Store)(nil)

// Open returns a Store over the file at path, which need not exist yet:
// the first change creates it. An existing file is read now, so that a
// bad mode or a damaged file is reported at once.
func Open(path string, opts Options) (*Store, error) {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	s := &Store{path: path, clock: opts.Clock}
	if _, err := s.read(); err != nil {
		return nil, fmt.Errorf("users/filestore: open: %w", err)
	}
	return s, nil
}

// Path returns the file the store is kept in.
func (s *Store) Path() string { return s.path }

// Close does nothing: the store holds no file open between calls.
func (s *Store) Close() error { return nil }

// Get returns the user with the ID id.
func (s *Store) Get(ctx context.Context, id string) (users.User, bool, error) {
	p, err := s.read()
	if err != nil {
		return users.User{}, false, fmt.Errorf("users/filestore: get: %w", err)
	}
	i, ok := p.byID[id]
	if !ok {
		return users.User{}, false, nil
	}
	return p.users[i].Clone(), true, nil
}

// GetByUsername returns the user whose username has the same
// users.UsernameKey as username.
func (s *Store) GetByUsername(ctx context.Context, username string) (users.User, bool, error) {
	p, err := s.read()
	if err != nil {
		return users.User{}, false, fmt.Errorf("users/filestore: get by username: %w", err)
	}
	i, ok := p.byKey[users.UsernameKey(username)]
	if !ok {
		return users.User{}, false, nil
	}
	return p.users[i].Clone(), true, nil
}

// List returns every user, ordered by users.UsernameKey.
func (s *Store) List(ctx context.Context) ([]users.User, error) {
	p, err := s.read()
	if err != nil {
		return nil, fmt.Errorf("users/filestore: list: %w", err)
	}
	out := make([]users.User, len(p.users))
	for i, u := range p.users {
		out[i] = u.Clone()
	}
	return out, nil
}

// Create adds u (see users.Store).
func (s *Store) Create(ctx context.Context, u users.User) (users.User, error) {
	u, err := users.PrepareCreate(u, s.clock.Now())
	if err != nil {
		return users.User{}, fmt.Errorf("users/filestore: create: %w", err)
	}
	err = s.change(ctx, func(p *pool) (bool, error) {
		return true, p.add(u)
	})
	if err != nil {
		return users.User{}, fmt.Errorf("users/filestore: create %q: %w", u.Username, err)
	}
	return u.Clone(), nil
}

// Update replaces the user u.ID with u if its version is still u.Version
// (see users.Store).
func (s *Store) Update(ctx context.Context, u users.User) (users.User, bool, error) {
	u, err := users.PrepareUpdate(u, s.clock.Now())
	if err != nil {
		return users.User{}, false, fmt.Errorf("users/filestore: update: %w", err)
	}
	var stored users.User
	err = s.change(ctx, func(p *pool) (bool, error) {
		i, ok := p.byID[u.ID]
		if !ok {
			return false, nil
		}
		old := p.users[i]
		if old.Version != u.Version {
			return false, fmt.Errorf("%w (version %d, stored %d)", users.ErrConflict, u.Version, old.Version)
		}
		u.CreatedAt, u.Version = old.CreatedAt, old.Version+1
		stored = u
		return true, p.replace(i, u)
	})
	if err != nil {
		return users.User{}, false, fmt.Errorf("users/filestore: update %s: %w", u.ID, err)
	}
	return stored.Clone(), stored.ID != "", nil
}

// SetDisabled sets the user id's Disabled field (see users.Store).
func (s *Store) SetDisabled(ctx context.Context, id string, disabled bool) (users.User, bool, error) {
	u, ok, err := s.modify(ctx, id, func(u *users.User) { u.Disabled = disabled })
	if err != nil {
		return users.User{}, false, fmt.Errorf("users/filestore: set disabled %s: %w", id, err)
	}
	return u, ok, nil
}

// SetPassword sets the user id's password hash (see users.Store).
func (s *Store) SetPassword(ctx context.Context, id, hash string) (users.User, bool, error) {
	if err := users.CheckHash(hash); err != nil {
		return users.User{}, false, fmt.Errorf("users/filestore: set password %s: %w", id, err)
	}
	now := users.StoreTime(s.clock.Now())
	u, ok, err := s.modify(ctx, id, func(u *users.User) { u.PasswordHash, u.PasswordChangedAt = hash, now })
	if err != nil {
		return users.User{}, false, fmt.Errorf("users/filestore: set password %s: %w", id, err)
	}
	return u, ok, nil
}

// modify applies f to the user id, whatever its version, and stores it
// with the next version and UpdatedAt now.
func (s *Store) modify(ctx context.Context, id string, f func(*users.User)) (users.User, bool, error) {
	var stored users.User
	err := s.change(ctx, func(p *pool) (bool, error) {
		i, ok := p.byID[id]
		if !ok {
			return false, nil
		}
		u := p.users[i].Clone()
		f(&u)
		u.Version++
		u.UpdatedAt = users.StoreTime(s.clock.Now())
		stored = u
		return true, p.replace(i, u)
	})
	return stored.Clone(), err == nil && stored.ID != "", err
}
