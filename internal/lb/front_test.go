package lb_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ts "github.com/tetherlb/tether/internal/testsupport"
)

// These tests run against the front, the HTTP/1.1 loop of plain-HTTP
// listeners (front.go), over real loopback connections. They live in
// lb_test, not lb: testsupport imports lb, so an internal test could not
// use StartLB.
//
// Which loop served a request shows at the target: the front passes the
// client's header fields on in their order, net/http's path (ReverseProxy
// and h1Transport) sorts them. Raw clients send orderProbe, and
// viaFront tells the two apart, so that a test about the front fails
// loudly if its request went to net/http instead.

// TestFrontHandsOffMidConnection: on one keep-alive connection, a GET the
// front serves, then a POST with a body (net/http's), then another GET:
// every answer is right and the body reaches the target intact.
func TestFrontHandsOffMidConnection(t *testing.T) {
	rt := newRawTarget(t, echoPath)
	l := ts.StartLB(t, frontYAML(rt.Addr, ""))
	rc := dialRaw(t, l)

	rc.send(get1("/one"))
	rc.readOK("/one")
	rc.send("POST /upload HTTP/1.1\r\nHost: app.example\r\n" + orderProbe + "Content-Length: 5\r\n\r\nhello")
	if resp, body := rc.read("POST"); resp.StatusCode != 200 || body != "got hello" {
		t.Fatalf("POST /upload: %d %q", resp.StatusCode, body)
	}
	rc.send(get1("/three"))
	rc.readOK("/three")

	if r := rt.request(t, "/one"); !viaFront(r.Head) {
		t.Errorf("GET /one was not served by the front:\n%s", r.Head)
	}
	post := rt.request(t, "/upload")
	if viaFront(post.Head) {
		t.Errorf("POST with a body was served by the front, want net/http:\n%s", post.Head)
	}
	if post.Body != "hello" {
		t.Errorf("target got POST body %q, want %q", post.Body, "hello")
	}
}

// TestFrontPipelining: three GETs in one write get three responses, in
// order.
func TestFrontPipelining(t *testing.T) {
	rt := newRawTarget(t, echoPath)
	l := ts.StartLB(t, frontYAML(rt.Addr, ""))
	rc := dialRaw(t, l)
	rc.send(get1("/p1") + get1("/p2") + get1("/p3"))
	for _, want := range []string{"/p1", "/p2", "/p3"} {
		rc.readOK(want)
	}
	for _, r := range rt.requests() {
		if !viaFront(r.Head) {
			t.Errorf("pipelined %s was not served by the front:\n%s", r.Path(), r.Head)
		}
	}
}

// framingCases are target responses the front relays, by request path.
var framingCases = map[string]string{
	"/length":  okResponse("hello world"),
	"/chunked": "HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n",
	"/close":   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello world", // then the target closes
	"/head":    "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n",
	"/204":     "HTTP/1.1 204 No Content\r\nX-Kind: none\r\n\r\n",
	"/304":     "HTTP/1.1 304 Not Modified\r\nEtag: \"v1\"\r\n\r\n",
	"/103":     "HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n" + okResponse("hello world"),
	"/101":     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
}

func framingTarget(req rawRequest, _ net.Conn, w *bufio.Writer) bool {
	resp, ok := framingCases[req.Path()]
	if !ok {
		resp = okResponse("next")
	}
	w.WriteString(resp)
	return req.Path() != "/close" && req.Path() != "/101"
}

