package token_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tetherlb/tether/token"
)

var allAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func TestVerifyEachAlgorithm(t *testing.T) {
	k := keys()
	rsaAny := k.rsa2 // publishes no JWK alg, so it serves every RSA algorithm
	s := newSetup(t, func(o *token.Options) { o.Algorithms = allAlgorithms }, k.rsa1, rsaAny, k.ec1, k.ed1)
	for _, tc := range []struct {
		name string
		key  testKey
		alg  jose.SignatureAlgorithm
	}{
		{"RS256", k.rsa1, jose.RS256},
		{"RS384", rsaAny, jose.RS384},
		{"RS512", rsaAny, jose.RS512},
		{"PS256", rsaAny, jose.PS256},
		{"PS512", rsaAny, jose.PS512},
		{"ES256", k.ec1, jose.ES256},
		{"EdDSA", k.ed1, jose.EdDSA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := sign(t, tc.key, tc.alg, claims(start))
			c, err := s.v.Verify(context.Background(), raw)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Subject != "alice" || c.Issuer != issuer || c.ClientID != "web" {
				t.Errorf("claims = %+v", c)
			}
		})
	}
}

func TestVerifyDefaultAlgorithmsRefusePS256(t *testing.T) {
	k := keys()
	s := newSetup(t, nil, k.rsa2)
	_, err := s.v.Verify(context.Background(), sign(t, k.rsa2, jose.PS256, claims(start)))
	if !errors.Is(err, token.ErrAlgorithm) {
		t.Fatalf("PS256 with the default allowlist: err = %v, want ErrAlgorithm", err)
	}
}

func TestVerifyClaims(t *testing.T) {
	k := keys()
	s := newSetup(t, nil, k.ec1)
	c, err := s.v.Verify(context.Background(), sign(t, k.ec1, jose.ES256, with(claims(start),
		"aud", []string{"other", audience},
		"roles", []string{"admin", "billing"},
		"tenant_id", "acme",
		"token_use", "access",
		"sid", "s-1",
		"iat", float64(start.Unix())+0.25,
		"custom", map[string]any{"plan": "gold"},
	)))
	if err != nil {
		t.Fatal(err)
	}
	want := token.Claims{
		Issuer: issuer, Subject: "alice", Audience: []string{"other", audience},
		Expiry: start.Add(10 * time.Minute), NotBefore: start, IssuedAt: start.Add(250 * time.Millisecond),
		ID: "jti-1", ClientID: "web", SessionID: "s-1", Scope: []string{"orders:read", "orders:write"},
		Roles: []string{"admin", "billing"}, TokenUse: "access", TenantID: "acme",
	}
	got := *c
	got.Raw = nil
	if !equalClaims(got, want) {
		t.Errorf("claims:\n got %+v\nwant %+v", got, want)
	}
	if !c.HasScope("orders:write") || c.HasScope("orders") {
		t.Errorf("HasScope is wrong for %q", c.Scope)
	}
	if plan := c.Raw["custom"].(map[string]any)["plan"]; plan != "gold" {
		t.Errorf("Raw custom.plan = %v", plan)
	}
}

func equalClaims(a, b token.Claims) bool {
	return a.Issuer == b.Issuer && a.Subject == b.Subject && slices.Equal(a.Audience, b.Audience) &&
		a.Expiry.Equal(b.Expiry) && a.NotBefore.Equal(b.NotBefore) && a.IssuedAt.Equal(b.IssuedAt) &&
		a.ID == b.ID && a.ClientID == b.ClientID && a.SessionID == b.SessionID &&
		slices.Equal(a.Scope, b.Scope) && slices.Equal(a.Roles, b.Roles) &&
		a.TokenUse == b.TokenUse && a.TenantID == b.TenantID
}

