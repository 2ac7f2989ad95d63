package httpcache

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/httpsyntax"
)

// FuzzParseCacheControl feeds hostile Cache-Control values to the parser:
// it never panics, every delta is within [0, 2^31 s] (or Forever for a
// bare max-stale), qualified field names are lowercase tokens, and
// splitting the value into one line per element changes nothing (lines
// are one comma-separated list).
func FuzzParseCacheControl(f *testing.F) {
	for _, seed := range []string{
		"max-age=60", "public, max-age=3600, s-maxage=60", `no-cache="Set-Cookie", private="X-A, X-B"`,
		"max-age=60, max-age=120", `max-age="60"`, "max-age =60", `private="unterminated`, `x="a\"b,c"`,
		"no-store=1, must-revalidate, stale-while-revalidate=30, stale-if-error=99999999999999999999",
		"max-stale, min-fresh=1, only-if-cached", ",,,", "\t", `no-cache=""`, "MAX-AGE=5",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := ParseCacheControl([]string{v})
		for _, dl := range []Delta{d.MaxAge, d.SMaxAge, d.StaleWhileRevalidate, d.StaleIfError, d.MinFresh} {
			if dl.D < 0 || dl.D > maxDelta {
				t.Fatalf("delta %v out of range in %+v", dl.D, d)
			}
		}
		if d.MaxStale.D < 0 || d.MaxStale.D > maxDelta && d.MaxStale.D != Forever {
			t.Fatalf("max-stale %v out of range", d.MaxStale.D)
		}
		for _, n := range append(append([]string{}, d.NoCacheFields...), d.PrivateFields...) {
			if !httpsyntax.IsToken(n) || n != strings.ToLower(n) {
				t.Fatalf("field name %q is not a lowercase token", n)
			}
		}
		var lines []string
		for rest := v; rest != ""; {
			var elem string
			elem, rest = nextElement(rest)
			lines = append(lines, elem)
		}
		if split := ParseCacheControl(lines); !reflect.DeepEqual(split, d) {
			t.Fatalf("one line per element parses differently:\n%+v\n%+v", d, split)
		}
	})
}

// FuzzParseCDNCacheControl feeds hostile CDN-Cache-Control values to the
// Structured Fields Dictionary parser: it never panics, an invalid field
// yields no directives, deltas are in range, and surrounding spaces do
// not change the result.
func FuzzParseCDNCacheControl(f *testing.F) {
	for _, seed := range []string{
		"max-age=600", "no-store, private", `private="Set-Cookie"`, `no-cache=("a" b)`, "none",
		"max-age=1.5", "max-age=60,", "Max-Age=1", "a=:aGk=:, b=@12, c=%\"%c3%a9\", d=?0", "a=(1 2);x=y;z",
		"max-age=1234567890123456", `a="\"`, "a=1;;b",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := ParseCDNCacheControl([]string{v})
		if !ok && !reflect.DeepEqual(d, Directives{}) {
			t.Fatalf("an unusable field yielded %+v", d)
		}
		for _, dl := range []Delta{d.MaxAge, d.SMaxAge, d.StaleWhileRevalidate, d.StaleIfError} {
			if dl.D < 0 || dl.D > maxDelta {
				t.Fatalf("delta %v out of range", dl.D)
			}
		}
		d2, ok2 := ParseCDNCacheControl([]string{"  " + v + "  "})
		if ok != ok2 || !reflect.DeepEqual(d, d2) {
			t.Fatalf("surrounding spaces changed the result: %+v %v vs %+v %v", d, ok, d2, ok2)
		}
	})
}

