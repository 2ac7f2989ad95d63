package config

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tetherlb/tether/internal/health"
	"github.com/tetherlb/tether/internal/httpsyntax"
)

// Allowed values of the enumerated keys.
var (
	ListenerProtocols    = []string{"http", "https", "tcp"}
	GroupProtocols       = []string{"http", "https", "tcp"}
	Algorithms           = []string{"round_robin", "least_outstanding_requests", "weighted_random", "consistent_hash"}
	StickinessTypes      = []string{"none", "lb_cookie", "app_cookie", "source_ip", "header"}
	OnFailureModes       = []string{"rebind", "strict"}
	LogLevels            = []string{"debug", "info", "warn", "error"}
	AccessLogTargets     = []string{"stdout", "stderr", "off"}
	hashKeySources       = []string{"source_ip", "header:NAME", "cookie:NAME", "query:NAME"}
	stickinessMin        = time.Second
	stickinessMax        = 168 * time.Hour
	deregistrationMax    = 3600 * time.Second
	slowStartMin         = 30 * time.Second
	slowStartMax         = 900 * time.Second
	healthIntervalMin    = time.Second
	healthIntervalMax    = 300 * time.Second
	healthTimeoutMin     = 100 * time.Millisecond
	healthTimeoutMax     = 120 * time.Second
	readHeaderTimeoutMax = 5 * time.Minute
	idleTimeoutMax       = 4000 * time.Second
)

// problems collects validation errors, each prefixed with a key path.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

func (p *problems) oneOf(key, value string, allowed []string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	p.add(key, "%q is not allowed (allowed: %s)", value, strings.Join(allowed, ", "))
}

func (p *problems) durationRange(key string, d Duration, lo, hi time.Duration) {
	if d.D() < lo || d.D() > hi {
		p.add(key, "%s is out of range (allowed %s..%s)", fmtDur(d.D()), fmtDur(lo), fmtDur(hi))
	}
}

func (p *problems) intRange(key string, v, lo, hi int) {
	if v < lo || v > hi {
		p.add(key, "%d is out of range (allowed %d..%d)", v, lo, hi)
	}
}

// Validate checks a config that has had SetDefaults. It does no I/O and
// reports every problem at once, joined with errors.Join; each names the
// key path, the bad value and what is allowed.
func (c *Config) Validate() error {
	var p problems
	if c.Admin.Address != "off" {
		p.address("admin.address", c.Admin.Address)
	}
	p.durationRange("shutdown_timeout", *c.ShutdownTimeout, 0, time.Hour)
	p.oneOf("log.level", c.Log.Level, LogLevels)
	p.oneOf("log.access", c.Log.Access, AccessLogTargets)
	if c.Keys.File == "" {
		p.add("keys.file", "must not be empty")
	}
	groups := map[string]string{} // name → protocol
	if len(c.TargetGroups) == 0 {
		p.add("target_groups", "at least one target group is required")
	}
	for i := range c.TargetGroups {
		g := &c.TargetGroups[i]
		key := itemKey("target_groups", i, g.Name)
		if _, dup := groups[g.Name]; dup && g.Name != "" {
			p.add(key+".name", "%q is used by another target group; names must be unique", g.Name)
		}
		groups[g.Name] = g.Protocol
		g.validate(&p, key)
	}
	if len(c.Listeners) == 0 {
		p.add("listeners", "at least one listener is required")
	}
	names, addrs := map[string]bool{}, map[string]string{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		key := itemKey("listeners", i, l.Name)
		if names[l.Name] && l.Name != "" {
			p.add(key+".name", "%q is used by another listener; names must be unique", l.Name)
		}
		names[l.Name] = true
		if other, ok := addrs[l.Address]; ok && fixedPort(l.Address) {
			p.add(key+".address", "%q is already used by listener %q", l.Address, other)
		}
		addrs[l.Address] = l.Name
		l.validate(&p, key, groups)
		for j, r := range l.Rules {
			if r.Authorizer == nil {
				continue
			}
			rk := fmt.Sprintf("%s.rules[%d].authorizer", key, j)
			if l.Protocol == "tcp" {
				p.add(rk, "is for http and https listeners; a tcp listener cannot see requests")
				continue
			}
			r.Authorizer.validate(&p, rk, c)
		}
	}
	if c.Sessions != nil {
		c.Sessions.validate(&p, c)
	}
	if c.Tokens != nil {
		c.Tokens.validate(&p, c)
		if other, ok := addrs[c.Tokens.Address]; ok && fixedPort(c.Tokens.Address) {
			p.add("tokens.address", "%q is already used by listener %q", c.Tokens.Address, other)
		}
	}
	c.validateEdges(&p, addrs)
	return errors.Join(p...)
}

