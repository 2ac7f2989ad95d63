// Package httpcache holds the edge cache's HTTP caching rules as pure
// functions: Cache-Control (RFC 9111) and CDN-Cache-Control (RFC 9213)
// parsing, the storability and freshness decision for the two modes of the
// spec (safe: RFC 9111 with guardrails; cloudfront: what CloudFront
// documents), and the Cache-Status header (RFC 9211). Nothing here does
// I/O or keeps state; every function is safe for concurrent use.
package httpcache

import (
	"net/http"
	"time"
)

// Mode selects the caching rules.
type Mode string

// Modes. Any value other than CloudFront is treated as Safe.
const (
	// Safe follows RFC 9111 and RFC 9213, with guardrails against session
	// leaks and poisoning (spec §5).
	Safe Mode = "safe"
	// CloudFront reproduces CloudFront's documented behaviour, unsafe
	// parts included.
	CloudFront Mode = "cloudfront"
)

// TTLPolicy is the TTL part of a behavior's cache policy.
type TTLPolicy struct {
	// Min, Default and Max are CloudFront's MinTTL, DefaultTTL and MaxTTL
	// (Min ≤ Default ≤ Max).
	Min, Default, Max time.Duration
	// ErrorCachingMinTTL is CloudFront's error caching minimum TTL by
	// status code (cloudfront mode only). A status not in the map gets
	// DefaultErrorCachingMinTTL; a zero value turns caching off for it.
	ErrorCachingMinTTL map[int]time.Duration
}

// DefaultErrorCachingMinTTL is how long CloudFront caches an error
// response by default [doc].
const DefaultErrorCachingMinTTL = 10 * time.Second

// ResponseInfo is what Evaluate needs to know about an origin response and
// the request that caused it.
type ResponseInfo struct {
	// Status is the response status code.
	Status int
	// Header is the response header as the origin sent it.
	Header http.Header
	// RequestTime and ResponseTime are when the origin request was sent
	// and its response headers received (RFC 9111 §4.2.3). Zero means now.
	RequestTime, ResponseTime time.Time
	// Authorization is true if the request carried Authorization.
	Authorization bool
	// CredentialTainted is true if an unkeyed credential (Authorization,
	// a session cookie, a credential header) was forwarded (spec §2.5).
	CredentialTainted bool
	// InputTainted is true if another unkeyed input was forwarded.
	InputTainted bool
	// CookiesForwarded is true if the behavior forwards any cookie, by
	// its cache policy or its origin request policy. In cloudfront mode
	// Set-Cookie is then stored and replayed on hits; otherwise it is
	// stripped.
	CookiesForwarded bool
}

// Decision is the verdict on one response.
type Decision struct {
	// Store is whether the response may be stored. When it is false,
	// Reasons says why.
	Store bool
	// TTL is the freshness left at the time of the decision: the lifetime
	// clamped by the policy, minus Age. It is what Object.FreshFor holds.
	TTL time.Duration
	// Age is the response's current age (RFC 9111 §4.2.3): Object.InitialAge.
	Age time.Duration
	// SWR and SIE are the stale-while-revalidate and stale-if-error
	// windows past TTL. SIE may be Forever (cloudfront mode).
	SWR, SIE time.Duration
	// SharedExplicit is true if the origin explicitly allowed sharing:
	// public, s-maxage, a targeted max-age, or must-revalidate on a
	// request with Authorization (RFC 9111 §3.5).
	SharedExplicit bool
	// Heuristic is true if the TTL came from the policy's Default or from
	// Last-Modified, not from the response's own freshness.
	Heuristic bool
	// Targeted is true if CDN-Cache-Control decided (safe mode).
	Targeted bool
	// Directives are the effective directives: CDN-Cache-Control when
	// Targeted, else Cache-Control.
	Directives Directives
	// OmitFields are the canonical names of header fields that must not be
	// stored: the proxy-specific fields, the fields named by a qualified
	// no-cache or private (safe mode), and Set-Cookie unless cloudfront
	// mode replays it.
	OmitFields []string
	// Reasons are the Cache-Status detail tokens (Reason constants) of
	// every rule that refused the response, most telling first; empty
	// when Store is true.
	Reasons []string
}

// proxyFields must never be stored (RFC 9111 §3.1).
var proxyFields = []string{"Proxy-Authenticate", "Proxy-Authentication-Info", "Proxy-Authorization"}

