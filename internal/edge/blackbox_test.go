package edge_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	ts "github.com/tetherlb/tether/internal/testsupport"
)

// TestRevalidationKeepsOtherVariants: a revalidation of one variant of a
// key that gets a new response (or a 304 that makes it unstorable)
// replaces or drops that variant alone; the key's other variants, fresh
// ones included, stay.
func TestRevalidationKeepsOtherVariants(t *testing.T) {
	for _, answerEN := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"a new response", answer(200, "en-2", "Cache-Control: public, max-age=60", "Vary: Accept-Language")},
		{"a 304 that is no longer storable", answer(304, "", "Cache-Control: no-store", "Vary: Accept-Language")},
	} {
		t.Run(answerEN.name, func(t *testing.T) {
			e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 1h}
    origin_request: {headers: [Accept-Language]}
`)
			e.origin.set(answer(200, "en-1", "Cache-Control: public, max-age=1", "Vary: Accept-Language", `ETag: "en1"`))
			expect(t, "en", e.get("/p", "Accept-Language: en"), "stored")
			e.origin.set(answer(200, "fr-1", "Cache-Control: public, max-age=100", "Vary: Accept-Language"))
			expect(t, "fr", e.get("/p", "Accept-Language: fr"), "stored")
			e.clk.Advance(2 * time.Second)
			e.origin.set(answerEN.handler)
			expect(t, "en, stale", e.get("/p", "Accept-Language: en"), "fwd=stale")
			if r := e.get("/p", "Accept-Language: fr"); r.body != "fr-1" {
				t.Errorf("fr after en was revalidated: %q, want the stored fr-1", r.body)
			} else {
				expect(t, "fr after en was revalidated", r, "hit")
			}
		})
	}
}

// TestNotModifiedForAnotherRepresentation: a 304 whose strong ETag is not
// the stored object's names another representation and updates nothing
// (RFC 9111 §4.3.4): the edge asks again without a condition and serves
// and stores what comes, instead of serving the old body under the new
// ETag.
func TestNotModifiedForAnotherRepresentation(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	e.origin.set(answer(200, "body-v1", "Cache-Control: max-age=1", `ETag: "v1"`))
	e.get("/p")
	e.clk.Advance(5 * time.Second)
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"v2"`)
		if r.Header.Get("If-None-Match") != "" {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write([]byte("body-v2"))
	})
	r := e.get("/p")
	if r.body != "body-v2" || r.header.Get("ETag") != `"v2"` {
		t.Fatalf("after a 304 for another representation: %q with ETag %q, want body-v2 with \"v2\"", r.body, r.header.Get("ETag"))
	}
	if r := e.get("/p"); r.body != "body-v2" {
		t.Errorf("the next request: %q, want the stored body-v2", r.body)
	} else {
		expect(t, "the next request", r, "hit")
	}
	// A 304 with the stored ETag refreshes it as ever: one request.
	e.clk.Advance(2 * time.Minute)
	before := e.origin.count()
	expect(t, "revalidated", e.get("/p"), "fwd=stale", "fwd-status=304")
	if n := e.origin.count() - before; n != 1 {
		t.Errorf("a matching 304 took %d requests to the origin, want 1", n)
	}
}

// TestInvalidateTenantByHost: with the tenant taken from the host, an
// invalidation names the tenant as a user writes the host: in any letter
// case, with or without the trailing dot, as requests' hosts are.
func TestInvalidateTenantByHost(t *testing.T) {
	e := newEnv(t, "tenant: {by: host}\n"+defaultBehavior)
	e.origin.set(answer(200, "a", "Cache-Control: max-age=60"))
	e.get("/p", "Host: Acme.Example")
	e.get("/p", "Host: other.example")
	// The fully qualified form is the same host (NGINX's $host strips
	// the dot too): one object, one tenant.
	expect(t, "acme.example.", e.get("/p", "Host: acme.example."), "hit")
	if n := e.edge.Invalidate("ACME.example.", []string{"/*"}); n != 1 {
		t.Errorf("invalidated %d objects of tenant ACME.example, want 1", n)
	}
	expect(t, "acme after", e.get("/p", "Host: acme.example"), "fwd=uri-miss")
	expect(t, "other after", e.get("/p", "Host: other.example"), "hit")
}

