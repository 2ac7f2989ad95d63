package affinity

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/keyring"
)

var testNow = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

// testRingJSON is a fixed key ring of two keys, 0000000a and 0000000b, with
// active naming the active one. Fixed secrets keep the checked-in fuzz
// corpus openable.
func testRingJSON(active string) string {
	return `{"version": 1, "active": "` + active + `", "keys": [
		{"id": "0000000a", "secret": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "created_at": "2026-11-21T03:00:00Z"},
		{"id": "0000000b", "secret": "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8", "created_at": "2026-11-22T03:00:00Z"}
	]}`
}

// testSealer returns a Sealer of the fixed ring whose active key is active.
func testSealer(tb testing.TB, active string) *Sealer {
	tb.Helper()
	r, err := keyring.Parse([]byte(testRingJSON(active)))
	if err != nil {
		tb.Fatal(err)
	}
	return mustSealer(tb, r)
}

func mustSealer(tb testing.TB, r *keyring.Ring) *Sealer {
	tb.Helper()
	s, err := NewSealer(r)
	if err != nil {
		tb.Fatalf("NewSealer: %v", err)
	}
	return s
}

func mustSeal(tb testing.TB, s *Sealer, t Token) string {
	tb.Helper()
	v, err := s.Seal(t)
	if err != nil {
		tb.Fatalf("Seal: %v", err)
	}
	return v
}

func testToken() Token {
	return Token{
		Group:     "app",
		Target:    "app-1",
		Binding:   0x0123456789abcdef,
		IssuedAt:  testNow,
		ExpiresAt: testNow.Add(24 * time.Hour),
	}
}

func TestSealOpen(t *testing.T) {
	s := testSealer(t, "0000000b")
	cest := time.FixedZone("CEST", 2*60*60)
	tests := []struct {
		name  string
		token Token
		want  Token // what Open returns; the zero Token means token itself
	}{
		{name: "typical", token: testToken()},
		{name: "empty names and zero binding", token: Token{IssuedAt: testNow, ExpiresAt: testNow.Add(time.Second)}},
		{name: "largest binding", token: Token{Group: "g", Target: "t", Binding: ^uint64(0), IssuedAt: testNow, ExpiresAt: testNow.Add(168 * time.Hour)}},
		{name: "64-byte names", token: Token{Group: strings.Repeat("g", 64), Target: strings.Repeat("t", 64), Binding: ^uint64(0), IssuedAt: testNow, ExpiresAt: testNow.Add(168 * time.Hour)}},
		{name: "129 bytes of names for a week", token: Token{Group: strings.Repeat("g", 65), Target: strings.Repeat("t", 64), Binding: ^uint64(0), IssuedAt: testNow, ExpiresAt: testNow.Add(168 * time.Hour)}},
		{name: "unicode names", token: Token{Group: "grüppe", Target: "目标-1", IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}},
		{name: "issued before the epoch", token: Token{Group: "g", Target: "t", IssuedAt: time.Unix(-1, 0).UTC(), ExpiresAt: testNow.Add(time.Hour)}},
		{
			name:  "sub-second times and a zone",
			token: Token{Group: "g", Target: "t", Binding: 7, IssuedAt: testNow.Add(900 * time.Millisecond).In(cest), ExpiresAt: testNow.Add(time.Hour + 999*time.Millisecond).In(cest)},
			want:  Token{Group: "g", Target: "t", Binding: 7, IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustSeal(t, s, tt.token)
			if len(v) > MaxTokenLen {
				t.Errorf("token is %d bytes, more than MaxTokenLen", len(v))
			}
			for i := 0; i < len(v); i++ {
				if !isBase64URL(v[i]) {
					t.Fatalf("token %q has %q, which is not cookie- and header-safe", v, v[i])
				}
			}
			got, stale, err := s.Open(v, testNow)
			if err != nil || stale {
				t.Fatalf("Open = %v, stale %v; want no error, not stale", err, stale)
			}
			want := tt.want
			if want == (Token{}) {
				want = tt.token
			}
			assertToken(t, got, want)
		})
	}
}

func assertToken(tb testing.TB, got, want Token) {
	tb.Helper()
	if got.Group != want.Group || got.Target != want.Target || got.Binding != want.Binding ||
		!got.IssuedAt.Equal(want.IssuedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		tb.Errorf("token = %+v, want %+v", got, want)
	}
	if got.IssuedAt.Location() != time.UTC || got.ExpiresAt.Location() != time.UTC {
		tb.Errorf("token times are in %v and %v, want UTC", got.IssuedAt.Location(), got.ExpiresAt.Location())
	}
}

