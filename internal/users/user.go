// Package users is the user pool of tether's token service: accounts with
// argon2id password hashes and the attributes that go into their tokens
// (email, name, tenant, roles, custom attributes), the Store contract their
// backends meet, and the Authenticator that checks a login.
//
// The backends live in their own packages: users/filestore (one JSON file,
// the embedded default) and users/pgstore (PostgreSQL). users/storeurl opens
// either from the URL that the tokens.users.store key holds, and
// users/userstest is the conformance suite both pass.
//
// Passwords follow NIST SP 800-63B §3.1.1.2
// (https://pages.nist.gov/800-63-4/sp800-63b.html): at least 8 characters,
// long ones allowed (up to 1024 bytes), no composition rules. They are
// hashed with argon2id (RFC 9106) at the parameters OWASP's Password
// Storage Cheat Sheet recommends
// (https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html).
package users

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on a user's fields, checked by Validate.
const (
	MaxUsernameLen       = 128  // characters (Unicode code points), after trimming
	MaxIDLen             = 128  // bytes; generated IDs have 32
	MaxEmailLen          = 254  // bytes (RFC 5321's limit on a path)
	MaxNameLen           = 256  // characters
	MaxTenantLen         = 128  // bytes
	MaxRoles             = 64   // roles per user
	MaxRoleLen           = 128  // bytes per role
	MaxAttributes        = 64   // custom attributes per user
	MaxAttributeKeyLen   = 64   // bytes per key
	MaxAttributeValueLen = 1024 // bytes per value
)

// Errors that Store methods wrap; match them with errors.Is.
var (
	// ErrInvalid is wrapped by the error for a user that fails Validate.
	ErrInvalid = errors.New("invalid user")
	// ErrExists is wrapped by the error of a Create or Update that would
	// give a second user the same username (compared case-insensitively,
	// see UsernameKey) or the same ID.
	ErrExists = errors.New("user exists")
	// ErrConflict is wrapped by the error of an Update whose Version no
	// longer matches the stored user's: someone changed it since it was
	// read.
	ErrConflict = errors.New("user changed since it was read")
)

// User is one account of the pool. The zero value is not a valid user; a
// Store's Create fills in ID, Version and the timestamps.
//
// Marshalled as JSON, a User omits PasswordHash, so it can be printed or
// served as it is.
type User struct {
	// ID names the user in tokens (the sub claim) and never changes: a
	// random 16 bytes in lowercase hex unless the creator chose one.
	ID string `json:"id"`
	// Username is what the user logs in with: trimmed of surrounding
	// spaces, 1 to MaxUsernameLen characters, no control characters, and
	// unique in the store regardless of case (see UsernameKey). Its case
	// is kept for display.
	Username string `json:"username"`
	// Email is the user's email address, not checked beyond its length.
	Email string `json:"email,omitempty"`
	// Name is the user's display name.
	Name string `json:"name,omitempty"`
	// TenantID is the tenant the user belongs to; empty for none.
	TenantID string `json:"tenant_id,omitempty"`
	// Roles are the user's roles, in order, without duplicates; each has
	// no white space or control characters.
	Roles []string `json:"roles,omitempty"`
	// Attributes are custom attributes. Keys are 1 to
	// MaxAttributeKeyLen bytes of ASCII letters, digits, '_', '-', '.'
	// and ':'; values are UTF-8 without NUL.
	Attributes map[string]string `json:"attributes,omitempty"`
	// PasswordHash is the argon2id hash of the password in PHC string
	// format (see HashPassword); empty for a user who cannot log in with
	// a password.
	PasswordHash string `json:"-"`
	// Disabled users cannot log in.
	Disabled bool `json:"disabled"`
	// Version counts the changes to the user, from 1 at Create; Update
	// compares it to detect a concurrent change.
	Version uint64 `json:"version"`
	// CreatedAt and UpdatedAt are set by the store.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// PasswordChangedAt is when the password was last set (not when it
	// was merely rehashed); zero for a user without one. Tokens issued
	// before it may be treated as revoked.
	PasswordChangedAt time.Time `json:"password_changed_at,omitzero"`
}

