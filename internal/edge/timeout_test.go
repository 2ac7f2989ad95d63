package edge_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/edge"
	ts "github.com/tetherlb/tether/internal/testsupport"
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

// A client that stops reading a response is disconnected after the send
// timeout, which frees the edge's fetch from the origin too, and is
// counted in tether_edge_send_timeouts_total.
func TestClientSendTimeout(t *testing.T) {
	originErr := make(chan error, 1)
	chunk := strings.Repeat("x", 32<<10)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		for range 2048 { // 64 MiB: more than any socket buffers take
			if _, err := io.WriteString(w, chunk); err != nil {
				originErr <- err
				return
			}
		}
		originErr <- nil
	}))
	t.Cleanup(origin.Close)
	cfg, err := config.Parse([]byte(baseConfig+"edges:\n  - {name: edge, address: 127.0.0.1:8000, origin: {url: "+origin.URL+"}, send_timeout: 1s, behaviors: [{path: \"*\"}]}\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	e, err := edge.New(cfg.Edges[0], edge.Options{OriginURL: origin.URL, Metrics: edge.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(serveEdge(t, e), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: edge.example\r\n\r\n") // and never reads
	select {
	case err := <-originErr:
		if err == nil {
			t.Fatal("the origin wrote 64 MiB through to a client that reads nothing")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the origin still writes to a client that stopped reading")
	}
	if n := ts.Metric(t, reg, "tether_edge_send_timeouts_total", map[string]string{"edge": "edge"}); n != 1 {
		t.Errorf("send timeouts counted: %v, want 1", n)
	}
}
