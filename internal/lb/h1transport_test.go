package lb

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/clock"
)

// newTestH1 returns an h1Transport on a fake clock, closed when the test
// ends.
func newTestH1(t *testing.T) (*h1Transport, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	tr := newH1Transport(newTransport(), clk)
	t.Cleanup(tr.CloseIdleConnections)
	return tr, clk
}

// connCounter counts the connections an httptest server accepts and
// closes, and can close those idling on the server's side.
type connCounter struct {
	opened, closed atomic.Int32
	mu             sync.Mutex
	idle           map[net.Conn]bool
}

func countedServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *connCounter) {
	t.Helper()
	cc := &connCounter{idle: map[net.Conn]bool{}}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		cc.mu.Lock()
		defer cc.mu.Unlock()
		delete(cc.idle, c)
		switch s {
		case http.StateNew:
			cc.opened.Add(1)
		case http.StateIdle:
			cc.idle[c] = true
		case http.StateClosed, http.StateHijacked:
			cc.closed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cc
}

// closeIdle waits for n connections idling on the server's side (the
// server marks one idle just after the client has its response) and
// closes them, as a server's keep-alive timeout does.
func (cc *connCounter) closeIdle(t *testing.T, n int) {
	t.Helper()
	waitUntil(t, "idle connections on the target", func() bool {
		cc.mu.Lock()
		defer cc.mu.Unlock()
		return len(cc.idle) == n
	})
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for c := range cc.idle {
		c.Close()
	}
}

// rawTarget hands every accepted connection to serve, on a goroutine of
// its own, and counts them: a target that misbehaves on purpose.
func rawTarget(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) (string, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	addr := serveRaw(t, func(c net.Conn, _ int) {
		n.Add(1)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		serve(c, bufio.NewReader(c))
	})
	return addr, &n
}

// serveRaw listens on a loopback port and runs serve for each connection
// (id counts them from 1), closing it after; at the end of the test it
// closes the listener and every connection and waits for serve to return.
// It returns the address.
func serveRaw(t testing.TB, serve func(c net.Conn, id int)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for id := 1; ; id++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c, id)
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends req and returns the status and the whole body.
func roundTrip(t *testing.T, rt http.RoundTripper, req *http.Request) (int, string) {
	t.Helper()
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return resp.StatusCode, string(b)
}

func newReq(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestH1KeepAliveReusesOneConnection(t *testing.T) {
	tr, _ := newTestH1(t)
	srv, cc := countedServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok "+r.URL.RawQuery) })
	for i := 0; i < 10; i++ {
		code, body := roundTrip(t, tr, newReq(t, "GET", fmt.Sprintf("%s/?n=%d", srv.URL, i), nil))
		if code != 200 || body != fmt.Sprintf("ok n=%d", i) {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	if n := cc.opened.Load(); n != 1 {
		t.Errorf("10 sequential requests opened %d connections, want 1", n)
	}
}

func TestH1PoolBound(t *testing.T) {
	tr, _ := newTestH1(t)
	tr.maxIdlePerHost = 2
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(5)
	srv, cc := countedServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-release
		io.WriteString(w, "ok")
	})
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			roundTrip(t, tr, newReq(t, "GET", srv.URL, nil))
		}()
	}
	arrived.Wait() // 5 connections at once
	close(release)
	wg.Wait()
	if n := tr.idle.Load(); n != 2 {
		t.Errorf("%d idle connections, want 2 (the bound)", n)
	}
	waitUntil(t, "3 connections closed", func() bool { return cc.closed.Load() == 3 })
}

