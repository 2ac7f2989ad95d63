package lb_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	ts "github.com/tetherlb/tether/internal/testsupport"
)

func TestRoundRobinSpreadsEvenly(t *testing.T) {
	targets := newTargets(t, 3)
	l := ts.StartLB(t, groupYAML(targets, ""))
	waitHealthy(t, l, 3)
	count := map[string]int{}
	for i := 0; i < 30; i++ {
		id, code, _ := get(t, plainClient(), l.URL+"/")
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		count[id]++
	}
	for _, tg := range targets {
		if count[tg.ID] != 10 {
			t.Errorf("round robin: %v, want 10 each", count)
		}
	}
	// The counters are bumped as the handler returns, just after the client
	// has its response.
	ts.WaitFor(t, "30 requests counted", func() bool {
		return ts.Metric(t, l.Registry(), "tether_requests_total", map[string]string{"group": "app", "code": "200"}) == 30 &&
			ts.Metric(t, l.Registry(), "tether_request_duration_seconds", map[string]string{"group": "app"}) == 30
	})
}

func TestForwardedHeaders(t *testing.T) {
	targets := newTargets(t, 1)
	tests := []struct {
		name    string
		trusted string
		wantXFF string
		wantFwd string
		proto   string
		host    string
	}{
		{"untrusted peer: client copies replaced", "10.0.0.0/8", "127.0.0.1", "for=127.0.0.1;host=", "http", "app.example"},
		{"trusted peer: appended", "127.0.0.1", "203.0.113.9, 127.0.0.1", "for=203.0.113.9, for=127.0.0.1;host=", "https", "cdn.example"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.Replace(groupYAML(targets, ""), "[10.0.0.0/8]", "["+tc.trusted+"]", 1)
			l := ts.StartLB(t, y)
			req, _ := http.NewRequest("GET", l.URL+"/x", nil)
			req.Host = "app.example"
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("X-Forwarded-Host", "cdn.example")
			req.Header.Set("Forwarded", "for=203.0.113.9")
			req.Header.Set("Connection", "X-Hop")
			req.Header.Set("X-Hop", "secret")
			resp, err := plainClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			r := targets[0].LastRequest()
			if got := r.Header.Get("X-Forwarded-For"); got != tc.wantXFF {
				t.Errorf("X-Forwarded-For = %q, want %q", got, tc.wantXFF)
			}
			if got := r.Header.Get("Forwarded"); !strings.HasPrefix(got, tc.wantFwd) {
				t.Errorf("Forwarded = %q, want prefix %q", got, tc.wantFwd)
			}
			if got := r.Header.Get("X-Forwarded-Proto"); got != tc.proto {
				t.Errorf("X-Forwarded-Proto = %q, want %q", got, tc.proto)
			}
			if got := r.Header.Get("X-Forwarded-Host"); got != tc.host {
				t.Errorf("X-Forwarded-Host = %q, want %q", got, tc.host)
			}
			if got := r.Header.Get("X-Forwarded-Port"); got == "" {
				t.Error("X-Forwarded-Port missing")
			}
			if r.Host != "app.example" {
				t.Errorf("Host = %q, want the client's", r.Host)
			}
			if r.Header.Get("X-Hop") != "" || r.Header.Get("Connection") != "" {
				t.Errorf("hop-by-hop headers reached the target: %v", r.Header)
			}
		})
	}
}

