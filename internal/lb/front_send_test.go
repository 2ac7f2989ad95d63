package lb_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/lb"
)

// TestFrontSendTimeout: a client that stops reading a response is given
// up once it has taken nothing for the send timeout (NGINX's send_timeout):
// the handler's write fails and the connection ends, instead of holding
// the handler for ever. A client that reads slowly but steadily, for far
// longer than the timeout in all, gets the whole response.
func TestFrontSendTimeout(t *testing.T) {
	const timeout = 600 * time.Millisecond
	const size = 8 << 20
	chunk := []byte(strings.Repeat("x", 32<<10))
	failed := make(chan error, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Path == "/slow" {
			// One write of it all, longer than the timeout: the front
			// writes it in pieces, each of which the slow client takes
			// well within the timeout.
			_, err := w.Write([]byte(strings.Repeat("y", size)))
			failed <- err
			return
		}
		for written := 0; written < 64<<20; written += len(chunk) { // more than any socket buffers take
			if _, err := w.Write(chunk); err != nil {
				failed <- err
				return
			}
		}
		failed <- nil
	})
	var timeouts atomic.Int32
	addr := startSendFront(t, &http.Server{Handler: h}, timeout, &timeouts)

	t.Run("a client that stops reading", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /huge HTTP/1.1\r\nHost: x\r\n\r\n")
		select {
		case err := <-failed:
			if err == nil {
				t.Fatal("the handler wrote 64 MiB to a client that reads nothing")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the handler's write still waits for a client that stopped reading")
		}
		if n := timeouts.Load(); n != 1 {
			t.Errorf("send timeouts counted: %d, want 1", n)
		}
		// The connection is over: what the buffers held, then its end.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil && !strings.Contains(err.Error(), "reset") {
			t.Errorf("reading what was sent: %v, want the connection to end", err)
		}
	})

	t.Run("a slow client that keeps reading", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(64 << 10)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReaderSize(c, 64<<10)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		buf := make([]byte, 64<<10)
		start := time.Now()
		for {
			n, err := resp.Body.Read(buf)
			got += n
			if err != nil {
				break
			}
			time.Sleep(timeout / 40) // 8 MiB at 64 KiB at most a pause: several times the timeout in all
		}
		if got != size {
			t.Errorf("the slow client got %d bytes in %v, want all %d", got, time.Since(start).Round(time.Millisecond), size)
		}
		if err := <-failed; err != nil {
			t.Errorf("the handler's write failed for a client that kept reading: %v", err)
		}
		if n := timeouts.Load(); n != 1 {
			t.Errorf("send timeouts counted: %d, want still 1", n)
		}
	})
}

