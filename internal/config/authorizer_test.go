package config

import (
	"strings"
	"testing"
)

// withAuthorizer returns the minimal config with one rule guarded by the
// authorizer given in YAML flow style, plus extra top-level YAML.
func withAuthorizer(authorizer, extra string) string {
	return strings.Replace(minimal, "default_target_group: app",
		"default_target_group: app\n    rules: [{path: /api/*, target_group: app, authorizer: "+authorizer+"}]", 1) + extra
}

const tokensBlock = "tokens: {address: 127.0.0.1:9903, audiences: [api, admin], scopes: [orders:read, orders:write]}\n"

func TestJWTAuthorizerAccepted(t *testing.T) {
	tests := []struct {
		name, yaml, issuer string
	}{
		{"jwks_url over https", withAuthorizer(`{type: jwt, issuer: "https://auth.example.com", audiences: [api], jwks_url: "https://auth.example.com/.well-known/jwks.json", required_scopes: [orders:read], forward_claims: [tenant_id, email, roles], algorithms: [RS256, PS256]}`, ""), "https://auth.example.com"},
		{"jwks_url over http to loopback", withAuthorizer(`{type: jwt, issuer: idp, audiences: [api], jwks_url: "http://127.0.0.1:9903/jwks"}`, ""), "idp"},
		{"jwks_url to localhost", withAuthorizer(`{type: jwt, issuer: idp, audiences: [api], jwks_url: "http://localhost:9903/jwks"}`, ""), "idp"},
		{"local takes tokens.issuer", withAuthorizer(`{type: jwt, local: true, audiences: [api], required_scopes: [orders:read]}`, tokensBlock), "http://127.0.0.1:9903"},
		{"local with the same issuer", withAuthorizer(`{type: jwt, local: true, issuer: "http://127.0.0.1:9903", audiences: [admin]}`, tokensBlock), "http://127.0.0.1:9903"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), ".")
			if err != nil {
				t.Fatalf("a valid jwt authorizer was refused: %v", err)
			}
			a := c.Listeners[0].Rules[0].Authorizer
			if got := a.JWTIssuer(c); got != tc.issuer {
				t.Errorf("JWTIssuer() = %q, want %q", got, tc.issuer)
			}
		})
	}
}

