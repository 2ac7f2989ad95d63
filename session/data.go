package session

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Put stores v under key in the request's session; v is encoded as JSON
// so that the HTTP session API and apps in other languages can read it.
// The write is saved when the response starts; a session that did not
// exist yet is created then. It fails only when v cannot be encoded.
func (m *Manager) Put(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("session: put %q: %w", key, err)
	}
	m.set(ctx, key, b)
	return nil
}

func (m *Manager) set(ctx context.Context, key string, b json.RawMessage) {
	st := m.state(ctx)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.changes == nil {
		st.changes = map[string]json.RawMessage{}
	}
	st.changes[key] = b
	st.dirty = true
	applyChanges(st.rec, map[string]json.RawMessage{key: b})
}

// Get returns the value stored under key in the request's session,
// decoded into a T, and whether there was one that decodes as a T.
func Get[T any](ctx context.Context, m *Manager, key string) (T, bool) {
	var v T
	st := m.state(ctx)
	st.mu.Lock()
	b, ok := st.rec.Data[key]
	st.mu.Unlock()
	if !ok || json.Unmarshal(b, &v) != nil {
		var zero T
		return zero, false
	}
	return v, true
}

// Remove deletes key from the request's session.
func (m *Manager) Remove(ctx context.Context, key string) {
	st := m.state(ctx)
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.rec.Data[key]; !ok {
		return
	}
	if st.changes == nil {
		st.changes = map[string]json.RawMessage{}
	}
	st.changes[key] = nil
	st.dirty = true
	delete(st.rec.Data, key)
}

// Keys returns the keys of the request's session, sorted.
func (m *Manager) Keys(ctx context.Context) []string {
	st := m.state(ctx)
	st.mu.Lock()
	defer st.mu.Unlock()
	keys := make([]string, 0, len(st.rec.Data))
	for k := range st.rec.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Info describes a session, for the session inventory a user sees (ASVS
// 7.5.2) and for handlers deciding on re-authentication. Hash identifies
// the session without being usable as its ID.
type Info struct {
	Hash       string    `json:"id"`
	Tenant     string    `json:"tenant_id,omitempty"`
	UserID     string    `json:"user_id,omitempty"`
	Created    time.Time `json:"created_at"`
	LastSeen   time.Time `json:"last_seen_at"`
	Expires    time.Time `json:"expires_at"`
	IdleExpiry time.Time `json:"idle_expires_at"`
	AuthTime   time.Time `json:"auth_time,omitzero"`
	AuthMethod string    `json:"auth_method,omitempty"`
	// Remembered is true for a session restored from a remember-me token:
	// lower assurance; ask for the password before sensitive changes.
	Remembered bool   `json:"remembered,omitempty"`
	IP         string `json:"ip,omitempty"`
	UserAgent  string `json:"user_agent,omitempty"`
	// Current is set by ListUser on the session of the request.
	Current bool `json:"current,omitempty"`
}

func (m *Manager) info(id string, rec *record) Info {
	return Info{
		Hash: m.hash(id), Tenant: rec.Tenant, UserID: rec.UserID,
		Created: rec.Created, LastSeen: rec.LastSeen, Expires: rec.Deadline, IdleExpiry: minTime(rec.LastSeen.Add(rec.Idle), rec.Deadline),
		AuthTime: rec.AuthTime, AuthMethod: rec.AuthMethod, Remembered: rec.Remembered,
		IP: rec.IP, UserAgent: rec.UserAgent,
	}
}

// Status returns the request's session as Info; Hash is "" while the
// session is not stored.
func (m *Manager) Status(ctx context.Context) Info {
	st := m.state(ctx)
	st.mu.Lock()
	defer st.mu.Unlock()
	return m.info(st.id, st.rec)
}

// UserID returns the user the request's session is authenticated as, or ""
// for an anonymous session.
func (m *Manager) UserID(ctx context.Context) string {
	st := m.state(ctx)
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.rec.UserID
}

// Tenant returns the tenant the request was resolved to.
func (m *Manager) Tenant(ctx context.Context) string {
	return m.state(ctx).tenant
}

// minTime returns the earlier of a and b: a session's idle expiry is never
// after its absolute one.
func minTime(a, b time.Time) time.Time {
	if !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}