// TestVerifyClaimChecks runs each claim check at the fake clock's start,
// with the default 30s leeway.
func TestVerifyClaimChecks(t *testing.T) {
	k := keys()
	s := newSetup(t, nil, k.ed1)
	base := claims(start)
	at := func(d time.Duration) int64 { return start.Add(d).Unix() }
	for _, tc := range []struct {
		name   string
		claims map[string]any
		want   error // nil: accepted
	}{
		{"valid", base, nil},
		{"iss wrong", with(base, "iss", "https://evil.example"), token.ErrIssuer},
		{"iss missing", with(base, "iss", nil), token.ErrIssuer},
		{"iss differs in case", with(base, "iss", strings.ToUpper(issuer)), token.ErrIssuer},
		{"iss claim name in upper case", with(base, "iss", nil, "ISS", issuer), token.ErrIssuer},
		{"iss not a string", with(base, "iss", 7), token.ErrMalformed},
		{"aud wrong", with(base, "aud", "https://other.example"), token.ErrAudience},
		{"aud missing", with(base, "aud", nil), token.ErrAudience},
		{"aud array with one allowed", with(base, "aud", []string{"x", audience}), nil},
		{"aud empty array", with(base, "aud", []string{}), token.ErrAudience},
		{"aud array of numbers", with(base, "aud", []int{1}), token.ErrMalformed},
		{"sub missing", with(base, "sub", nil), token.ErrMalformed},
		{"sub empty", with(base, "sub", ""), token.ErrMalformed},
		{"exp missing", with(base, "exp", nil), token.ErrMalformed},
		{"exp a string", with(base, "exp", "tomorrow"), token.ErrMalformed},
		{"exp huge", with(base, "exp", 1e300), token.ErrMalformed},
		{"exp negative", with(base, "exp", -1), token.ErrMalformed},
		{"exp 29s past", with(base, "exp", at(-29*time.Second)), nil},
		{"exp 30s past", with(base, "exp", at(-30*time.Second)), token.ErrExpired},
		{"exp 31s past: 1s beyond leeway", with(base, "exp", at(-31*time.Second)), token.ErrExpired},
		{"nbf 30s ahead", with(base, "nbf", at(30*time.Second)), nil},
		{"nbf 31s ahead", with(base, "nbf", at(31*time.Second)), token.ErrNotYetValid},
		{"nbf missing", with(base, "nbf", nil), nil},
		{"iat 30s ahead", with(base, "iat", at(30*time.Second)), nil},
		{"iat 31s ahead", with(base, "iat", at(31*time.Second)), token.ErrNotYetValid},
		{"iat missing", with(base, "iat", nil), nil},
		{"iat an hour past", with(base, "iat", at(-time.Hour)), nil},
		{"scope an array", with(base, "scope", []string{"a"}), token.ErrMalformed},
		{"roles a string", with(base, "roles", "admin"), token.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.v.Verify(context.Background(), sign(t, k.ed1, jose.EdDSA, tc.claims))
			checkErr(t, err, tc.want)
		})
	}
}

func checkErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("err = %v, want success", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func TestVerifyType(t *testing.T) {
	k := keys()
	s := newSetup(t, nil, k.ec1)
	for _, tc := range []struct {
		name string
		typ  any // nil: no typ header
		want error
	}{
		{"at+jwt", "at+jwt", nil},
		{"upper case", "AT+JWT", nil},
		{"application/ prefix", "application/at+jwt", nil},
		{"application/ prefix, mixed case", "Application/AT+jwt", nil},
		{"missing", nil, token.ErrType},
		{"JWT, as ID tokens have", "JWT", token.ErrType},
		{"other profile", "logout+jwt", token.ErrType},
		{"not a string", 1, token.ErrType},
		{"prefix of a different type", "application/jwt", token.ErrType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.v.Verify(context.Background(), sign(t, k.ec1, jose.ES256, claims(start), "typ", tc.typ))
			checkErr(t, err, tc.want)
		})
	}
}

