package config

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Edge is a CDN-style caching layer with CloudFront's model: it listens on
// its own address, matches each request to a behavior by path, keys and
// caches what the behavior's cache policy says, and sends misses to its
// origin.
type Edge struct {
	// Name identifies the edge in metrics, logs and the invalidation API.
	// Required, unique.
	Name string `yaml:"name"`
	// Address is host:port the edge listens on. Required.
	Address string `yaml:"address"`
	// TLS makes the edge serve HTTPS (HTTP/2 by ALPN) with these
	// certificates, as an https listener's tls block does; its hsts key is
	// not used here. Absent: plain HTTP.
	TLS *TLS `yaml:"tls"`
	// Origin is where misses go. Required.
	Origin EdgeOrigin `yaml:"origin"`
	// Mode is safe (the default: RFC 9111 with guardrails against session
	// leaks, poisoning and cache deception) or cloudfront (what CloudFront
	// documents, leaks included, to predict a real distribution).
	Mode string `yaml:"mode"`
	// MaxBytes bounds the cache's memory (keys, headers and bodies).
	// Default 256MiB; allowed 1MiB..64GiB.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MaxObjectBytes is the largest response body stored; larger ones
	// stream through uncached. Default 8MiB; at most max_bytes/4.
	MaxObjectBytes ByteSize `yaml:"max_object_bytes"`
	// SendTimeout closes a client connection once the client has taken no
	// byte of a response for this long, as a listener's send_timeout.
	// Default 60s; allowed 1s..1h.
	SendTimeout Duration `yaml:"send_timeout"`
	// Tenant says where a request's tenant comes from; the tenant is part
	// of every cache key. Absent: one tenant.
	Tenant *EdgeTenant `yaml:"tenant"`
	// InfraCookies are load-balancer cookies: never replayed from the
	// cache, given only to the requester whose request caused the fetch
	// (safe mode). Names, or prefixes ending in *. Default: tether's
	// affinity cookies (the stickiness cookie names of the target groups,
	// and their CORS twins) and AWSALB, AWSALBCORS, AWSALBTG, AWSALBAPP-*,
	// AWSELB.
	InfraCookies []string `yaml:"infra_cookies"`
	// SessionCookies carry credentials (a cookie named here and forwarded
	// but not keyed makes a request credential-tainted in safe mode).
	// Default: the sessions block's cookie name, if any.
	SessionCookies []string `yaml:"session_cookies"`
	// DebugKey adds key=… (with values HMAC'd) to Cache-Status. Default
	// false.
	DebugKey bool `yaml:"debug_key"`
	// TrustedProxies lists the CIDRs (or single IPs) of proxies in front of
	// the edge whose X-Forwarded-For and X-Forwarded-Proto it passes on to
	// the origin (with its peer's address appended). Default none: the
	// origin gets only the edge's own view.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Behaviors are matched in order by path pattern; the last must be the
	// default, path "*". Required.
	Behaviors []Behavior `yaml:"behaviors"`
}

// EdgeOrigin names the origin: a listener of this tether, or any URL.
type EdgeOrigin struct {
	// Listener is the name of an http or https listener of this config.
	Listener string `yaml:"listener"`
	// URL is an http:// or https:// origin (scheme, host and optional
	// port; no path).
	URL string `yaml:"url"`
}

// EdgeTenant resolves the tenant of a request at the edge.
type EdgeTenant struct {
	// By is host (the request's host is the tenant) or header.
	By string `yaml:"by"`
	// Header names the tenant header, with by: header.
	Header string `yaml:"header"`
}

// Behavior is one path pattern with its policies, as in CloudFront.
type Behavior struct {
	// Path is a CloudFront path pattern: * matches any run of characters
	// (slashes included), ? one character; case-sensitive; the leading /
	// is optional. Required.
	Path string `yaml:"path"`
	// AllowedMethods are the methods the behavior accepts (others get
	// 403): [GET, HEAD] (default), [GET, HEAD, OPTIONS], or all seven
	// (GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE).
	AllowedMethods []string `yaml:"allowed_methods"`
	// CachedMethods are the methods whose responses are cached: [GET,
	// HEAD] (default) or [GET, HEAD, OPTIONS].
	CachedMethods []string `yaml:"cached_methods"`
	// Cache is the cache policy: what is in the key, and the TTLs.
	Cache CachePolicy `yaml:"cache"`
	// OriginRequest is what is forwarded to the origin besides the key.
	OriginRequest OriginRequestPolicy `yaml:"origin_request"`
	// Compress makes the edge gzip responses of compressible types for
	// clients that accept it. Default false.
	Compress bool `yaml:"compress"`
	// StaticContentTypes, when set, are the only media types (text/css,
	// image/*) stored for this behavior: the guard against web cache
	// deception on extension patterns (safe mode).
	StaticContentTypes []string `yaml:"static_content_types"`
}

