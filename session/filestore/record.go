package filestore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/tetherlb/tether/session"
)

// Keys are length-prefixed so that no choice of tenant, user or ID can
// make two different triples encode alike:
//
//	records: uvarint(len(tenant)) tenant id
//	users:   uvarint(len(tenant)) tenant uvarint(len(user)) user id
//	expiry:  expires (8 bytes, ordered) followed by the record key

// recordKey returns the key of the record (tenant, id).
func recordKey(tenant, id string) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(tenant)+len(id))
	b = binary.AppendUvarint(b, uint64(len(tenant)))
	b = append(b, tenant...)
	return append(b, id...)
}

// splitRecordKey returns the tenant and ID a record key encodes.
func splitRecordKey(k []byte) (tenant, id string, ok bool) {
	n, w := binary.Uvarint(k)
	if w <= 0 || n > uint64(len(k)-w) {
		return "", "", false
	}
	return string(k[w : w+int(n)]), string(k[w+int(n):]), true
}

// userPrefix returns the common prefix of the index keys of user's records
// in tenant.
func userPrefix(tenant, user string) []byte {
	b := make([]byte, 0, 2*binary.MaxVarintLen64+len(tenant)+len(user)+64)
	b = binary.AppendUvarint(b, uint64(len(tenant)))
	b = append(b, tenant...)
	b = binary.AppendUvarint(b, uint64(len(user)))
	return append(b, user...)
}

// userKey returns the index key that names the record (tenant, id) as one
// of user's.
func userKey(tenant, user, id string) []byte {
	return append(userPrefix(tenant, user), id...)
}

// expiryKey returns the key that schedules the record with key rk for
// deletion at expires. The time comes first, big-endian with the sign bit
// flipped, so that byte order is time order.
func expiryKey(expires int64, rk []byte) []byte {
	b := make([]byte, 8, 8+len(rk))
	binary.BigEndian.PutUint64(b, uint64(expires)^1<<63)
	return append(b, rk...)
}

// expiryTime returns the time at the front of an expiry key.
func expiryTime(k []byte) int64 {
	return int64(binary.BigEndian.Uint64(k) ^ 1<<63)
}

// unixNano returns t in Unix nanoseconds, clamped to the int64 range for
// times before 1678 or after 2262.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// A record value is framed so that damage is detected, never returned:
//
//	byte 0      format (1)
//	bytes 1-4   CRC-32C of the record key and of bytes 5 onwards
//	bytes 5-12  expires, Unix nanoseconds, big-endian
//	bytes 13-20 version, big-endian
//	uvarint     len(user), then user
//	the rest    value
//
// The checksum covers the key too, so a value found under another record's
// key is reported as corrupt rather than served as that record.
const (
	frameFormat = 1
	headerLen   = 21
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is a decoded record value.
type record struct {
	expires int64
	version uint64
	user    string
	value   []byte // aliases the database's memory: copy it before the transaction ends
}

// encode returns the framed value of e stored under key rk.
func encode(rk []byte, e session.Entry) []byte {
	b := make([]byte, headerLen, headerLen+binary.MaxVarintLen64+len(e.UserID)+len(e.Value))
	b[0] = frameFormat
	binary.BigEndian.PutUint64(b[5:], uint64(unixNano(e.Expires)))
	binary.BigEndian.PutUint64(b[13:], e.Version)
	b = binary.AppendUvarint(b, uint64(len(e.UserID)))
	b = append(b, e.UserID...)
	b = append(b, e.Value...)
	binary.BigEndian.PutUint32(b[1:], checksum(rk, b[5:]))
	return b
}

func checksum(rk, body []byte) uint32 {
	return crc32.Update(crc32.Checksum(rk, castagnoli), castagnoli, body)
}

// errCorrupt wraps session.ErrCorrupt with the reason a frame was refused.
func errCorrupt(reason string) error {
	return fmt.Errorf("%w: %s", session.ErrCorrupt, reason)
}

// decode checks and decodes the framed value v stored under key rk. Its
// errors wrap session.ErrCorrupt.
func decode(rk, v []byte) (record, error) {
	switch {
	case len(v) < headerLen:
		return record{}, errCorrupt(fmt.Sprintf("%d-byte value, shorter than a header", len(v)))
	case v[0] != frameFormat:
		return record{}, errCorrupt(fmt.Sprintf("unknown format %d", v[0]))
	case binary.BigEndian.Uint32(v[1:]) != checksum(rk, v[5:]):
		return record{}, errCorrupt("checksum mismatch")
	}
	r := record{
		expires: int64(binary.BigEndian.Uint64(v[5:])),
		version: binary.BigEndian.Uint64(v[13:]),
	}
	rest := v[headerLen:]
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > uint64(len(rest)-w) {
		return record{}, errCorrupt("bad user length")
	}
	r.user = string(rest[w : w+int(n)])
	r.value = rest[w+int(n):]
	return r, nil
}

// entry returns r as the session.Entry (tenant, id), with a copy of its
// value that outlives the transaction.
func (r record) entry(tenant, id string) session.Entry {
	return session.Entry{
		Tenant:  tenant,
		ID:      id,
		UserID:  r.user,
		Version: r.version,
		Expires: time.Unix(0, r.expires),
		Value:   append(make([]byte, 0, len(r.value)), r.value...),
	}
}
