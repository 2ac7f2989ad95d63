package redisstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/tetherlb/tether/session"
)

// A record is stored as one Redis string, framed so that the Lua scripts
// can read its version and user without decoding the rest:
//
//	offset  size  field
//	0       1     format, 1
//	1       8     version, big-endian
//	9       8     expiry, Unix milliseconds, big-endian
//	17      4     length n of the user ID, big-endian
//	21      4     length m of the value, big-endian
//	25      n     user ID
//	25+n    m     value
//	25+n+m  4     CRC-32C (Castagnoli) of every byte before it
//
// luaOwner in scripts.go checks the lengths but not the checksum, which
// would cost Lua a loop over every byte; decodeRecord checks both.
const (
	recordFormat  = 1
	recordHeader  = 25
	recordTrailer = 4
)

// castagnoli is the CRC-32C table; it is never written after init.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeRecord frames e's version, expiry, user and value.
func encodeRecord(e session.Entry) []byte {
	b := make([]byte, recordHeader, recordHeader+len(e.UserID)+len(e.Value)+recordTrailer)
	b[0] = recordFormat
	binary.BigEndian.PutUint64(b[1:], e.Version)
	binary.BigEndian.PutUint64(b[9:], uint64(e.Expires.UnixMilli()))
	binary.BigEndian.PutUint32(b[17:], uint32(len(e.UserID)))
	binary.BigEndian.PutUint32(b[21:], uint32(len(e.Value)))
	b = append(b, e.UserID...)
	b = append(b, e.Value...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeRecord reads a record encodeRecord framed into an Entry with
// UserID, Version, Expires and Value set. Its errors wrap
// session.ErrCorrupt. Value aliases b.
func decodeRecord(b []byte) (session.Entry, error) {
	if len(b) < recordHeader+recordTrailer {
		return session.Entry{}, fmt.Errorf("%w: %d bytes, shorter than a record", session.ErrCorrupt, len(b))
	}
	if b[0] != recordFormat {
		return session.Entry{}, fmt.Errorf("%w: unknown format byte %#x", session.ErrCorrupt, b[0])
	}
	body, sum := b[:len(b)-recordTrailer], b[len(b)-recordTrailer:]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(sum) {
		return session.Entry{}, fmt.Errorf("%w: checksum mismatch", session.ErrCorrupt)
	}
	n, m := binary.BigEndian.Uint32(b[17:]), binary.BigEndian.Uint32(b[21:])
	if uint64(n)+uint64(m) != uint64(len(body)-recordHeader) {
		return session.Entry{}, fmt.Errorf("%w: lengths %d+%d do not add up to %d", session.ErrCorrupt, n, m, len(body)-recordHeader)
	}
	user := body[recordHeader : recordHeader+int(n)]
	return session.Entry{
		UserID:  string(user),
		Version: binary.BigEndian.Uint64(b[1:]),
		Expires: time.UnixMilli(int64(binary.BigEndian.Uint64(b[9:]))),
		Value:   body[recordHeader+int(n):],
	}, nil
}

// versionBytes returns v as the record frames it, for the compare-and-swap
// script to compare byte for byte: Lua's numbers are doubles and would
// round a version above 2^53.
func versionBytes(v uint64) string {
	return string(binary.BigEndian.AppendUint64(nil, v))
}
