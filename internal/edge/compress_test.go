package edge_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/edge"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// decode returns body decoded from the coding enc ("" for none).
func decode(t *testing.T, body, enc string) string {
	t.Helper()
	var r io.Reader = strings.NewReader(body)
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("gzip body: %v", err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s body: %v", enc, err)
	}
	return string(b)
}

// With the coding keyed, the edge stores the compressed body once and
// sends it as stored: the cache holds the small body, the hits carry its
// Content-Length, a weak ETag and Vary, and preconditions, ranges, HEAD
// and revalidation work on it.
func TestCompressedObjectsStored(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: "*"
    compress: true
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 1h, gzip: true, brotli: true}
`)
	page := strings.Repeat("<li>tether stores this page compressed</li>\n", 400) // 17.6 KB
	const lastModified = "Sun, 22 Nov 2026 11:00:00 GMT"
	e.origin.set(answer(200, page, "Cache-Control: max-age=60", "Content-Type: text/html", `ETag: "v1"`, "Last-Modified: "+lastModified))

	coded := func(what string, r res, enc string) {
		t.Helper()
		h := r.header
		if r.status != 200 || h.Get("Content-Encoding") != enc || decode(t, r.body, enc) != page {
			t.Fatalf("%s: %d, Content-Encoding %q (want %q), body decodes to the page: %v",
				what, r.status, h.Get("Content-Encoding"), enc, decode(t, r.body, h.Get("Content-Encoding")) == page)
		}
		if len(r.body) >= len(page)/10 {
			t.Errorf("%s: %s body of %d bytes for a page of %d", what, enc, len(r.body), len(page))
		}
		if h.Get("Content-Length") != strconv.Itoa(len(r.body)) || h.Get("ETag") != `W/"v1"` || h.Get("Vary") != "Accept-Encoding" {
			t.Errorf("%s: Content-Length %q (body %d), ETag %q, Vary %q; want the body's length, W/\"v1\", Accept-Encoding",
				what, h.Get("Content-Length"), len(r.body), h.Get("ETag"), h.Get("Vary"))
		}
	}
	miss := e.get("/page", "Accept-Encoding: gzip")
	expect(t, "gzip miss", miss, "fwd=uri-miss", "stored")
	coded("gzip miss", miss, "gzip")
	if b := ts.Metric(t, e.reg, "tether_edge_cache_bytes", nil); b <= 0 || b >= float64(len(page)/4) {
		t.Errorf("tether_edge_cache_bytes = %v after storing a page of %d bytes: want the compressed body stored", b, len(page))
	}
	hit := e.get("/page", "Accept-Encoding: gzip, deflate")
	expect(t, "gzip hit", hit, "hit")
	coded("gzip hit", hit, "gzip")
	if hit.body != miss.body {
		t.Error("the hit's gzip body differs from the miss's")
	}

	br := e.get("/page", "Accept-Encoding: gzip, deflate, br")
	expect(t, "br miss", br, "fwd=uri-miss", "stored")
	coded("br miss", br, "br")
	coded("br hit", e.get("/page", "Accept-Encoding: br, gzip"), "br")

	plain := e.get("/page", "Accept-Encoding: identity")
	if plain.body != page || plain.header.Get("Content-Encoding") != "" || plain.header.Get("ETag") != `"v1"` || plain.header.Get("Vary") != "Accept-Encoding" {
		// Vary too: a cache after the edge must not give this copy's
		// coding (none) to a gzip client, as NGINX's gzip_vary.
		t.Errorf("identity: Content-Encoding %q, ETag %q, Vary %q (want Accept-Encoding), the page: %v",
			plain.header.Get("Content-Encoding"), plain.header.Get("ETag"), plain.header.Get("Vary"), plain.body == page)
	}

	for _, inm := range []string{`W/"v1"`, `"v1"`} {
		r := e.get("/page", "Accept-Encoding: gzip", "If-None-Match: "+inm)
		if r.status != 304 || r.body != "" || r.header.Get("ETag") != `W/"v1"` || r.header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("If-None-Match %s: %d, ETag %q, Vary %q; want 304, W/\"v1\", Accept-Encoding", inm, r.status, r.header.Get("ETag"), r.header.Get("Vary"))
		}
	}
	// A range of the compressed body is not one of the page: the whole
	// compressed object is sent.
	coded("gzip with a range", e.get("/page", "Accept-Encoding: gzip", "Range: bytes=0-9"), "gzip")
	head := e.do("HEAD", "/page", "Accept-Encoding: gzip")
	if head.header.Get("Content-Encoding") != "gzip" || head.header.Get("Content-Length") != strconv.Itoa(len(miss.body)) {
		t.Errorf("HEAD: Content-Encoding %q, Content-Length %q; want gzip, %d", head.header.Get("Content-Encoding"), head.header.Get("Content-Length"), len(miss.body))
	}

	// Stale: revalidated with the origin's own ETag, refreshed by a 304
	// that repeats it strong; the client still gets the stored gzip body.
	before := e.origin.count()
	e.clk.Advance(2 * time.Minute)
	e.origin.set(answer(304, "", "Cache-Control: max-age=60", `ETag: "v1"`))
	reval := e.get("/page", "Accept-Encoding: gzip")
	expect(t, "revalidated", reval, "fwd=stale", "fwd-status=304")
	coded("revalidated", reval, "gzip")
	if n := e.origin.count(); n != before+1 {
		t.Fatalf("the origin served %d requests for the revalidation, want 1", n-before)
	}
	if inm := e.origin.last().Header.Get("If-None-Match"); inm != `"v1"` {
		t.Errorf("revalidation sent If-None-Match %q, want the origin's \"v1\"", inm)
	}
	coded("hit after the 304", e.get("/page", "Accept-Encoding: gzip"), "gzip")
}

// With gzip not keyed, one stored object serves every client: it is
// stored as the origin sent it and gzipped for each client that takes it.
func TestCompressionUnkeyedOnTheFly(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: "*"
    compress: true
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 1h, gzip: false, brotli: false}
`)
	page := strings.Repeat("<li>one object for every client</li>\n", 400)
	e.origin.set(answer(200, page, "Cache-Control: max-age=60", "Content-Type: text/html"))
	if r := e.get("/page", "Accept-Encoding: gzip"); r.header.Get("Content-Encoding") != "gzip" || decode(t, r.body, "gzip") != page {
		t.Fatalf("gzip miss: Content-Encoding %q", r.header.Get("Content-Encoding"))
	}
	if b := ts.Metric(t, e.reg, "tether_edge_cache_bytes", nil); b < float64(len(page)) {
		t.Errorf("tether_edge_cache_bytes = %v: want the page stored whole (%d bytes)", b, len(page))
	}
	if r := e.get("/page", "Accept-Encoding: identity"); r.body != page || r.header.Get("Content-Encoding") != "" {
		t.Errorf("identity hit: Content-Encoding %q, the page: %v", r.header.Get("Content-Encoding"), r.body == page)
	}
	r := e.get("/page", "Accept-Encoding: gzip")
	if r.header.Get("Content-Encoding") != "gzip" || decode(t, r.body, "gzip") != page {
		t.Errorf("gzip hit: Content-Encoding %q", r.header.Get("Content-Encoding"))
	}
	// The bytes counted are the bytes sent: the page for the identity
	// hit, the gzipped page for the gzip one.
	if n := ts.Metric(t, e.reg, "tether_edge_response_bytes_total", map[string]string{"source": "cache"}); n != float64(len(page)+len(r.body)) {
		t.Errorf("response bytes from the cache: %v, want %d + %d", n, len(page), len(r.body))
	}
	if n := e.origin.count(); n != 1 {
		t.Errorf("the origin served %d requests, want 1", n)
	}
}