func TestRules(t *testing.T) {
	a, b, c, d := ts.NewTarget(t, "a"), ts.NewTarget(t, "b"), ts.NewTarget(t, "c"), ts.NewTarget(t, "d")
	y := fmt.Sprintf(`admin: {address: "off"}
listeners:
  - name: web
    address: 127.0.0.1:0
    default_target_group: def
    rules:
      - {host: api.example.com, path: /v1/*, target_group: api}
      - {host: "*.example.com", target_group: wild}
      - {path: /login, target_group: login}
target_groups:
  - {name: api, target_header: X-T, targets: [{id: a, address: %q}]}
  - {name: wild, target_header: X-T, targets: [{id: b, address: %q}]}
  - {name: login, target_header: X-T, targets: [{id: c, address: %q}]}
  - {name: def, target_header: X-T, targets: [{id: d, address: %q}]}
`, a.Addr, b.Addr, c.Addr, d.Addr)
	l := ts.StartLB(t, y)
	tests := []struct{ host, path, want string }{
		{"api.example.com", "/v1/users", "a"},
		{"API.example.com:8080", "/v1", "a"},
		{"api.example.com", "/v2/users", "b"},
		{"www.example.com", "/login", "b"},
		{"example.com", "/login", "c"},
		{"other.org", "/login", "c"},
		{"other.org", "/login/x", "d"},
		{"other.org", "/", "d"},
		{"api.example.com", "/v2/../v1/x", "a"},
		// A fully qualified name's trailing dot is the same host: it does
		// not walk around a host rule (nor its authorizer).
		{"api.example.com.", "/v1/users", "a"},
		{"www.example.com.:8080", "/", "b"},
	}
	for _, tc := range tests {
		t.Run(tc.host+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest("GET", l.URL+tc.path, nil)
			req.Host = tc.host
			req.URL.Opaque = tc.path // keep dot segments as sent
			resp, err := plainClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("X-T"); got != tc.want {
				t.Errorf("routed to %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRetryOnConnectFailure: a target that is down at start is not fatal;
// requests without a body that cannot connect are retried on another
// target; a streamed POST body is not replayed (502).
func TestRetryOnConnectFailure(t *testing.T) {
	live := ts.NewTarget(t, "live")
	dead := &ts.Target{ID: "dead", Addr: ts.DeadAddress(t)}
	y := groupYAML([]*ts.Target{dead, live}, "    algorithm: round_robin\n")
	// Health checks would mark "dead" unhealthy before any request; turn
	// them off to exercise the connect path.
	y = strings.Replace(y, "health_check: {path: /healthz,", "health_check: {enabled: false, path: /healthz,", 1)
	l := ts.StartLB(t, y)
	for i := 0; i < 4; i++ {
		if id, code, _ := get(t, plainClient(), l.URL+"/"); code != 200 || id != "live" {
			t.Fatalf("GET %d: %d from %q", i, code, id)
		}
	}
	st := l.Snapshot()[0].Targets[0]
	if st.State != "unhealthy" {
		t.Errorf("dead target state %q, want unhealthy (passive)", st.State)
	}
}

// A streamed POST whose target cannot be connected to goes to another
// target once, with its whole body: none of it had been read.
func TestPostBodyToDeadTargetMoves(t *testing.T) {
	dead := &ts.Target{ID: "dead", Addr: ts.DeadAddress(t)}
	live := ts.NewTarget(t, "live")
	y := strings.Replace(groupYAML([]*ts.Target{dead, live}, ""), "health_check: {path: /healthz,", "health_check: {enabled: false, path: /healthz,", 1)
	l := ts.StartLB(t, y)
	// Round robin sends the first request to "dead".
	resp, err := plainClient().Post(l.URL+"/upload", "application/octet-stream", io.MultiReader(strings.NewReader("xyz"), slowReader{}))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "live 3" || live.Requests.Load() != 1 {
		t.Errorf("POST with a streamed body to a dead target: %d %q, %d requests at the live target; want 200 \"live 3\" and 1",
			resp.StatusCode, body, live.Requests.Load())
	}
}

// slowReader makes a request body of unknown length (chunked).
type slowReader struct{}

func (slowReader) Read([]byte) (int, error) { return 0, io.EOF }

func TestFailOpen(t *testing.T) {
	targets := newTargets(t, 2)
	for _, tg := range targets {
		tg.HealthStatus.Store(500)
	}
	l := ts.StartLB(t, groupYAML(targets, ""))
	ts.WaitFor(t, "targets unhealthy", func() bool {
		for _, tg := range l.Snapshot()[0].Targets {
			if tg.State != "unhealthy" {
				return false
			}
		}
		return true
	})
	for i := 0; i < 4; i++ {
		if _, code, _ := get(t, plainClient(), l.URL+"/"); code != 200 {
			t.Fatalf("fail open: status %d, want 200", code)
		}
	}
	l.Sweep()
	if v := ts.Metric(t, l.Registry(), "tether_fail_open", map[string]string{"group": "app"}); v != 1 {
		t.Errorf("tether_fail_open = %v, want 1", v)
	}
	if v := ts.Metric(t, l.Registry(), "tether_fail_open_requests_total", nil); v < 4 {
		t.Errorf("fail-open requests = %v, want >= 4", v)
	}
}

// A streak of passive_5xx responses takes a target out, but passive checks
// take out at most half the group's targets: any client can make a target
// answer 5xx (a page that fails), and must not empty the group by asking
// for it on every target.
func TestPassive5xxStreak(t *testing.T) {
	targets := newTargets(t, 4)
	y := strings.Replace(groupYAML(targets, ""), "health_check: {path: /healthz,", "health_check: {enabled: false, passive_5xx: 3, path: /healthz,", 1)
	l := ts.StartLB(t, y)
	c := plainClient()
	// Round robin goes round; 12 requests give each target 3 errors.
	for i := 0; i < 12; i++ {
		get(t, c, l.URL+"/status?code=503")
	}
	out := 0
	for _, st := range l.Snapshot()[0].Targets {
		if st.State == "unhealthy" {
			out++
		}
	}
	if out != 2 {
		t.Errorf("%d of 4 targets unhealthy after three 5xx each, want 2 (half the group)", out)
	}
}

func TestStreaming(t *testing.T) {
	targets := newTargets(t, 1)
	l := ts.StartLB(t, groupYAML(targets, ""))
	resp, err := plainClient().Get(l.URL + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	start := time.Now()
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "data: t1 0") {
		t.Fatalf("first event %q, %v", line, err)
	}
	// The first event must arrive before the stream ends (≥100ms later).
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "data: t1 2") {
		t.Errorf("stream ended early: %q", rest)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("whole stream arrived in %v; the first event was not flushed on its own", d)
	}
}

func TestStreamedUpload(t *testing.T) {
	targets := newTargets(t, 1)
	l := ts.StartLB(t, groupYAML(targets, ""))
	body := make([]byte, 8<<20)
	rand.Read(body)
	pr, pw := io.Pipe()
	go func() {
		for off := 0; off < len(body); off += 64 << 10 {
			pw.Write(body[off : off+64<<10])
		}
		pw.Close()
	}()
	resp, err := plainClient().Post(l.URL+"/upload", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != fmt.Sprintf("t1 %d", len(body)) {
		t.Errorf("target read %q, want %d bytes", got, len(body))
	}
}

func TestWebSocketStaysOnTarget(t *testing.T) {
	targets := newTargets(t, 3)
	l := ts.StartLB(t, groupYAML(targets, ""))
	c, br, resp := dialWebSocket(t, l.URL)
	if resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("accept header %q", resp.Header.Get("Sec-WebSocket-Accept"))
	}
	served := resp.Header.Get("X-Tether-Target")
	for i := 0; i < 5; i++ {
		fmt.Fprintf(c, "ping %d\n", i)
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%s: ping %d\n", served, i); line != want {
			t.Fatalf("echo %q, want %q", line, want)
		}
	}
}

func TestMalformedRequests(t *testing.T) {
	targets := newTargets(t, 1)
	l := ts.StartLB(t, groupYAML(targets, ""))
	addr := strings.TrimPrefix(l.URL, "http://")
	tests := []struct {
		name, raw string
		want      int
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE and CL, odd case", "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\nCONTENT-LENGTH: 5\r\n\r\n0\r\n\r\n", 400},
		{"malformed host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"huge headers", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n", 431},
		{"control bytes in a cookie", "GET / HTTP/1.1\r\nHost: a\r\nCookie: TETHER=\x01\x02\r\n\r\n", 400},
		{"garbage cookie", "GET / HTTP/1.1\r\nHost: a\r\nCookie: TETHER=@@@; =;;; x; TETHER\r\nCookie: TETHERCORS=\"\"\r\n\r\n", 200},
		{"5 KB cookie", "GET / HTTP/1.1\r\nHost: a\r\nCookie: TETHER=" + strings.Repeat("Z", 5000) + "\r\n\r\n", 200},
		{"chunked only is fine", "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tc.raw)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	for code, want := range map[string]float64{"400": 6, "431": 1} {
		if got := ts.Metric(t, l.Registry(), "tether_http_rejected_total", map[string]string{"code": code}); got != want {
			t.Errorf("tether_http_rejected_total{code=%s} = %v, want %v", code, got, want)
		}
	}
	// Keep-alive still works after a rejected head on another connection.
	if _, code, _ := get(t, plainClient(), l.URL+"/"); code != 200 {
		t.Errorf("normal request after bad ones: %d", code)
	}
}

// TestKeepAliveAfterBody: the smuggling scanner re-arms per request, so a
// body containing header-like text on a keep-alive connection is harmless.
func TestKeepAliveAfterBody(t *testing.T) {
	targets := newTargets(t, 1)
	l := ts.StartLB(t, groupYAML(targets, ""))
	body := "content-length: 1\r\ntransfer-encoding: chunked\r\n\r\n"
	c := plainClient()
	for i := 0; i < 3; i++ {
		resp, err := c.Post(l.URL+"/upload", "text/plain", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
}

// TestNoContentTypeNotSniffed: a target's response without Content-Type
// reaches the client without one, on the front's own relay (GET) and on
// net/http's path (a POST with a body), not with one sniffed from the
// body (text/html for markup, which nosniff then cannot stop).
func TestNoContentTypeNotSniffed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header()["Content-Type"] = nil
		w.Header().Set("X-Content-Type-Options", "nosniff")
		io.WriteString(w, "<html><body><script>alert(1)</script></body></html>")
	}))
	defer srv.Close()
	tg := &ts.Target{ID: "up", Addr: strings.TrimPrefix(srv.URL, "http://")}
	y := strings.Replace(groupYAML([]*ts.Target{tg}, ""), "health_check: {path: /healthz,", "health_check: {enabled: false, path: /healthz,", 1)
	l := ts.StartLB(t, y)
	for _, method := range []string{"GET", "POST"} {
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader("body")
		}
		req, _ := http.NewRequest(method, l.URL+"/upload", body)
		resp, err := plainClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if ct, ok := resp.Header["Content-Type"]; resp.StatusCode != 200 || ok {
			t.Errorf("%s: %d, Content-Type %q; want 200 without one (the target sent none)", method, resp.StatusCode, ct)
		}
	}
}