// TestMalformedRequestBody: a request body that does not read (malformed
// chunks) is the client's fault: 400, and not an origin error.
func TestMalformedRequestBody(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: "*"
    allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]
`)
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("ok"))
	})
	resp := rawRequest(t, e, "POST /form HTTP/1.1\r\nHost: edge.example\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n\r\n")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Header.Get("Cache-Status"), "detail=request-body") {
		t.Errorf("a malformed chunked body: %d, Cache-Status %q; want 400, detail=request-body", resp.StatusCode, resp.Header.Get("Cache-Status"))
	}
	if n := ts.Metric(t, e.reg, "tether_edge_origin_errors_total", nil); n != 0 {
		t.Errorf("origin errors counted: %v, want 0", n)
	}
}

// TestNotModifiedSetCookieToRequester: the Set-Cookie lines of a 304 that
// refreshes an object go to the request that caused the revalidation, as
// a 200's would, and never to the hits that follow.
func TestNotModifiedSetCookieToRequester(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	e.origin.set(answer(200, "v1", "Cache-Control: max-age=1", `ETag: "v1"`))
	e.get("/p")
	e.clk.Advance(5 * time.Second)
	e.origin.set(answer(304, "", "Cache-Control: max-age=60", `ETag: "v1"`, "Set-Cookie: user=u1; Path=/"))
	r := e.get("/p")
	expect(t, "revalidated", r, "fwd=stale", "fwd-status=304")
	if r.body != "v1" || r.header.Get("Set-Cookie") != "user=u1; Path=/" {
		t.Errorf("the revalidating request: %q, Set-Cookie %q; want v1 and the 304's cookie", r.body, r.header.Get("Set-Cookie"))
	}
	if r := e.get("/p"); r.header.Get("Set-Cookie") != "" {
		t.Errorf("a hit after it got Set-Cookie %q", r.header.Get("Set-Cookie"))
	} else {
		expect(t, "the hit after it", r, "hit")
	}
}

// TestVaryAbsentIsNotEmpty: a stored variant for a request without a
// header the response varies on serves only requests without it, not one
// that sends it empty (RFC 9111 §4.1).
func TestVaryAbsentIsNotEmpty(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 1h}
    origin_request: {headers: [X-Var]}
`)
	e.origin.set(answer(200, "v", "Cache-Control: public, max-age=60", "Vary: X-Var"))
	expect(t, "absent", e.get("/p"), "stored")
	expect(t, "absent again", e.get("/p"), "hit")
	req, _ := http.NewRequest("GET", e.url+"/p", nil)
	req.Header["X-Var"] = []string{""}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	expect(t, "empty", res{resp.StatusCode, "", resp.Header}, "fwd=vary-miss")
}

// TestSetCookie2NotStored: the obsolete Set-Cookie2 is a cookie as
// Set-Cookie is: safe mode does not store a response that sets one.
func TestSetCookie2NotStored(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	e.origin.set(answer(200, "v", "Cache-Control: max-age=60", `Set-Cookie2: session="alice"; Version="1"`))
	expect(t, "R1", e.get("/p"), "stored=?0", "detail=set-cookie")
	if r := e.get("/p"); r.header.Get("Set-Cookie2") != "" && hasStatus(r.cacheStatus(), "hit") {
		t.Errorf("a hit replayed Set-Cookie2 %q", r.header.Get("Set-Cookie2"))
	}
}

