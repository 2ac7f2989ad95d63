package lb_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	ts "github.com/tetherlb/tether/internal/testsupport"
)

// A target that dies in the middle of a body: the client gets the bytes
// that came and an error, never a body that looks whole, whether the body
// had a Content-Length or was chunked.
func TestTargetBodyCutShort(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/length" {
			w.Header().Set("Content-Length", "2000")
		}
		io.WriteString(w, strings.Repeat("x", 1000))
		w.(http.Flusher).Flush()
		if c, brw, err := http.NewResponseController(w).Hijack(); err == nil {
			brw.Flush()
			c.Close()
		}
	}))
	t.Cleanup(target.Close)
	l := ts.StartLB(t, `
listeners: [{name: web, address: "127.0.0.1:0", default_target_group: app}]
target_groups:
  - name: app
    targets: [{id: a, address: "`+strings.TrimPrefix(target.URL, "http://")+`"}]
    stickiness: {type: none}
`)
	for _, path := range []string{"/length", "/chunked"} {
		resp, err := http.Get(l.URL + path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil || len(b) > 1000 || strings.Trim(string(b), "x") != "" {
			t.Errorf("%s: %d, %d bytes, err %v; want at most the 1000 bytes sent, then an error", path, resp.StatusCode, len(b), err)
		}
	}
}

// A target that sends informational (1xx) responses without end gets the
// client a 502 after a bounded number of them, not a response that never
// ends.
func TestTargetEndless1xx(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.ServeConns(t, ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		http.ReadRequest(bufio.NewReader(c))
		for range 1000 {
			if _, err := io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"); err != nil {
				return
			}
		}
	})
	l := ts.StartLB(t, `
listeners: [{name: web, address: "127.0.0.1:0", default_target_group: app}]
target_groups:
  - name: app
    targets: [{id: a, address: "`+ln.Addr().String()+`"}]
    stickiness: {type: none}
`)
	c, err := net.Dial("tcp", strings.TrimPrefix(l.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n")
	out, _ := io.ReadAll(c)
	hints := strings.Count(string(out), "HTTP/1.1 103")
	if hints > 40 || !strings.Contains(string(out), "HTTP/1.1 502") {
		t.Errorf("the client got %d 103s and %d bytes; want a bounded number, then a 502", hints, len(out))
	}
}

// A client that stops reading a response is disconnected after the
// listener's send_timeout, which frees the target's connection too: the
// target's write fails instead of waiting for ever, and the disconnect is
// counted in tether_http_send_timeouts_total.
func TestClientSendTimeoutFreesTarget(t *testing.T) {
	targetErr := make(chan error, 1)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/big" {
			return // health checks
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		targetErr <- flood(w)
	}))
	l := startSendTimeoutLB(t, target)
	c, err := net.Dial("tcp", strings.TrimPrefix(l.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: app.example\r\n\r\n") // and never reads
	expectFreed(t, l, targetErr, "a client")
}

// A WebSocket client that stops reading while its target sends: the
// upgraded connection is closed after the listener's send_timeout, which
// frees the target's, and counted. A WebSocket quiet for longer than the
// timeout is not cut.
func TestUpgradedSendTimeout(t *testing.T) {
	targetErr := make(chan error, 1)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			return // health checks
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		if r.URL.Path == "/quiet" {
			time.Sleep(2500 * time.Millisecond)
			io.WriteString(c, "late\n")
			io.Copy(io.Discard, c) // until the client closes
			return
		}
		targetErr <- flood(c)
	}))
	l := startSendTimeoutLB(t, target)
	upgrade := func(path string) (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", strings.TrimPrefix(l.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: app.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade %s: %v %v", path, resp, err)
		}
		return c, br
	}

	quiet, br := upgrade("/quiet")
	quiet.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := br.ReadString('\n'); line != "late\n" {
		t.Errorf("a WebSocket quiet for longer than the send timeout: read %q, %v; want its late message", line, err)
	}

	upgrade("/flood") // and never reads
	expectFreed(t, l, targetErr, "a WebSocket client")
}

