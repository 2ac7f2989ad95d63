package affinity

import (
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CookieValue returns the value of the first cookie called name in the
// request's Cookie headers, or "" when there is none. It scans the raw
// headers without allocating a cookie list, skips values longer than
// MaxTokenLen (a hostile 5 KB cookie is simply not a token), and never fails.
func CookieValue(h http.Header, name string) string {
	for v := range CookieValues(h, name) {
		if len(v) > MaxTokenLen {
			return ""
		}
		return v
	}
	return ""
}

// CookieValues yields the values of the cookies called name in the
// request's Cookie headers, in order, as CookieValue reads the first (but
// those longer than MaxTokenLen too: Sealer.Open refuses them): a browser
// sends two cookies of one name when they differ in domain or path (a
// host-only one and a domain one, after cookie_domain changed), older
// first.
func CookieValues(h http.Header, name string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, line := range h["Cookie"] {
			for line != "" {
				var part string
				part, line, _ = strings.Cut(line, ";")
				part = strings.TrimSpace(part)
				k, v, ok := strings.Cut(part, "=")
				if !ok || strings.TrimSpace(k) != name {
					continue
				}
				v = strings.TrimSpace(v)
				if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
					v = v[1 : len(v)-1]
				}
				if !yield(v) {
					return
				}
			}
		}
	}
}

// StripCookies removes the cookies whose names are in names from the
// request's Cookie headers, so that targets never see tether's own cookies
// (HAProxy's "indirect"). Other cookies are kept byte for byte. A header
// left empty is deleted.
func StripCookies(h http.Header, names ...string) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	found := false
	for _, line := range lines {
		for _, n := range names {
			if strings.Contains(line, n) {
				found = true
			}
		}
	}
	if !found {
		return
	}
	var kept []string
	for _, line := range lines {
		var buf [8]string // most lines have few cookies: no allocation for them
		parts := buf[:0]
		for rest := line; rest != ""; {
			var part string
			part, rest, _ = strings.Cut(rest, ";")
			k, _, _ := strings.Cut(part, "=")
			if contains(names, strings.TrimSpace(k)) {
				continue
			}
			if p := strings.TrimSpace(part); p != "" {
				parts = append(parts, p)
			}
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	if len(kept) == 0 {
		h.Del("Cookie")
		return
	}
	h["Cookie"] = kept
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// CookieOptions are the attributes of a cookie tether sets.
type CookieOptions struct {
	Domain   string // empty: host-only
	Secure   bool   // set on TLS connections (or a trusted https proxy)
	SameSite string // "Lax", "None" (requires Secure) or "Strict"
}

// SetCookie adds a Set-Cookie header for name=value that expires at
// expires (Expires and Max-Age), with Path=/ and HttpOnly. A zero expires
// deletes the cookie.
func SetCookie(h http.Header, name, value string, expires, now time.Time, o CookieOptions) {
	var b strings.Builder
	b.Grow(len(name) + len(value) + 128)
	b.WriteString(name)
	b.WriteByte('=')
	b.WriteString(value)
	b.WriteString("; Path=/")
	if o.Domain != "" {
		b.WriteString("; Domain=")
		b.WriteString(o.Domain)
	}
	if expires.IsZero() {
		b.WriteString("; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0")
	} else {
		b.WriteString("; Expires=")
		b.WriteString(expires.UTC().Format(http.TimeFormat))
		b.WriteString("; Max-Age=")
		b.WriteString(strconv.FormatInt(int64(expires.Sub(now).Round(time.Second)/time.Second), 10))
	}
	b.WriteString("; HttpOnly")
	if o.Secure {
		b.WriteString("; Secure")
	}
	if o.SameSite != "" {
		b.WriteString("; SameSite=")
		b.WriteString(o.SameSite)
	}
	h.Add("Set-Cookie", b.String())
}

// AppCookieSet inspects a target's Set-Cookie headers for the cookie name.
// set reports that the target set it; deleted reports that it was set to
// expire (Max-Age<=0 or an Expires in the past), as at logout.
func AppCookieSet(h http.Header, name string, now time.Time) (set, deleted bool) {
	for _, line := range h["Set-Cookie"] {
		k, _, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) != name {
			continue
		}
		c, err := http.ParseSetCookie(line)
		if err != nil {
			continue
		}
		if c.MaxAge < 0 || (c.MaxAge == 0 && !c.Expires.IsZero() && !c.Expires.After(now)) || c.Value == "" {
			return true, true
		}
		return true, false
	}
	return false, false
}
