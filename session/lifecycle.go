package session

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Renew gives the request's session a new ID and keeps its data: the
// defence against session fixation. The old ID stops working at once, and
// a request still running under it cannot write to or revive the session.
// Call it on every privilege change; Authenticate calls it for you.
func (m *Manager) Renew(ctx context.Context) error {
	st := m.state(ctx)
	st.mu.Lock()
	defer st.mu.Unlock()
	return m.renewLocked(ctx, st, "renew", nil)
}

// renewLocked stores the session (after mutate) under a new ID and deletes
// the old one. The latest stored copy is read first so that writes other
// requests committed since this one loaded are carried over.
func (m *Manager) renewLocked(ctx context.Context, st *state, reason string, mutate func(*record)) error {
	oldID := st.id
	if st.version > 0 {
		fresh, _, found, err := m.get(ctx, st.tenant, st.id)
		if err != nil {
			return err
		}
		if found {
			st.replay(fresh)
			st.rec = fresh
		}
	}
	rec := st.rec.clone()
	rec.LastSeen = m.now()
	if mutate != nil {
		mutate(rec)
	}
	st.rec = rec
	if err := m.createLocked(ctx, st); err != nil {
		return fmt.Errorf("session: renew: %w", err)
	}
	if oldID != "" {
		sctx, cancel := m.storeCtx(ctx)
		defer cancel()
		if err := m.store.Delete(sctx, st.tenant, oldID); err != nil {
			return fmt.Errorf("session: renew: deleting the old ID: %w", errors.Join(ErrStoreUnavailable, err))
		}
		m.emit(Event{Type: EventRenewed, Reason: reason, Tenant: st.tenant, UserID: rec.UserID, Hash: m.hash(oldID)})
	}
	return nil
}

// Authenticate records that the request's user proved to be userID of
// tenantID with method (for example "password" or "password+totp"): it
// renews the session ID, restarts the absolute lifetime, stores the
// authentication time and method, and re-records the client's binding
// signals. When the Manager resolves tenants, tenantID must be the
// request's tenant (ErrTenantMismatch otherwise).
func (m *Manager) Authenticate(ctx context.Context, userID, tenantID, method string) error {
	if userID == "" {
		return errors.New("session: authenticate: empty user ID")
	}
	st := m.state(ctx)
	if !m.singleTenant() && tenantID != st.tenant {
		return ErrTenantMismatch
	}
	r, _ := ctx.Value(requestKey{}).(*http.Request)
	st.mu.Lock()
	defer st.mu.Unlock()
	err := m.renewLocked(ctx, st, "authenticate", func(rec *record) {
		now := rec.LastSeen
		rec.UserID, rec.Tenant = userID, tenantID
		rec.Created, rec.Deadline = now, now.Add(m.cfg.AbsoluteTimeout)
		rec.AuthTime, rec.AuthMethod, rec.Remembered = now, method, false
		rec.CSRF = hex.EncodeToString(randomBytes(16))
		if r != nil {
			m.bind(rec, r)
		}
	})
	if err != nil {
		return err
	}
	m.emit(Event{Type: EventAuthenticated, Reason: method, Tenant: st.tenant, UserID: userID, Hash: m.hash(st.id)})
	return nil
}

// Destroy ends the request's session on the server (and its remember-me
// token, if any) and clears its cookies. Puts after Destroy start a new
// anonymous session.
func (m *Manager) Destroy(ctx context.Context) error {
	st := m.state(ctx)
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := m.end(ctx, st, "logout"); err != nil {
		return err
	}
	if st.rec.RememberID != "" {
		st.remember = m.cookie(m.cfg.RememberCookieName, "", -1)
	}
	st.rec = m.newRecord(st.tenant, nil, m.now())
	st.rawID, st.id, st.version, st.cookie = "", "", 0, cookieClear
	st.changes, st.mutations, st.dirty = nil, nil, false
	return nil
}

// end deletes st's session and its remember-me token from the store.
func (m *Manager) end(ctx context.Context, st *state, reason string) error {
	sctx, cancel := m.storeCtx(ctx)
	defer cancel()
	for _, id := range []string{st.id, st.rec.RememberID} {
		if id == "" {
			continue
		}
		if err := m.store.Delete(sctx, st.tenant, id); err != nil {
			return fmt.Errorf("session: destroy: %w", errors.Join(ErrStoreUnavailable, err))
		}
	}
	if st.version > 0 {
		m.emit(Event{Type: EventRevoked, Reason: reason, Tenant: st.tenant, UserID: st.rec.UserID, Hash: m.hash(st.id)})
	}
	return nil
}