// Clone returns a copy of u that shares no slice or map with it.
func (u User) Clone() User {
	u.Roles = slices.Clone(u.Roles)
	u.Attributes = maps.Clone(u.Attributes)
	return u
}

// Normalize returns u as stores keep it: the username trimmed, duplicate
// roles dropped (the first one kept), and empty Roles and Attributes nil.
func (u User) Normalize() User {
	u = u.Clone()
	u.Username = strings.TrimSpace(u.Username)
	var roles []string
	for _, r := range u.Roles {
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	u.Roles = roles
	if len(u.Attributes) == 0 {
		u.Attributes = nil
	}
	return u
}

// attrKey is what a custom attribute's key may be.
var attrKey = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// Validate reports every problem with u's fields at once, each wrapping
// ErrInvalid. It expects a normalized user (see Normalize) and does not
// check the fields that stores set (Version and the timestamps). An empty
// ID is allowed: Create generates one.
func (u User) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if err := CheckUsername(u.Username); err != nil {
		errs = append(errs, err)
	}
	if len(u.ID) > MaxIDLen || !printable(u.ID) {
		bad("id %q: want at most %d bytes of printable UTF-8", u.ID, MaxIDLen)
	}
	if len(u.Email) > MaxEmailLen || !printable(u.Email) {
		bad("email %q: want at most %d bytes of printable UTF-8", u.Email, MaxEmailLen)
	}
	if utf8.RuneCountInString(u.Name) > MaxNameLen || !printable(u.Name) {
		bad("name %q: want at most %d printable characters", u.Name, MaxNameLen)
	}
	if len(u.TenantID) > MaxTenantLen || !printable(u.TenantID) {
		bad("tenant %q: want at most %d bytes of printable UTF-8", u.TenantID, MaxTenantLen)
	}
	if len(u.Roles) > MaxRoles {
		bad("%d roles: want at most %d", len(u.Roles), MaxRoles)
	}
	for _, r := range u.Roles {
		if r == "" || len(r) > MaxRoleLen || !printable(r) || strings.ContainsFunc(r, unicode.IsSpace) {
			bad("role %q: want 1 to %d bytes without spaces or control characters", r, MaxRoleLen)
		}
	}
	if len(u.Attributes) > MaxAttributes {
		bad("%d attributes: want at most %d", len(u.Attributes), MaxAttributes)
	}
	for _, k := range slices.Sorted(maps.Keys(u.Attributes)) {
		v := u.Attributes[k]
		if len(k) > MaxAttributeKeyLen || !attrKey.MatchString(k) {
			bad("attribute key %q: want 1 to %d of A-Z a-z 0-9 _ . : -", k, MaxAttributeKeyLen)
		}
		if len(v) > MaxAttributeValueLen || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			bad("attribute %s: want at most %d bytes of UTF-8 without NUL", k, MaxAttributeValueLen)
		}
	}
	if u.PasswordHash != "" {
		if err := CheckHash(u.PasswordHash); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CheckUsername reports whether name, already trimmed, is a valid
// username: 1 to MaxUsernameLen characters of UTF-8 without control
// characters. Its error wraps ErrInvalid.
func CheckUsername(name string) error {
	if n := utf8.RuneCountInString(name); n == 0 || n > MaxUsernameLen || !printable(name) {
		return fmt.Errorf("%w: username %q: want 1 to %d characters without control characters", ErrInvalid, name, MaxUsernameLen)
	}
	return nil
}

// UsernameKey returns the form of a username that uniqueness and lookups
// compare: trimmed and lower-cased by Unicode's simple case mapping
// (strings.ToLower), so "Alice", " alice" and "ALICE" name one user. Stores
// compute it in Go, never in SQL, so that every store folds alike whatever
// the database's collation.
func UsernameKey(name string) string {
	return strings.ToLower(strings.TrimSpace(name))
}

// NewID returns a random user ID: 16 bytes from crypto/rand in lowercase
// hex.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b[:])
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}