// validateEdges checks the edges: unique names, addresses no listener,
// other edge, the admin API or the session API uses.
func (c *Config) validateEdges(p *problems, listenerAddrs map[string]string) {
	listeners := map[string]string{}
	for _, l := range c.Listeners {
		listeners[l.Name] = l.Protocol
	}
	names, addrs := map[string]bool{}, map[string]string{c.Admin.Address: "the admin API"}
	if c.Sessions != nil && c.Sessions.API != nil {
		addrs[c.Sessions.API.Address] = "the session API"
	}
	if c.Tokens != nil {
		addrs[c.Tokens.Address] = "the token service"
	}
	for a, l := range listenerAddrs {
		addrs[a] = "listener " + l
	}
	for i := range c.Edges {
		e := &c.Edges[i]
		key := itemKey("edges", i, e.Name)
		if names[e.Name] && e.Name != "" {
			p.add(key+".name", "%q is used by another edge; names must be unique", e.Name)
		}
		names[e.Name] = true
		if other, ok := addrs[e.Address]; ok && fixedPort(e.Address) {
			p.add(key+".address", "%q is already used by %s", e.Address, other)
		}
		addrs[e.Address] = "edge " + e.Name
		e.validate(p, key, listeners)
	}
}

func (l *Listener) validate(p *problems, key string, groups map[string]string) {
	if l.Name == "" {
		p.add(key+".name", "is required")
	}
	p.address(key+".address", l.Address)
	p.oneOf(key+".protocol", l.Protocol, ListenerProtocols)
	switch {
	case l.Protocol == "https" && l.TLS == nil:
		p.add(key+".tls", "is required with protocol https (cert_file and key_file)")
	case l.Protocol != "https" && l.TLS != nil:
		p.add(key+".tls", "is set but protocol is %s; set protocol: https or remove tls (tcp listeners pass TLS through to the targets)", l.Protocol)
	case l.TLS != nil:
		l.TLS.validate(p, key+".tls")
	}
	l4 := l.Protocol == "tcp"
	// groupRef checks that a rule or default names a group of the right kind.
	groupRef := func(k, name string) {
		proto, ok := groups[name]
		switch {
		case !ok:
			p.add(k, "%q names no target group (defined: %s)", name, mapKeys(groups))
		case l4 && proto != "tcp":
			p.add(k, "%q has protocol %s; a tcp listener relays connections to protocol: tcp groups", name, proto)
		case !l4 && proto == "tcp":
			p.add(k, "%q has protocol tcp; an %s listener needs an http or https group", name, l.Protocol)
		}
	}
	switch {
	case l.DefaultTargetGroup != "":
		groupRef(key+".default_target_group", l.DefaultTargetGroup)
	case !l4:
		p.add(key+".default_target_group", "is required: the target group for requests that match no rule")
	case len(l.Rules) == 0:
		p.add(key, "a tcp listener needs rules with sni, a default_target_group, or both")
	}
	seenSNI := map[string]int{}
	for j, r := range l.Rules {
		rk := fmt.Sprintf("%s.rules[%d]", key, j)
		switch {
		case l4 && (r.Host != "" || r.Path != ""):
			p.add(rk, "a tcp listener routes by sni only: it never sees the host or path of encrypted requests")
		case l4 && r.SNI == "":
			p.add(rk+".sni", "is required on a tcp listener (example: app.example.com, *.example.com)")
		case !l4 && r.SNI != "":
			p.add(rk+".sni", "is for tcp listeners; on %s listeners route by host and path", l.Protocol)
		case !l4 && r.Host == "" && r.Path == "":
			p.add(rk, "needs a host, a path or both")
		}
		if r.SNI != "" && !validHostPattern(r.SNI) {
			p.add(rk+".sni", "%q is not a host name or *.domain wildcard", r.SNI)
		}
		if r.SNI != "" {
			if first, dup := seenSNI[strings.ToLower(r.SNI)]; dup {
				p.add(rk+".sni", "%q is already routed by rules[%d]", r.SNI, first)
			} else {
				seenSNI[strings.ToLower(r.SNI)] = j
			}
		}
		if r.Host != "" && !validHostPattern(r.Host) {
			p.add(rk+".host", "%q is not a host name or *.domain wildcard (example: api.example.com, *.example.com)", r.Host)
		}
		if r.Path != "" && !validPathPattern(r.Path) {
			p.add(rk+".path", "%q is not an exact path or a /prefix/* pattern (example: /login, /api/*)", r.Path)
		}
		if r.TargetGroup == "" {
			p.add(rk+".target_group", "is required")
		} else {
			groupRef(rk+".target_group", r.TargetGroup)
		}
	}
	for j, cidr := range l.TrustedProxies {
		p.prefix(fmt.Sprintf("%s.trusted_proxies[%d]", key, j), cidr)
	}
	p.intRange(key+".max_header_bytes", l.MaxHeaderBytes, 4096, 1<<20)
	p.durationRange(key+".read_header_timeout", l.ReadHeaderTimeout, time.Second, readHeaderTimeoutMax)
	p.durationRange(key+".idle_timeout", l.IdleTimeout, time.Second, idleTimeoutMax)
	p.durationRange(key+".send_timeout", l.SendTimeout, time.Second, time.Hour)
	p.durationRange(key+".body_timeout", l.BodyTimeout, time.Second, time.Hour)
}