// TestHandedSendTimeout: the requests a front hands to net/http get the
// send timeout too, through their write deadline: an HTTP/1.1 request
// with a body, whose client then reads nothing, and an HTTP/2 request
// whose client stops reading (and so stops granting flow control); and so
// does the front's own HTTP/1.1 over TLS. Each ends the handler's write
// and is counted once.
func TestHandedSendTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	chunk := []byte(strings.Repeat("x", 32<<10))
	failed := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Path == "/quiet" {
			// A stream quiet for longer than the timeout between two
			// writes (server-sent events, a long poll) is not cut.
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			time.Sleep(3 * timeout)
			io.WriteString(w, "b")
			return
		}
		for range 2048 { // 64 MiB
			if _, err := w.Write(chunk); err != nil {
				failed <- err
				return
			}
		}
		failed <- nil
	})
	cfg, pool := fhTLS(t)
	var timeouts atomic.Int32
	start := func(tlsCfg *tls.Config) string {
		return startSendFront(t, &http.Server{Handler: h, TLSConfig: tlsCfg}, timeout, &timeouts)
	}
	wait := func(what string) {
		t.Helper()
		select {
		case err := <-failed:
			if err == nil {
				t.Fatalf("%s: the handler wrote 64 MiB to a client that reads nothing", what)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: the handler's write still waits for a client that stopped reading", what)
		}
	}

	addr, addrTLS := start(nil), start(cfg)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	for _, u := range []string{"https://" + addrTLS + "/quiet", "http://" + addr + "/quiet"} {
		resp, err := (&http.Client{Transport: tr}).Post(u, "text/plain", strings.NewReader("hello"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ab" || err != nil {
			t.Errorf("%s over %s: %q, %v; want all of it", u, resp.Proto, b, err)
		}
	}
	if n := timeouts.Load(); n != 0 {
		t.Fatalf("quiet streams: send timeouts counted: %d, want 0", n)
	}

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello") // then reads nothing
	wait("HTTP/1.1 with a body")
	if n := timeouts.Load(); n != 1 {
		t.Errorf("HTTP/1.1 with a body: send timeouts counted: %d, want 1", n)
	}

	// HTTP/1.1 over TLS stays on the front's own loop: its writes are
	// watched as plain HTTP's are.
	tc, err := tls.Dial("tcp", addrTLS, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	io.WriteString(tc, "GET /tls HTTP/1.1\r\nHost: x\r\n\r\n") // then reads nothing
	wait("HTTP/1.1 over TLS")
	if n := timeouts.Load(); n != 2 {
		t.Errorf("HTTP/1.1 over TLS: send timeouts counted: %d, want 2 in all", n)
	}

	resp, err := (&http.Client{Transport: tr}).Get("https://" + addrTLS + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() // read only at the end
	if resp.ProtoMajor != 2 {
		t.Fatalf("served over %s, want HTTP/2", resp.Proto)
	}
	wait("HTTP/2")
	if n := timeouts.Load(); n != 3 {
		t.Errorf("HTTP/2: send timeouts counted: %d, want 3 in all", n)
	}
}

// TestHandedResponseEndSendTimeout: a client that pipelines requests with
// bodies (handed to net/http) and reads none of the responses. A small
// response without a Content-Length stays in net/http's buffers until the
// handler returns, so the handler's own writes never wait: the response's
// end, which net/http writes afterwards, is what meets the full socket.
// That write has the send timeout too: the connection is closed, instead
// of holding net/http's goroutine for ever. Responses with a
// Content-Length are flushed before the handler returns, within the
// timeout, and counted.
func TestHandedResponseEndSendTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	for _, sized := range []bool{false, true} {
		// Without a Content-Length, a body net/http holds whole (it
		// works out the length when the handler returns), so that the
		// handler's writes never reach the socket; with one, a body
		// larger than that, which the front flushes.
		body := strings.Repeat("z", map[bool]int{false: 1000, true: 3000}[sized])
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/plain")
			if sized {
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			}
			io.WriteString(w, body)
		})
		var timeouts atomic.Int32
		addr := startSendFront(t, &http.Server{Handler: h}, timeout, &timeouts)

		req := []byte("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx")
		// The deadline left for a response's end is cleared for the
		// next request: a kept-alive client that comes back later than
		// the timeout is served.
		kept, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer kept.Close()
		br := bufio.NewReader(kept)
		for i := range 2 {
			kept.Write(req)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("sized %v: kept-alive request %d: %v", sized, i+1, err)
			}
			if b, err := io.ReadAll(resp.Body); string(b) != body || err != nil {
				t.Fatalf("sized %v: kept-alive request %d: %d bytes, %v", sized, i+1, len(b), err)
			}
			time.Sleep(2 * timeout)
		}

		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Requests until the connection fails; the deadline only ends
		// a test that would otherwise wait for ever.
		c.SetWriteDeadline(time.Now().Add(20 * time.Second))
		var werr error
		for werr == nil {
			_, werr = c.Write(req)
		}
		if errors.Is(werr, os.ErrDeadlineExceeded) {
			t.Fatalf("sized %v: the connection of a client that reads nothing is still open after 20 s", sized)
		}
		if n, want := timeouts.Load(), map[bool]int32{false: 0, true: 1}[sized]; n != want {
			t.Errorf("sized %v: send timeouts counted: %d, want %d", sized, n, want)
		}
	}
}

// startSendFront serves srv through a front with the send timeout given,
// counting its send timeouts in timeouts, until the test ends, and
// returns its address.
func startSendFront(t *testing.T, srv *http.Server, timeout time.Duration, timeouts *atomic.Int32) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front := lb.NewFront(ln, srv, lb.FrontOptions{Name: "test", Log: slog.New(slog.DiscardHandler),
		SendTimeout: timeout, OnSendTimeout: func() { timeouts.Add(1) }})
	go front.Serve()
	t.Cleanup(func() { front.Close() })
	return ln.Addr().String()
}
