package doctor

import (
	"fmt"
	"slices"
	"strings"
)

func stickyRules() []Rule {
	return []Rule{{
		ID: "CF-STICKY-001", Severity: SevError,
		Title:     "stickiness cookie not forwarded",
		Why:       "The load balancer's stickiness cookie never reaches it through this behavior, so stickiness is silently off (cookies that are not forwarded are stripped, and so is Set-Cookie when no cookie is forwarded).",
		Fix:       "Forward the stickiness cookies in the origin request policy (AWSALB and AWSALBCORS; or the app cookie and AWSALBAPP-0..3) on a CachingDisabled behavior.",
		TetherFix: "Forward the group's stickiness cookies or header in origin_request on this behavior (lb_cookie: TETHER and TETHERCORS; app_cookie: the app cookie and TETHERAPP), with caching off (default_ttl: 0s, max_ttl: 0s).",
		Refs:      []string{refCookies, refSticky},
		check:     eachBehavior(stickyNotForwarded),
	}, {
		ID: "CF-STICKY-002", Severity: SevWarn,
		Title:     "CORS twin not forwarded",
		Why:       "Only one of the stickiness cookie and its cross-site twin is forwarded; the load balancer issues both, and cross-site requests may carry only one of them, so they lose stickiness.",
		Fix:       "Forward both AWSALB and AWSALBCORS.",
		TetherFix: "Forward both the stickiness cookie and its twin (TETHER and TETHERCORS).",
		Refs:      []string{refSticky},
		check:     eachBehavior(twinNotForwarded),
	}, {
		ID: "CF-STICKY-003", Severity: SevError,
		Title:     "app-cookie stickiness half forwarded",
		Why:       "Application-cookie stickiness needs both the application's cookie and the load balancer's own cookie (AWSALBAPP-0..3, sharded up to 4); with one missing the client is not routed back.",
		Fix:       "List every name: the app cookie and AWSALBAPP-0, AWSALBAPP-1, AWSALBAPP-2, AWSALBAPP-3 (cache and origin request policies take no wildcards).",
		TetherFix: "Forward both the application's cookie (app_cookie_name) and tether's binding cookie (cookie_name + APP, TETHERAPP by default).",
		Refs:      []string{refSticky},
		check:     eachBehavior(appCookiePartial),
	}, {
		ID: "CF-STICKY-004", Severity: SevError, SafeMitigated: true,
		Title:     "caching behavior forwards the LB cookie",
		Why:       "A caching behavior that forwards the load balancer's cookie caches the Set-Cookie the load balancer adds and replays it on hits, handing one user's stickiness cookie to everyone: pinning, imbalance and overwritten bindings.",
		Fix:       "Use CachingDisabled on sticky dynamic paths and give static paths their own behavior that forwards no cookies, or have the origin send Cache-Control: no-cache=\"Set-Cookie\".",
		TetherFix: "Turn caching off on this behavior (default_ttl: 0s, max_ttl: 0s) or use mode: safe, which never replays load-balancer cookies; give static paths their own behavior without cookies.",
		Refs:      []string{refCookies, refSticky},
		check:     eachBehavior(cachedLBCookie),
	}, {
		ID: "CF-STICKY-005", Severity: SevWarn,
		Title:     "LB cookie in the cache key",
		Why:       "A load-balancer cookie is in the cache key: the load balancer rewrites it on every response, so the key changes per visitor and returning users almost never hit the cache.",
		Fix:       "Move the cookie to the origin request policy; with allExcept, exclude AWSALB, AWSALBCORS, AWSALBTG, AWSALBAPP-0..3 and AWSELB.",
		TetherFix: "Move the cookie from cache.cookies to origin_request.cookies; with all_except, list the load-balancer cookies.",
		Refs:      []string{refSticky},
		check:     eachBehavior(keyedLBCookie),
	}, {
		ID: "CF-STICKY-006", Severity: SevWarn,
		Title:     "TTL longer than the stickiness or session",
		Why:       "Cached responses tied to stickiness or session cookies outlive the binding or session they belong to (AWS: set the TTL to expire before the authentication cookie does).",
		Fix:       "Keep MinTTL, DefaultTTL and MaxTTL below the stickiness duration and the session timeout, or use CachingDisabled.",
		TetherFix: "Lower max_ttl below stickiness.duration and sessions.idle_timeout, or turn caching off on this behavior.",
		Refs:      []string{refALBAuth, refSticky},
		check:     eachBehavior(ttlOutlivesBinding),
	}, {
		ID: "CF-STICKY-007", Severity: SevInfo,
		Title:     "inconsistent cookie forwarding to one group",
		Why:       "Dynamic behaviors in front of the same sticky target group forward its cookies inconsistently: requests on the others are balanced freely and may reach a target without the session.",
		Fix:       "Forward the stickiness cookies on every dynamic behavior of the origin.",
		TetherFix: "Forward the stickiness cookies on every dynamic behavior in front of the group.",
		Refs:      []string{refSticky},
		check:     inconsistentForwarding,
	}}
}