// TLSVersions are the allowed tls.min_version values.
var TLSVersions = []string{"1.2", "1.3"}

func (t *TLS) validate(p *problems, key string) {
	switch {
	case t.CertFile == "" && t.KeyFile == "" && len(t.Certificates) == 0:
		p.add(key, "needs a certificate: cert_file and key_file, or certificates")
	case t.CertFile != "" && t.KeyFile == "":
		p.add(key+".key_file", "is required with cert_file")
	case t.CertFile == "" && t.KeyFile != "":
		p.add(key+".cert_file", "is required with key_file")
	}
	for i, c := range t.Certificates {
		ck := fmt.Sprintf("%s.certificates[%d]", key, i)
		if c.CertFile == "" {
			p.add(ck+".cert_file", "is required")
		}
		if c.KeyFile == "" {
			p.add(ck+".key_file", "is required")
		}
	}
	p.oneOf(key+".min_version", t.MinVersion, TLSVersions)
	if h := t.HSTS; h != nil {
		p.durationRange(key+".hsts.max_age", h.MaxAge, time.Second, 2*8760*time.Hour)
		if h.Preload && (!h.IncludeSubdomains || h.MaxAge.D() < 8760*time.Hour) {
			p.add(key+".hsts.preload", "needs include_subdomains: true and a max_age of at least 8760h (a year), as preload lists require")
		}
	}
}

