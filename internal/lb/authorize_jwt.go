package lb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/token"
)

// The JWT gateway: a rule with `authorizer: {type: jwt}` verifies the
// request's bearer access token (RFC 6750, RFC 9068) with the token
// package before a target is chosen, as API Gateway's JWT authorizer does.
// Refusals are answered here with WWW-Authenticate (RFC 6750 §3); accepted
// requests go on with the subject, tenant and chosen claims in headers and
// the Authorization header untouched.

// jwtGate is the jwt authorizer of one rule on one listener.
type jwtGate struct {
	v         *token.Verifier // shared with the rules that agree on it
	scopes    []string        // required, all of them
	forbidden refusal         // the answer when a scope is missing
	claims    []forwardClaim
	allowed   prometheus.Counter
	// revoked is the token service's SessionRevoked for authorizers that
	// honour its logouts; nil for other issuers.
	revoked func(issuer, subject, sid string) bool
}

// forwardClaim is one claim of forward_claims and its header.
type forwardClaim struct {
	name, header string
}

func (s *Server) newJWTGate(listener string, ac *config.Authorizer, issuer string, v *token.Verifier) *jwtGate {
	if v == nil {
		panic("lb: no verifier prepared for a jwt authorizer") // prepareVerifiers makes one for each
	}
	g := &jwtGate{
		v:       v,
		scopes:  ac.RequiredScopes,
		allowed: s.metrics.authorizer.WithLabelValues(listener, "jwt", "allowed"),
	}
	if s.tokens != nil && (ac.Local || issuer == s.tokens.Issuer()) {
		g.revoked = s.tokens.SessionRevoked
	}
	g.forbidden = newRefusal("insufficient_scope", http.StatusForbidden, "insufficient_scope",
		"the token lacks a required scope", `, scope="`+strings.Join(ac.RequiredScopes, " ")+`"`)
	for _, name := range ac.ForwardClaims {
		g.claims = append(g.claims, forwardClaim{name: name, header: config.ClaimHeader(name)})
	}
	return g
}

// authorize verifies r's bearer token. It returns true when the request
// may go on, with X-Tether-User (sub), X-Tether-Tenant (tenant_id, when
// the token has one) and the forwarded claims set on r. Otherwise it
// answers: 401 without a token or with an invalid, expired or revoked one
// (or one whose sub or tenant_id no header can carry); 400 for a malformed
// Authorization header; 403 when a required scope is
// missing; 503 when the key set or the not-before store is unavailable.
func (g *jwtGate) authorize(w http.ResponseWriter, r *http.Request, lh *listenerHandler) bool {
	stripTetherHeaders(r.Header)
	raw, ok := token.BearerToken(r)
	if !ok {
		rf := &rfNoToken
		if hasBearerCredentials(r.Header) {
			rf = &rfBadRequest
		}
		g.refuse(w, r, lh, rf, nil)
		return false
	}
	c, err := g.v.Verify(r.Context(), raw)
	if err == nil && g.revoked != nil && c.SessionID != "" && g.revoked(c.Issuer, c.Subject, c.SessionID) {
		err = fmt.Errorf("%w: its login was logged out everywhere", token.ErrRevoked)
	}
	if err != nil {
		g.refuse(w, r, lh, classify(r.Context(), err), err)
		return false
	}
	for _, sc := range g.scopes {
		if !c.HasScope(sc) {
			g.refuse(w, r, lh, &g.forbidden, errors.New("missing scope "+strconv.Quote(sc)))
			return false
		}
	}
	if !validHeaderValue(c.Subject) || !validHeaderValue(c.TenantID) {
		g.refuse(w, r, lh, &rfBadIdentity, errors.New("sub or tenant_id holds a control character"))
		return false
	}
	// The header values share one array: one allocation, not one each.
	hv := headerValues{h: r.Header, vals: make([]string, 0, 2+len(g.claims))}
	hv.set(HeaderUser, c.Subject)
	if c.TenantID != "" {
		hv.set(HeaderTenant, c.TenantID)
	}
	for _, fc := range g.claims {
		g.forward(&hv, c, fc, lh)
	}
	g.allowed.Inc()
	return true
}

// headerValues sets headers whose values share the array of vals, which
// must have the capacity for all of them.
type headerValues struct {
	h    http.Header
	vals []string
}

// set sets the canonical header key to the single value v.
func (hv *headerValues) set(key, v string) {
	n := len(hv.vals)
	hv.vals = append(hv.vals, v)
	hv.h[key] = hv.vals[n : n+1 : n+1]
}

// forward sets fc's header from the claims, if the claim is present and a
// header can carry it; otherwise the claim is skipped and counted.
func (g *jwtGate) forward(hv *headerValues, c *token.Claims, fc forwardClaim, lh *listenerHandler) {
	v, ok := c.Raw[fc.name]
	if !ok || v == nil {
		return
	}
	s, ok := claimString(v)
	reason := "object"
	if ok {
		if validHeaderValue(s) {
			hv.set(fc.header, s)
			return
		}
		reason = "invalid"
	}
	lh.srv.metrics.claimSkips.WithLabelValues(lh.name, fc.name, reason).Inc()
	if lh.srv.log.Enabled(context.Background(), slog.LevelDebug) {
		lh.srv.log.Debug("jwt authorizer: claim not forwarded", "listener", lh.name, "claim", fc.name, "reason", reason)
	}
}

// claimString renders a claim for a header: a string as it is, a number
// or boolean in its JSON form, an array of those joined with ", ". It
// reports false for objects and nested arrays.
func claimString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			if e == nil {
				continue
			}
			if _, nested := e.([]any); nested {
				return "", false
			}
			s, ok := claimString(e)
			if !ok {
				return "", false
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ", "), true
	case float64, bool:
		b, err := json.Marshal(v)
		return string(b), err == nil
	}
	return "", false
}

