package httpcache

import (
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// currentAge is the response's age at now (RFC 9111 §4.2.3):
//
//	apparent_age  = max(0, response_time − date_value)
//	corrected_age = age_value + (response_time − request_time)
//	initial_age   = max(apparent_age, corrected_age)
//	current_age   = initial_age + (now − response_time)
//
// A missing or invalid Date reads as the response time; a missing or
// invalid Age as 0.
func currentAge(r *ResponseInfo, now time.Time) time.Duration {
	respTime := r.ResponseTime
	if respTime.IsZero() {
		respTime = now
	}
	reqTime := r.RequestTime
	if reqTime.IsZero() || reqTime.After(respTime) {
		reqTime = respTime
	}
	apparent := max(0, respTime.Sub(dateOf(r.Header, respTime)))
	ageValue, _ := parseDeltaSeconds(strings.TrimSpace(r.Header.Get("Age")))
	corrected := ageValue + respTime.Sub(reqTime)
	return max(apparent, corrected) + max(0, now.Sub(respTime))
}

// dateOf returns the response's Date, or fallback if it has none or an
// invalid one.
func dateOf(h http.Header, fallback time.Time) time.Time {
	s := h.Get("Date")
	if last := lastDate.Load(); last != nil && last.s == s {
		return last.t
	}
	d, err := ParseTime(s)
	if err != nil {
		return fallback
	}
	lastDate.Store(&parsedDate{s, d})
	return d
}

// lastDate is the last valid Date dateOf parsed. An origin's Date changes
// once a second, and every response of that second carries the same one:
// comparing it with the last is a tenth of what parsing it costs.
var lastDate atomic.Pointer[parsedDate]

type parsedDate struct {
	s string
	t time.Time
}

// expires returns the Expires time and whether the response has the field.
// An invalid value (such as "0") or conflicting repeated values read as a
// time in the past (RFC 9111 §5.3, §4.2.1).
func expires(h http.Header) (time.Time, bool) {
	vals := h.Values("Expires")
	if len(vals) == 0 {
		return time.Time{}, false
	}
	t, err := ParseTime(strings.TrimSpace(vals[0]))
	if err != nil {
		return time.Time{}, true
	}
	for _, v := range vals[1:] {
		if u, err := ParseTime(strings.TrimSpace(v)); err != nil || !u.Equal(t) {
			return time.Time{}, true
		}
	}
	return t, true
}

// safeLifetime returns the freshness lifetime in safe mode and whether it
// is explicit (RFC 9111 §4.2.1 for a shared cache; RFC 9213 when the
// directives are targeted, which leaves Expires out).
func safeLifetime(cc *Directives, targeted bool, r *ResponseInfo, p TTLPolicy, now time.Time) (time.Duration, bool) {
	switch {
	case cc.SMaxAge.Set:
		return cc.SMaxAge.D, true
	case cc.MaxAge.Set:
		return cc.MaxAge.D, true
	}
	if !targeted {
		if exp, ok := expires(r.Header); ok {
			respTime := r.ResponseTime
			if respTime.IsZero() {
				respTime = now
			}
			return max(0, exp.Sub(dateOf(r.Header, respTime))), true
		}
	}
	return heuristic(r, p, now), false
}

// heuristic is the heuristic freshness lifetime (RFC 9111 §4.2.2): 10% of
// the time since Last-Modified, capped by the policy's Default; Default
// when there is no valid Last-Modified.
func heuristic(r *ResponseInfo, p TTLPolicy, now time.Time) time.Duration {
	lm, err := ParseTime(r.Header.Get("Last-Modified"))
	if err != nil {
		return p.Default
	}
	respTime := r.ResponseTime
	if respTime.IsZero() {
		respTime = now
	}
	return min(max(0, dateOf(r.Header, respTime).Sub(lm))/10, p.Default)
}

// clamp bounds d to [lo, hi].
func clamp(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}

// staleWindows returns stale-while-revalidate and stale-if-error (RFC
// 5861) for both modes: both are forbidden by must-revalidate and
// proxy-revalidate (and, in safe mode, by no-cache); s-maxage implies
// proxy-revalidate (RFC 9111 §5.2.2.10) unless the origin also sent the
// stale-* directive explicitly. In cloudfront mode an absent
// stale-if-error is Forever: CloudFront serves an expired object when the
// origin fails [doc], and stale-if-error=0 turns that off.
func staleWindows(mode Mode, cc *Directives) (swr, sie time.Duration) {
	if cc.StaleWhileRevalidate.Set {
		swr = cc.StaleWhileRevalidate.D
	}
	switch {
	case cc.StaleIfError.Set:
		sie = cc.StaleIfError.D
	case mode == CloudFront && !cc.SMaxAge.Set:
		sie = Forever
	}
	if cc.MustRevalidate || cc.ProxyRevalidate || mode != CloudFront && cc.NoCache {
		return 0, 0
	}
	return swr, sie
}

// RequestStaleIfError returns the stale-if-error a request's Cache-Control
// asks for (RFC 5861 §4), if any. The pipeline serves a stale object on
// error for the smaller of this and the object's own window.
func RequestStaleIfError(req http.Header) (time.Duration, bool) {
	d := ParseCacheControl(req.Values("Cache-Control"))
	return d.StaleIfError.D, d.StaleIfError.Set
}
