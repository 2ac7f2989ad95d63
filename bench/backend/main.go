// Command backend is the upstream server for bench/run.sh: a minimal, fast
// net/http server that listens on one or more loopback ports and answers
// every GET with a fixed 1 KiB body over keep-alive connections.
//
// Each response carries X-Backend: PORT so the benchmark can check how a load
// balancer spread (or pinned) the requests. GET /__stats answers the number
// of requests served on that port (itself excluded), for the same purpose.
//
// With -tls-addr (and -cert, -key), the first address's handler is also
// served over TLS (HTTP/1.1 only) on that address: same counter, same
// X-Backend value. bench/run.sh uses it for the "direct" row of its https
// scenario, so that row is a TLS target without a load balancer in front.
//
//	backend -addrs 127.0.0.1:18081,127.0.0.1:18082,127.0.0.1:18083
//	backend -addrs ... -tls-addr 127.0.0.1:18084 -cert cert.pem -key key.pem
package main

import (
	"crypto/tls"
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
	tlsAddr := flag.String("tls-addr", "", "also serve the first address's handler over TLS here (needs -cert and -key)")
	certFile := flag.String("cert", "", "PEM certificate for -tls-addr")
	keyFile := flag.String("key", "", "PEM private key for -tls-addr")
	flag.Parse()

	body := make([]byte, *size)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	length := strconv.Itoa(len(body))

	var first http.Handler
	for _, addr := range strings.Split(*addrs, ",") {
		addr = strings.TrimSpace(addr)
		if addr == "" {
			continue
		}
		_, port := loopback(addr)
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
		if first == nil {
			first = h
		}
		srv := newServer(h)
		go func() {
			if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
				log.Fatalf("backend: serve %s: %v", addr, err)
			}
		}()
	}
	if *tlsAddr != "" {
		if first == nil || *certFile == "" || *keyFile == "" {
			log.Fatal("backend: -tls-addr needs at least one -addrs entry, -cert and -key")
		}
		loopback(*tlsAddr)
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatalf("backend: %v", err)
		}
		ln, err := net.Listen("tcp", *tlsAddr)
		if err != nil {
			log.Fatalf("backend: listen %s: %v", *tlsAddr, err)
		}
		srv := newServer(first)
		// HTTP/1.1 only, like the load balancers' TLS listeners in the bench.
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}, Certificates: []tls.Certificate{cert}}
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
		go func() {
			if err := srv.ServeTLS(ln, "", ""); err != nil && err != http.ErrServerClosed {
				log.Fatalf("backend: serve TLS %s: %v", *tlsAddr, err)
			}
		}()
		fmt.Fprintln(os.Stderr, "backend: TLS (mirrors the first address) on", *tlsAddr)
	}
	fmt.Fprintln(os.Stderr, "backend: ready on", *addrs)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}

func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second, // longer than every LB's upstream idle timeout
	}
}

// loopback exits unless addr is a loopback host:port, and returns its parts.
func loopback(addr string) (host, port string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		log.Fatalf("backend: bad address %q: %v", addr, err)
	}
	if host != "127.0.0.1" && host != "localhost" && host != "::1" {
		log.Fatalf("backend: refusing non-loopback address %q", addr)
	}
	return host, port
}
