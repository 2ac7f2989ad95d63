package httpcache

import (
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/tetherlb/tether/internal/httpsyntax"
)

// Forever is a staleness window without end (a bare max-stale; CloudFront
// serving an expired object on an origin error for as long as it holds it,
// unless the origin sent stale-if-error). It is 100 years, not the largest
// Duration, so that adding a TTL to it cannot overflow.
const Forever = 100 * 365 * 24 * time.Hour

// maxDelta is where delta-seconds saturate: 2^31 seconds (RFC 9111 §1.2.2).
const maxDelta = (1 << 31) * time.Second

// Delta is an optional delta-seconds directive argument.
type Delta struct {
	// D is the value. An invalid or conflicting argument reads as 0 (the
	// response is treated as stale, RFC 9111 §4.2.1).
	D time.Duration
	// Set reports whether the directive was present.
	Set bool
}

// Directives are parsed Cache-Control or CDN-Cache-Control directives
// (RFC 9111 §5.2, RFC 9213), response and request ones together. Unknown
// directives are ignored.
type Directives struct {
	// NoStore is no-store.
	NoStore bool
	// NoCache is the unqualified no-cache; qualified ones only fill
	// NoCacheFields.
	NoCache bool
	// Private is the unqualified private; qualified ones only fill
	// PrivateFields.
	Private bool
	// Public is public.
	Public bool
	// MustRevalidate, ProxyRevalidate, MustUnderstand, NoTransform,
	// Immutable and OnlyIfCached are the directives of those names.
	MustRevalidate, ProxyRevalidate, MustUnderstand, NoTransform, Immutable, OnlyIfCached bool
	// NoCacheFields and PrivateFields are the lowercased field names of
	// qualified no-cache="…" and private="…".
	NoCacheFields, PrivateFields []string
	// MaxAge, SMaxAge, StaleWhileRevalidate, StaleIfError, MaxStale and
	// MinFresh are the delta-seconds directives. A bare max-stale is
	// Forever.
	MaxAge, SMaxAge, StaleWhileRevalidate, StaleIfError, MaxStale, MinFresh Delta
}

// NoCacheField reports whether a qualified no-cache names field
// (case-insensitive).
func (d *Directives) NoCacheField(field string) bool {
	return len(d.NoCacheFields) > 0 && slices.Contains(d.NoCacheFields, strings.ToLower(field))
}

// PrivateField reports whether a qualified private names field
// (case-insensitive).
func (d *Directives) PrivateField(field string) bool {
	return len(d.PrivateFields) > 0 && slices.Contains(d.PrivateFields, strings.ToLower(field))
}

// ParseCacheControl parses the lines of a Cache-Control field (RFC 9111
// §5.2) as one comma-separated list. Directive names are
// case-insensitive; arguments may be tokens or quoted strings (recipients
// accept both forms, §5.2). It is conservative where the field is
// malformed:
//
//   - no-store, no-cache, private, must-revalidate and proxy-revalidate
//     take effect even with a malformed or unexpected argument; a
//     no-cache or private whose field list is malformed or empty counts
//     as unqualified;
//   - public with an argument is ignored;
//   - a delta-seconds directive (max-age, s-maxage, stale-*, min-fresh)
//     without a valid non-negative integer argument, or repeated with
//     different values, is 0 ("considered stale", §4.2.1);
//   - values beyond 2^31 seconds saturate there (§1.2.2);
//   - an element whose name is not a token ("max-age =60") is malformed:
//     if the trimmed name is a known directive it is applied as above with
//     an invalid argument, otherwise ignored.
func ParseCacheControl(lines []string) Directives {
	var d Directives
	for _, line := range lines {
		for rest := line; rest != ""; {
			var elem string
			elem, rest = nextElement(rest)
			d.apply(elem)
		}
	}
	return d
}

