package doctor

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// loader turns recognised exports into distributions.
type loader struct {
	dists []NamedExport
	cache map[string]CachePolicy
	orp   map[string]OriginRequestPolicy
	tgs   map[string]NamedExport // origin Id → target group attributes
	rules map[string]NamedExport // origin Id → listener rules
}

// CloudFront's defaults for values an export leaves out.
const (
	cfDefaultTTL = 86400 * time.Second
	cfMaxTTL     = 31536000 * time.Second
)

// seconds is a TTL of the export, in seconds, or def when it has none. A
// value outside what CloudFront accepts, 0 to 100 years, is held to
// that range rather than overflowing a time.Duration.
func seconds(v *int64, def time.Duration) time.Duration {
	if v == nil {
		return def
	}
	return time.Duration(min(max(*v, 0), cfLongestTTL)) * time.Second
}

// cfLongestTTL is the longest TTL CloudFront accepts, in seconds (100
// years).
const cfLongestTTL = 3153600000

func (ld *loader) distribution(f NamedExport) (*Distribution, error) {
	dc := f.Distribution
	d := &Distribution{Name: f.Name, Mode: "cloudfront", DefaultErrorCaching: true,
		InfraCookies:       []string{"AWSALB", "AWSALBCORS", "AWSALBTG", "AWSALBAPP-*", "AWSELB"},
		SessionCookies:     []string{"AWSELBAuthSessionCookie-*"},
		ErrorCachingMinTTL: map[int]time.Duration{}}
	for _, e := range dc.CustomErrorResponses.Items {
		d.ErrorCachingMinTTL[e.ErrorCode] = seconds(e.ErrorCachingMinTTL, cloudFrontErrorTTL)
	}
	origins := map[string]*Origin{}
	for _, o := range dc.Origins.Items {
		origins[o.Id] = ld.origin(o)
	}
	var errs []error
	all := append(slices.Clone(dc.CacheBehaviors.Items), dc.DefaultCacheBehavior)
	for i, ab := range all {
		ref := fmt.Sprintf("CacheBehaviors[%d]", i)
		if i == len(all)-1 {
			ref, ab.PathPattern = "DefaultCacheBehavior", "*"
		}
		b := &Behavior{Ref: ref, Index: i, Path: ab.PathPattern, Default: ref == "DefaultCacheBehavior",
			AllowedMethods: upper(ab.AllowedMethods.Items), CachedMethods: upper(ab.AllowedMethods.CachedMethods.Items)}
		if len(b.AllowedMethods) == 0 {
			b.AllowedMethods = []string{"GET", "HEAD"}
		}
		if len(b.CachedMethods) == 0 {
			b.CachedMethods = []string{"GET", "HEAD"}
		}
		if err := ld.policies(b, ab); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s (%s): %w", f.Name, ref, b.Path, err))
		}
		b.Origin = origins[ab.TargetOriginId]
		if b.Origin == nil {
			errs = append(errs, fmt.Errorf("%s: %s (%s): TargetOriginId %q names no origin", f.Name, ref, b.Path, ab.TargetOriginId))
		} else {
			b.Backends = ld.backends(ab.TargetOriginId, b.Path, paths(d.Behaviors))
		}
		d.Behaviors = append(d.Behaviors, b)
	}
	return d, errors.Join(errs...)
}

func upper(ms []string) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = strings.ToUpper(m)
	}
	return out
}

func (ld *loader) origin(o awsOrigin) *Origin {
	dom := strings.ToLower(o.DomainName)
	s3 := o.S3OriginConfig != nil || strings.Contains(dom, ".s3.") || strings.Contains(dom, ".s3-website") || strings.HasSuffix(dom, ".s3.amazonaws.com")
	out := &Origin{ID: o.Id, Domain: o.DomainName, Dynamic: !s3, ClientIPVisible: true}
	out.LoadBalancer = looksLikeELB(o.DomainName) || ld.tgs[o.Id].Export != nil
	out.Restricted = len(o.CustomHeaders.Items) > 0
	if out.Restricted {
		out.RestrictedWhy = "sends custom header " + o.CustomHeaders.Items[0].HeaderName
	} else {
		out.RestrictedWhy = "CloudFront adds no custom origin header, so the ALB cannot tell its requests from direct ones (security groups are not in these exports)"
	}
	return out
}

