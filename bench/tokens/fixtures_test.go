package tokens

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tetherlb/tether/token"
)

const (
	issuer   = "https://auth.example.com"
	audience = "https://api.example.com"
	leeway   = 30 * time.Second
	typ      = "at+jwt"
)

// benchKey is one signing key of the benchmark, with the alg and kid its
// tokens carry.
type benchKey struct {
	alg  string
	kid  string
	priv crypto.Signer
}

// algs are the algorithms compared, in report order.
var algs = []string{"RS256", "ES256", "EdDSA"}

// benchKeys holds one key per algorithm, made once per test binary.
var benchKeys = sync.OnceValue(func() map[string]benchKey {
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return map[string]benchKey{
		"RS256": {alg: "RS256", kid: "rsa-2048", priv: r},
		"ES256": {alg: "ES256", kid: "ec-p256", priv: e},
		"EdDSA": {alg: "EdDSA", kid: "ed25519", priv: ed},
	}
})

// accessClaims are an RFC 9068 access token's claims at now, valid for
// an hour: long enough for any benchmark run on the real clock.
func accessClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":       issuer,
		"sub":       "user-7f3a9c",
		"aud":       audience,
		"exp":       now.Add(time.Hour).Unix(),
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"jti":       "c0a8e2b4-5d1f-4e8a-9b7c-2f6d3e1a0b9c",
		"client_id": "web-app",
		"scope":     "orders:read orders:write",
	}
}

// mint signs claims with k as a tether token service would: typ at+jwt
// and k's kid. It signs with golang-jwt, so that a token both libraries
// accept also shows that the two interoperate.
func mint(tb testing.TB, k benchKey, claims jwt.MapClaims) string {
	tb.Helper()
	t := jwt.NewWithClaims(jwt.GetSigningMethod(k.alg), claims)
	t.Header["kid"] = k.kid
	t.Header["typ"] = typ
	raw, err := t.SignedString(k.priv)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// verifyFunc verifies one token and returns why it was refused, or nil.
type verifyFunc func(raw string) error

// newTether returns a token.Verifier's Verify on a static key set holding
// every benchmark key, on the real clock. cacheSize -1 disables the
// verified-token cache; 0 takes its default.
func newTether(tb testing.TB, cacheSize int) verifyFunc {
	tb.Helper()
	var set jose.JSONWebKeySet
	for _, alg := range algs {
		k := benchKeys()[alg]
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"})
	}
	doc, err := json.Marshal(set)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := token.New(token.Options{
		Issuer:     issuer,
		Audiences:  []string{audience},
		Algorithms: algs,
		Leeway:     leeway,
		CacheSize:  cacheSize,
		JWKSFunc:   func(context.Context) ([]byte, error) { return doc, nil },
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(v.Close)
	ctx := context.Background()
	return func(raw string) error {
		_, err := v.Verify(ctx, raw)
		return err
	}
}

// jwtClaims is how a golang-jwt user types an access token: the
// registered claims plus the two an authorizer reads.
type jwtClaims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// newJWTParser returns a golang-jwt v5 parser with the strict options an
// access-token verifier needs, for alg, and a Keyfunc that picks the key
// by kid, as tether does.
func newJWTParser(alg string) (*jwt.Parser, jwt.Keyfunc) {
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{alg}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	)
	keys := map[string]crypto.PublicKey{}
	for _, k := range benchKeys() {
		keys[k.kid] = k.priv.Public()
	}
	keyfunc := func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if k, ok := keys[kid]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("unknown kid %q", kid)
	}
	return p, keyfunc
}

// newJWT returns golang-jwt's verify into jwtClaims, the typed claims.
func newJWT(alg string) verifyFunc {
	p, keyfunc := newJWTParser(alg)
	return func(raw string) error {
		var c jwtClaims
		_, err := p.ParseWithClaims(raw, &c, keyfunc)
		return err
	}
}

// newJWTMap returns golang-jwt's verify into jwt.MapClaims, what
// jwt.Parse does: every claim in a map, as token.Claims.Raw holds them.
func newJWTMap(alg string) verifyFunc {
	p, keyfunc := newJWTParser(alg)
	return func(raw string) error {
		_, err := p.ParseWithClaims(raw, jwt.MapClaims{}, keyfunc)
		return err
	}
}

// joseClaims is how a go-jose user types an access token.
type joseClaims struct {
	josejwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// newJose returns go-jose v4's own JWT verify, the library tether is built
// on: jwt.ParseSigned with the alg allowlist, the key by kid, the claims
// into joseClaims, ValidateWithLeeway for iss, aud, exp, nbf and iat, and
// exp required by hand (go-jose checks it only when present).
func newJose(alg string) verifyFunc {
	algs := []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)}
	keys := map[string]crypto.PublicKey{}
	for _, k := range benchKeys() {
		keys[k.kid] = k.priv.Public()
	}
	return func(raw string) error {
		t, err := josejwt.ParseSigned(raw, algs)
		if err != nil {
			return err
		}
		pub, ok := keys[t.Headers[0].KeyID]
		if !ok {
			return fmt.Errorf("unknown kid %q", t.Headers[0].KeyID)
		}
		var c joseClaims
		if err := t.Claims(pub, &c); err != nil {
			return err
		}
		if c.Expiry == nil {
			return errors.New("no exp")
		}
		return c.ValidateWithLeeway(josejwt.Expected{Issuer: issuer, AnyAudience: josejwt.Audience{audience}, Time: time.Now()}, leeway)
	}
}

// newSignatureOnly returns the floor under every contender: the stdlib
// signature check of the token's signing input, as golang-jwt does it,
// with the base64url decoding of the signature and nothing else (no
// header, no claims).
func newSignatureOnly(alg string) verifyFunc {
	pub := benchKeys()[alg].priv.Public()
	return func(raw string) error {
		dot := strings.LastIndexByte(raw, '.')
		if dot < 0 {
			return errors.New("no signature")
		}
		input := raw[:dot]
		sig, err := base64.RawURLEncoding.DecodeString(raw[dot+1:])
		if err != nil {
			return err
		}
		digest := sha256.Sum256([]byte(input))
		switch pub := pub.(type) {
		case *rsa.PublicKey:
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
		case *ecdsa.PublicKey:
			if len(sig) != 64 {
				return errors.New("bad ES256 signature length")
			}
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			if !ecdsa.Verify(pub, digest[:], r, s) {
				return errors.New("bad signature")
			}
		case ed25519.PublicKey:
			if !ed25519.Verify(pub, []byte(input), sig) {
				return errors.New("bad signature")
			}
		}
		return nil
	}
}

// contender is one verifier in the cold comparison.
type contender struct {
	name string
	new  func(tb testing.TB, alg string) verifyFunc
}

// contenders are the cold verifiers, in report order: tether, golang-jwt
// into typed claims and into a map, go-jose (tether's JOSE library) on its
// own, and the signature check alone.
var contenders = []contender{
	{"tether", func(tb testing.TB, _ string) verifyFunc { return newTether(tb, -1) }},
	{"golang-jwt", func(_ testing.TB, alg string) verifyFunc { return newJWT(alg) }},
	{"golang-jwt-map", func(_ testing.TB, alg string) verifyFunc { return newJWTMap(alg) }},
	{"go-jose", func(_ testing.TB, alg string) verifyFunc { return newJose(alg) }},
	{"signature-only", func(_ testing.TB, alg string) verifyFunc { return newSignatureOnly(alg) }},
}
