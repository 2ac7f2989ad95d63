package filestore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/tetherlb/tether/internal/atomicfile"
	"github.com/tetherlb/tether/internal/users"
)

// fileFormat is the version of the file format this package reads and
// writes.
const fileFormat = 1

// file is the JSON document.
type file struct {
	Format *int       `json:"format"`
	Users  []fileUser `json:"users"`
}

// fileUser is one user in the file.
type fileUser struct {
	ID                string            `json:"id"`
	Username          string            `json:"username"`
	Email             string            `json:"email,omitempty"`
	Name              string            `json:"name,omitempty"`
	TenantID          string            `json:"tenant_id,omitempty"`
	Roles             []string          `json:"roles,omitempty"`
	Attributes        map[string]string `json:"attributes,omitempty"`
	PasswordHash      string            `json:"password_hash,omitempty"`
	Disabled          bool              `json:"disabled"`
	Version           uint64            `json:"version"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
	PasswordChangedAt time.Time         `json:"password_changed_at,omitzero"`
}

// pool is the users of a file, ordered by users.UsernameKey, with indexes.
// A pool that the Store caches is never changed: a change builds a new one
// from the file.
type pool struct {
	users []users.User
	byID  map[string]int // ID → index in users
	byKey map[string]int // UsernameKey → index in users
}

// add inserts u unless its ID or username is taken.
func (p *pool) add(u users.User) error {
	if _, ok := p.byID[u.ID]; ok {
		return fmt.Errorf("%w: the id %s is taken", users.ErrExists, u.ID)
	}
	if _, ok := p.byKey[users.UsernameKey(u.Username)]; ok {
		return fmt.Errorf("%w: the username %q is taken", users.ErrExists, u.Username)
	}
	p.users = append(p.users, u)
	p.index()
	return nil
}

// replace puts u in place of users[i] unless its username is another's.
func (p *pool) replace(i int, u users.User) error {
	if j, ok := p.byKey[users.UsernameKey(u.Username)]; ok && j != i {
		return fmt.Errorf("%w: the username %q is taken", users.ErrExists, u.Username)
	}
	p.users[i] = u
	p.index()
	return nil
}

// index sorts the users and rebuilds the indexes.
func (p *pool) index() {
	slices.SortFunc(p.users, func(a, b users.User) int {
		return cmp.Compare(users.UsernameKey(a.Username), users.UsernameKey(b.Username))
	})
	p.byID = make(map[string]int, len(p.users))
	p.byKey = make(map[string]int, len(p.users))
	for i, u := range p.users {
		p.byID[u.ID] = i
		p.byKey[users.UsernameKey(u.Username)] = i
	}
}

// read returns the pool in the file, from the cache while the file is
// unchanged. The pool must not be changed.
func (s *Store) read() (*pool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.cached, s.stat = &pool{}, nil
		s.cached.index()
		return s.cached, nil
	case err != nil:
		return nil, err
	case s.cached != nil && s.stat != nil && sameFile(s.stat, info):
		return s.cached, nil
	}
	p, info, err := load(s.path)
	if err != nil {
		return nil, err
	}
	s.cached, s.stat = p, info
	return p, nil
}

// sameFile reports whether a and b describe the same version of a file:
// each change replaces the file, so it has a new identity (inode), and
// almost always a new modification time or size too. A new mode (a chmod)
// counts as a change, so that it is checked again.
func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size() && a.Mode() == b.Mode()
}

// change runs f on the pool read afresh from the file while holding the
// lock and, if f reports a change, writes the pool back.
func (s *Store) change(ctx context.Context, f func(*pool) (bool, error)) error {
	unlock, err := lock(ctx, s.path+".lock")
	if err != nil {
		return err
	}
	defer unlock()
	p, _, err := load(s.path)
	if err != nil {
		return err
	}
	if changed, err := f(p); err != nil || !changed {
		return err
	}
	data, err := p.marshal()
	if err != nil {
		return err
	}
	if err := writeFile(s.path, data); err != nil {
		return err
	}
	info, err := os.Stat(s.path)
	s.mu.Lock()
	s.cached, s.stat = p, info
	if err != nil {
		s.cached, s.stat = nil, nil
	}
	s.mu.Unlock()
	return nil
}

// load reads and parses the file at path; an absent file is an empty
// pool. It refuses a file that its group or others may read or write (on
// Windows, where Unix permission bits do not apply, the check is skipped).
func load(path string) (*pool, os.FileInfo, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		p := &pool{}
		p.index()
		return p, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, nil, fmt.Errorf("%s has mode %04o, so other users may read the password hashes or change the users; run: chmod 600 %s",
			path, uint32(perm), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(data) > MaxFileSize {
		return nil, nil, fmt.Errorf("%s is larger than %d bytes", path, MaxFileSize)
	}
	p, err := parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, info, nil
}

// parse decodes a file strictly: no unknown keys, format 1, every user
// valid and normalized, no ID or username twice. An empty file is an
// empty pool.
func parse(data []byte) (*pool, error) {
	p := &pool{}
	if len(bytes.TrimSpace(data)) == 0 {
		p.index()
		return p, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f file
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("parse: data after the JSON document")
	}
	if f.Format == nil || *f.Format != fileFormat {
		return nil, fmt.Errorf("parse: want \"format\": %d (a newer tether may have written this file)", fileFormat)
	}
	p.users = make([]users.User, 0, len(f.Users))
	for i, fu := range f.Users {
		u := fu.user()
		if err := checkStored(u); err != nil {
			return nil, fmt.Errorf("parse: user %d (%q): %w", i+1, fu.Username, err)
		}
		if err := p.add(u.Normalize()); err != nil {
			return nil, fmt.Errorf("parse: user %d: %w", i+1, err)
		}
	}
	return p, nil
}

// checkStored reports whether u is a user as a Store keeps it, but for
// what Normalize tidies (duplicate roles, empty lists).
func checkStored(u users.User) error {
	if u.Username != strings.TrimSpace(u.Username) {
		return errors.New("the username has surrounding spaces")
	}
	if u.ID == "" || u.Version == 0 {
		return errors.New("an id and a version of 1 or more are required")
	}
	return u.Validate()
}

func (fu fileUser) user() users.User {
	return users.User{
		ID: fu.ID, Username: fu.Username, Email: fu.Email, Name: fu.Name, TenantID: fu.TenantID,
		Roles: fu.Roles, Attributes: fu.Attributes, PasswordHash: fu.PasswordHash, Disabled: fu.Disabled,
		Version: fu.Version, CreatedAt: users.StoreTime(fu.CreatedAt), UpdatedAt: users.StoreTime(fu.UpdatedAt),
		PasswordChangedAt: users.StoreTime(fu.PasswordChangedAt),
	}
}

// marshal encodes p in the file format.
func (p *pool) marshal() ([]byte, error) {
	v := fileFormat
	f := file{Format: &v, Users: make([]fileUser, len(p.users))}
	for i, u := range p.users {
		f.Users[i] = fileUser{
			ID: u.ID, Username: u.Username, Email: u.Email, Name: u.Name, TenantID: u.TenantID,
			Roles: u.Roles, Attributes: u.Attributes, PasswordHash: u.PasswordHash, Disabled: u.Disabled,
			Version: u.Version, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, PasswordChangedAt: u.PasswordChangedAt,
		}
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// writeFile replaces the file at path with data atomically, mode 0600
// (see atomicfile.Write).
func writeFile(path string, data []byte) error {
	return atomicfile.Write(path, data, false)
}
