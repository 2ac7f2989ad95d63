package edge_test

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ts "github.com/tetherlb/tether/internal/testsupport"
)

// beforeRest runs read, a client that reads the first part of a response
// whose origin holds back the rest until release is closed, and returns
// what it returns. The test fails when the first part does not reach the
// client within 5 s; release is closed either way.
func beforeRest[T any](t *testing.T, release chan struct{}, read func() T) T {
	t.Helper()
	got := make(chan T, 1)
	go func() { got <- read() }()
	select {
	case v := <-got:
		close(release)
		return v
	case <-time.After(5 * time.Second):
		t.Error("the first part did not reach the client before the origin sent the rest")
		close(release)
		return <-got
	}
}

// A large response that may be stored reaches the client as it arrives,
// and is stored once the whole of it has come; a short one is sent in one
// piece with a Cache-Status that says it was stored.
func TestStoredResponsesStream(t *testing.T) {
	for _, tc := range []struct {
		name   string
		length bool // the origin sends Content-Length
		ctype  string
	}{
		{"Content-Length", true, "application/octet-stream"},
		{"chunked", false, "application/octet-stream"},
		{"event stream", false, "text/event-stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "max_object_bytes: 1MiB\n"+defaultBehavior)
			first, rest := strings.Repeat("a", 100<<10), strings.Repeat("b", 100<<10)
			release := make(chan struct{})
			e.origin.set(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=600")
				w.Header().Set("Content-Type", tc.ctype)
				if tc.length {
					w.Header().Set("Content-Length", strconv.Itoa(len(first)+len(rest)))
				}
				io.WriteString(w, first)
				w.(http.Flusher).Flush()
				<-release // the rest comes later
				io.WriteString(w, rest)
			})
			type start struct {
				resp  *http.Response
				first string
				err   error
			}
			s := beforeRest(t, release, func() start {
				resp, err := http.Get(e.url + "/big")
				if err != nil {
					return start{err: err}
				}
				b := make([]byte, len(first))
				n, _ := io.ReadFull(resp.Body, b)
				return start{resp: resp, first: string(b[:n])}
			})
			if s.err != nil {
				t.Fatal(s.err)
			}
			resp := s.resp
			defer resp.Body.Close()
			if s.first != first {
				t.Errorf("first part: %d bytes", len(s.first))
			}
			tail, _ := io.ReadAll(resp.Body)
			if string(tail) != rest {
				t.Fatalf("rest: %d bytes, want %d", len(tail), len(rest))
			}
			if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, "fwd=uri-miss") || strings.Contains(cs, "stored") {
				t.Errorf("streamed miss: Cache-Status %q, want a miss without a stored parameter", cs)
			}
			hit := e.get("/big")
			expect(t, "after the stream", hit, "hit")
			if hit.body != first+rest {
				t.Errorf("hit: %d bytes, want %d", len(hit.body), len(first)+len(rest))
			}
		})
	}
	t.Run("short chunked", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		body := strings.Repeat("c", 10<<10)
		e.origin.set(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=600")
			io.WriteString(w, body[:5000])
			w.(http.Flusher).Flush() // chunked
			io.WriteString(w, body[5000:])
		})
		r := e.get("/short")
		expect(t, "short chunked", r, "fwd=uri-miss", "stored")
		if r.body != body || r.header.Get("Content-Length") != strconv.Itoa(len(body)) {
			t.Errorf("short chunked: %d bytes, Content-Length %q", len(r.body), r.header.Get("Content-Length"))
		}
	})
}

