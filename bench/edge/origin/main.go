// Command origin is the origin server for bench/edge.sh: a minimal net/http
// server on one loopback port that plays a web application behind a CDN.
//
//   - GET /static/…: 200, a fixed body (1 KiB by default) with
//     Cache-Control: max-age=3600, so a cache may keep it for an hour.
//   - GET /dyn/…: 200, the same body with Cache-Control: no-store.
//   - GET /healthz: 200 "ok" (tether's health checks).
//   - GET /__stats: "static dyn", the number of /static/ and /dyn/ requests
//     served so far, so the benchmark can tell how many requests a cache
//     sent to the origin (none during a hit run, all during a miss run).
//   - anything else: 404.
//
// Usage:
//
//	origin -addr 127.0.0.1:18181
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18181", "loopback host:port to listen on")
	size := flag.Int("size", 1024, "response body size in bytes")
	flag.Parse()

	host, _, err := net.SplitHostPort(*addr)
	if err != nil || (host != "127.0.0.1" && host != "localhost" && host != "::1") {
		log.Fatalf("origin: refusing %q: only loopback host:port addresses", *addr)
	}
	body := make([]byte, *size)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	var static, dyn atomic.Int64
	length := []string{strconv.Itoa(len(body))}
	ctype := []string{"text/plain; charset=utf-8"}
	cacheable := []string{"max-age=3600"}
	noStore := []string{"no-store"}

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/static/"):
			static.Add(1)
			hd["Cache-Control"] = cacheable
		case strings.HasPrefix(p, "/dyn/"):
			dyn.Add(1)
			hd["Cache-Control"] = noStore
		case p == "/healthz":
			fmt.Fprintln(w, "ok")
			return
		case p == "/__stats":
			fmt.Fprintf(w, "%d %d\n", static.Load(), dyn.Load())
			return
		default:
			http.NotFound(w, r)
			return
		}
		hd["Content-Length"] = length
		hd["Content-Type"] = ctype
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write(body)
		}
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("origin: listen %s: %v", *addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Fatalf("origin: serve: %v", err)
		}
	}()
	fmt.Fprintln(os.Stderr, "origin: ready on", *addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
