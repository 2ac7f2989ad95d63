package session

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func sampleRecord() *record {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	return &record{
		Tenant: "acme", UserID: "alice", Data: map[string]json.RawMessage{"cart": json.RawMessage(`["apple"]`), "n": json.RawMessage(`3`)},
		Created: now, LastSeen: now.Add(time.Minute), Deadline: now.Add(12 * time.Hour), Idle: 30 * time.Minute,
		AuthTime: now, AuthMethod: "password", Remembered: true, RememberID: "rm.abc", CSRF: "00ff",
		IP: "192.0.2.7", IPPrefix: "192.0.2.0/24", UserAgent: "curl/8", UAHash: "0123456789abcdef",
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for name, r := range map[string]*record{
		"full":      sampleRecord(),
		"anonymous": {Created: time.Unix(1_800_000_000, 0).UTC(), LastSeen: time.Unix(1_800_000_000, 0).UTC(), Deadline: time.Unix(1_800_043_200, 0).UTC(), Idle: time.Hour},
	} {
		got, err := decodeRecord(r.encode())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", name, got, r)
		}
	}
}

// FuzzDecodeRecord: stored bytes are untrusted (a shared store can be
// written by others); decoding never panics, and what decodes re-encodes to
// the same record.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(sampleRecord().encode())
	f.Add([]byte("b"))
	f.Add([]byte("b\x01\x01\x01\x01\x00\x00"))
	f.Add([]byte("j{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, err := decodeRecord(r.encode())
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("re-encoding %q: %v\n got %+v\nwant %+v", b, err, again, r)
		}
	})
}
