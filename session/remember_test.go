package session_test

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tetherlb/tether/session"
)

func rememberCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, sc := range resp.Header.Values("Set-Cookie") {
		if ck, err := http.ParseSetCookie(sc); err == nil && ck.Name == "__Host-remember" {
			return ck
		}
	}
	return nil
}

func TestRememberMe(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	resp, _ := e.get(c, "/login?user=alice&remember=1")
	ck := rememberCookie(t, resp)
	if ck == nil || !ck.HttpOnly || !ck.Secure || ck.MaxAge <= 0 || ck.MaxAge > 30*24*3600 {
		t.Fatalf("remember-me cookie = %+v; want HttpOnly, Secure, persistent for at most 30 days", ck)
	}
	first := e.sid(c, "__Host-remember")

	// The session ends (the browser was closed for an hour).
	e.clock.Advance(time.Hour)
	u, _ := url.Parse(e.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-sid", Value: "", MaxAge: -1, Path: "/"}})
	var st session.Info
	decode(t, e.body(c, "/status"), &st)
	if st.UserID != "alice" || !st.Remembered || st.AuthMethod != "remember" {
		t.Fatalf("status after a remembered return = %+v; want alice, remembered (lower assurance)", st)
	}
	second := e.sid(c, "__Host-remember")
	if second == first || second == "" {
		t.Fatal("the remember-me validator was not rotated on use")
	}

	// The first cookie was copied by a thief, who uses it after the grace
	// window: every session of alice ends.
	e.clock.Advance(time.Minute)
	thief := e.withCookie("__Host-remember", first)
	if got := e.body(thief, "/status"); strings.Contains(got, "alice") {
		t.Fatalf("a replayed remember-me cookie logged the thief in: %s", got)
	}
	if !hasEvent(e.drain(), session.EventTheftDetected, "") {
		t.Error("no theft_detected event")
	}
	if got := e.body(c, "/status"); strings.Contains(got, "alice") {
		t.Error("after theft detection the victim's session is still alive")
	}
	// The rotated token is revoked too.
	if got := e.body(e.withCookie("__Host-remember", second), "/status"); strings.Contains(got, "alice") {
		t.Error("after theft detection the rotated remember-me token still works")
	}
}

func TestRememberMeLifetimeCap(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	e.body(c, "/login?user=alice&remember=1")
	token := e.sid(c, "__Host-remember")
	e.clock.Advance(31 * 24 * time.Hour)
	if got := e.body(e.withCookie("__Host-remember", token), "/status"); strings.Contains(got, "alice") {
		t.Fatal("a remember-me token outlived its 30-day cap")
	}
}

func TestLogoutRevokesRememberMe(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	e.body(c, "/login?user=alice&remember=1")
	token := e.sid(c, "__Host-remember")
	e.body(c, "/logout")
	if e.sid(c, "__Host-remember") != "" {
		t.Error("logout left the remember-me cookie in the browser")
	}
	if got := e.body(e.withCookie("__Host-remember", token), "/status"); strings.Contains(got, "alice") {
		t.Error("the remember-me token still works after logout")
	}
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := jsonUnmarshal(s, v); err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	token := e.body(c, "/csrf-token")
	post := func(c *http.Client, headers map[string]string, form string) int {
		req, _ := http.NewRequest("POST", e.srv.URL+"/transfer", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name    string
		headers map[string]string
		form    string
		want    int
	}{
		{"same-origin fetch", map[string]string{"Sec-Fetch-Site": "same-origin"}, "", 200},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, "", 403},
		{"same-site fetch", map[string]string{"Sec-Fetch-Site": "same-site"}, "", 403},
		{"own origin", map[string]string{"Origin": e.srv.URL}, "", 200},
		{"foreign origin", map[string]string{"Origin": "https://evil.example"}, "", 403},
		{"trusted origin", map[string]string{"Origin": "https://trusted.example"}, "", 200},
		{"no headers, no token", nil, "", 403},
		{"no headers, header token", map[string]string{"X-CSRF-Token": token}, "", 200},
		{"no headers, form token", nil, "csrf_token=" + url.QueryEscape(token), 200},
		{"no headers, forged token", map[string]string{"X-CSRF-Token": "static.AAAA"}, "", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := post(c, tt.headers, tt.form); got != tt.want {
				t.Errorf("POST = %d, want %d", got, tt.want)
			}
		})
	}
	// Another session's token does not work.
	other := e.browser()
	e.body(other, "/csrf-token")
	if got := post(other, map[string]string{"X-CSRF-Token": token}, ""); got != 403 {
		t.Errorf("a token of another session was accepted: %d", got)
	}
}