// A streamed response that ends early reaches the client cut short and is
// not stored; one that outgrows max_object_bytes reaches it whole and is
// not stored either.
func TestStreamedResponsesNotStored(t *testing.T) {
	e := newEnv(t, "max_object_bytes: 256KiB\n"+defaultBehavior)
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		if r.URL.Path == "/cut" {
			w.Header().Set("Content-Length", strconv.Itoa(200<<10))
			io.WriteString(w, strings.Repeat("x", 100<<10))
			w.(http.Flusher).Flush()
			c, brw, err := http.NewResponseController(w).Hijack()
			if err == nil {
				brw.Flush()
				c.Close() // the origin dies half way
			}
			return
		}
		for range 5 { // /long: 320 KiB, chunked
			io.WriteString(w, strings.Repeat("y", 64<<10))
			w.(http.Flusher).Flush()
		}
	})
	resp, err := http.Get(e.url + "/cut")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, bufio.NewReader(resp.Body))
	resp.Body.Close()
	if err == nil || n >= 200<<10 {
		t.Errorf("cut: the client read %d bytes, err %v; want a short read with an error", n, err)
	}
	if r := e.get("/long"); len(r.body) != 5*(64<<10) {
		t.Errorf("long: %d bytes, want %d", len(r.body), 5*(64<<10))
	}
	for _, reason := range []string{"incomplete", "too-large"} {
		if n := ts.Metric(t, e.reg, "tether_edge_not_stored_total", map[string]string{"reason": reason}); n != 1 {
			t.Errorf("not stored, %s: %v, want 1", reason, n)
		}
	}
	e.origin.set(answer(200, "later", "Cache-Control: max-age=600"))
	for _, p := range []string{"/cut", "/long"} {
		expect(t, p+" again", e.get(p), "fwd=uri-miss")
	}
}

// Requests collapsed behind a leader that streams get the object it
// stored: one origin fetch, every client the whole body.
func TestStreamedLeaderServesWaiters(t *testing.T) {
	e := newEnv(t, "max_object_bytes: 1MiB\n"+defaultBehavior)
	body := strings.Repeat("z", 300<<10)
	release := make(chan struct{})
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		io.WriteString(w, body[:100<<10])
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, body[100<<10:])
	})
	results := make(chan res, 6)
	for range 6 {
		go func() { results <- e.get("/shared") }()
	}
	ts.WaitFor(t, "the leader streaming and the others waiting for it", func() bool {
		return ts.Metric(t, e.reg, "tether_edge_collapsed_total", nil) == 5
	})
	close(release)
	for range 6 {
		if r := <-results; r.status != 200 || r.body != body {
			t.Errorf("%d, %d bytes (Cache-Status %q), want 200 and %d bytes", r.status, len(r.body), r.cacheStatus(), len(body))
		}
	}
	if n := e.origin.count(); n != 1 {
		t.Errorf("the origin served %d requests, want 1", n)
	}
}

// A leader whose body, of unknown length, outgrows max_object_bytes
// releases the requests collapsed behind it as soon as it does: they
// fetch their own, rather than wait for a body that will not be stored
// to end.
func TestOversizedLeaderReleasesWaiters(t *testing.T) {
	e := newEnv(t, "max_object_bytes: 128KiB\n"+defaultBehavior)
	body := strings.Repeat("z", 300<<10)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the origin's Close, which waits for its handlers
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, body[:200<<10]) // chunked: no Content-Length
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, body[200<<10:])
	})
	results := make(chan res, 4)
	go func() { results <- e.get("/huge") }()
	ts.WaitFor(t, "the leader at the origin", func() bool { return e.origin.count() == 1 })
	for range 3 {
		go func() { results <- e.get("/huge") }()
	}
	ts.WaitFor(t, "the waiters released and at the origin, while the leader's body goes on", func() bool {
		return e.origin.count() == 4
	})
	once.Do(func() { close(release) })
	for range 4 {
		if r := <-results; r.status != 200 || r.body != body {
			t.Errorf("%d, %d bytes (Cache-Status %q), want 200 and %d bytes", r.status, len(r.body), r.cacheStatus(), len(body))
		}
	}
	if n := ts.Metric(t, e.reg, "tether_edge_not_stored_total", map[string]string{"reason": "too-large"}); n != 4 {
		t.Errorf("too-large counted %v, want 4 (each response once)", n)
	}
}

