// Package glob matches CloudFront-style wildcard patterns: "*" matches any
// run of bytes (slashes included) and, in Match, "?" exactly one byte;
// every other byte matches itself, case-sensitively. Match runs in linear
// space and O(len(pattern) × len(s)) time at worst, MatchStar in linear
// time; neither recurses, so hostile input cannot make them slow.
package glob

import "strings"

// Match reports whether s matches pattern, with "*" and "?" wildcards (a
// CloudFront path pattern).
func Match(pattern, s string) bool {
	// Greedy matching that backtracks to the last star: the classic
	// linear-space wildcard algorithm. The star test comes first, so a
	// "*" in the pattern is a wildcard even when s has a "*" there too.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// MatchStar reports whether s matches pattern, with "*" the only wildcard
// ("?" matches itself, as in CloudFront invalidation paths, where it
// starts the query string). It runs in O(len(pattern) + len(s)) time; to
// match one pattern against many strings, compile it once with
// CompileStar.
func MatchStar(pattern, s string) bool { return CompileStar(pattern).Match(s) }

// Star is a compiled MatchStar pattern.
type Star struct {
	pattern string
	// parts are the pattern's literal runs between stars: the first must
	// start s, the last end it, and the others occur in order between;
	// nil for a pattern without a star. fails are their KMP failure
	// tables, for the middle parts.
	parts []string
	fails [][]int32
}

// CompileStar compiles pattern for Star.Match.
func CompileStar(pattern string) *Star {
	st := &Star{pattern: pattern}
	if strings.IndexByte(pattern, '*') < 0 {
		return st
	}
	st.parts = strings.Split(pattern, "*")
	st.fails = make([][]int32, len(st.parts))
	for i := 1; i < len(st.parts)-1; i++ {
		st.fails[i] = failTable(st.parts[i])
	}
	return st
}

// Match reports whether s matches the pattern, in O(len(pattern) +
// len(s)) time whatever the two hold: leftmost matches of the middle
// parts, found with Knuth-Morris-Pratt, leave the most room for the
// parts after them, so no choice is ever undone.
func (st *Star) Match(s string) bool {
	if st.parts == nil {
		return s == st.pattern
	}
	first, last := st.parts[0], st.parts[len(st.parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	rest := s[len(first) : len(s)-len(last)]
	for i := 1; i < len(st.parts)-1; i++ {
		at := kmpIndex(rest, st.parts[i], st.fails[i])
		if at < 0 {
			return false
		}
		rest = rest[at+len(st.parts[i]):]
	}
	return true
}

// failTable is the Knuth-Morris-Pratt failure function of p: for each
// prefix of p, the length of its longest proper prefix that is also its
// suffix.
func failTable(p string) []int32 {
	f := make([]int32, len(p))
	k := int32(0)
	for i := 1; i < len(p); i++ {
		for k > 0 && p[i] != p[k] {
			k = f[k-1]
		}
		if p[i] == p[k] {
			k++
		}
		f[i] = k
	}
	return f
}

// kmpIndex returns the index of the first occurrence of p in s (0 for an
// empty p), or -1, in O(len(s) + len(p)) time; f is p's failTable.
func kmpIndex(s, p string, f []int32) int {
	if p == "" {
		return 0
	}
	k := int32(0)
	for i := 0; i < len(s); i++ {
		for k > 0 && s[i] != p[k] {
			k = f[k-1]
		}
		if s[i] == p[k] {
			k++
			if int(k) == len(p) {
				return i - len(p) + 1
			}
		}
	}
	return -1
}
