package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tetherlb/tether/session"
)

// Refresh tokens are opaque: base64url (no padding) of a 16-byte selector
// and a 32-byte validator, 64 characters. A login starts a family: one
// record in the refresh store, under the ID "rt." + sid, where sid is the
// hex SHA-256 of the selector (the access and ID tokens of the family
// carry it as their sid claim). The record holds only the SHA-256 of the
// validators, never a token.
//
// Each use rotates the token: the validator presented is retired and a new
// one issued with the same selector. The retired one is still answered for
// reuse_grace, so that a client that sent the same refresh twice at once
// (two tabs, a retry after a timeout) gets a second valid token rather than
// a revoked family. Any other use of a retired validator is a replay: the
// family is deleted, so the thief's and the user's tokens both stop
// working (RFC 9700 §4.14.2).
//
// Every record lives in the store's tenant namespace familyTenant under the
// user's ID, so logging out everywhere is one DeleteUser.

const (
	selectorSize  = 16
	validatorSize = 32
	// refreshTokenLen is the length of a refresh token's text.
	refreshTokenLen = (selectorSize + validatorSize) * 4 / 3
	// maxCurrent bounds the validators a family answers at once: the
	// current one and the siblings issued in its grace window.
	maxCurrent = 4
	// familyTenant is the store tenant of refresh families and per-user
	// not-before records. It cannot collide with a session's tenant: those
	// come from config or a header and never hold NUL.
	familyTenant = "\x00tokens"
	// notBeforeUser is the UserID that indexes the not-before records, so
	// that one ListUser returns them all.
	notBeforeUser = "\x00not-before"
)

var tokenEncoding = base64.RawURLEncoding.Strict()

// family is the stored record of one login's refresh tokens.
type family struct {
	User     string   `json:"u"`
	Tenant   string   `json:"t,omitempty"`
	Audience string   `json:"a"`
	Scope    []string `json:"s,omitempty"`
	AuthTime int64    `json:"at"` // the password login, Unix seconds
	Created  int64    `json:"c"`  // Unix seconds; the absolute lifetime runs from here
	// Current are the hex SHA-256 of the validators that refresh now.
	Current []string `json:"cur"`
	// Previous is the hex SHA-256 of the validator rotated out last, still
	// answered until PrevUntil (Unix milliseconds).
	Previous  string `json:"prev,omitempty"`
	PrevUntil int64  `json:"pu,omitempty"`
	Rotations int    `json:"n"`
}

// Errors of refresh token handling.
var (
	errInvalidGrant = errors.New("refresh token is invalid, expired or revoked")
	errReplayed     = errors.New("refresh token was replayed; its family is revoked")
)

// refreshToken is a parsed refresh token.
type refreshToken struct {
	selector, validator []byte
}

func newRefreshToken() (refreshToken, string) {
	b := make([]byte, selectorSize+validatorSize)
	rand.Read(b) // never fails (crypto/rand)
	return refreshToken{selector: b[:selectorSize], validator: b[selectorSize:]}, tokenEncoding.EncodeToString(b)
}

func parseRefreshToken(s string) (refreshToken, bool) {
	if len(s) != refreshTokenLen {
		return refreshToken{}, false
	}
	b, err := tokenEncoding.DecodeString(s)
	if err != nil || len(b) != selectorSize+validatorSize {
		return refreshToken{}, false
	}
	return refreshToken{selector: b[:selectorSize], validator: b[selectorSize:]}, true
}

// sid is the family's public name: hex SHA-256 of the selector.
func (t refreshToken) sid() string {
	h := sha256.Sum256(t.selector)
	return hex.EncodeToString(h[:])
}

func (t refreshToken) validatorHash() string {
	h := sha256.Sum256(t.validator)
	return hex.EncodeToString(h[:])
}

func familyID(sid string) string { return "rt." + sid }

// hashEqual compares two hex hashes in constant time.
func hashEqual(a, b string) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// families keeps refresh token families in a session store.
type families struct {
	store    session.Store
	idle     time.Duration
	absolute time.Duration
	grace    time.Duration
}

