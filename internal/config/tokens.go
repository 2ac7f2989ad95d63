package config

import (
	"net/url"
	"slices"
	"strings"
	"time"
)

// Tokens configures the token service: a user pool, password login, JWT
// access and ID tokens, rotating refresh tokens, revocation and the JWKS,
// served on their own address.
type Tokens struct {
	// Address is host:port of the token service. Required.
	Address string `yaml:"address"`
	// Issuer is the iss of every token and the base URL of the discovery
	// document: an http(s) URL without query, fragment or trailing slash,
	// as clients reach the service. Default http://ADDRESS.
	Issuer string `yaml:"issuer"`
	// Users is the user pool.
	Users TokenUsers `yaml:"users"`
	// AccessTTL is the lifetime of access and ID tokens. Default 10m;
	// allowed 5m..15m.
	AccessTTL Duration `yaml:"access_ttl"`
	// Refresh configures refresh tokens.
	Refresh TokenRefresh `yaml:"refresh"`
	// Signing chooses the signature algorithm.
	Signing TokenSigning `yaml:"signing"`
	// Audiences are the aud values tokens may be issued for; a login names
	// one (or gets the first). Required, at least one.
	Audiences []string `yaml:"audiences"`
	// Scopes are the scopes an access token may carry; a login asks for a
	// subset (or gets them all). Default none.
	Scopes []string `yaml:"scopes"`
	// Login sets the login rate limits.
	Login TokenLogin `yaml:"login"`
	// TrustedProxies lists the CIDRs (or single IPs) of proxies in front of
	// the token service whose X-Forwarded-For is believed for the client
	// address that logins are rate-limited by. Default none.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// TokenUsers locates the user pool.
type TokenUsers struct {
	// Store is file:PATH (the default, file:users.json next to the config)
	// or postgres://… (also postgresql://…).
	Store string `yaml:"store"`
}

// TokenRefresh configures refresh tokens.
type TokenRefresh struct {
	// Store is where refresh token families and revocations live: any
	// sessions.store URL. Default: sessions.store when a sessions block
	// exists, else memory (lost on restart; tether check warns).
	Store string `yaml:"store"`
	// IdleTTL ends a family unused for this long. Default 168h; allowed
	// 1h..absolute_ttl.
	IdleTTL Duration `yaml:"idle_ttl"`
	// AbsoluteTTL ends a family this long after the login. Default 720h;
	// allowed idle_ttl..8760h.
	AbsoluteTTL Duration `yaml:"absolute_ttl"`
	// ReuseGrace is how long the refresh token just rotated out is still
	// answered (with the same new tokens' successor) for a client that
	// retried concurrently; outside it, a reuse revokes the family.
	// Default 5s; allowed 0s..60s.
	ReuseGrace *Duration `yaml:"reuse_grace"`
}

// TokenSigning chooses how tokens are signed.
type TokenSigning struct {
	// Alg is RS256 (default; the key ring's RSA key), ES256 or EdDSA
	// (derived from the key ring's secrets).
	Alg string `yaml:"alg"`
}

// TokenLogin sets the login rate limits.
type TokenLogin struct {
	// AccountFailures failed logins of one username within Window lock it
	// out (with a growing lockout). Default 5; allowed 1..1000.
	AccountFailures int `yaml:"account_failures"`
	// IPFailures failed logins from one address (IPv6: its /64) within
	// Window lock it out. Default 20; allowed 1..100000.
	IPFailures int `yaml:"ip_failures"`
	// Window is the period failures are counted over. Default 15m; allowed
	// 1m..24h.
	Window Duration `yaml:"window"`
}

// Token service defaults and choices.
const (
	DefaultAccessTTL       = 10 * time.Minute
	DefaultRefreshIdle     = 168 * time.Hour
	DefaultRefreshAbsolute = 720 * time.Hour
	DefaultReuseGrace      = 5 * time.Second
	DefaultTokenAlg        = "RS256"
	DefaultUsersStore      = "file:users.json"
)

// TokenAlgs are the allowed tokens.signing.alg values.
var TokenAlgs = []string{"RS256", "ES256", "EdDSA"}

func (t *Tokens) setDefaults(c *Config) {
	if t.Issuer == "" && t.Address != "" {
		t.Issuer = "http://" + t.Address
	}
	setString(&t.Users.Store, DefaultUsersStore)
	setDuration(&t.AccessTTL, DefaultAccessTTL)
	if t.Refresh.Store == "" {
		t.Refresh.Store = DefaultSessionStore
		if c.Sessions != nil {
			t.Refresh.Store = c.Sessions.Store
		}
	}
	setDuration(&t.Refresh.IdleTTL, DefaultRefreshIdle)
	setDuration(&t.Refresh.AbsoluteTTL, DefaultRefreshAbsolute)
	if t.Refresh.ReuseGrace == nil {
		t.Refresh.ReuseGrace = ptr(Duration(DefaultReuseGrace))
	}
	setString(&t.Signing.Alg, DefaultTokenAlg)
	setInt(&t.Login.AccountFailures, 5)
	setInt(&t.Login.IPFailures, 20)
	setDuration(&t.Login.Window, 15*time.Minute)
}

func (t *Tokens) validate(p *problems, c *Config) {
	p.address("tokens.address", t.Address)
	if fixedPort(t.Address) && t.Address == c.Admin.Address {
		p.add("tokens.address", "%q is already used by the admin API", t.Address)
	}
	if c.Sessions != nil && c.Sessions.API != nil && fixedPort(t.Address) && t.Address == c.Sessions.API.Address {
		p.add("tokens.address", "%q is already used by the session API", t.Address)
	}
	switch u, err := url.Parse(t.Issuer); {
	case t.Issuer == "" && t.Address == "":
		// Its default comes from the address, which is reported.
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil:
		p.add("tokens.issuer", "%q is not an http(s) URL (example: https://auth.example.com)", t.Issuer)
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(t.Issuer, "/"):
		p.add("tokens.issuer", "%q must have no query, fragment or trailing slash (OpenID Connect Discovery §4.3)", t.Issuer)
	}
	t.validateUsersStore(p)
	s := Sessions{Store: t.Refresh.Store}
	var sp problems
	s.validateStore(&sp)
	for _, e := range sp {
		p.add("tokens.refresh.store", "%s", strings.TrimPrefix(e.Error(), "sessions.store: "))
	}
	p.durationRange("tokens.access_ttl", t.AccessTTL, 5*time.Minute, 15*time.Minute)
	p.durationRange("tokens.refresh.absolute_ttl", t.Refresh.AbsoluteTTL, time.Hour, 8760*time.Hour)
	p.durationRange("tokens.refresh.idle_ttl", t.Refresh.IdleTTL, time.Hour, max(time.Hour, t.Refresh.AbsoluteTTL.D()))
	if t.Refresh.ReuseGrace != nil {
		p.durationRange("tokens.refresh.reuse_grace", *t.Refresh.ReuseGrace, 0, time.Minute)
	}
	p.oneOf("tokens.signing.alg", t.Signing.Alg, TokenAlgs)
	if len(t.Audiences) == 0 {
		p.add("tokens.audiences", "needs at least one audience (example: [api])")
	}
	for i, a := range t.Audiences {
		if a == "" || len(a) > 256 || strings.ContainsAny(a, " \t\r\n") {
			p.add(itemKey("tokens.audiences", i, ""), "%q is not an audience (1 to 256 characters, no spaces)", a)
		} else if slices.Index(t.Audiences, a) != i {
			p.add(itemKey("tokens.audiences", i, ""), "%q is listed twice", a)
		}
	}
	for i, sc := range t.Scopes {
		if !validScope(sc) {
			p.add(itemKey("tokens.scopes", i, ""), "%q is not a scope (printable ASCII without spaces, quotes or backslashes, RFC 6749 §3.3)", sc)
		} else if slices.Index(t.Scopes, sc) != i {
			p.add(itemKey("tokens.scopes", i, ""), "%q is listed twice", sc)
		}
	}
	p.intRange("tokens.login.account_failures", t.Login.AccountFailures, 1, 1000)
	p.intRange("tokens.login.ip_failures", t.Login.IPFailures, 1, 100_000)
	p.durationRange("tokens.login.window", t.Login.Window, time.Minute, 24*time.Hour)
	for j, cidr := range t.TrustedProxies {
		p.prefix(itemKey("tokens.trusted_proxies", j, ""), cidr)
	}
}

func (t *Tokens) validateUsersStore(p *problems) {
	st := t.Users.Store
	switch {
	case strings.HasPrefix(st, "file:"):
		if strings.TrimPrefix(st, "file:") == "" {
			p.add("tokens.users.store", "file: needs a path (example: file:users.json)")
		}
	case strings.HasPrefix(st, "postgres://"), strings.HasPrefix(st, "postgresql://"):
		if u, err := url.Parse(st); err != nil || u.Host == "" {
			p.add("tokens.users.store", "is not a PostgreSQL URL (example: postgres://tether@127.0.0.1:5432/tether)")
		}
	default:
		p.add("tokens.users.store", "is not a user store (allowed: file:PATH, postgres://…, postgresql://…)")
	}
}

// validScope reports whether s is a scope-token of RFC 6749 §3.3:
// %x21 / %x23-5B / %x5D-7E, at most 128 bytes.
func validScope(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// RefreshStoreRedacted returns tokens.refresh.store with any password
// replaced, for logs and errors.
func (t *Tokens) RefreshStoreRedacted() string {
	return (&Sessions{Store: t.Refresh.Store}).SessionStoreRedacted()
}
