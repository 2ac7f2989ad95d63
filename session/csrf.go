package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
)

// CSRF protection for unsafe methods (POST, PUT, PATCH, DELETE, …), in
// the order browsers make possible (OWASP CSRF Prevention Cheat Sheet;
// ASVS 5.0 3.5.1–3.5.3):
//
//  1. Sec-Fetch-Site: same-origin (or none, a user-typed navigation)
//     passes; any other value (same-site, cross-site) is refused.
//  2. Without Sec-Fetch-Site, an Origin header must be the request's own
//     origin or one of TrustedOrigins.
//  3. Without either header (old browsers, some privacy tools), the
//     request must carry the synchronizer token of its session in the
//     X-CSRF-Token header or the csrf_token form field.
//
// Safe methods (GET, HEAD, OPTIONS, TRACE) always pass; they must not
// change state.

// CSRFTokenHeader and CSRFTokenField are where the synchronizer token is
// looked for.
const (
	CSRFTokenHeader = "X-CSRF-Token"
	CSRFTokenField  = "csrf_token"
)

// CSRFOptions adjusts the CSRF middleware.
type CSRFOptions struct {
	// TrustedOrigins are other origins ("https://app.example.com") allowed
	// to send unsafe requests.
	TrustedOrigins []string
	// OnReject answers refused requests. Nil: 403 with a short text.
	OnReject http.Handler
}

// CSRF returns middleware that refuses cross-site unsafe requests. It must
// run inside LoadAndSave, since the synchronizer token is bound to the
// session. Rejections are counted as rejected events with reason csrf.
func (m *Manager) CSRF(next http.Handler, opts CSRFOptions) http.Handler {
	trusted := map[string]bool{}
	for _, o := range opts.TrustedOrigins {
		trusted[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	reject := opts.OnReject
	if reject == nil {
		reject = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "Forbidden: cross-site request refused (CSRF protection)", http.StatusForbidden)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if safeMethod(r.Method) || m.csrfAllowed(r, trusted) {
			next.ServeHTTP(w, r)
			return
		}
		m.emit(Event{Type: EventRejected, Reason: "csrf", Tenant: m.state(r.Context()).tenant})
		reject.ServeHTTP(w, r)
	})
}

func safeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

func (m *Manager) csrfAllowed(r *http.Request, trusted map[string]bool) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	if origin := r.Header.Get("Origin"); origin != "" && origin != "null" {
		return sameOrigin(r, origin) || trusted[strings.ToLower(origin)]
	}
	token := r.Header.Get(CSRFTokenHeader)
	if token == "" {
		token = r.PostFormValue(CSRFTokenField)
	}
	return token != "" && m.validCSRFToken(r, token)
}

// sameOrigin reports whether origin is the origin r was sent to.
func sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return strings.EqualFold(u.Scheme, scheme) && strings.EqualFold(u.Host, r.Host)
}

// CSRFToken returns the synchronizer token of the request's session, to put
// in forms (csrf_token) or send back in X-CSRF-Token. It is an HMAC of the
// session, so it changes when the session ID does (Renew, Authenticate);
// it stores a session if none exists yet, since it must be bound to one.
func (m *Manager) CSRFToken(r *http.Request) string {
	st := m.state(r.Context())
	st.mu.Lock()
	if st.version == 0 {
		st.dirty = true // the token needs a stored session to be bound to
	}
	if st.rec.CSRF == "" {
		secret := hex.EncodeToString(randomBytes(16))
		set := func(rec *record) {
			if rec.CSRF == "" {
				rec.CSRF = secret
			}
		}
		set(st.rec)
		st.mutations = append(st.mutations, set)
		st.dirty = true
	}
	st.mu.Unlock()
	return m.csrfTokenFor(st, m.keys.Load().csrf.active)
}

func (m *Manager) csrfTokenFor(st *state, kid string) string {
	st.mu.Lock()
	binding := st.tenant + "\x00" + st.rec.CSRF
	st.mu.Unlock()
	mac := hmac.New(sha256.New, m.keys.Load().csrf.byID[kid])
	mac.Write([]byte(binding))
	return kid + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (m *Manager) validCSRFToken(r *http.Request, token string) bool {
	kid, _, ok := strings.Cut(token, ".")
	if !ok || m.keys.Load().csrf.byID[kid] == nil {
		return false
	}
	want := m.csrfTokenFor(m.state(r.Context()), kid)
	return hmac.Equal([]byte(token), []byte(want))
}