// BenchmarkCompressedHit is a hit on a 17.6 KB HTML page that a behavior
// with compress: true serves to a gzip client, through the edge's handler
// alone (see BenchmarkEdge): stored compressed when the policy keys gzip,
// compressed on the fly when it does not.
//
//	go test -run '^$' -bench CompressedHit -benchmem -cpu 1 ./internal/edge/
func BenchmarkCompressedHit(b *testing.B) {
	for _, c := range []struct{ name, keyed string }{{"stored", "true"}, {"on-the-fly", "false"}} {
		b.Run(c.name, func(b *testing.B) { benchCompressedHit(b, c.keyed) })
	}
}

func benchCompressedHit(b *testing.B, keyed string) {
	cfg, err := config.Parse([]byte(`
listeners: [{name: web, address: 127.0.0.1:8080, default_target_group: app}]
target_groups: [{name: app, targets: [{id: a, address: 127.0.0.1:9001}]}]
edges:
  - name: bench
    address: 127.0.0.1:8000
    origin: {url: "http://127.0.0.1:18181"}
    behaviors:
      - path: "*"
        compress: true
        cache: {gzip: `+keyed+`, brotli: false}
`), ".")
	if err != nil {
		b.Fatal(err)
	}
	page := []byte(strings.Repeat("<li>tether stores this page compressed</li>\n", 400))
	o := &benchOrigin{body: page, date: []string{time.Now().UTC().Format(http.TimeFormat)}}
	e, err := edge.New(cfg.Edges[0], edge.Options{OriginURL: "http://127.0.0.1:18181", Transport: o,
		Clock: clock.Real{}, Metrics: edge.NewMetrics(nil)})
	if err != nil {
		b.Fatal(err)
	}
	r := benchRequest("/static/page.html")
	r.Header.Set("Accept-Encoding", "gzip")
	w := &benchWriter{h: http.Header{}}
	e.ServeHTTP(w, r) // the miss stores it
	if w.sent.Get("Content-Encoding") != "gzip" {
		b.Fatalf("the miss was not gzipped: %v", w.sent)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w := &benchWriter{h: http.Header{}}
		e.ServeHTTP(w, r)
		if w.n == 0 || w.n >= len(page) || !bytes.Contains([]byte(w.sent.Get("Cache-Status")), []byte("hit")) {
			b.Fatalf("%d bytes, Cache-Status %q", w.n, w.sent.Get("Cache-Status"))
		}
	}
}

