package tokens

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tetherlb/tether/internal/users"
)

// TestContendersAgree checks that what the benchmarks compare is the
// success path of verifiers doing the same job: every contender accepts
// the benchmark token, and refuses it tampered with, expired, or for
// another issuer or audience. It also pins the checks only tether makes,
// which the README mentions. signature-only, the floor, checks the
// signature and nothing else.
func TestContendersAgree(t *testing.T) {
	now := time.Now()
	for _, alg := range algs {
		k := benchKeys()[alg]
		good := mint(t, k, accessClaims(now))
		tests := []struct {
			name        string
			raw         string
			tetherOK    bool // whether tether accepts it
			golangJWTOK bool // whether golang-jwt and go-jose accept it
		}{
			{"valid", good, true, true},
			{"signature tampered", tamperSignature(good), false, false},
			{"payload tampered", tamperPayload(t, good), false, false},
			{"expired", mint(t, k, with(accessClaims(now.Add(-2*time.Hour)), "iat", now.Add(-2*time.Hour).Unix())), false, false},
			{"wrong audience", mint(t, k, with(accessClaims(now), "aud", "https://other.example.com")), false, false},
			{"wrong issuer", mint(t, k, with(accessClaims(now), "iss", "https://evil.example.com")), false, false},
			{"no exp", mint(t, k, with(accessClaims(now), "exp", nil)), false, false},
			{"iat ahead", mint(t, k, with(accessClaims(now), "iat", now.Add(time.Hour).Unix())), false, false},
			// The checks golang-jwt leaves to its user.
			{"typ JWT (an ID token's)", mintHeader(t, k, accessClaims(now), "typ", "JWT"), false, true},
			{"jku header", mintHeader(t, k, accessClaims(now), "jku", "https://evil.example.com/jwks"), false, true},
			{"no sub", mint(t, k, with(accessClaims(now), "sub", nil)), false, true},
		}
		for _, c := range contenders {
			verify := c.new(t, alg)
			for _, tt := range tests {
				t.Run(alg+"/"+c.name+"/"+tt.name, func(t *testing.T) {
					want := tt.golangJWTOK
					switch c.name {
					case "tether":
						want = tt.tetherOK
					case "signature-only":
						want = !strings.HasSuffix(tt.name, "tampered")
					}
					if err := verify(tt.raw); (err == nil) != want {
						t.Fatalf("verify: %v; want accepted %v", err, want)
					}
				})
			}
		}
	}
}

// TestCachedVerify checks the cached contender: the benchmark token is
// accepted again from the cache, and a tampered copy is still refused.
func TestCachedVerify(t *testing.T) {
	verify := newTether(t, 0)
	raw := mint(t, benchKeys()["ES256"], accessClaims(time.Now()))
	for i := range 2 {
		if err := verify(raw); err != nil {
			t.Fatalf("verification %d: %v", i+1, err)
		}
	}
	if err := verify(tamperSignature(raw)); err == nil {
		t.Fatal("a tampered copy of a cached token verified")
	}
}

// TestLogin runs the login benchmark's bodies once each, at the default
// parameters, and checks a wrong password is refused.
func TestLogin(t *testing.T) {
	// bench/tokens.sh reads this line for its report.
	p := users.DefaultParams()
	t.Logf("argon2id parameters: memory %d KiB, %d iterations, %d lanes, salt %d bytes, key %d bytes",
		p.Memory, p.Iterations, p.Parallelism, p.SaltLen, p.KeyLen)
	a := newLogin(t)
	if err := loginOK(a); err != nil {
		t.Fatalf("login: %v", err)
	}
	if err := loginUnknown(a, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Login(t.Context(), "alice", "wrong horse battery staple", loginIP); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
}

// with returns a copy of m with the given claims set (a nil value deletes).
func with(m jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// mintHeader is mint with one more header parameter (or typ replaced).
func mintHeader(t *testing.T, k benchKey, claims jwt.MapClaims, name, value string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.alg), claims)
	tok.Header["kid"] = k.kid
	tok.Header["typ"] = typ
	tok.Header[name] = value
	raw, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// tamperSignature changes one character in the middle of raw's signature,
// keeping it canonical base64url.
func tamperSignature(raw string) string {
	i := strings.LastIndexByte(raw, '.') + (len(raw)-strings.LastIndexByte(raw, '.'))/2
	c := byte('A')
	if raw[i] == 'A' {
		c = 'B'
	}
	return raw[:i] + string(c) + raw[i+1:]
}

// tamperPayload replaces raw's sub, keeping the header and signature.
func tamperPayload(t *testing.T, raw string) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["sub"] = "admin"
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}
