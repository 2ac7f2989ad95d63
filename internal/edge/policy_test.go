package edge_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/edge/cachestore"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

func cf(b string) string { return "mode: cloudfront\n" + b }

// The T rows of spec §3.3.
func TestTTL(t *testing.T) {
	t.Run("T01 clamp to max, then stale", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {min_ttl: 0s, default_ttl: 300s, max_ttl: 300s}
`)
		e.origin.set(answer(200, "v1", "Cache-Control: max-age=3600", "ETag: \"v1\""))
		expect(t, "R1", e.get("/p"), "stored", "ttl=300")
		e.clk.Advance(299 * time.Second)
		expect(t, "t=299", e.get("/p"), "hit", "ttl=1")
		e.clk.Advance(2 * time.Second)
		e.origin.set(answer(304, "", "Cache-Control: max-age=3600"))
		r := e.get("/p")
		expect(t, "t=301", r, "fwd=stale", "fwd-status=304")
		if r.body != "v1" {
			t.Errorf("revalidated body %q, want the stored v1", r.body)
		}
		if inm := e.origin.last().Header.Get("If-None-Match"); inm != `"v1"` {
			t.Errorf("revalidation sent If-None-Match %q", inm)
		}
	})
	t.Run("T07 cloudfront caches private for MinTTL; safe does not", func(t *testing.T) {
		b := `
behaviors:
  - path: "*"
    cache: {min_ttl: 60s, default_ttl: 24h, max_ttl: 8760h}
    origin_request: {headers: [X-User]}
`
		for _, mode := range []string{"cloudfront", "safe"} {
			e := newEnv(t, "mode: "+mode+"\n"+b)
			e.origin.set(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "private")
				w.Write([]byte("page of " + r.Header.Get("X-User")))
			})
			e.get("/me", "X-User: alice")
			r := e.get("/me", "X-User: bob")
			leaked := strings.Contains(r.body, "alice")
			if mode == "cloudfront" && !leaked {
				t.Errorf("cloudfront mode: bob got %q; CloudFront serves alice's private page for MinTTL", r.body)
			}
			if mode == "safe" && leaked {
				t.Errorf("safe mode: bob got alice's private page")
			}
		}
	})
	t.Run("T10 CDN-Cache-Control targets the edge", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		e.origin.set(answer(200, "x", "CDN-Cache-Control: max-age=600", "Cache-Control: no-store"))
		r := e.get("/p")
		expect(t, "R1", r, "stored", "ttl=600")
		if r.header.Get("Cache-Control") != "no-store" || r.header.Get("CDN-Cache-Control") != "" {
			t.Errorf("viewer got Cache-Control %q, CDN-Cache-Control %q; want no-store and none", r.header.Get("Cache-Control"), r.header.Get("CDN-Cache-Control"))
		}
	})
	t.Run("T12 Age counts against freshness", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		e.origin.set(answer(200, "x", "Cache-Control: max-age=100", "Age: 30"))
		expect(t, "R1", e.get("/p"), "ttl=70")
		e.clk.Advance(71 * time.Second)
		expectNot(t, "t=71", e.get("/p"), "hit")
	})
	t.Run("T13 302 without freshness not stored in safe mode", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		e.origin.set(answer(302, "", "Location: /elsewhere"))
		expect(t, "R1", e.get("/p"), "stored=?0")
	})
}

// The S rows of spec §3.4: Set-Cookie and session leaks.
func TestSetCookie(t *testing.T) {
	t.Run("S04 Penny Dreadful: a session cookie is never shared", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		e.origin.set(answer(200, "<svg/>", "Cache-Control: public, max-age=43200", "Set-Cookie: session=A"))
		r1 := e.get("/img.svg")
		expect(t, "R1", r1, "stored=?0", "detail=set-cookie")
		if r1.header.Get("Set-Cookie") != "session=A" {
			t.Errorf("user A did not get its cookie: %q", r1.header.Values("Set-Cookie"))
		}
		e.origin.set(answer(200, "<svg/>", "Cache-Control: public, max-age=43200"))
		r2 := e.get("/img.svg")
		if strings.Contains(strings.Join(r2.header.Values("Set-Cookie"), " "), "session=A") {
			t.Fatal("user B got user A's session cookie")
		}
	})
	t.Run("S05 infra cookies go to the requester only", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*"
    origin_request: {cookies: {whitelist: [AWSALB, AWSALBCORS]}}
`)
		e.origin.set(answer(200, "png", "Cache-Control: public, max-age=300", "Set-Cookie: AWSALB=X1", "Set-Cookie: AWSALBCORS=X1"))
		r1 := e.get("/logo.png", "Cookie: AWSALB=X0")
		expect(t, "R1", r1, "stored")
		if len(r1.header.Values("Set-Cookie")) != 2 {
			t.Errorf("R1 got Set-Cookie %q, want both", r1.header.Values("Set-Cookie"))
		}
		r2 := e.get("/logo.png")
		expect(t, "R2", r2, "hit")
		if sc := r2.header.Values("Set-Cookie"); len(sc) != 0 {
			t.Errorf("a hit replayed Set-Cookie %q", sc)
		}
	})
	t.Run("S05b a load-balancer cookie the behavior does not forward is not passed on", func(t *testing.T) {
		// The load balancer did not see the browser's cookie, so its
		// Set-Cookie is a new binding that would replace the browser's.
		e := newEnv(t, defaultBehavior)
		e.origin.set(answer(200, "png", "Cache-Control: max-age=300", "Set-Cookie: AWSALB=X1"))
		r1 := e.get("/logo.png", "Cookie: AWSALB=mine")
		expect(t, "R1", r1, "stored")
		if sc := r1.header.Values("Set-Cookie"); len(sc) != 0 {
			t.Errorf("R1 got Set-Cookie %q: its own binding would be replaced", sc)
		}
	})
	t.Run("S06 an infra and a session cookie: not stored", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		e.origin.set(answer(200, "x", "Cache-Control: max-age=300", "Set-Cookie: AWSALB=X1", "Set-Cookie: session=s"))
		expect(t, "R1", e.get("/p"), "stored=?0", "detail=set-cookie")
	})
	t.Run("S07 private=Set-Cookie stores without it", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		e.origin.set(answer(200, "x", `Cache-Control: private="Set-Cookie", max-age=300`, "Set-Cookie: session=s"))
		r1 := e.get("/p")
		expect(t, "R1", r1, "stored")
		if r1.header.Get("Set-Cookie") != "session=s" {
			t.Errorf("R1 lost its cookie")
		}
		r2 := e.get("/p")
		expect(t, "R2", r2, "hit")
		if r2.header.Get("Set-Cookie") != "" {
			t.Error("R2 got the cookie")
		}
	})
	t.Run("S02 cloudfront replays Set-Cookie when cookies are forwarded", func(t *testing.T) {
		e := newEnv(t, cf(`
behaviors:
  - path: "*"
    cache: {cookies: {whitelist: [session]}}
`))
		e.origin.set(answer(200, "x", "Cache-Control: max-age=60", "Set-Cookie: csrf=T1"))
		e.get("/p", "Cookie: session=a")
		r2 := e.get("/p", "Cookie: session=a")
		if r2.header.Get("Set-Cookie") != "csrf=T1" {
			t.Errorf("cloudfront mode: the hit did not replay Set-Cookie (%q), as CloudFront does", r2.header.Values("Set-Cookie"))
		}
	})
	t.Run("S01 cloudfront strips Set-Cookie when no cookie is forwarded", func(t *testing.T) {
		e := newEnv(t, cf(defaultBehavior))
		e.origin.set(answer(200, "x", "Cache-Control: max-age=60", "Set-Cookie: session=abc"))
		r := e.get("/p")
		if r.header.Get("Set-Cookie") != "" {
			t.Errorf("viewer got Set-Cookie %q", r.header.Get("Set-Cookie"))
		}
		expect(t, "R1", r, "stored")
	})
	t.Run("S08 Steam: an unkeyed session cookie is not shared", func(t *testing.T) {
		b := `
session_cookies: [sessionid]
behaviors:
  - path: /account/*
    cache: {default_ttl: 60s}
    origin_request: {cookies: {whitelist: [sessionid]}}
  - path: "*"
`
		for _, mode := range []string{"safe", "cloudfront"} {
			e := newEnv(t, "mode: "+mode+"\n"+b)
			e.origin.set(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.Write([]byte("billing of " + r.Header.Get("Cookie")))
			})
			e.get("/account/billing", "Cookie: sessionid=A")
			r := e.get("/account/billing", "Cookie: sessionid=B")
			leaked := strings.Contains(r.body, "sessionid=A")
			if mode == "safe" && leaked {
				t.Error("safe mode: B saw A's billing page")
			}
			if mode == "cloudfront" && !leaked {
				t.Error("cloudfront mode: CloudFront would serve A's page to B (lint CF-KEY-001); the mode must reproduce it")
			}
		}
	})
}

