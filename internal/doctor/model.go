package doctor

import (
	"slices"
	"strings"
	"time"
)

// Model is what the rules run on: the edge distributions, each an ordered
// list of behaviors with the load-balancer stickiness behind its origin.
// Both inputs, a tether config and AWS exports, are converted into it.
type Model struct {
	// Source describes the input in the report header, such as
	// "tether.yaml" or "examples/aws/broken".
	Source string
	// Kind is the input: KindTether or KindAWS. It picks the wording of
	// fixes (YAML keys or AWS policies).
	Kind string
	// Distributions are the CloudFront distributions or tether edges.
	Distributions []*Distribution
	// Groups are tether's target groups and what the config says about
	// them, for the tether rules. Empty for AWS input.
	Groups []*GroupFacts
	// Sessions is tether's sessions block, nil when absent or for AWS.
	Sessions *SessionFacts
	// Unused lists notes about inputs that paired with nothing (AWS).
	Unused []Note
	// Unpaired lists load-balancer origins without stickiness data (AWS).
	Unpaired []Note
}

// Input kinds of a Model.
const (
	KindTether = "tether"
	KindAWS    = "aws"
)

// Note is an input-level remark about a file or origin.
type Note struct {
	// Subject is the file or origin the note is about.
	Subject string
	// Text says what is wrong with it.
	Text string
}

// Distribution is one CloudFront distribution or tether edge.
type Distribution struct {
	// Name identifies the distribution in findings: the export's file name
	// or edges[i](name).
	Name string
	// Mode is "cloudfront" (what CloudFront does, leaks included) or
	// "safe" (tether's guarded edge). AWS input is always cloudfront.
	Mode string
	// Behaviors in evaluation order; the default ("*") is last.
	Behaviors []*Behavior
	// InfraCookies are load-balancer cookie names or prefixes ending in *.
	InfraCookies []string
	// SessionCookies carry credentials: names or prefixes ending in *.
	SessionCookies []string
	// ErrorCachingMinTTL holds the error caching minimum TTL of the status
	// codes given explicitly.
	ErrorCachingMinTTL map[int]time.Duration
	// DefaultErrorCaching says that codes not listed are cached for
	// CloudFront's default 10s.
	DefaultErrorCaching bool
	// EdgeAddress is the tether edge's listen address (tether only).
	EdgeAddress string
}

// Safe reports whether d is a tether edge in safe mode, whose guardrails
// make some CloudFront rules moot.
func (d *Distribution) Safe() bool { return d.Mode == "safe" }

// Behavior is one path pattern with its cache and origin request policy.
type Behavior struct {
	// Ref locates the behavior in the input: CacheBehaviors[1],
	// DefaultCacheBehavior, edges[0](cdn).behaviors[2].
	Ref string
	// Index is the position in evaluation order, from 0.
	Index int
	// Path is the path pattern; "*" for the default.
	Path string
	// Default marks the default behavior.
	Default bool
	// AllowedMethods and CachedMethods are upper-case method names.
	AllowedMethods, CachedMethods []string
	// Cache is the cache policy: the key and the TTLs.
	Cache CachePolicy
	// Forward is the origin request policy: forwarded but not keyed.
	Forward OriginRequestPolicy
	// StaticContentTypes is tether's guard against web cache deception.
	StaticContentTypes []string
	// Origin is where misses go.
	Origin *Origin
	// Backends are the target groups this behavior's requests can reach.
	Backends []*Backend
}

// CachePolicy is the part of a behavior that decides the key and the TTLs.
type CachePolicy struct {
	// Name is the policy's name for evidence, such as "cache policy
	// CachingOptimized", "legacy ForwardedValues" or "cache".
	Name string
	// MinTTL, DefaultTTL and MaxTTL bound how long responses stay cached.
	MinTTL, DefaultTTL, MaxTTL time.Duration
	// Cookies, Headers and Query are in the cache key (and forwarded).
	Cookies NameSet
	Headers HeaderSet
	Query   NameSet
}

// OriginRequestPolicy is what is forwarded to the origin besides the key.
type OriginRequestPolicy struct {
	// Name is the policy's name for evidence; empty when there is none.
	Name string
	// Cookies, Headers and Query are forwarded but not keyed.
	Cookies NameSet
	Headers HeaderSet
	Query   NameSet
}

// NameSet behaviors, spelled as in the CloudFront API.
const (
	SetNone      = "none"
	SetAll       = "all"
	SetWhitelist = "whitelist"
	SetAllExcept = "allExcept"
	// SetAllViewer forwards every viewer header (origin request policies).
	SetAllViewer = "allViewer"
)