// policies fills b's cache and origin request policy from its ids, or
// from the legacy ForwardedValues.
func (ld *loader) policies(b *Behavior, ab awsBehavior) error {
	if ab.CachePolicyId == "" {
		if ab.ForwardedValues == nil {
			return errors.New("neither CachePolicyId nor ForwardedValues")
		}
		b.Cache, b.Forward = legacyPolicies(ab)
		return nil
	}
	var errs []error
	cp, ok := ld.cache[ab.CachePolicyId]
	if !ok {
		cp, ok = managedCachePolicy(ab.CachePolicyId)
	}
	if !ok {
		errs = append(errs, fmt.Errorf("cache policy %s is not a managed policy and no file holds it; export it: aws cloudfront get-cache-policy --id %s > cache-policy-%s.json",
			ab.CachePolicyId, ab.CachePolicyId, ab.CachePolicyId))
	}
	b.Cache = cp
	if id := ab.OriginRequestPolicyId; id != "" {
		op, ok := ld.orp[id]
		if !ok {
			op, ok = managedOriginRequestPolicy(id)
		}
		if !ok {
			errs = append(errs, fmt.Errorf("origin request policy %s is not a managed policy and no file holds it; export it: aws cloudfront get-origin-request-policy --id %s > origin-request-policy-%s.json", id, id, id))
		}
		b.Forward = op
	}
	return errors.Join(errs...)
}

// legacyPolicies maps the legacy cache settings: everything forwarded is
// keyed, except that QueryString with QueryStringCacheKeys forwards every
// parameter but keys only those. Cookie whitelists take wildcards.
func legacyPolicies(ab awsBehavior) (CachePolicy, OriginRequestPolicy) {
	const name = "legacy ForwardedValues"
	fv := ab.ForwardedValues
	c := CachePolicy{Name: name, MinTTL: seconds(ab.MinTTL, 0), DefaultTTL: seconds(ab.DefaultTTL, cfDefaultTTL), MaxTTL: seconds(ab.MaxTTL, cfMaxTTL)}
	c.Cookies = NameSet{Behavior: SetNone, Glob: true}
	switch fv.Cookies.Forward {
	case "all":
		c.Cookies.Behavior = SetAll
	case "whitelist":
		c.Cookies.Behavior, c.Cookies.Names = SetWhitelist, fv.Cookies.WhitelistedNames.Items
	}
	c.Headers = HeaderSet{Behavior: SetNone}
	switch h := fv.Headers.Items; {
	case slices.Contains(h, "*"):
		c.Headers.Behavior = SetAll // forwarding every header turns caching off
	case len(h) > 0:
		c.Headers = HeaderSet{Behavior: SetWhitelist, Names: h}
	}
	c.Query = NameSet{Behavior: SetNone}
	var o OriginRequestPolicy
	switch keys := fv.QueryStringCacheKeys.Items; {
	case fv.QueryString && len(keys) > 0:
		c.Query = NameSet{Behavior: SetWhitelist, Names: keys}
		o = OriginRequestPolicy{Name: name, Query: NameSet{Behavior: SetAll}}
	case fv.QueryString:
		c.Query.Behavior = SetAll
	}
	return c, o
}

func params(p awsPolicyParams) (NameSet, HeaderSet, NameSet) {
	ck := NameSet{Behavior: cmp.Or(p.CookiesConfig.CookieBehavior, SetNone), Names: p.CookiesConfig.Cookies.Items}
	hb := cmp.Or(p.HeadersConfig.HeaderBehavior, SetNone)
	if hb == "allViewerAndWhitelistCloudFront" {
		hb = SetAllViewer
	}
	hd := HeaderSet{Behavior: hb, Names: p.HeadersConfig.Headers.Items}
	qs := NameSet{Behavior: cmp.Or(p.QueryStringsConfig.QueryStringBehavior, SetNone), Names: p.QueryStringsConfig.QueryStrings.Items}
	return ck, hd, qs
}

func cachePolicyOf(p awsCachePolicy) CachePolicy {
	c := p.CachePolicyConfig
	out := CachePolicy{Name: "cache policy " + cmp.Or(c.Name, p.Id), MinTTL: seconds(&c.MinTTL, 0),
		DefaultTTL: seconds(c.DefaultTTL, cfDefaultTTL), MaxTTL: seconds(c.MaxTTL, cfMaxTTL)}
	out.Cookies, out.Headers, out.Query = params(c.ParametersInCacheKeyAndForwardedToOrigin)
	return out
}