// A response marked no-transform is sent as the origin coded it, even to
// a client that takes gzip, on a behavior that compresses (RFC 9110 §7.7),
// and is stored so; a range of it is answered.
func TestNoTransformNotCompressed(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: "*"
    compress: true
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 1h, gzip: true}
`)
	page := strings.Repeat("<li>sent as it is</li>\n", 200)
	e.origin.set(answer(200, page, "Cache-Control: public, max-age=60, no-transform", "Content-Type: text/html"))
	for _, what := range []string{"miss", "hit"} {
		r := e.get("/page", "Accept-Encoding: gzip")
		if r.header.Get("Content-Encoding") != "" || r.body != page {
			t.Errorf("%s: Content-Encoding %q, the page as sent: %v", what, r.header.Get("Content-Encoding"), r.body == page)
		}
	}
	if r := e.get("/page", "Accept-Encoding: gzip", "Range: bytes=0-3"); r.status != http.StatusPartialContent || r.body != page[:4] {
		t.Errorf("a range of it: %d %q", r.status, r.body)
	}
}

// A HEAD, a 304 and a range request of a client the edge compresses for
// get the head its GET would: Content-Encoding (HEAD), the weak ETag and
// Vary: Accept-Encoding; a range is not taken from the compressed body.
// And an object a HEAD miss stores is stored compressed when the key
// holds the coding, as a GET's is.
func TestHeadAndNotModifiedAsTheGet(t *testing.T) {
	page := strings.Repeat("<li>the same head for HEAD</li>\n", 100)
	e := newEnv(t, `
