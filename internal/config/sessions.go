package config

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Sessions configures the shared session store that tether's session
// gateway and HTTP session API use (and that apps using the Go session
// package can share).
type Sessions struct {
	// Store is where sessions live: memory (the default; lost on restart),
	// file:PATH (embedded, persistent; bbolt), redis://HOST:PORT[/DB],
	// rediss://… (TLS), redis+sentinel://HOST:PORT,HOST:PORT/MASTER,
	// redis+cluster://HOST:PORT,HOST:PORT, or postgres://… (also
	// postgresql://…). Credentials may be in the URL; they are never logged.
	Store string `yaml:"store"`
	// MaxSessions bounds the memory store. Default 1000000. Other stores
	// ignore it.
	MaxSessions int `yaml:"max_sessions"`
	// CookieName is the session cookie's name. Default __Host-sid.
	CookieName string `yaml:"cookie_name"`
	// IdleTimeout ends a session unused for this long. Default 30m; allowed
	// 1m..24h.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// AbsoluteTimeout ends a session this long after login. Default 12h;
	// allowed idle_timeout..720h.
	AbsoluteTimeout Duration `yaml:"absolute_timeout"`
	// RememberLifetime caps remember-me tokens. Default 720h (30 days);
	// allowed 1h..9600h (400 days, the browsers' cap).
	RememberLifetime Duration `yaml:"remember_lifetime"`
	// InsecureDevCookies drops Secure and the __Host- prefix so that
	// sessions work over http://localhost. Accepted only when every http
	// listener and the session API listen on loopback. Default false.
	InsecureDevCookies bool `yaml:"insecure_dev_cookies"`
	// Binding is what a client-binding mismatch (a session used from
	// another network prefix or User-Agent) does: log (default) or revoke.
	Binding string `yaml:"binding"`
	// Tenants says where a request's tenant comes from. Absent: one tenant.
	Tenants *SessionTenants `yaml:"tenants"`
	// API serves the HTTP session API for apps in other languages. Absent:
	// no API.
	API *SessionAPI `yaml:"api"`
}

// SessionTenants resolves the tenant of a request.
type SessionTenants struct {
	// By is host (the request's host through Map) or header (the value of
	// Header). Required.
	By string `yaml:"by"`
	// Header is the header that names the tenant when by is header. tether
	// strips it from client requests on listeners that use the session
	// gateway unless the peer is a trusted proxy.
	Header string `yaml:"header"`
	// Map maps host names to tenants (by: host), or lists the allowed
	// header values (by: header; empty: any value).
	Map map[string]string `yaml:"map"`
}

// SessionAPI is the HTTP session API listener.
type SessionAPI struct {
	// Address is host:port of the API. Required.
	Address string `yaml:"address"`
	// APIKeyFile holds the bearer key clients send (Authorization: Bearer
	// KEY): at least 32 characters, file mode 0600. Required.
	APIKeyFile string `yaml:"api_key_file"`
}

// Session defaults.
const (
	DefaultSessionStore       = "memory"
	DefaultMaxSessions        = 1_000_000
	DefaultSessionIdle        = 30 * time.Minute
	DefaultSessionAbsolute    = 12 * time.Hour
	DefaultRememberLifetime   = 720 * time.Hour
	DefaultSessionCookieName  = "__Host-sid"
	maxSessionAbsoluteTimeout = 720 * time.Hour
	maxRememberLifetime       = 9600 * time.Hour
)

// SessionStoreSchemes are the store URL forms sessions.store accepts.
var SessionStoreSchemes = []string{"memory", "file:PATH", "redis://", "rediss://", "redis+sentinel://", "redis+cluster://", "postgres://", "postgresql://"}

func (s *Sessions) setDefaults() {
	setString(&s.Store, DefaultSessionStore)
	setInt(&s.MaxSessions, DefaultMaxSessions)
	setString(&s.CookieName, DefaultSessionCookieName)
	setDuration(&s.IdleTimeout, DefaultSessionIdle)
	setDuration(&s.AbsoluteTimeout, DefaultSessionAbsolute)
	setDuration(&s.RememberLifetime, DefaultRememberLifetime)
	setString(&s.Binding, "log")
}

