package edge

// matchPattern reports whether path matches a CloudFront path pattern:
// "*" matches any run of characters, slashes included, and "?" exactly
// one character; everything else matches itself, case-sensitively. The
// leading "/" of the pattern and of the path are both optional, so
// "static/*" and "/static/*" are the same pattern. The query string is not
// part of path.
//
// It runs in O(len(pattern) × len(path)) at worst, with no recursion, so a
// hostile path cannot make it slow.
func matchPattern(pattern, path string) bool {
	if len(pattern) > 0 && pattern[0] == '/' {
		pattern = pattern[1:]
	}
	if len(path) > 0 && path[0] == '/' {
		path = path[1:]
	}
	// Greedy matching with backtracking to the last star, the classic
	// linear-space wildcard algorithm.
	p, s := 0, 0
	star, mark := -1, 0
	for s < len(path) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == path[s]):
			p++
			s++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, s
			p++
		case star >= 0:
			p = star + 1
			mark++
			s = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