// TestFrontResponseFraming: each way a target frames its response reaches
// the client complete and well framed, and the connection serves a next
// request.
func TestFrontResponseFraming(t *testing.T) {
	rt := newRawTarget(t, framingTarget)
	l := ts.StartLB(t, frontYAML(rt.Addr, ""))
	tests := []struct {
		name   string
		method string
		path   string
		check  func(t *testing.T, rc *rawClient)
	}{
		{"content-length", "GET", "/length", func(t *testing.T, rc *rawClient) {
			resp, body := rc.read("GET")
			if resp.StatusCode != 200 || resp.ContentLength != 11 || body != "hello world" {
				t.Errorf("got %d, length %d, %q", resp.StatusCode, resp.ContentLength, body)
			}
		}},
		{"chunked with trailer", "GET", "/chunked", func(t *testing.T, rc *rawClient) {
			resp, body := rc.read("GET")
			if resp.StatusCode != 200 || body != "hello world" {
				t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, "hello world")
			}
			if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
				t.Errorf("Transfer-Encoding %v, want chunked", resp.TransferEncoding)
			}
			if got := resp.Trailer.Get("X-Sum"); got != "42" {
				t.Errorf("trailer X-Sum = %q, want 42", got)
			}
		}},
		{"close-delimited, re-chunked", "GET", "/close", func(t *testing.T, rc *rawClient) {
			resp, body := rc.read("GET")
			if resp.StatusCode != 200 || body != "hello world" {
				t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, "hello world")
			}
			if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
				t.Errorf("Transfer-Encoding %v, want chunked (the client connection stays open)", resp.TransferEncoding)
			}
		}},
		{"HEAD", "HEAD", "/head", func(t *testing.T, rc *rawClient) {
			resp, body := rc.read("HEAD")
			if resp.StatusCode != 200 || resp.ContentLength != 11 || body != "" {
				t.Errorf("got %d, length %d, %q; want 200, the target's length 11, no body", resp.StatusCode, resp.ContentLength, body)
			}
		}},
		{"204", "GET", "/204", func(t *testing.T, rc *rawClient) {
			resp, body := rc.read("GET")
			if resp.StatusCode != 204 || body != "" || resp.Header.Get("X-Kind") != "none" {
				t.Errorf("got %d %q %v", resp.StatusCode, body, resp.Header)
			}
			if resp.Header.Get("Content-Length") != "" || resp.TransferEncoding != nil {
				t.Errorf("204 with framing: %v %v", resp.Header, resp.TransferEncoding)
			}
		}},
		{"304", "GET", "/304", func(t *testing.T, rc *rawClient) {
			resp, body := rc.read("GET")
			if resp.StatusCode != 304 || body != "" || resp.Header.Get("Etag") != `"v1"` {
				t.Errorf("got %d %q %v", resp.StatusCode, body, resp.Header)
			}
			if resp.TransferEncoding != nil {
				t.Errorf("304 with Transfer-Encoding %v", resp.TransferEncoding)
			}
		}},
		{"103 Early Hints", "GET", "/103", func(t *testing.T, rc *rawClient) {
			hints, _ := rc.read("GET")
			if hints.StatusCode != 103 || hints.Header.Get("Link") != "</app.css>; rel=preload" {
				t.Errorf("first response %d %v, want 103 with the Link", hints.StatusCode, hints.Header)
			}
			resp, body := rc.read("GET")
			if resp.StatusCode != 200 || body != "hello world" {
				t.Errorf("after the hints: %d %q", resp.StatusCode, body)
			}
		}},
		{"101 to a request without Upgrade", "GET", "/101", func(t *testing.T, rc *rawClient) {
			resp, _ := rc.read("GET")
			if resp.StatusCode != http.StatusBadGateway {
				t.Errorf("got %d, want 502", resp.StatusCode)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, l)
			rc.send(tc.method + " " + tc.path + " HTTP/1.1\r\nHost: app.example\r\n" + orderProbe + "\r\n")
			tc.check(t, rc)
			rc.send(get1("/next"))
			if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "next" {
				t.Errorf("next request on the connection: %d %q", resp.StatusCode, body)
			}
			if r := rt.request(t, tc.path); !viaFront(r.Head) {
				t.Errorf("%s was not served by the front:\n%s", tc.path, r.Head)
			}
		})
	}
	t.Run("trailer through net/http's client", func(t *testing.T) {
		resp, err := plainClient().Get(l.URL + "/chunked")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || string(b) != "hello world" {
			t.Fatalf("body %q, %v", b, err)
		}
		if got := resp.Trailer.Get("X-Sum"); got != "42" {
			t.Errorf("trailer X-Sum = %q, want 42", got)
		}
	})
}

// recordingListener records the bytes read on each of its connections.
type recordingListener struct {
	net.Listener
	mu   sync.Mutex
	seen []*strings.Builder
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := &strings.Builder{}
	l.seen = append(l.seen, b)
	return &recordingConn{Conn: c, l: l, b: b}, nil
}

