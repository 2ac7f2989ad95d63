package edge_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// A response fetched while its URI is invalidated, by the API or by an
// unsafe method, goes to its client but is not stored: the next request
// fetches the new content instead of being served the old until it
// expires.
func TestInvalidationFencesFetchInFlight(t *testing.T) {
	for _, how := range []string{"api", "post"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t, `
behaviors:
  - path: "*"
    allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 1h}
`)
			arrived, release := make(chan struct{}), make(chan struct{})
			var version atomic.Value // the origin's content
			version.Store("old")
			e.origin.set(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					w.Write([]byte("posted"))
					return
				}
				w.Header().Set("Cache-Control", "max-age=600")
				body := version.Load().(string)
				if body == "old" {
					close(arrived)
					<-release // held while the invalidation runs
				}
				w.Write([]byte(body))
			})
			done := make(chan res)
			go func() { done <- e.get("/page") }()
			<-arrived
			switch how {
			case "api":
				e.edge.Invalidate("", []string{"/page"})
			case "post":
				if r := e.do("POST", "/page"); r.status != 200 {
					t.Fatalf("POST /page: %d", r.status)
				}
			}
			version.Store("new") // the origin's content after the invalidation
			close(release)
			first := <-done
			if first.body != "old" || !strings.Contains(first.cacheStatus(), "detail=invalidated") {
				t.Errorf("the request in flight: %q, Cache-Status %q; want the old body, detail=invalidated", first.body, first.cacheStatus())
			}
			next := e.get("/page")
			if next.body != "new" {
				t.Fatalf("after the invalidation: %q (Cache-Status %q), want the new content", next.body, next.cacheStatus())
			}
			expect(t, "after the invalidation", next, "fwd=uri-miss", "stored")
			expect(t, "then", e.get("/page"), "hit")
		})
	}
}
