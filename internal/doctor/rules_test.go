package doctor

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// ruleCase is a minimal input that triggers a rule and one, as close to it
// as possible, that does not.
type ruleCase struct {
	rule, name     string
	trigger, clean func(t *testing.T) *Model
}

// TestRules runs every rule case: the rule fires on the trigger input and
// not on the clean one.
func TestDoctorRules(t *testing.T) {
	for _, c := range allCases() {
		t.Run(c.rule+"/"+c.name, func(t *testing.T) {
			if rep := Run(c.trigger(t)); !rep.Has(c.rule) {
				t.Errorf("%s did not fire; findings: %v", c.rule, ids(rep))
			}
			if rep := Run(c.clean(t)); rep.Has(c.rule) {
				t.Errorf("%s fired on the clean input: %+v", c.rule, findingsOf(rep, c.rule))
			}
		})
	}
}

// TestEveryRuleIsTested keeps a case for every rule, and every case's rule
// real.
func TestDoctorEveryRuleIsTested(t *testing.T) {
	tested := map[string]bool{}
	for _, c := range allCases() {
		if _, ok := Lookup(c.rule); !ok {
			t.Errorf("case %s/%s names no rule", c.rule, c.name)
		}
		tested[c.rule] = true
	}
	for _, r := range Rules() {
		if !tested[r.ID] {
			t.Errorf("rule %s has no test case", r.ID)
		}
	}
	if n := len(Rules()); n < 20 {
		t.Errorf("%d rules, want at least 20", n)
	}
}

// TestRuleTable checks that every rule is complete and its ID unique.
func TestDoctorRuleTable(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.ID] {
			t.Errorf("rule %s is listed twice", r.ID)
		}
		seen[r.ID] = true
		if r.Title == "" || r.Why == "" || r.Fix == "" || len(r.Refs) == 0 || r.check == nil {
			t.Errorf("rule %s lacks a title, why, fix, refs or check", r.ID)
		}
		if r.Severity != SevError && r.Severity != SevWarn && r.Severity != SevInfo {
			t.Errorf("rule %s has severity %q", r.ID, r.Severity)
		}
	}
}

func allCases() []ruleCase {
	return slices.Concat(cfCases(), tetherCases(), inputCases())
}

func ids(r *Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Rule)
	}
	return out
}

func findingsOf(r *Report, id string) []Finding {
	return slices.DeleteFunc(slices.Clone(r.Findings), func(f Finding) bool { return f.Rule != id })
}

// Name sets for building behaviors.
var (
	none = NameSet{Behavior: SetNone}
	all  = NameSet{Behavior: SetAll}
)

func wl(names ...string) NameSet    { return NameSet{Behavior: SetWhitelist, Names: names} }
func hwl(names ...string) HeaderSet { return HeaderSet{Behavior: SetWhitelist, Names: names} }

type mod func(d *Distribution, b *Behavior)

// cf builds a model from a clean base: one behavior /app/* in front of a
// sticky ALB (lb_cookie, 1h), caching disabled, forwarding AWSALB and
// AWSALBCORS in its origin request policy; then applies mods.
func cf(mods ...mod) func(*testing.T) *Model {
	return func(*testing.T) *Model {
		o := &Origin{ID: "alb", Domain: "app-1.eu-west-1.elb.amazonaws.com", Dynamic: true, LoadBalancer: true, Restricted: true}
		lb := []string{"AWSALB", "AWSALBCORS"}
		b := &Behavior{Ref: "CacheBehaviors[0]", Path: "/app/*",
			AllowedMethods: []string{"GET", "HEAD"}, CachedMethods: []string{"GET", "HEAD"},
			Cache:   CachePolicy{Name: "cache policy CachingDisabled", Cookies: none, Headers: HeaderSet{}, Query: none},
			Forward: OriginRequestPolicy{Name: "origin request policy sticky", Cookies: wl(lb...), Query: none},
			Origin:  o,
			Backends: []*Backend{{Name: "target group tg.json", Sticky: Stickiness{Type: "lb_cookie", Duration: time.Hour,
				Cookies: lb, Twin: "AWSALBCORS", LBCookies: lb}}}}
		d := &Distribution{Name: "d.json", Mode: "cloudfront", Behaviors: []*Behavior{b},
			InfraCookies: []string{"AWSALB", "AWSALBCORS", "AWSALBTG", "AWSALBAPP-*", "AWSELB"}}
		for _, f := range mods {
			f(d, b)
		}
		return &Model{Source: "test", Kind: KindAWS, Distributions: []*Distribution{d}}
	}
}

