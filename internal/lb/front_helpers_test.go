package lb_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/lb"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// orderProbe is two header fields out of alphabetical order.
const orderProbe = "X-Zeta: z\r\nX-Alpha: a\r\n"

// viaFront reports whether a request head a target received kept
// orderProbe's order, which only the front does.
func viaFront(head string) bool {
	z, a := strings.Index(head, "\nX-Zeta: z\r\n"), strings.Index(head, "\nX-Alpha: a\r\n")
	return z >= 0 && a >= 0 && z < a
}

// frontYAML is groupYAML for one target at addr without health checks
// (raw targets answer only what a test scripts) and with listener keys
// extra (", key: value") instead of trusted_proxies.
func frontYAML(addr, extra string) string {
	y := groupYAML([]*ts.Target{{ID: "t1", Addr: addr}}, "")
	y = strings.Replace(y, "health_check: {path: /healthz,", "health_check: {enabled: false, path: /healthz,", 1)
	return strings.Replace(y, ", trusted_proxies: [10.0.0.0/8]", extra, 1)
}

// rawRequest is one request a rawTarget read.
type rawRequest struct {
	Conn int    // the connection it came on, from 1 in accept order
	N    int    // its place on that connection, from 1
	Head string // request line and header fields, as received
	Body string // the body, de-chunked
}

// Path returns the request target.
func (r rawRequest) Path() string {
	line, _, _ := strings.Cut(r.Head, "\r\n")
	parts := strings.Split(line, " ")
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// Header returns the request's header fields.
func (r rawRequest) Header(t *testing.T) http.Header {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(r.Head)))
	if err != nil {
		t.Fatalf("target got a head net/http cannot read: %v\n%s", err, r.Head)
	}
	return req.Header
}

// rawTarget is a target that writes what its respond function scripts,
// byte for byte, and records the requests it reads. respond returns
// whether to read the next request on the connection; false closes it.
type rawTarget struct {
	Addr string

	mu   sync.Mutex
	reqs []rawRequest
}

func newRawTarget(t *testing.T, respond func(req rawRequest, c net.Conn, w *bufio.Writer) bool) *rawTarget {
	t.Helper()
	rt := &rawTarget{}
	rt.Addr = lb.ServeRaw(t, func(c net.Conn, id int) { rt.serveConn(c, id, respond) })
	return rt
}

func (rt *rawTarget) serveConn(c net.Conn, id int, respond func(rawRequest, net.Conn, *bufio.Writer) bool) {
	br, bw := bufio.NewReader(c), bufio.NewWriter(c)
	for n := 1; ; n++ {
		req, err := readRawRequest(br)
		if err != nil {
			return
		}
		req.Conn, req.N = id, n
		rt.mu.Lock()
		rt.reqs = append(rt.reqs, req)
		rt.mu.Unlock()
		keep := respond(req, c, bw)
		if bw.Flush() != nil || !keep {
			return
		}
	}
}

// requests returns the requests read so far.
func (rt *rawTarget) requests() []rawRequest {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]rawRequest(nil), rt.reqs...)
}

// request returns the first request for path, failing the test if there
// is none.
func (rt *rawTarget) request(t *testing.T, path string) rawRequest {
	t.Helper()
	for _, r := range rt.requests() {
		if r.Path() == path {
			return r
		}
	}
	t.Fatalf("the target got no request for %s", path)
	return rawRequest{}
}

// readRawRequest reads one request: its head as sent and its body
// (Content-Length or chunked).
func readRawRequest(br *bufio.Reader) (rawRequest, error) {
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return rawRequest{}, err
		}
		head.WriteString(line)
		if line == "\r\n" || line == "\n" {
			break
		}
	}
	req := rawRequest{Head: head.String()}
	h := req.fields()
	switch {
	case strings.EqualFold(h["transfer-encoding"], "chunked"):
		body, err := io.ReadAll(httputil.NewChunkedReader(br))
		if err != nil {
			return req, err
		}
		for { // trailer section
			line, err := br.ReadString('\n')
			if err != nil {
				return req, err
			}
			if line == "\r\n" {
				break
			}
		}
		req.Body = string(body)
	case h["content-length"] != "":
		n, err := strconv.Atoi(h["content-length"])
		if err != nil {
			return req, err
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			return req, err
		}
		req.Body = string(body)
	}
	return req, nil
}

