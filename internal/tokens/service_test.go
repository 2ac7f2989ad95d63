package tokens_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/keyring"
	"github.com/tetherlb/tether/internal/tokens"
	"github.com/tetherlb/tether/token"
)

func TestLoginIssuesAccessIDAndRefreshTokens(t *testing.T) {
	h := newHarness(t)
	r := h.login("")
	if r.str("token_type") != "Bearer" || r.body["expires_in"] != float64(600) || r.str("scope") != "orders:read orders:write" {
		t.Errorf("login answer = %s", r.raw)
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
		t.Errorf("login answer may be cached: Cache-Control %q, Pragma %q", r.header.Get("Cache-Control"), r.header.Get("Pragma"))
	}
	ctx := context.Background()

	c, err := h.verifier("at+jwt").Verify(ctx, r.str("access_token"))
	if err != nil {
		t.Fatalf("access token does not verify with the token package: %v", err)
	}
	if c.Subject != h.alice.ID || !slices.Equal(c.Audience, []string{"api"}) || c.TokenUse != "access" ||
		c.TenantID != "acme" || !slices.Equal(c.Roles, []string{"admin", "buyer"}) || c.ClientID != tokens.ClientID ||
		c.ID == "" || len(c.SessionID) != 64 || !c.HasScope("orders:write") {
		t.Errorf("access claims = %+v", c)
	}
	if got := c.Expiry.Sub(c.IssuedAt); got != 10*time.Minute {
		t.Errorf("access token lives %v, want the configured 10m", got)
	}
	if c.Raw["username"] != "alice" || c.Raw["email"] != nil {
		t.Errorf("access token carries identity claims it should not: %v", c.Raw)
	}

	id, err := h.verifier("JWT").Verify(ctx, r.str("id_token"))
	if err != nil {
		t.Fatalf("ID token does not verify: %v", err)
	}
	if id.TokenUse != "id" || id.Raw["email"] != "alice@example.com" || id.Raw["name"] != "Alice" ||
		id.Raw["preferred_username"] != "alice" || id.Raw["custom:plan"] != "gold" || id.SessionID != c.SessionID {
		t.Errorf("ID claims = %v", id.Raw)
	}
	// Explicit typing keeps each token out of the other's place
	// (RFC 8725 §3.11).
	if _, err := h.verifier("at+jwt").Verify(ctx, r.str("id_token")); err == nil {
		t.Error("the ID token passes as an access token")
	}
	if _, err := h.verifier("JWT").Verify(ctx, r.str("access_token")); err == nil {
		t.Error("the access token passes as an ID token")
	}

	rt := r.str("refresh_token")
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{64}$`).MatchString(rt) {
		t.Errorf("refresh token %q is not 64 base64url characters (48 random bytes)", rt)
	}
	stored, err := h.refresh.ListUser(ctx, tokens.FamilyTenant, h.alice.ID)
	if err != nil || len(stored) != 1 {
		t.Fatalf("refresh store holds %d families (%v), want 1", len(stored), err)
	}
	if strings.Contains(string(stored[0].Value), rt) || strings.Contains(stored[0].ID, rt[:22]) {
		t.Error("the refresh store holds the refresh token itself, not only its hash")
	}
	for _, tok := range []string{rt, r.str("access_token"), password} {
		if strings.Contains(h.logs.String(), tok) {
			t.Errorf("the log holds a secret: %.12s…", tok)
		}
	}
	if got := h.metric("tether_tokens_issued_total", map[string]string{"kind": "refresh"}); got != 1 {
		t.Errorf("tether_tokens_issued_total{kind=refresh} = %v, want 1", got)
	}
}

func TestLoginAudienceAndScope(t *testing.T) {
	h := newHarness(t)
	r := h.login(`,"audience":"admin","scope":"orders:read orders:read"`)
	c := claimsOf(t, r.str("access_token"))
	if c["aud"] != "admin" || c["scope"] != "orders:read" {
		t.Errorf("aud %v, scope %v; want admin and orders:read once", c["aud"], c["scope"])
	}
	for _, tc := range []struct{ extra, code string }{
		{`,"audience":"billing"`, "invalid_target"},
		{`,"scope":"orders:delete"`, "invalid_scope"},
	} {
		r := h.postJSON("/api/v1/login", `{"username":"alice","password":"`+password+`"`+tc.extra+`}`)
		if r.status != http.StatusBadRequest || r.str("error") != tc.code {
			t.Errorf("login with %s: %d %s, want 400 %s", tc.extra, r.status, r.raw, tc.code)
		}
	}
}

func TestLoginRefusals(t *testing.T) {
	h := newHarness(t)
	h.addUser("bob", nil)
	ctx := context.Background()
	bob, _, _ := h.users.GetByUsername(ctx, "bob")
	if _, _, err := h.users.SetDisabled(ctx, bob.ID, true); err != nil {
		t.Fatal(err)
	}
	wrong := h.postJSON("/api/v1/login", `{"username":"alice","password":"wrong password"}`)
	unknown := h.postJSON("/api/v1/login", `{"username":"nobody","password":"wrong password"}`)
	disabled := h.postJSON("/api/v1/login", `{"username":"bob","password":"`+password+`"}`)
	for name, r := range map[string]response{"wrong password": wrong, "unknown user": unknown, "disabled user": disabled} {
		if r.status != http.StatusUnauthorized || r.str("error") != "invalid_grant" || r.str("access_token") != "" {
			t.Errorf("%s: %d %s, want 401 invalid_grant", name, r.status, r.raw)
		}
	}
	if string(wrong.raw) != string(unknown.raw) || string(wrong.raw) != string(disabled.raw) {
		t.Errorf("the answers tell the cases apart:\n%s\n%s\n%s", wrong.raw, unknown.raw, disabled.raw)
	}
	// The account locks after 5 failures (the default), with Retry-After.
	var last response
	for range 5 {
		last = h.postJSON("/api/v1/login", `{"username":"alice","password":"wrong password"}`)
	}
	if last.status != http.StatusTooManyRequests || last.str("error") != "too_many_requests" || last.header.Get("Retry-After") == "" {
		t.Errorf("6th failure: %d %s (Retry-After %q), want 429 with Retry-After", last.status, last.raw, last.header.Get("Retry-After"))
	}
	if r := h.postJSON("/api/v1/login", `{"username":"alice","password":"`+password+`"}`); r.status != http.StatusTooManyRequests {
		t.Errorf("the right password during the lockout: %d, want 429", r.status)
	}
	if got := h.metric("tether_tokens_requests_total", map[string]string{"endpoint": "login", "result": "too_many_requests"}); got < 1 {
		t.Errorf("rate-limited logins are not counted")
	}
}

func TestBadRequestsGetOAuthErrors(t *testing.T) {
	h := newHarness(t)
	big := `{"username":"alice","password":"` + strings.Repeat("x", 20<<10) + `"}`
	for _, tc := range []struct {
		name, method, path, ctype, body string
		status                          int
		code                            string
	}{
		{"malformed JSON", "POST", "/api/v1/login", "application/json", `{"username":`, 400, "invalid_request"},
		{"unknown field", "POST", "/api/v1/login", "application/json", `{"username":"a","password":"b","admin":true}`, 400, "invalid_request"},
		{"wrong type", "POST", "/api/v1/login", "application/json", `{"username":1,"password":"b"}`, 400, "invalid_request"},
		{"trailing data", "POST", "/api/v1/login", "application/json", `{"username":"a","password":"b"}{}`, 400, "invalid_request"},
		// encoding/json alone keeps the last of two usernames, and fills
		// username from "Username": a proxy or a log reader may see another.
		{"duplicate key", "POST", "/api/v1/login", "application/json", `{"username":"mallory","password":"b","username":"alice"}`, 400, "invalid_request"},
		{"key in another case", "POST", "/api/v1/login", "application/json", `{"Username":"alice","password":"b"}`, 400, "invalid_request"},
		{"oversized body", "POST", "/api/v1/login", "application/json", big, 400, "invalid_request"},
		{"form to login", "POST", "/api/v1/login", "application/x-www-form-urlencoded", "username=a&password=b", 400, "invalid_request"},
		{"missing password", "POST", "/api/v1/login", "application/json", `{"username":"alice"}`, 400, "invalid_request"},
		{"GET login", "GET", "/api/v1/login", "", "", 405, "method_not_allowed"},
		{"no grant type", "POST", "/oauth2/token", "application/x-www-form-urlencoded", "refresh_token=x", 400, "invalid_request"},
		{"password grant", "POST", "/oauth2/token", "application/x-www-form-urlencoded", "grant_type=password&username=a&password=b", 400, "unsupported_grant_type"},
		{"client credentials", "POST", "/oauth2/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", 400, "unsupported_grant_type"},
		{"no refresh token", "POST", "/oauth2/token", "application/x-www-form-urlencoded", "grant_type=refresh_token", 400, "invalid_request"},
		{"repeated parameter", "POST", "/oauth2/token", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=a&refresh_token=b", 400, "invalid_request"},
		{"JSON to token", "POST", "/oauth2/token", "application/json", `{"grant_type":"refresh_token"}`, 400, "invalid_request"},
		{"bad form", "POST", "/oauth2/token", "application/x-www-form-urlencoded", "grant_type=%zz", 400, "invalid_request"},
		{"garbage refresh token", "POST", "/oauth2/token", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=%00%01", 400, "invalid_grant"},
		{"revoke without token", "POST", "/oauth2/revoke", "application/x-www-form-urlencoded", "token_type_hint=refresh_token", 400, "invalid_request"},
		{"unknown path", "GET", "/oauth2/authorize", "", "", 404, "not_found"},
		{"POST jwks", "POST", "/.well-known/jwks.json", "application/json", "{}", 405, "method_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, h.url+tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			r := h.do(req)
			if r.status != tc.status || r.str("error") != tc.code || r.str("error_description") == "" {
				t.Errorf("%d %s, want %d with error %q and a description", r.status, r.raw, tc.status, tc.code)
			}
			if strings.Contains(string(r.raw), "xxxxxxxx") {
				t.Error("the error echoes the request body")
			}
		})
	}
	if got := h.metric("tether_tokens_requests_total", map[string]string{"endpoint": "token", "result": "unsupported_grant_type"}); got != 2 {
		t.Errorf("unsupported_grant_type counted %v times, want 2", got)
	}
}

func TestRefreshRotatesAndDetectsReplay(t *testing.T) {
	h := newHarness(t)
	first := h.login("")
	rt1 := first.str("refresh_token")
	r2 := h.refreshWith(rt1)
	if r2.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r2.status, r2.raw)
	}
	rt2 := r2.str("refresh_token")
	if rt2 == rt1 || rt2 == "" || rt2[:21] != rt1[:21] {
		t.Errorf("refresh did not rotate within the family: %q → %q", rt1, rt2)
	}
	c1, c2 := claimsOf(t, first.str("access_token")), claimsOf(t, r2.str("access_token"))
	if c1["sid"] != c2["sid"] || c2["auth_time"].(json.Number) != c1["auth_time"].(json.Number) || c2["jti"] == c1["jti"] {
		t.Errorf("refreshed access token: sid %v/%v, auth_time %v/%v, jti %v/%v", c1["sid"], c2["sid"], c1["auth_time"], c2["auth_time"], c1["jti"], c2["jti"])
	}
	h.clk.Advance(time.Minute)
	r3 := h.refreshWith(rt2)
	if r3.status != http.StatusOK {
		t.Fatalf("second refresh: %d %s", r3.status, r3.raw)
	}
	rt3 := r3.str("refresh_token")

	// rt1 was rotated out two uses ago: a replay. The family goes, so the
	// legitimate holder of rt3 must log in again too.
	if r := h.refreshWith(rt1); r.status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
		t.Fatalf("replayed refresh token: %d %s, want 400 invalid_grant", r.status, r.raw)
	}
	if r := h.refreshWith(rt3); r.status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
		t.Errorf("the family's newest token still works after a replay: %d %s", r.status, r.raw)
	}
	if got := h.metric("tether_tokens_refresh_replays_total", nil); got != 1 {
		t.Errorf("tether_tokens_refresh_replays_total = %v, want 1", got)
	}
	// The login's access tokens stop at the authorizer too, the thief's
	// fresh one included.
	if sid := c2["sid"].(string); !h.svc.SessionRevoked(h.url, h.alice.ID, sid) {
		t.Error("after a replay, the login's access tokens are not named by SessionRevoked")
	}
	// And one of them cannot log the user out everywhere.
	if r := h.postJSON("/api/v1/logout", `{"everywhere":true}`, "Authorization", "Bearer "+r3.str("access_token")); r.status != http.StatusUnauthorized {
		t.Errorf("logout with an access token of the revoked login: %d %s, want 401", r.status, r.raw)
	}
	if !strings.Contains(h.logs.String(), "refresh token replayed") || strings.Contains(h.logs.String(), rt1) {
		t.Errorf("the replay is not logged, or the log holds the token:\n%s", h.logs.String())
	}
	// A token of a made-up family is only invalid.
	if r := h.refreshWith(strings.Repeat("A", 64)); r.status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
		t.Errorf("unknown refresh token: %d %s", r.status, r.raw)
	}
}

func TestRefreshReuseGraceForConcurrentRetries(t *testing.T) {
	h := newHarness(t)
	rt1 := h.login("").str("refresh_token")
	// Two tabs send the same refresh token at once: both get tokens.
	var wg sync.WaitGroup
	results := make([]response, 2)
	for i := range results {
		wg.Go(func() { results[i] = h.refreshWith(rt1) })
	}
	wg.Wait()
	for i, r := range results {
		if r.status != http.StatusOK {
			t.Fatalf("concurrent refresh %d: %d %s", i, r.status, r.raw)
		}
	}
	a, b := results[0].str("refresh_token"), results[1].str("refresh_token")
	if a == b {
		t.Fatal("both concurrent refreshes got the same refresh token")
	}
	// Each sibling works once.
	if r := h.refreshWith(b); r.status != http.StatusOK {
		t.Fatalf("refresh with the second sibling: %d %s", r.status, r.raw)
	}
	// Outside the grace (5s), rt1 again is a replay.
	h.clk.Advance(6 * time.Second)
	if r := h.refreshWith(rt1); r.status != http.StatusBadRequest {
		t.Errorf("the original token after the grace: %d, want 400", r.status)
	}
}

func TestRefreshGraceZeroMeansNoRetry(t *testing.T) {
	h := newHarness(t, withYAML("  refresh: {reuse_grace: 0s}\n"))
	rt1 := h.login("").str("refresh_token")
	if r := h.refreshWith(rt1); r.status != http.StatusOK {
		t.Fatal(r.status)
	}
	if r := h.refreshWith(rt1); r.status != http.StatusBadRequest {
		t.Errorf("reuse with reuse_grace 0s: %d, want 400", r.status)
	}
}

func TestRefreshLifetimes(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		h := newHarness(t, withYAML("  refresh: {idle_ttl: 2h, absolute_ttl: 24h}\n"))
		rt := h.login("").str("refresh_token")
		h.clk.Advance(119 * time.Minute)
		r := h.refreshWith(rt)
		if r.status != http.StatusOK {
			t.Fatalf("refresh within idle_ttl: %d %s", r.status, r.raw)
		}
		h.clk.Advance(2*time.Hour + time.Second)
		if r := h.refreshWith(r.str("refresh_token")); r.status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
			t.Errorf("refresh after idle_ttl unused: %d %s", r.status, r.raw)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		h := newHarness(t, withYAML("  refresh: {idle_ttl: 2h, absolute_ttl: 5h}\n"))
		rt := h.login("").str("refresh_token")
		for i := range 4 {
			h.clk.Advance(80 * time.Minute)
			r := h.refreshWith(rt)
			if i < 3 && r.status != http.StatusOK {
				t.Fatalf("refresh %d (at %v): %d %s", i, time.Duration(i+1)*80*time.Minute, r.status, r.raw)
			}
			if i == 3 {
				if r.status != http.StatusBadRequest {
					t.Errorf("refresh past absolute_ttl (at 5h20m): %d, want 400", r.status)
				}
				return
			}
			rt = r.str("refresh_token")
		}
	})
}

func TestRefreshRefusedForDisabledUserAndChangedPassword(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	login := h.login("")
	rt := login.str("refresh_token")
	h.clk.Advance(2 * time.Second)
	if _, _, err := h.users.SetDisabled(ctx, h.alice.ID, true); err != nil {
		t.Fatal(err)
	}
	if r := h.refreshWith(rt); r.status != http.StatusBadRequest {
		t.Fatalf("refresh of a disabled user: %d", r.status)
	}
	// Found out at the refresh: the user's access tokens stop at the
	// authorizer from then on.
	iat, _ := claimsOf(t, login.str("access_token"))["iat"].(json.Number).Int64()
	if nb, _ := h.svc.NotBefore(ctx, h.url, h.alice.ID); nb.IsZero() || !time.Unix(iat, 0).Before(nb) {
		t.Errorf("after a refresh found the user disabled, NotBefore is %v: the user's access tokens still pass", nb)
	}
	h.users.SetDisabled(ctx, h.alice.ID, false)
	if r := h.refreshWith(rt); r.status != http.StatusBadRequest {
		t.Errorf("the family survived the user's disabling: %d", r.status)
	}

	rt = h.login("").str("refresh_token")
	h.clk.Advance(2 * time.Second)
	hash, _ := usersHash(t)
	if _, _, err := h.users.SetPassword(ctx, h.alice.ID, hash); err != nil {
		t.Fatal(err)
	}
	if r := h.refreshWith(rt); r.status != http.StatusBadRequest {
		t.Errorf("refresh after a password change: %d, want 400", r.status)
	}
	if got := h.metric("tether_tokens_revocations_total", map[string]string{"cause": "user"}); got != 2 {
		t.Errorf("tether_tokens_revocations_total{cause=user} = %v, want 2", got)
	}
}

func TestRevocationRFC7009(t *testing.T) {
	h := newHarness(t)
	first := h.login("")
	rt := first.str("refresh_token")
	if r := h.postForm("/oauth2/revoke", url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}}); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	if r := h.refreshWith(rt); r.status != http.StatusBadRequest {
		t.Errorf("refresh after revoke: %d", r.status)
	}
	if !h.svc.SessionRevoked(h.url, h.alice.ID, claimsOf(t, first.str("access_token"))["sid"].(string)) {
		t.Error("the revoked login's access tokens are not named by SessionRevoked")
	}
	// Invalid tokens get 200 too (RFC 7009 §2.2), and revoke nothing.
	other := h.login("")
	ort := other.str("refresh_token")
	wrong := ort[:63] + "x" // the validator's last character changed
	if ort[63] == 'x' {
		wrong = ort[:63] + "y"
	}
	for _, tok := range []string{"garbage", rt, wrong, strings.Repeat("A", 64)} {
		if r := h.postForm("/oauth2/revoke", url.Values{"token": {tok}}); r.status != http.StatusOK {
			t.Errorf("revoke %q: %d, want 200", tok, r.status)
		}
	}
	if r := h.refreshWith(ort); r.status != http.StatusOK {
		t.Fatalf("a wrong validator revoked the family through the revocation endpoint: %d", r.status)
	}
	// An access token revokes the family it came from.
	third := h.login("")
	if r := h.postForm("/oauth2/revoke", url.Values{"token": {third.str("access_token")}, "token_type_hint": {"access_token"}}); r.status != http.StatusOK {
		t.Fatal(r.status)
	}
	if r := h.refreshWith(third.str("refresh_token")); r.status != http.StatusBadRequest {
		t.Errorf("refresh after revoking its access token: %d, want 400", r.status)
	}
}

func TestLogoutOneDeviceAndEverywhere(t *testing.T) {
	h := newHarness(t)
	phone, laptop := h.login(""), h.login("")
	v := h.verifier("at+jwt")
	ctx := context.Background()

	r := h.postJSON("/api/v1/logout", `{}`, "Authorization", "Bearer "+phone.str("access_token"))
	if r.status != http.StatusOK || r.body["revoked_families"] != float64(1) {
		t.Fatalf("logout: %d %s", r.status, r.raw)
	}
	if r := h.refreshWith(phone.str("refresh_token")); r.status != http.StatusBadRequest {
		t.Errorf("the phone's refresh token survived its logout: %d", r.status)
	}
	sidOf := func(r response) string { return claimsOf(t, r.str("access_token"))["sid"].(string) }
	if !h.svc.SessionRevoked(h.url, h.alice.ID, sidOf(phone)) || h.svc.SessionRevoked(h.url, h.alice.ID, sidOf(laptop)) {
		t.Error("after the phone's logout, SessionRevoked does not name the phone's login alone")
	}
	if r := h.refreshWith(laptop.str("refresh_token")); r.status != http.StatusOK {
		t.Fatalf("logging out the phone logged out the laptop: %d", r.status)
	} else {
		laptop.body["refresh_token"] = r.body["refresh_token"]
	}

	h.clk.Advance(time.Second)
	r = h.postJSON("/api/v1/logout", `{"everywhere":true}`, "Authorization", "Bearer "+laptop.str("access_token"))
	if r.status != http.StatusOK || r.body["everywhere"] != true {
		t.Fatalf("logout everywhere: %d %s", r.status, r.raw)
	}
	if r := h.refreshWith(laptop.str("refresh_token")); r.status != http.StatusBadRequest {
		t.Errorf("refresh after logout everywhere: %d", r.status)
	}
	// Access tokens already issued stop at once, before they expire.
	for name, tok := range map[string]string{"phone": phone.str("access_token"), "laptop": laptop.str("access_token")} {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, token.ErrRevoked) {
			t.Errorf("%s's access token after logout everywhere: %v, want ErrRevoked", name, err)
		}
	}
	// A login right after (same second) works.
	h.clk.Advance(time.Millisecond)
	fresh := h.login("")
	if _, err := v.Verify(ctx, fresh.str("access_token")); err != nil {
		t.Errorf("a login just after logout everywhere is refused: %v", err)
	}
	// The logins the logout revoked are named by sid, for the tokens
	// issued in its own second, which iat cannot tell apart.
	if !h.svc.SessionRevoked(h.url, h.alice.ID, sidOf(laptop)) {
		t.Error("SessionRevoked: the laptop's login, revoked by logout everywhere, is not named")
	}
	if h.svc.SessionRevoked(h.url, h.alice.ID, sidOf(fresh)) || h.svc.SessionRevoked("https://other", h.alice.ID, sidOf(laptop)) {
		t.Error("SessionRevoked names a login made after the logout, or answers for another issuer")
	}
	// Without a token, or with a bad one: 401 with a challenge.
	for _, auth := range []string{"", "Bearer nonsense", "Basic YTpi"} {
		r := h.postJSON("/api/v1/logout", `{}`, "Authorization", auth)
		if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("logout with Authorization %q: %d (WWW-Authenticate %q)", auth, r.status, r.header.Get("WWW-Authenticate"))
		}
	}
	if r := h.postJSON("/api/v1/logout", `{"everywhere":"yes"}`, "Authorization", "Bearer "+fresh.str("access_token")); r.status != http.StatusBadRequest {
		t.Errorf("logout with a bad body: %d, want 400", r.status)
	}
}

func TestJWKSAndKeyRotation(t *testing.T) {
	ring := rsaRing(t)
	h := newHarness(t, withRing(ring))
	r := h.get("/.well-known/jwks.json")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/jwk-set+json" ||
		r.header.Get("Cache-Control") != "public, max-age=300" || r.header.Get("ETag") == "" {
		t.Fatalf("JWKS answer: %d %v", r.status, r.header)
	}
	oldKid := ring.ActiveID() + "-rs256"
	if got := kids(t, r); !slices.Equal(got, []string{oldKid}) {
		t.Errorf("JWKS kids = %v, want [%s]", got, oldKid)
	}
	if strings.Contains(string(r.raw), `"d"`) || strings.Contains(string(r.raw), `"p"`) {
		t.Fatal("the JWKS holds private key material")
	}
	for _, inm := range []string{r.header.Get("ETag"), "W/" + r.header.Get("ETag"), `"other", ` + r.header.Get("ETag"), "*"} {
		if r2 := h.get("/.well-known/jwks.json", "If-None-Match", inm); r2.status != http.StatusNotModified {
			t.Errorf("JWKS with If-None-Match %s: %d, want 304 (weak comparison, RFC 9110 §13.1.2)", inm, r2.status)
		}
	}
	if r2 := h.get("/.well-known/jwks.json", "If-None-Match", r.header.Get("ETag")); r2.status != http.StatusNotModified {
		t.Errorf("JWKS with a matching If-None-Match: %d, want 304", r2.status)
	}
	before := h.login("")
	v := h.verifier("at+jwt")

	rotated, err := ring.Rotate(start.Add(time.Minute))
	if err == nil {
		rotated, err = rotated.WithActiveRSA()
	}
	if err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(time.Minute)
	if err := h.svc.SetRing(rotated); err != nil {
		t.Fatal(err)
	}
	newKid := rotated.ActiveID() + "-rs256"
	if got := kids(t, h.get("/.well-known/jwks.json")); !slices.Equal(got, []string{newKid, oldKid}) {
		t.Errorf("JWKS after rotation = %v, want [%s %s]", got, newKid, oldKid)
	}
	after := h.login("")
	if claimsKid(t, after.str("access_token")) != newKid {
		t.Errorf("new tokens are not signed with the new key")
	}
	h.clk.Advance(5 * time.Minute)
	for name, tok := range map[string]string{"before": before.str("access_token"), "after": after.str("access_token")} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("token signed %s the rotation: %v", name, err)
		}
	}
	// After the last token of the old key has expired (10m + 1m leeway
	// after the rotation), the old key leaves the JWKS.
	h.clk.Advance(7 * time.Minute)
	if got := kids(t, h.get("/.well-known/jwks.json")); !slices.Equal(got, []string{newKid}) {
		t.Errorf("JWKS long after rotation = %v, want [%s]", got, newKid)
	}
}

// TestKeyDroppedAfterLeak: after tether keys rotate -drop-old and a
// reload, the JWKS holds the new key alone, and a token the old key signed
// (a forgery made with a leaked key is one) no longer verifies, while the
// login's refresh token still gets new tokens.
func TestKeyDroppedAfterLeak(t *testing.T) {
	ring := rsaRing(t)
	h := newHarness(t, withRing(ring))
	before := h.login("")
	// A logout before the drop: the service's own verifier has the old
	// key set in its cache. probes are more tokens of the old key.
	if r := h.postJSON("/api/v1/logout", `{}`, "Authorization", "Bearer "+h.login("").str("access_token")); r.status != http.StatusOK {
		t.Fatalf("logout before the drop: %d %s", r.status, r.raw)
	}
	var probes []string
	for range 10 {
		probes = append(probes, h.login("").str("access_token"))
	}
	rotated, err := ring.Rotate(start.Add(time.Minute))
	if err == nil {
		rotated, err = rotated.WithActiveRSA()
	}
	if err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(time.Minute)
	if err := h.svc.SetRing(rotated.WithoutPrevious()); err != nil {
		t.Fatal(err)
	}
	newKid := rotated.ActiveID() + "-rs256"
	if got := kids(t, h.get("/.well-known/jwks.json")); !slices.Equal(got, []string{newKid}) {
		t.Errorf("JWKS after dropping the old key = %v, want [%s]", got, newKid)
	}
	v := h.verifier("at+jwt")
	if _, err := v.Verify(context.Background(), before.str("access_token")); err == nil {
		t.Error("a token signed with the dropped key still verifies")
	}
	// The service's own verifier (logout) rereads the key set within 10 s
	// (the first request after that starts the fetch, in the background):
	// a forgery made with the leaked key stops being taken there too,
	// where it stayed good for the default 15 minutes.
	h.clk.Advance(11 * time.Second)
	refused := false
	for _, p := range probes {
		if r := h.postJSON("/api/v1/logout", `{}`, "Authorization", "Bearer "+p); r.status == http.StatusUnauthorized {
			refused = true
			break
		}
		time.Sleep(100 * time.Millisecond) // the fetch is in-process: far shorter
	}
	if !refused {
		t.Errorf("logout still takes tokens of the dropped key 11 s after the drop, after %d tries", len(probes))
	}
	r := h.refreshWith(before.str("refresh_token"))
	if r.status != http.StatusOK {
		t.Fatalf("refresh after the drop: %d %s", r.status, r.raw)
	}
	if _, err := v.Verify(context.Background(), r.str("access_token")); err != nil || claimsKid(t, r.str("access_token")) != newKid {
		t.Errorf("the refreshed token: %v, kid %s; want it signed with %s", err, claimsKid(t, r.str("access_token")), newKid)
	}
}

func TestSigningAlgorithms(t *testing.T) {
	ring, err := keyring.Generate(start) // no RSA key: ES256 and EdDSA derive theirs
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			a := newHarness(t, withRing(ring), withYAML("  signing: {alg: "+alg+"}\n"))
			b := newHarness(t, withRing(ring), withYAML("  signing: {alg: "+alg+"}\n"))
			ja, jb := a.get("/.well-known/jwks.json"), b.get("/.well-known/jwks.json")
			if string(ja.raw) != string(jb.raw) {
				t.Errorf("two replicas with one key ring publish different keys:\n%s\n%s", ja.raw, jb.raw)
			}
			if got := kids(t, ja); !slices.Equal(got, []string{ring.ActiveID() + "-" + strings.ToLower(alg)}) {
				t.Errorf("kids = %v", got)
			}
			tok := a.login("").str("access_token")
			if hdr := headerOf(t, tok); hdr["alg"] != alg || hdr["typ"] != "at+jwt" {
				t.Errorf("header = %v", hdr)
			}
			if _, err := a.verifier("at+jwt").Verify(context.Background(), tok); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
	t.Run("RS256 without an RSA key", func(t *testing.T) {
		cfg := tokensConfig(t, "")
		_, err := tokens.New(tokens.Options{Config: cfg.Tokens, Ring: ring})
		if err == nil || !strings.Contains(err.Error(), "tether keys rotate") {
			t.Errorf("New = %v, want an error that says to run tether keys rotate", err)
		}
	})
}

func TestDiscoveryDocument(t *testing.T) {
	h := newHarness(t)
	r := h.get("/.well-known/openid-configuration")
	if r.status != http.StatusOK {
		t.Fatal(r.status)
	}
	want := map[string]any{
		"issuer": h.url, "jwks_uri": h.url + "/.well-known/jwks.json", "token_endpoint": h.url + "/oauth2/token",
		"revocation_endpoint": h.url + "/oauth2/revoke",
	}
	for k, v := range want {
		if r.body[k] != v {
			t.Errorf("%s = %v, want %v", k, r.body[k], v)
		}
	}
	if algs, _ := r.body["id_token_signing_alg_values_supported"].([]any); len(algs) != 1 || algs[0] != "RS256" {
		t.Errorf("id_token_signing_alg_values_supported = %v", r.body["id_token_signing_alg_values_supported"])
	}
}

func TestTrustedProxiesForRateLimits(t *testing.T) {
	const limits = "  login: {account_failures: 1000, ip_failures: 2}\n"
	fail := func(h *harness, xff string) int {
		return h.postJSON("/api/v1/login", `{"username":"alice","password":"wrong password"}`, "X-Forwarded-For", xff).status
	}
	t.Run("trusted", func(t *testing.T) {
		h := newHarness(t, withYAML(limits+"  trusted_proxies: [127.0.0.1]\n"))
		fail(h, "203.0.113.7")
		fail(h, "203.0.113.7")
		if got := fail(h, "203.0.113.7"); got != http.StatusTooManyRequests {
			t.Errorf("3rd failure from one forwarded address: %d, want 429", got)
		}
		if got := fail(h, "198.51.100.9"); got != http.StatusUnauthorized {
			t.Errorf("another forwarded address is locked out with it: %d, want 401", got)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		h := newHarness(t, withYAML(limits))
		fail(h, "203.0.113.7")
		fail(h, "198.51.100.9")
		if got := fail(h, "192.0.2.1"); got != http.StatusTooManyRequests {
			t.Errorf("a forged X-Forwarded-For escaped the address limit: %d, want 429", got)
		}
	})
}
