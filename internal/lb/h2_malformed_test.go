package lb_test

import (
	"fmt"
	"strings"
	"testing"

	ts "github.com/tetherlb/tether/internal/testsupport"
)

// TestH2MalformedRequests: what Go's HTTP/2 server lets through and its
// HTTP/1.1 server refuses is refused by the listener too, with a 400
// counted by reason, before any target sees it; CONNECT, which would
// open a raw tunnel to the target past every rule and log (a request
// smuggled in its DATA reached the target), gets 501.
func TestH2MalformedRequests(t *testing.T) {
	targets := newTargets(t, 1)
	cert, key := ts.TLSFiles(t)
	l := ts.StartLB(t, httpsYAML(targets, fmt.Sprintf("{cert_file: %q, key_file: %q, hsts: {max_age: 24h}}", cert, key)))
	addr := l.Addr("web").String()
	req := func(method, authority, path string, extra ...string) []string {
		return append([]string{":method", method, ":scheme", "https", ":authority", authority, ":path", path}, extra...)
	}
	smuggled := "GET /admin/delete-everything HTTP/1.1\r\nHost: internal.admin\r\n\r\n"
	tests := []struct {
		name   string
		fields []string
		body   []byte
		want   string // :status, or how the stream ended
		reason string // the tether_http_rejected_total reason counted
	}{
		{"a good GET", req("GET", "app.example", "/x"), nil, "200", ""},
		{"CONNECT with a request in its DATA", []string{":method", "CONNECT", ":authority", targets[0].Addr}, []byte(smuggled), "501", "connect"},
		{"an authority with a space", req("GET", "a b", "/x"), nil, "400", "authority"},
		{"an authority with a slash", req("GET", "a/b", "/x"), nil, "400", "authority"},
		{"a method with a space", req("G T", "app.example", "/x"), nil, "400", "method"},
		{"a path with a space", req("GET", "app.example", "/x?y z"), nil, "400", "target"},
		{"a content-length the stream's end contradicts", req("POST", "app.example", "/up", "content-length", "10"), nil, "400", "content_length"},
		{"a content-length with a sign", req("POST", "app.example", "/up", "content-length", "+10"), []byte("0123456789"), "400", "content_length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			labels := map[string]string{"listener": "web", "reason": tc.reason}
			before := ts.Metric(t, l.Registry(), "tether_http_rejected_total", labels)
			last := targets[0].LastRequest()
			got := ts.DialH2(t, addr).Request(tc.fields, tc.body)
			// Go's server may reset a stream whose content-length it
			// cannot parse before the handler answers: refused either way.
			if got != tc.want && !(tc.reason == "content_length" && strings.HasPrefix(got, "RST_STREAM")) {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			if tc.reason == "" {
				return
			}
			if r := targets[0].LastRequest(); r != last {
				t.Errorf("the target got %s %s", r.Method, r.URL)
			}
			if got == tc.want {
				if n := ts.Metric(t, l.Registry(), "tether_http_rejected_total", labels); n != before+1 {
					t.Errorf("tether_http_rejected_total{reason=%q}: %v, want %v", tc.reason, n, before+1)
				}
			}
		})
	}
	// A malformed stream ends alone: the connection's next stream is served.
	c := ts.DialH2(t, addr)
	if got := c.Request(req("G T", "app.example", "/x"), nil); got != "400" {
		t.Fatalf("malformed stream: %s, want 400", got)
	}
	if got := c.Request(req("GET", "app.example", "/x"), nil); got != "200" {
		t.Errorf("the next stream on the same connection: %s, want 200", got)
	}
}
