package edge_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// A stored object answers the client's preconditions and ranges itself, as
// CloudFront does: 304 and 206 never reach the origin, and the origin only
// ever sends the full object.
func TestConditionalAndRangeFromCache(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	lm := epoch.Add(-time.Hour).Format(http.TimeFormat)
	e.origin.set(answer(200, "0123456789", "Cache-Control: max-age=600", `ETag: "v1"`, "Last-Modified: "+lm, "Content-Type: text/plain"))
	// Go's client asks for gzip unless the request has a Range; gzip is
	// in the default key, so every request here says what it accepts.
	if r := e.get("/file.txt", "Accept-Encoding: identity"); r.status != 200 || r.body != "0123456789" {
		t.Fatalf("first GET: %d %q", r.status, r.body)
	}
	before := e.origin.count()
	for _, tc := range []struct {
		name   string
		lines  []string
		status int
		body   string
		header map[string]string
	}{
		{"If-None-Match matches", []string{`If-None-Match: "v1"`}, 304, "", map[string]string{"ETag": `"v1"`, "Content-Type": ""}},
		{"If-None-Match weak matches", []string{`If-None-Match: "x", W/"v1"`}, 304, "", nil},
		{"If-None-Match star", []string{`If-None-Match: *`}, 304, "", nil},
		{"If-None-Match other", []string{`If-None-Match: "v2"`}, 200, "0123456789", nil},
		{"If-None-Match wins over If-Modified-Since", []string{`If-None-Match: "v2"`, "If-Modified-Since: " + epoch.Format(http.TimeFormat)}, 200, "0123456789", nil},
		{"If-Modified-Since after", []string{"If-Modified-Since: " + epoch.Format(http.TimeFormat)}, 304, "", nil},
		{"If-Modified-Since before", []string{"If-Modified-Since: " + epoch.Add(-2*time.Hour).Format(http.TimeFormat)}, 200, "0123456789", nil},
		{"If-Modified-Since garbage", []string{"If-Modified-Since: yesterday"}, 200, "0123456789", nil},
		{"range", []string{"Range: bytes=2-4"}, 206, "234", map[string]string{"Content-Range": "bytes 2-4/10", "Content-Length": "3"}},
		{"open range", []string{"Range: bytes=7-"}, 206, "789", map[string]string{"Content-Range": "bytes 7-9/10"}},
		{"suffix range", []string{"Range: bytes=-3"}, 206, "789", nil},
		{"range past the end is clamped", []string{"Range: bytes=8-100"}, 206, "89", nil},
		{"range starting past the end", []string{"Range: bytes=10-"}, 416, "", map[string]string{"Content-Range": "bytes */10"}},
		{"several ranges: the whole object", []string{"Range: bytes=0-1,4-5"}, 200, "0123456789", nil},
		{"another unit", []string{"Range: items=0-1"}, 200, "0123456789", nil},
		{"a signed bound", []string{"Range: bytes=+1-2"}, 200, "0123456789", nil},
		{"If-Range with the ETag", []string{"Range: bytes=0-0", `If-Range: "v1"`}, 206, "0", nil},
		{"If-Range with another ETag", []string{"Range: bytes=0-0", `If-Range: "v0"`}, 200, "0123456789", nil},
		{"If-Range with the date", []string{"Range: bytes=0-0", "If-Range: " + lm}, 206, "0", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.get("/file.txt", append(tc.lines, "Accept-Encoding: identity")...)
			if r.status != tc.status || r.body != tc.body {
				t.Errorf("%d %q, want %d %q", r.status, r.body, tc.status, tc.body)
			}
			for k, v := range tc.header {
				if got := r.header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			expect(t, tc.name, r, "hit")
		})
	}
	if n := e.origin.count() - before; n != 0 {
		t.Errorf("conditional and range requests reached the origin %d times", n)
	}
	for _, r := range e.origin.requests {
		for _, h := range []string{"If-None-Match", "If-Modified-Since", "Range", "If-Range"} {
			if r.Header.Get(h) != "" {
				t.Errorf("the origin got %s", h)
			}
		}
	}
	// HEAD with a range: the head of the 206, no body.
	if r := e.do("HEAD", "/file.txt", "Range: bytes=0-3", "Accept-Encoding: identity"); r.status != 206 || r.body != "" || r.header.Get("Content-Range") != "bytes 0-3/10" ||
		r.header.Get("Content-Length") != "4" {
		t.Errorf("HEAD with a range: %d %q %v; want the GET's head: 206, Content-Length 4", r.status, r.body, r.header)
	}
	if r := e.do("HEAD", "/file.txt", "Range: bytes=50-", "Accept-Encoding: identity"); r.status != 416 || r.header.Get("Content-Length") != "0" {
		t.Errorf("HEAD with a range past the end: %d, Content-Length %q; want 416 and 0", r.status, r.header.Get("Content-Length"))
	}
}

