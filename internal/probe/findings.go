package probe

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// cookieAgg gathers what the probe saw of one cookie name.
type cookieAgg struct {
	seen      CookieSeen
	haveAttrs bool               // seen.Cookie holds a setting (not deleting) header
	values    map[string]bool    // distinct values set
	perB      map[int]int        // browser index → responses that set it
	warned    map[string]Warning // by code
}

// analyzeCookies aggregates the Set-Cookie headers of every response by
// cookie name and collects the warnings of the whole probe: the target
// header missing, each cookie's own problems, churn, no cookie at all.
func analyzeCookies(cfg Config, results [][]exchange, now time.Time) ([]CookieSeen, []Warning) {
	aggs := map[string]*cookieAgg{}
	responses, perB, unidentified := 0, make([]int, len(results)), 0
	for b, exs := range results {
		for _, ex := range exs {
			if ex.status == 0 {
				continue
			}
			responses++
			perB[b]++
			if ex.target == "" {
				unidentified++
			}
			for _, line := range ex.setCookies {
				addSetCookie(aggs, b, line, now)
			}
		}
	}
	warnings := []Warning{}
	if unidentified > 0 {
		warnings = append(warnings, targetHeaderWarning(cfg.TargetHeader, unidentified, responses))
	}
	cookies := []CookieSeen{}
	names := make([]string, 0, len(aggs))
	for n := range aggs {
		names = append(names, n)
	}
	slices.Sort(names)
	https := strings.HasPrefix(strings.ToLower(cfg.URL), "https:")
	for _, n := range names {
		a := aggs[n]
		a.seen.Responses = responses
		a.seen.Browsers = len(a.perB)
		a.seen.DistinctValues = len(a.values)
		cookies = append(cookies, a.seen)
		for _, code := range []string{WarnMalformed, WarnSameSiteNoneInsecure, WarnAffinityNoHTTPOnly, WarnRevealsAddress} {
			if w, ok := a.warned[code]; ok {
				warnings = append(warnings, w)
			}
		}
		c := a.seen.Cookie
		if https && a.haveAttrs && c.Affinity && !c.Secure {
			warnings = append(warnings, Warning{WarnNotSecureOnHTTPS, n, fmt.Sprintf(
				"cookie %s is served over HTTPS without Secure: a browser also sends it over plain HTTP, where anyone on the path can read or replace it; add Secure", n)})
		}
		if w, ok := churn(a, perB); ok {
			warnings = append(warnings, w)
		}
	}
	if len(aggs) == 0 && responses > 0 {
		warnings = append(warnings, Warning{Code: WarnNoCookie, Message: fmt.Sprintf(
			"no response set a cookie: whatever keeps a browser on its target, it is not a cookie — it is the client address (source IP) or the connection. All %d simulated browsers share this machine's address, so a sticky result proves little: real users behind one NAT share one target, and a user whose address changes (mobile, VPN) moves",
			cfg.Browsers)})
	}
	return cookies, warnings
}

// addSetCookie records one Set-Cookie header received by browser b.
func addSetCookie(aggs map[string]*cookieAgg, b int, line string, now time.Time) {
	c, ws := AnalyzeSetCookie(line, now)
	a := aggs[c.Name]
	if a == nil {
		a = &cookieAgg{seen: CookieSeen{Cookie: c}, values: map[string]bool{}, perB: map[int]int{}, warned: map[string]Warning{}}
		aggs[c.Name] = a
	}
	for _, w := range ws {
		if _, dup := a.warned[w.Code]; !dup {
			a.warned[w.Code] = w
		}
	}
	if c.Deletes || c.Malformed {
		return
	}
	if !a.haveAttrs {
		a.seen.Cookie, a.haveAttrs = c, true
	}
	a.seen.SetCount++
	a.perB[b]++
	if hc, err := http.ParseSetCookie(line); err == nil && len(a.values) < 100000 {
		a.values[hc.Value] = true
	}
}

// churn reports a cookie that every browser (of those with at least two
// responses) was given again on every response.
func churn(a *cookieAgg, perB []int) (Warning, bool) {
	eligible := 0
	for b, n := range perB {
		if n < 2 {
			continue
		}
		eligible++
		if a.perB[b] != n {
			return Warning{}, false
		}
	}
	if eligible == 0 {
		return Warning{}, false
	}
	s := a.seen
	msg := fmt.Sprintf("cookie %s is set again on every response (%d of %d)", s.Name, s.SetCount, s.Responses)
	if s.DistinctValues > s.Browsers {
		msg += fmt.Sprintf(" with a new value each time (%d values for %s): whoever sets it does not recognise the cookie it set — check its Path and Domain against the URL, and whether the browser sends it back",
			s.DistinctValues, plural(s.Browsers, "browser"))
	} else {
		msg += ": responses cannot be cached, and each one rewrites the browser's cookie store; a load balancer should set its cookie once (and refresh it rarely)"
	}
	return Warning{WarnChurn, s.Name, msg}, true
}

// targetHeaderWarning explains how to make responses name their target.
func targetHeaderWarning(header string, missing, responses int) Warning {
	what := fmt.Sprintf("%d of %d responses", missing, responses)
	if missing == responses {
		what = "no response"
		return Warning{Code: WarnTargetHeaderMissing, Message: fmt.Sprintf(
			"%s carried the %s header, so the probe cannot tell which target served it. Pass --target-header NAME with a header that names the target: tether sets one with target_header; HAProxy: `http-response set-header X-Served-By %%s`; NGINX: `add_header X-Served-By $upstream_addr always;`; or have your app set one",
			what, header)}
	}
	return Warning{Code: WarnTargetHeaderMissing, Message: fmt.Sprintf(
		"%s lacked the %s header, so the probe cannot tell which target served them (error pages of the load balancer itself often lack it)",
		what, header)}
}