// TestH1StaleConnection: a request on a pooled connection that the target
// dropped is sent again on a new one when net/http would: not a POST with
// a body, which the target may have acted on.
func TestH1StaleConnection(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		body     string
		dying    string // what the target does with the second request: "close" or "408"
		wantErr  bool
		wantReqs int32 // requests the target read
	}{
		{"GET, target closes after reading", "GET", "", "close", false, 3},
		{"GET, target sent 408 while idle", "GET", "", "408", false, 3},
		{"POST with a body is not replayed", "POST", "data", "close", true, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, _ := newTestH1(t)
			var reqs atomic.Int32
			addr, conns := rawTarget(t, func(c net.Conn, br *bufio.Reader) {
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					if reqs.Add(1) == 2 { // the first connection dies at its second request
						if tc.dying == "408" {
							io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
						}
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			})
			roundTrip(t, tr, newReq(t, "GET", "http://"+addr+"/", nil))
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req := newReq(t, tc.method, "http://"+addr+"/", body)
			req.GetBody = nil // as ReverseProxy sends it: the body cannot be rewound
			resp, err := tr.RoundTrip(req)
			if tc.wantErr != (err != nil) {
				t.Fatalf("second request: %v, %v; want error %v", resp, err, tc.wantErr)
			}
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != "ok" {
					t.Errorf("second request: %d %q", resp.StatusCode, b)
				}
			}
			if n := reqs.Load(); n != tc.wantReqs {
				t.Errorf("target read %d requests, want %d", n, tc.wantReqs)
			}
			if !tc.wantErr && conns.Load() != 2 {
				t.Errorf("%d connections, want 2", conns.Load())
			}
		})
	}
}

func TestH1TargetClosesIdleConnection(t *testing.T) {
	tr, _ := newTestH1(t)
	srv, cc := countedServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	roundTrip(t, tr, newReq(t, "GET", srv.URL, nil))
	cc.closeIdle(t, 1) // the target's keep-alive timeout
	waitUntil(t, "the target closed its side", func() bool { return cc.closed.Load() == 1 })
	if code, body := roundTrip(t, tr, newReq(t, "GET", srv.URL, nil)); code != 200 || body != "ok" {
		t.Fatalf("request after the target closed the idle connection: %d %q", code, body)
	}
	if n := cc.opened.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestH1Framing: how the response ends decides whether the connection is
// used again.
func TestH1Framing(t *testing.T) {
	tests := []struct {
		name, response string
		body           string
		reused         bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "hello", true},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n", "hello", true},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello", "hello", false},
		{"close-delimited", "HTTP/1.1 200 OK\r\n\r\nhello", "hello", false},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello", "hello", false},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello", "hello", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, _ := newTestH1(t)
			addr, conns := rawTarget(t, func(c net.Conn, br *bufio.Reader) {
				for {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					io.WriteString(c, tc.response)
					if !tc.reused {
						return
					}
				}
			})
			for i := 0; i < 2; i++ {
				if code, body := roundTrip(t, tr, newReq(t, "GET", "http://"+addr+"/", nil)); code != 200 || body != tc.body {
					t.Fatalf("request %d: %d %q", i, code, body)
				}
			}
			want := int32(2)
			if tc.reused {
				want = 1
			}
			if n := conns.Load(); n != want {
				t.Errorf("2 requests used %d connections, want %d", n, want)
			}
		})
	}
}

func TestH1ChunkedBodiesAndTrailers(t *testing.T) {
	tr, _ := newTestH1(t)
	srv, _ := countedServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Result")
		fmt.Fprintf(w, "got %q te=%v trailer=%q; ", b, r.TransferEncoding, r.Trailer.Get("X-Sum"))
		w.(http.Flusher).Flush()
		io.WriteString(w, "second chunk")
		w.Header().Set("X-Result", "done")
	})
	pr, pw := io.Pipe()
	go func() {
		io.WriteString(pw, "hello ")
		io.WriteString(pw, "world")
		pw.Close()
	}()
	req := newReq(t, "POST", srv.URL, pr)
	req.Trailer = http.Header{"X-Sum": {"42"}}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if want := `got "hello world" te=[chunked] trailer="42"; second chunk`; string(b) != want {
		t.Errorf("body %q, want %q", b, want)
	}
	if len(resp.TransferEncoding) != 1 || resp.Trailer.Get("X-Result") != "done" {
		t.Errorf("response: transfer-encoding %v, trailer %v", resp.TransferEncoding, resp.Trailer)
	}
}