behaviors:
  - path: /nokey/*
    compress: true
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 1h, gzip: false, brotli: false}
  - path: "*"
    compress: true
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 1h, gzip: true}
`)
	e.origin.set(answer(200, page, "Cache-Control: max-age=60", "Content-Type: text/html", `ETag: "abc"`))
	coded := func(what string, r res, status int, enc string) {
		t.Helper()
		h := r.header
		if r.status != status || h.Get("Content-Encoding") != enc || h.Get("ETag") != `W/"abc"` || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Accept-Encoding") {
			t.Errorf("%s: %d, Content-Encoding %q, ETag %q, Vary %q; want %d, %q, W/\"abc\", Accept-Encoding",
				what, r.status, h.Get("Content-Encoding"), h.Get("ETag"), h.Values("Vary"), status, enc)
		}
	}
	e.get("/nokey/p", "Accept-Encoding: identity") // stored as it came
	coded("GET", e.get("/nokey/p", "Accept-Encoding: gzip"), 200, "gzip")
	head := e.do("HEAD", "/nokey/p", "Accept-Encoding: gzip")
	coded("HEAD", head, 200, "gzip")
	if cl := head.header.Get("Content-Length"); cl == strconv.Itoa(len(page)) {
		t.Errorf("HEAD: Content-Length %s, the uncompressed body's", cl)
	}
	coded("304", e.get("/nokey/p", "Accept-Encoding: gzip", `If-None-Match: W/"abc"`), 304, "")
	coded("HEAD with a range", e.do("HEAD", "/nokey/p", "Accept-Encoding: gzip", "Range: bytes=0-9"), 200, "gzip")

	coded("HEAD miss", e.do("HEAD", "/keyed", "Accept-Encoding: gzip"), 200, "gzip")
	coded("GET after it", e.get("/keyed", "Accept-Encoding: gzip"), 200, "gzip")
	if b := ts.Metric(t, e.reg, "tether_edge_cache_bytes", nil); b >= float64(2*len(page)) {
		t.Errorf("cache bytes %v: the HEAD miss stored the page uncompressed under the gzip key", b)
	}
}

// compressAll compresses every path, with the origin's TTLs (up to 1h).
const compressAll = `
behaviors:
  - path: "*"
    compress: true
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 1h}
`

// JSON and XML types named by their suffix (application/vnd.api+json) are
// compressed as application/json is, and an origin's own Vary:
// Accept-Encoding is not repeated.
func TestCompressStructuredTypes(t *testing.T) {
	e := newEnv(t, compressAll)
	doc := `{"data": [` + strings.Repeat(`{"type": "articles", "id": "1"},`, 60) + `{}]}`
	e.origin.set(answer(200, doc, "Cache-Control: max-age=60", "Content-Type: application/vnd.api+json", "Vary: accept-encoding"))
	r := e.get("/api", "Accept-Encoding: gzip")
	if r.header.Get("Content-Encoding") != "gzip" || decode(t, r.body, "gzip") != doc {
		t.Errorf("application/vnd.api+json: Content-Encoding %q", r.header.Get("Content-Encoding"))
	}
	if v := r.header.Values("Vary"); len(v) != 1 {
		t.Errorf("Vary %q, want the origin's line alone", v)
	}
}

// TestIdentityVaryAcceptEncoding: an answer the edge did not compress has
// Vary: Accept-Encoding when the same response goes to gzip clients
// compressed, on a miss, on a hit and when the body streams; a response
// the edge never compresses (too small, an image) has no Vary.
func TestIdentityVaryAcceptEncoding(t *testing.T) {
	e := newEnv(t, compressAll)
	page := strings.Repeat("<p>identity</p>\n", 100)
	large := strings.Repeat("<p>streams through</p>\n", 4000) // over 64 KiB
	for _, tc := range []struct {
		path, body, ctype, vary string
	}{
		{"/page", page, "text/html", "Accept-Encoding"},
		{"/large", large, "text/html", "Accept-Encoding"},
		{"/small", "<p>short</p>", "text/html", ""},
		{"/image", page, "image/png", ""},
	} {
		e.origin.set(answer(200, tc.body, "Cache-Control: max-age=60", "Content-Type: "+tc.ctype))
		for _, what := range []string{"miss", "hit"} {
			r := e.get(tc.path, "Accept-Encoding: identity")
			if r.body != tc.body || r.header.Get("Content-Encoding") != "" || r.header.Get("Vary") != tc.vary {
				t.Errorf("%s %s: Content-Encoding %q, Vary %q, whole body %v; want none, %q, true",
					tc.path, what, r.header.Get("Content-Encoding"), r.header.Get("Vary"), r.body == tc.body, tc.vary)
			}
		}
	}
}
