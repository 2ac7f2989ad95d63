package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
)

// The methods in this file work on a session named by its ID, outside a
// request that carries it in a cookie: tether's HTTP session API for apps
// in other languages and its session gateway use them. They apply the same
// rules as LoadAndSave: expiry by the Manager's clock, compare-and-swap
// writes with merge, and an old ID dead at once after a renewal.

// Snapshot is a session's metadata and data.
type Snapshot struct {
	Info
	Data map[string]json.RawMessage `json:"data"`
}

// ErrNotFound is returned by the ID-based methods for an ID that names no
// live session.
var ErrNotFound = errors.New("session: no such session")

// errBindingRevoked is the ErrNotFound of a session the binding policy
// has just ended: counted as revoked, not as an unknown ID.
var errBindingRevoked = fmt.Errorf("%w (ended: the client's network or browser changed)", ErrNotFound)

// loadID returns the state of the session rawID in tenant.
func (m *Manager) loadID(ctx context.Context, tenant, rawID string) (*state, error) {
	if !validRawID(rawID) {
		return nil, ErrNotFound
	}
	id := storeID(rawID)
	rec, version, found, err := m.get(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrNotFound
	}
	return &state{tenant: tenant, rawID: rawID, id: id, rec: rec, version: version}, nil
}

func (m *Manager) snapshot(st *state) Snapshot {
	data := st.rec.Data
	if data == nil {
		data = map[string]json.RawMessage{}
	}
	return Snapshot{Info: m.info(st.id, st.rec), Data: data}
}

// Lookup returns the session rawID of tenant. With touch, it also extends
// the idle deadline as a request through LoadAndSave would (at most once
// per TouchInterval).
func (m *Manager) Lookup(ctx context.Context, tenant, rawID string, touch bool) (Snapshot, error) {
	return m.lookupClient(ctx, tenant, rawID, nil, touch)
}

// lookupClient is Lookup, with the binding policy applied to the client c
// when c is not nil.
func (m *Manager) lookupClient(ctx context.Context, tenant, rawID string, c *Client, touch bool) (Snapshot, error) {
	st, err := m.loadID(ctx, tenant, rawID)
	if err != nil {
		return Snapshot{}, err
	}
	if c != nil {
		if err := m.checkBinding(ctx, *c, st); err != nil {
			return Snapshot{}, err
		}
		if st.version == 0 {
			return Snapshot{}, errBindingRevoked
		}
	}
	if touch {
		if err := m.commit(ctx, st); err != nil {
			return Snapshot{}, err
		}
	}
	return m.snapshot(st), nil
}

// LookupCookie is Lookup for the value of a session cookie the client c
// sent (the load balancer's session gateway), checked as LoadAndSave
// checks a request's: a value that is malformed or names no session is
// counted as a rejected event (reason malformed or unknown), so that
// guessing IDs at the gateway shows in tether_session_events_total, and
// c's signals are compared with those the session recorded (the binding
// policy: a mismatch is an event, and with revoke the session ends and
// the lookup finds none).
func (m *Manager) LookupCookie(ctx context.Context, tenant, rawID string, c Client, touch bool) (Snapshot, error) {
	snap, err := m.lookupClient(ctx, tenant, rawID, &c, touch)
	if errors.Is(err, ErrNotFound) && !errors.Is(err, errBindingRevoked) {
		if !validRawID(rawID) {
			m.emit(Event{Type: EventRejected, Reason: "malformed", Tenant: tenant})
		} else {
			m.emit(Event{Type: EventRejected, Reason: "unknown", Tenant: tenant, Hash: m.hash(storeID(rawID))})
		}
	}
	return snap, err
}

// CreateSession stores a new session of userID ("" for anonymous) in
// tenant holding data, and returns its ID. The caller hands the ID to
// the browser. The session records no client signals: see
// CreateSessionFor.
func (m *Manager) CreateSession(ctx context.Context, tenant, userID string, data map[string]json.RawMessage) (string, Snapshot, error) {
	return m.CreateSessionFor(ctx, tenant, userID, data, Client{})
}

// Client is what a caller of CreateSessionFor knows of the browser the
// session is for.
type Client struct {
	// IP is the browser's address; the zero Addr when unknown.
	IP netip.Addr
	// UserAgent is the browser's User-Agent; "" when unknown.
	UserAgent string
}

// CreateSessionFor is CreateSession for the browser c: the session records
// c's signals as one created through LoadAndSave records its request's
// (see "Binding signals" in the package doc), so that requests from
// another network or browser are noticed, and ListUser shows the address
// and User-Agent of a logged-in session. A signal c leaves empty is not
// recorded, and never mismatches.
func (m *Manager) CreateSessionFor(ctx context.Context, tenant, userID string, data map[string]json.RawMessage, c Client) (string, Snapshot, error) {
	now := m.now()
	st := &state{tenant: tenant, rec: m.newRecord(tenant, nil, now)}
	st.rec.UserID = userID
	if userID != "" {
		st.rec.AuthTime, st.rec.AuthMethod = now, "api"
	}
	m.bindClient(st.rec, c)
	applyChanges(st.rec, data)
	st.mu.Lock()
	err := m.createLocked(ctx, st)
	st.mu.Unlock()
	if err != nil {
		return "", Snapshot{}, err
	}
	return st.rawID, m.snapshot(st), nil
}

// Patch merges changes into the session rawID: each key is set to its
// value, and a JSON null removes the key. Concurrent patches and requests
// each keep their keys.
func (m *Manager) Patch(ctx context.Context, tenant, rawID string, changes map[string]json.RawMessage) (Snapshot, error) {
	st, err := m.loadID(ctx, tenant, rawID)
	if err != nil {
		return Snapshot{}, err
	}
	st.changes = map[string]json.RawMessage{}
	for k, v := range changes {
		if string(v) == "null" {
			v = nil
		}
		st.changes[k] = v
	}
	applyChanges(st.rec, st.changes)
	st.dirty = true
	before := st.version
	st.mu.Lock()
	err = m.updateLocked(ctx, st, m.now())
	st.mu.Unlock()
	if err != nil {
		return Snapshot{}, err
	}
	if st.version == before {
		return Snapshot{}, ErrNotFound // it ended while being patched
	}
	return m.snapshot(st), nil
}

// RenewID gives the session rawID a new ID, keeping its data, and returns
// it; the old ID stops working at once.
func (m *Manager) RenewID(ctx context.Context, tenant, rawID string) (string, error) {
	st, err := m.loadID(ctx, tenant, rawID)
	if err != nil {
		return "", err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := m.renewLocked(ctx, st, "api", nil); err != nil {
		return "", err
	}
	return st.rawID, nil
}

// DestroyID ends the session rawID and its remember-me token.
func (m *Manager) DestroyID(ctx context.Context, tenant, rawID string) error {
	st, err := m.loadID(ctx, tenant, rawID)
	if err != nil {
		return err
	}
	return m.end(ctx, st, "api")
}

// HashOf returns the hash that stands for the session rawID in events,
// ListUser and the X-Tether-Session header.
func (m *Manager) HashOf(rawID string) string {
	if !validRawID(rawID) {
		return ""
	}
	return m.hash(storeID(rawID))
}
