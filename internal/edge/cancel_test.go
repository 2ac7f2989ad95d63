package edge_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ts "github.com/tetherlb/tether/internal/testsupport"
)

// slowOrigin is an origin handler that tells started when a request
// arrives, then answers after hold unless the request is canceled first;
// it sends to outcome "canceled" or "answered".
func slowOrigin(hold time.Duration, started chan<- struct{}, outcome chan<- string, lines ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
			outcome <- "canceled"
		case <-time.After(hold):
			for _, l := range lines {
				k, v, _ := strings.Cut(l, ": ")
				w.Header().Set(k, v)
			}
			io.WriteString(w, "slow")
			outcome <- "answered"
		}
	}
}

// sendAndLeave sends a GET of path to the edge on a raw connection and
// closes it as soon as the origin has the request.
func sendAndLeave(t *testing.T, e *env, path string, started <-chan struct{}) {
	t.Helper()
	addr := strings.TrimPrefix(e.url, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: "+addr+"\r\nAccept-Encoding: gzip\r\n\r\n") // e.get's key
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the origin")
	}
}

func TestClientLeavingCancelsPassThrough(t *testing.T) {
	// A request the edge only relays: when its client goes away, the
	// origin's request is canceled instead of running to its end.
	e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 0s}
`)
	started, outcome := make(chan struct{}, 1), make(chan string, 1)
	e.origin.set(slowOrigin(10*time.Second, started, outcome))
	sendAndLeave(t, e, "/poll", started)
	select {
	case got := <-outcome:
		if got != "canceled" {
			t.Fatalf("origin request %s", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the origin's request was not canceled after the client left")
	}
	// A client that left is not an origin error.
	for range 10 {
		if n := ts.Metric(t, e.reg, "tether_edge_origin_errors_total", nil); n != 0 {
			t.Fatalf("origin errors counted: %v, want 0", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestClientLeavingKeepsCollapsedFetch(t *testing.T) {
	// A cacheable miss is fetched for every request waiting on its key:
	// the fetch goes on when its first client leaves, and is stored.
	e := newEnv(t, defaultBehavior)
	started, outcome := make(chan struct{}, 1), make(chan string, 1)
	e.origin.set(slowOrigin(600*time.Millisecond, started, outcome, "Cache-Control: max-age=60"))
	sendAndLeave(t, e, "/report", started)
	select {
	case got := <-outcome:
		if got != "answered" {
			t.Fatalf("origin request %s, want it answered", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the origin never answered")
	}
	// The object lands in the store once the edge has read the answer.
	deadline := time.Now().Add(3 * time.Second)
	for {
		r := e.get("/report")
		if strings.Contains(r.cacheStatus(), "hit") {
			if r.body != "slow" {
				t.Fatalf("hit body %q", r.body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fetch of a client that left was not stored: Cache-Status %q", r.cacheStatus())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := e.origin.count(); n != 1 {
		t.Errorf("origin served %d requests, want 1", n)
	}
}

// TestSlowLeaderReleasesWaiters: the requests collapsed behind a fetch
// are released as soon as the edge knows what the fetch stored, before
// the leader's own client has its response. Here the origin's answer is
// private (not stored) and large, and the leader's client reads none of
// it: the waiter is told at once, fetches for itself and gets its whole
// response, instead of waiting out the collapse timeout (5 s) behind a
// client that may never read.
func TestSlowLeaderReleasesWaiters(t *testing.T) {
	e := newEnv(t, defaultBehavior)
	body := strings.Repeat("p", 16<<20) // more than the sockets' buffers take
	asked := make(chan struct{}, 2)
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		asked <- struct{}{}
		time.Sleep(300 * time.Millisecond) // the waiter joins meanwhile
		w.Header().Set("Cache-Control", "private")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, body)
	})
	leader, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer leader.Close()
	// Both ask for the same key, Accept-Encoding included.
	io.WriteString(leader, "GET /private HTTP/1.1\r\nHost: edge.example\r\nAccept-Encoding: gzip\r\n\r\n") // and never reads
	<-asked
	done := make(chan res, 1)
	go func() { done <- e.get("/private", "Host: edge.example", "Accept-Encoding: gzip") }()
	select {
	case r := <-done:
		if r.status != http.StatusOK || len(r.body) != len(body) {
			t.Errorf("the waiter got %d and %d bytes, want the whole 200", r.status, len(r.body))
		}
		expect(t, "the waiter", r, "fwd=uri-miss", "collapsed=?0")
	case <-time.After(3 * time.Second):
		t.Fatal("the waiter still waits for a leader whose client reads nothing")
	}
	if n := e.origin.count(); n != 2 {
		t.Errorf("the origin served %d requests, want 2 (the leader's, then the waiter's own)", n)
	}
}

// TestSlowLeaderStreamedObject: an object over 64 KiB streams to the
// leader's client as it is stored. The origin is read at its own pace,
// not the client's: the waiters are served the stored object as soon as
// it has all come, while the leader's client, which reads nothing for a
// while, still gets the whole of it, intact, when it does read. The same
// with a Content-Length and without one (chunked).
func TestSlowLeaderStreamedObject(t *testing.T) {
	for _, length := range []bool{true, false} {
		t.Run(fmt.Sprintf("Content-Length %t", length), func(t *testing.T) {
			e := newEnv(t, defaultBehavior)
			body := strings.Repeat("0123456789abcdef", 4<<20/16) // 4 MiB: over what the sockets hold, within max_object_bytes
			asked := make(chan struct{}, 2)
			e.origin.set(func(w http.ResponseWriter, r *http.Request) {
				asked <- struct{}{}
				time.Sleep(300 * time.Millisecond) // the waiter joins meanwhile
				w.Header().Set("Cache-Control", "max-age=600")
				w.Header().Set("Content-Type", "application/octet-stream")
				if length {
					w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				}
				for i := 0; i < len(body); i += 64 << 10 {
					io.WriteString(w, body[i:i+64<<10])
					w.(http.Flusher).Flush() // chunked, without a Content-Length
				}
			})
			leader, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer leader.Close()
			slowLeader(t, e, leader, asked, "/big.bin", body, 3*time.Second)
			if n := e.origin.count(); n != 1 {
				t.Errorf("the origin served %d requests, want 1", n)
			}
		})
	}
}

// TestStreamedPastMaxObject: a body of unknown length that outgrows
// max_object_bytes while it streams is not stored, and the client gets
// all of it, in order: what the copy held, then the rest as it came.
func TestStreamedPastMaxObject(t *testing.T) {
	e := newEnv(t, defaultBehavior+"max_object_bytes: 1MiB\n")
	var body strings.Builder
	for i := 0; body.Len() < 3<<20; i++ {
		fmt.Fprintf(&body, "%08d", i) // every offset distinct: a reordering shows
	}
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		b := body.String()
		for i := 0; i < len(b); i += 32 << 10 {
			io.WriteString(w, b[i:min(len(b), i+32<<10)])
			w.(http.Flusher).Flush()
		}
	})
	r := e.get("/huge.bin", "Accept-Encoding: identity")
	if r.status != http.StatusOK || r.body != body.String() {
		t.Fatalf("got %d and %d bytes, want the whole body (%d) in order", r.status, len(r.body), body.Len())
	}
	if n := ts.Metric(t, e.reg, "tether_edge_not_stored_total", map[string]string{"reason": "too-large"}); n != 1 {
		t.Errorf("not stored, too-large: %v, want 1", n)
	}
}

// TestSlowLeaderCompressedStream: as TestSlowLeaderStreamedObject, for a
// body the edge compresses for the leader's client as it streams, whether
// the stored copy is the compressed one (gzip keyed) or the body as the
// origin sent it: the compressed bytes go to that client from a copy, so
// the waiter is not held by a client that reads nothing.
func TestSlowLeaderCompressedStream(t *testing.T) {
	// Random text: gzip takes it to about three quarters (3 MiB), still
	// more than the sockets hold.
	raw := make([]byte, 3<<20)
	rand.NewChaCha8([32]byte{1}).Read(raw)
	body := base64.StdEncoding.EncodeToString(raw) // 4 MiB
	for _, keyed := range []bool{true, false} {
		t.Run(fmt.Sprintf("gzip keyed %t", keyed), func(t *testing.T) {
			e := newEnv(t, fmt.Sprintf(`