func TestAuthorizerProblems(t *testing.T) {
	jwt := func(keys string) string {
		return withAuthorizer("{type: jwt, "+keys+"}", "")
	}
	const src = `issuer: idp, jwks_url: "https://idp.example/jwks"`
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown type", withAuthorizer("{type: oauth}", ""), []string{`authorizer.type: "oauth" is not allowed (allowed: session, jwt)`}},
		{"session needs login_url", withAuthorizer("{type: session}", "sessions: {}\n"), []string{"authorizer.login_url: is required"}},
		{"session refuses jwt keys", withAuthorizer("{type: session, login_url: /login, audiences: [api], local: true}", "sessions: {}\n"), []string{
			"authorizer.audiences: is for type jwt",
			"authorizer.local: is for type jwt",
		}},
		{"jwt refuses login_url", jwt(src + ", audiences: [api], login_url: /login"), []string{"authorizer.login_url: is for type session"}},
		{"jwt needs everything", jwt("required_scopes: []"), []string{
			"authorizer.issuer: is required",
			"authorizer.jwks_url: is required unless local: true",
			"authorizer.audiences: needs at least one audience",
		}},
		{"audiences", jwt(src + `, audiences: [api, "", "a b", api]`), []string{
			`authorizer.audiences[1]: "" is not an audience`,
			`authorizer.audiences[2]: "a b" is not an audience`,
			`authorizer.audiences[3]: "api" is listed twice`,
		}},
		{"issuer with spaces", jwt(`issuer: "https://idp.example ", jwks_url: "https://idp.example/jwks", audiences: [api]`), []string{
			`authorizer.issuer: "https://idp.example " is not an issuer`,
		}},
		{"jwks_url over plain http", jwt(`issuer: idp, jwks_url: "http://idp.example/jwks", audiences: [api]`), []string{
			`authorizer.jwks_url: "http://idp.example/jwks" is http to a host other than loopback; use https`,
		}},
		{"jwks_url scheme", jwt(`issuer: idp, jwks_url: "ftp://idp.example/jwks", audiences: [api]`), []string{
			`authorizer.jwks_url: "ftp://idp.example/jwks" must be https`,
		}},
		{"jwks_url relative", jwt(`issuer: idp, jwks_url: "/jwks", audiences: [api]`), []string{
			`authorizer.jwks_url: "/jwks" is not an absolute URL`,
		}},
		{"jwks_url with credentials", jwt(`issuer: idp, jwks_url: "https://u:p@idp.example/jwks", audiences: [api]`), []string{
			`authorizer.jwks_url: "https://u:p@idp.example/jwks" must not hold credentials`,
		}},
		{"local needs tokens", jwt("local: true, audiences: [api]"), []string{"authorizer.local: true needs a top-level tokens: block"}},
		{"local and jwks_url", withAuthorizer(`{type: jwt, local: true, jwks_url: "https://idp.example/jwks", audiences: [api]}`, tokensBlock), []string{
			"authorizer.jwks_url: is set with local: true; set one of them",
		}},
		{"local with another issuer", withAuthorizer(`{type: jwt, local: true, issuer: "https://other.example", audiences: [api]}`, tokensBlock), []string{
			`authorizer.issuer: "https://other.example" is not tokens.issuer "http://127.0.0.1:9903"`,
		}},
		{"local audience the service never issues", withAuthorizer(`{type: jwt, local: true, audiences: [billing]}`, tokensBlock), []string{
			`authorizer.audiences[0]: "billing" is not in tokens.audiences (api, admin)`,
		}},
		{"local scope the service never grants", withAuthorizer(`{type: jwt, local: true, audiences: [api], required_scopes: [orders:delete]}`, tokensBlock), []string{
			`authorizer.required_scopes[0]: "orders:delete" is not in tokens.scopes (orders:read, orders:write)`,
		}},
		{"scopes", jwt(src + `, audiences: [api], required_scopes: ["a b", 'say"hi', read, read]`), []string{
			`authorizer.required_scopes[0]: "a b" is not a scope`,
			`authorizer.required_scopes[1]: "say\"hi" is not a scope`,
			`authorizer.required_scopes[3]: "read" is listed twice`,
		}},
		{"forward_claims names", jwt(src + `, audiences: [api], forward_claims: ["", "https://example.com/roles", "a b"]`), []string{
			`authorizer.forward_claims[0]: "" is not a claim name`,
			`authorizer.forward_claims[1]: "https://example.com/roles" is not a claim name`,
			`authorizer.forward_claims[2]: "a b" is not a claim name`,
		}},
		{"forward_claims objects", jwt(src + `, audiences: [api], forward_claims: [cnf, act, address]`), []string{
			`authorizer.forward_claims[0]: "cnf" is a JSON object (RFC 7800)`,
			`authorizer.forward_claims[1]: "act" is a JSON object (RFC 8693)`,
			`authorizer.forward_claims[2]: "address" is a JSON object`,
		}},
		{"forward_claims sharing a header", jwt(src + `, audiences: [api], forward_claims: [tenant_id, tenant-id, Tenant_Id, email, email]`), []string{
			`authorizer.forward_claims[1]: "tenant_id" and "tenant-id" would both be forwarded as X-Tether-Claim-Tenant-Id`,
			`authorizer.forward_claims[2]: "tenant_id" and "Tenant_Id" would both be forwarded as X-Tether-Claim-Tenant-Id`,
			`authorizer.forward_claims[4]: "email" is listed twice`,
		}},
		{"algorithms", jwt(src + `, audiences: [api], algorithms: [none, HS256, RS1, ES256]`), []string{
			`authorizer.algorithms[0]: "none" is refused: a jwt authorizer holds only public keys (allowed: RS256, RS384`,
			`authorizer.algorithms[1]: "HS256" is refused`,
			`authorizer.algorithms[2]: "RS1" is not allowed (allowed: RS256`,
		}},
		{"unknown authorizer key", jwt(src + ", audiences: [api], scopes: [read]"), []string{`unknown key "scopes" in authorizer (allowed: algorithms, audiences,`}},
		{"authorizer key typo", jwt(src + ", audience: [api]"), []string{`unknown key "audience" in authorizer (allowed: `, `did you mean "audiences"?`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { assertProblems(t, tc.yaml, tc.want) })
	}
}

func TestClaimHeader(t *testing.T) {
	tests := []struct{ claim, header string }{
		{"tenant_id", "X-Tether-Claim-Tenant-Id"},
		{"email", "X-Tether-Claim-Email"},
		{"orgID", "X-Tether-Claim-Orgid"},
		{"x-department", "X-Tether-Claim-X-Department"},
		{"roles", "X-Tether-Claim-Roles"},
	}
	for _, tc := range tests {
		if got := ClaimHeader(tc.claim); got != tc.header {
			t.Errorf("ClaimHeader(%q) = %q, want %q", tc.claim, got, tc.header)
		}
	}
}
