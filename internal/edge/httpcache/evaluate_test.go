package httpcache

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	s    = time.Second
	day  = 86400 * s
	year = 31536000 * s
)

// header builds a response header from name, value pairs; Date is t0
// unless given.
func header(kv ...string) http.Header {
	h := http.Header{"Date": {t0.Format(http.TimeFormat)}}
	for i := 0; i < len(kv); i += 2 {
		if kv[i] == "Date" {
			h.Del("Date")
		}
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func httpDate(d time.Duration) string { return t0.Add(d).Format(http.TimeFormat) }

// outcome is what a test expects of a Decision: stored with a TTL, or the
// first reason it was refused for.
type outcome struct {
	ttl    time.Duration
	reason string
}

func stored(ttl time.Duration) outcome { return outcome{ttl: ttl} }
func refused(reason string) outcome    { return outcome{reason: reason} }
func (o outcome) String() string {
	if o.reason != "" {
		return "not stored (" + o.reason + ")"
	}
	return "stored for " + o.ttl.String()
}

func got(d Decision) outcome {
	if !d.Store {
		if len(d.Reasons) == 0 {
			return refused("no reason given")
		}
		return refused(d.Reasons[0])
	}
	return stored(d.TTL)
}

// TestWorkedExamples is spec §2.8's table of worked examples, every row in
// both modes. The policy is Min/Default/Max = 0/86400/300 unless noted.
func TestWorkedExamples(t *testing.T) {
	p0 := TTLPolicy{Min: 0, Default: day, Max: 300 * s}
	tests := []struct {
		name   string
		policy TTLPolicy
		status int
		h      http.Header
		compat outcome
		safe   outcome
	}{
		{"max-age=3600", p0, 200, header("Cache-Control", "max-age=3600"), stored(300 * s), stored(300 * s)},
		{"s-maxage=60, max-age=600", p0, 200, header("Cache-Control", "s-maxage=60, max-age=600"), stored(60 * s), stored(60 * s)},
		{"none (heuristic status)", p0, 200, header(), stored(day), stored(300 * s)},
		{"none (non-heuristic status)", p0, 302, header(), stored(day), refused(ReasonStatus)},
		{"Expires: Date+120", p0, 200, header("Expires", httpDate(120*s)), stored(120 * s), stored(120 * s)},
		{"max-age=30 + Expires: +1 month", p0, 200, header("Cache-Control", "max-age=30", "Expires", httpDate(30*day)), stored(30 * s), stored(30 * s)},
		{"private (Min=0)", p0, 200, header("Cache-Control", "private"), refused(ReasonPrivate), refused(ReasonPrivate)},
		{"private (Min=60)", TTLPolicy{60 * s, day, 300 * s, nil}, 200, header("Cache-Control", "private"), stored(60 * s), refused(ReasonPrivate)},
		{"max-age=10 (Min=60)", TTLPolicy{60 * s, day, 300 * s, nil}, 200, header("Cache-Control", "max-age=10"), stored(60 * s), stored(60 * s)},
		{"CDN-Cache-Control: max-age=600, Cache-Control: no-store", TTLPolicy{0, day, year, nil}, 200,
			header("CDN-Cache-Control", "max-age=600", "Cache-Control", "no-store"), refused(ReasonNoStore), stored(600 * s)},
		{"CDN-Cache-Control: private, Cache-Control: max-age=600", TTLPolicy{0, day, year, nil}, 200,
			header("CDN-Cache-Control", "private", "Cache-Control", "max-age=600"), stored(600 * s), refused(ReasonPrivate)},
		{"max-age=100 + Age: 30", p0, 200, header("Cache-Control", "max-age=100", "Age", "30"), stored(70 * s), stored(70 * s)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ResponseInfo{Status: tt.status, Header: tt.h}
			if g := got(Evaluate(CloudFront, r, tt.policy, t0)); g != tt.compat {
				t.Errorf("cloudfront: %v, want %v", g, tt.compat)
			}
			if g := got(Evaluate(Safe, r, tt.policy, t0)); g != tt.safe {
				t.Errorf("safe: %v, want %v", g, tt.safe)
			}
		})
	}
}

// TestTTLCases are the spec §3.3 rows (T01-T14), evaluated at the time
// the response arrives, and the time a later request sees.
func TestTTLCases(t *testing.T) {
	def := TTLPolicy{0, day, year, nil}
	tests := []struct {
		id     string
		policy TTLPolicy
		status int
		h      http.Header
		compat outcome
		safe   outcome
	}{
		{"T01", TTLPolicy{0, day, 300 * s, nil}, 200, header("Cache-Control", "max-age=3600"), stored(300 * s), stored(300 * s)},
		{"T02", TTLPolicy{0, 600 * s, 3600 * s, nil}, 200, header(), stored(600 * s), stored(600 * s)},
		{"T03", def, 200, header("Cache-Control", "s-maxage=60, max-age=600"), stored(60 * s), stored(60 * s)},
		{"T04", def, 200, header("Expires", httpDate(120*s)), stored(120 * s), stored(120 * s)},
		{"T05", def, 200, header("Expires", "0"), refused(ReasonZeroTTL), refused(ReasonZeroTTL)},
		{"T06", def, 200, header("Cache-Control", "max-age=30", "Expires", httpDate(30*day)), stored(30 * s), stored(30 * s)},
		{"T07/T07s", TTLPolicy{60 * s, day, year, nil}, 200, header("Cache-Control", "private"), stored(60 * s), refused(ReasonPrivate)},
		{"T08", def, 200, header("Cache-Control", "no-cache"), refused(ReasonNoCache), refused(ReasonNoCache)},
		{"T09", TTLPolicy{60 * s, day, year, nil}, 200, header("Cache-Control", "max-age=10"), stored(60 * s), stored(60 * s)},
		{"T10", def, 200, header("CDN-Cache-Control", "max-age=600", "Cache-Control", "no-store"), refused(ReasonNoStore), stored(600 * s)},
		{"T11", def, 200, header("CDN-Cache-Control", "private", "Cache-Control", "max-age=600"), stored(600 * s), refused(ReasonPrivate)},
		{"T12", def, 200, header("Cache-Control", "max-age=100", "Age", "30"), stored(70 * s), stored(70 * s)},
		{"T13", def, 302, header(), stored(day), refused(ReasonStatus)},
		{"T14", def, 308, header(), stored(day), stored(day)},
		{"P08", TTLPolicy{day, day, year, nil}, 200, header("Content-Type", "text/html", "Cache-Control", "private"), stored(day), refused(ReasonPrivate)},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			r := ResponseInfo{Status: tt.status, Header: tt.h}
			if g := got(Evaluate(CloudFront, r, tt.policy, t0)); g != tt.compat {
				t.Errorf("cloudfront: %v, want %v", g, tt.compat)
			}
			if g := got(Evaluate(Safe, r, tt.policy, t0)); g != tt.safe {
				t.Errorf("safe: %v, want %v", g, tt.safe)
			}
		})
	}
}

