package httpcache

import (
	"reflect"
	"testing"
	"time"
)

func set(d time.Duration) Delta { return Delta{D: d, Set: true} }

func TestParseCacheControl(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  Directives
	}{
		{"empty", []string{""}, Directives{}},
		{"simple", []string{"public, max-age=60"}, Directives{Public: true, MaxAge: set(60 * s)}},
		{"case-insensitive names", []string{"Max-Age=60, NO-STORE"}, Directives{NoStore: true, MaxAge: set(60 * s)}},
		{"several lines", []string{"max-age=60", "s-maxage=30", "private"}, Directives{Private: true, MaxAge: set(60 * s), SMaxAge: set(30 * s)}},
		{"whitespace and empty elements", []string{" ,, max-age=60 ,\t no-cache , "}, Directives{NoCache: true, MaxAge: set(60 * s)}},
		{"quoted max-age accepted", []string{`max-age="60"`}, Directives{MaxAge: set(60 * s)}},
		{"invalid max-age is stale", []string{"max-age=abc"}, Directives{MaxAge: set(0)}},
		{"negative max-age is stale", []string{"max-age=-1"}, Directives{MaxAge: set(0)}},
		{"decimal max-age is stale", []string{"max-age=1.5"}, Directives{MaxAge: set(0)}},
		{"bare max-age is stale", []string{"max-age"}, Directives{MaxAge: set(0)}},
		{"space before = is malformed", []string{"max-age =60"}, Directives{MaxAge: set(0)}},
		{"space after = is malformed", []string{"max-age= 60"}, Directives{MaxAge: set(0)}},
		{"agreeing duplicates", []string{"max-age=60, max-age=60"}, Directives{MaxAge: set(60 * s)}},
		{"conflicting duplicates are stale", []string{"max-age=60", "max-age=120"}, Directives{MaxAge: set(0)}},
		{"overflow saturates at 2^31", []string{"max-age=99999999999999999999"}, Directives{MaxAge: set(maxDelta)}},
		{"qualified no-cache", []string{`no-cache="Set-Cookie", max-age=60`}, Directives{NoCacheFields: []string{"set-cookie"}, MaxAge: set(60 * s)}},
		{"qualified no-cache, token form", []string{`no-cache=Set-Cookie`}, Directives{NoCacheFields: []string{"set-cookie"}}},
		{"qualified private list", []string{`private="Set-Cookie, X-User"`}, Directives{PrivateFields: []string{"set-cookie", "x-user"}}},
		{"qualified and bare no-cache", []string{`no-cache="X", no-cache`}, Directives{NoCache: true, NoCacheFields: []string{"x"}}},
		{"empty qualified list is unqualified", []string{`private=""`}, Directives{Private: true}},
		{"malformed qualified list is unqualified", []string{`no-cache="a b"`}, Directives{NoCache: true}},
		{"unterminated quote is unqualified", []string{`private="Set-Cookie, max-age=60`}, Directives{Private: true}},
		{"comma inside quotes", []string{`no-cache="a,b", max-age=5`}, Directives{NoCacheFields: []string{"a", "b"}, MaxAge: set(5 * s)}},
		{"escaped quote", []string{`x="a\"b", max-age=5`}, Directives{MaxAge: set(5 * s)}},
		{"no-store with an argument still counts", []string{"no-store=yes"}, Directives{NoStore: true}},
		{"public with an argument is ignored", []string{"public=yes"}, Directives{}},
		{"must-revalidate and proxy-revalidate", []string{"must-revalidate, proxy-revalidate"}, Directives{MustRevalidate: true, ProxyRevalidate: true}},
		{"stale directives", []string{"stale-while-revalidate=30, stale-if-error=600"}, Directives{StaleWhileRevalidate: set(30 * s), StaleIfError: set(600 * s)}},
		{"invalid stale-if-error is 0", []string{"stale-if-error=soon"}, Directives{StaleIfError: set(0)}},
		{"request directives", []string{"max-stale, min-fresh=10, only-if-cached, no-transform"}, Directives{MaxStale: set(Forever), MinFresh: set(10 * s), OnlyIfCached: true, NoTransform: true}},
		{"max-stale with value", []string{"max-stale=5"}, Directives{MaxStale: set(5 * s)}},
		{"immutable and must-understand", []string{"immutable, must-understand"}, Directives{Immutable: true, MustUnderstand: true}},
		{"unknown directives ignored", []string{"foo, bar=baz, max-age=1"}, Directives{MaxAge: set(s)}},
		{"garbage name ignored", []string{"@@@, max-age=1"}, Directives{MaxAge: set(s)}},
		{"s-maxage=0", []string{"s-maxage=0"}, Directives{SMaxAge: set(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseCacheControl(tt.lines); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseCacheControl(%q)\n got %+v\nwant %+v", tt.lines, got, tt.want)
			}
		})
	}
}