// A response the edge gzips on the fly ignores Range: a range of the
// gzipped body would not be a range of the stored one.
func TestRangeIgnoredWhenTheEdgeCompresses(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: "*"
    compress: true
    cache: {min_ttl: 0s, default_ttl: 24h, max_ttl: 8760h, gzip: true}
`)
	body := strings.Repeat("tether ", 400)
	e.origin.set(answer(200, body, "Cache-Control: max-age=600", "Content-Type: text/plain"))
	e.get("/big.txt", "Accept-Encoding: gzip")
	e.get("/big.txt", "Accept-Encoding: identity")
	r := e.get("/big.txt", "Accept-Encoding: gzip", "Range: bytes=0-9")
	if r.status != 200 || r.header.Get("Content-Encoding") != "gzip" {
		t.Errorf("gzip with a range: %d, Content-Encoding %q; want the whole gzipped 200", r.status, r.header.Get("Content-Encoding"))
	}
	if r := e.get("/big.txt", "Accept-Encoding: identity", "Range: bytes=0-9"); r.status != 206 || r.body != body[:10] {
		t.Errorf("identity with a range: %d %q", r.status, r.body)
	}
}

// A stored 200 says Accept-Ranges: bytes, as NGINX's cache does, since
// the edge answers ranges of it: on the miss that stores it and on hits.
// Not when the edge compresses the answer (a range of it is answered
// whole), not over the origin's own field, not on what it does not
// store, and not in cloudfront mode, which passes the origin's fields.
func TestAcceptRanges(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: /dyn/*
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 0s}
  - path: /fly/*
    compress: true
    cache: {min_ttl: 0s, default_ttl: 24h, max_ttl: 8760h, gzip: false}
  - path: "*"
    compress: true
    cache: {min_ttl: 0s, default_ttl: 24h, max_ttl: 8760h, gzip: true}
`)
	body := strings.Repeat("tether ", 400)
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/none.txt" {
			w.Header().Set("Accept-Ranges", "none")
		}
		b := body
		if r.URL.Path == "/big.txt" {
			b = strings.Repeat(body, 40) // over 64 KiB: streamed as it is stored
		}
		answer(200, b, "Cache-Control: max-age=600", "Content-Type: text/plain")(w, r)
	})
	for _, tc := range []struct{ what, path, enc, want string }{
		{"miss", "/a.txt", "identity", "bytes"},
		{"hit", "/a.txt", "identity", "bytes"},
		{"hit, range", "/a.txt", "identity", "bytes"},
		{"gzip miss", "/a.txt", "gzip", ""},
		{"gzip hit", "/a.txt", "gzip", ""},
		{"miss stored as it came", "/fly/b.txt", "identity", "bytes"},
		{"hit gzipped on the fly", "/fly/b.txt", "gzip", ""},
		{"hit gzipped on the fly, range", "/fly/b.txt", "gzip", ""},
		{"the origin's field", "/none.txt", "identity", "none"},
		{"the origin's field, hit", "/none.txt", "identity", "none"},
		{"not stored", "/dyn/a.txt", "identity", ""},
		{"streamed miss", "/big.txt", "identity", "bytes"},
		{"streamed hit", "/big.txt", "identity", "bytes"},
	} {
		lines := []string{"Accept-Encoding: " + tc.enc}
		if strings.Contains(tc.what, "range") {
			lines = append(lines, "Range: bytes=0-5")
		}
		r := e.get(tc.path, lines...)
		if got := strings.Join(r.header.Values("Accept-Ranges"), ", "); got != tc.want {
			t.Errorf("%s %s (%s): Accept-Ranges %q, want %q; Cache-Status %q", tc.what, tc.path, tc.enc, got, tc.want, r.cacheStatus())
		}
	}

	cf := newEnv(t, cf(defaultBehavior))
	cf.origin.set(answer(200, body, "Cache-Control: max-age=600", "Content-Type: text/plain"))
	for _, what := range []string{"miss", "hit"} {
		if r := cf.get("/a.txt", "Accept-Encoding: identity"); r.header.Get("Accept-Ranges") != "" {
			t.Errorf("cloudfront mode, %s: Accept-Ranges %q, want the origin's (none)", what, r.header.Get("Accept-Ranges"))
		}
	}
}

