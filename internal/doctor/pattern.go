package doctor

import (
	"strings"

	"github.com/tetherlb/tether/internal/glob"
)

// matchGlob reports whether s matches pattern, where * matches any run of
// characters (slashes included) and ? exactly one, as in CloudFront path
// patterns and legacy cookie whitelists. Matching is case-sensitive.
func matchGlob(pattern, s string) bool { return glob.Match(pattern, s) }

// normPattern drops a path pattern's optional leading slash.
func normPattern(p string) string { return strings.TrimPrefix(p, "/") }

// covers reports whether every path that later matches is also matched by
// earlier, so that a behavior with pattern later, listed after earlier,
// is never used. It matches later's text against earlier, where later's
// wildcards are symbols that earlier's must absorb: earlier's * takes any
// run of them, its ? one character or one ? of later, never a * (which
// stands for any number of characters), and its other characters only
// themselves. Sound for the patterns people write, conservative otherwise.
func covers(earlier, later string) bool {
	p, s := normPattern(earlier), normPattern(later)
	// The usual linear glob match, backtracking to the last * of p.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && (p[pi] == s[si] && p[pi] != '?' || p[pi] == '?' && s[si] != '*'):
			pi++
			si++
		case star >= 0:
			mark++
			pi, si = star+1, mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// literalPrefix is the pattern's leading text before its first wildcard,
// with a leading slash.
func literalPrefix(p string) string {
	p = "/" + normPattern(p)
	if i := strings.IndexAny(p, "*?"); i >= 0 {
		return p[:i]
	}
	return p
}

// staticExtensions are file types usually served as static assets.
var staticExtensions = []string{"css", "js", "mjs", "map", "png", "jpg", "jpeg", "gif", "ico", "svg", "webp", "avif", "woff", "woff2", "ttf", "eot"}

// staticPrefixes are directories usually holding static assets.
var staticPrefixes = []string{"/static/", "/assets/", "/_next/static/", "/images/", "/img/", "/css/", "/js/", "/fonts/", "/media/", "/public/", "/dist/", "/build/"}

// sensitivePrefixes are paths whose responses are usually personal.
var sensitivePrefixes = []string{"/account", "/api", "/admin", "/login", "/user", "/profile", "/checkout", "/cart", "/settings"}

// extension returns the file extension a pattern such as *.css or
// /img/*.png selects, and whether the pattern is extension based.
func extension(p string) (string, bool) {
	last := p[strings.LastIndex(p, "/")+1:]
	ext, ok := strings.CutPrefix(last, "*.")
	if !ok || ext == "" || strings.ContainsAny(ext, "*?/") {
		return "", false
	}
	return ext, true
}

// extensionOnly reports whether p selects by extension anywhere in the
// site (*.css, /*.css), not under a directory.
func extensionOnly(p string) bool {
	_, ok := extension(p)
	return ok && !strings.Contains(normPattern(p), "/")
}

// staticExtension reports whether p selects a static file type.
func staticExtension(p string) bool {
	ext, ok := extension(p)
	if !ok {
		return false
	}
	ext = strings.ToLower(ext)
	for _, e := range staticExtensions {
		if ext == e {
			return true
		}
	}
	return false
}

// looksStatic reports whether a behavior is evidently for static assets:
// a static file extension, a static directory, or content types to store.
func (b *Behavior) looksStatic() bool {
	if staticExtension(b.Path) || len(b.StaticContentTypes) > 0 {
		return true
	}
	lp := strings.ToLower(literalPrefix(b.Path))
	for _, s := range staticPrefixes {
		if strings.HasPrefix(lp, s) {
			return true
		}
	}
	return false
}

// sensitivePrefix returns the sensitive prefix p starts with, or "".
func sensitivePrefix(p string) string {
	lp := strings.ToLower(literalPrefix(p))
	for _, s := range sensitivePrefixes {
		if lp == s || strings.HasPrefix(lp, s+"/") {
			return s
		}
	}
	return ""
}

// overlaps reports whether some path could match both the CloudFront
// pattern p and the load-balancer route path r (an exact path, a prefix
// ending in *, or "" for any path). It errs on the side of overlap.
func overlaps(p, r string) bool {
	if r == "" || r == "/*" || r == "*" {
		return true
	}
	lp := literalPrefix(p)
	rp := literalPrefix(r)
	if !strings.ContainsAny(r, "*?") {
		return matchGlob(normPattern(p), normPattern(r))
	}
	rp = strings.TrimSuffix(rp, "/")
	return strings.HasPrefix(lp, rp) || strings.HasPrefix(rp, lp)
}

// routeCovers reports whether every path matching pattern p also matches
// route path r, so that routes after r never see p's requests.
func routeCovers(p, r string) bool {
	if r == "" || r == "/*" || r == "*" {
		return true
	}
	pre, ok := strings.CutSuffix(r, "*")
	if !ok || strings.ContainsAny(pre, "*?") {
		return false
	}
	return strings.HasPrefix(literalPrefix(p), pre)
}

// reaches reports whether requests of a behavior with pattern p can match
// the load-balancer route path r, given the patterns of the behaviors
// listed before it: a route whose every path an earlier behavior takes
// is out of p's reach.
func reaches(p, r string, earlier []string) bool {
	if !overlaps(p, r) {
		return false
	}
	if r == "" {
		return true
	}
	for _, e := range earlier {
		if covers(e, r) {
			return false
		}
	}
	return true
}

// paths returns the patterns of behaviors.
func paths(bs []*Behavior) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Path
	}
	return out
}