// read returns everything read so far, all connections together.
func (l *recordingListener) read() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var all strings.Builder
	for _, b := range l.seen {
		all.WriteString(b.String())
	}
	return all.String()
}

type recordingConn struct {
	net.Conn
	l *recordingListener
	b *strings.Builder
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.mu.Lock()
	c.b.Write(p[:n])
	c.l.mu.Unlock()
	return n, err
}

// TestFrontClientAbortCancelsTarget: a client that leaves while the target
// works makes tether close the target connection, so the target's request
// context ends, and the exchange counts as canceled. A quick request goes
// first on the same connection, 100 ms before: the watch's timer, still
// running for it, must wait again for the slow one.
func TestFrontClientAbortCancelsTarget(t *testing.T) {
	started, canceled := make(chan struct{}), make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/quick" {
			io.WriteString(w, "quick")
			return
		}
		close(started)
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(5 * time.Second):
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingListener{Listener: ln}
	go srv.Serve(rec)
	t.Cleanup(func() { srv.Close() })
	l := ts.StartLB(t, frontYAML(ln.Addr().String(), ""))
	canceledMetric := func() float64 {
		return ts.Metric(t, l.Registry(), "tether_proxy_errors_total", map[string]string{"group": "app", "kind": "canceled"})
	}
	before := canceledMetric()

	rc := dialRaw(t, l)
	rc.send(get1("/quick"))
	rc.readOK("quick")
	time.Sleep(100 * time.Millisecond)
	rc.send(get1("/slow"))
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the target")
	}
	time.Sleep(50 * time.Millisecond)
	rc.c.Close()
	select {
	case <-canceled:
	case <-time.After(3 * time.Second):
		t.Fatal("the target's request was not canceled after the client left")
	}
	ts.WaitFor(t, "the canceled exchange counted", func() bool { return canceledMetric() == before+1 })
	if !viaFront(rec.read()) {
		t.Errorf("the request was not served by the front:\n%s", rec.read())
	}
}

// TestFrontRetriesStalePooledConnection: a target that closes its side of
// an idle keep-alive connection does not cost the next GET its answer: the
// request goes again on a new connection.
func TestFrontRetriesStalePooledConnection(t *testing.T) {
	rt := newRawTarget(t, func(req rawRequest, c net.Conn, w *bufio.Writer) bool {
		if req.Conn == 1 && req.N == 2 {
			return false // on the connection the target gave up: no answer
		}
		w.WriteString(okResponse(req.Path())) // keep-alive, as far as tether can tell
		if req.Conn == 1 {
			w.Flush()
			c.(*net.TCPConn).CloseWrite() // then the target leaves
		}
		return true
	})
	l := ts.StartLB(t, frontYAML(rt.Addr, ""))
	rc := dialRaw(t, l)
	for _, path := range []string{"/first", "/second"} {
		rc.send(get1(path))
		rc.readOK(path)
	}
	var onDead, onNew bool
	for _, r := range rt.requests() {
		if r.Path() != "/second" {
			continue
		}
		onDead = onDead || r.Conn == 1
		onNew = onNew || r.Conn > 1
		if !viaFront(r.Head) {
			t.Errorf("GET /second was not served by the front:\n%s", r.Head)
		}
	}
	if !onDead || !onNew {
		t.Errorf("GET /second on the stale connection: %v, again on a new one: %v; want both (%d requests)", onDead, onNew, len(rt.requests()))
	}
}

