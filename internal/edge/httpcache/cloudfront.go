package httpcache

import "time"

// evaluateCloudFront reproduces CloudFront's documented TTL rules
// (Expiration.html, CachePolicyConfig): CDN-Cache-Control is ignored;
// no-store, no-cache or private (unqualified) mean MinTTL, so the
// response is stored when MinTTL > 0; otherwise s-maxage, max-age or
// Expires clamped to [Min, Max]; with none of them max(Default, Min).
// Authorization and taint do not matter: CloudFront has no such rule.
// An origin Age is subtracted (undocumented [verify]); Expires is taken
// relative to now and so already accounts for age.
func evaluateCloudFront(r *ResponseInfo, p TTLPolicy, now time.Time) Decision {
	cc := ParseCacheControl(r.Header.Values("Cache-Control"))
	d := Decision{Directives: cc, Age: currentAge(r, now)}
	d.SharedExplicit = cc.Public || cc.SMaxAge.Set
	d.OmitFields = proxyFields[:len(proxyFields):len(proxyFields)]
	if !r.CookiesForwarded || cc.NoCacheField("Set-Cookie") {
		d.OmitFields = append(d.OmitFields, "Set-Cookie")
	}
	if !storableStatus(r.Status) {
		d.Reasons = []string{ReasonStatus}
		return d
	}
	if r.Status >= 400 {
		return cloudFrontError(d, r, p, now)
	}
	restrictive := restrictiveReason(&cc)
	_, varyStar := VaryHeaders(r.Header)
	ttl, aged := time.Duration(0), true
	exp, hasExpires := expires(r.Header)
	switch {
	case restrictive != "" && p.Min == 0:
		d.Reasons = []string{restrictive}
		return d
	case restrictive != "":
		ttl = p.Min
	case varyStar && p.Min == 0:
		// Cached but every request forwarded [doc]: the same, to a viewer,
		// as not stored.
		d.Reasons = []string{ReasonVaryStar}
		return d
	case cc.SMaxAge.Set:
		ttl = clamp(cc.SMaxAge.D, p.Min, p.Max)
	case cc.MaxAge.Set:
		ttl = clamp(cc.MaxAge.D, p.Min, p.Max)
	case hasExpires:
		ttl, aged = clamp(exp.Sub(now), p.Min, p.Max), false
	default:
		ttl, d.Heuristic = max(p.Default, p.Min), true
	}
	if aged {
		ttl -= d.Age
	}
	if ttl <= 0 {
		// CloudFront keeps such an object and revalidates it on every
		// request; to a viewer that is a miss each time.
		d.Reasons = []string{ReasonZeroTTL}
		return d
	}
	d.TTL, d.Store = ttl, true
	d.SWR, d.SIE = staleWindows(CloudFront, &cc)
	return d
}

// restrictiveReason returns the detail token of the first of no-store,
// private and no-cache (unqualified) present, or "".
func restrictiveReason(cc *Directives) string {
	switch {
	case cc.NoStore:
		return ReasonNoStore
	case cc.Private:
		return ReasonPrivate
	case cc.NoCache:
		return ReasonNoCache
	}
	return ""
}

// cloudFrontError applies CloudFront's error caching
// (HTTPStatusCodes.html, custom-error-pages-expiration.html): the error
// is cached for the larger of its error caching minimum TTL (10 s by
// default) and the origin's max-age, s-maxage (capped by MaxTTL) or
// Expires. 412 and 415 are cached only with max-age or s-maxage; 416 and
// codes not listed never. No-store, no-cache or private keep 404, 410,
// 414 and 501 out of the cache and are ignored for the others [doc].
func cloudFrontError(d Decision, r *ResponseInfo, p TTLPolicy, now time.Time) Decision {
	cc := &d.Directives
	var explicit time.Duration
	hasAge := cc.SMaxAge.Set || cc.MaxAge.Set
	switch {
	case cc.SMaxAge.Set:
		explicit = min(cc.SMaxAge.D, p.Max)
	case cc.MaxAge.Set:
		explicit = min(cc.MaxAge.D, p.Max)
	default:
		if exp, ok := expires(r.Header); ok {
			explicit = max(0, exp.Sub(now))
		}
	}
	switch r.Status {
	case 404, 410, 414, 501:
		if reason := restrictiveReason(cc); reason != "" {
			d.Reasons = []string{reason}
			return d
		}
	case 400, 403, 405, 500, 502, 503, 504:
	case 412, 415:
		if !hasAge {
			d.Reasons = []string{ReasonStatus}
			return d
		}
	default:
		d.Reasons = []string{ReasonStatus}
		return d
	}
	minTTL, ok := p.ErrorCachingMinTTL[r.Status]
	if !ok {
		minTTL = DefaultErrorCachingMinTTL
	}
	if ttl := max(explicit, minTTL); ttl > 0 {
		d.TTL, d.Store = ttl, true
		return d
	}
	d.Reasons = []string{ReasonZeroTTL}
	return d
}
