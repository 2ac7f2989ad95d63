// Package testsupport holds the helpers that tests across tether share:
// real loopback targets, a running load balancer, and (in later parts) the
// real servers a user would run.
package testsupport

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Target is a real HTTP server on a loopback port that plays a load
// balancer target. Its responses name it; it records what it received; it
// can be killed (listener and connections closed: connection refused) and
// revived on the same address.
//
// Routes:
//
//	/               200, body = id
//	/healthz        200 (or HealthStatus)
//	/status?code=N  answers N
//	/setcookie?name=N&delete=1  sets (or deletes) cookie N
//	/sse            three events, flushed one by one, 50ms apart
//	/upload         reads the body, answers its length
//	/ws             a WebSocket-style upgrade (101) then echoes lines
type Target struct {
	ID   string
	Addr string

	Requests     atomic.Int64
	HealthStatus atomic.Int32 // 0 = 200

	mu    sync.Mutex
	srv   *http.Server
	ln    net.Listener
	last  *http.Request
	conns map[net.Conn]struct{}
}

// NewTarget starts a target on 127.0.0.1 with a free port.
func NewTarget(t testing.TB, id string) *Target {
	t.Helper()
	tg := &Target{ID: id}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg.Addr = ln.Addr().String()
	tg.serve(ln)
	t.Cleanup(func() { tg.Kill() })
	return tg
}

// DeadAddress returns a loopback address where nothing listens.
func DeadAddress(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func (tg *Target) serve(ln net.Listener) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.ln = ln
	tg.conns = map[net.Conn]struct{}{}
	tg.srv = &http.Server{Handler: http.HandlerFunc(tg.handle), ConnState: func(c net.Conn, s http.ConnState) {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		switch s {
		case http.StateNew:
			tg.conns[c] = struct{}{}
		case http.StateClosed, http.StateHijacked:
			delete(tg.conns, c)
		}
	}}
	go tg.srv.Serve(ln) //nolint:errcheck
}

// Kill closes the listener and every connection, like a crashed process.
func (tg *Target) Kill() {
	tg.mu.Lock()
	srv, conns := tg.srv, tg.conns
	tg.srv, tg.conns = nil, map[net.Conn]struct{}{}
	tg.mu.Unlock()
	if srv == nil {
		return
	}
	// Not under tg.mu: Close waits for the server's ConnState callbacks,
	// which take tg.mu.
	srv.Close()
	for c := range conns {
		c.Close()
	}
}

// Revive listens again on the same address.
func (tg *Target) Revive(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly after Kill
		if ln, err = net.Listen("tcp", tg.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("reviving %s: %v", tg.ID, err)
	}
	tg.serve(ln)
}

// LastRequest returns a copy of the last request's headers and host.
func (tg *Target) LastRequest() *http.Request {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.last
}

func (tg *Target) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		if code := tg.HealthStatus.Load(); code != 0 {
			w.WriteHeader(int(code))
			return
		}
		io.WriteString(w, "ok")
		return
	}
	tg.Requests.Add(1)
	tg.mu.Lock()
	tg.last = &http.Request{Method: r.Method, Host: r.Host, Header: r.Header.Clone(), URL: r.URL}
	tg.mu.Unlock()
	w.Header().Set("X-Served-By", tg.ID)
	switch r.URL.Path {
	case "/status":
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		w.WriteHeader(code)
	case "/setcookie":
		c := &http.Cookie{Name: r.URL.Query().Get("name"), Value: "app-" + tg.ID, Path: "/"}
		if r.URL.Query().Get("delete") != "" {
			c.MaxAge, c.Value = -1, ""
		}
		http.SetCookie(w, c)
		io.WriteString(w, tg.ID)
	case "/sse":
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "data: %s %d\n\n", tg.ID, i)
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	case "/upload":
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%s %d", tg.ID, n)
	case "/ws":
		tg.websocket(w, r)
	default:
		io.WriteString(w, tg.ID)
	}
}

// websocket answers an upgrade with 101 and then echoes each line prefixed
// with the target id — enough to show the connection stays on one target.
func (tg *Target) websocket(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "websocket" {
		http.Error(w, "upgrade required", http.StatusUpgradeRequired)
		return
	}
	h := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	c, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(h[:]))
	rw.Flush()
	sc := bufio.NewScanner(rw)
	for sc.Scan() {
		fmt.Fprintf(rw, "%s: %s\n", tg.ID, sc.Text())
		rw.Flush()
	}
}
