package edge

import "github.com/tetherlb/tether/internal/glob"

// matchPattern reports whether path matches a CloudFront path pattern:
// "*" matches any run of characters, slashes included, and "?" exactly
// one character; everything else matches itself, case-sensitively. The
// leading "/" of the pattern and of the path are both optional, so
// "static/*" and "/static/*" are the same pattern. The query string is not
// part of path.
func matchPattern(pattern, path string) bool {
	if len(pattern) > 0 && pattern[0] == '/' {
		pattern = pattern[1:]
	}
	if len(path) > 0 && path[0] == '/' {
		path = path[1:]
	}
	return glob.Match(pattern, path)
}
