package edge

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tetherlb/tether/internal/httpsyntax"
)

// FuzzRequestView parses hostile request targets and cookies: never a
// panic, and the origin request is built only from parsed pairs.
func FuzzRequestView(f *testing.F) {
	f.Add("/p?a=1&b=2", "a=1; b=2")
	f.Add("/a%2Fb;x?v=1;v=2", "garbage; =; a")
	f.Add("/../%2e%2e/x", "\x00=1")
	b := compileBehaviorForFuzz()
	f.Fuzz(func(t *testing.T, target, cookie string) {
		req, err := http.NewRequest("GET", "http://example.com"+target, nil)
		if err != nil || req.URL.Path == "" || req.URL.Path[0] != '/' {
			return
		}
		req.Header.Set("Cookie", cookie)
		v := parseView(req)
		s := b.selectInputs(req, &v)
		for _, q := range s.fwdQuery {
			if strings.ContainsAny(q.name, "&") || strings.ContainsAny(q.value, "&") {
				t.Fatalf("a query pair holds a separator: %+v", q)
			}
		}
		for _, c := range s.fwdCookies {
			if !httpsyntax.IsToken(c.name) || strings.Contains(c.value, ";") {
				t.Fatalf("bad cookie pair %+v from %q", c, cookie)
			}
		}
		e := &Edge{origin: req.URL, behaviors: []*behavior{b}}
		out := e.originRequest(req.Context(), &exchange{r: req, b: b, v: v, s: s})
		if out.URL.RawQuery != "" && strings.Contains(out.URL.RawQuery, ";") && !v.ambiguous {
			t.Fatalf("a ';' reached the origin's query from an unambiguous request: %q", target)
		}
		_ = httptest.NewRecorder()
	})
}

func compileBehaviorForFuzz() *behavior {
	b := &behavior{id: "0", pattern: "*", allowed: map[string]bool{"GET": true}, cached: map[string]bool{"GET": true}}
	b.cache.Cookies.Behavior, b.cache.Query.Behavior = "all", "all"
	b.orp.Cookies.Behavior, b.orp.Query.Behavior = "none", "none"
	return b
}