// TestH1StreamsLargeBodies: 20 MiB each way. The upload is a stream the
// target must start reading before its end exists, so a transport that
// buffered the body would hang.
func TestH1StreamsLargeBodies(t *testing.T) {
	const size = 20 << 20
	tr, _ := newTestH1(t)
	firstMiB := make(chan struct{})
	srv, _ := countedServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			w.Header().Set("Content-Length", fmt.Sprint(size))
			io.Copy(w, io.LimitReader(pattern{}, size))
			return
		}
		h := crc32.NewIEEE()
		n, _ := io.CopyN(h, r.Body, 1<<20)
		close(firstMiB)
		m, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %08x", n+m, h.Sum32())
	})
	pr, pw := io.Pipe()
	go func() {
		io.Copy(pw, io.LimitReader(pattern{}, 1<<20))
		select {
		case <-firstMiB:
			io.Copy(pw, io.LimitReader(pattern{}, size-1<<20))
			pw.Close()
		case <-time.After(5 * time.Second):
			pw.CloseWithError(errors.New("the target never saw the first MiB: the body was buffered"))
		}
	}()
	want := crc32.NewIEEE()
	io.Copy(want, io.LimitReader(pattern{}, 1<<20))
	io.Copy(want, io.LimitReader(pattern{}, size-1<<20))
	req := newReq(t, "PUT", srv.URL, pr)
	req.ContentLength = size
	if code, body := roundTrip(t, tr, req); code != 200 || body != fmt.Sprintf("%d %08x", size, want.Sum32()) {
		t.Errorf("upload: %d %q", code, body)
	}
	resp, err := tr.RoundTrip(newReq(t, "GET", srv.URL, nil))
	if err != nil {
		t.Fatal(err)
	}
	got := crc32.NewIEEE()
	n, err := io.Copy(got, resp.Body)
	resp.Body.Close()
	ref := crc32.NewIEEE()
	io.Copy(ref, io.LimitReader(pattern{}, size))
	if err != nil || n != size || got.Sum32() != ref.Sum32() {
		t.Errorf("download: %d bytes, %v, checksum match %v", n, err, got.Sum32() == ref.Sum32())
	}
}

// pattern is an endless stream of bytes that depend on their position.
type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i * 7)
	}
	return len(p), nil
}

// Releases says which requests the lean transport sends itself: only
// those may be reused once their response's body is closed.
func TestTransportReleases(t *testing.T) {
	tr := NewTransport(clock.Real{})
	defer tr.CloseIdleConnections()
	get := func(url string) *http.Request {
		r, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	post, _ := http.NewRequest("POST", "http://127.0.0.1:9/", strings.NewReader("x"))
	upgrade := get("http://127.0.0.1:9/")
	upgrade.Header.Set("Upgrade", "websocket")
	for _, c := range []struct {
		name string
		req  *http.Request
		want bool
	}{
		{"GET over http", get("http://127.0.0.1:9/a?b=c"), true},
		{"GET over https (net/http's transport)", get("https://127.0.0.1:9/"), false},
		{"POST with a body", post, false},
		{"Upgrade (net/http's transport)", upgrade, false},
	} {
		if got := tr.Releases(c.req); got != c.want {
			t.Errorf("%s: Releases = %v, want %v", c.name, got, c.want)
		}
	}
}

// RoundTripHeader reads a response's header into the caller's map,
// cleared first, when it reads the response itself; a response it leaves
// to net/http's reader (chunked here) gets a header of its own.
func TestRoundTripHeader(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Answer", r.URL.Path)
		if r.URL.Path == "/chunked" {
			w.Header().Set("Transfer-Encoding", "chunked")
		}
		io.WriteString(w, "body")
	}))
	defer srv.Close()
	tr, _ := newTestH1(t)
	h := http.Header{"X-Stale": {"from an earlier response"}}
	for _, c := range []struct {
		path string
		into bool // the response's header is h
	}{{"/quick", true}, {"/chunked", false}} {
		req, _ := http.NewRequest("GET", srv.URL+c.path, nil)
		resp, err := tr.RoundTripHeader(req.Context(), req, h)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "body" || resp.Header.Get("X-Answer") != c.path {
			t.Errorf("%s: body %q, X-Answer %q", c.path, b, resp.Header.Get("X-Answer"))
		}
		if got := len(resp.Header) > 0 && len(h) > 0 && h.Get("X-Answer") == c.path; got != c.into {
			t.Errorf("%s: header read into the caller's map: %v, want %v (map %v)", c.path, got, c.into, h)
		}
		if h.Get("X-Stale") != "" {
			t.Errorf("%s: the caller's map kept a field of before: %v", c.path, h)
		}
	}
}