// The C rows of spec §3.5.
func TestCollapsing(t *testing.T) {
	t.Run("C01 ten concurrent misses, one origin request", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		release := make(chan struct{})
		e.origin.set(func(w http.ResponseWriter, r *http.Request) {
			<-release
			w.Header().Set("Cache-Control", "max-age=60")
			w.Write([]byte("same"))
		})
		results := run(e, 10, "/c", release)
		if n := e.origin.count(); n != 1 {
			t.Errorf("origin got %d requests, want 1", n)
		}
		collapsed := 0
		for _, r := range results {
			if r.body != "same" {
				t.Errorf("body %q", r.body)
			}
			if strings.Contains(r.cacheStatus(), "; collapsed") && !strings.Contains(r.cacheStatus(), "collapsed=?0") {
				collapsed++
			}
		}
		if collapsed != 9 {
			t.Errorf("%d responses collapsed, want 9", collapsed)
		}
	})
	t.Run("C02 a Set-Cookie response is never given to waiters", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		release := make(chan struct{})
		e.origin.set(func(w http.ResponseWriter, r *http.Request) {
			<-release
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Set-Cookie", "session=L")
			w.Write([]byte("x"))
		})
		results := run(e, 10, "/c", release)
		got := 0
		for _, r := range results {
			if r.header.Get("Set-Cookie") != "" {
				got++
			}
		}
		if got != e.origin.count() {
			t.Errorf("%d responses carried session=L but the origin answered %d requests: a waiter got another's cookie", got, e.origin.count())
		}
		expect(t, "C06 after", e.get("/c"), "detail=hit-for-miss")
	})
}

