package lb

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/session"
)

// The gateways: a rule with an authorizer checks each request before a
// target is chosen. `authorizer: {type: session}` loads the request's
// tether session (this file); `authorizer: {type: jwt}` verifies its bearer
// token (authorize_jwt.go). Targets behind a gateway get who the user is in
// headers and can be stateless; refused requests never reach them.

// Headers the gateways set on requests to targets. Copies sent by clients
// are removed first, along with any other X-Tether-* request header, so a
// target can trust them.
const (
	HeaderUser    = "X-Tether-User"
	HeaderTenant  = "X-Tether-Tenant"
	HeaderSession = "X-Tether-Session"
)

// authorizer is the gate of one rule.
type authorizer interface {
	// authorize returns true when r may go on to a target, with the
	// identity headers set on r; otherwise it has answered w itself. lh is
	// the listener r came in on.
	authorize(w http.ResponseWriter, r *http.Request, lh *listenerHandler) bool
}

var (
	_ authorizer = (*sessionGate)(nil)
	_ authorizer = (*jwtGate)(nil)
)

// sessionGate is the session authorizer of one rule.
type sessionGate struct {
	m        *session.Manager
	loginURL string
}

// newAuthorizer returns the gate for ac on listener, or nil for none. The
// jwt gates take their verifier from vs.
func (s *Server) newAuthorizer(listener string, ac *config.Authorizer, cfg *config.Config, vs verifiers) authorizer {
	switch {
	case ac == nil:
		return nil
	case ac.Type == "jwt":
		k := newVerifierKey(ac, cfg)
		return s.newJWTGate(listener, ac, k.issuer, vs[k])
	case s.sessions == nil: // refused by New and Reload
		return nil
	}
	return &sessionGate{m: s.sessions, loginURL: ac.LoginURL}
}

// errNoSessions is returned by New and Reload for a config whose rules use
// the session gateway when the Server was given no session Manager.
var errNoSessions = errors.New("a rule has authorizer type session but no session store is configured (add a sessions: block)")

func needsSessions(cfg *config.Config) bool {
	for _, l := range cfg.Listeners {
		for _, r := range l.Rules {
			if r.Authorizer != nil && r.Authorizer.Type == "session" {
				return true
			}
		}
	}
	return false
}

// authorize checks r's session. It returns true when the request may go on
// (with the identity headers set on r), or answers the request itself:
// 401 for API clients, a redirect to the login URL for browsers, 503 when
// the store is unreachable.
func (gate *sessionGate) authorize(w http.ResponseWriter, r *http.Request, lh *listenerHandler) bool {
	stripTetherHeaders(r.Header)
	cookieName := gate.m.Config().CookieName
	tenant, ok := gate.m.TenantOf(r)
	if !ok {
		lh.srv.metrics.authorizer.WithLabelValues(lh.name, "session", "no_tenant").Inc()
		writeError(w, http.StatusMisdirectedRequest)
		return false
	}
	var snap session.Snapshot
	err := session.ErrNotFound
	if c, cerr := r.Cookie(cookieName); cerr == nil {
		client := session.Client{IP: lh.tl.Identify(r).Addr, UserAgent: r.UserAgent()}
		snap, err = gate.m.LookupCookie(r.Context(), tenant, c.Value, client, true)
	}
	switch {
	case err == nil && snap.UserID != "":
		r.Header.Set(HeaderUser, snap.UserID)
		r.Header.Set(HeaderTenant, snap.Tenant)
		r.Header.Set(HeaderSession, snap.Hash)
		removeCookie(r, cookieName)
		lh.srv.metrics.authorizer.WithLabelValues(lh.name, "session", "allowed").Inc()
		return true
	case err != nil && !errors.Is(err, session.ErrNotFound):
		lh.srv.metrics.authorizer.WithLabelValues(lh.name, "session", "store_unavailable").Inc()
		lh.srv.log.Warn("session gateway: store unavailable", "listener", lh.name, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable)
		return false
	}
	if wantsHTML(r) {
		lh.srv.metrics.authorizer.WithLabelValues(lh.name, "session", "redirected").Inc()
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, gate.loginRedirect(r), http.StatusSeeOther)
		return false
	}
	lh.srv.metrics.authorizer.WithLabelValues(lh.name, "session", "unauthenticated").Inc()
	w.Header().Set("WWW-Authenticate", `Cookie realm="tether", cookie-name="`+cookieName+`"`)
	w.Header().Set("Cache-Control", "no-store")
	writeError(w, http.StatusUnauthorized)
	return false
}

// loginRedirect is the login URL with next= the original path and query,
// so the login page can send the user back. Only a path goes into next,
// never a host, so it cannot become an open redirect: a path that starts
// with "//" (or "/\", which browsers read alike) would be a
// protocol-relative URL to another host once the login page redirects to
// it, so its leading slashes go down to one.
func (gate *sessionGate) loginRedirect(r *http.Request) string {
	next := r.URL.EscapedPath()
	if strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		next = "/" + strings.TrimLeft(next, "/\\")
	}
	if r.URL.RawQuery != "" {
		next += "?" + r.URL.RawQuery
	}
	login, fragment, _ := strings.Cut(gate.loginURL, "#")
	sep := "?"
	if strings.Contains(login, "?") {
		sep = "&"
	}
	if fragment != "" {
		fragment = "#" + fragment // after the query, where next must be
	}
	return login + sep + "next=" + url.QueryEscape(next) + fragment
}

// wantsHTML reports whether r comes from a browser navigating (a GET or
// HEAD that accepts text/html), which is redirected to log in rather than
// refused.
func wantsHTML(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// stripTetherHeaders removes every X-Tether-* request header, with '_'
// counted as '-': WSGI, CGI and PHP servers fold both into one name
// (HTTP_X_TETHER_USER), so a client's X_Tether_User would otherwise reach
// the application as the user the gateway vouches for.
func stripTetherHeaders(h http.Header) {
	for k := range h {
		if len(k) > 9 && strings.EqualFold(strings.ReplaceAll(k[:9], "_", "-"), "X-Tether-") {
			delete(h, k)
		}
	}
}

// removeCookie drops the cookie name from r's Cookie headers: targets
// behind the gateway get the user in headers and never see the session ID.
func removeCookie(r *http.Request, name string) {
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	var kept []string
	for _, c := range cookies {
		if c.Name != name {
			kept = append(kept, c.Name+"="+c.Value)
		}
	}
	if len(kept) > 0 {
		r.Header.Set("Cookie", strings.Join(kept, "; "))
	}
}