// TestDebugKey: with debug_key, Cache-Status shows the key (the behavior,
// GET for a HEAD too, since a HEAD shares its GET's objects, the host and
// path, and the keyed inputs' names) with every value replaced by 8 hex
// digits: the same for the same value, never the value itself.
func TestDebugKey(t *testing.T) {
	e := newEnv(t, `
debug_key: true
behaviors:
  - path: "*"
    cache: {min_ttl: 0s, default_ttl: 1h, max_ttl: 1h, cookies: {whitelist: [lang]}, query: {whitelist: [v]}, headers: [X-Var]}
`)
	key := func(r res) string {
		t.Helper()
		_, k, ok := strings.Cut(r.cacheStatus(), `key="`)
		if !ok {
			t.Fatalf("no key in Cache-Status %q", r.cacheStatus())
		}
		return strings.TrimSuffix(k, `"`)
	}
	a := key(e.get("/p?v=secret-value", "Host: edge.example", "Cookie: lang=fr; session=token", "X-Var: hidden", "Accept-Encoding: gzip"))
	for _, secret := range []string{"secret-value", "fr", "token", "hidden"} {
		if strings.Contains(a, secret) {
			t.Errorf("the key shows the value %q: %s", secret, a)
		}
	}
	for _, part := range []string{"|GET|edge.example/p?v=", "|X-Var=", "|lang=", "|ae=gzip"} {
		if !strings.Contains(a, part) {
			t.Errorf("the key %s lacks %q", a, part)
		}
	}
	head := key(e.do("HEAD", "/p?v=secret-value", "Host: edge.example", "Cookie: lang=fr; session=token", "X-Var: hidden", "Accept-Encoding: gzip"))
	if head != a {
		t.Errorf("a HEAD's key %s, want its GET's %s", head, a)
	}
	if other := key(e.get("/p?v=other", "Host: edge.example", "Cookie: lang=fr", "X-Var: hidden", "Accept-Encoding: gzip")); other == a {
		t.Errorf("another value shows the same key %s", other)
	}
}

// TestFragmentInPathBypasses: a raw '#' in the request target (a
// fragment, which no request target may hold) is not keyed as sent while
// the origin gets it as %23: the request bypasses the cache.
func TestFragmentInPathBypasses(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	resp := rawRequest(t, e, "GET /p#frag HTTP/1.1\r\nHost: edge.example\r\n\r\n")
	expect(t, "/p#frag", res{resp.StatusCode, "", resp.Header}, "fwd=bypass", "detail=ambiguous-path")
}

// rawRequest sends raw, a request as bytes, to e on a connection of its
// own and returns the response, its body read and closed.
func rawRequest(t *testing.T, e *env, raw string) *http.Response {
	t.Helper()
	c := dialEdge(t, e)
	io.WriteString(c, raw)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// dialEdge opens a connection to e, closed when the test ends, that gives
// up after 5 seconds.
func dialEdge(t *testing.T, e *env) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// TestEmptyRequestBodyForwarded: a POST without a body reaches the origin
// with Content-Length: 0, not as a chunked body of unknown length.
func TestEmptyRequestBodyForwarded(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: "*"
    allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]
`)
	e.origin.set(answer(200, "ok"))
	e.do("POST", "/form")
	if r := e.origin.last(); r == nil || r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		t.Fatalf("the origin got %v", r)
	}
}

// TestNonASCIIPathKeyedAsForwarded: a raw non-ASCII byte in a path goes to
// the origin escaped (net/http's %XX); the object is keyed the same way,
// so the escaped request finds it and an invalidation that names the
// escaped path, as CloudFront asks for non-ASCII characters, removes it.
func TestNonASCIIPathKeyedAsForwarded(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	for _, tc := range []struct{ raw, escaped string }{{"/caf\xc3\xa9", "/caf%C3%A9"}, {"/\xff", "/%FF"}} {
		r := rawRequest(t, e, "GET "+tc.raw+" HTTP/1.1\r\nHost: example.com\r\n\r\n")
		expect(t, "raw "+tc.escaped, res{r.StatusCode, "", r.Header}, "fwd=uri-miss", "stored")
		if got := e.origin.last().RequestURI; got != tc.escaped {
			t.Errorf("origin saw %q, want %q", got, tc.escaped)
		}
		r = rawRequest(t, e, "GET "+tc.escaped+" HTTP/1.1\r\nHost: example.com\r\n\r\n")
		expect(t, "escaped "+tc.escaped, res{r.StatusCode, "", r.Header}, "hit")
		if n := e.edge.Invalidate("", []string{tc.escaped}); n != 1 {
			t.Errorf("invalidating %q removed %d objects, want 1", tc.escaped, n)
		}
	}
	// A pattern written with the raw character names the same object.
	rawRequest(t, e, "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: example.com\r\n\r\n")
	if n := e.edge.Invalidate("", []string{"/café"}); n != 1 {
		t.Errorf("invalidating /café removed %d objects, want the one stored for /caf%%C3%%A9", n)
	}
}

// TestNoContentTypeNotSniffed: a response the origin sent without
// Content-Type reaches the client without one, on a miss, a hit and a
// pass, not with one sniffed from the body (text/html for markup).
func TestNoContentTypeNotSniffed(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: /pass/*
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 0s}
  - path: "*"
`)
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // net/http would sniff one too
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		io.WriteString(w, "<html><body><script>alert(1)</script></body></html>")
	})
	for _, tc := range []struct{ what, path, want string }{
		{"miss", "/upload", "fwd=uri-miss"}, {"hit", "/upload", "hit"}, {"pass", "/pass/upload", "fwd=bypass"},
	} {
		r := rawRequest(t, e, "GET "+tc.path+" HTTP/1.1\r\nHost: example.com\r\n\r\n")
		expect(t, tc.what, res{r.StatusCode, "", r.Header}, tc.want)
		if ct, ok := r.Header["Content-Type"]; ok {
			t.Errorf("%s: Content-Type %q, want none (the origin sent none)", tc.what, ct)
		}
	}
}