// split returns the names that b forwards and those it does not.
func split(b *Behavior, names []string) (fwd, missing []string) {
	for _, n := range names {
		if b.forwardsCookie(n) {
			fwd = append(fwd, n)
		} else {
			missing = append(missing, n)
		}
	}
	return fwd, missing
}

// cookiePolicies describes how b selects cookies, for evidence.
func cookiePolicies(b *Behavior) string {
	s := fmt.Sprintf("%s: cookies %s", b.Cache.Name, b.Cache.Cookies)
	switch {
	case b.Forward.Name == "":
		return s + "; no origin request policy"
	case b.Forward.Name == b.Cache.Name && !b.Forward.Cookies.Any():
		return s // legacy settings that forward extra query strings only
	}
	return s + fmt.Sprintf("; %s: cookies %s", b.Forward.Name, b.Forward.Cookies)
}

// names lists cookie names for evidence, the first few and a count of
// the rest.
func names(ns []string) string {
	if len(ns) <= 4 {
		return strings.Join(ns, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ns[:3], ", "), len(ns)-3)
}

// dedup returns ns without repeats, in order.
func dedup(ns []string) []string {
	var out []string
	for _, n := range ns {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// ttlEvidence describes b's TTLs.
func ttlEvidence(b *Behavior) string {
	return fmt.Sprintf("%s keeps responses up to %s (min %s, default %s, max %s)", b.Cache.Name,
		fmtDur(b.lifetime()), fmtDur(b.Cache.MinTTL), fmtDur(b.Cache.DefaultTTL), fmtDur(b.Cache.MaxTTL))
}

func stickyNotForwarded(d *Distribution, b *Behavior) (string, bool) {
	if b.looksStatic() {
		return "", false
	}
	var ev []string
	for _, be := range b.stickyBackends() {
		s := be.Sticky
		fwd, _ := split(b, s.Cookies)
		hdr := s.Header != "" && b.forwardsHeader(s.Header)
		if len(fwd) > 0 || hdr {
			continue
		}
		needs := strings.Join(s.Cookies, ", ")
		if s.Header != "" {
			needs = strings.TrimPrefix(needs+", header "+s.Header, ", ")
		}
		ev = append(ev, fmt.Sprintf("%s uses %s stickiness, which needs %s; none is forwarded (%s)",
			be.Name, s.Type, needs, inputPolicies(b, s.Header != "")))
	}
	return strings.Join(ev, "; "), len(ev) > 0
}

// inputPolicies describes b's cookie (and header) forwarding.
func inputPolicies(b *Behavior, headers bool) string {
	s := cookiePolicies(b)
	if headers {
		s += fmt.Sprintf("; headers: cache %s, origin request %s", b.Cache.Headers, b.Forward.Headers)
	}
	return s
}

func twinNotForwarded(d *Distribution, b *Behavior) (string, bool) {
	for _, be := range b.stickyBackends() {
		s := be.Sticky
		if s.Twin == "" || len(s.Cookies) == 0 {
			continue
		}
		main, twin := b.forwardsCookie(s.Cookies[0]), b.forwardsCookie(s.Twin)
		if main != twin {
			fwd, miss := s.Cookies[0], s.Twin
			if twin {
				fwd, miss = miss, fwd
			}
			return fmt.Sprintf("%s: forwards %s but not %s (%s)", be.Name, fwd, miss, cookiePolicies(b)), true
		}
	}
	return "", false
}

func appCookiePartial(d *Distribution, b *Behavior) (string, bool) {
	for _, be := range b.stickyBackends() {
		if be.Sticky.Type != "app_cookie" {
			continue
		}
		fwd, miss := split(b, be.Sticky.Cookies)
		if len(fwd) > 0 && len(miss) > 0 {
			return fmt.Sprintf("%s uses app_cookie stickiness: forwards %s but not %s (%s)",
				be.Name, strings.Join(fwd, ", "), strings.Join(miss, ", "), cookiePolicies(b)), true
		}
	}
	return "", false
}

func cachedLBCookie(d *Distribution, b *Behavior) (string, bool) {
	if !b.caching() {
		return "", false
	}
	for _, be := range b.Backends {
		if len(be.Sticky.LBCookies) == 0 {
			continue
		}
		if fwd, _ := split(b, d.lbCookies(b)); len(fwd) > 0 {
			return fmt.Sprintf("%s is sticky (%s); %s; forwards %s (%s)", be.Name, be.Sticky.Type,
				ttlEvidence(b), names(fwd), cookiePolicies(b)), true
		}
	}
	return "", false
}

func keyedLBCookie(d *Distribution, b *Behavior) (string, bool) {
	if !b.caching() {
		return "", false
	}
	var keyed []string
	for _, c := range d.lbCookies(b) {
		if b.keysCookie(c) {
			keyed = append(keyed, c)
		}
	}
	if len(keyed) == 0 {
		return "", false
	}
	return fmt.Sprintf("the cache key includes %s (%s: cookies %s)", names(keyed), b.Cache.Name, b.Cache.Cookies), true
}

func ttlOutlivesBinding(d *Distribution, b *Behavior) (string, bool) {
	if !b.caching() {
		return "", false
	}
	l := b.lifetime()
	var ev []string
	for _, be := range b.Backends {
		s := be.Sticky
		if fwd, _ := split(b, dedup(slices.Concat(s.Cookies, s.LBCookies))); len(fwd) > 0 && s.Duration > 0 && l > s.Duration {
			ev = append(ev, fmt.Sprintf("forwards %s while %s's stickiness lasts %s", names(fwd), be.Name, fmtDur(s.Duration)))
		}
		if a := be.Auth; a != nil && a.SessionTimeout > 0 && l > a.SessionTimeout {
			if fwd, _ := split(b, expand(a.SessionCookie)); len(fwd) > 0 {
				ev = append(ev, fmt.Sprintf("forwards the session cookie %s while sessions of %s last %s", a.SessionCookie, a, fmtDur(a.SessionTimeout)))
			}
		}
	}
	if len(ev) == 0 {
		return "", false
	}
	return strings.Join(ev, "; ") + "; " + ttlEvidence(b), true
}

// inconsistentForwarding reports sticky groups whose dynamic behaviors
// disagree on forwarding the stickiness cookies.
func inconsistentForwarding(m *Model, report func(hit)) {
	for _, d := range m.Distributions {
		var order []string
		with, without := map[string][]string{}, map[string][]string{}
		for _, b := range d.Behaviors {
			if b.looksStatic() {
				continue
			}
			for _, be := range b.stickyBackends() {
				if !slices.Contains(order, be.Name) {
					order = append(order, be.Name)
				}
				if fwd, _ := split(b, be.Sticky.Cookies); len(fwd) > 0 || be.Sticky.Header != "" && b.forwardsHeader(be.Sticky.Header) {
					with[be.Name] = append(with[be.Name], b.Path)
				} else {
					without[be.Name] = append(without[be.Name], b.Path)
				}
			}
		}
		for _, g := range order {
			if len(with[g]) > 0 && len(without[g]) > 0 {
				report(hit{d: d, evidence: fmt.Sprintf("%s: behaviors %s forward its stickiness cookies, %s do not",
					g, strings.Join(with[g], ", "), strings.Join(without[g], ", "))})
			}
		}
	}
}
