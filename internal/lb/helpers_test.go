package lb_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	ts "github.com/tetherlb/tether/internal/testsupport"
)

// groupYAML renders a config with one listener and one group "app" over
// targets, plus extra group keys (indented 4 spaces).
func groupYAML(targets []*ts.Target, extra string) string {
	var b strings.Builder
	b.WriteString("admin: {address: \"off\"}\nlisteners:\n  - {name: web, address: 127.0.0.1:0, default_target_group: app, trusted_proxies: [10.0.0.0/8]}\n")
	b.WriteString("target_groups:\n  - name: app\n    target_header: X-Tether-Target\n")
	b.WriteString("    health_check: {path: /healthz, interval: 1s, timeout: 500ms, healthy_threshold: 1, unhealthy_threshold: 1}\n")
	b.WriteString(extra)
	b.WriteString("    targets:\n")
	for _, t := range targets {
		fmt.Fprintf(&b, "      - {id: %s, address: %q}\n", t.ID, t.Addr)
	}
	return b.String()
}

func newTargets(t *testing.T, n int) []*ts.Target {
	var out []*ts.Target
	for i := 1; i <= n; i++ {
		out = append(out, ts.NewTarget(t, fmt.Sprintf("t%d", i)))
	}
	return out
}

// get sends a GET and returns the serving target (from target_header), the
// status and the response.
func get(t *testing.T, c *http.Client, url string, hdr ...string) (string, int, *http.Response) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header.Get("X-Tether-Target"), resp.StatusCode, resp
}

// setCookie returns the Set-Cookie line for name, or "".
func setCookie(resp *http.Response, name string) string {
	for _, l := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(l, name+"=") {
			return l
		}
	}
	return ""
}

// waitHealthy waits until the first health checks have run.
func waitHealthy(t *testing.T, l *ts.LB, n int) {
	t.Helper()
	ts.WaitFor(t, "first health checks", func() bool {
		healthy := 0
		for _, g := range l.Snapshot() {
			for _, tg := range g.Targets {
				if tg.State == "healthy" {
					healthy++
				}
			}
		}
		return healthy >= n
	})
}

func decisions(t *testing.T, l *ts.LB, outcome, cause string) float64 {
	return ts.Metric(t, l.Registry(), "tether_affinity_decisions_total",
		map[string]string{"group": "app", "outcome": outcome, "cause": cause})
}

// listenOn listens on addr again (after a target was killed), retrying
// briefly while the port lingers.
func listenOn(t *testing.T, addr string) net.Listener {
	t.Helper()
	var err error
	for i := 0; i < 50; i++ {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("listening on %s: %v", addr, err)
	return nil
}

// plainClient is a client without cookies, with its own connection pool and
// a timeout, so that a stuck request fails the test instead of hanging it.
func plainClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
}

// dialWebSocket opens a WebSocket through tether at url (http://host:port)
// to the test targets' /ws echo and returns the connection after the 101.
func dialWebSocket(t *testing.T, url string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprint(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return c, br, resp
}
