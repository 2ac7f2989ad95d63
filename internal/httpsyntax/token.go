// Package httpsyntax is the piece of RFC 9110's grammar that tether checks
// by hand: tokens, the syntax of methods, header and cookie names and
// cache directive names.
package httpsyntax

// IsTchar reports whether c may appear in a token (RFC 9110 §5.6.2): an
// ASCII letter or digit, or one of !#$%&'*+-.^_`|~.
func IsTchar(c byte) bool { return tchars[c] }

// IsToken reports whether s is a token: one or more tchars.
func IsToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !tchars[s[i]] {
			return false
		}
	}
	return s != ""
}

// tchars is never written after init.
var tchars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// FieldNamesOK reports whether every name in h is a token, and, when not,
// the first name that is not. Go's HTTP client accepts a response field
// whose name ends in white space ("Set-Cookie : a=b") and keeps the name
// as it came, so that h.Get("Set-Cookie") does not see it: a proxy or a
// cache that reads the fields it acts on must refuse such a response
// (RFC 9112 §5.1), or its checks can be walked around.
func FieldNamesOK(h map[string][]string) (bad string, ok bool) {
	for name := range h {
		if !IsToken(name) {
			return name, false
		}
	}
	return "", true
}
