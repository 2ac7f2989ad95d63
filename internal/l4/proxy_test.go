package l4_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/l4"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// TestPassthrough routes by SNI to targets that terminate TLS themselves:
// the client sees each target's own certificate.
func TestPassthrough(t *testing.T) {
	a := newTLSTarget(t, "a", "a.example.com")
	b := newTLSTarget(t, "b", "b.example.com")
	w := newTLSTarget(t, "w", "*.w.example.com")
	d := newTLSTarget(t, "d", "other.example.org", "127.0.0.1")
	group := func(name string, tt *tlsTarget) *l4.Group {
		return newGroup(t, l4.GroupConfig{Name: name, Targets: targetConfigs(tt)}, nil)
	}
	ga, gb, gw, gd := group("ga", a), group("gb", b), group("gw", w), group("gd", d)
	routes := []l4.Route{{SNI: "a.example.com", Group: ga}, {SNI: "B.example.com", Group: gb}, {SNI: "*.w.example.com", Group: gw}}

	m := newRecorder()
	noDefault, _ := startListener(t, routes, nil, l4.ListenerOptions{Metrics: m})
	withDefault, _ := startListener(t, routes, gd, l4.ListenerOptions{})

	tests := []struct {
		name, lb, sni string
		want          string // target id; "" = the handshake fails
		wantDNS       string
	}{
		{"exact", noDefault, "a.example.com", "a", "a.example.com"},
		{"second exact", noDefault, "b.example.com", "b", "b.example.com"},
		{"case-insensitive", noDefault, "A.Example.COM", "a", "a.example.com"},
		{"wildcard", noDefault, "x.w.example.com", "w", "*.w.example.com"},
		{"wildcard is one label", noDefault, "y.x.w.example.com", "", ""},
		{"wildcard does not match its base", noDefault, "w.example.com", "", ""},
		{"unknown name without default", noDefault, "other.example.org", "", ""},
		{"no SNI without default", noDefault, "127.0.0.1", "", ""},
		{"exact route with default", withDefault, "a.example.com", "a", "a.example.com"},
		{"unknown name with default", withDefault, "other.example.org", "d", "other.example.org"},
		{"no SNI with default", withDefault, "127.0.0.1", "d", "other.example.org"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := client{lbAddr: tc.lb}.get(t, tc.sni)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got a response from %q; want the connection refused", res.body)
				}
				if !strings.Contains(err.Error(), "unrecognized name") {
					t.Errorf("error %q; want the TLS unrecognized_name alert", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.body != tc.want {
				t.Errorf("served by %q, want %q", res.body, tc.want)
			}
			if !slices.Contains(res.dns, tc.wantDNS) {
				t.Errorf("certificate names %v, want the target's own %q", res.dns, tc.wantDNS)
			}
		})
	}
	if got := m.count("//" + l4.OutcomeNoRoute); got != 4 {
		t.Errorf("no_route counted %d times, want 4 (%s)", got, m)
	}
	if got := m.count("ga/a/" + l4.OutcomeConnected); got != 2 {
		t.Errorf("connections to a counted %d times, want 2 (%s)", got, m)
	}
	waitFor(t, "byte counts", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.in > 0 && m.out > 0
	})
	if s := status(t, ga, "a"); s.Total != 3 || s.State != l4.StateHealthy {
		t.Errorf("target a: %+v, want 3 connections in all and healthy", s)
	}
}

// TestSetRoutes swaps routes under a running listener.
func TestSetRoutes(t *testing.T) {
	a := newTLSTarget(t, "a", "a.example.com")
	b := newTLSTarget(t, "b", "a.example.com")
	ga := newGroup(t, l4.GroupConfig{Name: "ga", Targets: targetConfigs(a)}, nil)
	gb := newGroup(t, l4.GroupConfig{Name: "gb", Targets: targetConfigs(b)}, nil)
	addr, l := startListener(t, []l4.Route{{SNI: "a.example.com", Group: ga}}, nil, l4.ListenerOptions{})
	c := client{lbAddr: addr}
	if got := c.mustGet(t, "a.example.com"); got != "a" {
		t.Fatalf("before: served by %q, want a", got)
	}
	if err := l.SetRoutes([]l4.Route{{SNI: "a.example.com", Group: gb}}, nil); err != nil {
		t.Fatal(err)
	}
	if got := c.mustGet(t, "a.example.com"); got != "b" {
		t.Errorf("after: served by %q, want b", got)
	}
	if err := l.SetRoutes([]l4.Route{{SNI: "a.example.com"}}, nil); err == nil {
		t.Error("SetRoutes accepted a route without a group")
	}
	if got := c.mustGet(t, "a.example.com"); got != "b" {
		t.Errorf("after a refused SetRoutes: served by %q, want b", got)
	}
}

