package edge_test

import (
	"slices"
	"testing"
)

// The origin request carries exactly the fields the policies select, each
// value of a repeated field, and the edge's own fields once; the fields
// written as lines for a GET and the header map of a POST say the same.
func TestOriginRequestFields(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: "/keep/*"
    allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]
    origin_request: {headers: [X-A, User-Agent, Content-Type]}
  - path: "*"
`)
	e.origin.set(answer(200, "ok"))
	e.get("/keep/p", "X-A: 1", "X-A: 2", "User-Agent: browser/1", "X-Other: no", "Cookie: c=1")
	got := e.origin.last().Header
	want := map[string][]string{
		"X-A": {"1", "2"}, "User-Agent": {"browser/1"}, "Accept-Encoding": {"gzip"}, // what the test client asks for
		"X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Proto": {"http"}, "Via": {"1.1 tether-edge"},
	}
	for name, vals := range want {
		if !slices.Equal(got[name], vals) {
			t.Errorf("GET: origin saw %s %q, want %q", name, got[name], vals)
		}
	}
	if len(got) != len(want) {
		t.Errorf("GET: origin saw fields %v, want only %v", got, want)
	}

	// Without a forwarded User-Agent, the origin sees net/http's, as from
	// any Go client.
	e.get("/p", "User-Agent: browser/1")
	if ua := e.origin.last().Header["User-Agent"]; !slices.Equal(ua, []string{"Go-http-client/1.1"}) {
		t.Errorf("GET /p: origin saw User-Agent %q, want Go-http-client/1.1", ua)
	}

	// A POST goes through the header map, with its Content-Type once even
	// when the policy forwards it as well.
	e.do("POST", "/keep/form", "Content-Type: text/plain", "X-A: 3")
	got = e.origin.last().Header
	if !slices.Equal(got["Content-Type"], []string{"text/plain"}) || !slices.Equal(got["X-A"], []string{"3"}) ||
		!slices.Equal(got["Via"], []string{"1.1 tether-edge"}) {
		t.Errorf("POST: origin saw Content-Type %q, X-A %q, Via %q", got["Content-Type"], got["X-A"], got["Via"])
	}
}
