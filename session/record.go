package session

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"time"
)

// record is what the Manager keeps for one session, encoded into
// Entry.Value (see encode). Data holds the application's values as
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
const recordFormat = 'b'

// The encoded record is compact binary, since every session pays for its
// size in memory and on the wire to the store:
//
//	'b'
//	uvarint  created (Unix seconds)
//	uvarint  last seen - created (seconds)
//	uvarint  deadline - created (seconds)
//	uvarint  idle timeout (seconds)
//	uvarint  auth time (Unix seconds; 0: none)
//	byte     flags (1: remembered)
//	strings  tenant, user, auth method, remember ID, CSRF secret, IP,
//	         IP prefix, user agent, user-agent hash (each uvarint length + bytes)
//	uvarint  number of data keys, then each key and JSON value as strings
//
// Times have one-second precision.

func (r *record) encode() []byte {
	created := r.Created.Unix()
	b := make([]byte, 0, 64+len(r.UserAgent)+dataSize(r.Data))
	b = append(b, recordFormat)
	b = binary.AppendUvarint(b, uint64(created))
	b = binary.AppendUvarint(b, uint64(max(0, r.LastSeen.Unix()-created)))
	b = binary.AppendUvarint(b, uint64(max(0, r.Deadline.Unix()-created)))
	b = binary.AppendUvarint(b, uint64(r.Idle/time.Second))
	var auth uint64
	if !r.AuthTime.IsZero() {
		auth = uint64(r.AuthTime.Unix())
	}
	b = binary.AppendUvarint(b, auth)
	var flags byte
	if r.Remembered {
		flags |= 1
	}
	b = append(b, flags)
	for _, s := range []string{r.Tenant, r.UserID, r.AuthMethod, r.RememberID, r.CSRF, r.IP, r.IPPrefix, r.UserAgent, r.UAHash} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Data)))
	for k, v := range r.Data {
		b = appendString(b, k)
		b = appendString(b, string(v))
	}
	return b
}

func dataSize(d map[string]json.RawMessage) int {
	n := 0
	for k, v := range d {
		n += len(k) + len(v) + 4
	}
	return n
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// reader decodes a record; the first failure sticks.
type reader struct {
	b   []byte
	err error
}

func (rd *reader) uvarint() uint64 {
	if rd.err != nil {
		return 0
	}
	v, n := binary.Uvarint(rd.b)
	if n <= 0 {
		rd.err = fmt.Errorf("%w: truncated number", ErrCorrupt)
		return 0
	}
	rd.b = rd.b[n:]
	return v
}

func (rd *reader) string() string {
	n := rd.uvarint()
	if rd.err != nil {
		return ""
	}
	if n > uint64(len(rd.b)) {
		rd.err = fmt.Errorf("%w: truncated string", ErrCorrupt)
		return ""
	}
	s := string(rd.b[:n])
	rd.b = rd.b[n:]
	return s
}

// maxSeconds bounds stored times and durations (about 290 years), so that
// a corrupt record cannot overflow time arithmetic.
const maxSeconds = 1 << 33

func decodeRecord(b []byte) (*record, error) {
	if len(b) == 0 || b[0] != recordFormat {
		return nil, fmt.Errorf("%w: unknown format", ErrCorrupt)
	}
	rd := &reader{b: b[1:]}
	created, seen, deadline, idle, auth := rd.uvarint(), rd.uvarint(), rd.uvarint(), rd.uvarint(), rd.uvarint()
	if rd.err == nil && len(rd.b) == 0 {
		rd.err = fmt.Errorf("%w: truncated flags", ErrCorrupt)
	}
	if rd.err != nil {
		return nil, rd.err
	}
	flags := rd.b[0]
	rd.b = rd.b[1:]
	if created == 0 || idle == 0 || deadline == 0 || max(created, seen, deadline, idle, auth) >= maxSeconds {
		return nil, fmt.Errorf("%w: bad timestamps", ErrCorrupt)
	}
	r := &record{
		Created:    time.Unix(int64(created), 0).UTC(),
		LastSeen:   time.Unix(int64(created+seen), 0).UTC(),
		Deadline:   time.Unix(int64(created+deadline), 0).UTC(),
		Idle:       time.Duration(idle) * time.Second,
		Remembered: flags&1 != 0,
	}
	if auth != 0 {
		r.AuthTime = time.Unix(int64(auth), 0).UTC()
	}
	for _, p := range []*string{&r.Tenant, &r.UserID, &r.AuthMethod, &r.RememberID, &r.CSRF, &r.IP, &r.IPPrefix, &r.UserAgent, &r.UAHash} {
		*p = rd.string()
	}
	n := rd.uvarint()
	if rd.err == nil && n > uint64(len(rd.b)) {
		rd.err = fmt.Errorf("%w: bad data count", ErrCorrupt)
	}
	if n > 0 && rd.err == nil {
		r.Data = make(map[string]json.RawMessage, n)
		for range n {
			k, v := rd.string(), rd.string()
			if rd.err == nil && !json.Valid([]byte(v)) {
				rd.err = fmt.Errorf("%w: data %q is not JSON", ErrCorrupt, k)
			}
			r.Data[k] = json.RawMessage(v)
		}
	}
	if rd.err == nil && len(rd.b) != 0 {
		rd.err = fmt.Errorf("%w: trailing bytes", ErrCorrupt)
	}
	if rd.err != nil {
		return nil, rd.err
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
