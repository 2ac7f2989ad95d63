package lb

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// FuzzHeadScanner: the smuggling scanner never panics, and flags a head
// exactly when it carries both headers at the start of a line.
func FuzzHeadScanner(f *testing.F) {
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), 7)
	f.Add([]byte("GET / HTTP/1.1\r\nX-Content-Length: 5\r\n\r\n"), 1)
	f.Add([]byte("\n\n\r\r::::"), 3)
	f.Fuzz(func(t *testing.T, head []byte, split int) {
		c := newConn(nil, nil)
		if split < 0 || split > len(head) {
			split = len(head) / 2
		}
		c.scan(head[:split])
		c.scan(head[split:])
		want := hasHeaderLine(head, "content-length") && hasHeaderLine(head, "transfer-encoding")
		if c.smuggled(&http.Request{ProtoMajor: 1, ProtoMinor: 1}) && !want {
			t.Fatalf("flagged %q", head)
		}
		// On HTTP/1.0, Transfer-Encoding alone is flagged.
		if c.smuggled(&http.Request{ProtoMajor: 1, ProtoMinor: 0}) && !hasHeaderLine(head, "transfer-encoding") {
			t.Fatalf("flagged %q on HTTP/1.0", head)
		}
	})
}

// hasHeaderLine reports whether name: starts a line of the head (before the
// first blank line).
func hasHeaderLine(head []byte, name string) bool {
	s := strings.ReplaceAll(string(head), "\r", "")
	if i := strings.Index(s, "\n\n"); i >= 0 {
		s = s[:i]
	}
	for _, line := range strings.Split(s, "\n") {
		if k, _, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// FuzzIdentify: hostile X-Forwarded-For and X-Forwarded-Proto never panic,
// and an untrusted peer can never choose its client address.
func FuzzIdentify(f *testing.F) {
	f.Add("203.0.113.1, 10.0.0.1", "https", true)
	f.Add("garbage,,, ::1, 1.2.3.4", "HTTP", false)
	f.Add(strings.Repeat("1.1.1.1,", 100), "ftp", true)
	tl := trustList{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, xff, proto string, trusted bool) {
		peer := "192.0.2.1:1234"
		if trusted {
			peer = "10.1.2.3:1234"
		}
		r := &http.Request{RemoteAddr: peer, Header: http.Header{"X-Forwarded-For": {xff}, "X-Forwarded-Proto": {proto}}}
		ci := tl.Identify(r)
		if !trusted && (ci.Addr.String() != "192.0.2.1" || ci.Secure()) {
			t.Fatalf("untrusted peer chose client %s secure=%v", ci.Addr, ci.Secure())
		}
		out := &http.Request{Header: http.Header{}}
		setForwarded(out, r, ci, "80")
		if v := out.Header.Get("Forwarded"); !strings.Contains(v, "for=") {
			t.Fatalf("Forwarded = %q", v)
		}
	})
}

// FuzzRouter: cleaning and matching hostile hosts and paths never panics
// and always yields a group.
func FuzzRouter(f *testing.F) {
	f.Add("API.example.com:443", "/v1/../admin")
	f.Add("[::1]:80", "//a/./b/")
	f.Add("", "")
	def, api := &group{name: "def"}, &group{name: "api"}
	rt := &router{def: def, rules: []rule{{host: ".example.com", wildcard: true, path: "/v1", prefix: true, group: api}}}
	f.Fuzz(func(t *testing.T, host, p string) {
		if g, _ := rt.match(hostOnly(host), p); g == nil {
			t.Fatal("no group")
		}
		if c := cleanPath(p); strings.Contains(c, "/../") {
			t.Fatalf("cleanPath(%q) = %q", p, c)
		}
	})
}