// ListUser returns the live sessions of userID in the request's tenant,
// newest first, with Current set on the request's own.
func (m *Manager) ListUser(ctx context.Context, userID string) ([]Info, error) {
	st := m.state(ctx)
	infos, err := m.ListUserIn(ctx, st.tenant, userID)
	st.mu.Lock()
	own := m.hash(st.id)
	st.mu.Unlock()
	for i := range infos {
		infos[i].Current = st.id != "" && infos[i].Hash == own
	}
	return infos, err
}

// ListUserIn is ListUser for a tenant named explicitly, for admin tools
// and the HTTP session API.
func (m *Manager) ListUserIn(ctx context.Context, tenant, userID string) ([]Info, error) {
	sctx, cancel := m.storeCtx(ctx)
	defer cancel()
	entries, err := m.store.ListUser(sctx, tenant, userID)
	if err != nil {
		return nil, fmt.Errorf("session: list user: %w", errors.Join(ErrStoreUnavailable, err))
	}
	now := m.now()
	infos := []Info{}
	for _, e := range entries {
		if strings.HasPrefix(e.ID, rememberPrefix) {
			continue
		}
		rec, err := decodeRecord(e.Value)
		if err != nil || expiredReason(rec, now) != "" {
			continue
		}
		infos = append(infos, m.info(e.ID, rec))
	}
	slices.SortFunc(infos, func(a, b Info) int { return b.Created.Compare(a.Created) })
	return infos, nil
}

// RevokeUser ends every session and remember-me token of userID in the
// request's tenant except the sessions whose Hash (from ListUser) is in
// except, and returns how many it ended. Use it for "log out everywhere
// else" after a password change (ASVS 7.4.3), and when an account is
// disabled (7.4.2).
func (m *Manager) RevokeUser(ctx context.Context, userID string, except ...string) (int, error) {
	st := m.state(ctx)
	st.mu.Lock()
	if st.rec.RememberID != "" && slices.Contains(except, m.hash(st.id)) {
		// Keeping this session keeps this device's remember-me token.
		except = append(slices.Clip(except), m.hash(st.rec.RememberID))
	}
	st.mu.Unlock()
	return m.RevokeUserIn(ctx, st.tenant, userID, "user", except...)
}

// RevokeUserIn is RevokeUser for a tenant named explicitly; reason goes
// into the revoked event (for example "admin").
func (m *Manager) RevokeUserIn(ctx context.Context, tenant, userID, reason string, except ...string) (int, error) {
	sctx, cancel := m.storeCtx(ctx)
	defer cancel()
	var keep []string
	if len(except) > 0 {
		entries, err := m.store.ListUser(sctx, tenant, userID)
		if err != nil {
			return 0, fmt.Errorf("session: revoke user: %w", errors.Join(ErrStoreUnavailable, err))
		}
		for _, e := range entries {
			if slices.Contains(except, m.hash(e.ID)) {
				keep = append(keep, e.ID)
			}
		}
	}
	n, err := m.store.DeleteUser(sctx, tenant, userID, keep...)
	if err != nil {
		return n, fmt.Errorf("session: revoke user: %w", errors.Join(ErrStoreUnavailable, err))
	}
	m.emit(Event{Type: EventRevoked, Reason: reason, Tenant: tenant, UserID: userID})
	return n, nil
}

// RevokeUserSession ends the session of userID in tenant whose Hash (from
// ListUser) is hash, with its remember-me token: an account page's "sign
// out this device", for a session whose ID the caller does not hold.
// reason goes into the revoked event. It returns ErrNotFound when userID
// has no live session with that hash.
func (m *Manager) RevokeUserSession(ctx context.Context, tenant, userID, hash, reason string) error {
	sctx, cancel := m.storeCtx(ctx)
	entries, err := m.store.ListUser(sctx, tenant, userID)
	cancel()
	if err != nil {
		return fmt.Errorf("session: revoke session: %w", errors.Join(ErrStoreUnavailable, err))
	}
	now := m.now()
	for _, e := range entries {
		if strings.HasPrefix(e.ID, rememberPrefix) || m.hash(e.ID) != hash {
			continue
		}
		rec, err := decodeRecord(e.Value)
		if err != nil || expiredReason(rec, now) != "" {
			break
		}
		return m.end(ctx, &state{tenant: tenant, id: e.ID, rec: rec, version: e.Version}, reason)
	}
	return ErrNotFound
}

// requestKey carries the request itself in its context, for Authenticate's
// binding signals.
type requestKey struct{}
