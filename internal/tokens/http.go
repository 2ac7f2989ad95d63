package tokens

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tetherlb/tether/internal/jsonstrict"
	"github.com/tetherlb/tether/internal/users"
	"github.com/tetherlb/tether/token"
)

// maxBody bounds every request body.
const maxBody = 16 << 10

// oauthError is an error answered as OAuth-style JSON (RFC 6749 §5.2).
type oauthError struct {
	status     int
	code       string
	desc       string
	retryAfter time.Duration
	authHeader string // WWW-Authenticate, for 401s of bearer endpoints
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func badRequest(code, format string, args ...any) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: code, desc: fmt.Sprintf(format, args...)}
}

var (
	errUnavailable = &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
		desc: "the token service's store is unreachable; try again", retryAfter: 5 * time.Second}
	errBadCredentials = &oauthError{status: http.StatusUnauthorized, code: "invalid_grant", desc: "invalid username or password"}
	errServer         = &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: "the token could not be signed"}
)

// Handler serves the token service's endpoints.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/v1/login", s.endpoint("login", http.MethodPost, s.login))
	mux.Handle("/oauth2/token", s.endpoint("token", http.MethodPost, s.refresh))
	mux.Handle("/oauth2/revoke", s.endpoint("revoke", http.MethodPost, s.revoke))
	mux.Handle("/api/v1/logout", s.endpoint("logout", http.MethodPost, s.logout))
	mux.Handle("/.well-known/jwks.json", s.endpoint("jwks", http.MethodGet, s.serveJWKS))
	mux.Handle("/.well-known/openid-configuration", s.endpoint("discovery", http.MethodGet, s.discovery))
	mux.Handle("/", s.endpoint("other", "", func(http.ResponseWriter, *http.Request) error {
		return &oauthError{status: http.StatusNotFound, code: "not_found", desc: "no such endpoint; see /.well-known/openid-configuration"}
	}))
	return mux
}

// endpoint wraps an endpoint: method check, body limit, error answers and
// the request metric.
func (s *Service) endpoint(name, method string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		switch {
		case method != "" && r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead):
			w.Header().Set("Allow", method)
			err = &oauthError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", desc: "use " + method}
		default:
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			err = h(w, r)
		}
		result := "ok"
		if err != nil {
			var oe *oauthError
			if !errors.As(err, &oe) {
				s.log.Error("token service failure", "endpoint", name, "err", err)
				oe = errServer
			}
			result = oe.code
			writeError(w, oe)
		}
		s.metrics.requests.WithLabelValues(name, result).Inc()
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client went away
}

func writeError(w http.ResponseWriter, e *oauthError) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
	}
	if e.authHeader != "" {
		w.Header().Set("WWW-Authenticate", e.authHeader)
	}
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.desc})
}

// decodeJSON reads a JSON object into v strictly: the right Content-Type,
// no unknown fields, nothing after it, within maxBody.
func decodeJSON(r *http.Request, v any, allowEmpty bool) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return badRequest("invalid_request", "the body is larger than %d bytes", maxBody)
		}
		return badRequest("invalid_request", "the body could not be read")
	}
	if allowEmpty && len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return badRequest("invalid_request", "Content-Type must be application/json")
	}
	var fe *jsonstrict.FieldError
	switch err := jsonstrict.Decode(body, v); {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return badRequest("invalid_request", "%v", err)
	case errors.Is(err, jsonstrict.ErrTrailing):
		return badRequest("invalid_request", "the body has data after the JSON object")
	default:
		return badRequest("invalid_request", "the body is not the expected JSON object: %s", jsonProblem(err))
	}
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be a %s", te.Field, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "it ends early"
	}
	return "malformed"
}

// readForm parses an application/x-www-form-urlencoded body (RFC 6749
// §3.2: parameters sent once each).
func readForm(r *http.Request) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return badRequest("invalid_request", "Content-Type must be application/x-www-form-urlencoded")
	}
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return badRequest("invalid_request", "the body is larger than %d bytes", maxBody)
		}
		return badRequest("invalid_request", "the body is not a valid form")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return badRequest("invalid_request", "parameter %q is repeated", k)
		}
	}
	return nil
}

