package httpcache

import (
	"net/http"
	"strings"
	"time"
)

// ParseCDNCacheControl parses the lines of a CDN-Cache-Control field (RFC
// 9213) as a Structured Fields Dictionary, and reports whether it is
// usable: present, valid and non-empty. A field that does not parse is
// ignored as a whole (RFC 9213 §2.1), and the cache falls back to
// Cache-Control and Expires.
//
// Members map onto directives as RFC 9213 §2.1 infers their types:
//
//   - a Boolean true (a bare key) sets a flag directive (no-store,
//     private, no-cache, public, must-revalidate, …); false leaves it
//     unset;
//   - max-age, s-maxage, stale-while-revalidate and stale-if-error must be
//     non-negative Integers; any other type (a Decimal, a String) is not
//     consumed and reads as 0, like an invalid Cache-Control argument;
//   - no-cache and private qualified by a String, a Token or an Inner
//     List of them give field names; any other value makes them
//     unqualified;
//   - parameters are ignored; unknown keys (the placeholder none) are
//     ignored but still make the field non-empty.
func ParseCDNCacheControl(lines []string) (Directives, bool) {
	var d Directives
	joined := strings.Join(lines, ", ")
	if strings.Trim(joined, " \t,") == "" {
		return d, false
	}
	dict, err := parseSFDictionary(joined)
	if err != nil || len(dict) == 0 {
		return d, false
	}
	for _, m := range dict {
		d.applyMember(m)
	}
	return d, true
}

// applyMember adds one Dictionary member to d.
func (d *Directives) applyMember(m sfMember) {
	var val any = m.val // sfInner for inner lists
	if it, ok := m.val.(sfItem); ok {
		val = it.val
	}
	flag := val == true
	switch m.key {
	case "no-store":
		d.NoStore = d.NoStore || flag
	case "must-revalidate":
		d.MustRevalidate = d.MustRevalidate || flag
	case "proxy-revalidate":
		d.ProxyRevalidate = d.ProxyRevalidate || flag
	case "public":
		d.Public = d.Public || flag
	case "immutable":
		d.Immutable = d.Immutable || flag
	case "no-transform":
		d.NoTransform = d.NoTransform || flag
	case "must-understand":
		d.MustUnderstand = d.MustUnderstand || flag
	case "no-cache":
		d.NoCache = sfQualified(d.NoCache, &d.NoCacheFields, val)
	case "private":
		d.Private = sfQualified(d.Private, &d.PrivateFields, val)
	case "max-age":
		d.MaxAge = sfDelta(val)
	case "s-maxage":
		d.SMaxAge = sfDelta(val)
	case "stale-while-revalidate":
		d.StaleWhileRevalidate = sfDelta(val)
	case "stale-if-error":
		d.StaleIfError = sfDelta(val)
	}
}

// sfDelta reads a delta-seconds member: a non-negative Integer, else 0.
func sfDelta(val any) Delta {
	n, ok := val.(int64)
	if !ok || n < 0 {
		return Delta{Set: true}
	}
	return Delta{D: time.Duration(min(n, 1<<31)) * time.Second, Set: true}
}

// sfQualified handles no-cache and private in a Dictionary: true is the
// bare directive, false is absent, a String, Token or Inner List of them
// names fields, anything else is unqualified.
func sfQualified(unqualified bool, fields *[]string, val any) bool {
	var names []string
	switch v := val.(type) {
	case bool:
		return unqualified || v
	case string:
		names = append(names, v)
	case sfToken:
		names = append(names, string(v))
	case sfInner:
		for _, it := range v.items {
			switch s := it.val.(type) {
			case string:
				names = append(names, s)
			case sfToken:
				names = append(names, string(s))
			default:
				return true
			}
		}
	default:
		return true
	}
	return applyQualified(unqualified, fields, true, true, strings.Join(names, ","))
}

// Effective returns the directives that govern a response in safe mode,
// and whether they came from the targeted field: CDN-Cache-Control when it
// is present, valid and non-empty (RFC 9213 §2.2), else Cache-Control.
// When targeted is true, Cache-Control and Expires are to be ignored.
func Effective(h http.Header) (d Directives, targeted bool) {
	if d, ok := ParseCDNCacheControl(h["Cdn-Cache-Control"]); ok { // the canonical key: no allocation
		return d, true
	}
	return ParseCacheControl(h.Values("Cache-Control")), false
}