// CachePolicy is CloudFront's cache policy.
type CachePolicy struct {
	// Cookies in the cache key (and forwarded): none (default), all,
	// {whitelist: [names]} or {all_except: [names]}.
	Cookies NameSet `yaml:"cookies"`
	// Headers in the cache key (and forwarded). Default none.
	Headers []string `yaml:"headers"`
	// Query strings in the cache key (and forwarded): none (default), all,
	// {whitelist: [names]} or {all_except: [names]}.
	Query NameSet `yaml:"query"`
	// MinTTL, DefaultTTL and MaxTTL bound how long responses are kept.
	// Defaults 0s, 24h, 8760h (CloudFront's); allowed 0..8760h with
	// min_ttl ≤ default_ttl ≤ max_ttl.
	MinTTL     *Duration `yaml:"min_ttl"`
	DefaultTTL *Duration `yaml:"default_ttl"`
	MaxTTL     *Duration `yaml:"max_ttl"`
	// Gzip and Brotli put the client's support for each encoding into the
	// key (normalised Accept-Encoding). Default true.
	Gzip   *bool `yaml:"gzip"`
	Brotli *bool `yaml:"brotli"`
}

// OriginRequestPolicy is CloudFront's origin request policy: inputs
// forwarded to the origin without being in the cache key.
type OriginRequestPolicy struct {
	// Cookies: none (default), all, {whitelist: [names]} or
	// {all_except: [names]}.
	Cookies NameSet `yaml:"cookies"`
	// Headers forwarded. Default none.
	Headers []string `yaml:"headers"`
	// Query: none (default), all, {whitelist: [names]} or
	// {all_except: [names]}.
	Query NameSet `yaml:"query"`
}

// NameSet selects cookies or query parameters by name: none, all, a
// whitelist or all except some. In YAML it is the word none or all, or a
// mapping {whitelist: [a, b]} or {all_except: [a, b]}.
type NameSet struct {
	// Behavior is none, all, whitelist or all_except.
	Behavior string
	// Names are the whitelist or the exceptions.
	Names []string
}

// NameSet behaviors.
const (
	NamesNone      = "none"
	NamesAll       = "all"
	NamesWhitelist = "whitelist"
	NamesAllExcept = "all_except"
)

// UnmarshalYAML reads none, all, {whitelist: […]} or {all_except: […]}.
func (s *NameSet) UnmarshalYAML(n *yaml.Node) error {
	bad := func() error {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf(
			"line %d: write none, all, {whitelist: [name, …]} or {all_except: [name, …]}", n.Line)}}
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value != NamesNone && n.Value != NamesAll {
			return bad()
		}
		*s = NameSet{Behavior: n.Value}
		return nil
	case yaml.MappingNode:
		var m map[string][]string
		if len(n.Content) != 2 || n.Decode(&m) != nil {
			return bad()
		}
		for k, v := range m {
			if k != NamesWhitelist && k != NamesAllExcept {
				return bad()
			}
			*s = NameSet{Behavior: k, Names: v}
		}
		return nil
	}
	return bad()
}

// MarshalYAML writes the YAML form UnmarshalYAML reads.
func (s NameSet) MarshalYAML() (any, error) {
	if s.Behavior == NamesWhitelist || s.Behavior == NamesAllExcept {
		return map[string][]string{s.Behavior: s.Names}, nil
	}
	return s.Behavior, nil
}

// Selects reports whether the set selects name (compared exactly:
// cookie and query names are case-sensitive).
func (s NameSet) Selects(name string) bool {
	switch s.Behavior {
	case NamesAll:
		return true
	case NamesWhitelist:
		return slices.Contains(s.Names, name)
	case NamesAllExcept:
		return !slices.Contains(s.Names, name)
	}
	return false
}

// ByteSize is a size in bytes written in YAML as a number with an optional
// unit: B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).
type ByteSize int64

