package lb_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/keyring"
	"github.com/tetherlb/tether/internal/lb"
	ts "github.com/tetherlb/tether/internal/testsupport"
	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/memstore"
	"github.com/tetherlb/tether/token"
)

// localRule guards /api/* with a jwt authorizer for tether's own token
// service.
const localRule = `      - path: /api/*
        target_group: app
        authorizer:
          type: jwt
          local: true
          audiences: [api]
          required_scopes: [orders:read]
          forward_claims: [email, roles, level, verified, org, tenant_id, note]
`

func newJWTGateway(t *testing.T) (*ts.LB, *fakeAuthority, signingKey, []*ts.Target) {
	k := newSigningKey(t, "k1")
	fa := newFakeAuthority(t, k)
	targets := newTargets(t, 2)
	l := ts.StartLB(t, jwtYAML(targets, localRule, tokensBlock), withTokens(fa))
	waitHealthy(t, l, len(targets))
	return l, fa, k, targets
}

func TestJWTGateway(t *testing.T) {
	l, fa, k, targets := newJWTGateway(t)
	now := l.Clock.Now()
	good := k.sign(t, claimsAt(now, map[string]any{
		"email": "alice@example.com", "roles": []string{"admin", "dev"}, "level": 3, "verified": true,
		"org": map[string]any{"id": 7}, "tenant_id": "acme", "note": "line 1\r\nX-Injected: 1",
	}))

	t.Run("good token reaches a target with the claim headers", func(t *testing.T) {
		a := call(t, l.URL+"/api/orders", append(bearer(good),
			"X-Tether-User", "mallory", "X-Tether-Claim-Email", "mallory@evil.example",
			"X-Tether-Claim-Org", "forged", "X-Tether-Claim-Note", "forged", "X-Tether-Admin", "1")...)
		if a.code != 200 {
			t.Fatalf("status %d (%s), want 200", a.code, a.raw)
		}
		r := lastTo(t, targets, "/api/orders")
		want := map[string]string{
			"X-Tether-User":            "alice",
			"X-Tether-Tenant":          "acme",
			"X-Tether-Claim-Email":     "alice@example.com",
			"X-Tether-Claim-Roles":     "admin, dev",
			"X-Tether-Claim-Level":     "3",
			"X-Tether-Claim-Verified":  "true",
			"X-Tether-Claim-Tenant-Id": "acme",
			"X-Tether-Claim-Org":       "", // an object: not forwarded, and the forged copy is gone
			"X-Tether-Claim-Note":      "", // holds CR LF: not forwarded
			"X-Tether-Injected":        "",
			"X-Tether-Admin":           "",
			"Authorization":            "Bearer " + good, // kept for the target
		}
		for h, v := range want {
			got := r.Header.Values(h)
			if v == "" && len(got) != 0 || v != "" && (len(got) != 1 || got[0] != v) {
				t.Errorf("target saw %s %q, want %q", h, got, v)
			}
		}
		for claim, reason := range map[string]string{"org": "object", "note": "invalid"} {
			if n := ts.Metric(t, l.Registry(), "tether_authorizer_claims_skipped_total", map[string]string{"claim": claim, "reason": reason}); n != 1 {
				t.Errorf("claims skipped {claim=%s, reason=%s} = %v, want 1", claim, reason, n)
			}
		}
	})

	t.Run("rules without an authorizer stay open", func(t *testing.T) {
		if a := call(t, l.URL+"/open"); a.code != 200 {
			t.Errorf("/open status %d, want 200", a.code)
		}
	})

	pub, err := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	rogue := newSigningKey(t, "rogue")
	tok := func(extra map[string]any) []string { return bearer(k.sign(t, claimsAt(now, extra))) }
	tests := []struct {
		name   string
		hdr    []string
		code   int
		result string
		error  string // RFC 6750 error attribute; "" for a bare challenge
	}{
		{"no token", nil, 401, "unauthenticated", ""},
		{"other scheme", []string{"Authorization", "Basic YWxpY2U6cGFzc3dvcmQ="}, 401, "unauthenticated", ""},
		{"two tokens", append(bearer(good), bearer(good)...), 400, "invalid_request", "invalid_request"},
		{"expired", bearer(k.sign(t, claimsAt(now.Add(-time.Hour), nil))), 401, "expired", "invalid_token"},
		{"wrong audience", tok(map[string]any{"aud": "billing"}), 401, "audience", "invalid_token"},
		{"wrong issuer", tok(map[string]any{"iss": "https://evil.example"}), 401, "issuer", "invalid_token"},
		{"alg none", bearer(unsigned(t, "k1", claimsAt(now, nil))), 401, "algorithm", "invalid_token"},
		{"HS256 signed with the public key", bearer(signHS256(t, "k1", pubPEM, claimsAt(now, nil))), 401, "algorithm", "invalid_token"},
		{"unknown kid", bearer(rogue.sign(t, claimsAt(now, nil))), 401, "unknown_key", "invalid_token"},
		{"oversized", tok(map[string]any{"pad": strings.Repeat("x", token.MaxTokenSize)}), 401, "malformed", "invalid_token"},
		{"not a JWT", bearer("abc.def.ghi"), 401, "malformed", "invalid_token"},
		{"forged signature", bearer(good[:strings.LastIndexByte(good, '.')+1] + strings.Repeat("A", 86)), 401, "signature", "invalid_token"},
		{"sub with a line break", tok(map[string]any{"sub": "alice\r\nX-Tether-Admin: 1"}), 401, "malformed", "invalid_token"},
		{"missing scope", tok(map[string]any{"scope": "profile orders:write"}), 403, "insufficient_scope", "insufficient_scope"},
	}
	before := hits(targets)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := jwtDecisions(t, l, tc.result)
			a := call(t, l.URL+"/api/orders", tc.hdr...)
			if a.code != tc.code {
				t.Fatalf("status %d (%s), want %d", a.code, a.raw, tc.code)
			}
			assertChallenge(t, a, tc.error)
			if tc.error == "insufficient_scope" && !strings.HasSuffix(a.challenge, `, scope="orders:read"`) {
				t.Errorf("WWW-Authenticate %q does not name the required scope", a.challenge)
			}
			for i := 1; i < len(tc.hdr); i += 2 {
				raw := strings.TrimPrefix(tc.hdr[i], "Bearer ")
				if strings.Contains(a.raw, raw) || strings.Contains(a.challenge, raw) {
					t.Error("the answer echoes the token")
				}
			}
			if got := jwtDecisions(t, l, tc.result) - n; got != 1 {
				t.Errorf("tether_authorizer_decisions_total{type=jwt, result=%s} grew by %v, want 1", tc.result, got)
			}
		})
	}
	if n := hits(targets) - before; n != 0 {
		t.Errorf("%d refused requests reached a target", n)
	}

	t.Run("log out everywhere refuses older tokens at once", func(t *testing.T) {
		defer fa.setNotBefore("alice", time.Time{})
		if a := call(t, l.URL+"/api/orders", bearer(good)...); a.code != 200 {
			t.Fatalf("before the logout: status %d, want 200", a.code)
		}
		fa.setNotBefore("alice", now.Add(time.Second))
		before := hits(targets)
		a := call(t, l.URL+"/api/orders", bearer(good)...)
		if a.code != 401 || a.body["error_description"] != "the token has been revoked" {
			t.Errorf("a cached token issued before the not-before: status %d (%s), want 401 revoked", a.code, a.raw)
		}
		assertChallenge(t, a, "invalid_token")
		if hits(targets) != before {
			t.Error("the revoked token reached a target")
		}
		l.Clock.Advance(2 * time.Second)
		fresh := k.sign(t, claimsAt(l.Clock.Now(), nil))
		if a := call(t, l.URL+"/api/orders", bearer(fresh)...); a.code != 200 {
			t.Errorf("a token issued after the logout: status %d (%s), want 200", a.code, a.raw)
		}
	})

	t.Run("log out everywhere refuses the logins it revoked, even in its own second", func(t *testing.T) {
		now := l.Clock.Now()
		same := k.sign(t, claimsAt(now, map[string]any{"sid": "family-1"}))
		other := k.sign(t, claimsAt(now, map[string]any{"sid": "family-2"}))
		for _, tok := range []string{same, other} {
			if a := call(t, l.URL+"/api/orders", bearer(tok)...); a.code != 200 {
				t.Fatalf("before the logout: status %d", a.code)
			}
		}
		fa.revokeSession("alice", "family-1")
		if a := call(t, l.URL+"/api/orders", bearer(same)...); a.code != 401 || a.body["error_description"] != "the token has been revoked" {
			t.Errorf("a cached token of a revoked login: status %d (%s), want 401 revoked", a.code, a.raw)
		}
		if a := call(t, l.URL+"/api/orders", bearer(other)...); a.code != 200 {
			t.Errorf("a token of a login the logout did not revoke: status %d, want 200", a.code)
		}
	})

	t.Run("not-before store down answers 503, not a logout", func(t *testing.T) {
		fa.storeDown.Store(true)
		defer fa.storeDown.Store(false)
		before := hits(targets)
		a := call(t, l.URL+"/api/orders", bearer(good)...)
		if a.code != 503 || a.retry == "" || a.body["error"] != "temporarily_unavailable" {
			t.Errorf("status %d, Retry-After %q, body %s; want 503 with Retry-After", a.code, a.retry, a.raw)
		}
		if hits(targets) != before {
			t.Error("a request reached a target while the store was down")
		}
		if n := jwtDecisions(t, l, "store_unavailable"); n != 1 {
			t.Errorf("store_unavailable decisions = %v, want 1", n)
		}
	})
}

