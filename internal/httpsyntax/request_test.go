package httpsyntax

import (
	"net/http"
	"testing"
)

func TestRequestProblem(t *testing.T) {
	req := func(proto int, method, target, host string, cl int64, h ...string) *http.Request {
		r := &http.Request{Method: method, RequestURI: target, Host: host, ProtoMajor: proto, ContentLength: cl, Header: http.Header{}}
		for i := 0; i+1 < len(h); i += 2 {
			r.Header.Add(h[i], h[i+1])
		}
		return r
	}
	tests := []struct {
		name string
		r    *http.Request
		want string
	}{
		{"a GET", req(2, "GET", "/x?a=b", "example.com:443", 0), ""},
		{"an IPv6 host", req(2, "GET", "/", "[::1]:8080", 0), ""},
		{"OPTIONS *", req(1, "OPTIONS", "*", "example.com", 0), ""},
		{"a POST with its length", req(2, "POST", "/up", "example.com", 10, "Content-Length", "10"), ""},
		{"a body of unknown length", req(2, "POST", "/up", "example.com", -1, "Content-Length", "10"), ""},
		{"CONNECT", req(2, "CONNECT", "", "127.0.0.1:9000", -1), "connect"},
		{"CONNECT over HTTP/1.1", req(1, "CONNECT", "127.0.0.1:9000", "127.0.0.1:9000", 0), "connect"},
		{"a method with a space", req(2, "G T", "/", "example.com", 0), "method"},
		{"a target with a space", req(2, "GET", "/x?y z", "example.com", 0), "target"},
		{"a target with a control character", req(2, "GET", "/x\x01", "example.com", 0), "target"},
		{"PRI *", req(1, "PRI", "*", "", 0), "target"},
		{"a host with a space", req(2, "GET", "/", "a b", 0), "authority"},
		{"a host with a slash", req(2, "GET", "/", "a/b", 0), "authority"},
		{"a host with a quote", req(2, "GET", "/", `a"b`, 0), "authority"},
		{"two lengths", req(2, "POST", "/", "example.com", 10, "Content-Length", "10", "Content-Length", "10"), "content_length"},
		{"a length with a sign", req(2, "POST", "/", "example.com", -1, "Content-Length", "+10"), "content_length"},
		{"a list as a length", req(2, "POST", "/", "example.com", -1, "Content-Length", "10, 10"), "content_length"},
		{"a length on a stream that ended", req(2, "POST", "/", "example.com", 0, "Content-Length", "10"), "content_length"},
	}
	for _, tc := range tests {
		if got := RequestProblem(tc.r); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
