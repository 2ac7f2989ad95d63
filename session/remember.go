package session

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
	"net/http"
	"strings"
	"time"
)

// Remember-me tokens follow the split-token pattern
// (https://paragonie.com/blog/2017/02/split-tokens-token-based-authentication-protocols-without-side-channels):
// the cookie holds a selector, which finds the stored token, and a
// validator, of which only the SHA-256 is stored and which is compared in
// constant time after the lookup. The validator rotates on every use; a
// wrong validator for a known selector means the cookie was copied and
// both copies were used, so every session and token of the user is
// revoked.
const (
	rememberPrefix = "rm."
	selectorSize   = 16
	validatorSize  = 32
	// rememberGrace is how long the previous validator still restores a
	// session after a rotation, so that two tabs reopening at once do not
	// look like theft.
	rememberGrace = 10 * time.Second
)

// rememberRecord is a stored remember-me token.
type rememberRecord struct {
	Tenant     string    `json:"t,omitempty"`
	UserID     string    `json:"u"`
	Validator  string    `json:"v"`           // hex SHA-256 of the validator
	Previous   string    `json:"p,omitempty"` // the one before the last rotation
	Rotated    time.Time `json:"r,omitzero"`
	Deadline   time.Time `json:"x"`
	AuthTime   time.Time `json:"at,omitzero"`
	AuthMethod string    `json:"am,omitempty"`
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func (m *Manager) rememberCookie(selector, validator []byte, deadline time.Time) *http.Cookie {
	v := base64.RawURLEncoding.EncodeToString(selector) + "." + base64.RawURLEncoding.EncodeToString(validator)
	return m.cookie(m.cfg.RememberCookieName, v, max(1, int(deadline.Sub(m.now())/time.Second)))
}

// parseRememberCookie splits a cookie value into selector and validator.
func parseRememberCookie(v string) (selector, validator []byte, ok bool) {
	s, val, found := strings.Cut(v, ".")
	if !found || len(v) > 128 {
		return nil, nil, false
	}
	selector, err1 := base64.RawURLEncoding.DecodeString(s)
	validator, err2 := base64.RawURLEncoding.DecodeString(val)
	if err1 != nil || err2 != nil || len(selector) != selectorSize || len(validator) != validatorSize {
		return nil, nil, false
	}
	return selector, validator, true
}

// RememberMe issues a remember-me token for the request's authenticated
// session, in its own persistent cookie (RememberCookieName) that lives
// RememberLifetime at most. When the session has ended, the token
// restores a new one, marked Remembered (lower assurance). Destroy and
// RevokeUser revoke the token.
func (m *Manager) RememberMe(ctx context.Context) error {
	st := m.state(ctx)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.rec.UserID == "" {
		return errors.New("session: remember me: the session is not authenticated")
	}
	now := m.now()
	selector, validator := randomBytes(selectorSize), randomBytes(validatorSize)
	rr := rememberRecord{
		Tenant: st.rec.Tenant, UserID: st.rec.UserID, Validator: hashHex(validator),
		Deadline: now.Add(m.cfg.RememberLifetime), AuthTime: st.rec.AuthTime, AuthMethod: st.rec.AuthMethod,
	}
	id := rememberPrefix + hashHex(selector)
	sctx, cancel := m.storeCtx(ctx)
	defer cancel()
	if old := st.rec.RememberID; old != "" {
		if err := m.store.Delete(sctx, st.tenant, old); err != nil {
			return fmt.Errorf("session: remember me: %w", errors.Join(ErrStoreUnavailable, err))
		}
	}
	b, _ := json.Marshal(rr)
	ok, err := m.store.Create(sctx, Entry{Tenant: st.tenant, ID: id, UserID: rr.UserID, Version: 1, Expires: rr.Deadline, Value: b})
	if err != nil || !ok {
		return fmt.Errorf("session: remember me: %w", errors.Join(ErrStoreUnavailable, err))
	}
	setID := func(rec *record) { rec.RememberID = id }
	setID(st.rec)
	st.mutations = append(st.mutations, setID)
	st.dirty = true
	st.remember = m.rememberCookie(selector, validator, rr.Deadline)
	return nil
}

// restoreRemembered turns a valid remember-me cookie into a new session
// for its user. It returns an error only when the store is unreachable.
func (m *Manager) restoreRemembered(r *http.Request, st *state) error {
	c, err := r.Cookie(m.cfg.RememberCookieName)
	if err != nil {
		return nil
	}
	clear := m.cookie(m.cfg.RememberCookieName, "", -1)
	selector, validator, ok := parseRememberCookie(c.Value)
	if !ok {
		m.emit(Event{Type: EventRejected, Reason: "remember_malformed", Tenant: st.tenant})
		st.remember = clear
		return nil
	}
	id := rememberPrefix + hashHex(selector)
	sctx, cancel := m.storeCtx(r.Context())
	defer cancel()
	e, found, err := m.store.Get(sctx, st.tenant, id)
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return errors.Join(ErrStoreUnavailable, err)
	}
	var rr rememberRecord
	now := m.now()
	if !found || err != nil || json.Unmarshal(e.Value, &rr) != nil || !now.Before(rr.Deadline) || rr.UserID == "" {
		m.emit(Event{Type: EventRejected, Reason: "remember_unknown", Tenant: st.tenant})
		st.remember = clear
		return nil
	}
	presented := hashHex(validator)
	switch {
	case subtle.ConstantTimeCompare([]byte(presented), []byte(rr.Validator)) == 1:
		return m.rotateRemembered(sctx, st, r, e, rr, selector, now)
	case rr.Previous != "" && now.Sub(rr.Rotated) < rememberGrace &&
		subtle.ConstantTimeCompare([]byte(presented), []byte(rr.Previous)) == 1:
		// A concurrent request rotated it a moment ago: restore without
		// rotating again; that request's response carries the new cookie.
		m.restoredSession(st, r, rr, id)
		return nil
	}
	// The validator does not match: someone else used this cookie first.
	n, err := m.store.DeleteUser(sctx, st.tenant, rr.UserID)
	if err != nil {
		return errors.Join(ErrStoreUnavailable, err)
	}
	m.emit(Event{Type: EventTheftDetected, Reason: fmt.Sprintf("remember_validator_mismatch revoked=%d", n), Tenant: st.tenant, UserID: rr.UserID, Hash: m.hash(id)})
	st.remember = clear
	return nil
}

