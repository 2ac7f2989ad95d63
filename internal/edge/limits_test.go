package edge_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/edge"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

func TestLargeResponsesStreamThrough(t *testing.T) {
	e := newEnv(t, "max_bytes: 4MiB\nmax_object_bytes: 64KiB\n"+defaultBehavior)
	big := strings.Repeat("x", 200<<10)
	e.origin.set(answer(200, big, "Cache-Control: max-age=60"))
	r := e.get("/big")
	if len(r.body) != len(big) {
		t.Fatalf("got %d bytes, want %d", len(r.body), len(big))
	}
	expect(t, "R1", r, "stored=?0", "detail=too-large")
	// Unknown length (chunked) and too large: still streamed whole.
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		for range 4 {
			w.Write([]byte(big[:64<<10]))
			w.(http.Flusher).Flush()
		}
	})
	if r := e.get("/chunked"); len(r.body) != 4*(64<<10) {
		t.Fatalf("chunked: got %d bytes", len(r.body))
	}
	if n := ts.Metric(t, e.reg, "tether_edge_not_stored_total", map[string]string{"reason": "too-large"}); n != 2 {
		t.Errorf("too-large counted %v, want 2", n)
	}
}

// Bytes sent are what the client took: a client that leaves early does
// not count the whole object as sent.
func TestBytesSentStopWithTheClient(t *testing.T) {
	e := newEnv(t, "max_bytes: 256MiB\nmax_object_bytes: 48MiB\n"+defaultBehavior)
	size := 48 << 20
	e.origin.set(answer(200, strings.Repeat("b", size), "Cache-Control: max-age=60", "Content-Type: application/octet-stream"))
	e.get("/big", "Accept-Encoding: identity") // stored
	before := ts.Metric(t, e.reg, "tether_edge_response_bytes_total", map[string]string{"source": "cache"})
	host := strings.TrimPrefix(e.url, "http://")
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: "+host+"\r\nAccept-Encoding: identity\r\n\r\n") // a hit
	if _, err := io.ReadFull(c, make([]byte, 100<<10)); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetLinger(0) // a reset: the edge's next write fails
	c.Close()
	var sent float64
	ts.WaitFor(t, "the hit's bytes counted", func() bool {
		sent = ts.Metric(t, e.reg, "tether_edge_response_bytes_total", map[string]string{"source": "cache"}) - before
		return sent > 0
	})
	if sent >= float64(size)/2 {
		t.Errorf("%v bytes counted as sent to a client that took 100 KiB and left; the object is %d", sent, size)
	}
}

// max_object_bytes is the largest body stored, also when it is max_bytes/4
// (the default for a max_bytes of 32MiB or less): the header and the
// bookkeeping are not counted against it.
func TestLargestObjectStored(t *testing.T) {
	e := newEnv(t, "max_bytes: 1MiB\nmax_object_bytes: 256KiB\n"+defaultBehavior)
	e.origin.set(answer(200, strings.Repeat("x", 256<<10), "Cache-Control: max-age=60", "Content-Type: application/octet-stream"))
	e.get("/max", "Accept-Encoding: identity")
	if r := e.get("/max", "Accept-Encoding: identity"); len(r.body) != 256<<10 {
		t.Fatalf("got %d bytes", len(r.body))
	} else {
		expect(t, "a body of max_object_bytes = max_bytes/4", r, "hit")
	}
}

