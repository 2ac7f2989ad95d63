package token

import (
	"net/http"
	"strings"
)

// BearerToken returns the token of r's Authorization header in the Bearer
// scheme (RFC 6750 §2.1): exactly one Authorization header, the scheme
// matched case-insensitively, one or more spaces, and a token of the
// b64token syntax. It reports false otherwise, including when the request
// carries several Authorization headers. It does not verify the token.
func BearerToken(r *http.Request) (string, bool) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return "", false
	}
	scheme, rest, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok := strings.TrimLeft(rest, " ")
	if !isB64Token(tok) {
		return "", false
	}
	return tok, true
}

// isB64Token reports whether s matches RFC 6750's
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !isBase64URL(c) && c != '.' && c != '~' && c != '+' && c != '/' {
			return false
		}
	}
	return true
}