// assertChallenge checks the WWW-Authenticate header and the JSON body of a
// refusal with the RFC 6750 error code (or none).
func assertChallenge(t *testing.T, a answer, code string) {
	t.Helper()
	switch {
	case code == "":
		if a.challenge != `Bearer realm="tether"` || a.body["error"] != "unauthorized" {
			t.Errorf("WWW-Authenticate %q, body %s; want a bare Bearer challenge (RFC 6750 §3.1)", a.challenge, a.raw)
		}
	default:
		want := `Bearer realm="tether", error="` + code + `", error_description="` + a.body["error_description"] + `"`
		if !strings.HasPrefix(a.challenge, want) || a.body["error"] != code || a.body["error_description"] == "" {
			t.Errorf("WWW-Authenticate %q, body %s; want error=%q with a description", a.challenge, a.raw, code)
		}
	}
}

// TestJWTGatewayJWKSURL: a key set that cannot be fetched is a 503, not a
// 401; once it can be, tokens pass; when it goes away again, the last good
// key set stays in use.
func TestJWTGatewayJWKSURL(t *testing.T) {
	k := newSigningKey(t, "k1")
	targets := newTargets(t, 1)
	addr := ts.DeadAddress(t)
	rules := fmt.Sprintf(`      - path: /api/*
        target_group: app
        authorizer: {type: jwt, issuer: "https://idp.example", audiences: [api], jwks_url: "http://%s/jwks"}
`, addr)
	l := ts.StartLB(t, jwtYAML(targets, rules, ""))
	waitHealthy(t, l, 1)
	idpToken := func() []string {
		return bearer(k.sign(t, claimsAt(l.Clock.Now(), map[string]any{"iss": "https://idp.example"})))
	}

	for _, when := range []string{"at start", "within the retry interval"} {
		a := call(t, l.URL+"/api/x", idpToken()...)
		if a.code != 503 || a.retry == "" || a.body["error"] != "temporarily_unavailable" {
			t.Errorf("JWKS down %s: status %d, Retry-After %q, body %s; want 503 with Retry-After", when, a.code, a.retry, a.raw)
		}
	}
	if n := jwtDecisions(t, l, "jwks_unavailable"); n != 2 {
		t.Errorf("jwks_unavailable decisions = %v, want 2", n)
	}

	var fetches atomic.Int64
	doc := jwks(t, k)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	})}
	ln := listenOn(t, addr)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	if a := call(t, l.URL+"/api/x", idpToken()...); a.code != 503 || fetches.Load() != 0 {
		t.Errorf("JWKS back within the retry interval: status %d after %d fetches; want 503 and no fetch (fetches are rate-limited)", a.code, fetches.Load())
	}
	l.Clock.Advance(token.DefaultMinRefreshInterval + time.Second)
	if a := call(t, l.URL+"/api/x", idpToken()...); a.code != 200 {
		t.Fatalf("JWKS back: status %d (%s), want 200", a.code, a.raw)
	}
	if targets[0].Requests.Load() != 1 {
		t.Errorf("target requests = %d, want 1 (the refused ones never reached it)", targets[0].Requests.Load())
	}

	srv.Close()
	l.Clock.Advance(token.DefaultRefreshInterval + time.Minute) // a refresh is due, and fails
	for i := 0; i < 3; i++ {
		if a := call(t, l.URL+"/api/x", idpToken()...); a.code != 200 {
			t.Errorf("JWKS down after a good fetch: status %d (%s), want 200 with the last good key set", a.code, a.raw)
		}
	}
}