// ttl makes the behavior cache, with the given TTLs.
func ttl(minTTL, def, maxTTL time.Duration) mod {
	return func(_ *Distribution, b *Behavior) {
		b.Cache.Name = "cache policy custom"
		b.Cache.MinTTL, b.Cache.DefaultTTL, b.Cache.MaxTTL = minTTL, def, maxTTL
	}
}

var caching = ttl(0, 5*time.Minute, time.Hour)

// also adds a behavior after the others: a copy of the first with path p,
// then f applied to it.
func also(p string, f func(*Behavior)) mod {
	return func(d *Distribution, first *Behavior) {
		nb := *first
		nb.Path, nb.Index, nb.Ref = p, len(d.Behaviors), "CacheBehaviors[n]"
		if f != nil {
			f(&nb)
		}
		d.Behaviors = append(d.Behaviors, &nb)
	}
}

// path sets the first behavior's pattern.
func path(p string) mod { return func(_ *Distribution, b *Behavior) { b.Path = p } }

func cfCases() []ruleCase {
	fwd := func(ns NameSet) mod { return func(_ *Distribution, b *Behavior) { b.Forward.Cookies = ns } }
	key := func(ns NameSet) mod { return func(_ *Distribution, b *Behavior) { b.Cache.Cookies = ns } }
	appCookie := func(_ *Distribution, b *Behavior) {
		shards := []string{"AWSALBAPP-0", "AWSALBAPP-1", "AWSALBAPP-2", "AWSALBAPP-3"}
		b.Backends[0].Sticky = Stickiness{Type: "app_cookie", Duration: time.Hour, Cookies: append([]string{"APPSESS"}, shards...), LBCookies: shards}
	}
	auth := func(_ *Distribution, b *Behavior) {
		b.Backends[0].Auth = &Auth{Kind: "ALB authenticate-oidc rule", SessionCookie: "AWSELBAuthSessionCookie-*", SessionTimeout: time.Hour, NeedsAll: true}
	}
	allViewer := func(_ *Distribution, b *Behavior) {
		b.Forward = OriginRequestPolicy{Name: "origin request policy AllViewer", Cookies: all, Headers: HeaderSet{Behavior: SetAllViewer}, Query: all}
	}
	safe := func(d *Distribution, _ *Behavior) { d.Mode = "safe" }
	methods := func(allowed, cached []string) mod {
		return func(_ *Distribution, b *Behavior) { b.AllowedMethods, b.CachedMethods = allowed, cached }
	}
	gho := []string{"GET", "HEAD", "OPTIONS"}
	noOrigin := func(_ *Distribution, b *Behavior) { b.Origin = &Origin{ID: "s3", Dynamic: false} }
	return []ruleCase{
		{rule: "CF-STICKY-001", name: "no cookie forwarded", trigger: cf(fwd(none)), clean: cf()},
		{rule: "CF-STICKY-001", name: "static behavior may go without", trigger: cf(fwd(none), path("/app/*")), clean: cf(fwd(none), path("*.css"))},
		{rule: "CF-STICKY-002", name: "twin missing", trigger: cf(fwd(wl("AWSALB"))), clean: cf()},
		{rule: "CF-STICKY-003", name: "app cookie shards missing", trigger: cf(appCookie, fwd(wl("APPSESS", "AWSALBAPP-0"))),
			clean: cf(appCookie, fwd(wl("APPSESS", "AWSALBAPP-0", "AWSALBAPP-1", "AWSALBAPP-2", "AWSALBAPP-3")))},
		{rule: "CF-STICKY-003", name: "wildcards only in legacy whitelists", trigger: cf(appCookie, fwd(wl("APPSESS", "AWSALBAPP-*"))),
			clean: cf(appCookie, fwd(NameSet{Behavior: SetWhitelist, Names: []string{"APPSESS", "AWSALBAPP-*"}, Glob: true}))},
		{rule: "CF-STICKY-004", name: "cached behavior forwards AWSALB", trigger: cf(caching), clean: cf()},
		{rule: "CF-STICKY-004", name: "safe mode strips it", trigger: cf(caching), clean: cf(caching, safe)},
		{rule: "CF-STICKY-005", name: "AWSALB keyed", trigger: cf(caching, key(wl("AWSALB"))),
			clean: cf(caching, key(NameSet{Behavior: SetAllExcept, Names: []string{"AWSALB", "AWSALBCORS", "AWSALBTG", "AWSALBAPP-0", "AWSALBAPP-1", "AWSALBAPP-2", "AWSALBAPP-3", "AWSELB"}}))},
		{rule: "CF-STICKY-006", name: "TTL above stickiness", trigger: cf(ttl(0, time.Minute, 24*time.Hour)), clean: cf(ttl(0, time.Minute, 30*time.Minute))},
		{rule: "CF-STICKY-006", name: "TTL above auth session", trigger: cf(auth, fwd(all), ttl(0, time.Minute, 2*time.Hour), func(_ *Distribution, b *Behavior) {
			b.Backends[0].Sticky.Duration = 48 * time.Hour
		}), clean: cf(auth, fwd(all), ttl(0, time.Minute, 30*time.Minute))},
		{rule: "CF-STICKY-007", name: "one dynamic behavior drops the cookie", trigger: cf(also("/api/*", func(b *Behavior) { b.Forward.Cookies = none })),
			clean: cf(also("/api/*", nil))},
		{rule: "CF-AUTH-001", name: "cached", trigger: cf(auth, allViewer, caching), clean: cf(auth, allViewer)},
		{rule: "CF-AUTH-001", name: "query strings dropped", trigger: cf(auth, fwd(all)), clean: cf(auth, allViewer)},
		{rule: "CF-TTL-001", name: "CachingOptimized on dynamic origin", trigger: cf(ttl(time.Second, 24*time.Hour, 8760*time.Hour), fwd(none)),
			clean: cf(ttl(0, 24*time.Hour, 8760*time.Hour), fwd(none))},
		{rule: "CF-TTL-001", name: "MinTTL on static origin is fine", trigger: cf(ttl(time.Second, time.Hour, time.Hour), noOrigin, fwd(wl("theme"))),
			clean: cf(ttl(time.Second, time.Hour, time.Hour), noOrigin, fwd(none))},
		{rule: "CF-TTL-003", name: "min above default", trigger: cf(ttl(10*time.Second, 5*time.Second, time.Minute)), clean: cf(ttl(time.Second, 5*time.Second, time.Minute))},
		{rule: "CF-KEY-001", name: "all cookies forwarded unkeyed", trigger: cf(caching, fwd(all)), clean: cf(caching, fwd(wl("AWSALB", "AWSALBCORS")))},
		{rule: "CF-KEY-001", name: "session cookie forwarded unkeyed", trigger: cf(caching, fwd(wl("AWSALB", "sid"))), clean: cf(caching, fwd(wl("AWSALB", "sid")), key(wl("sid")))},
		{rule: "CF-KEY-002", name: "AllViewer on a cached behavior", trigger: cf(caching, allViewer), clean: cf(allViewer)},
		{rule: "CF-KEY-002", name: "X-Forwarded-Host unkeyed", trigger: cf(caching, func(_ *Distribution, b *Behavior) { b.Forward.Headers = hwl("x-forwarded-host") }),
			clean: cf(caching, func(_ *Distribution, b *Behavior) { b.Forward.Headers = hwl("Accept-Language") })},
		{rule: "CF-KEY-003", name: "query unkeyed", trigger: cf(caching, func(_ *Distribution, b *Behavior) { b.Forward.Query = all }),
			clean: cf(caching, func(_ *Distribution, b *Behavior) { b.Forward.Query, b.Cache.Query = all, all })},
		{rule: "CF-KEY-004", name: "all cookies keyed", trigger: cf(caching, key(all)), clean: cf(caching, key(wl("theme")))},
		{rule: "CF-METH-001", name: "writes through a cache", trigger: cf(caching, methods([]string{"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}, nil)),
			clean: cf(methods([]string{"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}, nil))},
		{rule: "CF-METH-002", name: "OPTIONS cached unkeyed", trigger: cf(caching, methods(gho, gho)),
			clean: cf(caching, methods(gho, gho), func(_ *Distribution, b *Behavior) {
				b.Cache.Headers = hwl("Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers")
			})},
		{rule: "CF-COND-001", name: "cookies on a cached behavior", trigger: cf(caching), clean: cf(caching, fwd(none))},
		{rule: "CF-ERR-001", name: "default error caching", trigger: cf(func(d *Distribution, _ *Behavior) { d.DefaultErrorCaching = true }),
			clean: cf(func(d *Distribution, _ *Behavior) {
				d.DefaultErrorCaching, d.ErrorCachingMinTTL = true, map[int]time.Duration{}
				for _, c := range cpdosCodes {
					d.ErrorCachingMinTTL[c] = 0
				}
			})},
		{rule: "CF-ORIGIN-001", name: "no origin header", trigger: cf(func(_ *Distribution, b *Behavior) { b.Origin.Restricted = false }), clean: cf()},
		{rule: "CF-PATH-001", name: "shadowed", trigger: cf(path("*.css"), also("/account/*.css", nil)), clean: cf(path("/account/*.css"), also("*.css", nil))},
		{rule: "CF-PATH-001", name: "sensitive prefix after an extension", trigger: cf(path("*.css"), also("/account/*", nil)), clean: cf(path("/account/*"), also("*.css", nil))},
		{rule: "CF-PATH-002", name: "extension on dynamic origin", trigger: cf(path("*.css"), caching, fwd(none)), clean: cf(path("*.css"), caching, fwd(none), noOrigin)},
		{rule: "CF-PATH-002", name: "safe mode with content types", trigger: cf(path("*.css"), caching, fwd(none), safe),
			clean: cf(path("*.css"), caching, fwd(none), safe, func(_ *Distribution, b *Behavior) { b.StaticContentTypes = []string{"text/css"} })},
		{rule: "CF-PATH-003", name: "lower-case only", trigger: cf(path("*.jpg")), clean: cf(path("*.jpg"), also("*.JPG", nil))},
	}
}

func TestDoctorSafeModeSkipsMitigatedRules(t *testing.T) {
	m := cf(ttl(0, time.Minute, 2*time.Hour), func(d *Distribution, b *Behavior) {
		d.Mode = "safe"
		b.Forward = OriginRequestPolicy{Name: "origin_request", Cookies: all, Headers: HeaderSet{Behavior: SetAllViewer}, Query: all}
	})(t)
	rep := Run(m)
	for _, r := range Rules() {
		if r.SafeMitigated && rep.Has(r.ID) {
			t.Errorf("%s fired on a safe-mode edge", r.ID)
		}
	}
	if !rep.Has("CF-STICKY-006") {
		t.Errorf("CF-STICKY-006 applies to safe mode too; findings %v", ids(rep))
	}
}

// TestDoctorDocsListEveryRule keeps docs/doctor.md in step with the rules.
func TestDoctorDocsListEveryRule(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "doctor.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules() {
		if !strings.Contains(string(doc), "### "+r.ID+" — "+r.Title+"\n") {
			t.Errorf("docs/doctor.md has no section \"### %s — %s\"", r.ID, r.Title)
		}
	}
}