func TestSealRejects(t *testing.T) {
	s := testSealer(t, "0000000b")
	long := strings.Repeat("x", MaxNameLen+1)
	tests := []struct {
		name  string
		token Token
		want  string
	}{
		{name: "group too long", token: Token{Group: long, Target: "t"}, want: "group or target longer than 128 bytes"},
		{name: "target too long", token: Token{Group: "g", Target: long}, want: "group or target longer than 128 bytes"},
		{name: "names too long together", token: Token{Group: strings.Repeat("g", 100), Target: strings.Repeat("t", 100), IssuedAt: testNow, ExpiresAt: testNow}, want: "group and target too long"},
		{name: "130 bytes of names", token: Token{Group: strings.Repeat("g", 65), Target: strings.Repeat("t", 65), IssuedAt: testNow, ExpiresAt: testNow.Add(168 * time.Hour)}, want: "group and target too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := s.Seal(tt.token)
			if err == nil {
				t.Fatalf("Seal = %q, want an error", v)
			}
			if !strings.HasPrefix(err.Error(), "seal affinity token: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Seal error %q, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	s := testSealer(t, "0000000b")
	a, b := mustSeal(t, s, testToken()), mustSeal(t, s, testToken())
	if a == b {
		t.Fatalf("two seals of one token are both %q", a)
	}
	for _, v := range []string{a, b} {
		got, _, err := s.Open(v, testNow)
		if err != nil {
			t.Fatal(err)
		}
		assertToken(t, got, testToken())
	}
}

func TestOpenAfterRotation(t *testing.T) {
	r, err := keyring.Generate(testNow)
	if err != nil {
		t.Fatal(err)
	}
	old := mustSealer(t, r)
	v := mustSeal(t, old, testToken())
	for i := 1; i < keyring.MaxKeys; i++ {
		if r, err = r.Rotate(testNow); err != nil {
			t.Fatal(err)
		}
		s := mustSealer(t, r)
		got, stale, err := s.Open(v, testNow)
		if err != nil || !stale {
			t.Fatalf("after %d rotations: Open = %v, stale %v; want stale and no error", i, err, stale)
		}
		assertToken(t, got, testToken())
		resealed := mustSeal(t, s, got)
		if _, stale, err := s.Open(resealed, testNow); err != nil || stale {
			t.Errorf("after %d rotations: re-sealed token: Open = %v, stale %v; want fresh", i, err, stale)
		}
		if _, _, err := old.Open(resealed, testNow); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("a replica with the old ring opened a token of the new key: %v, want ErrUnknownKey", err)
		}
	}
	// One more rotation drops the key that sealed v.
	if r, err = r.Rotate(testNow); err != nil {
		t.Fatal(err)
	}
	if _, _, err := mustSealer(t, r).Open(v, testNow); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Open of a token whose key was rotated out = %v, want ErrUnknownKey", err)
	}
	other, err := keyring.Generate(testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := mustSealer(t, other).Open(v, testNow); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Open with an unrelated ring = %v, want ErrUnknownKey", err)
	}
}

func TestOpenExpired(t *testing.T) {
	s := testSealer(t, "0000000a")
	tok := testToken()
	v := mustSeal(t, s, tok)
	stale := testSealer(t, "0000000b")
	tests := []struct {
		name    string
		s       *Sealer
		now     time.Time
		expired bool
	}{
		{name: "issued", s: s, now: tok.IssuedAt},
		{name: "last moment", s: s, now: tok.ExpiresAt.Add(-time.Nanosecond)},
		{name: "at expiry", s: s, now: tok.ExpiresAt, expired: true},
		{name: "after expiry", s: s, now: tok.ExpiresAt.Add(time.Hour), expired: true},
		{name: "after expiry, stale", s: stale, now: tok.ExpiresAt, expired: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, isStale, err := tt.s.Open(v, tt.now)
			if got := errors.Is(err, ErrExpired); got != tt.expired {
				t.Fatalf("Open = %v, want expired %v", err, tt.expired)
			}
			if !tt.expired && err != nil {
				t.Fatal(err)
			}
			assertToken(t, got, tok)
			if want := tt.s == stale; isStale != want {
				t.Errorf("stale = %v, want %v", isStale, want)
			}
		})
	}
}