// tokenResponse is the successful answer of login and refresh (RFC 6749
// §5.1, with OpenID Connect's id_token).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Audience string `json:"audience"`
	Scope    string `json:"scope"`
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Username == "" || req.Password == "" {
		return badRequest("invalid_request", "username and password are required")
	}
	aud, err := s.audience(req.Audience)
	if err != nil {
		return err
	}
	scope, err := narrowScope(s.scopes, req.Scope)
	if err != nil {
		return err
	}
	// The login's client address for rate limiting: the peer, or what a
	// trusted proxy says.
	ip := s.trusted.Identify(r).Addr
	u, err := s.auth.Login(r.Context(), req.Username, req.Password, ip)
	var rle *users.RateLimitError
	switch {
	case errors.Is(err, users.ErrInvalidCredentials):
		return errBadCredentials
	case errors.As(err, &rle):
		return &oauthError{status: http.StatusTooManyRequests, code: "too_many_requests",
			desc: fmt.Sprintf("too many failed logins for this %s; try again later", rle.Scope), retryAfter: rle.RetryAfter}
	case err != nil:
		s.log.Error("login: user store failure", "err", err)
		return errUnavailable
	}
	now := s.clk.Now()
	raw, sid, err := s.fam.start(r.Context(), family{User: u.ID, Tenant: u.TenantID, Audience: aud, Scope: scope, AuthTime: now.Unix()}, now)
	if err != nil {
		s.log.Error("login: refresh store failure; no token issued", "user_id", u.ID, "err", err)
		return errUnavailable
	}
	tok, err := s.sign(grant{user: u, audience: aud, scope: scope, sid: sid, authTime: now}, now)
	if err != nil {
		return err
	}
	s.count(true)
	s.log.Info("login", "user_id", u.ID, "tenant", u.TenantID, "audience", aud, "ip", ip.String())
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: tok.access, IDToken: tok.id, RefreshToken: raw,
		TokenType: "Bearer", ExpiresIn: tok.expiresIn, Scope: strings.Join(scope, " ")})
	return nil
}

func (s *Service) count(refresh bool) {
	s.metrics.issued.WithLabelValues("access").Inc()
	s.metrics.issued.WithLabelValues("id").Inc()
	if refresh {
		s.metrics.issued.WithLabelValues("refresh").Inc()
	}
}

// audience returns the audience a login asked for, or the default.
func (s *Service) audience(asked string) (string, error) {
	if asked == "" {
		return s.audiences[0], nil
	}
	if !slices.Contains(s.audiences, asked) {
		return "", badRequest("invalid_target", "audience %q is not one of this service's (RFC 8707)", truncate(asked))
	}
	return asked, nil
}