// TestStaleWindows covers the staleness rules of §2.8 and the §3.7 rows
// (X01-X05) and S11 as far as they are decided at store time.
func TestStaleWindows(t *testing.T) {
	p := TTLPolicy{0, day, year, nil}
	tests := []struct {
		name     string
		mode     Mode
		policy   TTLPolicy
		cc       string
		swr, sie time.Duration
	}{
		{"X01 swr", Safe, p, "max-age=1, stale-while-revalidate=60", 60 * s, 0},
		{"X02 sie", Safe, p, "max-age=1, stale-if-error=300", 0, 300 * s},
		{"X03 must-revalidate forbids sie", Safe, p, "max-age=1, must-revalidate, stale-if-error=300", 0, 0},
		{"proxy-revalidate forbids both", Safe, p, "max-age=1, proxy-revalidate, stale-while-revalidate=9, stale-if-error=9", 0, 0},
		{"X05 validators, no window", Safe, p, "max-age=1", 0, 0},
		{"S11 s-maxage implies proxy-revalidate", Safe, p, "s-maxage=60", 0, 0},
		{"explicit stale-* wins over s-maxage", Safe, p, "s-maxage=60, stale-if-error=30, stale-while-revalidate=5", 5 * s, 30 * s},
		{"X04 cloudfront private under MinTTL serves stale on error", CloudFront, TTLPolicy{60 * s, day, year, nil}, "private", 0, Forever},
		{"X04 stale-if-error=0 turns it off", CloudFront, TTLPolicy{60 * s, day, year, nil}, "private, stale-if-error=0", 0, 0},
		{"cloudfront expired object on 5xx", CloudFront, p, "max-age=60", 0, Forever},
		{"cloudfront must-revalidate", CloudFront, p, "max-age=60, must-revalidate", 0, 0},
		{"cloudfront s-maxage", CloudFront, p, "s-maxage=60", 0, 0},
		{"cloudfront swr", CloudFront, p, "max-age=60, stale-while-revalidate=30", 30 * s, Forever},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Evaluate(tt.mode, ResponseInfo{Status: 200, Header: header("Cache-Control", tt.cc, "ETag", `"v1"`)}, tt.policy, t0)
			if !d.Store {
				t.Fatalf("not stored: %v", d.Reasons)
			}
			if d.SWR != tt.swr || d.SIE != tt.sie {
				t.Errorf("swr %v sie %v; want %v %v", d.SWR, d.SIE, tt.swr, tt.sie)
			}
		})
	}
	d := Evaluate(Safe, ResponseInfo{Status: 200, Header: header("CDN-Cache-Control", "max-age=10, stale-if-error=20",
		"Cache-Control", "max-age=1, must-revalidate")}, p, t0)
	if d.SIE != 20*s || d.TTL != 10*s {
		t.Errorf("targeted directives: ttl %v sie %v; Cache-Control must be ignored", d.TTL, d.SIE)
	}
}