// safeOmitFields are what safe mode never stores, without the fields a
// response names: proxyFields and Set-Cookie. Shared, and full, so that
// appending to it copies.
var safeOmitFields = append(proxyFields[:len(proxyFields):len(proxyFields)], "Set-Cookie")

// Evaluate decides whether the response r may be stored under the mode's
// rules and for how long (spec §2.7 rules 1-4, 6, 7, 9 and 10; §2.8;
// staleness windows of §2.8 and §2.10). The rules that need more than the
// response are the pipeline's: a complete body, the Set-Cookie partition
// (SplitSetCookie) and the static content-type guard.
func Evaluate(mode Mode, r ResponseInfo, policy TTLPolicy, now time.Time) Decision {
	if r.Header == nil {
		r.Header = http.Header{}
	}
	if mode == CloudFront {
		return evaluateCloudFront(&r, policy, now)
	}
	return evaluateSafe(&r, policy, now)
}

// evaluateSafe is RFC 9111 and RFC 9213 with the spec's guardrails.
func evaluateSafe(r *ResponseInfo, p TTLPolicy, now time.Time) Decision {
	cc, targeted := Effective(r.Header)
	d := Decision{Directives: cc, Targeted: targeted, Age: currentAge(r, now)}
	d.SharedExplicit = cc.Public || cc.SMaxAge.Set || targeted && cc.MaxAge.Set || cc.MustRevalidate && r.Authorization
	refuse := func(reason string) { d.Reasons = append(d.Reasons, reason) }
	if !storableStatus(r.Status) || safeNeverStored(r.Status) {
		refuse(ReasonStatus)
	}
	if cc.NoStore {
		refuse(ReasonNoStore)
	}
	if cc.Private {
		refuse(ReasonPrivate)
	}
	if cc.NoCache {
		refuse(ReasonNoCache)
	}
	if _, star := VaryHeaders(r.Header); star {
		refuse(ReasonVaryStar)
	}
	if (r.Authorization || r.CredentialTainted) && !d.SharedExplicit {
		refuse(ReasonCredential)
	}
	if r.InputTainted && !d.SharedExplicit {
		refuse(ReasonUnkeyedInput)
	}
	lifetime, explicit := safeLifetime(&cc, targeted, r, p, now)
	var ttl time.Duration
	switch {
	case explicit && lifetime > 0:
		ttl = clamp(lifetime, p.Min, p.Max) // Min raises only a positive explicit lifetime
	case explicit:
	case r.Status >= 400 || !HeuristicallyCacheable(r.Status):
		if len(d.Reasons) == 0 || d.Reasons[0] != ReasonStatus {
			refuse(ReasonStatus) // needs explicit freshness
		}
	default:
		d.Heuristic = true
		ttl = min(lifetime, p.Max) // Min is not applied to a heuristic
	}
	if remaining := ttl - d.Age; remaining > 0 {
		d.TTL = remaining
	} else if explicit || d.Heuristic {
		refuse(ReasonZeroTTL)
	}
	d.SWR, d.SIE = staleWindows(Safe, &cc)
	d.OmitFields = safeOmitFields[:len(safeOmitFields):len(safeOmitFields)]
	if len(cc.NoCacheFields)+len(cc.PrivateFields) > 0 {
		d.OmitFields = append(append(d.OmitFields, canonical(cc.NoCacheFields)...), canonical(cc.PrivateFields)...)
	}
	d.Store = len(d.Reasons) == 0
	return d
}

// storableStatus reports whether a response with status can be stored as
// an object at all: a final status, neither 206 (the store does not
// combine partial content, RFC 9111 §3.3) nor 304 (a revalidation result,
// merged into the stored object by the pipeline).
func storableStatus(status int) bool {
	return status >= 200 && status <= 599 && status != http.StatusPartialContent && status != http.StatusNotModified
}

// safeNeverStored are the statuses safe mode never stores, whatever the
// headers (CPDoS, spec §2.7 rule 9).
func safeNeverStored(status int) bool {
	switch status {
	case 400, 403, 405, 413, 414, 431:
		return true
	}
	return status >= 500
}

// HeuristicallyCacheable reports whether status is heuristically cacheable
// (RFC 9110 §15.1): 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414
// and 501. Responses with other statuses need explicit freshness.
func HeuristicallyCacheable(status int) bool {
	switch status {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}