// UnmarshalYAML parses a size such as 256MiB.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf(
			"line %d: a %s cannot be used here: expected a size, such as 512KiB, 256MiB or 2GiB", n.Line, nodeKind(n))}}
	}
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf(
			"line %d: %q is not a size: write a number with a unit, such as 512KiB, 256MiB or 2GiB", n.Line, n.Value)}}
	}
	*b = ByteSize(v)
	return nil
}

// ParseByteSize parses a size such as 256MiB or 1GB.
func ParseByteSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return v * mult, nil
}

// Edge defaults and bounds.
const (
	DefaultEdgeMaxBytes       = 256 << 20
	DefaultEdgeMaxObjectBytes = 8 << 20
	DefaultDefaultTTL         = 24 * time.Hour
	DefaultMaxTTL             = 8760 * time.Hour
	maxEdgeBytes              = 64 << 30
)

// EdgeModes are the allowed edges[].mode values.
var EdgeModes = []string{"safe", "cloudfront"}

// DefaultInfraCookies are the load-balancer cookies every edge treats as
// infrastructure, besides the stickiness cookies of the config's groups.
var DefaultInfraCookies = []string{"AWSALB", "AWSALBCORS", "AWSALBTG", "AWSALBAPP-*", "AWSELB"}

func (e *Edge) setDefaults(c *Config) {
	setString(&e.Mode, "safe")
	if e.TLS != nil {
		setString(&e.TLS.MinVersion, "1.2")
		if e.TLS.HTTP2 == nil {
			e.TLS.HTTP2 = ptr(true)
		}
	}
	if e.MaxBytes == 0 {
		e.MaxBytes = DefaultEdgeMaxBytes
	}
	if e.MaxObjectBytes == 0 {
		e.MaxObjectBytes = min(DefaultEdgeMaxObjectBytes, e.MaxBytes/4)
	}
	setDuration(&e.SendTimeout, DefaultSendTimeout)
	if e.InfraCookies == nil {
		e.InfraCookies = slices.Clone(DefaultInfraCookies)
		for _, g := range c.TargetGroups {
			cn := g.Stickiness.CookieName
			if cn == "" || slices.Contains(e.InfraCookies, cn) && slices.Contains(e.InfraCookies, cn+"APP") {
				continue
			}
			switch g.Stickiness.Type {
			case "lb_cookie":
				if !slices.Contains(e.InfraCookies, cn) {
					e.InfraCookies = append(e.InfraCookies, cn, cn+"CORS")
				}
			case "app_cookie":
				if !slices.Contains(e.InfraCookies, cn+"APP") {
					e.InfraCookies = append(e.InfraCookies, cn+"APP")
				}
			}
		}
	}
	if e.SessionCookies == nil && c.Sessions != nil {
		e.SessionCookies = []string{c.Sessions.CookieName}
	}
	for i := range e.Behaviors {
		b := &e.Behaviors[i]
		if b.AllowedMethods == nil {
			b.AllowedMethods = []string{"GET", "HEAD"}
		}
		if b.CachedMethods == nil {
			b.CachedMethods = []string{"GET", "HEAD"}
		}
		for _, ns := range []*NameSet{&b.Cache.Cookies, &b.Cache.Query, &b.OriginRequest.Cookies, &b.OriginRequest.Query} {
			setString(&ns.Behavior, NamesNone)
		}
		if b.Cache.MinTTL == nil {
			b.Cache.MinTTL = ptr(Duration(0))
		}
		if b.Cache.DefaultTTL == nil {
			b.Cache.DefaultTTL = ptr(Duration(DefaultDefaultTTL))
		}
		if b.Cache.MaxTTL == nil {
			b.Cache.MaxTTL = ptr(Duration(DefaultMaxTTL))
		}
		if b.Cache.Gzip == nil {
			b.Cache.Gzip = ptr(true)
		}
		if b.Cache.Brotli == nil {
			b.Cache.Brotli = ptr(true)
		}
	}
}

// Method sets CloudFront allows.
var (
	allowedMethodSets = [][]string{{"GET", "HEAD"}, {"GET", "HEAD", "OPTIONS"}, {"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}}
	cachedMethodSets  = [][]string{{"GET", "HEAD"}, {"GET", "HEAD", "OPTIONS"}}
)

// sameSet reports whether a, in any order and letter case, holds each
// method of b once.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i, x := range a {
		if !slices.Contains(b, strings.ToUpper(x)) || slices.ContainsFunc(a[:i], func(y string) bool { return strings.EqualFold(x, y) }) {
			return false
		}
	}
	return true
}