// TestCredentialsAndTaint covers §2.7 rules 6 and 7 (S08-S11, P01, P02).
func TestCredentialsAndTaint(t *testing.T) {
	p := TTLPolicy{0, 60 * s, year, nil}
	tests := []struct {
		name string
		r    ResponseInfo
		safe outcome
	}{
		{"S08 session cookie, no CC", ResponseInfo{Status: 200, Header: header("Content-Type", "text/html"), CredentialTainted: true}, refused(ReasonCredential)},
		{"S09 Authorization, max-age", ResponseInfo{Status: 200, Header: header("Cache-Control", "max-age=60"), Authorization: true, CredentialTainted: true}, refused(ReasonCredential)},
		{"S10 Authorization, public", ResponseInfo{Status: 200, Header: header("Cache-Control", "public, max-age=60"), Authorization: true, CredentialTainted: true}, stored(60 * s)},
		{"S11 Authorization, s-maxage", ResponseInfo{Status: 200, Header: header("Cache-Control", "s-maxage=60"), Authorization: true}, stored(60 * s)},
		{"Authorization, must-revalidate", ResponseInfo{Status: 200, Header: header("Cache-Control", "max-age=60, must-revalidate"), Authorization: true}, stored(60 * s)},
		{"session cookie, must-revalidate is not enough", ResponseInfo{Status: 200, Header: header("Cache-Control", "max-age=60, must-revalidate"), CredentialTainted: true}, refused(ReasonCredential)},
		{"session cookie, targeted max-age", ResponseInfo{Status: 200, Header: header("CDN-Cache-Control", "max-age=60"), CredentialTainted: true}, stored(60 * s)},
		{"P01/P02 unkeyed input, max-age", ResponseInfo{Status: 200, Header: header("Cache-Control", "max-age=60"), InputTainted: true}, refused(ReasonUnkeyedInput)},
		{"unkeyed input, public", ResponseInfo{Status: 200, Header: header("Cache-Control", "public, max-age=60"), InputTainted: true}, stored(60 * s)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if g := got(Evaluate(Safe, tt.r, p, t0)); g != tt.safe {
				t.Errorf("safe: %v, want %v", g, tt.safe)
			}
			if d := Evaluate(CloudFront, tt.r, p, t0); !d.Store {
				t.Errorf("cloudfront refused it (%v); CloudFront has no credential or taint rule", d.Reasons)
			}
		})
	}
}

