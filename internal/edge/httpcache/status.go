package httpcache

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tetherlb/tether/internal/httpsyntax"
)

// Flag is a Cache-Status Boolean parameter that may be absent.
type Flag uint8

// Flag values.
const (
	Unset Flag = iota // the parameter is left out
	Yes               // the bare key: stored
	No                // =?0: stored=?0
)

// StatusParams are the parameters of one Cache-Status member (RFC 9211
// §2). Zero values are left out.
type StatusParams struct {
	// Hit is the response was served from cache.
	Hit bool
	// Fwd is why the request went forward: one of the Fwd constants.
	// Left out if it is not a valid token.
	Fwd string
	// Collapsed is whether the request was collapsed with another.
	Collapsed Flag
	// FwdStatus is the status of the forwarded request; 0 leaves it out.
	FwdStatus int
	// Stored is whether the response was stored.
	Stored Flag
	// TTL is the remaining freshness, negative when stale; sent in whole
	// seconds, truncated toward zero, when HasTTL is true.
	TTL time.Duration
	// HasTTL says to send TTL (a zero TTL is a meaningful value).
	HasTTL bool
	// Key is the (debug) cache key; "" leaves it out. Bytes outside
	// printable ASCII are sent %-escaped.
	Key string
	// Detail is a detail token or string; "" leaves it out. It is sent as
	// a Token when it has token syntax, else as a String (bytes outside
	// printable ASCII %-escaped).
	Detail string
}

// sfIntMax is the largest Structured Fields Integer.
const sfIntMax = 999_999_999_999_999

// CacheStatus returns the Cache-Status list member of the cache called
// name (RFC 9211 §2): name as a Token (or a String if it is not one),
// then the parameters in the order hit, fwd, collapsed, fwd-status,
// stored, ttl, key, detail, as in spec §2.13. For example
// "edge; fwd=uri-miss; fwd-status=200; stored; ttl=300".
func CacheStatus(name string, p StatusParams) string {
	var arr [128]byte
	return string(AppendCacheStatusMember(arr[:0], name, p))
}

// AppendCacheStatusMember appends CacheStatus(name, p) to dst and returns
// the extended slice.
func AppendCacheStatusMember(dst []byte, name string, p StatusParams) []byte {
	b := appendSFBare(dst, name)
	if p.Hit {
		b = append(b, "; hit"...)
	}
	if isSFToken(p.Fwd) {
		b = append(append(b, "; fwd="...), p.Fwd...)
	}
	b = appendSFFlag(b, "collapsed", p.Collapsed)
	if p.FwdStatus > 0 && p.FwdStatus <= sfIntMax {
		b = strconv.AppendInt(append(b, "; fwd-status="...), int64(p.FwdStatus), 10)
	}
	b = appendSFFlag(b, "stored", p.Stored)
	if p.HasTTL {
		secs := min(max(int64(p.TTL/time.Second), -sfIntMax), sfIntMax)
		b = strconv.AppendInt(append(b, "; ttl="...), secs, 10)
	}
	if p.Key != "" {
		b = appendSFString(append(b, "; key="...), p.Key)
	}
	if p.Detail != "" {
		b = appendSFBare(append(b, "; detail="...), p.Detail)
	}
	return b
}

// AppendCacheStatus appends member to h's Cache-Status, after any members
// upstream caches put there, as one field line (RFC 9211 §2: the last
// member is the cache closest to the client).
func AppendCacheStatus(h http.Header, member string) {
	if prev := h.Values("Cache-Status"); len(prev) > 0 {
		member = strings.Join(append(prev[:len(prev):len(prev)], member), ", ")
	}
	h.Set("Cache-Status", member)
}

// appendSFFlag appends the Boolean parameter key when f is set.
func appendSFFlag(b []byte, key string, f Flag) []byte {
	switch f {
	case Yes:
		b = append(append(b, "; "...), key...)
	case No:
		b = append(append(append(b, "; "...), key...), "=?0"...)
	}
	return b
}

// appendSFBare appends s as a Token if it is one, else as a String.
func appendSFBare(b []byte, s string) []byte {
	if isSFToken(s) {
		return append(b, s...)
	}
	return appendSFString(b, s)
}

// appendSFString appends s as a String (RFC 9651 §4.1.6), %-escaping the
// bytes a String cannot hold (controls and non-ASCII).
func appendSFString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c > 0x7e:
			b = append(b, '%', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// isSFToken reports whether s is a Structured Fields Token (RFC 9651
// §3.3.4): ( ALPHA / "*" ) *( tchar / ":" / "/" ).
func isSFToken(s string) bool {
	if s == "" {
		return false
	}
	if c := s[0]; !(c == '*' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !httpsyntax.IsTchar(c) && c != ':' && c != '/' {
			return false
		}
	}
	return true
}
