package token

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4/json"
)

// refusedParams are the header parameters that make Verify refuse a token,
// in the order they are checked, with the reason given. jwk, jku, x5u and
// x5c would let the token choose its own key or make the verifier fetch a
// URL (RFC 8725 §3.10, ASVS 9.1.3): keys come only from the configured key
// set. crit names extensions the verifier does not implement (RFC 7515
// §4.1.11; an empty list is invalid too), b64 is RFC 7797's unencoded
// payload, zip and enc belong to JWE, and cty announces a nested JWT
// (RFC 7519 §5.2), which is not supported.
var refusedParams = []struct{ name, reason string }{
	{"jwk", "keys come only from the configured key set"},
	{"jku", "keys come only from the configured key set; URLs in tokens are never fetched"},
	{"x5u", "keys come only from the configured key set; URLs in tokens are never fetched"},
	{"x5c", "keys come only from the configured key set"},
	{"crit", "no critical extension is supported"},
	{"b64", "unencoded payloads (RFC 7797) are not supported"},
	{"zip", "compression is a JWE feature"},
	{"enc", "encryption is a JWE feature"},
	{"cty", "nested tokens are not supported"},
}

// header is what Verify uses of a JOSE header.
type header struct {
	alg    string
	kid    string
	hasKID bool
}

// splitCompact checks that raw is a JWS Compact Serialization of at most
// MaxTokenSize bytes whose three parts are canonical, unpadded base64url,
// and returns the parts. It refuses the JSON serializations and JWE
// (five parts) by name.
func splitCompact(raw string) (h, p, s string, err error) {
	switch {
	case raw == "":
		return "", "", "", fmt.Errorf("%w: empty token", ErrMalformed)
	case len(raw) > MaxTokenSize:
		return "", "", "", fmt.Errorf("%w: %d bytes; at most %d are accepted", ErrMalformed, len(raw), MaxTokenSize)
	case raw[0] == '{':
		return "", "", "", fmt.Errorf("%w: JWS JSON serialization is not accepted; use the compact form", ErrMalformed)
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; !isBase64URL(c) && c != '.' {
			return "", "", "", fmt.Errorf("%w: byte %d is %q, not base64url or '.'", ErrMalformed, i, c)
		}
	}
	switch n := strings.Count(raw, ".") + 1; n {
	case 3:
	case 5:
		return "", "", "", fmt.Errorf("%w: JWE (encrypted) tokens are not accepted", ErrMalformed)
	default:
		return "", "", "", fmt.Errorf("%w: %d parts; a compact JWS has 3", ErrMalformed, n)
	}
	h, rest, _ := strings.Cut(raw, ".")
	p, s, _ = strings.Cut(rest, ".")
	for i, part := range [...]string{h, p, s} {
		if !canonicalBase64(part) {
			return "", "", "", fmt.Errorf("%w: part %d is not canonical unpadded base64url", ErrMalformed, i+1)
		}
	}
	return h, p, s, nil
}

// parseHeader decodes and checks the protected header h: a JSON object
// without duplicate members (go-jose's decoder refuses them), with an
// allowed alg, none of refusedParams, and the expected typ.
func (v *Verifier) parseHeader(h string) (header, error) {
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil || !utf8.Valid(b) {
		return header{}, fmt.Errorf("%w: header is not base64url-encoded UTF-8", ErrMalformed)
	}
	m, err := decodeObject(b)
	if err != nil {
		return header{}, fmt.Errorf("%w: header is not a JSON object: %v", ErrMalformed, err)
	}
	alg, ok := m["alg"].(string)
	switch {
	case !ok:
		return header{}, fmt.Errorf("%w: header has no alg string", ErrAlgorithm)
	case strings.EqualFold(alg, "none"):
		return header{}, fmt.Errorf("%w: alg \"none\" is never accepted", ErrAlgorithm)
	case !slices.Contains(v.opts.Algorithms, alg):
		return header{}, fmt.Errorf("%w: alg %s is not in the allowlist %q", ErrAlgorithm, quote(alg), v.opts.Algorithms)
	}
	for _, p := range refusedParams {
		if _, ok := m[p.name]; ok {
			return header{}, fmt.Errorf("%w: %q: %s", ErrHeader, p.name, p.reason)
		}
	}
	typ, ok := m["typ"].(string)
	if !ok {
		return header{}, fmt.Errorf("%w: header has no typ string; want %q", ErrType, v.opts.Type)
	}
	if !sameType(typ, v.opts.Type) {
		return header{}, fmt.Errorf("%w: typ %s; want %q", ErrType, quote(typ), v.opts.Type)
	}
	hd := header{alg: alg}
	if k, present := m["kid"]; present {
		if hd.kid, ok = k.(string); !ok {
			return header{}, fmt.Errorf("%w: kid is not a string", ErrMalformed)
		}
		hd.hasKID = true
	}
	return hd, nil
}

