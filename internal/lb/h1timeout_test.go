package lb

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A transport with a read timeout fails an exchange whose target sends
// nothing for that long, before its head or in the middle of its body, and
// does not retry it; a target that keeps sending, however long in all,
// is not cut.
func TestH1ReadTimeout(t *testing.T) {
	// Generous against a loaded machine: the trickle's gaps are a fifth of
	// the timeout, and a timeout may take 5 times as long to show.
	const timeout = time.Second
	tr, _ := newTestH1(t)
	tr.readTimeout = timeout
	var requests atomic.Int32
	release := make(chan struct{})
	srv, _ := countedServer(t, func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		switch r.URL.Path {
		case "/silent": // no head
			<-release
		case "/stalls": // a head, part of the body, then nothing
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "12345")
			w.(http.Flusher).Flush()
			<-release
		case "/trickle": // a byte every fifth of the timeout, for twice the timeout
			for range 10 {
				io.WriteString(w, "x")
				w.(http.Flusher).Flush()
				time.Sleep(timeout / 5)
			}
		default:
			io.WriteString(w, "ok")
		}
	})

	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for its handlers
	if code, body := roundTrip(t, tr, newReq(t, "GET", srv.URL+"/", nil)); code != 200 || body != "ok" {
		t.Fatalf("warm-up: %d %q", code, body)
	}
	requests.Store(0)
	start := time.Now()
	_, err := tr.RoundTrip(newReq(t, "GET", srv.URL+"/silent", nil))
	if took := time.Since(start); err == nil || !isTimeout(err) || took < timeout*11/12 || took > 5*timeout {
		t.Errorf("silent target: err %v after %v; want a timeout after about %v", err, took, timeout)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("silent target got %d requests; a timeout on a reused connection is not retried", n)
	}

	resp, err := tr.RoundTrip(newReq(t, "GET", srv.URL+"/stalls", nil))
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if took := time.Since(start); string(b) != "12345" || !isTimeout(err) || took < timeout*11/12 || took > 5*timeout {
		t.Errorf("stalled body: %q, err %v after %v; want the 5 bytes sent, then a timeout", b, err, took)
	}

	if code, body := roundTrip(t, tr, newReq(t, "GET", srv.URL+"/trickle", nil)); code != 200 || body != strings.Repeat("x", 10) {
		t.Errorf("trickle: %d %q; a body that keeps coming is not cut", code, body)
	}
	if code, body := roundTrip(t, tr, newReq(t, "GET", srv.URL+"/", nil)); code != 200 || body != "ok" {
		t.Errorf("after the timeouts: %d %q", code, body)
	}
}
