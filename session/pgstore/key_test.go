package pgstore

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEncodeKey(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"plain", "acme", "acme"},
		{"unicode kept", "Grüße 世界", "Grüße 世界"},
		{"replacement char kept", "\uFFFD", "\uFFFD"},
		{"NUL", "a\x00b", `a\0b`},
		{"backslash", `a\b`, `a\\b`},
		{"escape look-alike", `\0`, `\\0`},
		{"invalid UTF-8", "a\xffb\xc3", `a\xffb\xc3`},
		{"truncated rune then ASCII", "\xe4\xb8x", `\xe4\xb8x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := encodeKey(tt.in)
			if got != tt.want {
				t.Fatalf("encodeKey(%q) = %q, want %q", tt.in, got, tt.want)
			}
			back, err := decodeKey(got)
			if err != nil || back != tt.in {
				t.Fatalf("decodeKey(%q) = %q, %v; want %q", got, back, err, tt.in)
			}
		})
	}
}

func TestDecodeKeyRejectsBadEscapes(t *testing.T) {
	for _, in := range []string{`\`, `a\`, `\x`, `\x4`, `\xzz`, `\xFF`, `\n`, `\\\`} {
		if got, err := decodeKey(in); err == nil {
			t.Errorf("decodeKey(%q) = %q, nil; want an error", in, got)
		}
	}
}

// FuzzKey checks that the encoding is injective and that its output is
// text PostgreSQL accepts: valid UTF-8 without NUL.
func FuzzKey(f *testing.F) {
	for _, s := range []string{"", "acme", "a\x00b", `a\b`, `\0`, `\x00`, "\xff", "ä", "\xe4\xb8", "a'; DROP TABLE sessions; --"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := encodeKey(s)
		if !utf8.ValidString(enc) || strings.IndexByte(enc, 0) >= 0 {
			t.Fatalf("encodeKey(%q) = %q: not storable as text", s, enc)
		}
		back, err := decodeKey(enc)
		if err != nil || back != s {
			t.Fatalf("decodeKey(encodeKey(%q)) = %q, %v", s, back, err)
		}
		// Arbitrary stored text either decodes or is reported, never
		// panics.
		decodeKey(s)
	})
}
