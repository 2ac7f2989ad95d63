package session

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"time"
)

// record is what the Manager keeps for one session, encoded into
// Entry.Value. Short JSON names keep it small; Data holds the application's
// values as JSON so that the HTTP session API and apps in other languages
// read the same thing.
type record struct {
	Tenant   string                     `json:"t,omitempty"`
	UserID   string                     `json:"u,omitempty"`
	Data     map[string]json.RawMessage `json:"d,omitempty"`
	Created  time.Time                  `json:"c"`
	LastSeen time.Time                  `json:"l"`
	// Deadline is the absolute end of the session: Created plus the
	// absolute timeout, fixed when the session is created or
	// authenticated.
	Deadline time.Time `json:"x"`
	// Idle is the idle timeout this session was created under.
	Idle time.Duration `json:"i"`

	AuthTime   time.Time `json:"at,omitzero"`
	AuthMethod string    `json:"am,omitempty"`
	// Remembered marks a session restored from a remember-me token: lower
	// assurance than a login.
	Remembered bool `json:"rm,omitempty"`
	// RememberID is the store ID of the remember-me token issued to this
	// session, so that logging out revokes it too.
	RememberID string `json:"ri,omitempty"`

	// CSRF is the random secret the session's CSRF token is an HMAC of;
	// Authenticate replaces it.
	CSRF string `json:"cs,omitempty"`

	IP        string `json:"ip,omitempty"`
	IPPrefix  string `json:"ipp,omitempty"`
	UserAgent string `json:"ua,omitempty"`
	UAHash    string `json:"uah,omitempty"`
}

// recordFormat is the first byte of every encoded record; a record that
// starts with anything else is corrupt (or from a future version).
const recordFormat = 'j'

func (r *record) encode() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		// Every field is a plain type and Data holds valid JSON.
		panic("session: encoding a record: " + err.Error())
	}
	return append([]byte{recordFormat}, b...)
}

func decodeRecord(b []byte) (*record, error) {
	if len(b) == 0 || b[0] != recordFormat {
		return nil, fmt.Errorf("%w: unknown format", ErrCorrupt)
	}
	r := new(record)
	if err := json.Unmarshal(b[1:], r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if r.Created.IsZero() || r.Deadline.IsZero() || r.Idle <= 0 {
		return nil, fmt.Errorf("%w: missing timestamps", ErrCorrupt)
	}
	return r, nil
}

// expires is when the session ends if nothing touches it again: the
// earlier of the idle and the absolute deadline.
func (r *record) expires() time.Time {
	idle := r.LastSeen.Add(r.Idle)
	if idle.Before(r.Deadline) {
		return idle
	}
	return r.Deadline
}

func (r *record) clone() *record {
	c := *r
	c.Data = maps.Clone(r.Data)
	return &c
}

// storeID is the key a session ID is stored under: the hex SHA-256 of the
// ID. The store never sees an ID a browser could present.
func storeID(rawID string) string {
	sum := sha256.Sum256([]byte(rawID))
	return hex.EncodeToString(sum[:])
}
