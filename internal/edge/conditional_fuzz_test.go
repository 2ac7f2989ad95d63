package edge

import (
	"net/http"
	"testing"
)

// FuzzConditionalHeaders feeds arbitrary Range, If-Range and If-None-Match
// values to the parsers: a range, when one is chosen, always lies inside
// the object, and nothing panics.
func FuzzConditionalHeaders(f *testing.F) {
	for _, seed := range [][3]string{
		{"bytes=0-4", `"v1"`, `"v1"`},
		{"bytes=-3", "", `W/"a", "b"`},
		{"bytes=5-", "Sat, 22 Nov 2026 12:00:00 GMT", "*"},
		{"bytes=0-1,3-4", `W/"v1"`, `"unterminated`},
		{"bytes=99999999999999999999-", "", `,,, "x"`},
		{"BYTES = 1-2", `"v1"`, ""},
	} {
		f.Add(seed[0], seed[1], seed[2], int64(10))
	}
	f.Fuzz(func(t *testing.T, rng, ifRange, inm string, size int64) {
		if size < 0 || size > 1<<40 {
			return
		}
		h := http.Header{"Range": {rng}, "If-None-Match": {inm}}
		if ifRange != "" {
			h.Set("If-Range", ifRange)
		}
		notModified(h, `"v1"`, "Sat, 22 Nov 2026 12:00:00 GMT")
		start, end, status := byteRange(h, size, `"v1"`, "Sat, 22 Nov 2026 12:00:00 GMT")
		if status == http.StatusPartialContent && (start < 0 || end < start || end >= size) {
			t.Fatalf("Range %q over %d bytes gave %d-%d", rng, size, start, end)
		}
	})
}
