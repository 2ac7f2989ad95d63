package config

import (
	"net"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
)

// Authorizer guards a listener rule: requests are checked before a target
// is chosen, and refused ones never reach a target.
type Authorizer struct {
	// Type is session (the request needs a live tether session, from the
	// sessions block) or jwt (the request needs a bearer JWT access token,
	// RFC 6750 and RFC 9068). Required.
	Type string `yaml:"type"`

	// LoginURL is where browsers without a session are redirected (with
	// ?next=the original path); API requests (Accept without text/html)
	// get 401. A path (/login) or an absolute http(s) URL. Required with
	// type session; refused with type jwt.
	LoginURL string `yaml:"login_url"`

	// The keys below are for type jwt only.

	// Issuer is the only accepted iss, compared byte for byte. Required,
	// except with local: true, where it defaults to tokens.issuer (and must
	// equal it when given).
	Issuer string `yaml:"issuer"`
	// Audiences are the accepted aud values: a token passes when its aud
	// holds at least one of them. Required, at least one.
	Audiences []string `yaml:"audiences"`
	// JWKSURL is where the issuer's JSON Web Key Set is fetched: https, or
	// http to a loopback host. Exactly one of jwks_url and local is
	// required.
	JWKSURL string `yaml:"jwks_url"`
	// Local verifies tokens of tether's own token service (the top-level
	// tokens block) with its keys, in process, and honours its per-user
	// not-before (log out everywhere). Default false.
	Local bool `yaml:"local"`
	// RequiredScopes must all be in the token's scope claim; a token
	// without one of them gets 403. Default none.
	RequiredScopes []string `yaml:"required_scopes"`
	// ForwardClaims names claims sent to the target as headers, each as
	// ClaimHeader(name): tenant_id becomes X-Tether-Claim-Tenant-Id.
	// Strings go as they are, arrays joined with ", ", numbers and
	// booleans in their JSON form; a missing or null claim sends no
	// header, and an object (or a value no header can hold) is skipped
	// and counted. Names are 1 to 64 letters, digits, '_' or '-'. Default
	// none.
	ForwardClaims []string `yaml:"forward_claims"`
	// Algorithms is the allowlist of the header's alg. Default RS256,
	// ES256, EdDSA; allowed: JWTAlgorithms. none and HS256/384/512 are
	// never allowed: the authorizer holds public keys only.
	Algorithms []string `yaml:"algorithms"`
}

// AuthorizerTypes are the allowed authorizer.type values.
var AuthorizerTypes = []string{"session", "jwt"}

// JWTAlgorithms are the values authorizer.algorithms accepts: the
// asymmetric JWS algorithms of RFC 7518 §3.1 and RFC 8037.
var JWTAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// ClaimHeaderPrefix starts the name of every header a JWT authorizer
// forwards a claim in.
const ClaimHeaderPrefix = "X-Tether-Claim-"

// objectClaims are registered claims whose value is a JSON object, which
// no header can carry.
var objectClaims = map[string]string{
	"cnf":     "RFC 7800",
	"act":     "RFC 8693",
	"may_act": "RFC 8693",
	"address": "OpenID Connect Core §5.1",
}

// ClaimHeader returns the header that a JWT authorizer forwards claim name
// in: ClaimHeaderPrefix followed by the name with each '_' made '-', in
// canonical header case. tenant_id gives X-Tether-Claim-Tenant-Id, and
// orgID gives X-Tether-Claim-Orgid.
func ClaimHeader(name string) string {
	return ClaimHeaderPrefix + textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(name, "_", "-"))
}

// JWTIssuer returns the iss that a jwt authorizer accepts: issuer, or
// tokens.issuer when issuer is left out with local: true.
func (a *Authorizer) JWTIssuer(c *Config) string {
	if a.Issuer == "" && a.Local && c.Tokens != nil {
		return c.Tokens.Issuer
	}
	return a.Issuer
}

func (a *Authorizer) validate(p *problems, key string, c *Config) {
	p.oneOf(key+".type", a.Type, AuthorizerTypes)
	switch a.Type {
	case "session":
		a.validateSession(p, key, c)
	case "jwt":
		a.validateJWT(p, key, c)
	}
}