func oneOfSets(sets [][]string, v []string) bool {
	return slices.ContainsFunc(sets, func(s []string) bool { return sameSet(v, s) })
}

func (e *Edge) validate(p *problems, key string, listeners map[string]string) {
	if !validName(e.Name) {
		p.add(key+".name", "%q is not a name (letters, digits, -, _ and ., at most 64)", e.Name)
	}
	p.address(key+".address", e.Address)
	if e.TLS != nil {
		e.TLS.validate(p, key+".tls")
		if e.TLS.HSTS != nil {
			p.add(key+".tls.hsts", "is for listeners; an edge passes on the Strict-Transport-Security its origin sends")
		}
	}
	p.oneOf(key+".mode", e.Mode, EdgeModes)
	for j, cidr := range e.TrustedProxies {
		p.prefix(fmt.Sprintf("%s.trusted_proxies[%d]", key, j), cidr)
	}
	switch o := e.Origin; {
	case o.Listener != "" && o.URL != "":
		p.add(key+".origin", "set listener or url, not both")
	case o.Listener != "":
		proto, ok := listeners[o.Listener]
		if !ok || proto == "tcp" {
			p.add(key+".origin.listener", "%q names no http or https listener (defined: %s)", o.Listener, mapKeys(listeners))
		}
	case o.URL != "":
		u, err := url.Parse(o.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			p.add(key+".origin.url", "%q is not an origin URL: scheme, host and optional port, such as http://127.0.0.1:9000", o.URL)
		}
	default:
		p.add(key+".origin", "is required: {listener: NAME} or {url: http://HOST:PORT}")
	}
	if e.MaxBytes < 1<<20 || e.MaxBytes > maxEdgeBytes {
		p.add(key+".max_bytes", "%d bytes is out of range (allowed 1MiB..64GiB)", e.MaxBytes)
	}
	if e.MaxObjectBytes < 1 || e.MaxObjectBytes > e.MaxBytes/4 {
		p.add(key+".max_object_bytes", "%d bytes is out of range (allowed 1 byte..max_bytes/4)", e.MaxObjectBytes)
	}
	p.durationRange(key+".send_timeout", e.SendTimeout, time.Second, time.Hour)
	if t := e.Tenant; t != nil {
		p.oneOf(key+".tenant.by", t.By, []string{"host", "header"})
		if t.By == "header" {
			switch c := http.CanonicalHeaderKey(t.Header); {
			case !validCookieToken(t.Header):
				p.add(key+".tenant.header", "%q is not a header name (example: X-Tenant)", t.Header)
			case c == "Host":
				p.add(key+".tenant.header", "%q: use tenant: {by: host} for the host", t.Header)
			case c == "Cookie" || c == "Authorization" || c == "Proxy-Authorization":
				p.add(key+".tenant.header", "%q carries credentials, which would be logged and shown as the tenant; name a header that holds only the tenant (example: X-Tenant)", t.Header)
			case tenantUnusable[c]:
				p.add(key+".tenant.header", "%q frames or routes the request and never holds a tenant; name a header that holds only the tenant (example: X-Tenant)", t.Header)
			}
		}
	}
	for field, names := range map[string][]string{"infra_cookies": e.InfraCookies, "session_cookies": e.SessionCookies} {
		for i, c := range names {
			if !validCookieToken(strings.TrimSuffix(c, "*")) {
				p.add(fmt.Sprintf("%s.%s[%d]", key, field, i), "%q is not a cookie name (or a prefix ending in *)", c)
			}
		}
	}
	if len(e.Behaviors) == 0 {
		p.add(key+".behaviors", "at least one behavior is required; the last is the default, path \"*\"")
	} else if last := e.Behaviors[len(e.Behaviors)-1].Path; last != "*" && last != "/*" {
		p.add(key+".behaviors", "the last behavior must be the default, path \"*\" (it is %q)", last)
	}
	for i := range e.Behaviors {
		e.Behaviors[i].validate(p, fmt.Sprintf("%s.behaviors[%d]", key, i), i < len(e.Behaviors)-1)
	}
}