// expectFreed waits for the target's flood to fail, which it does once l
// gives up on who (a client that reads nothing), and checks that l
// counted one send timeout.
func expectFreed(t *testing.T, l *ts.LB, targetErr <-chan error, who string) {
	t.Helper()
	select {
	case err := <-targetErr:
		if err == nil {
			t.Fatalf("the target wrote 64 MiB through to %s that reads nothing", who)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the target still writes to %s that stopped reading", who)
	}
	if n := ts.Metric(t, l.Registry(), "tether_http_send_timeouts_total", map[string]string{"listener": "web"}); n != 1 {
		t.Errorf("send timeouts counted: %v, want 1", n)
	}
}

// flood writes 64 MiB to w, more than any socket buffers take, and
// returns the first write error, or nil.
func flood(w io.Writer) error {
	chunk := []byte(strings.Repeat("x", 32<<10))
	for range 2048 {
		if _, err := w.Write(chunk); err != nil {
			return err
		}
	}
	return nil
}

// startSendTimeoutLB starts tether with one listener, send_timeout 1s, in
// front of target, and closes target when the test ends.
func startSendTimeoutLB(t *testing.T, target *httptest.Server) *ts.LB {
	t.Cleanup(target.Close)
	return ts.StartLB(t, `
listeners: [{name: web, address: "127.0.0.1:0", default_target_group: app, send_timeout: 1s}]
target_groups:
  - name: app
    targets: [{id: a, address: "`+strings.TrimPrefix(target.URL, "http://")+`"}]
    stickiness: {type: none}
`)
}

// A client that stops sending its request body halfway gets 408 after the
// listener's body_timeout (NGINX's client_body_timeout), which frees the
// target's connection: the target's read of the body ends instead of
// waiting for ever. A slow upload that keeps sending is never cut.
func TestBodyTimeout(t *testing.T) {
	targetRead := make(chan int, 2)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/upload" {
			return // health checks
		}
		n, _ := io.Copy(io.Discard, r.Body)
		targetRead <- int(n)
		fmt.Fprint(w, n)
	}))
	t.Cleanup(target.Close)
	l := ts.StartLB(t, `
listeners: [{name: web, address: "127.0.0.1:0", default_target_group: app, body_timeout: 1s}]
target_groups:
  - name: app
    targets: [{id: a, address: "`+strings.TrimPrefix(target.URL, "http://")+`"}]
    stickiness: {type: none}
`)
	addr := strings.TrimPrefix(l.URL, "http://")

	// Slow but steady: 6 pieces, 400 ms apart, over 2 s in all.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: app.example\r\nContent-Length: 60\r\n\r\n")
	for range 6 {
		time.Sleep(400 * time.Millisecond)
		io.WriteString(c, strings.Repeat("s", 10))
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("a slow upload that keeps sending: %v, %v; want 200", resp, err)
	}
	if n := <-targetRead; n != 60 {
		t.Errorf("the target read %d bytes of the slow upload, want 60", n)
	}

	// Stalled: 10 bytes of a million, then nothing.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	io.WriteString(c2, "POST /upload HTTP/1.1\r\nHost: app.example\r\nContent-Length: 1000000\r\n\r\n0123456789")
	select {
	case n := <-targetRead:
		if n >= 1000000 {
			t.Errorf("the target read %d bytes", n)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the target still waits for the body of a client that stopped sending it")
	}
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(c2), nil); err == nil && resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("a stalled upload got %d, want 408 (or the connection closed)", resp.StatusCode)
	}
	ts.WaitFor(t, "the stalled body counted", func() bool {
		return ts.Metric(t, l.Registry(), "tether_http_rejected_total", map[string]string{"reason": "body_timeout"}) == 1
	})
}

// A response cut short by its target is accounted for like any other, on
// both of the listener's paths (a GET is the front's, a POST with a body
// Go's server's): it has its access log line and leaves
// tether_requests_in_flight, which otherwise grew by one per cut response
// for ever.
func TestTargetBodyCutShortAccounted(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", "2000")
		io.WriteString(w, strings.Repeat("x", 1000))
		w.(http.Flusher).Flush()
		if c, brw, err := http.NewResponseController(w).Hijack(); err == nil {
			brw.Flush()
			c.Close()
		}
	}))
	t.Cleanup(target.Close)
	var access ts.SyncBuffer
	l := ts.StartLB(t, `
listeners: [{name: web, address: "127.0.0.1:0", default_target_group: app}]
target_groups:
  - name: app
    targets: [{id: a, address: "`+strings.TrimPrefix(target.URL, "http://")+`"}]
    stickiness: {type: none}
`, ts.WithAccessLog(&access))
	for _, method := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(method, l.URL+"/cut-"+method, strings.NewReader(strings.Repeat("b", len(method)-3)))
		resp, err := plainClient().Do(req)
		if err == nil { // Go's server may close before the head went out
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	ts.WaitFor(t, "both cut responses logged", func() bool {
		return strings.Contains(access.String(), "/cut-GET") && strings.Contains(access.String(), "/cut-POST")
	})
	if n := ts.Metric(t, l.Registry(), "tether_requests_in_flight", map[string]string{"target": "a"}); n != 0 {
		t.Errorf("tether_requests_in_flight = %v after both responses ended; want 0", n)
	}
	if n := ts.Metric(t, l.Registry(), "tether_proxy_errors_total", map[string]string{"target": "a", "kind": "body"}); n != 2 {
		t.Errorf("tether_proxy_errors_total{kind=body} = %v after two bodies broke off; want 2", n)
	}
}
