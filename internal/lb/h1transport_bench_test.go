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

// BenchmarkProxyTransport compares the upstream transports of plain-HTTP
// groups on the whole round trip client → tether → target over loopback:
// net/http's Transport against h1Transport, in one server config (round
// robin, no stickiness, as bench/run.sh's base scenario) and 64 concurrent
// keep-alive clients (wrk -c64). The target answers 1 KiB, as
// bench/backend does.
//
// Client, proxy and target share the process, so besides ns/op (wall time)
// it reports cpu-ns/op, the process's user+system CPU per request: the
// client's and target's shares are the same in both runs, so the
// difference is the transport's.
//
//	go test -run='^$' -bench=BenchmarkProxyTransport -benchmem -count=5 ./internal/lb/
func BenchmarkProxyTransport(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	}))
	b.Cleanup(target.Close)
	for _, tc := range []struct {
		name string
		h1   bool
	}{{"transport=net/http", false}, {"transport=h1", true}} {
		b.Run(tc.name, func(b *testing.B) {
			url := startBenchServer(b, target.Listener.Addr().String(), tc.h1)
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
// its URL; without h1, the group uses net/http's Transport, as before
// h1Transport.
func startBenchServer(b *testing.B, target string, h1 bool) string {
	b.Helper()
	y := fmt.Sprintf(`admin: {address: "off"}
listeners:
  - {name: web, address: 127.0.0.1:0, default_target_group: app}
target_groups:
  - name: app
    health_check: {enabled: false}
    targets:
      - {id: t1, address: %q}
`, target)
	cfg, err := config.Parse([]byte(y), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ring, err := keyring.Generate(time.Now())
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(cfg, ring, Deps{})
	if err != nil {
		b.Fatal(err)
	}
	if !h1 {
		for _, g := range s.gen.Load().groups {
			g.proxy = g.newProxy(s.transport, s.buffers)
		}
	}
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return "http://" + s.Addr("web").String() + "/"
}

// processCPU returns the process's user+system CPU time in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
