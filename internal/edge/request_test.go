package edge

import (
	"net"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestAmbiguousPath(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"/", false},
		{"/static/app.css", false},
		{"/a%20b/%41", false},
		{"/account%2Fx.css", true},
		{"/account%2fx.css", true},
		{"/a%5Cb", true},
		{"/a%00", true},
		{"/%2E%2E/x", true},
		{"/account;x.css", true},
		{"/a\\b", true},
		{"//a", true},
		{"/static/../account", true},
		{"/./a", true},
		{"/a/.", true},
		{"/a/..", true},
		{"/.", true},
		{"/..", true},
		{"/a.b/c..d/.e", false},
		{"/%", false},
		{"/%2", false},
	}
	for _, tt := range tests {
		if got := ambiguousPath(tt.path); got != tt.want {
			t.Errorf("ambiguousPath(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

// FuzzAmbiguousPath checks the one-pass ambiguousPath against its
// definition: the substrings of spec §2.6 B5 in the lowercased path.
func FuzzAmbiguousPath(f *testing.F) {
	for _, s := range []string{"/a%2F", "/%2e%2E/", "/a;b", "//", "/a/..", "/%5", "/x%00y", "/İ%2F", "/a#b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		lower := strings.ToLower(p)
		want := false
		for _, bad := range []string{"%2f", "%5c", "%00", ";", "//", "%2e", "\\", "#"} {
			want = want || strings.Contains(lower, bad)
		}
		want = want || lower == "/." || lower == "/.." || strings.Contains(lower, "/./") || strings.Contains(lower, "/../") ||
			strings.HasSuffix(lower, "/.") || strings.HasSuffix(lower, "/..")
		if got := ambiguousPath(p); got != want {
			t.Fatalf("ambiguousPath(%q) = %v, want %v", p, got, want)
		}
	})
}

// TestKeyHoldsTheObjectNames checks where cacheKey says the tenant, the
// host and the path are: a stored object's names are cut from its key.
func TestKeyHoldsTheObjectNames(t *testing.T) {
	tests := []struct{ name, target, host, tenant string }{
		{"plain", "/static/a.css", "example.com", ""},
		{"tenant and port", "/x?v=1", "Example.com:8080", "acme"},
		{"escaped path", "/a%20b/%C3%A9", "h", strings.Repeat("t", 200)},
	}
	b := compileBehaviorForFuzz()
	b.keyHeaders = []string{"X-A"}
	e := &Edge{behaviors: []*behavior{b}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://"+tt.host+tt.target, nil)
			v := parseView(r)
			s := b.selectInputs(r, &v)
			k, at := e.cacheKey(b, r, &v, &s, tt.tenant)
			if got := k[at.tenant : at.tenant+len(tt.tenant)]; got != tt.tenant {
				t.Errorf("tenant %q, want %q", got, tt.tenant)
			}
			if got := k[at.host : at.host+len(v.host)]; got != v.host {
				t.Errorf("host %q, want %q", got, v.host)
			}
			if got := k[at.path : at.path+len(v.rawPath)]; got != v.rawPath {
				t.Errorf("path %q, want %q", got, v.rawPath)
			}
		})
	}
}

// TestPeerString: the X-Forwarded-For address the edge sends is the
// peer's own text, cut from RemoteAddr for IPv4 and formatted otherwise.
func TestPeerString(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"127.0.0.1:40000", "127.0.0.1"},
		{"203.0.113.9:1", "203.0.113.9"},
		{"[::1]:8080", "::1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7"}, // a mapped IPv4 peer, unmapped as trust.Identify does
	} {
		ap := netip.MustParseAddrPort(tc.remote)
		if got := peerString(tc.remote, ap.Addr().Unmap()); got != tc.want {
			t.Errorf("peerString(%q) = %q, want %q", tc.remote, got, tc.want)
		}
	}
}

// FuzzNormalizeHost: normalizeHost lowercases the host and drops the
// scheme's default port, as net.SplitHostPort reads the port, whatever the
// host (the reference below is what it computed before it skipped
// SplitHostPort for hosts without that port).
func FuzzNormalizeHost(f *testing.F) {
	for _, h := range []string{"Example.COM", "example.com:80", "example.com:443", "example.com:8080", "[::1]:80", "[::1]:443",
		"[::1]", "::1", "a:b:80", ":80", "[x]:80", "EXAMPLE.com:80x", "example.com:080", "example.com:0443", "",
		"example.com.", "Example.COM.:443", "example.com..", ".", "example.com.:8080", "example.com:", "example.com:0080", "[::1]:0443", "a.:+80"} {
		f.Add(h, false)
		f.Add(h, true)
	}
	// The reference takes another way: Atoi for the port (minus the
	// signs ParseUint refuses), JoinHostPort for the brackets.
	reference := func(host string, tls bool) string {
		host = strings.ToLower(host)
		h, port, err := net.SplitHostPort(host)
		if err != nil {
			h = host
		}
		if n, perr := strconv.Atoi(port); perr == nil && n >= 0 && n < 1<<16 && port[0] != '+' && port[0] != '-' {
			port = strconv.Itoa(n)
		}
		if port == "80" && !tls || port == "443" && tls {
			port = ""
		}
		if strings.HasSuffix(h, ".") && !strings.HasSuffix(h, "..") && h != "." {
			h = h[:len(h)-1]
		}
		switch {
		case err != nil:
			return h
		case port != "":
			return net.JoinHostPort(h, port)
		case strings.Contains(h, ":"):
			return "[" + h + "]"
		}
		return h
	}
	f.Fuzz(func(t *testing.T, host string, tls bool) {
		if got, want := normalizeHost(host, tls), reference(host, tls); got != want {
			t.Fatalf("normalizeHost(%q, %v) = %q, want %q", host, tls, got, want)
		}
	})
}
