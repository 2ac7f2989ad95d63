package session

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Defaults of Config, chosen by OWASP ASVS 5.0 V7 and NIST SP 800-63B at
// AAL2: re-authenticate at least every 12 hours, and after 30 minutes idle.
const (
	DefaultCookieName       = "__Host-sid"
	DefaultRememberCookie   = "__Host-remember"
	DefaultIdleTimeout      = 30 * time.Minute
	DefaultAbsoluteTimeout  = 12 * time.Hour
	DefaultRememberLifetime = 30 * 24 * time.Hour
	DefaultTouchInterval    = time.Minute
	// maxRememberLifetime is the cap browsers put on a cookie's lifetime
	// (RFC 6265bis: 400 days).
	maxRememberLifetime = 400 * 24 * time.Hour
)

// BindingPolicy says what the Manager does when a request's client no longer
// matches the signals recorded when its session was created.
type BindingPolicy string

// The binding policies.
const (
	// BindingLog emits a binding_mismatch event and counts it; the session
	// goes on. It is the default: addresses change on mobile networks, so
	// a mismatch is a signal, not a proof.
	BindingLog BindingPolicy = "log"
	// BindingRevoke also destroys the session; the request continues with a
	// fresh anonymous one.
	BindingRevoke BindingPolicy = "revoke"
)

// Config is the plain-data configuration of a Manager. The zero value is
// valid: every field has a safe default.
type Config struct {
	// CookieName is the session cookie's name. Default "__Host-sid". A name
	// starting with "__Host-" makes browsers refuse the cookie unless it is
	// Secure, host-only and Path=/.
	CookieName string
	// IdleTimeout ends a session that has not been used for this long.
	// Default 30m.
	IdleTimeout time.Duration
	// AbsoluteTimeout ends a session this long after it was created (or
	// last renewed by Authenticate), however active it is. Default 12h.
	AbsoluteTimeout time.Duration
	// TouchInterval is how stale a session's last-seen time may get before
	// a request that changes nothing writes it back to extend the idle
	// deadline. Default 1m (and at most IdleTimeout/4), so that most reads
	// cost one store round trip and no write.
	TouchInterval time.Duration
	// SameSite is the session cookie's SameSite attribute: Lax (default) or
	// Strict. None is refused: a session cookie sent on cross-site requests
	// invites CSRF.
	SameSite http.SameSite
	// InsecureDevCookies drops the Secure attribute and the "__Host-"
	// prefix so that sessions work on http://localhost during development.
	// Never set it in production.
	InsecureDevCookies bool
	// RememberCookieName is the remember-me cookie's name. Default
	// "__Host-remember".
	RememberCookieName string
	// RememberLifetime caps a remember-me token's life from its issue; use
	// does not extend it. Default 30 days; at most 400 days.
	RememberLifetime time.Duration
	// Binding is the policy for client-binding mismatches: BindingLog
	// (default) or BindingRevoke.
	Binding BindingPolicy
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.CookieName == "" {
		c.CookieName = DefaultCookieName
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.AbsoluteTimeout == 0 {
		c.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	if c.TouchInterval == 0 {
		c.TouchInterval = min(DefaultTouchInterval, c.IdleTimeout/4)
	}
	if c.SameSite == 0 || c.SameSite == http.SameSiteDefaultMode {
		c.SameSite = http.SameSiteLaxMode
	}
	if c.RememberCookieName == "" {
		c.RememberCookieName = DefaultRememberCookie
	}
	if c.RememberLifetime == 0 {
		c.RememberLifetime = DefaultRememberLifetime
	}
	if c.Binding == "" {
		c.Binding = BindingLog
	}
	if c.InsecureDevCookies {
		c.CookieName = strings.TrimPrefix(c.CookieName, "__Host-")
		c.RememberCookieName = strings.TrimPrefix(c.RememberCookieName, "__Host-")
	}
	return c
}

// Validate reports every problem of c (after defaults) at once.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	for _, n := range []struct{ key, name string }{{"CookieName", c.CookieName}, {"RememberCookieName", c.RememberCookieName}} {
		if !validCookieName(n.name) {
			errs = append(errs, fmt.Errorf("session: %s %q is not a valid cookie name (letters, digits and !#$%%&'*+-.^_`|~)", n.key, n.name))
		}
	}
	if c.CookieName == c.RememberCookieName {
		errs = append(errs, fmt.Errorf("session: CookieName and RememberCookieName are both %q; they must differ", c.CookieName))
	}
	if c.IdleTimeout < time.Second {
		errs = append(errs, fmt.Errorf("session: IdleTimeout %v is too short; use 1s or more", c.IdleTimeout))
	}
	if c.AbsoluteTimeout < c.IdleTimeout {
		errs = append(errs, fmt.Errorf("session: AbsoluteTimeout %v is shorter than IdleTimeout %v; it must be at least as long", c.AbsoluteTimeout, c.IdleTimeout))
	}
	if c.TouchInterval < 0 || c.TouchInterval > c.IdleTimeout/2 {
		errs = append(errs, fmt.Errorf("session: TouchInterval %v must be between 0 and half of IdleTimeout (%v)", c.TouchInterval, c.IdleTimeout/2))
	}
	if c.SameSite != http.SameSiteLaxMode && c.SameSite != http.SameSiteStrictMode {
		errs = append(errs, errors.New("session: SameSite must be Lax or Strict; None would send the session cookie on cross-site requests"))
	}
	if c.RememberLifetime < time.Minute || c.RememberLifetime > maxRememberLifetime {
		errs = append(errs, fmt.Errorf("session: RememberLifetime %v must be between 1m and 400 days (9600h), the cap browsers put on cookies", c.RememberLifetime))
	}
	if c.Binding != BindingLog && c.Binding != BindingRevoke {
		errs = append(errs, fmt.Errorf("session: Binding %q is not a policy; use %q or %q", c.Binding, BindingLog, BindingRevoke))
	}
	return errors.Join(errs...)
}

// validCookieName reports whether s is a cookie name (an HTTP token) of at
// most 128 bytes.
func validCookieName(s string) bool {
	return len(s) <= 128 && (&http.Cookie{Name: s, Value: "v"}).Valid() == nil
}