// NameSet selects cookies or query parameters by name.
type NameSet struct {
	// Behavior is none, all, whitelist or allExcept. Empty means none.
	Behavior string
	// Names are the whitelist or the exceptions.
	Names []string
	// Glob makes * and ? in Names wildcards, as in legacy cookie
	// whitelists.
	Glob bool
}

// Selects reports whether the set selects name; names are case-sensitive.
func (s NameSet) Selects(name string) bool {
	switch s.Behavior {
	case SetAll:
		return true
	case SetWhitelist:
		return s.listed(name)
	case SetAllExcept:
		return !s.listed(name)
	}
	return false
}

func (s NameSet) listed(name string) bool {
	for _, n := range s.Names {
		if n == name || s.Glob && strings.ContainsAny(n, "*?") && matchGlob(n, name) {
			return true
		}
	}
	return false
}

// Any reports whether the set selects anything at all.
func (s NameSet) Any() bool { return s.Behavior != "" && s.Behavior != SetNone }

// String describes the set for evidence: none, all, whitelist [a, b].
func (s NameSet) String() string {
	switch s.Behavior {
	case "", SetNone:
		return "none"
	case SetAll:
		return "all"
	}
	return s.Behavior + " [" + strings.Join(s.Names, ", ") + "]"
}

// HeaderSet selects headers; names are case-insensitive.
type HeaderSet struct {
	// Behavior is none, whitelist, allViewer or allExcept; all for a
	// legacy behavior that forwards the * header.
	Behavior string
	// Names are the allowlist or the exceptions.
	Names []string
}

// Selects reports whether the set selects header name.
func (s HeaderSet) Selects(name string) bool {
	in := slices.ContainsFunc(s.Names, func(n string) bool { return strings.EqualFold(n, name) })
	switch s.Behavior {
	case SetAllViewer, SetAll:
		return true
	case SetWhitelist:
		return in
	case SetAllExcept:
		return !in
	}
	return false
}

// String describes the set for evidence.
func (s HeaderSet) String() string {
	switch s.Behavior {
	case "", SetNone:
		return "none"
	case SetAllViewer, SetAll:
		return "all viewer headers"
	}
	return s.Behavior + " [" + strings.Join(s.Names, ", ") + "]"
}

// Origin is where a behavior's misses go.
type Origin struct {
	// ID names the origin: the CloudFront origin Id, "listener web" or a URL.
	ID string
	// Domain is the origin's host name or address.
	Domain string
	// Dynamic marks an application origin (a load balancer or a tether
	// listener) as opposed to static storage such as S3.
	Dynamic bool
	// LoadBalancer marks an origin that looks like an AWS load balancer.
	LoadBalancer bool
	// Restricted reports whether the origin is known to accept only the
	// edge's traffic (a secret origin header, or a loopback listener).
	Restricted bool
	// RestrictedWhy says what Restricted was decided from.
	RestrictedWhy string
	// ClientIPVisible reports whether the load balancer sees the viewer's
	// address through the edge (the listener trusts forwarding headers).
	ClientIPVisible bool
	// Listener is the tether listener name, empty otherwise.
	Listener string
}

// Backend is one target group a behavior can reach, with its stickiness.
type Backend struct {
	// Name identifies the group: target_groups[0](app), or the attributes
	// file it came from.
	Name string
	// Sticky is the group's stickiness.
	Sticky Stickiness
	// Auth is set when the route to the group authenticates requests
	// (tether authorizer, ALB authenticate-oidc/cognito).
	Auth *Auth
}

// Stickiness describes what keeps a client on one target.
type Stickiness struct {
	// Type is none, lb_cookie, app_cookie, header, source_ip or
	// consistent_hash.
	Type string
	// Duration is the lifetime of the binding; 0 when unknown.
	Duration time.Duration
	// Cookies must all reach the load balancer for stickiness to work.
	Cookies []string
	// Twin is the cross-site twin of Cookies[0] (AWSALBCORS, TETHERCORS).
	Twin string
	// Header must reach the load balancer (header stickiness, hashing).
	Header string
	// LBCookies are the cookies the load balancer itself sets.
	LBCookies []string
	// ByClientIP marks affinity by the client's address (source_ip
	// stickiness, consistent_hash on source_ip).
	ByClientIP bool
}

// Needs reports whether stickiness depends on inputs the edge must forward.
func (s Stickiness) Needs() bool { return len(s.Cookies) > 0 || s.Header != "" }

// Auth is an authenticating route: sessions in a cookie with a lifetime.
type Auth struct {
	// Kind describes it: "session authorizer", "JWT authorizer", "ALB
	// authenticate-oidc rule".
	Kind string
	// Route locates it: listeners[0](web).rules[1] /account/*, or the ALB
	// rule's priority and paths.
	Route string
	// SessionCookie is the session cookie name or a prefix ending in *;
	// "" for an authorizer that reads no cookie (bearer tokens).
	SessionCookie string
	// SessionTimeout is the session's lifetime; 0 when unknown.
	SessionTimeout time.Duration
	// NeedsAll says that the route needs every cookie and query string,
	// as ALB authentication does behind CloudFront.
	NeedsAll bool
}

