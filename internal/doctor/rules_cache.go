package doctor

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

func cacheRules() []Rule {
	return []Rule{{
		ID: "CF-AUTH-001", Severity: SevError, SafeMitigated: true,
		Title:     "authenticated route behind a cache",
		Why:       "An authenticating route sits behind a caching behavior (or one that drops the cookies and query strings the login flow needs): one user's authenticated response can be served to others.",
		Fix:       "Use CachingDisabled with the AllViewer origin request policy on authenticated paths, or keep every TTL shorter than the authentication session.",
		TetherFix: "Turn caching off on behaviors in front of authorizer rules (default_ttl: 0s, max_ttl: 0s), or use mode: safe, which does not share responses to credential-bearing requests.",
		Refs:      []string{refALBAuth},
		check:     eachBehavior(authBehindCache),
	}, {
		ID: "CF-TTL-001", Severity: SevError, SafeMitigated: true,
		Title:     "MinTTL > 0 on a dynamic behavior",
		Why:       "With MinTTL above 0, responses marked private, no-store or no-cache are cached for MinTTL anyway, on a behavior that is personal or dynamic (CachingOptimized has MinTTL 1s).",
		Fix:       "Set MinTTL to 0 on dynamic behaviors: CachingDisabled, or a custom policy with MinTTL 0.",
		TetherFix: "Set cache.min_ttl: 0s, or use mode: safe, which never applies min_ttl to private responses.",
		Refs:      []string{refExpiration, refCachePolicy},
		check:     eachBehavior(minTTLOnDynamic),
	}, {
		ID: "CF-TTL-003", Severity: SevError,
		Title: "MinTTL ≤ DefaultTTL ≤ MaxTTL broken",
		Why:   "MinTTL ≤ DefaultTTL ≤ MaxTTL does not hold: CloudFront rejects the policy or clamps TTLs in ways nobody intended.",
		Fix:   "Fix the values so that MinTTL ≤ DefaultTTL ≤ MaxTTL.",
		Refs:  []string{refCachePolicy},
		check: eachBehavior(ttlOrder),
	}, {
		ID: "CF-KEY-001", Severity: SevError, SafeMitigated: true,
		Title:     "cookie forwarded but not keyed",
		Why:       "Cookies reach the origin without being in the cache key: a response personalised by one user's cookie is served to everyone who shares the key.",
		Fix:       "Put the cookies the origin varies on in the cache policy, or use CachingDisabled.",
		TetherFix: "Add the cookies to cache.cookies, turn caching off, or use mode: safe (it stores only explicitly shared responses when unkeyed inputs are forwarded).",
		Refs:      []string{refCookies, refORP},
		check:     eachBehavior(unkeyedCookies),
	}, {
		ID: "CF-KEY-002", Severity: SevError, SafeMitigated: true,
		Title:     "poisoning header forwarded but not keyed",
		Why:       "Headers that change the response (all viewer headers, X-Forwarded-Host, method overrides, Authorization…) reach the origin without being in the cache key: one request can poison the cached response for everyone.",
		Fix:       "Key those headers or stop forwarding them; forward a short explicit allowlist instead of AllViewer.",
		TetherFix: "Move the headers to cache.headers or drop them from origin_request.headers, or use mode: safe.",
		Refs:      []string{refPoisoning, refCPDoS},
		check:     eachBehavior(unkeyedHeaders),
	}, {
		ID: "CF-KEY-003", Severity: SevWarn, SafeMitigated: true,
		Title:     "query string forwarded but not keyed",
		Why:       "Query strings reach the origin without being in the cache key: parameter poisoning and cloaking.",
		Fix:       "Key the query strings the origin reads, or stop forwarding them.",
		TetherFix: "Key them in cache.query or drop them from origin_request.query, or use mode: safe.",
		Refs:      []string{refEntanglement},
		check:     eachBehavior(unkeyedQuery),
	}, {
		ID: "CF-KEY-004", Severity: SevWarn,
		Title:     "all cookies in the cache key",
		Why:       "Every cookie is in the cache key: analytics and load-balancer cookies make the hit ratio near zero, and forwarded cookies bring cached Set-Cookie.",
		Fix:       "Whitelist only the cookies the origin varies on.",
		TetherFix: "Use cache.cookies: {whitelist: [...]} with the cookies the origin varies on.",
		Refs:      []string{refCookies},
		check:     eachBehavior(allCookiesKeyed),
	}, {
		ID: "CF-METH-001", Severity: SevInfo, SafeMitigated: true,
		Title:     "writes through a caching behavior",
		Why:       "A caching behavior accepts writes, but CloudFront does not invalidate cached GETs on POST/PUT/PATCH/DELETE, so reads are stale after writes.",
		Fix:       "Keep write endpoints on behaviors with caching disabled.",
		TetherFix: "Keep write endpoints on behaviors with caching off, or use mode: safe, which invalidates on unsafe methods (RFC 9111 §4.4).",
		Refs:      []string{refRFC9111},
		check:     eachBehavior(writesOnCache),
	}, {
		ID: "CF-METH-002", Severity: SevWarn,
		Title: "OPTIONS cached without CORS headers keyed",
		Why:   "OPTIONS responses are cached without Origin, Access-Control-Request-Method and Access-Control-Request-Headers in the key: one site's preflight answer is served to another.",
		Fix:   "Add the three headers to the cache key, or stop caching OPTIONS.",
		Refs:  []string{refCustomOrigin},
		check: eachBehavior(optionsUnkeyed),
	}, {
		ID: "CF-COND-001", Severity: SevInfo, SafeMitigated: true,
		Title: "no revalidation with cookies forwarded",
		Why:   "CloudFront does not revalidate with conditional requests when cookies are forwarded, so every expiry is a full refetch.",
		Fix:   "Expected; note the cost, or forward no cookies on cacheable paths.",
		Refs:  []string{refCookies},
		check: eachBehavior(cookiesOnCache),
	}, {
		ID: "CF-ERR-001", Severity: SevWarn, SafeMitigated: true,
		Title:     "errors from the dynamic origin cached",
		Why:       "Errors from the dynamic origin are cached (10s by default): one malformed request can make an error page everyone gets (CPDoS).",
		Fix:       "Add custom error responses with ErrorCachingMinTTL 0 for 400, 403, 405, 414, 416, 500, 501, 502, 503 and 504.",
		TetherFix: "Use mode: safe, which caches no error without explicit freshness; cloudfront mode caches them as CloudFront does.",
		Refs:      []string{refErrors, refCPDoS},
		check:     errorCaching,
	}, {
		ID: "CF-ORIGIN-001", Severity: SevWarn,
		Title:     "origin reachable around the edge",
		Why:       "The load balancer also accepts traffic that does not come through the edge: clients can bypass the cache and its rules and spoof forwarding headers.",
		Fix:       "Have CloudFront add a secret custom origin header that the ALB listener rules require, and limit the security group to the CloudFront managed prefix list.",
		TetherFix: "Bind the origin listener to loopback or to an address only the edge can reach.",
		Refs:      []string{refRestrictALB},
		check:     openOrigin,
	}}
}