func (s *Sessions) validate(p *problems, c *Config) {
	s.validateStore(p)
	p.intRange("sessions.max_sessions", s.MaxSessions, 1000, 100_000_000)
	if !validCookieToken(s.CookieName) {
		p.add("sessions.cookie_name", "%q is not a valid cookie name (letters, digits and !#$%%&'*+-.^_`|~)", s.CookieName)
	}
	p.durationRange("sessions.idle_timeout", s.IdleTimeout, time.Minute, 24*time.Hour)
	p.durationRange("sessions.absolute_timeout", s.AbsoluteTimeout, s.IdleTimeout.D(), maxSessionAbsoluteTimeout)
	p.durationRange("sessions.remember_lifetime", s.RememberLifetime, time.Hour, maxRememberLifetime)
	p.oneOf("sessions.binding", s.Binding, []string{"log", "revoke"})
	if t := s.Tenants; t != nil {
		p.oneOf("sessions.tenants.by", t.By, []string{"host", "header"})
		switch {
		case t.By == "host" && len(t.Map) == 0:
			p.add("sessions.tenants.map", "is required with by: host (example: {acme.example.com: acme})")
		case t.By == "header" && !validCookieToken(t.Header):
			p.add("sessions.tenants.header", "%q is not a header name (example: X-Tenant)", t.Header)
		case t.By == "host" && t.Header != "":
			p.add("sessions.tenants.header", "is only for by: header")
		}
	}
	if a := s.API; a != nil {
		p.address("sessions.api.address", a.Address)
		if a.APIKeyFile == "" {
			p.add("sessions.api.api_key_file", "is required: a file holding the bearer key clients send")
		}
	}
	if s.InsecureDevCookies {
		for i, l := range c.Listeners {
			if l.Protocol != "tcp" && !isLoopback(l.Address) {
				p.add("sessions.insecure_dev_cookies", "is only accepted when every listener is on loopback; %s listens on %q", itemKey("listeners", i, l.Name), l.Address)
			}
		}
		if s.API != nil && !isLoopback(s.API.Address) {
			p.add("sessions.insecure_dev_cookies", "is only accepted when sessions.api.address is on loopback, not %q", s.API.Address)
		}
	}
}

func (s *Sessions) validateStore(p *problems) {
	st := s.Store
	switch {
	case st == "memory":
	case strings.HasPrefix(st, "file:"):
		if strings.TrimPrefix(st, "file:") == "" {
			p.add("sessions.store", "file: needs a path (example: file:sessions.db)")
		}
	default:
		u, err := url.Parse(st)
		if err != nil {
			p.add("sessions.store", "is not a store URL (allowed: %s)", strings.Join(SessionStoreSchemes, ", "))
			return
		}
		switch u.Scheme {
		case "redis", "rediss", "redis+sentinel", "redis+cluster", "postgres", "postgresql":
			if u.Host == "" {
				port := "6379"
				if strings.HasPrefix(u.Scheme, "postgres") {
					port = "5432"
				}
				p.add("sessions.store", "%s:// needs a host (example: %s://127.0.0.1:%s)", u.Scheme, u.Scheme, port)
			}
		default:
			p.add("sessions.store", "scheme %q is not a store (allowed: %s)", u.Scheme, strings.Join(SessionStoreSchemes, ", "))
		}
	}
}

// validCookieToken reports whether s is an HTTP token (RFC 9110), as
// cookie and header names must be, of at most 128 bytes.
func validCookieToken(s string) bool {
	return len(s) <= 128 && (&http.Cookie{Name: s, Value: "v"}).Valid() == nil
}

// SessionStoreRedacted returns the store URL with any password replaced,
// for logs and errors.
func (s *Sessions) SessionStoreRedacted() string {
	u, err := url.Parse(s.Store)
	if err != nil || u.User == nil {
		return s.Store
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	return fmt.Sprint(u)
}
