package session_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/testsupport"
	"github.com/tetherlb/tether/session"
)

func TestCookieDefaults(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	resp, _ := e.get(c, "/put?cart=apple")
	sc := resp.Header.Values("Set-Cookie")
	if len(sc) != 1 {
		t.Fatalf("Set-Cookie = %q, want one session cookie", sc)
	}
	ck, err := http.ParseSetCookie(sc[0])
	if err != nil {
		t.Fatal(err)
	}
	if ck.Name != "__Host-sid" || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode ||
		ck.Path != "/" || ck.Domain != "" || ck.MaxAge != 0 || !ck.Expires.IsZero() {
		t.Errorf("session cookie = %q; want __Host-sid, HttpOnly, Secure, SameSite=Lax, Path=/, no Domain, no expiry", sc[0])
	}
	if raw, err := base64.RawURLEncoding.DecodeString(ck.Value); err != nil || len(raw) != 32 {
		t.Errorf("session ID %q is not 256 bits of base64url", ck.Value)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q on a response that sets the session cookie, want no-store", cc)
	}
	if got := e.body(c, "/get?k=cart"); got != "apple" {
		t.Errorf("the next request read cart = %q, want apple", got)
	}
}

func TestAnonymousVisitStoresNothing(t *testing.T) {
	e := newEnv(t)
	resp, _ := e.get(e.browser(), "/get?k=cart")
	if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Errorf("a request that stored nothing set cookies %q", sc)
	}
	if n := len(e.store.written); n != 0 {
		t.Errorf("a request that stored nothing wrote %d records", n)
	}
}

func TestStoreNeverSeesTheID(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	e.body(c, "/put?cart=apple")
	e.body(c, "/login?user=alice")
	e.body(c, "/put?cart=pear")
	raw := e.sid(c, "__Host-sid")
	if raw == "" {
		t.Fatal("no session cookie")
	}
	for _, w := range e.store.written {
		if strings.Contains(w.ID, raw) || bytes.Contains(w.Value, []byte(raw)) {
			t.Fatalf("the store was given the browser's session ID in %+v", w)
		}
	}
	if strings.Contains(e.logs.String(), raw) {
		t.Fatal("the log contains the raw session ID")
	}
}

func TestPutGetRemove(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	e.body(c, "/put?a=1&b=2")
	e.body(c, "/remove?k=a")
	if got := e.body(c, "/get?k=a"); got != "<none>" {
		t.Errorf("removed key a = %q", got)
	}
	if got := e.body(c, "/get?k=b"); got != "2" {
		t.Errorf("b = %q, want 2", got)
	}
}

func TestRenewKeepsDataAndKillsOldID(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	e.body(c, "/put?cart=apple")
	old := e.sid(c, "__Host-sid")
	resp, _ := e.get(c, "/renew")
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("the renewal response lacks Cache-Control: no-store")
	}
	renewed := e.sid(c, "__Host-sid")
	if renewed == old || renewed == "" {
		t.Fatalf("Renew kept the ID")
	}
	if got := e.body(c, "/get?k=cart"); got != "apple" {
		t.Errorf("after Renew cart = %q, want apple", got)
	}
	// An attacker who fixed the old ID gets nothing.
	if got := e.body(e.withCookie("__Host-sid", old), "/get?k=cart"); got != "<none>" {
		t.Errorf("the old ID still reads the session: cart = %q", got)
	}
}

func TestAuthenticate(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	e.body(c, "/put?cart=apple")
	pre := e.sid(c, "__Host-sid")
	e.clock.Advance(time.Minute)
	e.body(c, "/login?user=alice")
	if e.sid(c, "__Host-sid") == pre {
		t.Fatal("Authenticate did not renew the session ID")
	}
	var st session.Info
	json.Unmarshal([]byte(e.body(c, "/status")), &st)
	if st.UserID != "alice" || st.AuthMethod != "password" || !st.AuthTime.Equal(start.Add(time.Minute)) {
		t.Errorf("status after login = %+v; want user alice, method password, auth time %v", st, start.Add(time.Minute))
	}
	if got := e.body(c, "/get?k=cart"); got != "apple" {
		t.Errorf("the cart did not survive the login: %q", got)
	}
	if got := e.body(e.withCookie("__Host-sid", pre), "/status"); strings.Contains(got, "alice") {
		t.Error("the pre-login ID is authenticated as alice: session fixation")
	}
	if !hasEvent(e.drain(), session.EventAuthenticated, "password") {
		t.Error("no authenticated event")
	}
}

