package token

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Claims are the claims of a verified token. The registered claims (RFC
// 7519 §4.1) and the common access-token claims (RFC 9068 §2.2) are typed;
// Raw holds every claim as decoded from JSON (numbers are float64).
//
// Claims returned by Verify may be shared with the verified-token cache
// and with other callers: treat them as read-only.
type Claims struct {
	Issuer   string   // iss
	Subject  string   // sub
	Audience []string // aud, a string or an array in the token
	// Expiry (exp) is always set; NotBefore (nbf) and IssuedAt (iat) are
	// zero when absent.
	Expiry    time.Time
	NotBefore time.Time
	IssuedAt  time.Time
	ID        string   // jti
	ClientID  string   // client_id (RFC 9068 §2.2)
	SessionID string   // sid (OpenID Connect Front/Back-Channel Logout)
	Scope     []string // scope, a space-separated string (RFC 8693 §4.2)
	Roles     []string // roles, an array of strings (RFC 9068 §2.2.3.1)
	TokenUse  string   // token_use ("access" or "id", as Cognito issues)
	TenantID  string   // tenant_id
	Raw       map[string]any
}

// HasScope reports whether the token was granted scope s.
func (c *Claims) HasScope(s string) bool {
	return slices.Contains(c.Scope, s)
}

// maxNumericDate bounds NumericDate values (year 5138): far beyond any
// real date, and far from the int64 overflow of time.Unix.
const maxNumericDate = 1e11

// newClaims types the claims of m, refusing a registered claim of the
// wrong JSON type. It checks no values.
func newClaims(m map[string]any) (*Claims, error) {
	c := &Claims{Raw: m}
	var errs claimErrors
	c.Issuer = errs.str(m, "iss")
	c.Subject = errs.str(m, "sub")
	c.ID = errs.str(m, "jti")
	c.ClientID = errs.str(m, "client_id")
	c.SessionID = errs.str(m, "sid")
	c.TokenUse = errs.str(m, "token_use")
	c.TenantID = errs.str(m, "tenant_id")
	c.Scope = strings.Fields(errs.str(m, "scope"))
	c.Roles = errs.strs(m, "roles", false)
	c.Audience = errs.strs(m, "aud", true)
	c.Expiry = errs.date(m, "exp")
	c.NotBefore = errs.date(m, "nbf")
	c.IssuedAt = errs.date(m, "iat")
	if errs.err != nil {
		return nil, errs.err
	}
	return c, nil
}

// claimErrors records the first type error met while typing claims.
type claimErrors struct{ err error }

func (e *claimErrors) fail(name, want string) {
	if e.err == nil {
		e.err = fmt.Errorf("%w: claim %q is not %s", ErrMalformed, name, want)
	}
}

func (e *claimErrors) str(m map[string]any, name string) string {
	v, ok := m[name]
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		e.fail(name, "a string")
	}
	return s
}

// strs reads an array of strings, or also a single string if single.
func (e *claimErrors) strs(m map[string]any, name string, single bool) []string {
	v, ok := m[name]
	if !ok {
		return nil
	}
	if s, ok := v.(string); ok && single {
		return []string{s}
	}
	a, ok := v.([]any)
	if !ok {
		e.fail(name, "an array of strings")
		return nil
	}
	out := make([]string, len(a))
	for i, x := range a {
		if out[i], ok = x.(string); !ok {
			e.fail(name, "an array of strings")
			return nil
		}
	}
	return out
}

// date reads a NumericDate (RFC 7519 §2): seconds since the epoch,
// possibly fractional.
func (e *claimErrors) date(m map[string]any, name string) time.Time {
	v, ok := m[name]
	if !ok {
		return time.Time{}
	}
	f, ok := v.(float64)
	if !ok || f < 0 || f >= maxNumericDate {
		e.fail(name, "a NumericDate")
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// check validates the claims' values at now: iss, aud, sub, and the
// validity window with leeway.
func (v *Verifier) check(c *Claims, now time.Time) error {
	leeway := v.opts.Leeway
	switch {
	case c.Issuer != v.opts.Issuer:
		return fmt.Errorf("%w: iss %s; want %q", ErrIssuer, quote(c.Issuer), v.opts.Issuer)
	case !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(v.opts.Audiences, a) }):
		return fmt.Errorf("%w: aud %q has none of %q", ErrAudience, c.Audience, v.opts.Audiences)
	case c.Subject == "":
		return fmt.Errorf("%w: no sub claim", ErrMalformed)
	case c.Expiry.IsZero():
		return fmt.Errorf("%w: no exp claim", ErrMalformed)
	case !now.Before(c.Expiry.Add(leeway)):
		return fmt.Errorf("%w: exp %s is %v past (leeway %v)", ErrExpired, c.Expiry.Format(time.RFC3339), now.Sub(c.Expiry).Round(time.Second), leeway)
	case !c.NotBefore.IsZero() && now.Add(leeway).Before(c.NotBefore):
		return fmt.Errorf("%w: nbf %s is %v ahead (leeway %v)", ErrNotYetValid, c.NotBefore.Format(time.RFC3339), c.NotBefore.Sub(now).Round(time.Second), leeway)
	case !c.IssuedAt.IsZero() && now.Add(leeway).Before(c.IssuedAt):
		return fmt.Errorf("%w: iat %s is %v ahead (leeway %v)", ErrNotYetValid, c.IssuedAt.Format(time.RFC3339), c.IssuedAt.Sub(now).Round(time.Second), leeway)
	}
	return nil
}