max_bytes: 512MiB
max_object_bytes: 64MiB
behaviors:
  - path: "*"
    compress: true
    cache: {min_ttl: 0s, default_ttl: 24h, max_ttl: 8760h, gzip: %t}
`, keyed))
			asked := make(chan struct{}, 2)
			e.origin.set(func(w http.ResponseWriter, r *http.Request) {
				asked <- struct{}{}
				time.Sleep(300 * time.Millisecond) // the waiter joins meanwhile
				w.Header().Set("Cache-Control", "max-age=600")
				w.Header().Set("Content-Type", "text/plain")
				for i := 0; i < len(body); i += 256 << 10 {
					io.WriteString(w, body[i:min(len(body), i+256<<10)])
				}
			})
			// A small receive buffer, so that what the sockets hold
			// stays well below the body.
			d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
				return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			}}
			leader, err := d.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer leader.Close()
			if enc := slowLeader(t, e, leader, asked, "/big.txt", body, 20*time.Second); enc != "gzip" {
				t.Errorf("the leader's client got the object coded %q, want gzip", enc)
			}
			if n := e.origin.count(); n != 1 {
				t.Errorf("the origin served %d requests, want 1", n)
			}
		})
	}
}

// slowLeader sends GET path (gzip accepted) on leader, a connection that
// reads nothing yet, and once the origin is asked, the same request from
// a waiter, which must get the whole object (body), collapsed, within
// wait. Then the leader's client reads: all of body too. It returns the
// coding the leader's client got.
func slowLeader(t *testing.T, e *env, leader net.Conn, asked <-chan struct{}, path, body string, wait time.Duration) string {
	t.Helper()
	io.WriteString(leader, "GET "+path+" HTTP/1.1\r\nHost: edge.example\r\nAccept-Encoding: gzip\r\n\r\n")
	<-asked
	done := make(chan res, 1)
	go func() { done <- e.get(path, "Host: edge.example", "Accept-Encoding: gzip") }()
	select {
	case r := <-done:
		if r.status != http.StatusOK || decode(t, r.body, r.header.Get("Content-Encoding")) != body {
			t.Errorf("the waiter got %d and %d bytes, want the whole object", r.status, len(r.body))
		}
		expect(t, "the waiter", r, "collapsed")
	case <-time.After(wait):
		t.Fatal("the waiter still waits for a leader whose client reads nothing")
	}
	leader.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(leader), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	enc := resp.Header.Get("Content-Encoding")
	if err != nil || decode(t, string(got), enc) != body {
		t.Errorf("the leader's client got %d bytes coded %q (%v), want the whole object", len(got), enc, err)
	}
	return enc
}
