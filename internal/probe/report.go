package probe

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// Report is what a probe found. Its JSON field names are stable and
// documented in docs/probe.md.
type Report struct {
	// URL, Method and TargetHeader repeat the probe's settings.
	URL          string `json:"url"`
	Method       string `json:"method"`
	TargetHeader string `json:"target_header"`
	// Browsers and RequestsPerBrowser are the planned load; Requests is
	// the number of requests actually sent.
	Browsers           int `json:"browsers"`
	RequestsPerBrowser int `json:"requests_per_browser"`
	Requests           int `json:"requests"`
	// StartedAt and DurationMS say when the probe ran and for how long.
	StartedAt  time.Time `json:"started_at"`
	DurationMS float64   `json:"duration_ms"`
	// Interrupted is true when the probe was stopped before the end.
	Interrupted bool `json:"interrupted"`

	Stickiness Stickiness      `json:"stickiness"`
	Targets    []TargetShare   `json:"targets"`
	Failures   Failures        `json:"failures"`
	Statuses   map[string]int  `json:"statuses"`
	Latency    Latency         `json:"latency_ms"`
	PerBrowser []BrowserResult `json:"per_browser"`
	Cookies    []CookieSeen    `json:"cookies"`
	Warnings   []Warning       `json:"warnings"`

	// OK is true when every browser stayed on one identified target and
	// no request failed: the exit code of `tether probe` is then 0.
	OK bool `json:"ok"`
	// Verdict is the one-line summary that `tether probe` prints last.
	Verdict string `json:"verdict"`
}

// Stickiness measures how well browsers kept their target.
type Stickiness struct {
	// StickyBrowsers is the number of browsers whose every response came
	// from one identified target, out of Browsers; BrowserRate is the
	// ratio (0..1).
	StickyBrowsers int     `json:"sticky_browsers"`
	Browsers       int     `json:"browsers"`
	BrowserRate    float64 `json:"browser_rate"`
	// KeptRequests is the number of requests served by the same target as
	// the browser's previous identified response (a browser's first
	// identified response counts as kept), out of Requests; RequestRate is
	// the ratio (0..1). Failed and unidentified requests are not kept.
	KeptRequests int     `json:"kept_requests"`
	Requests     int     `json:"requests"`
	RequestRate  float64 `json:"request_rate"`
	// Moves is the total number of times a browser changed target.
	Moves int `json:"moves"`
	// Unidentified is the number of responses without the target header.
	Unidentified int `json:"unidentified_responses"`
}

// TargetShare is how much of the load one target took.
type TargetShare struct {
	// ID is the value of the target header.
	ID string `json:"id"`
	// Browsers is the number of browsers whose first response came from
	// this target.
	Browsers int `json:"browsers"`
	// Requests is the number of responses this target served.
	Requests int `json:"requests"`
}

// Failures counts the requests that failed: no response (transport
// errors), or a response with status ≥ 500.
type Failures struct {
	Total       int `json:"total"`
	Transport   int `json:"transport"`
	ServerError int `json:"server_error"`
	// Errors counts the transport errors by kind ("connection refused",
	// "timeout", "TLS certificate not trusted", …).
	Errors map[string]int `json:"errors"`
}

// Latency summarises the time from sending a request to reading the whole
// response, in milliseconds, over the requests that got a response.
type Latency struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// BrowserResult is one browser's journey.
type BrowserResult struct {
	// Browser numbers the browser from 1.
	Browser int `json:"browser"`
	// Sticky is true when every response came from one identified target
	// (requests that got no response do not count against it; they are
	// counted in Failures).
	Sticky bool `json:"sticky"`
	// Moves is the number of target changes.
	Moves int `json:"moves"`
	// Path lists the targets in the order visited, one entry per stay
	// ("t1", "t2", "t1" is two moves).
	Path []string `json:"path"`
	// Requests and Failures count this browser's requests.
	Requests int `json:"requests"`
	Failures int `json:"failures"`
}

// CookieSeen is a cookie the probe was given, with the attributes of the
// first Set-Cookie header that set (not deleted) it.
type CookieSeen struct {
	Cookie
	// SetCount is the number of responses that set the cookie, out of
	// Responses (the responses received).
	SetCount  int `json:"set_count"`
	Responses int `json:"responses"`
	// Browsers is the number of browsers that received it.
	Browsers int `json:"browsers"`
	// DistinctValues is the number of different values it was given.
	DistinctValues int `json:"distinct_values"`
}

// buildReport turns the exchanges of every browser into a Report.
func buildReport(cfg Config, results [][]exchange, took time.Duration, now time.Time, interrupted bool) *Report {
	r := &Report{
		Interrupted: interrupted,
		URL:         cfg.URL, Method: cfg.Method, TargetHeader: cfg.TargetHeader,
		Browsers: cfg.Browsers, RequestsPerBrowser: cfg.Requests,
		StartedAt: now.Add(-took).UTC(), DurationMS: ms(took),
		Statuses: map[string]int{}, Failures: Failures{Errors: map[string]int{}},
		PerBrowser: []BrowserResult{}, Targets: []TargetShare{}, Cookies: []CookieSeen{}, Warnings: []Warning{},
	}
	t := tally{r: r, shares: map[string]*TargetShare{}}
	for i, exs := range results {
		r.PerBrowser = append(r.PerBrowser, t.browser(i, exs))
	}
	for _, s := range t.shares {
		r.Targets = append(r.Targets, *s)
	}
	slices.SortFunc(r.Targets, func(a, b TargetShare) int { return naturalCompare(a.ID, b.ID) })
	r.Stickiness.Browsers, r.Stickiness.Requests = cfg.Browsers, r.Requests
	r.Stickiness.BrowserRate = ratio(r.Stickiness.StickyBrowsers, cfg.Browsers)
	r.Stickiness.RequestRate = ratio(r.Stickiness.KeptRequests, r.Requests)
	r.Latency = latencySummary(t.latencies)
	r.Cookies, r.Warnings = analyzeCookies(cfg, results, now)
	r.OK, r.Verdict = verdict(r)
	return r
}