// fields returns the head's fields by lower-case name (the last value).
func (r rawRequest) fields() map[string]string {
	h := map[string]string{}
	for _, line := range strings.Split(r.Head, "\n")[1:] {
		if k, v, ok := strings.Cut(line, ":"); ok {
			h[strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
	return h
}

// okResponse is a keep-alive 200 with body.
func okResponse(body string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// echoPath answers each request with 200 and its path, and a POST with
// "got " and its body.
func echoPath(req rawRequest, _ net.Conn, w *bufio.Writer) bool {
	if strings.HasPrefix(req.Head, "POST ") {
		w.WriteString(okResponse("got " + req.Body))
		return true
	}
	w.WriteString(okResponse(req.Path()))
	return true
}

// rawClient is one client connection to tether on which a test writes
// exact bytes.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, l *ts.LB) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(l.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatalf("writing to tether: %v", err)
	}
}

// readHead reads the head of one response to a request with method.
func (rc *rawClient) readHead(method string) *http.Response {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("reading the response to %s: %v", method, err)
	}
	return resp
}

// read reads one response to a request with method, and its whole body.
func (rc *rawClient) read(method string) (*http.Response, string) {
	rc.t.Helper()
	resp := rc.readHead(method)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatalf("reading the body of the response to %s: %v", method, err)
	}
	return resp, string(b)
}

// readOK reads the response to a GET and fails the test unless it is a
// 200 with body want.
func (rc *rawClient) readOK(want string) {
	rc.t.Helper()
	if resp, body := rc.read("GET"); resp.StatusCode != http.StatusOK || body != want {
		rc.t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, want)
	}
}

// readLast reads a response that must be a 200 with body want and
// Connection: close, after which tether must close the connection.
func (rc *rawClient) readLast(want string) {
	rc.t.Helper()
	resp, body := rc.read("GET")
	if resp.StatusCode != http.StatusOK || body != want {
		rc.t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, want)
	}
	if !resp.Close {
		rc.t.Errorf("the response has no Connection: close: %v", resp.Header)
	}
	if !rc.closed() {
		rc.t.Error("the connection stayed open after its Connection: close response")
	}
}

// checkGracefulShutdown shuts a server down gracefully with one idle and
// one busy keep-alive connection, which dial opens; get builds a GET for a
// path. The server answers a GET with its path; GET /slow closes arrived
// when it gets there and answers once release is called. The idle
// connection must close at once, shutdown must wait for the busy request,
// which must finish with Connection: close, and return nil.
func checkGracefulShutdown(t *testing.T, dial func() *rawClient, get func(string) string,
	arrived <-chan struct{}, release func(), shutdown func() error) {
	t.Helper()
	idle := dial()
	idle.send(get("/idle"))
	idle.readOK("/idle")
	busy := dial()
	busy.send(get("/slow"))
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow request never reached the server")
	}

	done := make(chan error, 1)
	go func() { done <- shutdown() }()
	if !idle.closed() {
		t.Error("the idle keep-alive connection was not closed on shutdown")
	}
	select {
	case err := <-done:
		t.Fatalf("shutdown returned (%v) with a request in flight", err)
	default:
	}
	release()
	busy.readLast("/slow") // the request in flight finishes, then the connection closes
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// closed reports whether tether closed the connection (the next read
// ends with EOF or a reset) before the deadline.
func (rc *rawClient) closed() bool {
	rc.t.Helper()
	_, err := rc.br.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

// get1 is a GET for path with orderProbe.
func get1(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: app.example\r\n" + orderProbe + "\r\n"
}
