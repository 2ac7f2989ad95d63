package config

import (
	"strings"
	"testing"
	"time"
)

func TestTokenDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal+"tokens: {address: 127.0.0.1:9903, audiences: [api]}\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	tk := c.Tokens
	if tk.Issuer != "http://127.0.0.1:9903" || tk.Users.Store != "file:users.json" || tk.AccessTTL.D() != 10*time.Minute ||
		tk.Refresh.Store != "memory" || tk.Refresh.IdleTTL.D() != 168*time.Hour || tk.Refresh.AbsoluteTTL.D() != 720*time.Hour ||
		tk.Refresh.ReuseGrace.D() != 5*time.Second || tk.Signing.Alg != "RS256" || tk.Login.AccountFailures != 5 ||
		tk.Login.IPFailures != 20 || tk.Login.Window.D() != 15*time.Minute {
		t.Errorf("token defaults = %+v", tk)
	}
	// The refresh store follows the sessions store, and an explicit 0s
	// grace stays 0s.
	c, err = Parse([]byte(minimal+"sessions: {store: 'redis://127.0.0.1:6379'}\ntokens: {address: 127.0.0.1:9903, audiences: [api], refresh: {reuse_grace: 0s}}\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	if c.Tokens.Refresh.Store != "redis://127.0.0.1:6379" || c.Tokens.Refresh.ReuseGrace.D() != 0 {
		t.Errorf("refresh store %q, grace %v", c.Tokens.Refresh.Store, c.Tokens.Refresh.ReuseGrace.D())
	}
}

func TestTokenProblems(t *testing.T) {
	base := minimal + "tokens:\n  address: 127.0.0.1:9903\n  audiences: [api]\n"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"no address", minimal + "tokens: {audiences: [api]}\n", []string{"tokens.address: is required"}},
		{"no audiences", minimal + "tokens: {address: 127.0.0.1:9903}\n", []string{"tokens.audiences: needs at least one audience"}},
		{"address taken", base + "admin: {address: 127.0.0.1:9903}\n", []string{`tokens.address: "127.0.0.1:9903" is already used by the admin API`}},
		{"listener address", strings.Replace(base, "127.0.0.1:9903", "127.0.0.1:8080", 1), []string{`tokens.address: "127.0.0.1:8080" is already used by listener "web"`}},
		{"issuer scheme", base + "  issuer: ftp://auth\n", []string{`tokens.issuer: "ftp://auth" is not an http(s) URL`}},
		{"issuer slash", base + "  issuer: https://auth.example.com/\n", []string{"tokens.issuer: \"https://auth.example.com/\" must have no query, fragment or trailing slash"}},
		{"users store", base + "  users: {store: 'mysql://db'}\n", []string{"tokens.users.store: is not a user store (allowed: file:PATH, postgres://…, postgresql://…)"}},
		{"refresh store", base + "  refresh: {store: 'mysql://db'}\n", []string{`tokens.refresh.store: scheme "mysql" is not a store`}},
		{"access ttl", base + "  access_ttl: 1h\n", []string{"tokens.access_ttl: 3600s is out of range (allowed 300s..900s)"}},
		{"refresh ttls", base + "  refresh: {idle_ttl: 10h, absolute_ttl: 5h, reuse_grace: 2m}\n", []string{
			"tokens.refresh.idle_ttl: 10h is out of range",
			"tokens.refresh.reuse_grace: 120s is out of range (allowed 0..60s)",
		}},
		{"alg", base + "  signing: {alg: HS256}\n", []string{`tokens.signing.alg: "HS256" is not allowed (allowed: RS256, ES256, EdDSA)`}},
		{"audiences", minimal + "tokens: {address: 127.0.0.1:9903, audiences: [api, api, 'a b']}\n", []string{
			`tokens.audiences[1]: "api" is listed twice`, `tokens.audiences[2]: "a b" is not an audience`,
		}},
		{"scopes", base + "  scopes: ['a\"b', ok, ok]\n", []string{`tokens.scopes[0]: "a\"b" is not a scope`, `tokens.scopes[2]: "ok" is listed twice`}},
		{"login limits", base + "  login: {account_failures: -1, window: 10s}\n", []string{
			"tokens.login.account_failures: -1 is out of range (allowed 1..1000)", "tokens.login.window: 10s is out of range",
		}},
		{"trusted proxies", base + "  trusted_proxies: [10.0.0.0/8, nonsense]\n", []string{`tokens.trusted_proxies[1]: "nonsense" is not a CIDR or IP address`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), ".")
			if err == nil {
				t.Fatal("no error")
			}
			probs := Problems(err)
			for _, w := range tc.want {
				found := false
				for _, p := range probs {
					found = found || strings.Contains(p, w)
				}
				if !found {
					t.Errorf("no problem contains %q; got:\n%s", w, strings.Join(probs, "\n"))
				}
			}
			if len(probs) != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%s", len(probs), len(tc.want), strings.Join(probs, "\n"))
			}
		})
	}
}