// TestNotModifiedUnstorableHeaders: a 304 that makes the object private
// or no-store drops it, and its requester gets the body with the 304's
// updated headers (RFC 9111 §4.3.4), so that a cache after the edge
// learns it too, not the old stored ones.
func TestNotModifiedUnstorableHeaders(t *testing.T) {
	for _, cc := range []string{"private, max-age=300", "no-store"} {
		e := newEnv(t, defaultBehavior)
		e.origin.set(answer(200, "v1", "Cache-Control: max-age=1", `ETag: "a"`, "X-Gen: 1"))
		e.get("/p")
		e.clk.Advance(5 * time.Second)
		e.origin.set(answer(304, "", "Cache-Control: "+cc, `ETag: "a"`, "X-Gen: 2"))
		r := e.get("/p")
		expect(t, cc, r, "fwd=stale", "fwd-status=304", "stored=?0")
		if r.body != "v1" || r.header.Get("Cache-Control") != cc || r.header.Get("X-Gen") != "2" {
			t.Errorf("%s: %q, Cache-Control %q, X-Gen %q; want v1 with the 304's headers", cc, r.body, r.header.Get("Cache-Control"), r.header.Get("X-Gen"))
		}
		expect(t, cc+": the next request", e.get("/p"), "fwd=uri-miss")
	}
}

// TestVaryChangeDropsOldVariants: when the origin stops varying (or
// varies on something else), its newest response serves every request it
// matches (RFC 9111 §4.1): the variants stored under the old Vary go,
// instead of answering their requests with the old selection.
func TestVaryChangeDropsOldVariants(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: "*"
    origin_request: {headers: [Accept-Language]}
`)
	e.origin.set(answer(200, "english", "Cache-Control: public, max-age=300", "Vary: Accept-Language"))
	expect(t, "en", e.get("/p", "Accept-Language: en"), "stored")
	expect(t, "en again", e.get("/p", "Accept-Language: en"), "hit")
	e.origin.set(answer(200, "one for all", "Cache-Control: public, max-age=300"))
	expect(t, "fr", e.get("/p", "Accept-Language: fr"), "fwd=vary-miss", "stored")
	for _, lang := range []string{"en", "fr", "de"} {
		if r := e.get("/p", "Accept-Language: "+lang); r.body != "one for all" {
			t.Errorf("%s after the origin stopped varying: %q (%s), want the newest response", lang, r.body, r.cacheStatus())
		}
	}
}