func (m *Manager) rotateRemembered(ctx context.Context, st *state, r *http.Request, e Entry, rr rememberRecord, selector []byte, now time.Time) error {
	validator := randomBytes(validatorSize)
	rr.Previous, rr.Validator, rr.Rotated = rr.Validator, hashHex(validator), now
	b, _ := json.Marshal(rr)
	next := e
	next.Version, next.Value = e.Version+1, b
	ok, err := m.store.Update(ctx, next)
	if err != nil {
		return errors.Join(ErrStoreUnavailable, err)
	}
	if !ok {
		// Another request rotated it between our read and write; it
		// restores the session, this request stays anonymous.
		return nil
	}
	m.restoredSession(st, r, rr, e.ID)
	st.remember = m.rememberCookie(selector, validator, rr.Deadline)
	return nil
}

// restoredSession makes st a new session of rr's user, to be created on
// commit, marked lower assurance.
func (m *Manager) restoredSession(st *state, r *http.Request, rr rememberRecord, id string) {
	st.rec.UserID, st.rec.Tenant = rr.UserID, rr.Tenant
	m.bind(st.rec, r)
	st.rec.AuthTime, st.rec.AuthMethod = rr.AuthTime, "remember"
	st.rec.Remembered, st.rec.RememberID = true, id
	st.dirty = true
}