// tally adds up the exchanges of each browser into a Report.
type tally struct {
	r         *Report
	shares    map[string]*TargetShare
	latencies []time.Duration
}

func (t *tally) share(id string) *TargetShare {
	if t.shares[id] == nil {
		t.shares[id] = &TargetShare{ID: id}
	}
	return t.shares[id]
}

// browser follows browser i through its exchanges, counting each in the
// report, and returns its journey.
func (t *tally) browser(i int, exs []exchange) BrowserResult {
	r := t.r
	br := BrowserResult{Browser: i + 1, Path: []string{}}
	prev, unidentified := "", 0
	for _, ex := range exs {
		r.Requests++
		br.Requests++
		if failed(ex, r) {
			br.Failures++
		}
		if ex.status == 0 {
			continue
		}
		r.Statuses[strconv.Itoa(ex.status)]++
		t.latencies = append(t.latencies, ex.latency)
		if ex.target == "" {
			unidentified++
			continue
		}
		t.share(ex.target).Requests++
		switch {
		case prev == "":
			t.share(ex.target).Browsers++
			br.Path = append(br.Path, ex.target)
			r.Stickiness.KeptRequests++
		case ex.target == prev:
			r.Stickiness.KeptRequests++
		default:
			br.Moves++
			br.Path = append(br.Path, ex.target)
		}
		prev = ex.target
	}
	br.Sticky = len(br.Path) == 1 && unidentified == 0
	r.Stickiness.Moves += br.Moves
	r.Stickiness.Unidentified += unidentified
	if br.Sticky {
		r.Stickiness.StickyBrowsers++
	}
	return br
}

// failed counts ex in r.Failures when it failed and says whether it did.
func failed(ex exchange, r *Report) bool {
	switch {
	case ex.err != nil:
		r.Failures.Total++
		r.Failures.Transport++
		r.Failures.Errors[errorKind(ex.err)]++
		return true
	case ex.status >= 500:
		r.Failures.Total++
		r.Failures.ServerError++
		return true
	}
	return false
}

// errorKind names a transport error the way a user would search for it.
func errorKind(err error) string {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ne net.Error
	var dns *net.DNSError
	switch {
	case errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn):
		return "TLS certificate not trusted (use -insecure for a self-signed one)"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before the response"
	case errors.As(err, &dns):
		return "DNS lookup failed: " + dns.Err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// verdict decides the outcome and words the last line of the text report.
func verdict(r *Report) (bool, string) {
	st := r.Stickiness
	fails := ""
	if r.Failures.Total > 0 {
		fails = fmt.Sprintf("; %s failed", plural(r.Failures.Total, "request"))
	}
	switch {
	case r.Requests == 0:
		return false, "FAIL: no request was sent"
	case r.Interrupted:
		return false, fmt.Sprintf("FAIL: interrupted after %d of %d requests (%d of %d browsers sticky so far)%s",
			r.Requests, r.Browsers*r.RequestsPerBrowser, st.StickyBrowsers, st.Browsers, fails)
	case len(r.Targets) == 0 && st.Unidentified > 0:
		return false, fmt.Sprintf("FAIL: stickiness unknown: no response carried the %s header (name the header that identifies the target with --target-header NAME)%s", r.TargetHeader, fails)
	case st.Unidentified > 0:
		return false, fmt.Sprintf("FAIL: %d of %d responses did not carry the %s header, so stickiness is unproven (%d of %d browsers sticky)%s",
			st.Unidentified, r.Requests, r.TargetHeader, st.StickyBrowsers, st.Browsers, fails)
	case st.StickyBrowsers < st.Browsers:
		return false, fmt.Sprintf("FAIL: %d of %d browsers stayed on one target (%s), %s kept%s",
			st.StickyBrowsers, st.Browsers, pct(st.BrowserRate), pct(st.RequestRate), fails)
	case r.Failures.Total > 0:
		return false, fmt.Sprintf("FAIL: every browser stayed on one target, but %s failed", plural(r.Failures.Total, "request"))
	}
	return true, fmt.Sprintf("OK: all %d browsers stayed on one target and none of %d requests failed", st.Browsers, r.Requests)
}

func latencySummary(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	return Latency{P50: ms(percentile(ds, 50)), P99: ms(percentile(ds, 99)), Max: ms(ds[len(ds)-1])}
}

// percentile returns the nearest-rank p-th percentile of sorted ds.
func percentile(ds []time.Duration, p int) time.Duration {
	rank := (p*len(ds) + 99) / 100 // ceil(p/100 × n)
	return ds[max(rank, 1)-1]
}

func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

func ratio(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

func pct(r float64) string { return strconv.FormatFloat(100*r, 'f', 1, 64) + "%" }

// plural formats n with its noun: "1 request", "3 requests".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// naturalCompare orders "t2" before "t10": runs of digits compare by value.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, _ := strconv.ParseUint(a[:min(da, 18)], 10, 64)
			nb, _ := strconv.ParseUint(b[:min(db, 18)], 10, 64)
			if c := cmp.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