// Bounds of a Verifier's headerMemo.
const (
	maxMemoHeaders   = 32
	maxMemoHeaderLen = 512 // bytes of base64url
)

// headerMemo remembers the encoded headers of tokens that verified, with
// what parseHeader made of them. A header's verdict depends only on its
// bytes and on the Verifier's options, which never change, and an issuer
// signs with few keys, so most tokens repeat one of a few headers: the
// memo spares decoding each of them again. Only headers whose signature
// verified are added, so a stream of forged headers cannot fill it; when
// it holds maxMemoHeaders, it starts over. It is safe for concurrent use.
type headerMemo struct {
	mu sync.RWMutex
	m  map[string]header
}

// get returns the header memoized for h, if any.
func (hm *headerMemo) get(h string) (header, bool) {
	hm.mu.RLock()
	hd, ok := hm.m[h]
	hm.mu.RUnlock()
	return hd, ok
}

// add memoizes hd, parseHeader's result for h, if h is not too long.
func (hm *headerMemo) add(h string, hd header) {
	if len(h) > maxMemoHeaderLen {
		return
	}
	hm.mu.Lock()
	defer hm.mu.Unlock()
	if hm.m == nil || len(hm.m) >= maxMemoHeaders {
		hm.m = make(map[string]header, maxMemoHeaders)
	}
	hm.m[strings.Clone(h)] = hd
}

// decodeObject decodes b, which must be one JSON object, with go-jose's
// decoder, which refuses duplicate member names at any depth. Decoding
// into an interface value takes the decoder's path without reflection; the
// result is what decoding into a map gives (numbers are float64).
func decodeObject(b []byte) (map[string]any, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not an object")
	}
	return m, nil
}

// sameType compares media types case-insensitively, ignoring an
// "application/" prefix when the rest has no '/' (RFC 7515 §4.1.9).
func sameType(a, b string) bool {
	return strings.EqualFold(shortType(a), shortType(b))
}

func shortType(t string) string {
	const prefix = "application/"
	if len(t) > len(prefix) && strings.EqualFold(t[:len(prefix)], prefix) && !strings.Contains(t[len(prefix):], "/") {
		return t[len(prefix):]
	}
	return t
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// canonicalBase64 reports whether s (already known to use the base64url
// alphabet) is the one encoding of its bytes: a valid unpadded length and
// zero unused bits in the last character. Without this check a token would
// have several spellings that verify alike.
func canonicalBase64(s string) bool {
	var unused uint
	switch len(s) % 4 {
	case 1:
		return false
	case 2:
		unused = 4
	case 3:
		unused = 2
	default:
		return true
	}
	return base64Value(s[len(s)-1])&(1<<unused-1) == 0
}

func base64Value(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A'
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26
	case '0' <= c && c <= '9':
		return c - '0' + 52
	case c == '-':
		return 62
	}
	return 63
}

// quote quotes an untrusted value for an error message, cut to 64 bytes.
func quote(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "…"
	}
	return strconv.Quote(s)
}
