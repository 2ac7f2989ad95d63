// Command backend is the upstream server for bench/run.sh: a minimal, fast
// net/http server that listens on one or more loopback ports and answers
// every GET with a fixed 1 KiB body over keep-alive connections.
//
// Each response carries X-Backend: PORT so the benchmark can check how a load
// balancer spread (or pinned) the requests. GET /__stats answers the number
// of requests served on that port (itself excluded), for the same purpose.
//
//	backend -addrs 127.0.0.1:18081,127.0.0.1:18082,127.0.0.1:18083
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
	addrs := flag.String("addrs", "127.0.0.1:18081", "comma-separated host:port list to listen on")
	size := flag.Int("size", 1024, "response body size in bytes")
	flag.Parse()

	body := make([]byte, *size)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	length := strconv.Itoa(len(body))

	for _, addr := range strings.Split(*addrs, ",") {
		addr = strings.TrimSpace(addr)
		if addr == "" {
			continue
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			log.Fatalf("backend: bad address %q: %v", addr, err)
		}
		if host != "127.0.0.1" && host != "localhost" && host != "::1" {
			log.Fatalf("backend: refusing non-loopback address %q", addr)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			log.Fatalf("backend: listen %s: %v", addr, err)
		}
		var served atomic.Int64
		hdrPort := []string{port}
		hdrLen := []string{length}
		hdrType := []string{"text/plain; charset=utf-8"}
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/__stats" {
				fmt.Fprintf(w, "%d\n", served.Load())
				return
			}
			served.Add(1)
			hd := w.Header()
			hd["X-Backend"] = hdrPort
			hd["Content-Length"] = hdrLen
			hd["Content-Type"] = hdrType
			w.WriteHeader(http.StatusOK)
			if r.Method != http.MethodHead {
				w.Write(body)
			}
		})
		srv := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second, // longer than every LB's upstream idle timeout
		}
		go func() {
			if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
				log.Fatalf("backend: serve %s: %v", addr, err)
			}
		}()
	}
	fmt.Fprintln(os.Stderr, "backend: ready on", *addrs)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
