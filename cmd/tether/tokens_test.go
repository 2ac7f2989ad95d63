package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tetherlb/tether/internal/testsupport"
)

// tokensConfig runs the token service and a JWT authorizer (local: true)
// on /api/*.
func tokensConfig(listen, admin, tokensAddr string, target *testsupport.Target) string {
	return fmt.Sprintf(`
admin: {address: %q}
keys: {file: tether-keys.json}
log: {level: warn, access: off}
tokens:
  address: %q
  users: {store: "file:users.json"}
  refresh: {store: "file:refresh.db"}
  audiences: [api]
  scopes: [orders:read]
listeners:
  - name: web
    address: %q
    default_target_group: app
    rules:
      - path: /api/*
        target_group: app
        authorizer: {type: jwt, local: true, audiences: [api], required_scopes: [orders:read], forward_claims: [scope]}
target_groups:
  - name: app
    targets:
      - {id: %s, address: %q}
`, admin, tokensAddr, listen, target.ID, target.Addr)
}

func postTokens(t *testing.T, u, ctype, body, bearer string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func apiGet(t *testing.T, u, bearer string) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// TestServeTokens runs the whole API path through tether serve: a user
// added with the CLI logs in at the token service, calls the API through
// the JWT authorizer, refreshes, and logs out everywhere, after which the
// gateway refuses the access token at once.
func TestServeTokens(t *testing.T) {
	dir := t.TempDir()
	listen, admin, tokensAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	target := testsupport.NewTarget(t, "t1")
	file := writeFile(t, dir, "tether.yaml", tokensConfig(listen, admin, tokensAddr, target))
	if code, _, stderr := runUsers(t, "correct horse battery staple\n", "add", "-c", file, "--username", "alice",
		"--password-stdin", "--tenant", "acme"); code != 0 {
		t.Fatalf("users add: %d %s", code, stderr)
	}
	s := startServe(t, file, listen, admin)
	defer s.stop(t)
	base := "http://" + tokensAddr

	code, login := postTokens(t, base+"/api/v1/login", "application/json", `{"username":"alice","password":"correct horse battery staple"}`, "")
	at, _ := login["access_token"].(string)
	rt, _ := login["refresh_token"].(string)
	if code != 200 || at == "" || rt == "" {
		t.Fatalf("login: %d %v", code, login)
	}
	if code, _ := apiGet(t, "http://"+listen+"/api/orders", at); code != 200 {
		t.Fatalf("API call with the access token: %d", code)
	}
	if h := target.LastRequest().Header; h.Get("X-Tether-Tenant") != "acme" || h.Get("X-Tether-User") == "" || h.Get("X-Tether-Claim-Scope") != "orders:read" {
		t.Errorf("target saw X-Tether-User %q, X-Tether-Tenant %q, X-Tether-Claim-Scope %q", h.Get("X-Tether-User"), h.Get("X-Tether-Tenant"), h.Get("X-Tether-Claim-Scope"))
	}
	hits := target.Requests.Load()
	if code, h := apiGet(t, "http://"+listen+"/api/orders", ""); code != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("API call without a token: %d %q, want 401 with a Bearer challenge", code, h.Get("WWW-Authenticate"))
	}
	if target.Requests.Load() != hits {
		t.Error("a request without a token reached the target")
	}

	// Logging out one device stops that device's token at the gateway at
	// once, and only that one.
	_, other := postTokens(t, base+"/api/v1/login", "application/json", `{"username":"alice","password":"correct horse battery staple"}`, "")
	phone, _ := other["access_token"].(string)
	if code, _ := postTokens(t, base+"/api/v1/logout", "application/json", "", phone); code != 200 {
		t.Fatalf("logout of one device: %d", code)
	}
	if code, _ := apiGet(t, "http://"+listen+"/api/orders", phone); code != 401 {
		t.Errorf("the logged-out device's token: %d, want 401", code)
	}
	if code, _ := apiGet(t, "http://"+listen+"/api/orders", at); code != 200 {
		t.Errorf("the other device's token after one device logged out: %d, want 200", code)
	}

	code, refreshed := postTokens(t, base+"/oauth2/token", "application/x-www-form-urlencoded",
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode(), "")
	at2, _ := refreshed["access_token"].(string)
	if code != 200 || at2 == "" || refreshed["refresh_token"] == rt {
		t.Fatalf("refresh: %d %v", code, refreshed)
	}
	if code, _ := postTokens(t, base+"/api/v1/logout", "application/json", `{"everywhere":true}`, at2); code != 200 {
		t.Fatalf("logout everywhere: %d", code)
	}
	for name, tok := range map[string]string{"first": at, "refreshed": at2} {
		if code, h := apiGet(t, "http://"+listen+"/api/orders", tok); code != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s access token after logout everywhere: %d %q, want 401 invalid_token", name, code, h.Get("WWW-Authenticate"))
		}
	}

	// The JWKS and the discovery document are served, and the key ring
	// tether created has the RSA key RS256 needs.
	resp, err := http.Get(base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc map[string]any
	json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if disc["issuer"] != base || disc["jwks_uri"] != base+"/.well-known/jwks.json" {
		t.Errorf("discovery = %v", disc)
	}
	_, body := httpGet(t, "http://"+admin+"/metrics")
	for _, m := range []string{`tether_tokens_requests_total{endpoint="login",result="ok"} 2`,
		`tether_authorizer_decisions_total{listener="web",result="allowed",type="jwt"} 2`} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}