// TestStatuses covers §2.7 rule 9 and CloudFront's error caching (P09, P10).
func TestStatuses(t *testing.T) {
	p := TTLPolicy{0, day, year, nil}
	tests := []struct {
		status int
		cc     string
		compat outcome
		safe   outcome
	}{
		{100, "max-age=60", refused(ReasonStatus), refused(ReasonStatus)},
		{206, "max-age=60", refused(ReasonStatus), refused(ReasonStatus)},
		{304, "max-age=60", refused(ReasonStatus), refused(ReasonStatus)},
		{204, "", stored(day), stored(day)},
		{307, "", stored(day), refused(ReasonStatus)},
		{307, "max-age=60", stored(60 * s), stored(60 * s)},
		{404, "", stored(10 * s), refused(ReasonStatus)},
		{404, "max-age=60", stored(60 * s), stored(60 * s)},
		{404, "max-age=5", stored(10 * s), stored(5 * s)},
		{404, "no-store", refused(ReasonNoStore), refused(ReasonNoStore)},
		{410, "max-age=60", stored(60 * s), stored(60 * s)},
		{400, "", stored(10 * s), refused(ReasonStatus)},                  // P09
		{400, "max-age=60", stored(60 * s), refused(ReasonStatus)},        // CPDoS: never in safe mode
		{405, "", stored(10 * s), refused(ReasonStatus)},                  // P10
		{500, "no-store", stored(10 * s), refused(ReasonStatus)},          // CloudFront ignores no-store on 500
		{503, "max-age=120", stored(120 * s), refused(ReasonStatus)},      //
		{412, "", refused(ReasonStatus), refused(ReasonStatus)},           // only with max-age
		{412, "max-age=1", stored(10 * s), stored(1 * s)},                 //
		{416, "max-age=60", refused(ReasonStatus), stored(60 * s)},        // CloudFront never caches 416
		{429, "max-age=60", refused(ReasonStatus), stored(60 * s)},        //
		{431, "max-age=60", refused(ReasonStatus), refused(ReasonStatus)}, //
		{404, "max-age=99999999", stored(year), stored(year)},             // capped by Max
		{301, "", stored(day), stored(day)},                               //
		{300, "", stored(day), stored(day)},                               //
		{203, "", stored(day), stored(day)},                               //
		{201, "", stored(day), refused(ReasonStatus)},                     // not heuristic
	}
	for _, tt := range tests {
		r := ResponseInfo{Status: tt.status, Header: header("Cache-Control", tt.cc)}
		if g := got(Evaluate(CloudFront, r, p, t0)); g != tt.compat {
			t.Errorf("%d %q cloudfront: %v, want %v", tt.status, tt.cc, g, tt.compat)
		}
		if g := got(Evaluate(Safe, r, p, t0)); g != tt.safe {
			t.Errorf("%d %q safe: %v, want %v", tt.status, tt.cc, g, tt.safe)
		}
	}
	custom := TTLPolicy{0, day, year, map[int]time.Duration{503: 0, 404: 30 * s}}
	if d := Evaluate(CloudFront, ResponseInfo{Status: 503, Header: header()}, custom, t0); d.Store {
		t.Error("an error caching minimum TTL of 0 still cached the 503")
	}
	if g := got(Evaluate(CloudFront, ResponseInfo{Status: 404, Header: header()}, custom, t0)); g != stored(30*s) {
		t.Errorf("404 with a 30s error caching minimum TTL: %v", g)
	}
}

func TestHeuristicAndAge(t *testing.T) {
	p := TTLPolicy{Min: 60 * s, Default: 3600 * s, Max: year}
	tests := []struct {
		name string
		r    ResponseInfo
		now  time.Time
		want outcome
		age  time.Duration
	}{
		{"10% of Last-Modified age", ResponseInfo{Status: 200, Header: header("Last-Modified", httpDate(-1000*s))}, t0, stored(100 * s), 0},
		{"capped by Default", ResponseInfo{Status: 200, Header: header("Last-Modified", httpDate(-100*day))}, t0, stored(3600 * s), 0},
		{"Min not applied to a heuristic", ResponseInfo{Status: 200, Header: header("Last-Modified", httpDate(-100*s))}, t0, stored(10 * s), 0},
		{"Last-Modified in the future", ResponseInfo{Status: 200, Header: header("Last-Modified", httpDate(10*s))}, t0, refused(ReasonZeroTTL), 0},
		{"invalid Last-Modified: Default", ResponseInfo{Status: 200, Header: header("Last-Modified", "yesterday")}, t0, stored(3600 * s), 0},
		{"max-age=0 explicit: not raised by Min", ResponseInfo{Status: 200, Header: header("Cache-Control", "max-age=0")}, t0, refused(ReasonZeroTTL), 0},
		{"Date in the past is apparent age", ResponseInfo{Status: 200, Header: header("Cache-Control", "max-age=100", "Date", httpDate(-40*s))}, t0, stored(60 * s), 40 * s},
		{"Date in the future is no age", ResponseInfo{Status: 200, Header: header("Cache-Control", "max-age=100", "Date", httpDate(40*s))}, t0, stored(100 * s), 0},
		{"Age and Date skew: the larger", ResponseInfo{Status: 200, Header: header("Cache-Control", "max-age=100", "Date", httpDate(-10*s), "Age", "30")}, t0, stored(70 * s), 30 * s},
		{"transit time adds to Age", ResponseInfo{Status: 200, Header: header("Cache-Control", "max-age=100", "Age", "30"), RequestTime: t0.Add(-5 * s), ResponseTime: t0}, t0, stored(65 * s), 35 * s},
		{"resident time since the response", ResponseInfo{Status: 200, Header: header("Cache-Control", "max-age=100"), ResponseTime: t0}, t0.Add(20 * s), stored(80 * s), 20 * s},
		{"aged out", ResponseInfo{Status: 200, Header: header("Cache-Control", "max-age=100", "Age", "100")}, t0, refused(ReasonZeroTTL), 100 * s},
		{"invalid Age ignored", ResponseInfo{Status: 200, Header: header("Cache-Control", "max-age=100", "Age", "-3")}, t0, stored(100 * s), 0},
		{"Expires − Date, not now", ResponseInfo{Status: 200, Header: header("Expires", httpDate(100*s), "Date", httpDate(-50*s))}, t0, stored(100 * s), 50 * s},
		{"conflicting Expires", ResponseInfo{Status: 200, Header: header("Expires", httpDate(100*s), "Expires", httpDate(200*s))}, t0, refused(ReasonZeroTTL), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Evaluate(Safe, tt.r, p, tt.now)
			if g := got(d); g != tt.want || d.Age != tt.age {
				t.Errorf("%v, age %v; want %v, age %v", g, d.Age, tt.want, tt.age)
			}
		})
	}
}

