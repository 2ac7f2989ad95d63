//go:build unix

package lb

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/keyring"
)

// BenchmarkProxyTransport compares the ways tether has proxied plain HTTP,
// on the whole round trip client → tether → target over loopback: Go's
// server with ReverseProxy and net/http's Transport, the same with
// h1Transport, and tether's own loop (the front), in one server config
// (round robin, no stickiness, as bench/run.sh's base scenario) and 64
// concurrent keep-alive clients (wrk -c64). The target answers 1 KiB, as
// bench/backend does.
//
// Client, proxy and target share the process, so besides ns/op (wall time)
// it reports cpu-ns/op, the process's user+system CPU per request: the
// client's and target's shares are the same in both runs, so the
// difference is the proxy's.
//
//	go test -run='^$' -bench=BenchmarkProxyTransport -benchmem -count=5 ./internal/lb/
func BenchmarkProxyTransport(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	}))
	b.Cleanup(target.Close)
	for _, path := range []string{"net/http", "net/http+h1", "front"} {
		b.Run("path="+path, func(b *testing.B) {
			url := startBenchServer(b, target.Listener.Addr().String(), path)
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			b.Cleanup(c.CloseIdleConnections)
			b.SetParallelism(32) // × GOMAXPROCS 2: 64 clients
			b.ReportAllocs()
			cpu := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := c.Get(url)
					if err != nil {
						b.Error(err)
						return
					}
					if n, _ := io.Copy(io.Discard, resp.Body); n != 1024 || resp.StatusCode != 200 {
						b.Errorf("%d, %d bytes", resp.StatusCode, n)
					}
					resp.Body.Close()
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// startBenchServer runs a Server with one group over target and returns
// its URL. Its path is "front" (tether's own loop), "net/http+h1" (Go's
// server, ReverseProxy and h1Transport) or "net/http" (Go's server,
// ReverseProxy and Transport, as before both).
func startBenchServer(b *testing.B, target, path string) string {
	b.Helper()
	s := startServer(b, target, func(s *Server) {
		for _, g := range s.gen.Load().groups {
			switch path {
			case "net/http+h1":
				// Any RoundTripper but s.h1 itself keeps the front away.
				g.up = &upstream{key: "http", transport: s.transport, rt: roundTripFunc(s.h1.RoundTrip)}
			case "net/http":
				g.up = &upstream{key: "http", transport: s.transport, rt: s.transport}
				g.proxy = g.newProxy(s.transport, s.buffers)
			}
		}
	})
	return "http://" + s.Addr("web").String() + "/"
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// startServer runs a Server with listener web and group app of one target
// at target, health checks off, until the test ends. prepare, if not nil,
// runs before Start. testsupport.StartLB cannot be used in package lb: it
// imports lb.
func startServer(tb testing.TB, target string, prepare func(*Server)) *Server {
	tb.Helper()
	y := fmt.Sprintf(`admin: {address: "off"}
listeners:
  - {name: web, address: 127.0.0.1:0, default_target_group: app}
target_groups:
  - name: app
    health_check: {enabled: false}
    targets:
      - {id: t1, address: %q}
`, target)
	cfg, err := config.Parse([]byte(y), tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	ring, err := keyring.Generate(time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(cfg, ring, Deps{})
	if err != nil {
		tb.Fatal(err)
	}
	if prepare != nil {
		prepare(s)
	}
	if err := s.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

// processCPU returns the process's user+system CPU time in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
