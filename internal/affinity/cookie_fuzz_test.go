package affinity

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzCookies feeds hostile Cookie and Set-Cookie headers to the parsers:
// they never panic, never return a value longer than MaxTokenLen, and
// StripCookies removes the named cookie while keeping the header valid.
func FuzzCookies(f *testing.F) {
	f.Add("TETHER=abc; theme=dark", "JSESSIONID=1; Path=/")
	f.Add(`TETHER="quoted"; TETHER=second`, "JSESSIONID=; Max-Age=-1")
	f.Add(";;; =; TETHER", "JSESSIONID=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
	f.Add("TETHER="+strings.Repeat("A", 5000), "garbage")
	f.Add("a=b; TETHERCORS=1; TETHERAPP=2", "=")
	f.Fuzz(func(t *testing.T, cookie, setCookie string) {
		h := http.Header{"Cookie": {cookie}}
		if v := CookieValue(h, "TETHER"); len(v) > MaxTokenLen {
			t.Fatalf("CookieValue returned %d bytes", len(v))
		}
		StripCookies(h, "TETHER", "TETHERCORS")
		for _, line := range h["Cookie"] {
			for _, part := range strings.Split(line, ";") {
				k, _, _ := strings.Cut(part, "=")
				if k := strings.TrimSpace(k); k == "TETHER" || k == "TETHERCORS" {
					t.Fatalf("StripCookies left %q in %q", k, line)
				}
			}
			if line == "" && strings.Contains(cookie, "TETHER") {
				t.Fatal("StripCookies left an empty Cookie header")
			}
		}
		AppCookieSet(http.Header{"Set-Cookie": {setCookie}}, "JSESSIONID", time.Unix(1e9, 0))
	})
}

func TestCookieValue(t *testing.T) {
	tests := []struct {
		name, header, want string
	}{
		{"plain", "TETHER=abc", "abc"},
		{"among others", "a=1; TETHER=abc; b=2", "abc"},
		{"first wins", "TETHER=one; TETHER=two", "one"},
		{"quoted", `TETHER="abc"`, "abc"},
		{"prefix name is not the name", "TETHERCORS=x", ""},
		{"too long", "TETHER=" + strings.Repeat("a", MaxTokenLen+1), ""},
		{"absent", "x=y", ""},
		{"garbage", ";;==;", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CookieValue(http.Header{"Cookie": {tc.header}}, "TETHER"); got != tc.want {
				t.Errorf("CookieValue(%q) = %q, want %q", tc.header, got, tc.want)
			}
		})
	}
}

func TestStripCookies(t *testing.T) {
	h := http.Header{"Cookie": {"a=1; TETHER=x; b=2", "TETHERCORS=y"}}
	StripCookies(h, "TETHER", "TETHERCORS")
	if got := h["Cookie"]; len(got) != 1 || got[0] != "a=1; b=2" {
		t.Errorf("Cookie = %q, want [a=1; b=2]", got)
	}
	h = http.Header{"Cookie": {"TETHER=x"}}
	StripCookies(h, "TETHER")
	if _, ok := h["Cookie"]; ok {
		t.Error("an emptied Cookie header was kept")
	}
}

func TestAppCookieSet(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		line         string
		set, deleted bool
	}{
		{"JSESSIONID=abc; Path=/", true, false},
		{"JSESSIONID=; Max-Age=0", true, true},
		{"JSESSIONID=abc; Max-Age=-1", true, true},
		{"JSESSIONID=abc; Expires=Thu, 01 Jan 1970 00:00:00 GMT", true, true},
		{"OTHER=abc", false, false},
	}
	for _, tc := range tests {
		set, deleted := AppCookieSet(http.Header{"Set-Cookie": {tc.line}}, "JSESSIONID", now)
		if set != tc.set || deleted != tc.deleted {
			t.Errorf("%q: set=%v deleted=%v, want %v %v", tc.line, set, deleted, tc.set, tc.deleted)
		}
	}
}

func TestTable(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tb := NewTable(time.Minute, 64)
	tb.Put("10.0.0.1", "a", now)
	if tg, ok, _ := tb.Get("10.0.0.1", now.Add(30*time.Second)); !ok || tg != "a" {
		t.Fatalf("Get = %q %v", tg, ok)
	}
	if _, ok, expired := tb.Get("10.0.0.1", now.Add(2*time.Minute)); ok || !expired {
		t.Fatalf("idle entry: ok=%v expired=%v", ok, expired)
	}
	// The cap holds: hostile clients cannot grow the table without limit.
	stored := 0
	for i := 0; i < 10000; i++ {
		if tb.Put(strings.Repeat("k", i%7)+string(rune(i)), "a", now) {
			stored++
		}
	}
	if n := tb.Len(); n > 64+tableShards {
		t.Errorf("table holds %d entries, cap 64", n)
	}
	counts := tb.Sweep(now.Add(2 * time.Minute))
	if counts["a"] != 0 || tb.Len() != 0 {
		t.Errorf("sweep left %v / %d", counts, tb.Len())
	}
}
