package affinity

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fuzzNow is the clock of FuzzOpen. The checked-in corpus in
// testdata/fuzz/FuzzOpen holds tokens sealed under the fixed test ring that
// expire in 2100, so they open at fuzzNow, and some that expired in 2026.
var fuzzNow = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

// FuzzOpen checks that Open never panics, returns only its documented
// errors, and that every token it accepts (expired or not) seals again and
// opens to the same Token under the active key.
func FuzzOpen(f *testing.F) {
	active := testSealer(f, "0000000b")
	previous := testSealer(f, "0000000a")
	far := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	week := far.Add(-168 * time.Hour)
	for _, tok := range []Token{
		testToken(),
		{Group: "app", Target: "app-2", Binding: 1, IssuedAt: week, ExpiresAt: far},
		{Group: strings.Repeat("g", 64), Target: strings.Repeat("t", 64), Binding: ^uint64(0), IssuedAt: week, ExpiresAt: far},
		{},
	} {
		f.Add(mustSeal(f, active, tok))
		f.Add(mustSeal(f, previous, tok))
	}
	f.Add("")
	f.Add("AQAAAAs")
	f.Add("not a token!")
	f.Add(strings.Repeat("A", MaxTokenLen))
	f.Add(strings.Repeat("_", MaxTokenLen+1))
	f.Add(strings.Repeat("A", 5<<10))
	f.Fuzz(func(t *testing.T, v string) {
		tok, stale, err := active.Open(v, fuzzNow)
		expired := errors.Is(err, ErrExpired)
		switch {
		case err == nil, expired:
		case errors.Is(err, ErrMalformed), errors.Is(err, ErrUnknownKey):
			if tok != (Token{}) || stale {
				t.Fatalf("Open(%q) = %+v, stale %v, %v; want nothing with the error", v, tok, stale, err)
			}
			return
		default:
			t.Fatalf("Open(%q) returned an undocumented error: %v", v, err)
		}
		if len(v) > MaxTokenLen {
			t.Fatalf("Open accepted %d bytes, more than MaxTokenLen", len(v))
		}
		again, err := active.Seal(tok)
		if err != nil {
			t.Fatalf("Seal of opened token %+v: %v", tok, err)
		}
		got, stale, err := active.Open(again, fuzzNow)
		if stale || errors.Is(err, ErrExpired) != expired || err != nil && !expired {
			t.Fatalf("re-sealed token: Open = stale %v, %v; want fresh, expired %v", stale, err, expired)
		}
		assertToken(t, got, tok)
	})
}

// The tokens of the checked-in corpus were sealed by an earlier build, so
// this test also guards the wire format: a replica must keep opening the
// tokens that the replica it replaces handed out.
func TestCorpusTokensOpen(t *testing.T) {
	s := testSealer(t, "0000000b")
	far := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	week := far.Add(-168 * time.Hour)
	tests := []struct {
		name    string
		want    Token
		stale   bool
		expired bool
	}{
		{name: "valid", want: Token{Group: "app", Target: "app-1", Binding: 42, IssuedAt: week, ExpiresAt: far}},
		{name: "stale", want: Token{Group: "app", Target: "app-2", Binding: 7, IssuedAt: week, ExpiresAt: far}, stale: true},
		{name: "expired", want: testToken(), expired: true},
		{name: "long_names", want: Token{Group: strings.Repeat("g", 65), Target: strings.Repeat("t", 64), Binding: ^uint64(0), IssuedAt: week, ExpiresAt: far}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := readCorpusString(t, filepath.Join("testdata", "fuzz", "FuzzOpen", tt.name))
			got, stale, err := s.Open(v, fuzzNow)
			if errors.Is(err, ErrExpired) != tt.expired || err != nil && !tt.expired {
				t.Fatalf("Open = %v, want expired %v", err, tt.expired)
			}
			if stale != tt.stale {
				t.Errorf("stale = %v, want %v", stale, tt.stale)
			}
			assertToken(t, got, tt.want)
		})
	}
}

// readCorpusString returns the string of a one-value "go test fuzz v1" file.
func readCorpusString(tb testing.TB, path string) string {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	_, value, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	quoted, ok := strings.CutPrefix(value, "string(")
	if !ok {
		tb.Fatalf("%s: want a string value, got %s", path, value)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return s
}