func TestIdleAndAbsoluteTimeouts(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	e.body(c, "/login?user=alice")
	e.body(c, "/put?cart=apple")
	// Activity every 20 minutes keeps the session past its 30-minute idle
	// timeout...
	for elapsed := time.Duration(0); elapsed < 11*time.Hour+40*time.Minute; elapsed += 20 * time.Minute {
		e.clock.Advance(20 * time.Minute)
		if got := e.body(c, "/get?k=cart"); got != "apple" {
			t.Fatalf("after %v of activity the session ended early: cart = %q", elapsed, got)
		}
	}
	// ...but not past its 12-hour absolute lifetime. (Within a minute of
	// the end the store still holds the record, so the Manager reports
	// the expiry; after that the ID is simply unknown.)
	e.clock.Advance(20*time.Minute + 10*time.Second)
	if got := e.body(c, "/get?k=cart"); got != "<none>" {
		t.Fatalf("the session outlived its absolute timeout: cart = %q", got)
	}
	if !hasEvent(e.drain(), session.EventExpired, "absolute") {
		t.Error("no expired/absolute event")
	}

	c2 := e.browser()
	e.body(c2, "/put?cart=pear")
	e.clock.Advance(30*time.Minute + 10*time.Second)
	if got := e.body(c2, "/get?k=cart"); got != "<none>" {
		t.Fatalf("a session idle for 30 minutes survived: cart = %q", got)
	}
	if !hasEvent(e.drain(), session.EventExpired, "idle") {
		t.Error("no expired/idle event")
	}
}

func TestUnchangedReadsDoNotWrite(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	e.body(c, "/put?cart=apple")
	before := len(e.store.written)
	for range 10 {
		e.body(c, "/get?k=cart")
	}
	if n := len(e.store.written) - before; n != 0 {
		t.Errorf("10 reads within the touch interval wrote %d times, want 0", n)
	}
	e.clock.Advance(2 * time.Minute)
	e.body(c, "/get?k=cart")
	if n := len(e.store.written) - before; n != 1 {
		t.Errorf("a read after the touch interval wrote %d times, want 1 (extending the idle deadline)", n)
	}
}

// blockingEnv adds a route that loads the session, waits for a signal,
// then puts a key: a slow request.
func slowPut(e *env) (release chan struct{}, loaded chan struct{}) {
	release, loaded = make(chan struct{}), make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.Handle("/", e.m.LoadAndSave(e.routes()))
	mux.Handle("GET /slow", e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		loaded <- struct{}{}
		<-release
		e.m.Put(r.Context(), "slow", "yes")
	})))
	e.srv.Config.Handler = mux
	return release, loaded
}

func TestConcurrentWritesMerge(t *testing.T) {
	e := newEnv(t)
	release, loaded := slowPut(e)
	c := e.browser()
	e.body(c, "/put?cart=apple")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); e.body(c, "/slow") }()
	<-loaded
	e.body(c, "/put?fast=yes") // commits while /slow holds version 1
	close(release)
	wg.Wait()
	for k, want := range map[string]string{"cart": "apple", "fast": "yes", "slow": "yes"} {
		if got := e.body(c, "/get?k="+k); got != want {
			t.Errorf("%s = %q, want %q: a concurrent write was lost", k, got, want)
		}
	}
}

func TestSlowRequestCannotReviveLoggedOutSession(t *testing.T) {
	for _, end := range []string{"/logout", "/renew"} {
		t.Run(end, func(t *testing.T) {
			e := newEnv(t)
			release, loaded := slowPut(e)
			c := e.browser()
			e.body(c, "/login?user=alice")
			old := e.sid(c, "__Host-sid")
			slow := e.withCookie("__Host-sid", old)
			done := make(chan struct{})
			go func() { defer close(done); e.body(slow, "/slow") }()
			<-loaded
			e.body(c, end)
			close(release)
			<-done
			if got := e.body(e.withCookie("__Host-sid", old), "/status"); strings.Contains(got, "alice") {
				t.Fatalf("after %s, a slow request brought the old session back: %s", end, got)
			}
		})
	}
}

