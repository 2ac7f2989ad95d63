package httpsyntax

import (
	"net/http"
	"strconv"
)

// RequestProblem reports what makes r a request a proxy must not pass on,
// as a short reason for a 400 and its metric, or "" when there is
// nothing. Go's HTTP/1.1 server refuses these before a handler runs;
// its HTTP/2 server does not, and a proxy that forwards them writes an
// HTTP/1.1 request its target may read otherwise (RFC 9113 §8.1.1: an
// intermediary must not forward a malformed request):
//
//   - "connect": CONNECT, on any version. tether is a reverse proxy: a
//     CONNECT's tunnel would carry raw bytes, requests included, past
//     every rule, authorizer and log line to the target;
//   - "method": a method that is not a token (":method: G T");
//   - "target": a request target with a space or a control character, or
//     "*" for a method other than OPTIONS ("PRI *" without HTTP/2);
//   - "authority": a Host (HTTP/2's :authority) with a byte Go's HTTP/1.1
//     server refuses in Host;
//   - "content_length": a Content-Length that is not one number, or, on
//     HTTP/2, one that differs from the body's length as the stream
//     declared it (a HEADERS frame that ends the stream, with a
//     Content-Length above 0).
func RequestProblem(r *http.Request) string {
	switch {
	case r.Method == http.MethodConnect:
		return "connect"
	case !IsToken(r.Method):
		return "method"
	case !targetOK(r.RequestURI) || r.RequestURI == "*" && r.Method != http.MethodOptions:
		return "target"
	case !hostOK(r.Host):
		return "authority"
	}
	if cl, ok := r.Header["Content-Length"]; ok {
		if len(cl) != 1 || !digits(cl[0]) {
			return "content_length"
		}
		if n, _ := strconv.ParseInt(cl[0], 10, 64); r.ProtoMajor == 2 && r.ContentLength >= 0 && n != r.ContentLength {
			return "content_length"
		}
	}
	return ""
}

// targetOK reports whether a request target has no space or control
// character.
func targetOK(t string) bool {
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// hostOK reports whether every byte of h may appear in a Host field
// value: the authority's letters, digits and the punctuation of RFC 3986
// (unreserved, sub-delims, ':', '@', '[', ']', '%'), as Go's HTTP/1.1
// server accepts in Host.
func hostOK(h string) bool {
	for i := 0; i < len(h); i++ {
		if !hostBytes[h[i]] {
			return false
		}
	}
	return true
}

// hostBytes is never written after init.
var hostBytes = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "-._~!$&'()*+,;=:@[]%" {
		t[c] = true
	}
	return t
}()

// digits reports whether s is one or more ASCII digits, at most 18 (a
// length that fits an int64).
func digits(s string) bool {
	if s == "" || len(s) > 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