func (g *TargetGroup) validate(p *problems, key string) {
	if g.Name == "" {
		p.add(key+".name", "is required")
	} else if !validName(g.Name) {
		p.add(key+".name", "%q may hold only letters, digits, '-', '_' and '.' (at most 64)", g.Name)
	}
	p.oneOf(key+".protocol", g.Protocol, GroupProtocols)
	if g.Protocol == "tcp" {
		if t := g.Stickiness.Type; t != "none" && t != "source_ip" {
			p.add(key+".stickiness.type", "%q cannot work at L4, where tether never sees cookies or headers (allowed for tcp groups: none, source_ip)", t)
		}
		if src, _, _ := ParseHashKey(g.HashKey); g.Algorithm == "consistent_hash" && src != "source_ip" {
			p.add(key+".hash_key", "%q cannot work at L4 (allowed for tcp groups: source_ip)", g.HashKey)
		}
		if g.TargetHeader != "" {
			p.add(key+".target_header", "cannot be set on a tcp group: tether does not read or write its traffic")
		}
	} else if g.ProxyProtocol {
		p.add(key+".proxy_protocol", "is for tcp groups; http and https groups send X-Forwarded-For and Forwarded")
	}
	if g.TLS != nil && g.Protocol != "https" {
		p.add(key+".tls", "is set but protocol is %s; set protocol: https (TLS bridging) or remove tls", g.Protocol)
	}
	p.oneOf(key+".algorithm", g.Algorithm, Algorithms)
	if _, _, ok := ParseHashKey(g.HashKey); !ok {
		p.add(key+".hash_key", "%q is not allowed (allowed: %s)", g.HashKey, strings.Join(hashKeySources, ", "))
	}
	if bf := *g.BalanceFactor; bf != 0 && (bf < 1.01 || bf > 100) {
		p.add(key+".balance_factor", "%v is out of range (allowed 0 to turn it off, or 1.01..100; 1.25 is a good start)", bf)
	}
	if len(g.Targets) == 0 {
		p.add(key+".targets", "at least one target is required")
	}
	ids := map[string]bool{}
	for j, t := range g.Targets {
		tk := itemKey(key+".targets", j, t.ID)
		switch {
		case t.ID == "":
			p.add(tk+".id", "is required: a stable name such as app-1 (tokens name targets by id)")
		case !validName(t.ID):
			p.add(tk+".id", "%q may hold only letters, digits, '-', '_' and '.' (at most 64)", t.ID)
		case ids[t.ID]:
			p.add(tk+".id", "%q is used by another target in this group; ids must be unique", t.ID)
		}
		ids[t.ID] = true
		p.address(tk+".address", t.Address)
		if _, port, err := net.SplitHostPort(t.Address); err == nil {
			if n, err := strconv.Atoi(port); err == nil && n == 0 { // 0, 00, +0, -0
				p.add(tk+".address", "%q has port 0, which a target cannot listen on (allowed 1..65535)", t.Address)
			}
		}
		p.intRange(tk+".weight", *t.Weight, 0, 999)
	}
	g.HealthCheck.validate(p, key+".health_check")
	p.durationRange(key+".deregistration_delay", *g.DeregistrationDelay, 0, deregistrationMax)
	if g.SlowStart != 0 {
		p.durationRange(key+".slow_start", g.SlowStart, slowStartMin, slowStartMax)
	}
	if g.TargetHeader != "" && !httpsyntax.IsToken(g.TargetHeader) {
		p.add(key+".target_header", "%q is not a valid header name", g.TargetHeader)
	} else if why := reservedHeader(g.TargetHeader); g.TargetHeader != "" && why != "" {
		p.add(key+".target_header", "%q %s; choose a header of your own, such as X-Tether-Target", g.TargetHeader, why)
	}
	g.Stickiness.validate(p, key+".stickiness")
	if g.Stickiness.Type == "header" && g.TargetHeader != "" && strings.EqualFold(g.TargetHeader, g.Stickiness.HeaderName) {
		p.add(key+".target_header", "%q is also stickiness.header_name: the response would carry the target's id where the client reads its affinity token; choose another name, such as X-Tether-Target", g.TargetHeader)
	}
}

func (h *HealthCheck) validate(p *problems, key string) {
	if !strings.HasPrefix(h.Path, "/") {
		p.add(key+".path", "%q must start with /", h.Path)
	}
	p.durationRange(key+".interval", h.Interval, healthIntervalMin, healthIntervalMax)
	p.durationRange(key+".timeout", h.Timeout, healthTimeoutMin, healthTimeoutMax)
	if h.Timeout >= h.Interval {
		p.add(key+".timeout", "%s must be less than interval (%s)", h.Timeout, h.Interval)
	}
	p.intRange(key+".healthy_threshold", h.HealthyThreshold, 1, 10)
	p.intRange(key+".unhealthy_threshold", h.UnhealthyThreshold, 1, 10)
	if _, err := health.ParseCodes(h.SuccessCodes); err != nil {
		p.add(key+".success_codes", "%q: %v (example: 200, 200-399, 200,204)", h.SuccessCodes, err)
	}
	p.intRange(key+".passive_5xx", *h.Passive5xx, 0, 100)
}