func authBehindCache(d *Distribution, b *Behavior) (string, bool) {
	for _, be := range b.Backends {
		a := be.Auth
		if a == nil {
			continue
		}
		switch {
		case b.caching():
			return fmt.Sprintf("%s sits behind %s; %s", be.Name, a, ttlEvidence(b)), true
		case a.NeedsAll && b.Cache.Query.Behavior != SetAll && b.Forward.Query.Behavior != SetAll:
			return fmt.Sprintf("%s sits behind %s, which needs every query string; query: key %s, origin request %s",
				be.Name, a, b.Cache.Query, b.Forward.Query), true
		case a.NeedsAll && !b.forwardsCookie(probeName):
			return fmt.Sprintf("%s sits behind %s, which needs every cookie; %s", be.Name, a, cookiePolicies(b)), true
		}
	}
	return "", false
}

// probeName stands for any cookie or parameter no policy names.
const probeName = "\x00any"

func minTTLOnDynamic(d *Distribution, b *Behavior) (string, bool) {
	if b.Cache.MinTTL <= 0 {
		return "", false
	}
	var why []string
	if b.forwardsAnyCookie() {
		why = append(why, "forwards cookies")
	}
	if b.forwardsHeader("Authorization") {
		why = append(why, "forwards Authorization")
	}
	if b.Origin != nil && b.Origin.Dynamic {
		why = append(why, "goes to the dynamic origin "+b.Origin.ID)
	}
	if b.Default {
		why = append(why, "is the default behavior")
	}
	if len(why) == 0 {
		return "", false
	}
	return fmt.Sprintf("%s has MinTTL %s, and the behavior %s", b.Cache.Name, fmtDur(b.Cache.MinTTL), andList(why)), true
}

func ttlOrder(d *Distribution, b *Behavior) (string, bool) {
	c := b.Cache
	if c.MinTTL <= c.DefaultTTL && c.DefaultTTL <= c.MaxTTL {
		return "", false
	}
	return fmt.Sprintf("%s: MinTTL %s, DefaultTTL %s, MaxTTL %s", c.Name,
		fmtDur(c.MinTTL), fmtDur(c.DefaultTTL), fmtDur(c.MaxTTL)), true
}

