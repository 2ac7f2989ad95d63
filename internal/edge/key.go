package edge

import (
	"encoding/binary"
	"net/http"
	"slices"
	"strings"
)

// selection is what a behavior takes from one request: the inputs in the
// cache key and the inputs forwarded to the origin.
type selection struct {
	keyQuery, fwdQuery     []pair
	keyCookies, fwdCookies []pair // sorted by name
	keyHeaders             []string
	acceptEncoding         string // normalised, "" when not keyed
	duplicate              bool   // a selected cookie or query name appears twice
}

// selectInputs applies the behavior's cache policy and origin request
// policy to v (spec §2.4 and §2.5).
func (b *behavior) selectInputs(r *http.Request, v *view) selection {
	var s selection
	var seen map[string]int // made only for a request with a query or cookies
	if len(v.query)+len(v.cookies) > 0 {
		seen = map[string]int{}
	}
	for _, q := range v.query {
		inKey := b.cache.Query.Selects(q.name)
		if inKey {
			s.keyQuery = append(s.keyQuery, q)
		}
		if inKey || b.orp.Query.Selects(q.name) {
			s.fwdQuery = append(s.fwdQuery, q)
			if seen["q\x00"+q.name]++; seen["q\x00"+q.name] > 1 {
				s.duplicate = true
			}
		}
	}
	for _, c := range v.cookies {
		inKey := b.cache.Cookies.Selects(c.name)
		if inKey {
			s.keyCookies = append(s.keyCookies, c)
		}
		if inKey || b.orp.Cookies.Selects(c.name) {
			s.fwdCookies = append(s.fwdCookies, c)
			if seen["c\x00"+c.name]++; seen["c\x00"+c.name] > 1 {
				s.duplicate = true
			}
		}
	}
	byName := func(a, b pair) int { return strings.Compare(a.name, b.name) }
	slices.SortStableFunc(s.keyCookies, byName)
	slices.SortStableFunc(s.fwdCookies, byName)
	s.keyHeaders = b.keyHeaders
	if b.gzipKey || b.brKey {
		s.acceptEncoding = normalizeAcceptEncoding(r.Header["Accept-Encoding"], b.gzipKey, b.brKey)
	}
	return s
}

// normalizeAcceptEncoding reduces Accept-Encoding to the encodings the key
// distinguishes: "br,gzip", "br", "gzip" or "". An encoding with q=0 is not
// accepted.
func normalizeAcceptEncoding(fields []string, gzip, br bool) string {
	var hasGzip, hasBr bool
	for _, f := range fields {
		for part := range strings.SplitSeq(f, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if q := strings.ReplaceAll(strings.ToLower(params), " ", ""); strings.HasPrefix(q, "q=0") && strings.Trim(q[3:], ".0") == "" {
				continue
			}
			switch name {
			case "gzip", "x-gzip":
				hasGzip = true
			case "br":
				hasBr = true
			}
		}
	}
	var out []string
	if br && hasBr {
		out = append(out, "br")
	}
	if gzip && hasGzip {
		out = append(out, "gzip")
	}
	return strings.Join(out, ",")
}

// cacheKey is the primary key of a request (spec §2.4), with the tenant
// always in it: a response stored for one tenant can never be found for
// another. The key is the fields themselves, each prefixed with its length
// (a uvarint), so that no two different lists of fields give the same
// bytes (a "-" join would let X-A: "x-", X-B: "y" collide with X-A: "x",
// X-B: "-y"); the store compares keys whole, so no hash collision can
// hand one request another's object. at says where the tenant, the host
// and the path are in the key, so that a stored object's names can share
// its bytes.
func (e *Edge) cacheKey(b *behavior, r *http.Request, v *view, s *selection, tenant string) (key string, at keyAt) {
	var arr [256]byte
	k := appendField(arr[:0], tenant)
	at.tenant = len(k) - len(tenant)
	k = appendField(k, b.id)
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	k = appendField(k, method)
	if !e.cloudfront {
		scheme := "http"
		if r.TLS != nil || e.originTLS || len(e.trusted) > 0 && e.trusted.Identify(r).Secure() {
			scheme = "https"
		}
		k = appendField(k, scheme)
	}
	k = appendField(k, v.host)
	at.host = len(k) - len(v.host)
	k = appendField(k, v.rawPath)
	at.path = len(k) - len(v.rawPath)
	k = binary.AppendUvarint(k, uint64(len(s.keyQuery)))
	for _, q := range s.keyQuery {
		k = appendField(k, q.name)
		k = appendField(k, q.value)
	}
	for _, h := range s.keyHeaders {
		k = appendField(k, h)
		vals := r.Header.Values(h)
		if len(vals) == 0 {
			k = appendField(k, "\x00") // absent, which differs from empty
			continue
		}
		n := len(vals) // "=" and the commas between the values
		for _, val := range vals {
			n += len(val)
		}
		k = binary.AppendUvarint(k, uint64(n))
		k = append(k, '=')
		for i, val := range vals {
			if i > 0 {
				k = append(k, ',')
			}
			k = append(k, val...)
		}
	}
	k = binary.AppendUvarint(k, uint64(len(s.keyCookies)))
	for _, c := range s.keyCookies {
		k = appendField(k, c.name)
		k = appendField(k, c.value)
	}
	k = appendField(k, s.acceptEncoding)
	return string(k), at
}

// keyAt holds where fields start in a key.
type keyAt struct{ tenant, host, path int }

// appendField appends f to the key k, after its length.
func appendField(k []byte, f string) []byte {
	k = binary.AppendUvarint(k, uint64(len(f)))
	return append(k, f...)
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