// run sends n concurrent GETs of path, releases the origin once they are
// all in flight (one at the origin, the others waiting for it), and
// returns the responses.
func run(e *env, n int, path string, release chan struct{}) []res {
	out := make([]res, n)
	var wg sync.WaitGroup
	collapsed := func() float64 {
		return ts.Metric(e.t, e.reg, "tether_edge_collapsed_total", nil)
	}
	fetches, waiters := e.origin.count(), collapsed()
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); out[i] = e.get(path) }()
	}
	ts.WaitFor(e.t, "one request at the origin and the others waiting for it", func() bool {
		return e.origin.count() > fetches && collapsed()-waiters >= float64(n-1)
	})
	close(release)
	wg.Wait()
	return out
}

// The V, X, P and I rows.
func TestVaryStaleAndPoisoning(t *testing.T) {
	t.Run("V02 Vary on a forwarded header stores variants", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*"
    origin_request: {headers: [Accept-Language]}
`)
		e.origin.set(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "public, max-age=60")
			w.Header().Set("Vary", "Accept-Language")
			w.Write([]byte(r.Header.Get("Accept-Language")))
		})
		e.get("/p", "Accept-Language: fr")
		r2 := e.get("/p", "Accept-Language: en")
		if r2.body != "en" {
			t.Errorf("R2 got %q, want en", r2.body)
		}
		expect(t, "R2", r2, "fwd=vary-miss")
		r3 := e.get("/p", "Accept-Language: fr")
		expect(t, "R3", r3, "hit")
		if r3.body != "fr" {
			t.Errorf("R3 got %q, want fr", r3.body)
		}
	})
	t.Run("V03 Vary star not stored", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		e.origin.set(answer(200, "x", "Cache-Control: max-age=60", "Vary: *"))
		expect(t, "R1", e.get("/p"), "stored=?0", "detail=vary-star")
	})
	t.Run("X01 stale-while-revalidate", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		e.origin.set(answer(200, "v1", "Cache-Control: max-age=1, stale-while-revalidate=60"))
		e.get("/p")
		e.clk.Advance(5 * time.Second)
		e.origin.set(answer(200, "v2", "Cache-Control: max-age=1, stale-while-revalidate=60"))
		r := e.get("/p")
		expect(t, "t=5", r, "hit", "detail=stale-while-revalidate")
		if r.body != "v1" {
			t.Errorf("stale body %q, want v1", r.body)
		}
		waitFor(t, func() bool { return e.origin.count() == 2 })
	})
	t.Run("X02 stale-if-error", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		e.origin.set(answer(200, "v1", "Cache-Control: max-age=1, stale-if-error=300"))
		e.get("/p")
		e.clk.Advance(10 * time.Second)
		e.origin.set(answer(503, "down"))
		r := e.get("/p")
		expect(t, "t=10", r, "fwd=stale", "fwd-status=503", "detail=stale-if-error")
		if r.status != 200 || r.body != "v1" {
			t.Errorf("got %d %q, want the stale 200 v1", r.status, r.body)
		}
	})
	t.Run("X02b a request's own stale-if-error narrows the window", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		e.origin.set(answer(200, "v1", "Cache-Control: max-age=1, stale-if-error=300"))
		e.get("/p")
		e.clk.Advance(10 * time.Second)
		e.origin.set(answer(503, "down"))
		if r := e.get("/p", "Cache-Control: stale-if-error=5"); r.status != 503 {
			t.Errorf("stale by 9 s, the client allows 5 s: got %d %q, want the origin's 503", r.status, r.body)
		}
		if r := e.get("/p", "Cache-Control: stale-if-error=60"); r.status != 200 || r.body != "v1" {
			t.Errorf("stale by 9 s, the client allows 60 s: got %d %q, want the stale v1", r.status, r.body)
		}
	})
	t.Run("X03 must-revalidate: no stale on error", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		e.origin.set(answer(200, "v1", "Cache-Control: max-age=1, must-revalidate, stale-if-error=300"))
		e.get("/p")
		e.clk.Advance(10 * time.Second)
		e.origin.Close()
		if r := e.get("/p"); r.status != http.StatusBadGateway && r.status != http.StatusGatewayTimeout {
			t.Errorf("with the origin down: %d %q, want 502 or 504", r.status, r.body)
		}
	})
	t.Run("P01 reflected X-Forwarded-Host never cached", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*"
    origin_request: {headers: [X-Forwarded-Host, Accept]}
`)
		e.origin.set(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Write([]byte("<script src=//" + r.Header.Get("X-Forwarded-Host") + ">" + r.Header.Get("Accept")))
		})
		e.get("/", "X-Forwarded-Host: evil.example", "Accept: text/evil")
		r := e.get("/")
		if strings.Contains(r.body, "evil") {
			t.Fatalf("the victim got a poisoned page: %q", r.body)
		}
	})
	t.Run("P02 unkeyed query is input taint", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*"
    origin_request: {query: all}
`)
		e.origin.set(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Write([]byte("cb=" + r.URL.Query().Get("callback")))
		})
		expect(t, "attacker", e.get("/p?callback=evil"), "stored=?0", "detail=unkeyed-input")
		if r := e.get("/p"); strings.Contains(r.body, "evil") {
			t.Fatalf("victim poisoned: %q", r.body)
		}
	})
	t.Run("P04 duplicate parameters bypass", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {query: {whitelist: [v]}}
`)
		expect(t, "v twice", e.get("/p?v=1&v=2"), "fwd=bypass", "detail=duplicate-param")
	})
	t.Run("P05 fat GET", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		req, _ := http.NewRequest("GET", e.url+"/p", strings.NewReader("body"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("a GET with a body: %d, want 403", resp.StatusCode)
		}
	})
	t.Run("P06 web cache deception guard", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*.css"
    static_content_types: [text/css]
  - path: "*"
`)
		e.origin.set(answer(200, "victim's account page", "Content-Type: text/html"))
		expect(t, "victim", e.get("/account/x.css"), "stored=?0", "detail=content-type-mismatch")
		e.origin.set(answer(200, "attacker's page", "Content-Type: text/html"))
		if r := e.get("/account/x.css"); strings.Contains(r.body, "victim") {
			t.Fatal("the attacker got the victim's page")
		}
		// Two types, the expected one first: browsers take the last.
		e.origin.set(answer(200, "victim's page again", "Content-Type: text/css", "Content-Type: text/html"))
		expect(t, "two types", e.get("/account/y.css"), "stored=?0", "detail=content-type-mismatch")
	})
	t.Run("P09 errors are not stored", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		e.origin.set(answer(400, "bad"))
		e.get("/")
		e.origin.set(answer(200, "ok", "Cache-Control: max-age=60"))
		if r := e.get("/"); r.status != 200 {
			t.Errorf("victim got %d after an attacker's 400", r.status)
		}
	})
	t.Run("P12 viewer no-cache ignored", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		e.get("/p")
		expect(t, "R2", e.get("/p", "Cache-Control: no-cache", "Pragma: no-cache"), "hit")
	})
	t.Run("I01 I02 unsafe methods invalidate on success only", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*"
    allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]
`)
		e.get("/cart")
		e.origin.set(answer(500, "fail"))
		e.do("POST", "/cart")
		expect(t, "after a failed POST", e.get("/cart"), "hit")
		e.origin.set(answer(200, "ok"))
		e.do("POST", "/cart")
		e.origin.set(answer(200, "fresh", "Cache-Control: max-age=60"))
		expect(t, "after a POST", e.get("/cart"), "fwd=uri-miss")
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out")
}