func TestCompression(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: "*"
    compress: true
`)
	page := strings.Repeat("<p>hello</p>", 500)
	e.origin.set(answer(200, page, "Cache-Control: max-age=60", "Content-Type: text/html"))
	req, _ := http.NewRequest("GET", e.url+"/p", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if string(got) != page {
		t.Error("the gzipped body does not decode to the page")
	}
	if r := e.get("/p", "Accept-Encoding: identity"); r.body != page || r.header.Get("Content-Encoding") != "" {
		t.Errorf("a client without gzip got Content-Encoding %q", r.header.Get("Content-Encoding"))
	}
}

func TestMetricsCount(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	miss, hit, bypass := e.get("/a"), e.get("/a"), e.get("/a%2f")
	// Hits from many goroutines at once: every one is counted.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				e.get("/a")
			}
		})
	}
	wg.Wait()
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"tether_edge_requests_total", map[string]string{"result": "miss"}, 1},
		{"tether_edge_requests_total", map[string]string{"result": "hit"}, 1 + 200},
		{"tether_edge_requests_total", map[string]string{"result": "bypass"}, 1},
		{"tether_edge_requests_total", map[string]string{"result": "stale"}, 0},
		{"tether_edge_bypass_total", map[string]string{"reason": "ambiguous-path"}, 1},
		{"tether_edge_response_bytes_total", map[string]string{"source": "origin"}, float64(len(miss.body) + len(bypass.body))},
		{"tether_edge_response_bytes_total", map[string]string{"source": "cache"}, float64(201 * len(hit.body))},
		{"tether_edge_cache_objects", nil, 1},
	} {
		if got := ts.Metric(t, e.reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if b := ts.Metric(t, e.reg, "tether_edge_cache_bytes", nil); b <= 0 {
		t.Errorf("tether_edge_cache_bytes = %v", b)
	}
}

func TestHostileRequests(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	for name, path := range map[string]string{
		"long path":      "/" + strings.Repeat("a", 8000),
		"many params":    "/p?" + strings.Repeat("a=1&", 2000),
		"dot segments":   "/a/../b",
		"encoded nul":    "/a%00b",
		"backslash":      "/a%5cb",
		"semicolon":      "/a;b",
		"unicode":        "/%e2%82%ac",
		"duplicate keys": "/p?x=1&x=2",
	} {
		r := e.get(path)
		if r.status >= 500 {
			t.Errorf("%s: %d", name, r.status)
		}
		if r.cacheStatus() == "" {
			t.Errorf("%s: no Cache-Status", name)
		}
	}
	// A target over 8 KiB (CloudFront's and NGINX's bound) is refused
	// before its thousands of parameters are parsed.
	for name, path := range map[string]string{
		"long path":   "/" + strings.Repeat("a", 9000),
		"many params": "/p?" + strings.Repeat("a=1&", 2500),
	} {
		r := e.get(path)
		if r.status != http.StatusRequestURITooLong {
			t.Errorf("%s over 8 KiB: %d, want 414", name, r.status)
		}
		expect(t, name+" over 8 KiB", r, "fwd=bypass", "detail=uri-too-long")
	}
	if n := ts.Metric(t, e.reg, "tether_edge_bypass_total", map[string]string{"reason": "uri-too-long"}); n != 2 {
		t.Errorf("bypass, uri-too-long: %v, want 2", n)
	}
	req, _ := http.NewRequest("GET", e.url+"/p", nil)
	req.Header.Set("X-Big", strings.Repeat("b", 40<<10))
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge && resp.StatusCode < 400 {
			t.Errorf("a 40 KiB header: %d", resp.StatusCode)
		}
	}
}

func TestCollapseTimeout(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	release := make(chan struct{})
	defer close(release)
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("n") == "" && e.origin.count() == 1 {
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte("ok"))
	})
	go func() { // the leader hangs until the test ends
		if resp, err := http.Get(e.url + "/slow"); err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, func() bool { return e.origin.count() == 1 })
	done := make(chan res)
	go func() { done <- e.get("/slow") }()
	// Advance the clock past the 5 s lock timeout until the waiter, which
	// may not have started waiting yet, gives up.
	deadline := time.After(5 * time.Second)
	for {
		select {
		case r := <-done:
			expect(t, "waiter", r, "collapsed=?0")
			return
		case <-deadline:
			t.Fatal("the waiter did not give up on the hung leader")
		case <-time.After(50 * time.Millisecond):
			e.clk.Advance(6 * time.Second)
		}
	}
}

func TestCacheStatusOnEveryResponse(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	e.origin.Close()
	r := e.get("/down")
	if r.status != http.StatusBadGateway || !strings.Contains(r.cacheStatus(), "origin-unreachable") {
		t.Errorf("origin down: %d %q", r.status, r.cacheStatus())
	}
	if r2 := e.get("/down"); r2.status != http.StatusBadGateway || bytes.Contains([]byte(r2.cacheStatus()), []byte("hit")) {
		t.Errorf("the error page was cached: %d %q", r2.status, r2.cacheStatus())
	}
}

func TestAccessLog(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	var buf ts.SyncBuffer
	cfg, err := config.Parse([]byte(baseConfig+"edges:\n  - name: logged\n    address: 127.0.0.1:8001\n    origin: {url: "+e.origin.URL+"}\n"+indent(defaultBehavior, "    ")), ".")
	if err != nil {
		t.Fatal(err)
	}
	le, err := edge.New(cfg.Edges[0], edge.Options{OriginURL: e.origin.URL, Clock: e.clk, Metrics: edge.NewMetrics(nil),
		Access: slog.New(slog.NewJSONHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(serveEdge(t, le) + "/p;jsessionid=secret?token=secret")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	line := buf.String()
	for _, want := range []string{`"edge":"logged"`, `"path":"/p;jsessionid=…"`, `"status":200`, `"cache":"logged; fwd=`} {
		if !strings.Contains(line, want) {
			t.Errorf("access log %q lacks %s", line, want)
		}
	}
	if strings.Contains(line, "secret") {
		t.Error("the access log holds the query string or a path parameter's value")
	}
}