func (a *Authorizer) validateSession(p *problems, key string, c *Config) {
	if c.Sessions == nil {
		p.add(key+".type", "session needs a top-level sessions: block (the session store)")
	}
	switch u, err := url.Parse(a.LoginURL); {
	case a.LoginURL == "":
		p.add(key+".login_url", "is required: where browsers without a session are sent (example: /login)")
	case err != nil || !(strings.HasPrefix(a.LoginURL, "/") && !strings.HasPrefix(a.LoginURL, "//") || (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""):
		p.add(key+".login_url", "%q is not a path (/login) or an absolute http(s) URL", a.LoginURL)
	}
	for _, k := range []struct {
		name string
		set  bool
	}{
		{"issuer", a.Issuer != ""}, {"audiences", a.Audiences != nil}, {"jwks_url", a.JWKSURL != ""},
		{"local", a.Local}, {"required_scopes", a.RequiredScopes != nil},
		{"forward_claims", a.ForwardClaims != nil}, {"algorithms", a.Algorithms != nil},
	} {
		if k.set {
			p.add(key+"."+k.name, "is for type jwt; a session authorizer takes login_url only")
		}
	}
}

func (a *Authorizer) validateJWT(p *problems, key string, c *Config) {
	if a.LoginURL != "" {
		p.add(key+".login_url", "is for type session; a jwt authorizer answers 401 with WWW-Authenticate instead of redirecting")
	}
	a.validateKeySource(p, key, c)
	if len(a.Audiences) == 0 {
		p.add(key+".audiences", "needs at least one audience (example: [api])")
	}
	for i, aud := range a.Audiences {
		ak := itemKey(key+".audiences", i, "")
		switch {
		case aud == "" || len(aud) > 256 || strings.ContainsAny(aud, " \t\r\n"):
			p.add(ak, "%q is not an audience (1 to 256 characters, no spaces)", aud)
		case slices.Index(a.Audiences, aud) != i:
			p.add(ak, "%q is listed twice", aud)
		case a.Local && c.Tokens != nil && !slices.Contains(c.Tokens.Audiences, aud):
			p.add(ak, "%q is not in tokens.audiences (%s): the token service never issues it", aud, strings.Join(c.Tokens.Audiences, ", "))
		}
	}
	for i, sc := range a.RequiredScopes {
		sk := itemKey(key+".required_scopes", i, "")
		switch {
		case !validScope(sc):
			p.add(sk, "%q is not a scope (printable ASCII without spaces, quotes or backslashes, RFC 6749 §3.3)", sc)
		case slices.Index(a.RequiredScopes, sc) != i:
			p.add(sk, "%q is listed twice", sc)
		case a.Local && c.Tokens != nil && !slices.Contains(c.Tokens.Scopes, sc):
			p.add(sk, "%q is not in tokens.scopes (%s): the token service never grants it", sc, orNone(c.Tokens.Scopes))
		}
	}
	a.validateForwardClaims(p, key)
	for i, alg := range a.Algorithms {
		ak := itemKey(key+".algorithms", i, "")
		switch {
		case strings.EqualFold(alg, "none") || strings.HasPrefix(strings.ToUpper(alg), "HS"):
			p.add(ak, "%q is refused: a jwt authorizer holds only public keys (allowed: %s)", alg, strings.Join(JWTAlgorithms, ", "))
		case !slices.Contains(JWTAlgorithms, alg):
			p.add(ak, "%q is not allowed (allowed: %s)", alg, strings.Join(JWTAlgorithms, ", "))
		}
	}
}

// validateKeySource checks issuer, jwks_url and local.
func (a *Authorizer) validateKeySource(p *problems, key string, c *Config) {
	switch {
	case a.Local && c.Tokens == nil:
		p.add(key+".local", "true needs a top-level tokens: block (tether's token service)")
	case a.Local && a.Issuer != "" && a.Issuer != c.Tokens.Issuer:
		p.add(key+".issuer", "%q is not tokens.issuer %q; with local: true leave it out or make it equal", a.Issuer, c.Tokens.Issuer)
	case !a.Local && a.Issuer == "":
		p.add(key+".issuer", "is required: the exact iss of accepted tokens (example: https://auth.example.com)")
	}
	if a.Issuer != "" && (len(a.Issuer) > 2048 || strings.ContainsFunc(a.Issuer, func(r rune) bool { return r <= ' ' || r == 0x7f })) {
		p.add(key+".issuer", "%q is not an issuer (at most 2048 characters, no spaces or control characters)", a.Issuer)
	}
	switch {
	case a.Local && a.JWKSURL != "":
		p.add(key+".jwks_url", "is set with local: true; set one of them (local: true uses the token service's own keys)")
	case !a.Local && a.JWKSURL == "":
		p.add(key+".jwks_url", "is required unless local: true (example: https://auth.example.com/.well-known/jwks.json)")
	case a.JWKSURL != "":
		if msg := checkJWKSURL(a.JWKSURL); msg != "" {
			p.add(key+".jwks_url", "%q %s", a.JWKSURL, msg)
		}
	}
}

// validateForwardClaims checks forward_claims: valid names, one header
// each, and no claim known to be a JSON object.
func (a *Authorizer) validateForwardClaims(p *problems, key string) {
	headers := map[string]string{} // header → claim
	for i, name := range a.ForwardClaims {
		ck := itemKey(key+".forward_claims", i, "")
		if !validClaimName(name) {
			p.add(ck, "%q is not a claim name that can be forwarded (1 to 64 letters, digits, '_' or '-')", name)
			continue
		}
		if spec, ok := objectClaims[name]; ok {
			p.add(ck, "%q is a JSON object (%s); only strings, numbers, booleans and arrays of them can be forwarded", name, spec)
			continue
		}
		h := ClaimHeader(name)
		switch other, dup := headers[h]; {
		case dup && other == name:
			p.add(ck, "%q is listed twice", name)
		case dup:
			p.add(ck, "%q and %q would both be forwarded as %s; keep one", other, name, h)
		default:
			headers[h] = name
		}
	}
}

func validClaimName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// checkJWKSURL applies the rule of the token package's Options.JWKSURL:
// an absolute https URL, or http to a loopback host. It returns what is
// wrong, or "".
func checkJWKSURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "":
		return "is not an absolute URL (example: https://auth.example.com/.well-known/jwks.json)"
	case u.User != nil:
		return "must not hold credentials"
	case u.Scheme == "https":
		return ""
	case u.Scheme != "http":
		return "must be https (or http to a loopback host)"
	}
	h := u.Hostname()
	if ip := net.ParseIP(h); strings.EqualFold(h, "localhost") || ip != nil && ip.IsLoopback() {
		return ""
	}
	return "is http to a host other than loopback; use https"
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}