// FuzzCacheStatusRoundTrip encodes arbitrary parameters and parses the
// result back as a Structured Fields List: it always parses, has one
// member, and every parameter reads back as it was meant.
func FuzzCacheStatusRoundTrip(f *testing.F) {
	f.Add("edge", true, "uri-miss", 200, int64(300), uint8(1), uint8(2), "", "set-cookie")
	f.Add("my cache", false, "stale", 503, int64(-4), uint8(0), uint8(0), `k"\é`, "two words")
	f.Add("*", false, "bad token", 0, int64(-1e18), uint8(2), uint8(1), "\x00", "\x7f")
	f.Fuzz(func(t *testing.T, name string, hit bool, fwd string, fwdStatus int, ttl int64, stored, collapsed uint8, key, detail string) {
		p := StatusParams{Hit: hit, Fwd: fwd, FwdStatus: fwdStatus, TTL: time.Duration(ttl), HasTTL: ttl%2 == 0,
			Stored: Flag(stored % 3), Collapsed: Flag(collapsed % 3), Key: key, Detail: detail}
		out := CacheStatus(name, p)
		list, err := parseSFList(out)
		if err != nil || len(list) != 1 {
			t.Fatalf("CacheStatus = %q: %v (%d members)", out, err, len(list))
		}
		it := list[0].(sfItem)
		if want := expectBare(name); it.val != want {
			t.Fatalf("name %#v, want %#v", it.val, want)
		}
		params := map[string]any{}
		for _, prm := range it.params {
			params[prm.key] = prm.val
		}
		want := map[string]any{}
		if hit {
			want["hit"] = true
		}
		if isSFToken(fwd) {
			want["fwd"] = sfToken(fwd)
		}
		if fwdStatus > 0 && fwdStatus <= sfIntMax {
			want["fwd-status"] = int64(fwdStatus)
		}
		flag := func(k string, f Flag) {
			if f != Unset {
				want[k] = f == Yes
			}
		}
		flag("stored", p.Stored)
		flag("collapsed", p.Collapsed)
		if p.HasTTL {
			want["ttl"] = min(max(int64(p.TTL/time.Second), -sfIntMax), sfIntMax)
		}
		if key != "" {
			want["key"] = escapeString(key)
		}
		if detail != "" {
			want["detail"] = expectBare(detail)
		}
		if !reflect.DeepEqual(params, want) {
			t.Fatalf("%q parsed to %#v, want %#v", out, params, want)
		}
	})
}

// expectBare is what a name or detail reads back as: a Token if it is
// one, else the %-escaped String.
func expectBare(s string) any {
	if isSFToken(s) {
		return sfToken(s)
	}
	return escapeString(s)
}

// escapeString is what sfString does to bytes a String cannot hold.
func escapeString(s string) string {
	var b strings.Builder
	sfString(&b, s)
	p := &sfParser{s: b.String()}
	v, err := p.str()
	if err != nil {
		panic(err)
	}
	return v
}

// FuzzEvaluate checks Evaluate's invariants on arbitrary headers: it never
// panics; a stored response has a positive TTL and no reasons; a refused
// one has a reason; safe mode never stores no-store, private or a
// never-stored status, and never exceeds Max.
func FuzzEvaluate(f *testing.F) {
	f.Add(200, "max-age=60", "", "", "", false, false)
	f.Add(404, "private, max-age=60", "max-age=600", "0", "10", true, false)
	f.Add(503, "no-store", "private", "Thu, 01 Jan 2099 00:00:00 GMT", "x", false, true)
	f.Fuzz(func(t *testing.T, status int, cc, cdn, expiresV, age string, auth, taint bool) {
		h := header("Cache-Control", cc, "CDN-Cache-Control", cdn, "Expires", expiresV, "Age", age)
		r := ResponseInfo{Status: status, Header: h, Authorization: auth, InputTainted: taint}
		p := TTLPolicy{Min: 5 * s, Default: day, Max: 3600 * s}
		for _, mode := range []Mode{Safe, CloudFront} {
			d := Evaluate(mode, r, p, t0)
			if d.Store != (len(d.Reasons) == 0) || d.Store && d.TTL <= 0 {
				t.Fatalf("%s: Store %v TTL %v Reasons %v", mode, d.Store, d.TTL, d.Reasons)
			}
			if mode == Safe && d.Store {
				eff, _ := Effective(h)
				if eff.NoStore || eff.Private || safeNeverStored(status) || d.TTL > p.Max {
					t.Fatalf("safe mode stored %d %+v for %v", status, eff, d.TTL)
				}
			}
		}
	})
}

func TestFuzzHelpersAgree(t *testing.T) {
	if got := escapeString("a\"é"); got != `a"%c3%a9` {
		t.Errorf("escapeString = %q", got)
	}
	if expectBare("tok") != sfToken("tok") {
		t.Error("expectBare of a token")
	}
}
