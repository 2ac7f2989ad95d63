package httpcache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
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
	var b strings.Builder
	sfBareString(&b, name)
	if p.Hit {
		b.WriteString("; hit")
	}
	if isSFToken(p.Fwd) {
		b.WriteString("; fwd=")
		b.WriteString(p.Fwd)
	}
	sfFlag(&b, "collapsed", p.Collapsed)
	if p.FwdStatus > 0 && p.FwdStatus <= sfIntMax {
		b.WriteString("; fwd-status=")
		b.WriteString(strconv.Itoa(p.FwdStatus))
	}
	sfFlag(&b, "stored", p.Stored)
	if p.HasTTL {
		secs := min(max(int64(p.TTL/time.Second), -sfIntMax), sfIntMax)
		b.WriteString("; ttl=")
		b.WriteString(strconv.FormatInt(secs, 10))
	}
	if p.Key != "" {
		b.WriteString("; key=")
		sfString(&b, p.Key)
	}
	if p.Detail != "" {
		b.WriteString("; detail=")
		sfBareString(&b, p.Detail)
	}
	return b.String()
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

func sfFlag(b *strings.Builder, key string, f Flag) {
	switch f {
	case Yes:
		b.WriteString("; ")
		b.WriteString(key)
	case No:
		b.WriteString("; ")
		b.WriteString(key)
		b.WriteString("=?0")
	}
}

// sfBareString writes s as a Token if it is one, else as a String.
func sfBareString(b *strings.Builder, s string) {
	if isSFToken(s) {
		b.WriteString(s)
		return
	}
	sfString(b, s)
}

// sfString writes s as a String (RFC 9651 §4.1.6), %-escaping the bytes
// a String cannot hold (controls and non-ASCII).
func sfString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteString("%" + strconv.FormatUint(uint64(c)>>4, 16) + strconv.FormatUint(uint64(c)&15, 16))
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
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
		if c := s[i]; !isTchar(c) && c != ':' && c != '/' {
			return false
		}
	}
	return true
}