func TestNewListenerRejectsBadRoutes(t *testing.T) {
	g := newGroup(t, l4.GroupConfig{Name: "g", Targets: []l4.TargetConfig{{ID: "t", Address: "127.0.0.1:1", Weight: 1}}}, nil)
	tests := []struct {
		name   string
		routes []l4.Route
		def    *l4.Group
		want   string
	}{
		{"nil group", []l4.Route{{SNI: "a.example.com"}}, nil, "no group"},
		{"duplicate", []l4.Route{{SNI: "a.example.com", Group: g}, {SNI: "A.example.com", Group: g}}, nil, "second route"},
		{"two defaults", []l4.Route{{SNI: "", Group: g}}, g, "second default"},
		{"bad name", []l4.Route{{SNI: "a b.example.com", Group: g}}, nil, "host name"},
		{"wildcard inside", []l4.Route{{SNI: "a.*.example.com", Group: g}}, nil, "host name"},
		{"bare wildcard", []l4.Route{{SNI: "*", Group: g}}, nil, "host name"},
		{"trailing dot", []l4.Route{{SNI: "a.example.com.", Group: g}}, nil, "host name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := l4.NewListener(tc.routes, tc.def, l4.ListenerOptions{}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestShutdownWaitsForConnections lets an open connection finish, then
// closes the ones still open when the context ends.
func TestShutdownWaitsForConnections(t *testing.T) {
	a := newTLSTarget(t, "a", "a.example.com")
	ga := newGroup(t, l4.GroupConfig{Name: "ga", Targets: targetConfigs(a)}, nil)
	l, err := l4.NewListener([]l4.Route{{SNI: "a.example.com", Group: ga}}, nil, l4.ListenerOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(ln) }()

	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "a.example.com", RootCAs: theCA(t).pool})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Long enough for the request below to be served on a loaded machine:
	// Shutdown gives up only after it.
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- l.Shutdown(ctx) }()
	if err := <-served; !errors.Is(err, l4.ErrListenerClosed) {
		t.Errorf("Serve returned %v, want ErrListenerClosed", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("the listener still accepts after Shutdown")
	}
	// The open connection still works while Shutdown waits.
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 12)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "HTTP/1.1 200" {
		t.Fatalf("read %q, %v during shutdown", buf, err)
	}
	if err := <-shut; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown returned %v, want DeadlineExceeded", err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, conn); err != nil && !isClosed(err) {
		t.Errorf("after Shutdown gave up, reading: %v; want the connection closed", err)
	}
	if err := l.Serve(ln); !errors.Is(err, l4.ErrListenerClosed) {
		t.Errorf("Serve after Shutdown returned %v", err)
	}
}

// isClosed reports whether err is what a peer's close looks like.
func isClosed(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "reset by peer") ||
		strings.Contains(err.Error(), "broken pipe")
}

// countTarget reads each connection to its end, then answers with the
// number of bytes it read and closes.
func countTarget(t *testing.T) string {
	return serveTCP(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		n, _ := io.Copy(io.Discard, c)
		fmt.Fprintf(c, "read %d bytes", n)
	})
}

// serveTCP runs handle, in its own goroutine, for each connection to a new
// loopback listener, closes the connection after it, and returns the
// listener's address.
func serveTCP(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.ServeConns(t, ln, handle)
	return ln.Addr().String()
}

// TestHalfClose passes a client's half-close on to the target, and the
// target's answer back, and counts the bytes both ways.
func TestHalfClose(t *testing.T) {
	g := newGroup(t, l4.GroupConfig{Name: "g", Targets: []l4.TargetConfig{{ID: "c", Address: countTarget(t), Weight: 1}}}, nil)
	m := newRecorder()
	addr, _ := startListener(t, nil, g, l4.ListenerOptions{Metrics: m})
	hello := captureHello(t, &tls.Config{ServerName: "h.example.com"})
	payload := strings.Repeat("x", 100_000)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(append(hello, payload...)); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	in := int64(len(hello) + len(payload))
	want := fmt.Sprintf("read %d bytes", in)
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	waitFor(t, "byte counts", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.in == in && m.out == int64(len(want))
	})
}

// tickTarget writes one byte every tick, n times, then closes, ignoring
// what it is sent.
func tickTarget(t *testing.T, tick time.Duration, n int) string {
	return serveTCP(t, func(c net.Conn) {
		for range n {
			time.Sleep(tick)
			if _, err := c.Write([]byte{'.'}); err != nil {
				return
			}
		}
	})
}

// TestIdleTimeout closes a connection on which nothing moved for
// IdleTimeout, and keeps one on which bytes keep moving, even in one
// direction only.
func TestIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	a := newTLSTarget(t, "a", "s.example.com")
	ga := newGroup(t, l4.GroupConfig{Name: "ga", Targets: targetConfigs(a)}, nil)
	gt := newGroup(t, l4.GroupConfig{Name: "gt", Targets: []l4.TargetConfig{{ID: "tick", Address: tickTarget(t, idle/4, 12), Weight: 1}}}, nil)
	addr, _ := startListener(t, []l4.Route{{SNI: "tick.example.com", Group: gt}}, ga, l4.ListenerOptions{IdleTimeout: idle})

	t.Run("quiet", func(t *testing.T) {
		quiet := dialKept(t, addr)
		if got := quiet.get(t); got != "a" {
			t.Fatalf("served by %q", got)
		}
		quiet.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := quiet.conn.Read(make([]byte, 1)); err == nil || !isClosed(err) {
			t.Errorf("quiet connection: %v; want it closed", err)
		}
	})
	t.Run("busy one way", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(captureHello(t, &tls.Config{ServerName: "tick.example.com"})); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(conn)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 12 {
			t.Errorf("got %d bytes over %v, want all 12: closed while busy", len(got), 12*idle/4)
		}
	})
}