// nextElement splits s at the first comma outside a quoted string.
func nextElement(s string) (elem, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// apply adds one list element to d.
func (d *Directives) apply(elem string) {
	elem = strings.Trim(elem, " \t")
	if elem == "" {
		return
	}
	name, raw, hasArg := strings.Cut(elem, "=")
	malformed := false
	if !httpsyntax.IsToken(name) {
		if name = strings.Trim(name, " \t"); !httpsyntax.IsToken(name) {
			return
		}
		malformed = true
	}
	name = strings.ToLower(name)
	arg, ok := "", true
	if hasArg {
		arg, ok = parseArgument(raw)
	}
	valid := ok && !malformed
	switch name {
	case "no-store":
		d.NoStore = true
	case "must-revalidate":
		d.MustRevalidate = true
	case "proxy-revalidate":
		d.ProxyRevalidate = true
	case "must-understand":
		d.MustUnderstand = true
	case "no-transform":
		d.NoTransform = true
	case "immutable":
		d.Immutable = true
	case "only-if-cached":
		d.OnlyIfCached = true
	case "public":
		d.Public = d.Public || !hasArg && valid
	case "no-cache":
		d.NoCache = applyQualified(d.NoCache, &d.NoCacheFields, hasArg, valid, arg)
	case "private":
		d.Private = applyQualified(d.Private, &d.PrivateFields, hasArg, valid, arg)
	case "max-age":
		setDelta(&d.MaxAge, arg, hasArg && valid)
	case "s-maxage":
		setDelta(&d.SMaxAge, arg, hasArg && valid)
	case "stale-while-revalidate":
		setDelta(&d.StaleWhileRevalidate, arg, hasArg && valid)
	case "stale-if-error":
		setDelta(&d.StaleIfError, arg, hasArg && valid)
	case "min-fresh":
		setDelta(&d.MinFresh, arg, hasArg && valid)
	case "max-stale":
		if !hasArg && valid {
			d.MaxStale = Delta{D: Forever, Set: true}
		} else {
			setDelta(&d.MaxStale, arg, valid)
		}
	}
}

// applyQualified handles no-cache and private: a valid field list adds to
// fields; a bare directive, or a malformed or empty list, makes it
// unqualified. It returns the new unqualified flag.
func applyQualified(unqualified bool, fields *[]string, hasArg, valid bool, arg string) bool {
	if !hasArg {
		return true
	}
	names, ok := fieldNames(arg)
	if !valid || !ok {
		return true
	}
	for _, n := range names {
		if !slices.Contains(*fields, n) {
			*fields = append(*fields, n)
		}
	}
	return unqualified
}

// fieldNames splits a qualified directive's argument into lowercased field
// names; ok is false if it is empty or a name is not a token.
func fieldNames(arg string) ([]string, bool) {
	var names []string
	for _, n := range strings.Split(arg, ",") {
		n = strings.Trim(n, " \t")
		if n == "" {
			continue
		}
		if !httpsyntax.IsToken(n) {
			return nil, false
		}
		names = append(names, strings.ToLower(n))
	}
	return names, len(names) > 0
}

// setDelta records a delta-seconds directive: 0 when the argument is
// invalid, or when a repeat disagrees with an earlier value.
func setDelta(dst *Delta, arg string, valid bool) {
	v, ok := time.Duration(0), false
	if valid {
		v, ok = parseDeltaSeconds(arg)
	}
	if !ok {
		v = 0
	}
	if dst.Set && dst.D != v {
		v = 0
	}
	*dst = Delta{D: v, Set: true}
}

// parseDeltaSeconds parses 1*DIGIT, saturating at 2^31 seconds.
func parseDeltaSeconds(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = min(n*10+int64(c-'0'), 1<<31)
	}
	return time.Duration(n) * time.Second, true
}

// parseArgument reads a directive argument: a token, or a quoted string
// with its escapes undone. ok is false if it is neither.
func parseArgument(s string) (string, bool) {
	if !strings.HasPrefix(s, `"`) {
		return s, httpsyntax.IsToken(s)
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 >= len(s) {
				return "", false
			}
			i++
			b.WriteByte(s[i])
		case '"':
			return b.String(), i == len(s)-1
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}

// canonical returns the canonical form of the field names.
func canonical(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = textproto.CanonicalMIMEHeaderKey(n)
	}
	return out
}
