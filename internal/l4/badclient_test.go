package l4_test

import (
	"context"
	"crypto/tls"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/l4"
)

// slowConn sends its first Write one byte at a time, a millisecond apart.
type slowConn struct {
	net.Conn
	slowed int
}

func (c *slowConn) Write(p []byte) (int, error) {
	if c.slowed > 0 {
		return c.Conn.Write(p)
	}
	for i := range p {
		if _, err := c.Conn.Write(p[i : i+1]); err != nil {
			return i, err
		}
		c.slowed++
		time.Sleep(time.Millisecond)
	}
	return len(p), nil
}

// TestBadClients sends what is not a ClientHello, or a ClientHello slowly,
// and checks that nothing hangs and no goroutine is left behind.
func TestBadClients(t *testing.T) {
	baseline := runtime.NumGoroutine()

	a := newTLSTarget(t, "a", "a.example.com")
	g := newGroup(t, l4.GroupConfig{Name: "ga", Targets: targetConfigs(a)}, nil)
	routes := []l4.Route{{SNI: "a.example.com", Group: g}}
	m := newRecorder()
	fast, fastL := startListener(t, routes, nil, l4.ListenerOptions{ReadHelloTimeout: 300 * time.Millisecond, Metrics: m})
	slow, slowL := startListener(t, routes, nil, l4.ListenerOptions{ReadHelloTimeout: 20 * time.Second})

	oversizedHello := append([]byte{22, 3, 1, 0x40, 0x00, 1, 0, 0x50, 0x00}, make([]byte, 1<<14-4)...)
	tests := []struct {
		name string
		send []byte
		hang bool // close the connection after sending, rather than wait
	}{
		{name: "silent client", send: nil},
		{name: "HTTP request", send: []byte("GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n")},
		{name: "record over 16 KiB", send: []byte{22, 3, 1, 0x40, 0x01}},
		{name: "hello over 16 KiB", send: oversizedHello},
		{name: "alert record", send: []byte{21, 3, 3, 0, 2, 2, 40}},
		{name: "hangs up inside the hello", send: []byte{22, 3, 1, 0, 200, 1}, hang: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", fast)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			if tc.hang {
				return
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := c.Read(make([]byte, 64))
			if n != 0 || err == nil || !isClosed(err) {
				t.Errorf("read %d bytes, %v; want the proxy to close the connection", n, err)
			}
		})
	}
	waitFor(t, "bad hellos counted", func() bool { return m.count("//"+l4.OutcomeBadHello) == len(tests) })

	t.Run("one byte at a time", func(t *testing.T) {
		var sc *slowConn
		c := client{
			lbAddr: slow,
			tls:    &tls.Config{RootCAs: theCA(t).pool, CurvePreferences: []tls.CurveID{tls.X25519}},
			wrap:   func(c net.Conn) net.Conn { sc = &slowConn{Conn: c}; return sc },
		}
		if got := c.mustGet(t, "a.example.com"); got != "a" {
			t.Errorf("served by %q, want a", got)
		}
		if sc.slowed < 100 {
			t.Errorf("the ClientHello went out in %d single bytes; want it all", sc.slowed)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, l := range []*l4.Listener{fastL, slowL} {
		if err := l.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
	g.Close()
	a.srv.Close()
	waitFor(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline })
}