func TestOpenMalformed(t *testing.T) {
	s := testSealer(t, "0000000b")
	v := mustSeal(t, s, testToken())
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	version2 := append([]byte{2}, raw[1:]...)
	tests := []struct {
		name string
		v    string
	}{
		{name: "empty", v: ""},
		{name: "too long", v: strings.Repeat("A", MaxTokenLen+1)},
		{name: "hostile 5 KB cookie", v: strings.Repeat("A", 5<<10)},
		{name: "padding", v: v + "="},
		{name: "standard alphabet", v: strings.NewReplacer("-", "+", "_", "/").Replace(v) + "+/"},
		{name: "space", v: v[:10] + " " + v[10:]},
		{name: "line feed", v: v[:10] + "\n" + v[10:]},
		{name: "carriage return", v: v[:10] + "\r" + v[10:]},
		{name: "non-ASCII", v: v[:10] + "é" + v[12:]},
		{name: "impossible length", v: v + "A"},
		{name: "last character dropped", v: v[:len(v)-1]},
		{name: "truncated to the header", v: enc(raw[:headerLen+nonceLen])},
		{name: "truncated by one byte", v: enc(raw[:len(raw)-1])},
		{name: "trailing byte", v: enc(append(raw[:len(raw):len(raw)], 0))},
		{name: "version 2", v: enc(version2)},
		{name: "one byte", v: "AQ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, stale, err := s.Open(tt.v, testNow)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Open = %v, want ErrMalformed", err)
			}
			if !strings.HasPrefix(err.Error(), "open affinity token: malformed token") {
				t.Errorf("error %q does not start with the operation", err)
			}
			if got != (Token{}) || stale {
				t.Errorf("Open of a malformed token returned %+v, stale %v; want nothing", got, stale)
			}
		})
	}
}

// Every change of one byte, in the decoded token or in its text, is caught.
func TestOpenRejectsEveryFlip(t *testing.T) {
	s := testSealer(t, "0000000b")
	v := mustSeal(t, s, testToken())
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, what, flipped string) {
		t.Helper()
		_, _, err := s.Open(flipped, testNow)
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownKey) {
			t.Errorf("%s: Open = %v, want ErrMalformed or ErrUnknownKey", what, err)
		}
	}
	t.Run("decoded", func(t *testing.T) {
		for i := range raw {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				b := []byte(string(raw))
				b[i] ^= mask
				check(t, "byte "+strconv.Itoa(i), base64.RawURLEncoding.EncodeToString(b))
			}
		}
	})
	t.Run("text", func(t *testing.T) {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		for i := range len(v) {
			for j := range alphabet {
				if alphabet[j] == v[i] {
					continue
				}
				check(t, "character "+strconv.Itoa(i), v[:i]+alphabet[j:j+1]+v[i+1:])
			}
		}
	})
}

// A token sealed under a ring key but with contents Seal never makes is
// still rejected.
func TestOpenRejectsBadPlaintext(t *testing.T) {
	s := testSealer(t, "0000000b")
	good := appendPlaintext(nil, testToken())
	longName := appendPlaintext(nil, Token{Group: strings.Repeat("g", MaxNameLen)})
	longName[0]++ // claims 129 bytes
	longName = append(longName, 'g')
	tests := []struct {
		name  string
		plain []byte
	}{
		{name: "trailing byte", plain: append(good[:len(good):len(good)], 0)},
		{name: "truncated", plain: good[:len(good)-1]},
		{name: "name longer than MaxNameLen", plain: longName},
		{name: "length past the end", plain: []byte{100, 'g', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{name: "varint overflow", plain: append(append([]byte{0, 0}, make([]byte, 8)...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := sealRaw(t, s, tt.plain)
			if _, _, err := s.Open(v, testNow); !errors.Is(err, ErrMalformed) {
				t.Errorf("Open = %v, want ErrMalformed", err)
			}
		})
	}
}

// sealRaw seals plain under the active key of s as Seal would.
func sealRaw(tb testing.TB, s *Sealer, plain []byte) string {
	tb.Helper()
	raw := []byte{wireVersion}
	raw = append(raw, s.active.id[:]...)
	nonce := make([]byte, nonceLen)
	raw = append(raw, nonce...)
	raw = s.active.aead.Seal(raw, nonce, plain, raw[:headerLen])
	return base64.RawURLEncoding.EncodeToString(raw)
}

func TestNewSealerNilRing(t *testing.T) {
	if _, err := NewSealer(nil); err == nil || !strings.HasPrefix(err.Error(), "new affinity sealer: ") {
		t.Errorf("NewSealer(nil) = %v, want an error", err)
	}
}

func TestSealerConcurrent(t *testing.T) {
	s := testSealer(t, "0000000b")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				v, err := s.Seal(testToken())
				if err != nil {
					t.Error(err)
					return
				}
				if _, _, err := s.Open(v, testNow); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkSeal(b *testing.B) {
	s := testSealer(b, "0000000b")
	tok := testToken()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	s := testSealer(b, "0000000b")
	v := mustSeal(b, s, testToken())
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Open(v, testNow); err != nil {
			b.Fatal(err)
		}
	}
}
