package edge

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"net/http"
	"slices"
	"strings"
)

// keyWriter feeds length-prefixed fields into the key hash, so that no two
// different lists of fields give the same bytes (spec §2.4: injective; a
// "-" join would let X-A: "x-", X-B: "y" collide with X-A: "x", X-B: "-y").
type keyWriter struct {
	h   hash.Hash
	buf [binary.MaxVarintLen64]byte
}

func (w *keyWriter) field(s string) {
	n := binary.PutUvarint(w.buf[:], uint64(len(s)))
	w.h.Write(w.buf[:n])
	w.h.Write([]byte(s))
}

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
	seen := map[string]int{}
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
		s.acceptEncoding = normalizeAcceptEncoding(r.Header.Values("Accept-Encoding"), b.gzipKey, b.brKey)
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
// another.
func (e *Edge) cacheKey(b *behavior, r *http.Request, v *view, s *selection, tenant string) [32]byte {
	w := keyWriter{h: sha256.New()}
	w.field("v1")
	w.field(tenant)
	w.field(b.id)
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	w.field(method)
	if !e.cloudfront {
		scheme := "http"
		if r.TLS != nil || e.originTLS {
			scheme = "https"
		}
		w.field(scheme)
	}
	w.field(v.host)
	w.field(v.rawPath)
	w.field(itoa(len(s.keyQuery)))
	for _, q := range s.keyQuery {
		w.field(q.name)
		w.field(q.value)
	}
	for _, h := range s.keyHeaders {
		w.field(h)
		if vals := r.Header.Values(h); len(vals) == 0 {
			w.field("\x00")
		} else {
			w.field("=" + strings.Join(vals, ","))
		}
	}
	w.field(itoa(len(s.keyCookies)))
	for _, c := range s.keyCookies {
		w.field(c.name)
		w.field(c.value)
	}
	w.field(s.acceptEncoding)
	var k [32]byte
	w.h.Sum(k[:0])
	return k
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