// TestFrontHandsOffOddRequests: what the front does not serve itself,
// net/http answers as it would without the front, and counts what it
// rejects.
func TestFrontHandsOffOddRequests(t *testing.T) {
	tg := ts.NewTarget(t, "t1")
	y := strings.Replace(groupYAML([]*ts.Target{tg}, ""), ", trusted_proxies: [10.0.0.0/8]", ", max_header_bytes: 4096", 1)
	l := ts.StartLB(t, y)
	waitHealthy(t, l, 1)
	noProxyErrors := func(t *testing.T) {
		if n := ts.Metric(t, l.Registry(), "tether_proxy_errors_total", nil); n != 0 {
			t.Errorf("tether_proxy_errors_total = %v, want 0: the client's body is not the target's failure", n)
		}
	}
	tests := []struct {
		name     string
		request  string
		method   string
		want     int
		body     string // want, when status is 200
		rejected string // the reason label counted, or "" for none
		check    func(t *testing.T)
	}{
		{name: "bare LF line ends", request: "GET /lf HTTP/1.1\nHost: app.example\n\n", want: 200, body: "t1"},
		{name: "obsolete line folding", request: "GET /fold HTTP/1.1\r\nHost: app.example\r\nX-Fold: a\r\n  b\r\n\r\n", want: 200, body: "t1",
			check: func(t *testing.T) {
				if got := tg.LastRequest().Header.Get("X-Fold"); got != "a b" {
					t.Errorf("target got X-Fold %q, want the folded value %q", got, "a b")
				}
			}},
		{name: "head over 64 KiB", request: "GET /big HTTP/1.1\r\nHost: app.example\r\nX-Big: " + strings.Repeat("b", 66<<10) + "\r\n\r\n",
			want: http.StatusRequestHeaderFieldsTooLarge, rejected: "malformed"},
		{name: "Content-Length and Transfer-Encoding", request: "POST /upload HTTP/1.1\r\nHost: app.example\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			method: "POST", want: http.StatusBadRequest, rejected: "content_length_and_transfer_encoding"},
		{name: "HTTP/1.0", request: "GET /old HTTP/1.0\r\nHost: app.example\r\n\r\n", want: 200, body: "t1"},
		// net/http drops Transfer-Encoding on HTTP/1.0 and would read the
		// chunked body as the next request (RFC 9112 §6.1: faulty framing).
		{name: "Transfer-Encoding on HTTP/1.0", request: "GET /old HTTP/1.0\r\nHost: app.example\r\nConnection: keep-alive\r\n" +
			"Transfer-Encoding: chunked\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: app.example\r\n\r\n",
			want: http.StatusBadRequest, rejected: "transfer_encoding_http10",
			check: func(t *testing.T) {
				if r := tg.LastRequest(); r != nil && r.URL.Path == "/smuggled" {
					t.Error("the body of an HTTP/1.0 request with Transfer-Encoding reached the target as a request")
				}
			}},
		// The client's body, not the target, is at fault: a 400, and no
		// proxy error counted against the target.
		{name: "malformed chunk size", request: "POST /upload HTTP/1.1\r\nHost: app.example\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
			method: "POST", want: http.StatusBadRequest, rejected: "request_body", check: noProxyErrors},
		{name: "chunk longer than its size", request: "POST /upload HTTP/1.1\r\nHost: app.example\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n",
			method: "POST", want: http.StatusBadRequest, rejected: "request_body", check: noProxyErrors},
	}
	rejected := func(code int, reason string) float64 {
		return ts.Metric(t, l.Registry(), "tether_http_rejected_total",
			map[string]string{"listener": "web", "code": strconv.Itoa(code), "reason": reason})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			allBefore := ts.Metric(t, l.Registry(), "tether_http_rejected_total", nil)
			before := rejected(tc.want, tc.rejected)
			rc := dialRaw(t, l)
			go io.WriteString(rc.c, tc.request) // a large head may not fit the socket buffers
			method := tc.method
			if method == "" {
				method = "GET"
			}
			if tc.want != 200 {
				// Only the status: net/http closes the connection on
				// the client's unread bytes, which may reset it before
				// the body of its answer is read.
				if resp := rc.readHead(method); resp.StatusCode != tc.want {
					t.Fatalf("got %d, want %d", resp.StatusCode, tc.want)
				}
			} else if resp, body := rc.read(method); resp.StatusCode != tc.want || body != tc.body {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tc.want, tc.body)
			}
			if tc.rejected != "" {
				ts.WaitFor(t, "the rejection counted", func() bool { return rejected(tc.want, tc.rejected) == before+1 })
			} else if got := ts.Metric(t, l.Registry(), "tether_http_rejected_total", nil); got != allBefore {
				t.Errorf("rejections counted: %v, want none", got-allBefore)
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
}

// TestFrontEnforcesMaxHeaderBytes: a head larger than the listener's
// max_header_bytes gets 431 (the config's documented contract, and what
// net/http answers), whichever loop reads it. A regression test: the front
// once read and proxied heads of up to 64 KiB whatever the setting.
func TestFrontEnforcesMaxHeaderBytes(t *testing.T) {
	tests := []struct {
		name  string
		extra string // listener keys
		size  int    // of the one big field's value
	}{
		// net/http allows 4096 bytes over max_header_bytes: sizes well past both.
		{"max_header_bytes 4096, 20 KiB head", ", max_header_bytes: 4096", 20 << 10},
		{"default 32 KiB, 48 KiB head", "", 48 << 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := newRawTarget(t, echoPath)
			l := ts.StartLB(t, frontYAML(rt.Addr, tc.extra))
			rc := dialRaw(t, l)
			go io.WriteString(rc.c, "GET /big HTTP/1.1\r\nHost: app.example\r\n"+orderProbe+"X-Big: "+strings.Repeat("b", tc.size)+"\r\n\r\n")
			if resp := rc.readHead("GET"); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				served := ""
				for _, r := range rt.requests() {
					if viaFront(r.Head) {
						served = ", the front proxied it"
					}
				}
				t.Errorf("got %d%s; want 431", resp.StatusCode, served)
			}
		})
	}
}