func (s *Stickiness) validate(p *problems, key string) {
	p.oneOf(key+".type", s.Type, StickinessTypes)
	p.durationRange(key+".duration", s.Duration, stickinessMin, stickinessMax)
	// The longest derived name, CookieName+"CORS", must stay a valid cookie name.
	if !httpsyntax.IsToken(s.CookieName) || len(s.CookieName) > 60 {
		p.add(key+".cookie_name", "%q is not a valid cookie name (letters, digits and !#$%%&'*+-.^_`|~, at most 60)", s.CookieName)
	}
	if s.CookieDomain != "" && !validHostPattern(strings.TrimPrefix(s.CookieDomain, ".")) || strings.Contains(s.CookieDomain, "*") {
		p.add(key+".cookie_domain", "%q is not a domain name (example: example.com)", s.CookieDomain)
	}
	if s.Type == "app_cookie" && s.AppCookieName == "" {
		p.add(key+".app_cookie_name", "is required with type app_cookie: the application's session cookie, such as JSESSIONID")
	}
	if s.AppCookieName != "" && !httpsyntax.IsToken(s.AppCookieName) {
		p.add(key+".app_cookie_name", "%q is not a valid cookie name", s.AppCookieName)
	}
	if s.Type == "app_cookie" {
		// tether strips its own cookies from requests: the application
		// would never see a cookie of its own with one of their names.
		for _, own := range []string{s.CookieName, s.CookieName + "APP", s.CookieName + "CORS"} {
			if s.AppCookieName == own {
				p.add(key+".app_cookie_name", "%q is also the name of a cookie of tether's own (from cookie_name %q), which tether strips from requests: the application would never get its cookie back; set another cookie_name", s.AppCookieName, s.CookieName)
			}
		}
	}
	if !httpsyntax.IsToken(s.HeaderName) {
		p.add(key+".header_name", "%q is not a valid header name", s.HeaderName)
	} else if why := reservedHeader(s.HeaderName); why != "" {
		p.add(key+".header_name", "%q %s; choose a header of your own, such as X-Tether-Affinity", s.HeaderName, why)
	}
	p.oneOf(key+".on_failure", s.OnFailure, OnFailureModes)
}

// reservedHeader says why tether cannot use header name for a value of its
// own (a token or a target's id), or "" when it can: it frames the
// message, belongs to one connection, or carries something tether or the
// application already puts there.
func reservedHeader(name string) string {
	c := http.CanonicalHeaderKey(name)
	switch {
	case tenantUnusable[c]:
		return "frames the message or belongs to one connection"
	case c == "Host" || c == "Cookie" || c == "Set-Cookie" || c == "Authorization" || c == "Forwarded" ||
		c == "Proxy-Authorization" || c == "Proxy-Authenticate" || c == "Www-Authenticate" ||
		strings.HasPrefix(c, "X-Forwarded-") || strings.HasPrefix(c, "Content-") ||
		c == "Cache-Control" || c == "Location" || c == "Strict-Transport-Security":
		return "carries what the request or response already says there"
	}
	return ""
}