// validHeaderValue reports whether s can be sent as a header value: no
// control characters other than tab (RFC 9110 §5.5).
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// hasBearerCredentials reports whether h has an Authorization header in the
// Bearer scheme (or several Authorization headers), which BearerToken
// refused as malformed.
func hasBearerCredentials(h http.Header) bool {
	values := h.Values("Authorization")
	if len(values) > 1 {
		return true
	}
	return len(values) == 1 && len(values[0]) >= 6 && strings.EqualFold(values[0][:6], "Bearer")
}

// refuse answers r with rf and counts it. err, the cause, is logged (it
// never holds the token): at debug level for the client's fault, at info
// when tether could not judge the token.
func (g *jwtGate) refuse(w http.ResponseWriter, r *http.Request, lh *listenerHandler, rf *refusal, err error) {
	lh.srv.metrics.authorizer.WithLabelValues(lh.name, "jwt", rf.result).Inc()
	level := slog.LevelDebug
	if rf.status == http.StatusServiceUnavailable {
		level = slog.LevelInfo
	}
	if err != nil && lh.srv.log.Enabled(r.Context(), level) {
		lh.srv.log.Log(r.Context(), level, "jwt authorizer refused a request", "listener", lh.name,
			"result", rf.result, "status", rf.status, "reason", err.Error(), "client", r.RemoteAddr)
	}
	hd := w.Header()
	if rf.challenge != "" {
		hd.Set("WWW-Authenticate", rf.challenge)
	}
	if rf.retryAfter != "" {
		hd.Set("Retry-After", rf.retryAfter)
	}
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Length", strconv.Itoa(len(rf.body)))
	w.WriteHeader(rf.status)
	_, _ = w.Write(rf.body)
}

// refusal is one way of answering a request the jwt gate refuses.
type refusal struct {
	result     string // the metric's result label
	status     int
	challenge  string // WWW-Authenticate, or ""
	retryAfter string
	body       []byte // {"error": …, "error_description": …}
}

// newRefusal makes a refusal whose RFC 6750 error code is code ("" for a
// request without credentials, which gets a bare challenge, §3.1), with
// extra challenge parameters appended.
func newRefusal(result string, status int, code, desc, extra string) refusal {
	rf := refusal{result: result, status: status}
	switch {
	case status == http.StatusServiceUnavailable:
		rf.retryAfter = "5"
		code = "temporarily_unavailable"
	case code == "":
		rf.challenge = `Bearer realm="tether"`
		code = "unauthorized"
	default:
		rf.challenge = `Bearer realm="tether", error="` + code + `", error_description="` + desc + `"` + extra
	}
	rf.body, _ = json.Marshal(map[string]string{"error": code, "error_description": desc})
	rf.body = append(rf.body, '\n')
	return rf
}

func invalidToken(result, desc string) refusal {
	return newRefusal(result, http.StatusUnauthorized, "invalid_token", desc, "")
}

// The refusals of the jwt gate. They are never written after init.
var (
	rfNoToken    = newRefusal("unauthenticated", http.StatusUnauthorized, "", "a bearer token is required", "")
	rfBadRequest = newRefusal("invalid_request", http.StatusBadRequest, "invalid_request",
		"the request must carry one Authorization header with one Bearer token", "")
	rfJWKSDown  = newRefusal("jwks_unavailable", http.StatusServiceUnavailable, "", "the token issuer's keys are unavailable; try again later", "")
	rfStoreDown = newRefusal("store_unavailable", http.StatusServiceUnavailable, "", "the token could not be checked; try again later", "")
	rfCanceled  = newRefusal("canceled", http.StatusServiceUnavailable, "", "the request was canceled", "")
	// rfBadIdentity refuses a token whose identity no header can carry.
	rfBadIdentity = invalidToken("malformed", "the token's sub or tenant_id is not a valid header value")

	// tokenRefusals maps the token package's error classes to answers. The
	// descriptions are fixed text: the token, and the claims quoted in the
	// error's detail, never go back to the client.
	tokenRefusals = []struct {
		err error
		rf  refusal
	}{
		{token.ErrJWKSUnavailable, rfJWKSDown},
		{token.ErrMalformed, invalidToken("malformed", "the token is malformed")},
		{token.ErrAlgorithm, invalidToken("algorithm", "the token's algorithm is not accepted")},
		{token.ErrHeader, invalidToken("header", "the token's header is not accepted")},
		{token.ErrType, invalidToken("type", "the token is not an access token")},
		{token.ErrUnknownKey, invalidToken("unknown_key", "the token's signing key is unknown")},
		{token.ErrSignature, invalidToken("signature", "the token's signature is invalid")},
		{token.ErrIssuer, invalidToken("issuer", "the token's issuer is not accepted")},
		{token.ErrAudience, invalidToken("audience", "the token is not meant for this service")},
		{token.ErrExpired, invalidToken("expired", "the token has expired")},
		{token.ErrNotYetValid, invalidToken("not_yet_valid", "the token is not valid yet")},
		{token.ErrRevoked, invalidToken("revoked", "the token has been revoked")},
	}
)

// classify returns the answer to a Verify error. An error of no class is
// a system failure (the not-before store, or ctx), answered 503.
func classify(ctx context.Context, err error) *refusal {
	for i := range tokenRefusals {
		if errors.Is(err, tokenRefusals[i].err) {
			return &tokenRefusals[i].rf
		}
	}
	if ctx.Err() != nil {
		return &rfCanceled
	}
	return &rfStoreDown
}
