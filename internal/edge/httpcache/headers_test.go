package httpcache

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestVaryHeaders(t *testing.T) {
	tests := []struct {
		vary  []string
		names []string
		star  bool
	}{
		{nil, nil, false},
		{[]string{"Accept-Encoding"}, []string{"accept-encoding"}, false},
		{[]string{"Cookie, accept-language", "ACCEPT-ENCODING,cookie"}, []string{"accept-encoding", "accept-language", "cookie"}, false},
		{[]string{"*"}, nil, true},
		{[]string{" Origin , * "}, []string{"origin"}, true},
		{[]string{" , "}, nil, false},
		// Not field names: what the origin meant is unknown, so "*".
		{[]string{`"Accept-Language"`}, nil, true},
		{[]string{"Accept-Encoding;Accept-Language", "Origin"}, []string{"origin"}, true},
		{[]string{"Accept Language"}, nil, true},
	}
	for _, tt := range tests {
		names, star := VaryHeaders(http.Header{"Vary": tt.vary})
		if !slices.Equal(names, tt.names) || star != tt.star {
			t.Errorf("VaryHeaders(%q) = %q, %v; want %q, %v", tt.vary, names, star, tt.names, tt.star)
		}
	}
}

func TestSplitSetCookie(t *testing.T) {
	isInfra := func(name string) bool { return name == "AWSALB" || strings.HasPrefix(name, "AWSALBAPP-") }
	h := http.Header{"Set-Cookie": {
		"AWSALB=X1; Expires=Thu, 01 Jan 2099 00:00:00 GMT; Path=/",
		"session=s; HttpOnly",
		"AWSALBAPP-0=y",
		"awsalb=lower",    // case-sensitive: not infra
		"garbage",         // no name=value: other
		" AWSALB =spaced", // trimmed name
	}}
	infra, other := SplitSetCookie(h, isInfra)
	if want := []string{h["Set-Cookie"][0], "AWSALBAPP-0=y", " AWSALB =spaced"}; !slices.Equal(infra, want) {
		t.Errorf("infra = %q, want %q", infra, want)
	}
	if want := []string{"session=s; HttpOnly", "awsalb=lower", "garbage"}; !slices.Equal(other, want) {
		t.Errorf("other = %q, want %q", other, want)
	}
	if infra, other := SplitSetCookie(h, nil); len(infra) != 0 || len(other) != 6 {
		t.Errorf("nil isInfra: %d infra, %d other", len(infra), len(other))
	}
}

func TestStoredHeader(t *testing.T) {
	h := http.Header{"Set-Cookie": {"a=1"}, "Content-Type": {"text/plain"}, "X-Token": {"t"}}
	out := StoredHeader(h, []string{"Set-Cookie", "X-Token"})
	if len(out) != 1 || out.Get("Content-Type") != "text/plain" {
		t.Errorf("StoredHeader = %v", out)
	}
	if h.Get("Set-Cookie") == "" {
		t.Error("StoredHeader changed its input")
	}
	if out := StoredHeader(nil, nil); out == nil {
		t.Error("StoredHeader(nil) = nil")
	}
}

func TestRequestStaleIfError(t *testing.T) {
	if d, ok := RequestStaleIfError(http.Header{"Cache-Control": {"stale-if-error=30"}}); !ok || d != 30*time.Second {
		t.Errorf("RequestStaleIfError = %v, %v", d, ok)
	}
	if _, ok := RequestStaleIfError(http.Header{}); ok {
		t.Error("RequestStaleIfError found one in an empty header")
	}
}
