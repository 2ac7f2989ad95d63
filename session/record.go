package session

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"time"
)

// record is what the Manager keeps for one session, encoded (as
// wireRecord) into Entry.Value. Data holds the application's values as
// JSON so that the HTTP session API and apps in other languages read the
// same thing.
type record struct {
	Tenant   string
	UserID   string
	Data     map[string]json.RawMessage
	Created  time.Time
	LastSeen time.Time
	// Deadline is the absolute end of the session: Created plus the
	// absolute timeout, fixed when the session is created or
	// authenticated.
	Deadline time.Time
	// Idle is the idle timeout this session was created under.
	Idle time.Duration

	AuthTime   time.Time
	AuthMethod string
	// Remembered marks a session restored from a remember-me token: lower
	// assurance than a login.
	Remembered bool
	// RememberID is the store ID of the remember-me token issued to this
	// session, so that logging out revokes it too.
	RememberID string

	// CSRF is the random secret the session's CSRF token is an HMAC of;
	// Authenticate replaces it.
	CSRF string

	IP        string
	IPPrefix  string
	UserAgent string
	UAHash    string
}

// recordFormat is the first byte of every encoded record; a record that
// starts with anything else is corrupt (or from a future version).
const recordFormat = 'j'

// wireRecord is record as stored: JSON with short names and times as Unix
// milliseconds, so that an anonymous session with a little data costs about
// a hundred bytes.
type wireRecord struct {
	Tenant     string
	UserID     string
	Data       map[string]json.RawMessage
	Created    int64
	LastSeen   int64
	Deadline   int64
	Idle       int64 // milliseconds
	AuthTime   int64
	AuthMethod string
	Remembered bool
	RememberID string
	CSRF       string
	IP         string
	IPPrefix   string
	UserAgent  string
	UAHash     string
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func (r *record) encode() []byte {
	w := wireRecord{
		Tenant: r.Tenant, UserID: r.UserID, Data: r.Data,
		Created: ms(r.Created), LastSeen: ms(r.LastSeen), Deadline: ms(r.Deadline), Idle: r.Idle.Milliseconds(),
		AuthTime: ms(r.AuthTime), AuthMethod: r.AuthMethod, Remembered: r.Remembered, RememberID: r.RememberID,
		CSRF: r.CSRF, IP: r.IP, IPPrefix: r.IPPrefix, UserAgent: r.UserAgent, UAHash: r.UAHash,
	}
	b, err := json.Marshal(w)
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
	var w wireRecord
	if err := json.Unmarshal(b[1:], &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if w.Created <= 0 || w.Deadline <= 0 || w.LastSeen <= 0 || w.Idle <= 0 {
		return nil, fmt.Errorf("%w: missing timestamps", ErrCorrupt)
	}
	return &record{
		Tenant: w.Tenant, UserID: w.UserID, Data: w.Data,
		Created: fromMS(w.Created), LastSeen: fromMS(w.LastSeen), Deadline: fromMS(w.Deadline), Idle: time.Duration(w.Idle) * time.Millisecond,
		AuthTime: fromMS(w.AuthTime), AuthMethod: w.AuthMethod, Remembered: w.Remembered, RememberID: w.RememberID,
		CSRF: w.CSRF, IP: w.IP, IPPrefix: w.IPPrefix, UserAgent: w.UserAgent, UAHash: w.UAHash,
	}, nil
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