func (p *problems) address(key, addr string) {
	if addr == "" {
		p.add(key, "is required (host:port, such as 127.0.0.1:8080)")
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(key, "%q is not host:port (example: 127.0.0.1:8080, [::1]:8080, app.internal:80)", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add(key, "%q has a bad port (allowed 0..65535)", addr)
	}
	if host != "" && net.ParseIP(host) == nil && !validHostPattern(host) || strings.Contains(host, "*") {
		p.add(key, "%q has a bad host (an IP address or a DNS name)", addr)
	}
}

// prefix checks a CIDR or IP address.
func (p *problems) prefix(key, s string) {
	_, err := ParsePrefix(s)
	switch full, perr := netip.ParsePrefix(s); {
	case err == nil:
	case perr == nil: // a CIDR, but not a network's
		p.add(key, "%q has address bits set past /%d: it would mean all of %s; write that, or the address alone for one address", s, full.Bits(), full.Masked())
	default:
		p.add(key, "%q is not a CIDR or IP address (example: 10.0.0.0/8, 192.0.2.7)", s)
	}
}

// ParsePrefix parses a CIDR, or a single IP as a one-address prefix. A
// CIDR with bits set past its length (1.2.3.4/8) is an error: it means
// more addresses than it seems to (all of 1.0.0.0/8).
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pf, err := netip.ParsePrefix(s)
		if err == nil && pf != pf.Masked() {
			return netip.Prefix{}, fmt.Errorf("%s has address bits set past /%d: it means %s", s, pf.Bits(), pf.Masked())
		}
		return pf, err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// ParseHashKey splits a hash_key value into its source (source_ip, header,
// cookie or query) and name.
func ParseHashKey(s string) (source, name string, ok bool) {
	if s == "source_ip" {
		return s, "", true
	}
	source, name, found := strings.Cut(s, ":")
	if !found || name == "" || !httpsyntax.IsToken(name) {
		return "", "", false
	}
	switch source {
	case "header", "cookie", "query":
		return source, name, true
	}
	return "", "", false
}

func itemKey(list string, i int, name string) string {
	if name == "" {
		return fmt.Sprintf("%s[%d]", list, i)
	}
	return fmt.Sprintf("%s[%d](%s)", list, i, name)
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func validHostPattern(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 || strings.HasSuffix(h, ".") && len(h) == 1 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

func validPathPattern(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# \t") {
		return false
	}
	body := strings.TrimSuffix(p, "*")
	return !strings.Contains(body, "*") && (body == p || strings.HasSuffix(body, "/"))
}

func mapKeys[V any](m map[string]V) string {
	var ks []string
	for k := range m {
		if k != "" {
			ks = append(ks, k)
		}
	}
	if len(ks) == 0 {
		return "none"
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%time.Hour == 0 && d > time.Hour:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	default:
		return d.String()
	}
}

// Warnings lists settings that are valid but unsafe, for `tether check` to
// show. A config with warnings still loads.
func (c *Config) Warnings() []string {
	var w []string
	for i, g := range c.TargetGroups {
		if g.TLS != nil && g.TLS.InsecureSkipVerify {
			w = append(w, fmt.Sprintf("%s.tls.insecure_skip_verify: true: tether accepts any certificate from these targets, so anyone on the path to them can read and change the traffic; set ca_file instead", itemKey("target_groups", i, g.Name)))
		}
	}
	for i, l := range c.Listeners {
		if l.Protocol == "http" && len(l.TrustedProxies) == 0 && !isLoopback(l.Address) {
			for _, g := range c.TargetGroups {
				if g.Stickiness.Type == "lb_cookie" && (l.DefaultTargetGroup == g.Name) {
					w = append(w, fmt.Sprintf("%s: plain HTTP on a non-loopback address: affinity cookies travel without Secure and the cross-site twin is not set; terminate TLS here (protocol: https) or list the TLS proxy in front in trusted_proxies", itemKey("listeners", i, l.Name)))
					break
				}
			}
		}
	}
	if s := c.Sessions; s != nil {
		if s.InsecureDevCookies {
			w = append(w, "sessions.insecure_dev_cookies: true: session cookies lack Secure and the __Host- prefix, so they travel in clear text; for development on localhost only")
		}
		if s.Store == "memory" {
			w = append(w, "sessions.store: memory: sessions live in this tether process only; they are lost on restart and not shared with other replicas (use redis://, postgres:// or file:PATH)")
		}
	}
	if t := c.Tokens; t != nil {
		if t.Refresh.Store == "memory" {
			w = append(w, "tokens.refresh.store: memory: refresh tokens and logouts live in this tether process only; every user must log in again after a restart, and other replicas neither accept the tokens nor see the logouts (use redis://, postgres:// or file:PATH)")
		}
		if strings.HasPrefix(t.Issuer, "http://") && !isLoopback(t.Address) {
			w = append(w, fmt.Sprintf("tokens.issuer: %s is plain HTTP on a non-loopback address: passwords and tokens travel in clear text; serve the token service behind TLS and set issuer to its https:// URL", t.Issuer))
		}
	}
	return w
}

// fixedPort reports whether addr names a port, not port 0 (any free port,
// which two listeners can both ask for).
func fixedPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port != "0" && port != ""
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}
