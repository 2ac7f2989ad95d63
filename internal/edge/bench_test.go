package edge_test

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/edge"
)

// The benchmarks drive the edge's handler in process, the way
// bench/edge.sh loads it over loopback: the same behaviors, the same
// origin answers (1 KiB bodies; /static/ with max-age=3600, /dyn/ with
// no-store) and wrk's requests (nothing but Host). The origin is an
// in-memory transport and the client a writer that does what net/http's
// does with a handler's header (a fresh map per request, cloned at
// WriteHeader), so what is measured is the edge's own work. Run them with
// -cpu 1: the garbage collector's background marking then takes its time
// from the benchmark, as it does from the proxy under load.
//
//	go test -run '^$' -bench . -benchmem -cpu 1 ./internal/edge/

// benchEdge is bench/edge/tether.yaml's edge.
const benchEdge = `
listeners: [{name: web, address: 127.0.0.1:8080, default_target_group: app}]
target_groups: [{name: app, targets: [{id: a, address: 127.0.0.1:9001}]}]
edges:
  - name: bench
    address: 127.0.0.1:8000
    origin: {url: "http://127.0.0.1:18181"}
    mode: safe
    max_bytes: 1GiB
    behaviors:
      - path: /static/*
        cache: {cookies: none, query: none}
      - path: /dyn/*
        cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 0s}
      - path: "*"
        cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 0s}
`

// benchOrigin answers like bench/edge/origin, through a header map and a
// body of its own per response, as a transport returns them.
type benchOrigin struct {
	body []byte
	date []string
}

func (o *benchOrigin) RoundTrip(r *http.Request) (*http.Response, error) {
	cc := "max-age=3600"
	if len(r.URL.Path) >= 5 && r.URL.Path[:5] == "/dyn/" {
		cc = "no-store"
	}
	h := http.Header{
		"Cache-Control":  {cc},
		"Content-Length": {strconv.Itoa(len(o.body))},
		"Content-Type":   {"text/plain; charset=utf-8"},
		"Date":           o.date,
	}
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h,
		Body: io.NopCloser(bytes.NewReader(o.body)), ContentLength: int64(len(o.body)), Request: r}, nil
}

// benchWriter is a ResponseWriter that treats the handler's header as
// net/http's does (cloned when it is written) and discards the body.
type benchWriter struct {
	h, sent http.Header
	code    int
	n       int
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code, w.sent = code, w.h.Clone()
	}
}

func (w *benchWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.n += len(p)
	return len(p), nil
}
func (w *benchWriter) Flush() {}

func newBenchEdge(b *testing.B) *edge.Edge {
	b.Helper()
	cfg, err := config.Parse([]byte(benchEdge), ".")
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 1024)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	o := &benchOrigin{body: body, date: []string{time.Now().UTC().Format(http.TimeFormat)}}
	e, err := edge.New(cfg.Edges[0], edge.Options{OriginURL: "http://127.0.0.1:18181", Transport: o,
		Clock: clock.Real{}, Metrics: edge.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

func benchRequest(path string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:18201"+path, nil)
	r.RemoteAddr, r.RequestURI = "127.0.0.1:40000", path
	return r
}

// serveOnce sends r through e and checks the answer.
func serveOnce(b *testing.B, e *edge.Edge, r *http.Request, want string) {
	w := &benchWriter{h: make(http.Header)}
	e.ServeHTTP(w, r)
	if w.code != http.StatusOK || w.n != 1024 {
		b.Fatalf("%s: status %d, %d bytes", r.URL.Path, w.code, w.n)
	}
	if cs := w.sent.Get("Cache-Status"); len(cs) < len(want) || cs[:len(want)] != want {
		b.Fatalf("%s: Cache-Status %q, want %q…", r.URL.Path, cs, want)
	}
}

// BenchmarkEdge serves a hit (one /static/ URL, stored; alone, and from
// parallel clients), a miss (a new /static/ URL each time: fetched and
// stored) and a pass (/dyn/: caching disabled, relayed).
func BenchmarkEdge(b *testing.B) {
	b.Run("hit", func(b *testing.B) {
		e := newBenchEdge(b)
		r := benchRequest("/static/hit")
		serveOnce(b, e, r, "bench; fwd=uri-miss")
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			serveOnce(b, e, r, "bench; hit")
		}
	})
	b.Run("hit-parallel", func(b *testing.B) {
		// As many clients as -cpu: what hits on one object share (locks,
		// counters, cache lines) shows here and not in "hit".
		e := newBenchEdge(b)
		serveOnce(b, e, benchRequest("/static/hit"), "bench; fwd=uri-miss")
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			r := benchRequest("/static/hit")
			for pb.Next() {
				serveOnce(b, e, r, "bench; hit")
			}
		})
	})
	b.Run("miss", func(b *testing.B) {
		e := newBenchEdge(b)
		r := benchRequest("/static/")
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			r.URL.Path = "/static/m" + strconv.Itoa(i)
			serveOnce(b, e, r, "bench; fwd=uri-miss")
		}
	})
	b.Run("pass", func(b *testing.B) {
		e := newBenchEdge(b)
		r := benchRequest("/dyn/pass")
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			serveOnce(b, e, r, "bench; fwd=bypass")
		}
	})
}

// BenchmarkGCWithStoredObjects measures one full garbage collection with
// 100,000 stored objects (a miss run of bench/edge.sh stores about 30,000
// a second): the marking every object's pointers cost each cycle. It also
// reports what each stored object takes: live heap bytes (heap-B/object),
// the bytes counted against max_bytes (counted-B/object), and heap
// allocations (allocations/object), each of which the collector marks.
func BenchmarkGCWithStoredObjects(b *testing.B) {
	const n = 100_000
	e := newBenchEdge(b)
	r := benchRequest("/static/")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		r.URL.Path = "/static/g" + strconv.Itoa(i)
		serveOnce(b, e, r, "bench; fwd=uri-miss")
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ResetTimer()
	for range b.N {
		runtime.GC()
	}
	b.StopTimer()
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/object")
	b.ReportMetric(float64(after.HeapObjects-before.HeapObjects)/n, "allocations/object")
	b.ReportMetric(float64(e.StoreStats().Bytes)/n, "counted-B/object")
	runtime.KeepAlive(e)
}
