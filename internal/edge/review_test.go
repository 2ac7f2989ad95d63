package edge_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// Regressions found in review.

func TestLoadBalancerCookieNeverRebindsFromAnUnforwardedBehavior(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: /static/*
  - path: "*"
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 0s}
`)
	// A fresh binding on responses that are not stored (a 404, a private
	// page) and on bypassed requests: never passed on, since the browser's
	// own cookie was not forwarded.
	for _, c := range []struct{ path, status string }{{"/static/missing.png", "404"}, {"/static/private.png", "private"}, {"/dynamic", "bypass"}} {
		e.origin.set(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("Set-Cookie", "TETHER=fresh; Path=/")
			if c.status == "private" {
				w.Header().Set("Cache-Control", "private")
			}
			if c.status == "404" {
				w.WriteHeader(404)
			}
		})
		if sc := e.get(c.path, "Cookie: TETHER=mine").header.Values("Set-Cookie"); len(sc) != 0 {
			t.Errorf("%s: the browser got %q and would be rebound", c.path, sc)
		}
	}
}

func TestUnconditionalRequestNeverGets304(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: "*"
    origin_request: {query: all}
`)
	e.origin.set(answer(200, "body", "Cache-Control: public, max-age=1", `ETag: "v1"`))
	e.get("/p?x=1")
	e.clk.Advance(5e9)
	// The revalidation comes back 304 but the request (with an unkeyed
	// query and no public directive this time) makes it unstorable.
	e.origin.set(answer(304, "", "Cache-Control: max-age=60"))
	r := e.get("/p?x=1")
	if r.status != 200 || r.body != "body" {
		t.Fatalf("got %d %q, want the stored 200 body", r.status, r.body)
	}
}

// A HEAD miss never stores an empty body for the GETs that share its key.
// In safe mode it is fetched as a GET (NGINX's proxy_cache_convert_head),
// whose body is stored: the GET after it is a hit. In cloudfront mode it is
// forwarded as a HEAD and not stored, and the key does not become
// hit-for-miss for it.
func TestHeadMissDoesNotStoreAnEmptyBody(t *testing.T) {
	for _, mode := range []string{"safe", "cloudfront"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, "mode: "+mode+"\n"+defaultBehavior)
			var methods []string
			e.origin.set(func(w http.ResponseWriter, r *http.Request) {
				methods = append(methods, r.Method)
				w.Header().Set("Cache-Control", "max-age=60")
				w.Write([]byte("full body"))
			})
			// The same Accept-Encoding on both (Go's client asks for gzip on a
			// GET only): one key.
			head := e.do("HEAD", "/p", "Accept-Encoding: identity")
			if head.status != 200 || head.body != "" || head.header.Get("Content-Length") != "9" {
				t.Errorf("HEAD: %d %q, Content-Length %q; want 200, no body, 9", head.status, head.body, head.header.Get("Content-Length"))
			}
			r := e.get("/p", "Accept-Encoding: identity")
			if r.body != "full body" {
				t.Fatalf("GET after HEAD got %q", r.body)
			}
			if mode == "safe" {
				expect(t, "HEAD", head, "fwd=uri-miss", "stored")
				expect(t, "GET after HEAD", r, "hit")
				if fmt.Sprint(methods) != "[GET]" {
					t.Errorf("the origin saw %v, want one GET", methods)
				}
				// A HEAD whose GET is not stored gets the head alone too.
				e.origin.set(answer(200, "not stored", "Cache-Control: no-store"))
				if r := e.do("HEAD", "/q"); r.status != 200 || r.body != "" {
					t.Errorf("HEAD of an unstorable page: %d %q", r.status, r.body)
				}
				if r := e.get("/q"); r.status != 200 || r.body != "not stored" {
					t.Errorf("GET after it: %d %q", r.status, r.body)
				}
				return
			}
			expect(t, "HEAD", head, "stored=?0", "detail=head")
			expect(t, "GET after HEAD", r, "fwd=uri-miss", "stored")
			expectNot(t, "GET after HEAD", r, "hit-for-miss")
			if fmt.Sprint(methods) != "[HEAD GET]" {
				t.Errorf("the origin saw %v, want HEAD then GET", methods)
			}
		})
	}
}

func TestUnsafeMethodInvalidatesUnkeyedQueryVariants(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: "*"
    allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]
    origin_request: {query: all}
`)
	e.origin.set(answer(200, "v1", "Cache-Control: public, max-age=60"))
	e.get("/cart?utm=mail")
	expect(t, "cached", e.get("/cart"), "hit")
	e.origin.set(answer(200, "ok"))
	e.do("POST", "/cart")
	e.origin.set(answer(200, "v2", "Cache-Control: public, max-age=60"))
	if r := e.get("/cart"); r.body != "v2" {
		t.Errorf("after POST /cart the page stored by GET /cart?utm=mail is still served: %q", r.body)
	}
}

func TestEdgeOwnHeadersAreNotTaint(t *testing.T) {
	e := newEnv(t, `
tenant: {by: header, header: X-Tenant}
behaviors:
  - path: "*"
    origin_request: {headers: [Accept-Encoding, X-Tenant, Cookie, Connection, Keep-Alive]}
`)
	expect(t, "R1", e.get("/p", "X-Tenant: acme", "Accept-Encoding: gzip", "Connection: keep-alive", "Keep-Alive: timeout=5"), "stored")
	expect(t, "R2", e.get("/p", "X-Tenant: acme", "Accept-Encoding: gzip"), "hit")
}

// TestStaleRevalidationsCollapse: when a popular object expires, one
// request revalidates it and the others wait for that one.
func TestStaleRevalidationsCollapse(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	e.origin.set(answer(200, "v1", "Cache-Control: max-age=1", `ETag: "v1"`))
	e.get("/hot")
	e.clk.Advance(5e9)
	release := make(chan struct{})
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		w.WriteHeader(http.StatusNotModified)
	})
	before := e.origin.count()
	results := run(e, 10, "/hot", release)
	if n := e.origin.count() - before; n != 1 {
		t.Errorf("10 requests for an expired object revalidated it %d times, want 1", n)
	}
	for _, r := range results {
		if r.status != 200 || r.body != "v1" {
			t.Errorf("got %d %q, want the revalidated v1", r.status, r.body)
		}
	}
}

func TestXCacheInCloudFrontMode(t *testing.T) {
	e := newEnv(t, cf(defaultBehavior))
	e.origin.set(answer(200, "v1", "Cache-Control: max-age=1", `ETag: "v1"`))
	if x := e.get("/p").header.Get("X-Cache"); x != "Miss from cloudfront" {
		t.Errorf("first request: X-Cache %q", x)
	}
	if x := e.get("/p").header.Get("X-Cache"); x != "Hit from cloudfront" {
		t.Errorf("second request: X-Cache %q", x)
	}
	e.clk.Advance(5e9)
	e.origin.set(answer(304, "", "Cache-Control: max-age=60"))
	if x := e.get("/p").header.Get("X-Cache"); x != "RefreshHit from cloudfront" {
		t.Errorf("revalidated: X-Cache %q", x)
	}
	safe := newEnv(t, defaultBehavior)
	if x := safe.get("/p").header.Get("X-Cache"); x != "" {
		t.Errorf("safe mode sent X-Cache %q", x)
	}
}

// TestFailedRevalidationWaitersTakeStale: when the origin fails the
// revalidation of an expired object that has stale-if-error, the
// requests that waited for it get the stale object without asking the
// failing origin again; without stale-if-error they ask for themselves.
func TestFailedRevalidationWaitersTakeStale(t *testing.T) {
	for _, tc := range []struct {
		cc    string
		stale bool
	}{{"max-age=1, stale-if-error=600", true}, {"max-age=1", false}} {
		e := newEnv(t, defaultBehavior)
		e.origin.set(answer(200, "v1", "Cache-Control: "+tc.cc, `ETag: "v1"`))
		e.get("/hot")
		e.clk.Advance(5e9)
		release := make(chan struct{})
		e.origin.set(func(w http.ResponseWriter, r *http.Request) {
			<-release
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		before := e.origin.count()
		results := run(e, 10, "/hot", release)
		n := e.origin.count() - before
		if tc.stale {
			if n != 1 {
				t.Errorf("%s: 10 requests for an object whose revalidation failed asked the origin %d times, want 1", tc.cc, n)
			}
			for _, r := range results {
				if r.status != 200 || r.body != "v1" || !hasStatus(r.cacheStatus(), "detail=stale-if-error") {
					t.Errorf("%s: got %d %q, Cache-Status %q; want the stale v1 (stale-if-error)", tc.cc, r.status, r.body, r.cacheStatus())
				}
			}
		} else if n != 10 {
			t.Errorf("%s: without stale-if-error, the origin was asked %d times, want 10 (each waiter for itself)", tc.cc, n)
		}
	}
}

// TestErrorCachedAgain: in cloudfront mode, a cached error page that
// expires while the origin still fails is replaced by the new error,
// cached again for CloudFront's 10 s, not relayed uncached to every
// request from then on.
func TestErrorCachedAgain(t *testing.T) {
	e := newEnv(t, cf(defaultBehavior))
	e.origin.set(answer(503, "down"))
	expect(t, "first", e.get("/p"), "stored", "ttl=10")
	e.clk.Advance(11 * time.Second)
	expect(t, "after it expired", e.get("/p"), "fwd=stale", "fwd-status=503", "stored", "ttl=10")
	before := e.origin.count()
	expect(t, "then", e.get("/p"), "hit")
	if n := e.origin.count() - before; n != 0 {
		t.Errorf("the origin was asked %d times while the error was cached again", n)
	}
}