// A large response the edge compresses streams too, compressed as it
// comes; the copy stored is the compressed one when the policy keys the
// coding, else the body as it came.
func TestStreamedResponsesCompressed(t *testing.T) {
	for _, keyed := range []bool{true, false} {
		t.Run(map[bool]string{true: "gzip keyed", false: "gzip not keyed"}[keyed], func(t *testing.T) {
			e := newEnv(t, `
max_object_bytes: 1MiB
behaviors:
  - path: "*"
    compress: true
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 1h, gzip: `+strconv.FormatBool(keyed)+`, brotli: false}
`)
			first := strings.Repeat("<p>streamed and compressed</p>\n", 4000) // 124 KB
			rest := strings.Repeat("<p>the rest of the page</p>\n", 4000)
			page := first + rest
			release := make(chan struct{})
			e.origin.set(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=600")
				w.Header().Set("Content-Type", "text/html")
				w.Header().Set("ETag", `"p1"`)
				w.Header().Set("Content-Length", strconv.Itoa(len(page)))
				io.WriteString(w, first)
				w.(http.Flusher).Flush()
				<-release
				io.WriteString(w, rest)
			})
			type start struct {
				resp *http.Response
				zr   *gzip.Reader
				err  error
			}
			s := beforeRest(t, release, func() start {
				req, _ := http.NewRequest("GET", e.url+"/page", nil)
				req.Header.Set("Accept-Encoding", "gzip")
				resp, err := http.DefaultTransport.RoundTrip(req)
				if err != nil {
					return start{err: err}
				}
				zr, err := gzip.NewReader(resp.Body)
				if err == nil {
					b := make([]byte, len(first))
					if _, err = io.ReadFull(zr, b); err == nil && string(b) != first {
						err = io.ErrUnexpectedEOF
					}
				}
				return start{resp, zr, err}
			})
			if s.err != nil {
				t.Fatal(s.err)
			}
			defer s.resp.Body.Close()
			tail, err := io.ReadAll(s.zr)
			if err != nil || string(tail) != rest {
				t.Fatalf("the rest: %d bytes, %v", len(tail), err)
			}
			h := s.resp.Header
			if h.Get("Content-Encoding") != "gzip" || h.Get("ETag") != `W/"p1"` || h.Get("Vary") != "Accept-Encoding" {
				t.Errorf("streamed miss: Content-Encoding %q, ETag %q, Vary %q", h.Get("Content-Encoding"), h.Get("ETag"), h.Get("Vary"))
			}
			stored := ts.Metric(t, e.reg, "tether_edge_cache_bytes", nil)
			if compressed := stored < float64(len(page)/4); compressed != keyed {
				t.Errorf("tether_edge_cache_bytes = %v for a page of %d: stored compressed %v, want %v", stored, len(page), compressed, keyed)
			}
			hit := e.get("/page", "Accept-Encoding: gzip")
			expect(t, "gzip hit", hit, "hit")
			if hit.header.Get("Content-Encoding") != "gzip" || decode(t, hit.body, "gzip") != page {
				t.Errorf("gzip hit: Content-Encoding %q", hit.header.Get("Content-Encoding"))
			}
			if !keyed {
				if r := e.get("/page", "Accept-Encoding: identity"); r.body != page || r.header.Get("Content-Encoding") != "" {
					t.Errorf("identity hit: Content-Encoding %q, the page: %v", r.header.Get("Content-Encoding"), r.body == page)
				}
			}
			if n := e.origin.count(); n != 1 {
				t.Errorf("the origin served %d requests, want 1", n)
			}
		})
	}
}

