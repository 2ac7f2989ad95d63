package edge_test

import (
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// An origin that goes silent, before its head or in the middle of a body,
// gets the client a 504 after the read timeout, not a wait without end;
// requests collapsed behind such a fetch end too.
func TestOriginTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	e := newEnvTimeout(t, defaultBehavior, timeout)
	release := make(chan struct{})
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		if r.URL.Path == "/stalls" {
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "12345")
			w.(http.Flusher).Flush()
		}
		<-release
	})
	t.Cleanup(func() { close(release) }) // before the origin's Close, which waits for its handlers

	for _, path := range []string{"/silent", "/stalls"} {
		start := time.Now()
		r := e.get(path)
		if took := time.Since(start); r.status != http.StatusGatewayTimeout || took > 10*timeout {
			t.Errorf("%s: %d after %v; want 504 after about %v", path, r.status, took, timeout)
		}
		expect(t, path, r, "fwd=uri-miss")
	}

	// A leader and the requests collapsed behind it: the leader's fetch,
	// which its client's leaving would not stop, ends with the timeout.
	var wg sync.WaitGroup
	codes := make(chan int, 3)
	for range 3 {
		wg.Go(func() { codes <- e.get("/shared").status })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * timeout):
		t.Fatal("requests collapsed behind a silent origin still wait")
	}
	close(codes)
	for code := range codes {
		if code != http.StatusGatewayTimeout {
			t.Errorf("collapsed request: %d, want 504", code)
		}
	}
}