func TestOmitFields(t *testing.T) {
	p := TTLPolicy{0, day, year, nil}
	tests := []struct {
		name      string
		mode      Mode
		cc        string
		forwarded bool
		omits     []string
		keeps     []string
	}{
		{"S07 safe private=Set-Cookie", Safe, `private="Set-Cookie", max-age=300`, false, []string{"Set-Cookie"}, nil},
		{"safe no-cache fields", Safe, `no-cache="X-Token, Set-Cookie2", max-age=60`, false, []string{"X-Token", "Set-Cookie2", "Set-Cookie"}, nil},
		{"safe proxy fields", Safe, "max-age=60", false, []string{"Proxy-Authenticate", "Proxy-Authentication-Info", "Set-Cookie"}, nil},
		{"S01 cloudfront, no cookies forwarded", CloudFront, "max-age=60", false, []string{"Set-Cookie"}, nil},
		{"S02 cloudfront, cookies forwarded: replayed", CloudFront, "max-age=60", true, nil, []string{"Set-Cookie"}},
		{"S03 cloudfront no-cache=Set-Cookie", CloudFront, `no-cache="Set-Cookie", max-age=60`, true, []string{"Set-Cookie"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := header("Cache-Control", tt.cc, "Set-Cookie", "session=s")
			d := Evaluate(tt.mode, ResponseInfo{Status: 200, Header: h, CookiesForwarded: tt.forwarded}, p, t0)
			if !d.Store {
				t.Fatalf("not stored: %v", d.Reasons)
			}
			for _, f := range tt.omits {
				if !slices.Contains(d.OmitFields, f) {
					t.Errorf("OmitFields %v lacks %s", d.OmitFields, f)
				}
			}
			for _, f := range tt.keeps {
				if slices.Contains(d.OmitFields, f) {
					t.Errorf("OmitFields %v has %s", d.OmitFields, f)
				}
			}
			if sh := StoredHeader(h, d.OmitFields); slices.Contains(d.OmitFields, "Set-Cookie") != (sh.Get("Set-Cookie") == "") {
				t.Errorf("StoredHeader kept %v", sh)
			}
		})
	}
}

func TestVaryStar(t *testing.T) {
	h := header("Cache-Control", "max-age=60", "Vary", "Accept-Encoding, *")
	if g := got(Evaluate(Safe, ResponseInfo{Status: 200, Header: h}, TTLPolicy{0, day, year, nil}, t0)); g != refused(ReasonVaryStar) {
		t.Errorf("V03 safe: %v", g)
	}
	if g := got(Evaluate(CloudFront, ResponseInfo{Status: 200, Header: h}, TTLPolicy{0, day, year, nil}, t0)); g != refused(ReasonVaryStar) {
		t.Errorf("V03 cloudfront Min 0: %v (cached but always forwarded)", g)
	}
	if g := got(Evaluate(CloudFront, ResponseInfo{Status: 200, Header: h}, TTLPolicy{5 * s, day, year, nil}, t0)); g != stored(60*s) {
		t.Errorf("cloudfront Min 5: %v", g)
	}
}

func TestReasonsListEveryRule(t *testing.T) {
	h := header("Cache-Control", "no-store, private, no-cache", "Vary", "*")
	d := Evaluate(Safe, ResponseInfo{Status: 503, Header: h, Authorization: true, InputTainted: true}, TTLPolicy{0, day, year, nil}, t0)
	want := []string{ReasonStatus, ReasonNoStore, ReasonPrivate, ReasonNoCache, ReasonVaryStar, ReasonCredential, ReasonUnkeyedInput}
	if d.Store || !slices.Equal(d.Reasons, want) {
		t.Errorf("Reasons = %v, want %v", d.Reasons, want)
	}
}