func TestDirectiveFieldLookups(t *testing.T) {
	d := ParseCacheControl([]string{`no-cache="Set-Cookie", private="X-A"`})
	if !d.NoCacheField("set-cookie") || !d.NoCacheField("SET-COOKIE") || d.NoCacheField("x-a") {
		t.Errorf("NoCacheField wrong for %+v", d)
	}
	if !d.PrivateField("X-A") || d.PrivateField("Set-Cookie") {
		t.Errorf("PrivateField wrong for %+v", d)
	}
}

func TestParseCDNCacheControl(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  Directives
		ok    bool
	}{
		{"absent", nil, Directives{}, false},
		{"empty", []string{""}, Directives{}, false},
		{"only commas and spaces", []string{" , "}, Directives{}, false},
		{"max-age", []string{"max-age=600"}, Directives{MaxAge: set(600 * s)}, true},
		{"flags", []string{"no-store, private, must-revalidate, public"}, Directives{NoStore: true, Private: true, MustRevalidate: true, Public: true}, true},
		{"placeholder none", []string{"none"}, Directives{}, true},
		{"two lines", []string{"max-age=60", "stale-if-error=30"}, Directives{MaxAge: set(60 * s), StaleIfError: set(30 * s)}, true},
		{"parameters ignored", []string{"max-age=60;foo=bar, public;x"}, Directives{MaxAge: set(60 * s), Public: true}, true},
		{"later duplicate wins", []string{"max-age=60, max-age=120"}, Directives{MaxAge: set(120 * s)}, true},
		{"Boolean false is absent", []string{"no-store=?0, max-age=5"}, Directives{MaxAge: set(5 * s)}, true},
		{"decimal max-age not consumed", []string{"max-age=1.5"}, Directives{MaxAge: set(0)}, true},
		{"string max-age not consumed", []string{`max-age="60"`}, Directives{MaxAge: set(0)}, true},
		{"negative max-age", []string{"max-age=-5"}, Directives{MaxAge: set(0)}, true},
		{"qualified private string", []string{`private="Set-Cookie"`}, Directives{PrivateFields: []string{"set-cookie"}}, true},
		{"qualified no-cache inner list", []string{`no-cache=("Set-Cookie" x-a)`}, Directives{NoCacheFields: []string{"set-cookie", "x-a"}}, true},
		{"qualified by an integer: unqualified", []string{`private=3`}, Directives{Private: true}, true},
		{"uppercase key: invalid field", []string{"Max-Age=60"}, Directives{}, false},
		{"trailing comma: invalid", []string{"max-age=60,"}, Directives{}, false},
		{"token syntax error: invalid", []string{"max-age=60 public"}, Directives{}, false},
		{"unterminated string: invalid", []string{`private="x`}, Directives{}, false},
		{"16-digit integer: invalid", []string{"max-age=1234567890123456"}, Directives{}, false},
		{"huge integer saturates", []string{"max-age=999999999999999"}, Directives{MaxAge: set(maxDelta)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseCDNCacheControl(tt.lines)
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseCDNCacheControl(%q) = %+v, %v; want %+v, %v", tt.lines, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestEffective(t *testing.T) {
	h := header("Cache-Control", "max-age=1", "CDN-Cache-Control", "max-age=2")
	if d, targeted := Effective(h); !targeted || d.MaxAge.D != 2*s {
		t.Errorf("valid CDN-Cache-Control: %+v targeted %v", d, targeted)
	}
	h.Set("CDN-Cache-Control", "Max-Age=2")
	if d, targeted := Effective(h); targeted || d.MaxAge.D != s {
		t.Errorf("invalid CDN-Cache-Control must be ignored as a whole: %+v targeted %v", d, targeted)
	}
}