func TestLogoutClearsCookie(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	e.body(c, "/login?user=alice")
	resp, _ := e.get(c, "/logout")
	var cleared bool
	for _, sc := range resp.Header.Values("Set-Cookie") {
		ck, _ := http.ParseSetCookie(sc)
		cleared = cleared || (ck.Name == "__Host-sid" && ck.MaxAge < 0)
	}
	if !cleared {
		t.Errorf("logout did not clear the cookie: %q", resp.Header.Values("Set-Cookie"))
	}
	if e.sid(c, "__Host-sid") != "" {
		t.Error("the browser still holds a session cookie after logout")
	}
	if !hasEvent(e.drain(), session.EventRevoked, "logout") {
		t.Error("no revoked/logout event")
	}
}

func TestBadCookiesGiveFreshSession(t *testing.T) {
	e := newEnv(t)
	for name, v := range map[string]string{
		"garbage":  "not-a-session",
		"oversize": strings.Repeat("A", 4000),
		"unknown":  base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
		"padding":  base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
		"dot":      strings.Repeat(".", 43),
	} {
		resp, body := e.get(e.withCookie("__Host-sid", v), "/get?k=cart")
		if resp.StatusCode != http.StatusOK || body != "<none>" {
			t.Errorf("%s cookie: %d %q, want 200 with an empty session", name, resp.StatusCode, body)
		}
	}
	if got := testsupport.Metric(t, e.reg, "tether_session_events_total", map[string]string{"event": "rejected"}); got < 4 {
		t.Errorf("rejected cookies counted %v, want at least 4", got)
	}
}

func TestStoreDownAnswers503(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	e.body(c, "/login?user=alice")
	e.store.down.Store(true)
	resp, _ := e.get(c, "/get?k=cart")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("with the store down: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for _, sc := range resp.Header.Values("Set-Cookie") {
		t.Errorf("the 503 touched cookies: %q", sc)
	}
	// A write while the store is down fails visibly instead of being lost.
	e.store.down.Store(false)
	e.body(c, "/get?k=cart")
	e.store.down.Store(true)
	resp, _ = e.get(c, "/put?cart=apple")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a write with the store down answered %d, want 503", resp.StatusCode)
	}
	e.store.down.Store(false)
	var st session.Info
	json.Unmarshal([]byte(e.body(c, "/status")), &st)
	if st.UserID != "alice" {
		t.Errorf("after the outage the user is %q, want alice still logged in", st.UserID)
	}
}

func TestCorruptRecordIsAbsentAndCounted(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	e.body(c, "/put?cart=apple")
	raw := e.sid(c, "__Host-sid")
	sum := sha256Hex(raw)
	got, ok, _ := e.store.Get(t.Context(), "", sum)
	if !ok {
		t.Fatal("the session is not stored under the SHA-256 of its ID")
	}
	got.Version++
	got.Value = []byte("b\x01garbage")
	if ok, err := e.store.Store.Update(t.Context(), got); !ok || err != nil {
		t.Fatal("corrupting the record failed")
	}
	if body := e.body(c, "/get?k=cart"); body != "<none>" {
		t.Errorf("a corrupt record was read: %q", body)
	}
	if n := testsupport.Metric(t, e.reg, "tether_session_events_total", map[string]string{"event": "corrupt"}); n != 1 {
		t.Errorf("corrupt records counted %v, want 1", n)
	}
}