// GroupFacts is what a tether config says about one target group.
type GroupFacts struct {
	// Name is target_groups[i](name).
	Name string
	// Sticky is the group's stickiness as the edge rules see it.
	Sticky Stickiness
	// StickinessType, AppCookieName and Algorithm are as configured.
	StickinessType, AppCookieName, Algorithm string
	// ActiveTargets counts targets with a weight above 0.
	ActiveTargets int
	// Routes are the http and https listener routes to the group.
	Routes []Route
}

// Route is one listener rule (or default) that sends requests to a group.
type Route struct {
	// Ref is listeners[0](web).rules[1] or listeners[0](web).default_target_group.
	Ref string
	// Address and Protocol are the listener's.
	Address, Protocol string
	// TrustedProxies says the listener trusts a proxy's forwarding headers.
	TrustedProxies bool
	// Loopback says the listener binds a loopback address.
	Loopback bool
}

// SessionFacts is what tether's sessions block says.
type SessionFacts struct {
	// Store is sessions.store, with any password redacted.
	Store string
	// InsecureDevCookies drops Secure from session cookies.
	InsecureDevCookies bool
}

// lifetime is the spec's "effective max lifetime" L of a behavior: the
// longest any response can stay cached, MaxTTL when the origin's headers
// are unknown. A legacy behavior that forwards all headers is not cached.
func (b *Behavior) lifetime() time.Duration {
	if b.Cache.Headers.Behavior == SetAll {
		return 0
	}
	return max(b.Cache.MinTTL, b.Cache.DefaultTTL, b.Cache.MaxTTL)
}

// caching reports whether the behavior can store responses at all.
func (b *Behavior) caching() bool { return b.lifetime() > 0 }

// forwardsCookie reports whether cookie name reaches the origin.
func (b *Behavior) forwardsCookie(name string) bool {
	return b.Cache.Cookies.Selects(name) || b.Forward.Cookies.Selects(name)
}

// keysCookie reports whether cookie name is in the cache key.
func (b *Behavior) keysCookie(name string) bool { return b.Cache.Cookies.Selects(name) }

// forwardsHeader reports whether header name reaches the origin.
func (b *Behavior) forwardsHeader(name string) bool {
	return b.Cache.Headers.Selects(name) || b.Forward.Headers.Selects(name)
}

// forwardsAnyCookie reports whether any cookie can reach the origin.
func (b *Behavior) forwardsAnyCookie() bool { return b.Cache.Cookies.Any() || b.Forward.Cookies.Any() }

// allows reports whether the behavior accepts method m.
func (b *Behavior) allows(m string) bool { return slices.Contains(b.AllowedMethods, m) }

// caches reports whether the behavior caches responses to method m.
func (b *Behavior) caches(m string) bool { return slices.Contains(b.CachedMethods, m) }

// stickyBackends returns the backends whose stickiness needs forwarded
// inputs.
func (b *Behavior) stickyBackends() []*Backend {
	var out []*Backend
	for _, be := range b.Backends {
		if be.Sticky.Needs() {
			out = append(out, be)
		}
	}
	return out
}

// lbCookies returns the concrete load-balancer cookie names to test this
// behavior against: its backends' own cookies, then the distribution's
// infra cookies (a prefix X* stands for X0..X3).
func (d *Distribution) lbCookies(b *Behavior) []string {
	var out []string
	add := func(n string) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, be := range b.Backends {
		for _, c := range be.Sticky.LBCookies {
			add(c)
		}
	}
	for _, c := range d.InfraCookies {
		for _, n := range expand(c) {
			add(n)
		}
	}
	return out
}

// isInfra reports whether cookie name is a load-balancer cookie of d.
func (d *Distribution) isInfra(b *Behavior, name string) bool {
	return slices.Contains(d.lbCookies(b), name) || matchesAny(d.InfraCookies, name)
}

// expand turns a cookie prefix ending in * into four concrete names.
func expand(pattern string) []string {
	p, ok := strings.CutSuffix(pattern, "*")
	if !ok {
		return []string{pattern}
	}
	return []string{p + "0", p + "1", p + "2", p + "3"}
}

// matchesAny reports whether name is one of patterns (names, or prefixes
// ending in *).
func matchesAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if pre, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(name, pre) || p == name {
			return true
		}
	}
	return false
}

// String names the authentication and where it is, for evidence.
func (a *Auth) String() string { return "the " + a.Kind + " of " + a.Route }
