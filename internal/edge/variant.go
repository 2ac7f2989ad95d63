package edge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/tetherlb/tether/internal/edge/cachestore"
)

// variantKey is the secondary key of a response that has Vary (spec §2.9,
// safe mode): the values the nominated headers had in the request the
// origin saw, so a header the behavior does not forward never splits the
// cache (the origin could not have varied on it).
func (e *Edge) variantKey(x *exchange, vary []string) string {
	if e.cloudfront || len(vary) == 0 {
		return ""
	}
	var b strings.Builder
	for _, name := range vary {
		b.WriteString(name)
		b.WriteByte('\x00')
		b.WriteString(e.originView(x, name))
		b.WriteByte('\x00')
	}
	return b.String()
}

// originView returns the value header name had in the request sent to the
// origin for x.
func (e *Edge) originView(x *exchange, name string) string {
	canon := http.CanonicalHeaderKey(name)
	switch canon {
	case "Cookie":
		var parts []string
		for _, c := range x.s.fwdCookies {
			parts = append(parts, c.name+"="+c.value)
		}
		return strings.Join(parts, "; ")
	case "Accept-Encoding":
		return x.s.acceptEncoding
	}
	if !slices.Contains(x.b.fwdHeaders, canon) {
		return absent
	}
	vals := x.r.Header.Values(canon)
	if len(vals) == 0 {
		return absent
	}
	var b strings.Builder
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strings.TrimSpace(v))
	}
	return b.String()
}

// absent is originView's value for a field the origin's request did not
// carry: a request without the field matches only another without it,
// not one where it is empty (RFC 9111 §4.1). No field value holds it.
const absent = "\x01"

// variantMatch returns the predicate that picks the stored variant x may
// use.
func (e *Edge) variantMatch(x *exchange) func(*cachestore.Object) bool {
	var m variantMatcher
	return func(o *cachestore.Object) bool { return m.matches(e, x, o) }
}

// variantMatcher tells whether x may use a stored variant. The variants of
// a key mostly share their Vary list: x's secondary key for the last list
// seen is kept, so that looking through a key's variants costs a
// comparison each, not a secondary key each.
type variantMatcher struct {
	vary []string // the Vary list key was made for
	key  string
	made bool
}

// matches reports whether x may use the stored variant o.
func (m *variantMatcher) matches(e *Edge, x *exchange, o *cachestore.Object) bool {
	if !m.made || !slices.Equal(m.vary, o.VaryHeaders) {
		m.vary, m.key, m.made = o.VaryHeaders, e.variantKey(x, o.VaryHeaders), true
	}
	return o.Variant == m.key
}

// hmac8 is the 8-hex HMAC that stands for a value in Cache-Status key=
// (debug_key), under a random secret of the edge, so the header never
// reveals a cookie or header.
func (e *Edge) hmac8(v string) string {
	m := hmac.New(sha256.New, e.debugSecret)
	m.Write([]byte(v))
	return hex.EncodeToString(m.Sum(nil)[:4])
}

// displayKey is the readable form of x's key for Cache-Status key=, with
// every cookie, header and query value replaced by an 8-hex HMAC.
func (e *Edge) displayKey(x *exchange) string {
	var b strings.Builder
	method := x.r.Method
	if method == http.MethodHead {
		method = http.MethodGet // as the key has it: a HEAD shares its GET's objects
	}
	b.WriteString(x.tenant + "|" + x.b.id + "|" + method + "|" + x.v.host + x.v.rawPath)
	for i, q := range x.s.keyQuery {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		b.WriteString(sep + q.name + "=" + e.hmac8(q.value))
	}
	for _, h := range x.s.keyHeaders {
		b.WriteString("|" + h + "=" + e.hmac8(strings.Join(x.r.Header.Values(h), ",")))
	}
	for _, c := range x.s.keyCookies {
		b.WriteString("|" + c.name + "=" + e.hmac8(c.value))
	}
	if x.s.acceptEncoding != "" {
		b.WriteString("|ae=" + x.s.acceptEncoding)
	}
	return b.String()
}

// isTimeout reports whether err is, or wraps, a timeout. The first
// net.Error in the chain may not say (a *url.Error around an error that
// only wraps the timeout), so a read deadline that passed counts too.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}