// A client that sends a new value of a header the origin varies on, but
// the behavior does not key, makes a new variant each time: the key keeps
// the newest cachestore.MaxVariants of them, so that no client can make a
// lookup long.
func TestVariantsBounded(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {min_ttl: 0s, default_ttl: 60s, max_ttl: 1h}
    origin_request: {headers: [X-Var]}
`)
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Vary", "X-Var")
		io.WriteString(w, "v="+r.Header.Get("X-Var"))
	})
	const n = cachestore.MaxVariants + 5
	for i := range n {
		e.clk.Advance(time.Millisecond) // stored one after the other
		expect(t, fmt.Sprint("variant ", i), e.get("/p", fmt.Sprint("X-Var: ", i)), "stored")
	}
	if r := e.get("/p", fmt.Sprint("X-Var: ", n-1)); r.body != fmt.Sprint("v=", n-1) {
		t.Errorf("newest variant: %q", r.body)
	} else {
		expect(t, "newest variant", r, "hit")
	}
	expect(t, "oldest variant", e.get("/p", "X-Var: 0"), "fwd=vary-miss")
	if got := ts.Metric(t, e.reg, "tether_edge_evictions_total", nil); got < 5 {
		t.Errorf("evictions %v, want at least the 5 oldest variants", got)
	}
}