// TestFrontRelaysAsNetHTTP: target responses at the edges of the syntax
// reach the client through the front as they do through net/http's path
// (the same request with a percent escape, which the front hands off).
func TestFrontRelaysAsNetHTTP(t *testing.T) {
	tests := []struct {
		name     string
		response string // the target's, after which it closes the connection
		want     int
		body     string
	}{
		{"folded field", "HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 2\r\n\r\nok", 200, "ok"},
		{"bare LF head", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 200, "ok"},
		{"status above 599", "HTTP/1.1 999 Odd\r\nContent-Length: 2\r\n\r\nok", 999, "ok"},
		{"bare LF head, CRLF CRLF in the body", "HTTP/1.1 200 OK\nContent-Type: text/plain\n\nline 1\r\n\r\nline 3\r\n", 200, "line 1\r\n\r\nline 3\r\n"},
		{"folded field hiding a CR", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\rSet-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nok", 502, ""},
		{"103 with a bad Content-Length", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\nContent-Length: A\r\n\r\n" + okResponse("ok"), 502, ""},
		{"version HTTP/1.A", "HTTP/1.A 200 OK\r\nContent-Length: 2\r\n\r\nok", 502, ""},
	}
	rt := newRawTarget(t, func(req rawRequest, _ net.Conn, w *bufio.Writer) bool {
		_, query, _ := strings.Cut(req.Path(), "?")
		i, _ := strconv.Atoi(strings.TrimPrefix(strings.Split(query, "&")[0], "case="))
		w.WriteString(tests[i].response)
		return false
	})
	l := ts.StartLB(t, frontYAML(rt.Addr, ""))
	for i, tc := range tests {
		for _, path := range []struct{ name, query string }{
			{"front", fmt.Sprintf("case=%d", i)},
			{"net/http", fmt.Sprintf("case=%d&escaped=%%41", i)},
		} {
			t.Run(tc.name+"/"+path.name, func(t *testing.T) {
				rc := dialRaw(t, l)
				rc.send("GET /edge?" + path.query + " HTTP/1.1\r\nHost: app.example\r\n" + orderProbe + "\r\n")
				code, body, err := rc.answer()
				if err != nil {
					t.Fatalf("the client could not read the answer: %v", err)
				}
				if code != tc.want || tc.want == 200 && body != tc.body {
					t.Errorf("got %d %q, want %d %q", code, body, tc.want, tc.body)
				}
				r := rt.request(t, "/edge?"+path.query)
				if viaFront(r.Head) != (path.name == "front") {
					t.Errorf("served by the front: %v, want %v", viaFront(r.Head), path.name == "front")
				}
			})
		}
	}
}

// answer reads responses up to the final one (past any 1xx) and returns
// its status and body, or the error that stopped the client.
func (rc *rawClient) answer() (int, string, error) {
	for {
		resp, err := http.ReadResponse(rc.br, &http.Request{Method: "GET"})
		if err != nil {
			return 0, "", err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 {
			continue
		}
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
}

// TestFrontPipelinedResponseNotHeldBack: the response to a pipelined
// request reaches the client when it is ready, not only once the next
// pipelined request has its response too (net/http flushes each), be it a
// target's response or tether's own (502 for a target that answers a GET
// with 101).
func TestFrontPipelinedResponseNotHeldBack(t *testing.T) {
	tests := []struct{ name, first, want string }{
		{"relayed response", "/fast", "200 /fast"},
		{"tether's own 502", "/bad", "502 502 Bad Gateway\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			rt := newRawTarget(t, func(req rawRequest, c net.Conn, w *bufio.Writer) bool {
				switch req.Path() {
				case "/wait":
					select { // a long poll: until the client has its first answer
					case <-release:
					case <-time.After(3 * time.Second):
					}
				case "/bad":
					w.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
					return false
				}
				return echoPath(req, c, w)
			})
			l := ts.StartLB(t, frontYAML(rt.Addr, ""))
			var once sync.Once
			done := func() { once.Do(func() { close(release) }) }
			t.Cleanup(done)
			rc := dialRaw(t, l)
			rc.send(get1(tc.first) + get1("/wait"))
			rc.c.SetReadDeadline(time.Now().Add(time.Second))
			resp, err := http.ReadResponse(rc.br, nil)
			if err != nil {
				t.Fatalf("the response to %s did not arrive while /wait was pending: %v", tc.first, err)
			}
			b, err := io.ReadAll(resp.Body)
			if got := fmt.Sprintf("%d %s", resp.StatusCode, b); err != nil || got != tc.want {
				t.Fatalf("%s: %q %v, want %q", tc.first, got, err, tc.want)
			}
			done()
			rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "/wait" {
				t.Errorf("/wait: %d %q", resp.StatusCode, body)
			}
		})
	}
}

// TestFrontHopByHopAndForwarded: on the front's path the target gets no
// hop-by-hop field, nor those the client's Connection names, and
// X-Forwarded-For is tether's alone from an untrusted peer; the client's
// "Connection: close" closes the connection after the response.
func TestFrontHopByHopAndForwarded(t *testing.T) {
	rt := newRawTarget(t, echoPath)
	l := ts.StartLB(t, frontYAML(rt.Addr, ""))
	rc := dialRaw(t, l)
	rc.send("GET /hop HTTP/1.1\r\nHost: app.example\r\n" + orderProbe +
		"Connection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: x\r\nX-Forwarded-For: 6.6.6.6\r\nX-Kept: yes\r\n\r\n")
	rc.readLast("/hop")
	r := rt.request(t, "/hop")
	if !viaFront(r.Head) {
		t.Errorf("the request was not served by the front:\n%s", r.Head)
	}
	h := r.Header(t)
	for _, k := range []string{"X-Secret", "Keep-Alive", "Connection"} {
		if v, ok := h[k]; ok {
			t.Errorf("target got %s: %q", k, v)
		}
	}
	if got := h.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("target got X-Forwarded-For %q, want only 127.0.0.1", got)
	}
	if got := h.Get("X-Kept"); got != "yes" {
		t.Errorf("target got X-Kept %q, want the end-to-end field passed on", got)
	}
}

// TestFrontGracefulShutdown: Close lets a request in flight on the front
// finish, with Connection: close, and closes an idle keep-alive
// connection.
func TestFrontGracefulShutdown(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	rt := newRawTarget(t, func(req rawRequest, c net.Conn, w *bufio.Writer) bool {
		if req.Path() == "/slow" {
			close(arrived)
			<-release
		}
		return echoPath(req, c, w)
	})
	unblock := sync.OnceFunc(func() { close(release) })
	t.Cleanup(unblock)
	l := ts.StartLB(t, frontYAML(rt.Addr, ""))
	checkGracefulShutdown(t, func() *rawClient { return dialRaw(t, l) }, get1, arrived, unblock, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return l.Close(ctx)
	})
	if r := rt.request(t, "/slow"); !viaFront(r.Head) {
		t.Errorf("the slow request was not served by the front:\n%s", r.Head)
	}
}