// A miss with a range or a precondition is answered as NGINX's cache
// answers it: the origin is asked for the whole object (no Range, no
// validators), which is stored, and the client gets its 206, 304 or 416
// from it; the next request for the object is a hit on the whole of it.
// When the requester gets fields the stored copy lacks (a load balancer
// cookie the behavior forwards), it gets the whole 200 with them instead.
func TestConditionalAndRangeOnAMiss(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: /sticky/*
    cache: {min_ttl: 0s, default_ttl: 24h, max_ttl: 8760h}
    origin_request: {cookies: all}
  - path: "*"
    cache: {min_ttl: 0s, default_ttl: 24h, max_ttl: 8760h}
`)
	lines := []string{"Cache-Control: max-age=600", `ETag: "v1"`, "Content-Type: text/plain"}
	e.origin.set(answer(200, "0123456789", lines...))
	for _, tc := range []struct {
		path   string
		lines  []string
		status int
		body   string
		header map[string]string
	}{
		{"/range", []string{"Range: bytes=2-4"}, 206, "234", map[string]string{"Content-Range": "bytes 2-4/10", "Content-Length": "3"}},
		{"/past-the-end", []string{"Range: bytes=10-"}, 416, "", map[string]string{"Content-Range": "bytes */10"}},
		{"/if-none-match", []string{`If-None-Match: "v1"`}, 304, "", map[string]string{"ETag": `"v1"`}},
		{"/other-etag", []string{`If-None-Match: "v0"`}, 200, "0123456789", nil},
	} {
		before := e.origin.count()
		r := e.get(tc.path, append(tc.lines, "Accept-Encoding: identity")...)
		if r.status != tc.status || r.body != tc.body {
			t.Errorf("%s on a miss: %d %q, want %d %q", tc.path, r.status, r.body, tc.status, tc.body)
		}
		for k, v := range tc.header {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", tc.path, k, got, v)
			}
		}
		expect(t, tc.path, r, "fwd=uri-miss", "stored")
		if n := e.origin.count() - before; n != 1 {
			t.Fatalf("%s: %d origin requests, want 1", tc.path, n)
		}
		for _, h := range []string{"Range", "If-None-Match"} {
			if v := e.origin.last().Header.Get(h); v != "" {
				t.Errorf("%s: the origin got %s: %q", tc.path, h, v)
			}
		}
		if r := e.get(tc.path, "Accept-Encoding: identity"); r.status != 200 || r.body != "0123456789" {
			t.Errorf("%s after the miss: %d %q, want the whole object", tc.path, r.status, r.body)
		} else {
			expect(t, tc.path+" after the miss", r, "hit")
		}
	}

	// The load balancer's cookie goes to the requester: the whole 200.
	e.origin.set(answer(200, "0123456789", append(lines, "Set-Cookie: AWSALB=t1; Path=/")...))
	r := e.get("/sticky/a", "Range: bytes=2-4", "Cookie: AWSALB=t0", "Accept-Encoding: identity")
	if r.status != 200 || r.body != "0123456789" || r.header.Get("Set-Cookie") != "AWSALB=t1; Path=/" {
		t.Errorf("a miss with the requester's cookie: %d %q %q, want the whole 200 with the cookie", r.status, r.body, r.header.Get("Set-Cookie"))
	}
	if r := e.get("/sticky/a", "Range: bytes=2-4", "Cookie: AWSALB=t0", "Accept-Encoding: identity"); r.status != 206 || r.header.Get("Set-Cookie") != "" {
		t.Errorf("its hit: %d %q, want a 206 without the cookie", r.status, r.header.Get("Set-Cookie"))
	}
}

// TestWeakValidators: If-None-Match: * is true for any stored response,
// with an ETag or without (RFC 9110 §13.1.2); a Last-Modified in the same
// second as the response's Date is weak, and If-Range, which takes strong
// validators only, is then false: the whole object, not a range that
// could stitch two versions written within that second (§13.1.5).
func TestWeakValidators(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UTC().Format(http.TimeFormat)
		w.Header().Set("Date", now)
		w.Header().Set("Last-Modified", now) // the same second: weak
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("0123456789"))
	})
	first := e.get("/file.txt", "Accept-Encoding: identity")
	lm := first.header.Get("Last-Modified")
	if r := e.get("/file.txt", "Accept-Encoding: identity", "If-None-Match: *"); r.status != 304 {
		t.Errorf("If-None-Match: * on an object without an ETag: %d, want 304", r.status)
	}
	if r := e.get("/file.txt", "Accept-Encoding: identity", "Range: bytes=0-1", "If-Range: "+lm); r.status != 200 || r.body != "0123456789" {
		t.Errorf("If-Range with a weak Last-Modified: %d %q, want 200 and the whole object", r.status, r.body)
	}
}