func (b *Behavior) validate(p *problems, key string, notLast bool) {
	switch {
	case b.Path == "":
		p.add(key+".path", "is required (example: /static/*, *.css, *)")
	case len(b.Path) > 255 || strings.ContainsAny(b.Path, " \t\r\n#"):
		p.add(key+".path", "%q is not a path pattern (at most 255 characters, no spaces or #)", b.Path)
	case notLast && (b.Path == "*" || b.Path == "/*"):
		p.add(key+".path", "\"*\" matches everything, so the behaviors after it are never used; make it the last")
	}
	if !oneOfSets(allowedMethodSets, b.AllowedMethods) {
		p.add(key+".allowed_methods", "%v is not allowed (allowed, as in CloudFront: [GET, HEAD], [GET, HEAD, OPTIONS], or all of GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE)", b.AllowedMethods)
	}
	if !oneOfSets(cachedMethodSets, b.CachedMethods) {
		p.add(key+".cached_methods", "%v is not allowed (allowed: [GET, HEAD] or [GET, HEAD, OPTIONS])", b.CachedMethods)
	} else if len(b.CachedMethods) > len(b.AllowedMethods) {
		p.add(key+".cached_methods", "caches OPTIONS, which allowed_methods does not allow")
	}
	c := b.Cache
	for _, d := range []struct {
		k string
		v Duration
	}{{"min_ttl", *c.MinTTL}, {"default_ttl", *c.DefaultTTL}, {"max_ttl", *c.MaxTTL}} {
		p.durationRange(key+".cache."+d.k, d.v, 0, DefaultMaxTTL)
	}
	if *c.MinTTL > *c.DefaultTTL || *c.DefaultTTL > *c.MaxTTL {
		p.add(key+".cache", "min_ttl (%s) ≤ default_ttl (%s) ≤ max_ttl (%s) does not hold", fmtDur(c.MinTTL.D()), fmtDur(c.DefaultTTL.D()), fmtDur(c.MaxTTL.D()))
	}
	validNameSet(p, key+".cache.cookies", c.Cookies)
	validNameSet(p, key+".cache.query", c.Query)
	validNameSet(p, key+".origin_request.cookies", b.OriginRequest.Cookies)
	validNameSet(p, key+".origin_request.query", b.OriginRequest.Query)
	validHeaders(p, key+".cache.headers", c.Headers)
	validHeaders(p, key+".origin_request.headers", b.OriginRequest.Headers)
	for j, ct := range b.StaticContentTypes {
		if typ, sub, ok := strings.Cut(ct, "/"); !ok || !validCookieToken(typ) || (sub != "*" && !validCookieToken(sub)) {
			p.add(fmt.Sprintf("%s.static_content_types[%d]", key, j), "%q is not a media type (example: text/css, image/*)", ct)
		}
	}
}

func validNameSet(p *problems, key string, s NameSet) {
	p.oneOf(key, s.Behavior, []string{NamesNone, NamesAll, NamesWhitelist, NamesAllExcept})
	if (s.Behavior == NamesWhitelist || s.Behavior == NamesAllExcept) && len(s.Names) == 0 {
		p.add(key, "%s needs at least one name", s.Behavior)
	}
	seen := map[string]string{}
	for _, n := range s.Names {
		if n == "" || strings.ContainsAny(n, "=;, \t\r\n\"&") {
			p.add(key, "%q is not a cookie or query parameter name", n)
		}
		if prev, dup := seen[strings.ToLower(n)]; dup {
			p.add(key, "%q and %q differ only in case; names are case-sensitive, list each spelling you mean once", prev, n)
		}
		seen[strings.ToLower(n)] = n
	}
}

// tenantUnusable are the header names that cannot hold a tenant: they
// frame the message or belong to one connection (hop-by-hop).
var tenantUnusable = map[string]bool{"Content-Length": true, "Transfer-Encoding": true, "Connection": true, "Keep-Alive": true,
	"Te": true, "Trailer": true, "Upgrade": true, "Proxy-Connection": true, "Expect": true}

func validHeaders(p *problems, key string, hs []string) {
	seen := map[string]bool{}
	for _, h := range hs {
		c := http.CanonicalHeaderKey(h)
		switch {
		case h == "*":
			p.add(key, "\"*\" is not allowed: list the headers")
		case !validCookieToken(h):
			p.add(key, "%q is not a header name", h)
		case seen[c]:
			p.add(key, "%q is listed twice", h)
		}
		seen[c] = true
	}
}