func TestBindingSignals(t *testing.T) {
	for _, policy := range []session.BindingPolicy{session.BindingLog, session.BindingRevoke} {
		t.Run(string(policy), func(t *testing.T) {
			e := newEnv(t, func(c *session.Config, o *session.Options) { c.Binding = policy })
			c := e.browser()
			e.body(c, "/login?user=alice")
			c.Transport = headerTransport{next: c.Transport, name: "User-Agent", value: "curl/8.0 (stolen cookie)"}
			got := e.body(c, "/status")
			evs := e.drain()
			if !hasEvent(evs, session.EventBindingMismatch, "user_agent") {
				t.Error("a changed User-Agent emitted no binding_mismatch event")
			}
			alive := strings.Contains(got, "alice")
			if policy == session.BindingLog && !alive {
				t.Error("policy log ended the session")
			}
			if policy == session.BindingRevoke && (alive || !hasEvent(evs, session.EventRevoked, "binding_user_agent")) {
				t.Error("policy revoke kept the session or emitted no revoked event")
			}
		})
	}
}

// A session created for a client (the session API, with what the app
// knows of the browser) records the signals it is given and no others:
// an absent User-Agent never mismatches, an address does. Anonymous
// sessions keep the signals but not the address and User-Agent
// themselves.
func TestCreateSessionForSignals(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	phone := netip.MustParseAddr("203.0.113.7")
	id, snap, err := e.m.CreateSessionFor(ctx, "", "alice", nil, session.Client{IP: phone})
	if err != nil {
		t.Fatal(err)
	}
	if snap.IP != "203.0.113.7" || snap.UserAgent != "" {
		t.Errorf("snapshot ip %q, user agent %q; want the address alone", snap.IP, snap.UserAgent)
	}
	lookup := func(c session.Client) []session.Event {
		t.Helper()
		if _, err := e.m.LookupCookie(ctx, "", id, c, false); err != nil {
			t.Fatal(err)
		}
		return e.drain()
	}
	if evs := lookup(session.Client{IP: netip.MustParseAddr("203.0.113.200"), UserAgent: "curl/8.0"}); hasEvent(evs, session.EventBindingMismatch, "ip") ||
		hasEvent(evs, session.EventBindingMismatch, "user_agent") {
		t.Error("the same /24 with a User-Agent the session never recorded is a mismatch")
	}
	if evs := lookup(session.Client{IP: netip.MustParseAddr("198.51.100.1")}); !hasEvent(evs, session.EventBindingMismatch, "ip") {
		t.Error("another network is no binding_mismatch ip event")
	}
	anon, snap, _ := e.m.CreateSessionFor(ctx, "", "", nil, session.Client{IP: phone, UserAgent: "Mozilla/5.0"})
	if snap.IP != "" || snap.UserAgent != "" {
		t.Errorf("an anonymous session keeps ip %q, user agent %q", snap.IP, snap.UserAgent)
	}
	if _, err := e.m.LookupCookie(ctx, "", anon, session.Client{IP: phone, UserAgent: "curl/8.0"}, false); err != nil {
		t.Fatal(err)
	}
	if !hasEvent(e.drain(), session.EventBindingMismatch, "user_agent") {
		t.Error("an anonymous session's User-Agent signal was not recorded")
	}
}

// twoKeys is a key ring in the middle of a rotation.
type twoKeys struct{ active string }

func (k twoKeys) ActiveID() string { return k.active }

func (twoKeys) Derive(purpose string) map[string][]byte {
	return map[string][]byte{
		"old": []byte(strings.Repeat("o", 32) + purpose),
		"new": []byte(strings.Repeat("n", 32) + purpose),
	}
}

func TestCSRFTokenSurvivesKeyRotation(t *testing.T) {
	e := newEnv(t, func(c *session.Config, o *session.Options) { o.Keys = twoKeys{active: "old"} })
	c := e.browser()
	token := e.body(c, "/csrf-token")
	if !strings.HasPrefix(token, "old.") {
		t.Fatalf("token %q is not signed with the active key", token)
	}
	e.m.SetKeys(twoKeys{active: "new"})
	if fresh := e.body(c, "/csrf-token"); !strings.HasPrefix(fresh, "new.") {
		t.Errorf("after the rotation a new token %q is not signed with the new key", fresh)
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/transfer", nil)
	req.Header.Set("X-CSRF-Token", token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("a token signed with the previous key was refused after the rotation: %d", resp.StatusCode)
	}
	// A key that left the ring no longer verifies.
	e.m.SetKeys(onlyNew{})
	resp, _ = c.Do(req.Clone(req.Context()))
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("a token of a key no longer in the ring was accepted: %d", resp.StatusCode)
	}
}

type onlyNew struct{}

func (onlyNew) ActiveID() string { return "new" }
func (onlyNew) Derive(purpose string) map[string][]byte {
	return map[string][]byte{"new": []byte(strings.Repeat("n", 32) + purpose)}
}
