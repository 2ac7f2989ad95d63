package edge_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	ts "github.com/tetherlb/tether/internal/testsupport"
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

// TestInvalidationFencesRevalidation: a 304 that answers a revalidation
// while its URI is invalidated refreshes nothing; its client gets the
// stored body with stored=?0 and detail=invalidated, counted as a miss
// and as not stored, not as a refresh; the next request fetches anew.
func TestInvalidationFencesRevalidation(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	e.origin.set(answer(200, "v1", "Cache-Control: max-age=1", `ETag: "v1"`))
	e.get("/page")
	e.clk.Advance(5e9)
	arrived, release := make(chan struct{}), make(chan struct{})
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "" {
			close(arrived)
			<-release // held while the invalidation runs
			w.Header().Set("Cache-Control", "max-age=600")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Cache-Control", "max-age=600")
		w.Write([]byte("v2"))
	})
	metric := func(name string, labels map[string]string) float64 { return ts.Metric(t, e.reg, name, labels) }
	revalidated := metric("tether_edge_requests_total", map[string]string{"result": "revalidated"})
	fenced := metric("tether_edge_not_stored_total", map[string]string{"reason": "invalidated"})
	done := make(chan res)
	go func() { done <- e.get("/page") }()
	<-arrived
	e.edge.Invalidate("", []string{"/page"})
	close(release)
	first := <-done
	if first.body != "v1" {
		t.Errorf("the revalidating request got %q, want the stored v1", first.body)
	}
	expect(t, "the revalidating request", first, "fwd=stale", "fwd-status=304", "stored=?0", "detail=invalidated")
	if n := metric("tether_edge_requests_total", map[string]string{"result": "revalidated"}); n != revalidated {
		t.Errorf("tether_edge_requests_total{result=revalidated} went from %v to %v: nothing was refreshed", revalidated, n)
	}
	if n := metric("tether_edge_not_stored_total", map[string]string{"reason": "invalidated"}); n != fenced+1 {
		t.Errorf("tether_edge_not_stored_total{reason=invalidated} went from %v to %v, want one more", fenced, n)
	}
	if next := e.get("/page"); next.body != "v2" {
		t.Errorf("after the invalidation: %q (Cache-Status %q), want v2", next.body, next.cacheStatus())
	}
}
