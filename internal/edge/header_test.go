package edge_test

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestResponseHeaders checks the header of a miss and of many concurrent
// hits on one stored object, with and without the edge's gzip on the fly
// (the policy keys no coding, so the object is stored as it came): hop-by-hop
// fields, the fields Connection names and CDN-Cache-Control never reach
// the client, every other field does with all its values, and what one
// response adds (gzip's fields, Age, Cache-Status) never shows in
// another's. Run with -race: the hits share the stored header.
func TestResponseHeaders(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {gzip: false, brotli: false}   # one object for every Accept-Encoding
    compress: true
`)
	page := strings.Repeat("<p>hello</p>", 200)
	e.origin.set(answer(200, page, "Cache-Control: max-age=60", "Content-Type: text/html",
		"X-Multi: a", "X-Multi: b", "Connection: X-Hop, Keep-Alive", "X-Hop: secret", "Keep-Alive: timeout=5",
		"CDN-Cache-Control: max-age=60", "Cache-Status: upstream; hit", "ETag: \"v1\""))
	check := func(what string, h http.Header, gzipped bool) {
		t.Helper()
		if got := h.Values("X-Multi"); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("%s: X-Multi %q, want [a b]", what, got)
		}
		for _, name := range []string{"X-Hop", "Keep-Alive", "Connection", "CDN-Cache-Control"} {
			if v, ok := h[http.CanonicalHeaderKey(name)]; ok {
				t.Errorf("%s: %s %q reached the client", what, name, v)
			}
		}
		// The gzipped body is not what the origin's strong ETag names: it
		// is made weak, as CloudFront does.
		if etag := map[bool]string{false: `"v1"`, true: `W/"v1"`}[gzipped]; h.Get("ETag") != etag || h.Get("Content-Type") != "text/html" {
			t.Errorf("%s: ETag %q, Content-Type %q; want %s, text/html", what, h.Get("ETag"), h.Get("Content-Type"), etag)
		}
		if cs := h.Values("Cache-Status"); len(cs) != 1 || !strings.HasPrefix(cs[0], "upstream; hit, edge; ") {
			t.Errorf("%s: Cache-Status %q, want the upstream member, then the edge's", what, cs)
		}
		if gzipped {
			// net/http sets the gzipped body's own Content-Length.
			if h.Get("Content-Encoding") != "gzip" || h.Get("Vary") != "Accept-Encoding" || h.Get("Content-Length") == "2400" {
				t.Errorf("%s: Content-Encoding %q, Vary %q, Content-Length %q; want gzip, Accept-Encoding, not 2400",
					what, h.Get("Content-Encoding"), h.Get("Vary"), h.Get("Content-Length"))
			}
		} else if h.Get("Content-Encoding") != "" || h.Get("Vary") != "Accept-Encoding" || h.Get("Content-Length") != "2400" {
			// Vary too: others get this response compressed.
			t.Errorf("%s: Content-Encoding %q, Vary %q, Content-Length %q; want none, Accept-Encoding, 2400",
				what, h.Get("Content-Encoding"), h.Get("Vary"), h.Get("Content-Length"))
		}
	}
	// The test's client would ask for gzip by itself: identity is explicit.
	miss := e.get("/page", "Accept-Encoding: identity")
	expect(t, "miss", miss, "fwd=uri-miss", "stored")
	check("miss", miss.header, false)
	if miss.header.Get("Age") != "" {
		t.Errorf("miss: Age %q, want none", miss.header.Get("Age"))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				gzipped := (g+i)%2 == 0
				var r res
				if gzipped {
					r = e.get("/page", "Accept-Encoding: gzip")
				} else {
					r = e.get("/page", "Accept-Encoding: identity")
				}
				expect(t, "hit", r, "edge; hit; ttl=")
				check("hit", r.header, gzipped)
				if r.header.Get("Age") != "0" {
					t.Errorf("hit: Age %q, want 0", r.header.Get("Age"))
				}
			}
		})
	}
	wg.Wait()
	if n := e.origin.count(); n != 1 {
		t.Errorf("the origin served %d requests, want 1", n)
	}
}
