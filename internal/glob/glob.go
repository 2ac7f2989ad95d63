// Package glob matches CloudFront-style wildcard patterns: "*" matches any
// run of bytes (slashes included) and, in Match, "?" exactly one byte;
// every other byte matches itself, case-sensitively. Both run in linear
// space and O(len(pattern) × len(s)) time at worst, with no recursion, so
// hostile input cannot make them slow.
package glob

// Match reports whether s matches pattern, with "*" and "?" wildcards (a
// CloudFront path pattern).
func Match(pattern, s string) bool { return match(pattern, s, true) }

// MatchStar reports whether s matches pattern, with "*" the only wildcard
// ("?" matches itself, as in CloudFront invalidation paths, where it
// starts the query string).
func MatchStar(pattern, s string) bool { return match(pattern, s, false) }

func match(pattern, s string, question bool) bool {
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
		case p < len(pattern) && (question && pattern[p] == '?' || pattern[p] == s[i]):
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