func (f *families) expires(fam *family, now time.Time) time.Time {
	abs := time.Unix(fam.Created, 0).Add(f.absolute)
	return minTime(now.Add(f.idle), abs)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// start creates a family for a login and returns its first refresh token
// and its sid. The token is valid only once this returns without error.
func (f *families) start(ctx context.Context, fam family, now time.Time) (raw, sid string, err error) {
	fam.Created = now.Unix()
	for range 3 {
		tok, raw := newRefreshToken()
		fam.Current = []string{tok.validatorHash()}
		val, err := json.Marshal(fam)
		if err != nil {
			return "", "", err
		}
		sid := tok.sid()
		ok, err := f.store.Create(ctx, session.Entry{Tenant: familyTenant, ID: familyID(sid), UserID: fam.User,
			Version: 1, Expires: f.expires(&fam, now), Value: val})
		if err != nil {
			return "", "", storeError{err}
		}
		if ok {
			return raw, sid, nil
		}
	}
	return "", "", errors.New("could not create a unique refresh token family")
}

// rotation is the outcome of a successful refresh.
type rotation struct {
	fam family
	sid string
	raw string // the new refresh token
}

// rotate checks raw and replaces it with a new token of the same family.
// check may refuse the family's user (disabled, password changed): the
// family is then deleted and errInvalidGrant returned.
func (f *families) rotate(ctx context.Context, raw string, now time.Time, check func(*family) error) (rotation, error) {
	tok, ok := parseRefreshToken(raw)
	if !ok {
		return rotation{}, errInvalidGrant
	}
	sid, vh := tok.sid(), tok.validatorHash()
	for range 8 {
		e, found, err := f.store.Get(ctx, familyTenant, familyID(sid))
		if err != nil {
			return rotation{}, storeError{err}
		}
		if !found || !now.Before(e.Expires) {
			// The store's clock may lag ours: the lifetimes are ours.
			return rotation{}, errInvalidGrant
		}
		var fam family
		if err := json.Unmarshal(e.Value, &fam); err != nil {
			return rotation{}, fmt.Errorf("refresh family %s…: %w", sid[:8], session.ErrCorrupt)
		}
		cur := slices.IndexFunc(fam.Current, func(h string) bool { return hashEqual(h, vh) })
		inGrace := fam.Previous != "" && hashEqual(fam.Previous, vh) && now.UnixMilli() < fam.PrevUntil
		if cur < 0 && !inGrace {
			if err := f.store.Delete(ctx, familyTenant, familyID(sid)); err != nil {
				return rotation{}, storeError{err}
			}
			return rotation{fam: fam, sid: sid}, errReplayed
		}
		if err := check(&fam); err != nil {
			if err := f.store.Delete(ctx, familyTenant, familyID(sid)); err != nil {
				return rotation{}, storeError{err}
			}
			return rotation{fam: fam, sid: sid}, err // the caller revokes the user's access tokens
		}
		next, nextRaw := newRefreshTokenFor(tok)
		if cur >= 0 {
			fam.Previous, fam.PrevUntil = vh, now.Add(f.grace).UnixMilli()
			fam.Current = []string{next.validatorHash()}
		} else {
			// A concurrent retry of the token just rotated out: a sibling.
			fam.Current = append(fam.Current, next.validatorHash())
			if len(fam.Current) > maxCurrent {
				fam.Current = fam.Current[len(fam.Current)-maxCurrent:]
			}
		}
		fam.Rotations++
		val, err := json.Marshal(fam)
		if err != nil {
			return rotation{}, err
		}
		e.Version++
		e.Expires = f.expires(&fam, now)
		e.Value = val
		ok, err := f.store.Update(ctx, e)
		if err != nil {
			return rotation{}, storeError{err}
		}
		if ok {
			return rotation{fam: fam, sid: sid, raw: nextRaw}, nil
		}
		// Another refresh of this family wrote first: read it again.
	}
	return rotation{}, errors.New("refresh family kept changing; try again")
}

// newRefreshTokenFor makes a new token of t's family: same selector, new
// validator.
func newRefreshTokenFor(t refreshToken) (refreshToken, string) {
	b := make([]byte, selectorSize+validatorSize)
	copy(b, t.selector)
	rand.Read(b[selectorSize:])
	return refreshToken{selector: b[:selectorSize], validator: b[selectorSize:]}, tokenEncoding.EncodeToString(b)
}

// revoke deletes the family of raw if raw is one of its live tokens (RFC
// 7009: a token that is not valid is not an error). It returns the family
// and whether one was deleted.
func (f *families) revoke(ctx context.Context, raw string) (family, bool, error) {
	tok, ok := parseRefreshToken(raw)
	if !ok {
		return family{}, false, nil
	}
	sid, vh := tok.sid(), tok.validatorHash()
	e, found, err := f.store.Get(ctx, familyTenant, familyID(sid))
	if err != nil || !found {
		return family{}, false, wrapStore(err)
	}
	var fam family
	if err := json.Unmarshal(e.Value, &fam); err != nil {
		return family{}, false, fmt.Errorf("refresh family %s…: %w", sid[:8], session.ErrCorrupt)
	}
	live := slices.ContainsFunc(fam.Current, func(h string) bool { return hashEqual(h, vh) }) ||
		fam.Previous != "" && hashEqual(fam.Previous, vh)
	if !live {
		return fam, false, nil
	}
	return fam, true, wrapStore(f.store.Delete(ctx, familyTenant, familyID(sid)))
}

// revokeSID deletes the family sid if it belongs to user.
func (f *families) revokeSID(ctx context.Context, user, sid string) (bool, error) {
	e, found, err := f.store.Get(ctx, familyTenant, familyID(sid))
	if err != nil || !found || e.UserID != user {
		return false, wrapStore(err)
	}
	return true, wrapStore(f.store.Delete(ctx, familyTenant, familyID(sid)))
}

// sidsOf lists the sids of user's live families.
func (f *families) sidsOf(ctx context.Context, user string) ([]string, error) {
	entries, err := f.store.ListUser(ctx, familyTenant, user)
	if err != nil {
		return nil, storeError{err}
	}
	sids := make([]string, 0, len(entries))
	for _, e := range entries {
		if sid, ok := strings.CutPrefix(e.ID, "rt."); ok {
			sids = append(sids, sid)
		}
	}
	return sids, nil
}

// revokeUser deletes every family of user and returns how many.
func (f *families) revokeUser(ctx context.Context, user string) (int, error) {
	n, err := f.store.DeleteUser(ctx, familyTenant, user)
	return n, wrapStore(err)
}

// storeError marks a failure of the refresh store: the service answers 503.
type storeError struct{ err error }

func (e storeError) Error() string { return "refresh store: " + e.err.Error() }
func (e storeError) Unwrap() error { return e.err }

func wrapStore(err error) error {
	if err == nil {
		return nil
	}
	return storeError{err}
}
