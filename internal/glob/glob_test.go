package glob

import (
	"regexp"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, s     string
		want, wantStar bool
	}{
		{"static/*", "static/a/b.css", true, true},
		{"images/a??.jpg", "images/abc.jpg", true, false},
		{"images/a??.jpg", "images/ab.jpg", false, false},
		{"*.jpg", "LOGO.JPG", false, false},
		{"*", "*0", true, true},
		{"a*", "a*b", true, true},
		{"*a*b*", "xaXbx", true, true},
		{"", "", true, true},
		{"?", "", false, false},
		{"a?", "a?", true, true},
	} {
		if got := Match(c.pattern, c.s); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
		if got := MatchStar(c.pattern, c.s); got != c.wantStar {
			t.Errorf("MatchStar(%q, %q) = %v, want %v", c.pattern, c.s, got, c.wantStar)
		}
	}
}

// patternRegexp is the obvious, slow meaning of a pattern.
func patternRegexp(pattern string, question bool) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^`)
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '*':
			b.WriteString(`.*`)
		case c == '?' && question:
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(`(?s)` + b.String())
}

// FuzzMatch checks both matchers against regexps.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{{"static/*", "static/a/b.css"}, {"images/a??.jpg", "images/abc.jpg"}, {"*", "*0"}, {"*a*b*", "aXb"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 64 || len(s) > 256 || !ascii(pattern) || !ascii(s) {
			return // the regexps work on runes, the matchers on bytes
		}
		if got, want := Match(pattern, s), patternRegexp(pattern, true).MatchString(s); got != want {
			t.Fatalf("Match(%q, %q) = %v, regexp says %v", pattern, s, got, want)
		}
		if got, want := MatchStar(pattern, s), patternRegexp(pattern, false).MatchString(s); got != want {
			t.Fatalf("MatchStar(%q, %q) = %v, regexp says %v", pattern, s, got, want)
		}
	})
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// BenchmarkMatchStarHostile: a pattern that makes a backtracking matcher
// try every start (the old greedy matcher took about len(pattern) ×
// len(s) steps here) is one linear pass.
func BenchmarkMatchStarHostile(b *testing.B) {
	s := strings.Repeat("a", 4000)
	st := CompileStar("*" + strings.Repeat("a", 1995) + "b*")
	for b.Loop() {
		if st.Match(s) {
			b.Fatal("matched")
		}
	}
}
