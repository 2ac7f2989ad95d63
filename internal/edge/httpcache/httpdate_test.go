package httpcache

import (
	"net/http"
	"testing"
	"time"
)

// FuzzParseTime: ParseTime reads every value as http.ParseTime does: the
// same time, or an error for the same values.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"Thu, 29 Feb 2024 23:59:59 GMT", "Thu, 29 Feb 2023 00:00:00 GMT", "Mon, 31 Apr 2026 00:00:00 GMT",
		"Thu, 29 Feb 1900 00:00:00 GMT", "Tue, 29 Feb 2000 00:00:00 GMT", "Sat, 29 Feb 0000 00:00:00 GMT",
		"Mon, 00 Jan 2026 00:00:00 GMT", "Mon, 01 Jan 2026 24:00:00 GMT", "Mon, 01 Jan 2026 23:60:00 GMT",
		"Mon, 01 Jan 2026 23:59:60 GMT", "Xyz, 01 Jan 2026 00:00:00 GMT", "Mon, 01 jan 2026 00:00:00 GMT",
		"Mon, 01 Jan 2026 00:00:00 UTC", "Mon, 1 Jan 2026 00:00:00 GMT", "Mon, +1 Jan 2026 00:00:00 GMT",
		"Sun, 22 Nov 2026 15:00:00 GMT", "Tue, 29 Feb 0000 00:00:00 GMT", "Tue, 29 Feb 1900 00:00:00 GMT", "0", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s)
		want, werr := http.ParseTime(s)
		if (err == nil) != (werr == nil) || !got.Equal(want) || got.Location().String() != want.Location().String() {
			t.Fatalf("ParseTime(%q) = %v, %v; http.ParseTime: %v, %v", s, got, err, want, werr)
		}
	})
}

// TestParseTimeReadsFixdates: the common form is read by the fast path,
// not handed on.
func TestParseTimeReadsFixdates(t *testing.T) {
	for _, s := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Thu, 29 Feb 2024 23:59:59 GMT", "Sat, 01 Jan 0000 00:00:00 GMT"} {
		got, ok := parseIMFFixdate(s)
		want, err := http.ParseTime(s)
		if !ok || err != nil || !got.Equal(want) || got.Location() != want.Location() {
			t.Errorf("parseIMFFixdate(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
}

// dateOf remembers the last Date it parsed: a different one, an invalid
// one and a missing one must each still read as themselves.
func TestDateOfRemembersOnlyItsOwn(t *testing.T) {
	fallback := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		date string
		want time.Time
	}{
		{"Sun, 22 Nov 2026 12:00:00 GMT", time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)},
		{"Sun, 22 Nov 2026 12:00:00 GMT", time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)},
		{"Sun, 22 Nov 2026 12:00:01 GMT", time.Date(2026, 11, 22, 12, 0, 1, 0, time.UTC)},
		{"yesterday", fallback},
		{"", fallback},
		{"Sun, 22 Nov 2026 12:00:00 GMT", time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)},
		{"Sunday, 22-Nov-26 12:00:00 GMT", time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)},
	} {
		h := http.Header{}
		if c.date != "" {
			h.Set("Date", c.date)
		}
		if got := dateOf(h, fallback); !got.Equal(c.want) {
			t.Errorf("Date %q: %v, want %v", c.date, got, c.want)
		}
	}
}