func originRequestPolicyOf(p awsOriginRequestPolicy) OriginRequestPolicy {
	c := p.OriginRequestPolicyConfig
	out := OriginRequestPolicy{Name: "origin request policy " + cmp.Or(c.Name, p.Id)}
	out.Cookies, out.Headers, out.Query = params(c.awsPolicyParams)
	return out
}

// backends returns the target group behind origin id as the behavior with
// pattern path sees it: stickiness from the attributes file, and any
// authenticating listener rule that overlaps path.
func (ld *loader) backends(id, path string, earlier []string) []*Backend {
	tg, rules := ld.tgs[id], ld.rules[id]
	if tg.Export == nil && rules.Export == nil {
		return nil
	}
	be := &Backend{Name: "target group of origin " + id, Sticky: Stickiness{Type: "unknown"}}
	if tg.Export != nil {
		be.Name = "target group " + tg.Name
		be.Sticky = albStickiness(tg.Attributes)
	}
	if rules.Export != nil {
		be.Auth = albAuth(rules.Rules, path, earlier)
	}
	return []*Backend{be}
}

// albStickiness reads stickiness.* target group attributes.
func albStickiness(a map[string]string) Stickiness {
	if a["stickiness.enabled"] != "true" {
		return Stickiness{Type: "none"}
	}
	dur := func(k string) time.Duration {
		n, err := strconv.ParseInt(a[k], 10, 64)
		if err != nil {
			return cfDefaultTTL // the ALB's default duration is one day too
		}
		return time.Duration(min(max(n, 1), 604800)) * time.Second // the ALB's range: 1 s to 7 days
	}
	shards := []string{"AWSALBAPP-0", "AWSALBAPP-1", "AWSALBAPP-2", "AWSALBAPP-3"}
	switch t := cmp.Or(a["stickiness.type"], "lb_cookie"); t {
	case "lb_cookie":
		c := []string{"AWSALB", "AWSALBCORS"}
		return Stickiness{Type: t, Duration: dur("stickiness.lb_cookie.duration_seconds"), Cookies: c, Twin: c[1], LBCookies: c}
	case "app_cookie":
		name := a["stickiness.app_cookie.cookie_name"]
		return Stickiness{Type: t, Duration: dur("stickiness.app_cookie.duration_seconds"),
			Cookies: append([]string{name}, shards...), LBCookies: shards}
	default: // source_ip and the other NLB kinds
		return Stickiness{Type: t, ByClientIP: true}
	}
}

// albAuth returns the authentication of the first listener rule, in
// priority order, that may match path and authenticates; nil when none.
// Rules whose paths the earlier behaviors' patterns take are skipped.
func albAuth(rules []awsRule, path string, earlier []string) *Auth {
	rs := slices.Clone(rules)
	slices.SortStableFunc(rs, func(a, b awsRule) int {
		pa, ea := strconv.Atoi(a.Priority)
		pb, eb := strconv.Atoi(b.Priority)
		if a.IsDefault || ea != nil {
			pa = 1 << 30
		}
		if b.IsDefault || eb != nil {
			pb = 1 << 30
		}
		return cmp.Compare(pa, pb)
	})
	for _, r := range rs {
		paths, other := rulePaths(r)
		if len(paths) > 0 && !slices.ContainsFunc(paths, func(p string) bool { return reaches(path, p, earlier) }) {
			continue
		}
		for _, a := range r.Actions {
			cfg := cmp.Or(a.AuthenticateOidcConfig, a.AuthenticateCognitoConfig)
			if cfg == nil {
				continue
			}
			return &Auth{Kind: a.Type + " action", Route: fmt.Sprintf("ALB listener rule %s %s", r.Priority, strings.Join(dedup(paths), " ")), SessionCookie: cmp.Or(cfg.SessionCookieName, "AWSELBAuthSessionCookie") + "-*",
				SessionTimeout: seconds(cfg.SessionTimeout, 604800*time.Second), NeedsAll: true}
		}
		if !other && (len(paths) == 0 || slices.ContainsFunc(paths, func(p string) bool { return routeCovers(path, p) })) {
			return nil // this rule takes every request of the behavior
		}
	}
	return nil
}

// rulePaths returns a rule's path-pattern values, and whether it has
// conditions on anything else (host, headers…).
func rulePaths(r awsRule) (paths []string, other bool) {
	for _, c := range r.Conditions {
		if c.Field != "path-pattern" {
			other = true
			continue
		}
		paths = append(paths, c.Values...)
		if c.PathPatternConfig != nil {
			paths = append(paths, c.PathPatternConfig.Values...)
		}
	}
	return paths, other
}