// TestMalformedHeads: a request with both Content-Length and
// Transfer-Encoding (the request-smuggling pair) is refused with 400 and
// its connection closed, as the load balancer's listeners refuse it,
// without reaching the origin; heads net/http cannot parse get its 400.
// Each is counted as rejected.
func TestMalformedHeads(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	send := func(raw string) (*http.Response, string) {
		t.Helper()
		c := dialEdge(t, e)
		io.WriteString(c, raw)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		io.Copy(io.Discard, resp.Body)
		// The connection is closed after the answer, whatever the
		// client sends next.
		io.WriteString(c, "GET /next HTTP/1.1\r\nHost: edge.example\r\n\r\n")
		rest, _ := io.ReadAll(br)
		return resp, string(rest)
	}

	resp, rest := send("POST /p HTTP/1.1\r\nHost: edge.example\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Header.Get("Cache-Status"), "detail=smuggling") {
		t.Errorf("Content-Length and Transfer-Encoding: %d, Cache-Status %q; want 400, detail=smuggling",
			resp.StatusCode, resp.Header.Get("Cache-Status"))
	}
	if rest != "" {
		t.Errorf("the connection served another request after the smuggling attempt: %q", rest)
	}
	// Transfer-Encoding on HTTP/1.0: net/http drops it and would read the
	// chunked body as the next request (RFC 9112 §6.1).
	resp, rest = send("GET /p HTTP/1.0\r\nHost: edge.example\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"GET /smuggled HTTP/1.1\r\nHost: edge.example\r\n\r\n")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Header.Get("Cache-Status"), "detail=smuggling") || rest != "" {
		t.Errorf("Transfer-Encoding on HTTP/1.0: %d, Cache-Status %q, then %q; want 400, detail=smuggling, and the connection closed",
			resp.StatusCode, resp.Header.Get("Cache-Status"), rest)
	}
	if n := e.origin.count(); n != 0 {
		t.Errorf("the origin saw %d requests, want none", n)
	}
	for _, raw := range []string{
		"GET /a%zz HTTP/1.1\r\nHost: edge.example\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: edge.example\r\nno colon here\r\n\r\n",
	} {
		if resp, _ := send(raw); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: %d, want 400", raw, resp.StatusCode)
		}
	}
	// A request after a good one on the same connection is scanned too.
	c, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for i, want := range []int{http.StatusForbidden, http.StatusBadRequest} { // POST is not an allowed method
		io.WriteString(c, "POST /p HTTP/1.1\r\nHost: edge.example\r\nContent-Length: 2\r\n"+
			map[bool]string{true: "Transfer-Encoding: chunked\r\n"}[i == 1]+"\r\n"+map[bool]string{false: "ab", true: "0\r\n\r\n"}[i == 1])
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != want {
			t.Errorf("request %d on one connection: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
	for reason, want := range map[string]float64{"smuggling": 3, "malformed": 2} {
		if n := ts.Metric(t, e.reg, "tether_edge_bypass_total", map[string]string{"reason": reason}); n != want {
			t.Errorf("bypass, %s: %v, want %v", reason, n, want)
		}
	}
	if n := ts.Metric(t, e.reg, "tether_edge_requests_total", map[string]string{"result": "rejected"}); n != 6 {
		t.Errorf("rejected: %v, want 6", n)
	}
}

// TestFailedRevalidationCounted: a revalidation the origin fails, outside
// stale-if-error, is a request too: every request is counted once in
// tether_edge_requests_total, whatever its outcome.
func TestFailedRevalidationCounted(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	e.origin.set(answer(200, "v1", "Cache-Control: max-age=1"))
	e.get("/p")
	e.clk.Advance(5 * time.Second)
	e.origin.set(answer(503, "down"))
	if r := e.get("/p"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("revalidation failed outside stale-if-error: %d, want the origin's 503", r.status)
	} else {
		expect(t, "revalidation failed outside stale-if-error", r, "fwd=stale", "fwd-status=503", "stored=?0", "detail=status")
	}
	e.origin.Close()
	if r := e.get("/p"); r.status != http.StatusBadGateway {
		t.Fatalf("revalidation with the origin down: %d, want 502", r.status)
	}
	var total float64
	for _, result := range []string{"hit", "stale", "miss", "revalidated", "collapsed", "bypass", "rejected"} {
		total += ts.Metric(t, e.reg, "tether_edge_requests_total", map[string]string{"result": result})
	}
	if total != 3 {
		t.Errorf("requests counted: %v, want 3", total)
	}
}