// narrowScope returns the scopes asked for, which must be a subset of
// allowed; an empty ask gets all of allowed.
func narrowScope(allowed []string, asked string) ([]string, error) {
	if strings.TrimSpace(asked) == "" {
		return slices.Clone(allowed), nil
	}
	var out []string
	for sc := range strings.FieldsSeq(asked) {
		if !slices.Contains(allowed, sc) {
			return nil, badRequest("invalid_scope", "scope %q is not granted here", truncate(sc))
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// truncate shortens a client-supplied value for an error message.
func truncate(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// errUserGone refuses a refresh for a user who was deleted, disabled or
// changed their password after the family's login.
var errUserGone = errors.New("the user was disabled, deleted or changed their password")

func (s *Service) refresh(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(r); err != nil {
		return err
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "":
		return badRequest("invalid_request", "grant_type is required (refresh_token)")
	case "refresh_token":
	default:
		return badRequest("unsupported_grant_type", "grant_type %q is not supported here (refresh_token; log in with POST /api/v1/login)", truncate(gt))
	}
	raw := r.PostForm.Get("refresh_token")
	if raw == "" {
		return badRequest("invalid_request", "refresh_token is required")
	}
	now := s.clk.Now()
	var u users.User
	rot, err := s.fam.rotate(r.Context(), raw, now, func(f *family) error {
		var found bool
		var err error
		if u, found, err = s.users.Get(r.Context(), f.User); err != nil {
			return storeError{err}
		}
		if !found || u.Disabled || u.PasswordChangedAt.Unix() > f.AuthTime {
			return errUserGone
		}
		return nil
	})
	var se storeError
	switch {
	case errors.Is(err, errReplayed):
		s.metrics.replays.Inc()
		s.metrics.revocations.WithLabelValues("replay").Inc()
		s.log.Warn("refresh token replayed: family revoked", "user_id", rot.fam.User, "family", rot.sid[:12])
		// The login's access tokens too, the thief's fresh one first: they
		// stop at the authorizer at once, as after a revocation.
		if err := s.nbf.set(r.Context(), rot.fam.User, time.Time{}, []string{rot.sid}, now); err != nil {
			s.log.Error("refresh replay: the access tokens could not be revoked", "err", err)
		}
		return badRequest("invalid_grant", "refresh token was already used; every token of this login is revoked")
	case errors.Is(err, errUserGone):
		s.metrics.revocations.WithLabelValues("user").Inc()
		// A disabled user or a changed password: every access token
		// issued before now stops at the authorizer from here on.
		sids, err := s.fam.sidsOf(r.Context(), rot.fam.User)
		if err == nil {
			err = s.nbf.set(r.Context(), rot.fam.User, now, sids, now)
		}
		if err != nil {
			s.log.Error("refresh: the user's access tokens could not be revoked", "err", err)
		}
		return badRequest("invalid_grant", "refresh token is no longer valid")
	case errors.Is(err, errInvalidGrant):
		return badRequest("invalid_grant", "refresh token is invalid, expired or revoked")
	case errors.As(err, &se):
		s.log.Error("refresh: store failure; no token issued", "err", err)
		return errUnavailable
	case err != nil:
		return err
	}
	scope := rot.fam.Scope
	if asked := r.PostForm.Get("scope"); asked != "" {
		if scope, err = narrowScope(rot.fam.Scope, asked); err != nil {
			return err
		}
	}
	tok, err := s.sign(grant{user: u, audience: rot.fam.Audience, scope: scope, sid: rot.sid,
		authTime: time.Unix(rot.fam.AuthTime, 0)}, now)
	if err != nil {
		return err
	}
	s.count(true)
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: tok.access, IDToken: tok.id, RefreshToken: rot.raw,
		TokenType: "Bearer", ExpiresIn: tok.expiresIn, Scope: strings.Join(scope, " ")})
	return nil
}

// revoke is RFC 7009: a refresh token revokes its family; an access token
// of this service revokes the family it was issued from (it stays valid
// until it expires, like any JWT; log out everywhere to stop it at once).
// Tokens that are not valid get 200 like valid ones.
func (s *Service) revoke(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(r); err != nil {
		return err
	}
	raw := r.PostForm.Get("token")
	if raw == "" {
		return badRequest("invalid_request", "token is required")
	}
	var err error
	if tok, ok := parseRefreshToken(raw); ok {
		var fam family
		var revoked bool
		if fam, revoked, err = s.fam.revoke(r.Context(), raw); revoked && err == nil {
			s.metrics.revocations.WithLabelValues("revoke").Inc()
			s.log.Info("refresh token revoked", "user_id", fam.User)
			err = s.nbf.set(r.Context(), fam.User, time.Time{}, []string{tok.sid()}, s.clk.Now())
		}
	} else if c, verr := s.verifier.Verify(r.Context(), raw); verr == nil && c.SessionID != "" {
		var revoked bool
		if revoked, err = s.fam.revokeSID(r.Context(), c.Subject, c.SessionID); revoked && err == nil {
			s.metrics.revocations.WithLabelValues("revoke").Inc()
			s.log.Info("refresh family revoked by its access token", "user_id", c.Subject)
		}
		if err == nil {
			err = s.nbf.set(r.Context(), c.Subject, time.Time{}, []string{c.SessionID}, s.clk.Now())
		}
	}
	if err != nil {
		s.log.Error("revoke: store failure", "err", err)
		return errUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}

type logoutRequest struct {
	Everywhere bool `json:"everywhere"`
}

// logout revokes the caller's refresh family, or with everywhere every
// family of the user plus a not-before that stops the access tokens
// already issued at tether's authorizer.
func (s *Service) logout(w http.ResponseWriter, r *http.Request) error {
	raw, ok := token.BearerToken(r)
	if !ok {
		return &oauthError{status: http.StatusUnauthorized, code: "invalid_request",
			desc: "send the access token: Authorization: Bearer TOKEN", authHeader: `Bearer realm="tether"`}
	}
	c, err := s.verifier.Verify(r.Context(), raw)
	if err == nil && s.accessRevoked(c) {
		// Refused as the gateway refuses it: a stolen token of a revoked
		// login must not end the user's other logins.
		err = errors.New("the token's login was revoked")
	}
	if err != nil {
		s.log.Info("logout refused", "reason", err)
		return &oauthError{status: http.StatusUnauthorized, code: "invalid_token", desc: "the access token is invalid, expired or revoked",
			authHeader: `Bearer realm="tether", error="invalid_token"`}
	}
	var req logoutRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	ctx := r.Context()
	n := 0
	if req.Everywhere {
		// The not-before first: if the store fails after it, the tokens
		// already issued are refused anyway and the client can retry.
		var sids []string
		if sids, err = s.fam.sidsOf(ctx, c.Subject); err == nil {
			if err = s.nbf.set(ctx, c.Subject, s.clk.Now(), sids, s.clk.Now()); err == nil {
				n, err = s.fam.revokeUser(ctx, c.Subject)
			}
		}
		if err == nil {
			s.metrics.revocations.WithLabelValues("logout_everywhere").Add(float64(n))
			s.log.Info("logout everywhere", "user_id", c.Subject, "families", n)
		}
	} else {
		var revoked bool
		if revoked, err = s.fam.revokeSID(ctx, c.Subject, c.SessionID); revoked {
			n = 1
			s.metrics.revocations.WithLabelValues("logout").Inc()
			s.log.Info("logout", "user_id", c.Subject)
		}
		if err == nil {
			// The device's access token stops at the authorizer too.
			err = s.nbf.set(ctx, c.Subject, time.Time{}, []string{c.SessionID}, s.clk.Now())
		}
	}
	if err != nil {
		s.log.Error("logout: store failure", "user_id", c.Subject, "err", err)
		return errUnavailable
	}
	writeJSON(w, http.StatusOK, map[string]any{"everywhere": req.Everywhere, "revoked_families": n})
	return nil
}

func (s *Service) serveJWKS(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.jwks()
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(jwksMaxAge.Seconds())))
	h.Set("ETag", doc.etag)
	if etagMatches(r.Header.Values("If-None-Match"), doc.etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Length", strconv.Itoa(len(doc.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(doc.body) //nolint:errcheck // the client went away
	}
	return nil
}

// etagMatches reports whether If-None-Match values name etag, by the weak
// comparison RFC 9110 §13.1.2 asks of If-None-Match (W/"x" matches "x"),
// or are "*".
func etagMatches(values []string, etag string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || t == etag {
				return true
			}
		}
	}
	return false
}

// discovery serves OpenID Connect Discovery 1.0 metadata (§3), limited to
// what the service does: no authorization endpoint, since logins go
// through POST /api/v1/login.
func (s *Service) discovery(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	if r.Method == http.MethodHead {
		return nil
	}
	return json.NewEncoder(w).Encode(map[string]any{
		"issuer":                                     s.issuer,
		"jwks_uri":                                   s.issuer + "/.well-known/jwks.json",
		"token_endpoint":                             s.issuer + "/oauth2/token",
		"revocation_endpoint":                        s.issuer + "/oauth2/revoke",
		"grant_types_supported":                      []string{"refresh_token"},
		"response_types_supported":                   []string{"token"},
		"subject_types_supported":                    []string{"public"},
		"id_token_signing_alg_values_supported":      []string{s.alg},
		"token_endpoint_auth_methods_supported":      []string{"none"},
		"revocation_endpoint_auth_methods_supported": []string{"none"},
		"scopes_supported":                           s.scopes,
		"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "token_use", "sid",
			"preferred_username", "email", "name", "tenant_id", "roles"},
	})
}