func TestVerifyCustomType(t *testing.T) {
	k := keys()
	s := newSetup(t, func(o *token.Options) { o.Type = "application/logout+jwt" }, k.ec1)
	if _, err := s.v.Verify(context.Background(), sign(t, k.ec1, jose.ES256, claims(start), "typ", "logout+jwt")); err != nil {
		t.Fatal(err)
	}
	_, err := s.v.Verify(context.Background(), sign(t, k.ec1, jose.ES256, claims(start)))
	checkErr(t, err, token.ErrType)
}

func TestVerifyLeeway(t *testing.T) {
	k := keys()
	for _, tc := range []struct {
		name   string
		leeway time.Duration
		exp    time.Duration // relative to now
		want   error
	}{
		{"60s allows 59s past", 60 * time.Second, -59 * time.Second, nil},
		{"60s refuses 61s past", 60 * time.Second, -61 * time.Second, token.ErrExpired},
		{"5s refuses 6s past", 5 * time.Second, -6 * time.Second, token.ErrExpired},
		{"5s allows 4s past", 5 * time.Second, -4 * time.Second, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSetup(t, func(o *token.Options) { o.Leeway = tc.leeway }, k.ec1)
			_, err := s.v.Verify(context.Background(), sign(t, k.ec1, jose.ES256, with(claims(start), "exp", start.Add(tc.exp).Unix())))
			checkErr(t, err, tc.want)
		})
	}
}

func TestVerifyKidOptionalWithOneKey(t *testing.T) {
	k := keys()
	s := newSetup(t, nil, k.ec1)
	if _, err := s.v.Verify(context.Background(), sign(t, k.ec1, jose.ES256, claims(start), "kid", nil)); err != nil {
		t.Fatalf("no kid, one key: %v", err)
	}
	s2 := newSetup(t, nil, k.ec1, k.ec2)
	_, err := s2.v.Verify(context.Background(), sign(t, k.ec1, jose.ES256, claims(start), "kid", nil))
	checkErr(t, err, token.ErrUnknownKey)
	if got := s2.srv.hits.Load(); got != 1 {
		t.Errorf("a token without kid caused %d fetches, want only the initial 1", got)
	}
}

func TestVerifyNotBefore(t *testing.T) {
	k := keys()
	notBefore := map[string]time.Time{"bob": start.Add(-time.Minute), "carol": start.Add(time.Second)}
	errStore := errors.New("store down")
	s := newSetup(t, func(o *token.Options) {
		o.NotBefore = func(ctx context.Context, iss, sub string) (time.Time, error) {
			if iss != issuer {
				t.Errorf("NotBefore issuer = %q", iss)
			}
			if sub == "dave" {
				return time.Time{}, errStore
			}
			return notBefore[sub], nil
		}
	}, k.ec1)
	for _, tc := range []struct {
		name   string
		claims map[string]any
		want   error
	}{
		{"no not-before", claims(start), nil},
		{"issued after the not-before", with(claims(start), "sub", "bob"), nil},
		{"issued before the not-before", with(claims(start), "sub", "carol"), token.ErrRevoked},
		{"no iat while the subject has a not-before", with(claims(start), "sub", "bob", "iat", nil), token.ErrRevoked},
		{"lookup fails", with(claims(start), "sub", "dave"), errStore},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.v.Verify(context.Background(), sign(t, k.ec1, jose.ES256, tc.claims))
			checkErr(t, err, tc.want)
		})
	}
}

func TestVerifyLookupFailureMatchesNoSentinel(t *testing.T) {
	k := keys()
	s := newSetup(t, func(o *token.Options) {
		o.NotBefore = func(context.Context, string, string) (time.Time, error) {
			return time.Time{}, errors.New("store down")
		}
	}, k.ec1)
	_, err := s.v.Verify(context.Background(), sign(t, k.ec1, jose.ES256, claims(start)))
	for _, sentinel := range []error{token.ErrMalformed, token.ErrRevoked, token.ErrJWKSUnavailable, token.ErrSignature} {
		if errors.Is(err, sentinel) {
			t.Errorf("err = %v matches %v; a system failure must match no token class", err, sentinel)
		}
	}
	if err == nil {
		t.Fatal("Verify succeeded although the not-before lookup failed")
	}
}