// unkeyed returns the names the origin request set forwards that the key
// set does not select, leaving out those skip reports; "any other" stands
// for names neither set lists.
func unkeyed(fwd, key NameSet, skip func(string) bool) []string {
	var out []string
	for _, n := range slices.Concat(fwd.Names, key.Names, []string{probeName}) {
		if !fwd.Selects(n) || key.Selects(n) || skip(n) {
			continue
		}
		if n == probeName {
			n = "any other"
			if fwd.Behavior == SetAll {
				n = "all"
			}
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func unkeyedCookies(d *Distribution, b *Behavior) (string, bool) {
	if !b.caching() {
		return "", false
	}
	skip := func(n string) bool { return n != probeName && d.isInfra(b, n) }
	names := unkeyed(b.Forward.Cookies, b.Cache.Cookies, skip)
	if len(names) == 0 {
		return "", false
	}
	return fmt.Sprintf("forwarded but not keyed: cookies %s (%s); %s", strings.Join(names, ", "), cookiePolicies(b), ttlEvidence(b)), true
}

// poisonHeaders change responses at many origins and must never be
// forwarded unkeyed on a caching behavior.
var poisonHeaders = []string{"X-Forwarded-Host", "X-Forwarded-Scheme", "X-Forwarded-Proto", "X-Original-URL",
	"X-Rewrite-URL", "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "Forwarded", "Authorization"}

func unkeyedHeaders(d *Distribution, b *Behavior) (string, bool) {
	if !b.caching() {
		return "", false
	}
	f := b.Forward.Headers
	if f.Behavior == SetAllViewer || f.Behavior == SetAll || f.Behavior == SetAllExcept {
		return fmt.Sprintf("%s forwards %s; the key has headers %s", b.Forward.Name, f, b.Cache.Headers), true
	}
	var bad []string
	for _, h := range poisonHeaders {
		if f.Selects(h) && !b.Cache.Headers.Selects(h) {
			bad = append(bad, h)
		}
	}
	if len(bad) == 0 {
		return "", false
	}
	return fmt.Sprintf("forwarded but not keyed: %s (%s: headers %s)", strings.Join(bad, ", "), b.Forward.Name, f), true
}

func unkeyedQuery(d *Distribution, b *Behavior) (string, bool) {
	if !b.caching() {
		return "", false
	}
	names := unkeyed(b.Forward.Query, b.Cache.Query, func(string) bool { return false })
	if len(names) == 0 {
		return "", false
	}
	return fmt.Sprintf("forwarded but not keyed: query strings %s (key %s, origin request %s)", strings.Join(names, ", "), b.Cache.Query, b.Forward.Query), true
}

func allCookiesKeyed(d *Distribution, b *Behavior) (string, bool) {
	if !b.caching() || b.Cache.Cookies.Behavior != SetAll {
		return "", false
	}
	return fmt.Sprintf("%s keys cookies all; %s", b.Cache.Name, ttlEvidence(b)), true
}

func writesOnCache(d *Distribution, b *Behavior) (string, bool) {
	if !b.caching() {
		return "", false
	}
	var w []string
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		if b.allows(m) {
			w = append(w, m)
		}
	}
	if len(w) == 0 {
		return "", false
	}
	return fmt.Sprintf("allows %s; %s", strings.Join(w, ", "), ttlEvidence(b)), true
}

func optionsUnkeyed(d *Distribution, b *Behavior) (string, bool) {
	if !b.caching() || !b.caches("OPTIONS") {
		return "", false
	}
	var miss []string
	for _, h := range []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"} {
		if !b.Cache.Headers.Selects(h) {
			miss = append(miss, h)
		}
	}
	if len(miss) == 0 {
		return "", false
	}
	return fmt.Sprintf("caches OPTIONS; the key lacks %s (%s: headers %s)", strings.Join(miss, ", "), b.Cache.Name, b.Cache.Headers), true
}

func cookiesOnCache(d *Distribution, b *Behavior) (string, bool) {
	if !b.caching() || !b.forwardsAnyCookie() {
		return "", false
	}
	return fmt.Sprintf("caches and forwards cookies (%s)", cookiePolicies(b)), true
}

// cpdosCodes are the error statuses CloudFront caches that a malformed
// request can provoke.
var cpdosCodes = []int{400, 403, 405, 414, 416, 500, 501, 502, 503, 504}

// cloudFrontErrorTTL is CloudFront's default error caching minimum TTL.
const cloudFrontErrorTTL = 10 * time.Second

func errorCaching(m *Model, report func(hit)) {
	for _, d := range m.Distributions {
		dynamic := slices.ContainsFunc(d.Behaviors, func(b *Behavior) bool { return b.Origin != nil && b.Origin.Dynamic })
		if !dynamic {
			continue
		}
		var cached []string
		for _, code := range cpdosCodes {
			ttl, ok := d.ErrorCachingMinTTL[code]
			src := "set"
			if !ok && d.DefaultErrorCaching {
				ttl, src = cloudFrontErrorTTL, "default"
			}
			if ttl > 0 {
				cached = append(cached, fmt.Sprintf("%d (%s, %s)", code, fmtDur(ttl), src))
			}
		}
		if len(cached) > 0 {
			report(hit{d: d, evidence: "errors cached: " + strings.Join(cached, ", ")})
		}
	}
}

func openOrigin(m *Model, report func(hit)) {
	for _, d := range m.Distributions {
		var seen []string
		for _, b := range d.Behaviors {
			o := b.Origin
			if o == nil || !o.LoadBalancer || o.Restricted || slices.Contains(seen, o.ID) {
				continue
			}
			seen = append(seen, o.ID)
			report(hit{d: d, evidence: fmt.Sprintf("origin %s (%s): %s", o.ID, o.Domain, o.RestrictedWhy)})
		}
	}
}

// andList joins items as prose: "a", "a and b", "a, b and c".
func andList(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
