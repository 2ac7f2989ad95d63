package redisstore

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/tetherlb/tether/session"
)

// FuzzDecodeRecord checks that decoding never panics, that every error
// wraps session.ErrCorrupt, and that what encodeRecord frames comes back
// unchanged.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte("garbage"), "alice", []byte("value"), uint64(1), int64(1_800_000_000_000))
	f.Add([]byte{}, "", []byte{}, uint64(1<<63), int64(-1))
	f.Add(encodeRecord(session.Entry{UserID: "u", Version: 7, Value: []byte{0, 1}}), "a\x00b", []byte{0xff}, uint64(2), int64(0))
	f.Fuzz(func(t *testing.T, raw []byte, user string, value []byte, version uint64, expires int64) {
		if _, err := decodeRecord(raw); err != nil && !errors.Is(err, session.ErrCorrupt) {
			t.Fatalf("decodeRecord error %v does not wrap session.ErrCorrupt", err)
		}
		e := session.Entry{UserID: user, Version: version, Expires: time.UnixMilli(expires), Value: value}
		got, err := decodeRecord(encodeRecord(e))
		if err != nil {
			t.Fatalf("decodeRecord(encodeRecord(%+v)): %v", e, err)
		}
		if got.UserID != user || got.Version != version || !got.Expires.Equal(e.Expires) || !bytes.Equal(got.Value, value) {
			t.Fatalf("round trip: got %+v, want %+v", got, e)
		}
	})
}
