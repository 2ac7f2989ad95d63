package edge_test

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/edge"
	"github.com/tetherlb/tether/internal/lb"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// BenchmarkEdgeLoopback runs bench/edge.sh's loads through the whole
// request path over loopback, in one process: a raw keep-alive
// client, the edge on tether's Front (as `tether serve` runs it), the
// load balancer's HTTP/1.1 transport, and a minimal origin that answers
// as bench/edge/origin does. Where BenchmarkEdge measures the edge's
// handler alone, this one counts what the Front and the transport cost
// too: allocs/op is every allocation of the process per request (the
// client's and the origin's are none or next to none). ns/op includes the
// client's and the origin's work and the system calls of both hops.
// plain-miss is bench/edge.sh's yardstick for misses: the same new URL per
// request through a plain listener of the load balancer (no cache).
//
//	go test -run '^$' -bench EdgeLoopback -benchmem -cpu 1 ./internal/edge/
func BenchmarkEdgeLoopback(b *testing.B) {
	origin := startRawOrigin(b)
	cfg, err := config.Parse([]byte(benchEdge), ".")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("plain-miss", func(b *testing.B) {
		l := ts.StartLB(b, `
listeners: [{name: plain, address: "127.0.0.1:0", default_target_group: origin}]
target_groups:
  - name: origin
    targets: [{id: origin, address: "`+origin+`"}]
    stickiness: {type: none}
`)
		c := dialRaw(b, strings.TrimPrefix(l.URL, "http://"))
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			c.get(b, "/static/m", i, "")
		}
	})
	for _, load := range []struct{ name, path, want string }{
		{"hit", "/static/hit", "bench; hit"},
		{"miss", "", "bench; fwd=uri-miss"},
		{"pass", "/dyn/pass", "bench; fwd=bypass"},
	} {
		b.Run(load.name, func(b *testing.B) {
			tr := lb.NewTransportTimeout(clock.Real{}, edge.OriginTimeout) // as tether serve
			defer tr.CloseIdleConnections()
			e, err := edge.New(cfg.Edges[0], edge.Options{OriginURL: "http://" + origin, Transport: tr, Clock: clock.Real{},
				Logger: slog.New(slog.DiscardHandler), Metrics: edge.NewMetrics(prometheus.NewRegistry())})
			if err != nil {
				b.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			shutdown := edge.Serve(ln, e)
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				shutdown(ctx)
			}()
			c := dialRaw(b, ln.Addr().String())
			if load.name == "hit" {
				c.get(b, load.path, -1, "bench; fwd=uri-miss") // stores it
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if load.name == "miss" {
					c.get(b, "/static/m", i, load.want)
				} else {
					c.get(b, load.path, -1, load.want)
				}
			}
		})
	}
}

// rawConn is a keep-alive client connection that writes request heads
// and reads responses with as little work of its own as it can.
type rawConn struct {
	c   net.Conn
	br  *bufio.Reader
	req []byte
}

func dialRaw(b *testing.B, addr string) *rawConn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return &rawConn{c: c, br: bufio.NewReaderSize(c, 8<<10)}
}

// get sends GET path (followed by n when n >= 0) and reads the response:
// a 200 with a 1 KiB body whose Cache-Status starts with want (want "":
// any or none). It allocates nothing.
func (rc *rawConn) get(b *testing.B, path string, n int, want string) {
	rc.req = append(append(rc.req[:0], "GET "...), path...)
	if n >= 0 {
		rc.req = strconv.AppendInt(rc.req, int64(n), 10)
	}
	rc.req = append(rc.req, " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"...)
	if _, err := rc.c.Write(rc.req); err != nil {
		b.Fatal(err)
	}
	status, err := rc.br.ReadSlice('\n')
	if err != nil || !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		b.Fatalf("%s: status line %q, %v", path, status, err)
	}
	length, cacheStatus := -1, want == ""
	for {
		line, err := rc.br.ReadSlice('\n')
		if err != nil {
			b.Fatal(err)
		}
		if len(line) <= 2 {
			break
		}
		name, value, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(": "))
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length = 0
			for _, d := range value {
				length = length*10 + int(d-'0')
			}
		case bytes.EqualFold(name, []byte("Cache-Status")):
			cacheStatus = bytes.HasPrefix(value, []byte(want))
		}
	}
	if length != 1024 || !cacheStatus {
		b.Fatalf("%s: Content-Length %d, Cache-Status starting %q: %v", path, length, want, cacheStatus)
	}
	if _, err := rc.br.Discard(length); err != nil {
		b.Fatal(err)
	}
}

// startRawOrigin serves bench/edge/origin's answers on loopback, without
// net/http: every request head gets a 1 KiB body with max-age=3600 under
// /static/ and no-store elsewhere.
func startRawOrigin(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz"), 40)[:1024]
	answer := func(cc string) []byte {
		head := "HTTP/1.1 200 OK\r\nCache-Control: " + cc + "\r\nContent-Length: 1024\r\nContent-Type: text/plain; charset=utf-8\r\nDate: " +
			time.Now().UTC().Format(http.TimeFormat) + "\r\n\r\n"
		return append([]byte(head), body...)
	}
	static, dynamic := answer("max-age=3600"), answer("no-store")
	ts.ServeConns(b, ln, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			out := dynamic
			if bytes.Contains(line, []byte(" /static/")) {
				out = static
			}
			for { // the rest of the head
				l, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(l) <= 2 {
					break
				}
			}
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	})
	return ln.Addr().String()
}
