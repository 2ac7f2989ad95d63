package lb

import (
	"net/http/httptest"
	"testing"
)

// TestLoginRedirect: next holds the path and query only, never what a
// browser would read as another host ("//evil.example" is
// protocol-relative once the login page redirects to it), and goes into
// the login URL's query even when that URL has a fragment.
func TestLoginRedirect(t *testing.T) {
	for _, tc := range []struct{ login, target, want string }{
		{"/login", "/app/orders?page=2", "/login?next=%2Fapp%2Forders%3Fpage%3D2"},
		{"/login", "//evil.example/x", "/login?next=%2Fevil.example%2Fx"},
		{"/login", "///evil.example", "/login?next=%2Fevil.example"},
		{"https://sso.example/login?app=1", "/a", "https://sso.example/login?app=1&next=%2Fa"},
		{"/login?x=1#frag", "/a", "/login?x=1&next=%2Fa#frag"},
		{"/login#frag", "/a", "/login?next=%2Fa#frag"},
	} {
		gate := &sessionGate{loginURL: tc.login}
		if got := gate.loginRedirect(httptest.NewRequest("GET", "http://app.example"+tc.target, nil)); got != tc.want {
			t.Errorf("login %s, request %s: %s, want %s", tc.login, tc.target, got, tc.want)
		}
	}
}