// A buffered response (shorter than the streaming threshold) that ends
// early is answered with a 502 (nothing has gone to the client yet), never
// relayed padded to its Content-Length, and is not stored.
func TestBufferedResponseCutShort(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Length", "2000")
		io.WriteString(w, strings.Repeat("x", 1000))
		w.(http.Flusher).Flush()
		if c, brw, err := http.NewResponseController(w).Hijack(); err == nil {
			brw.Flush()
			c.Close() // the origin dies half way
		}
	})
	r := e.get("/cut")
	if r.status != http.StatusBadGateway || strings.Contains(r.body, "x") {
		t.Errorf("got %d %q; want a 502 without the origin's bytes", r.status, r.body)
	}
	expect(t, "cut", r, "fwd=uri-miss", "stored=?0", "detail=incomplete")
	if n := ts.Metric(t, e.reg, "tether_edge_not_stored_total", map[string]string{"reason": "incomplete"}); n != 1 {
		t.Errorf("not stored, incomplete: %v, want 1", n)
	}
	if n := ts.Metric(t, e.reg, "tether_edge_origin_errors_total", nil); n != 1 {
		t.Errorf("origin errors: %v, want 1", n)
	}
}

// A response of unknown length (chunked) that the origin cuts short must
// not reach the client as a complete body: the client gets a 502 when
// nothing went to it yet (a short body the edge reads whole to store it),
// else an error after the bytes that came (streamed, or passed through).
func TestChunkedResponseCutShort(t *testing.T) {
	for _, path := range []string{"/small", "/dyn/pass", "/events"} {
		t.Run(path, func(t *testing.T) {
			e := newEnv(t, `
behaviors:
  - path: /dyn/*
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 0s}
  - path: "*"
    cache: {min_ttl: 0s, default_ttl: 60s, max_ttl: 1h}
`)
			e.origin.set(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/events" {
					w.Header().Set("Content-Type", "text/event-stream")
				}
				io.WriteString(w, strings.Repeat("x", 1000))
				w.(http.Flusher).Flush() // chunked
				if c, brw, err := http.NewResponseController(w).Hijack(); err == nil {
					brw.Flush()
					c.Close() // the origin dies without the last chunk
				}
			})
			resp, err := http.Get(e.url + path)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if path == "/small" {
				if resp.StatusCode != http.StatusBadGateway || err != nil {
					t.Errorf("got %d, %d bytes, err %v; want a whole 502", resp.StatusCode, len(b), err)
				}
				return
			}
			if resp.StatusCode != 200 || err == nil {
				t.Errorf("got %d, %d bytes and a clean end; want 200 and an error after the bytes that came", resp.StatusCode, len(b))
			}
		})
	}
}

// A revalidation whose new 200 the origin cuts short is an origin error:
// within stale-if-error the client gets the stale object (not a 502), and
// the stale object stays stored for the requests after it, until a new
// response comes whole. Outside stale-if-error the client gets the 502,
// and the stale object still stays.
func TestCutShortRevalidationKeepsStale(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	version := "v1"
	cut := false
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=10, stale-if-error=60")
		w.Header().Set("ETag", `"`+version+`"`)
		if !cut {
			io.WriteString(w, version)
			return
		}
		w.Header().Set("Content-Length", "2000")
		io.WriteString(w, strings.Repeat("x", 1000))
		w.(http.Flusher).Flush()
		if c, brw, err := http.NewResponseController(w).Hijack(); err == nil {
			brw.Flush()
			c.Close() // the origin dies half way through the new version
		}
	})
	if r := e.get("/page"); r.body != "v1" {
		t.Fatalf("first fetch: %q", r.body)
	}
	version, cut = "v2", true
	e.clk.Advance(20 * time.Second) // stale, within stale-if-error
	for i := range 2 {
		r := e.get("/page")
		if r.status != http.StatusOK || r.body != "v1" {
			t.Fatalf("request %d after the cut: %d %q, want the stale v1", i, r.status, r.body)
		}
		expect(t, "stale after a cut", r, "fwd=stale", "fwd-status=200", "stored=?0", "detail=stale-if-error")
	}
	if n := ts.Metric(t, e.reg, "tether_edge_requests_total", map[string]string{"result": "stale"}); n != 2 {
		t.Errorf("requests served stale: %v, want 2", n)
	}
	if n := ts.Metric(t, e.reg, "tether_edge_requests_total", map[string]string{"result": "miss"}); n != 1 {
		t.Errorf("misses: %v, want the first fetch's 1 only", n)
	}

	e.clk.Advance(2 * time.Minute) // past stale-if-error: a 502
	if r := e.get("/page"); r.status != http.StatusBadGateway || strings.Contains(r.body, "x") {
		t.Errorf("past stale-if-error: %d %q, want a 502", r.status, r.body)
	}
	// The object is still stored: the next revalidation asks for v1, and
	// the origin's 304 refreshes it.
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.Header().Set("Cache-Control", "max-age=10")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "not revalidated")
	})
	if r := e.get("/page"); r.status != http.StatusOK || r.body != "v1" {
		t.Errorf("revalidated after the cuts: %d %q, want the kept v1", r.status, r.body)
	}
}