// TestJWTGatewayCache: a repeated token is not verified again, and a
// reload that leaves the authorizer as it was keeps the verified tokens
// and the key set.
func TestJWTGatewayCache(t *testing.T) {
	l, fa, k, targets := newJWTGateway(t)
	now := l.Clock.Now()
	tok := k.sign(t, claimsAt(now, nil))
	for i := 0; i < 5; i++ {
		if a := call(t, l.URL+"/api/orders", bearer(tok)...); a.code != 200 {
			t.Fatalf("request %d: status %d (%s), want 200", i, a.code, a.raw)
		}
	}
	if n := fa.decodes(); n != 1 {
		t.Errorf("5 requests with one token were verified %d times, want once (then cached)", n)
	}
	other := k.sign(t, claimsAt(now, map[string]any{"jti": "second"}))
	if a := call(t, l.URL+"/api/orders", bearer(other)...); a.code != 200 || fa.decodes() != 2 {
		t.Errorf("a second token: status %d, %d verifications; want 200 and 2", a.code, fa.decodes())
	}
	fetched := fa.jwksCalls.Load()

	reload := func(rules string) {
		t.Helper()
		cfg, err := config.Parse([]byte(jwtYAML(targets, rules, tokensBlock)), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Reload(cfg, l.Ring); err != nil {
			t.Fatal(err)
		}
	}
	reload(localRule)
	if a := call(t, l.URL+"/api/orders", bearer(tok)...); a.code != 200 {
		t.Fatalf("after a reload: status %d (%s), want 200", a.code, a.raw)
	}
	if fa.decodes() != 2 || fa.jwksCalls.Load() != fetched {
		t.Errorf("after a reload with the same authorizer: %d verifications, %d key-set fetches; want 2 and %d (cache and keys kept)",
			fa.decodes(), fa.jwksCalls.Load(), fetched)
	}

	reload(strings.Replace(localRule, "required_scopes: [orders:read]", "required_scopes: [orders:write]", 1))
	if a := call(t, l.URL+"/api/orders", bearer(tok)...); a.code != 403 {
		t.Errorf("after requiring orders:write: status %d, want 403", a.code)
	}
	if fa.decodes() != 2 || fa.jwksCalls.Load() != fetched {
		t.Error("a change of required_scopes replaced the verifier; only the gate depends on it")
	}

	reload(strings.Replace(localRule, "audiences: [api]", "audiences: [api, admin]", 1))
	if a := call(t, l.URL+"/api/orders", bearer(tok)...); a.code != 200 {
		t.Fatalf("after a change of audiences: status %d (%s), want 200", a.code, a.raw)
	}
	if fa.decodes() != 3 || fa.jwksCalls.Load() != fetched+1 {
		t.Errorf("after a change of audiences: %d verifications, %d fetches; want 3 and %d (a new verifier)", fa.decodes(), fa.jwksCalls.Load(), fetched+1)
	}
}

// TestJWTGatewayReloadFromSession: a rule switched from the session
// gateway to a jwt authorizer by a reload takes bearer tokens at once.
func TestJWTGatewayReloadFromSession(t *testing.T) {
	ms := memstore.New(memstore.Options{})
	t.Cleanup(func() { ms.Close() })
	keys, _ := session.StaticKey([]byte(strings.Repeat("g", 32)))
	m, err := session.New(session.Config{InsecureDevCookies: true}, session.Options{Store: ms, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	k := newSigningKey(t, "k1")
	fa := newFakeAuthority(t, k)
	targets := newTargets(t, 1)
	sessionRule := "      - {path: /api/*, target_group: app, authorizer: {type: session, login_url: /login}}\n"
	extra := tokensBlock + "sessions: {store: memory}\n"
	l := ts.StartLB(t, jwtYAML(targets, sessionRule, extra), ts.WithSessions(m), withTokens(fa))
	waitHealthy(t, l, 1)
	sid, _, err := m.CreateSession(t.Context(), "", "bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := k.sign(t, claimsAt(l.Clock.Now(), nil))
	if a := call(t, l.URL+"/api/x", "Cookie", "sid="+sid); a.code != 200 {
		t.Fatalf("session gateway: status %d, want 200", a.code)
	}
	if a := call(t, l.URL+"/api/x", bearer(tok)...); a.code != 401 || strings.HasPrefix(a.challenge, "Bearer") {
		t.Fatalf("session gateway with a bearer token: status %d, WWW-Authenticate %q; want 401 for the cookie", a.code, a.challenge)
	}

	cfg, err := config.Parse([]byte(jwtYAML(targets, localRule, extra)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(cfg, l.Ring); err != nil {
		t.Fatal(err)
	}
	if a := call(t, l.URL+"/api/x", bearer(tok)...); a.code != 200 {
		t.Fatalf("after the switch to jwt: status %d (%s), want 200", a.code, a.raw)
	}
	if got := targets[0].LastRequest().Header.Get("X-Tether-User"); got != "alice" {
		t.Errorf("X-Tether-User = %q, want alice", got)
	}
	if a := call(t, l.URL+"/api/x", "Cookie", "sid="+sid); a.code != 401 || a.challenge != `Bearer realm="tether"` {
		t.Errorf("after the switch, a session cookie alone: status %d, WWW-Authenticate %q; want 401 Bearer", a.code, a.challenge)
	}
	if n := ts.Metric(t, l.Registry(), "tether_authorizer_decisions_total", map[string]string{"type": "session", "result": "allowed"}); n != 1 {
		t.Errorf("session decisions allowed = %v, want 1", n)
	}
}

// TestJWTGatewayNeedsTokenService: local: true without tether's token
// service, or with one of another issuer, is refused by New and Reload.
func TestJWTGatewayNeedsTokenService(t *testing.T) {
	targets := newTargets(t, 1)
	cfg, err := config.Parse([]byte(jwtYAML(targets, localRule, tokensBlock)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keyring.Generate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lb.New(cfg, ring, lb.Deps{}); err == nil || !strings.Contains(err.Error(), "add a tokens: block") {
		t.Errorf("New without a token service: %v; want an error naming the tokens block", err)
	}
	other := &fakeAuthority{issuer: "https://other.example"}
	if _, err := lb.New(cfg, ring, lb.Deps{Tokens: other}); err == nil || !strings.Contains(err.Error(), `issues "https://other.example"`) {
		t.Errorf("New with a token service of another issuer: %v; want an error naming both issuers", err)
	}
	l := ts.StartLB(t, jwtYAML(targets, "", tokensBlock))
	if err := l.Reload(cfg, l.Ring); err == nil || !strings.Contains(err.Error(), "add a tokens: block") {
		t.Errorf("Reload without a token service: %v; want an error naming the tokens block", err)
	}
	if n := ts.Metric(t, l.Registry(), "tether_config_reloads_total", map[string]string{"result": "failure"}); n != 1 {
		t.Errorf("reload failures = %v, want 1", n)
	}
}

// TestJWTVerifiersClosed: verifiers that no rule needs after a reload stop
// their background work, and so do all of them on Close.
func TestJWTVerifiersClosed(t *testing.T) {
	k := newSigningKey(t, "k1")
	fa := newFakeAuthority(t, k)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(jwks(t, k)) }))
	t.Cleanup(idp.Close)
	targets := newTargets(t, 1)
	external := fmt.Sprintf("      - {path: /ext/*, target_group: app, authorizer: {type: jwt, issuer: idp, audiences: [api], jwks_url: %q}}\n", idp.URL+"/jwks")
	sameAsLocal := "      - {path: /more/*, target_group: app, authorizer: {type: jwt, local: true, audiences: [api]}}\n"
	base := refreshLoops()
	l := ts.StartLB(t, jwtYAML(targets, localRule+external+sameAsLocal, tokensBlock), withTokens(fa))
	waitLoops(t, "two verifiers (two rules share one)", base+2)

	cfg, err := config.Parse([]byte(jwtYAML(targets, sameAsLocal, tokensBlock)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(cfg, l.Ring); err != nil {
		t.Fatal(err)
	}
	waitLoops(t, "the external rule's verifier to close", base+1)
	tok := k.sign(t, claimsAt(l.Clock.Now(), nil))
	if a := call(t, l.URL+"/more/x", bearer(tok)...); a.code != 200 {
		t.Errorf("the kept verifier: status %d (%s), want 200", a.code, a.raw)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitLoops(t, "every verifier to close", base)
}

// refreshLoops counts the token verifiers running in the process.
func refreshLoops() int {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "token.(*Verifier).refreshLoop(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

func waitLoops(t *testing.T, what string, want int) {
	t.Helper()
	ts.WaitFor(t, what, func() bool { return refreshLoops() == want })
}

// TestJWTAlgorithmsMatchTokenPackage: what the config accepts in
// authorizer.algorithms is what the token package accepts.
func TestJWTAlgorithmsMatchTokenPackage(t *testing.T) {
	opts := func(alg string) token.Options {
		return token.Options{Issuer: "i", Audiences: []string{"a"}, Algorithms: []string{alg},
			JWKSFunc: func(context.Context) ([]byte, error) { return nil, nil }}
	}
	for _, alg := range config.JWTAlgorithms {
		if err := opts(alg).Validate(); err != nil {
			t.Errorf("config accepts %s, the token package does not: %v", alg, err)
		}
	}
	for _, alg := range []string{"none", "HS256", "RS1"} {
		if err := opts(alg).Validate(); err == nil {
			t.Errorf("the token package accepts %s", alg)
		}
	}
}

// BenchmarkJWTGate measures the jwt gate on its cached path: a token seen
// before, with three claims forwarded.
func BenchmarkJWTGate(b *testing.B) {
	k := newSigningKey(b, "k1")
	fa := newFakeAuthority(b, k)
	fa.record = false
	targets := []*ts.Target{ts.NewTarget(b, "t1")}
	rule := strings.Replace(localRule, "[email, roles, level, verified, org, tenant_id, note]", "[email, roles, tenant_id]", 1)
	l := ts.StartLB(b, jwtYAML(targets, rule, tokensBlock), withTokens(fa))
	tok := k.sign(b, claimsAt(l.Clock.Now(), map[string]any{
		"email": "alice@example.com", "roles": []string{"admin", "dev"}, "tenant_id": "acme",
	}))
	authorize := lb.RuleAuthorizer(l.Server, "web", "example.com", "/api/orders")
	req := httptest.NewRequest("GET", "/api/orders", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	if !authorize(w, req) {
		b.Fatalf("the token was refused: %d %s", w.Code, w.Body)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !authorize(w, req) {
			b.Fatal("refused")
		}
	}
}

// TestJWTGatewayLocalKeyRetired: a key that left the token service's JWKS
// (retired after a rotation) stops verifying at a local authorizer within
// seconds, not at the 15-minute refresh of a fetched key set.
func TestJWTGatewayLocalKeyRetired(t *testing.T) {
	l, fa, old, _ := newJWTGateway(t)
	if a := call(t, l.URL+"/api/orders", bearer(old.sign(t, claimsAt(l.Clock.Now(), nil)))...); a.code != 200 {
		t.Fatalf("a token of the current key: %d (%s)", a.code, a.raw)
	}
	next := newSigningKey(t, "k2")
	fa.mu.Lock()
	fa.doc = jwks(t, next) // k1 retired
	fa.mu.Unlock()
	l.Clock.Advance(11 * time.Second)
	n := 0
	ts.WaitFor(t, "a token of the retired key refused", func() bool {
		n++
		// A new token each time: one verified before is cached.
		return call(t, l.URL+"/api/orders", bearer(old.sign(t, claimsAt(l.Clock.Now(), map[string]any{"jti": fmt.Sprint("j", n)})))...).code == 401
	})
	if a := call(t, l.URL+"/api/orders", bearer(next.sign(t, claimsAt(l.Clock.Now(), nil)))...); a.code != 200 {
		t.Errorf("a token of the new key: %d (%s)", a.code, a.raw)
	}
}
