package httpsyntax

import "testing"

func TestIsToken(t *testing.T) {
	for s, want := range map[string]bool{
		"Cache-Control": true, "max-age": true, "GET": true, "x!#$%&'*+-.^_`|~9": true,
		"": false, "a b": false, "a:b": false, "a/b": false, `"a"`: false, "a\x00": false, "ä": false, "a\x7f": false,
	} {
		if got := IsToken(s); got != want {
			t.Errorf("IsToken(%q) = %v, want %v", s, got, want)
		}
	}
	// Exactly the visible ASCII characters that are not delimiters.
	for c := 0; c < 256; c++ {
		want := c > ' ' && c < 0x7f && !contains(`"(),/:;<=>?@[\]{}`, byte(c))
		if IsTchar(byte(c)) != want {
			t.Errorf("IsTchar(%#x) = %v, want %v", c, !want, want)
		}
	}
}

func contains(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}