func TestListAndRevokeUser(t *testing.T) {
	e := newEnv(t)
	phone, laptop, tablet := e.browser(), e.browser(), e.browser()
	for _, c := range []*http.Client{phone, laptop, tablet} {
		e.body(c, "/login?user=alice")
	}
	var list []session.Info
	json.Unmarshal([]byte(e.body(laptop, "/sessions")), &list)
	if len(list) != 3 {
		t.Fatalf("ListUser = %d sessions, want 3", len(list))
	}
	current := 0
	for _, s := range list {
		if s.Current {
			current++
		}
		if s.IP != "127.0.0.1" || s.UserAgent == "" || s.Created.IsZero() || len(s.Hash) != 32 {
			t.Errorf("session info %+v lacks IP, user agent, created time or hash", s)
		}
		if strings.Contains(e.sid(phone, "__Host-sid")+e.sid(laptop, "__Host-sid"), s.Hash) {
			t.Error("ListUser reveals a session ID")
		}
	}
	if current != 1 {
		t.Errorf("%d sessions marked current, want 1", current)
	}
	if n := e.body(laptop, "/revoke-others"); n != "2\n" {
		t.Errorf("revoking the other sessions ended %q, want 2", n)
	}
	for name, c := range map[string]*http.Client{"phone": phone, "tablet": tablet} {
		if strings.Contains(e.body(c, "/status"), "alice") {
			t.Errorf("the %s is still logged in after log-out-everywhere-else", name)
		}
	}
	if !strings.Contains(e.body(laptop, "/status"), "alice") {
		t.Error("log-out-everywhere-else logged out the current session")
	}
}

func TestTenantIsolation(t *testing.T) {
	e := newEnv(t, func(c *session.Config, o *session.Options) {
		o.Tenant = session.TenantByHeader("X-Tenant")
	})
	acme := e.browser()
	acme.Transport = headerTransport{next: acme.Transport, name: "X-Tenant", value: "acme-corp"}
	e.body(acme, "/login?user=1042&tenant=acme-corp")
	e.body(acme, "/put?employees=acme-list")
	stolen := e.sid(acme, "__Host-sid")

	// The incident: the same session cookie arrives for another tenant.
	beta := e.withCookie("__Host-sid", stolen)
	beta.Transport = headerTransport{next: beta.Transport, name: "X-Tenant", value: "betaco"}
	if got := e.body(beta, "/get?k=employees"); got != "<none>" {
		t.Fatalf("tenant betaco read acme-corp's session data: %q", got)
	}
	if got := e.body(beta, "/status"); strings.Contains(got, "1042") {
		t.Fatalf("tenant betaco accepted acme-corp's session: %s", got)
	}
	// Logging in to a tenant the request is not for is refused.
	resp, _ := e.get(beta, "/login?user=1042&tenant=acme-corp")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("Authenticate across tenants answered %d, want the handler's 403 from ErrTenantMismatch", resp.StatusCode)
	}
	// No tenant: 421, and the store is not asked.
	resp, _ = e.get(e.withCookie("__Host-sid", stolen), "/get?k=employees")
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("a request with no tenant answered %d, want 421", resp.StatusCode)
	}
	if got := e.body(acme, "/get?k=employees"); got != "acme-list" {
		t.Errorf("acme-corp lost its own session: %q", got)
	}
}

type headerTransport struct {
	next        http.RoundTripper
	name, value string
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.name, h.value)
	return h.next.RoundTrip(r)
}

func TestInsecureDevCookies(t *testing.T) {
	e := newEnv(t, func(c *session.Config, o *session.Options) { c.InsecureDevCookies = true })
	resp, _ := e.get(e.browser(), "/put?a=1")
	ck, err := http.ParseSetCookie(resp.Header.Get("Set-Cookie"))
	if err != nil || ck.Name != "sid" || ck.Secure || !ck.HttpOnly {
		t.Errorf("dev cookie = %q; want sid, not Secure, still HttpOnly", resp.Header.Get("Set-Cookie"))
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  session.Config
		want string
	}{
		{"zero value is valid", session.Config{}, ""},
		{"absolute shorter than idle", session.Config{IdleTimeout: time.Hour, AbsoluteTimeout: time.Minute}, "AbsoluteTimeout"},
		{"SameSite None", session.Config{SameSite: http.SameSiteNoneMode}, "SameSite"},
		{"bad cookie name", session.Config{CookieName: "a b"}, "CookieName"},
		{"same names", session.Config{CookieName: "x", RememberCookieName: "x"}, "must differ"},
		{"remember too long", session.Config{RememberLifetime: 500 * 24 * time.Hour}, "RememberLifetime"},
		{"bad policy", session.Config{Binding: "block"}, "Binding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