// A large body of known length (streamed to the client from the copy
// being stored) that the origin cuts short reaches the client cut short,
// with the connection ended before the declared length, and is not
// stored.
func TestStreamedResponseCutShort(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Length", strconv.Itoa(4<<20))
		io.WriteString(w, strings.Repeat("x", 1<<20))
		w.(http.Flusher).Flush()
		if c, brw, err := http.NewResponseController(w).Hijack(); err == nil {
			brw.Flush()
			c.Close() // the origin dies a quarter of the way
		}
	})
	resp, err := http.Get(e.url + "/cut.bin")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(b) >= 4<<20 {
		t.Errorf("got %d bytes, err %v; want the body cut short with an error", len(b), err)
	}
	if n := ts.Metric(t, e.reg, "tether_edge_not_stored_total", map[string]string{"reason": "incomplete"}); n != 1 {
		t.Errorf("not stored, incomplete: %v, want 1", n)
	}
	if r := e.get("/cut.bin"); strings.HasPrefix(r.cacheStatus(), "edge; hit") {
		t.Errorf("the cut body was stored: %q", r.cacheStatus())
	}
}

// The copies of bodies being kept to store hold at most half of max_bytes
// between them: with more large misses at once, the one that would go past
// it is not stored (reason memory), and its client still gets it whole.
func TestInflightCopiesBounded(t *testing.T) {
	e := newEnv(t, "max_bytes: 4MiB\nmax_object_bytes: 1MiB\n"+defaultBehavior)
	body := strings.Repeat("m", 900<<10)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		io.WriteString(w, body[:600<<10])
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, body[600<<10:])
	})
	results := make(chan res, 4)
	for i := range 4 { // 4 × 600 KiB read at once: past the 2 MiB the copies may hold
		go func() { results <- e.get(fmt.Sprint("/big/", i), "Accept-Encoding: identity") }()
	}
	memory := func() float64 {
		return ts.Metric(t, e.reg, "tether_edge_not_stored_total", map[string]string{"reason": "memory"})
	}
	ts.WaitFor(t, "a copy refused for memory", func() bool { return memory() >= 1 })
	once.Do(func() { close(release) })
	for range 4 {
		if r := <-results; r.status != 200 || r.body != body {
			t.Errorf("%d, %d bytes, want 200 and %d bytes", r.status, len(r.body), len(body))
		}
	}
	// How many more were refused as the others read their last 300 KiB
	// depends on the order the bodies came in, and on when the stored
	// ones gave their share back.
	refused := int(memory())
	for i := range 4 {
		e.get(fmt.Sprint("/big/", i), "Accept-Encoding: identity")
	}
	if n := e.origin.count(); n != 4+refused {
		t.Errorf("the origin served %d requests, want %d: four misses, then one more for each object not stored", n, 4+refused)
	}
	// A refusal for memory is of the moment: the key is not marked
	// hit-for-miss, so the refetch above was stored, and these are hits.
	for i := range 4 {
		if r := e.get(fmt.Sprint("/big/", i), "Accept-Encoding: identity"); !strings.Contains(r.cacheStatus(), "hit") {
			t.Errorf("/big/%d after its refetch: Cache-Status %q, want a hit", i, r.cacheStatus())
		}
	}
}
