package token_test

import (
	"context"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tetherlb/tether/token"
)

// FuzzVerify feeds Verify random strings and mutations of valid tokens. It
// must never panic, and may succeed only for a token signed here, byte for
// byte: no mutation of a valid token (another spelling, a changed header
// or claim) may verify. The seed corpus in testdata/fuzz/FuzzVerify holds
// tokens signed by keys of earlier runs under the same kids, which reach
// the signature check and fail it.
func FuzzVerify(f *testing.F) {
	k := keys()
	doc := jwksDoc(f, k.rsa1.public(), k.ec1.public(), k.ed1.public())
	v, err := token.New(token.Options{
		Issuer: issuer, Audiences: []string{audience},
		Algorithms: []string{"RS256", "PS256", "ES256", "EdDSA"},
		Now:        func() time.Time { return start },
		JWKSFunc:   func(context.Context) ([]byte, error) { return doc, nil },
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(v.Close)
	signed := map[string]bool{}
	for _, tc := range []struct {
		key testKey
		alg jose.SignatureAlgorithm
	}{{k.rsa1, jose.RS256}, {k.ec1, jose.ES256}, {k.ed1, jose.EdDSA}} {
		raw := sign(f, tc.key, tc.alg, with(claims(start), "roles", []string{"admin"}, "aud", []string{"x", audience}))
		signed[raw] = true
		f.Add(raw)
		// A few structural mutations as seeds.
		parts := strings.Split(raw, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + "." + parts[1])
		f.Add(parts[1] + "." + parts[0] + "." + parts[2])
		f.Add(raw + "." + parts[2] + "." + parts[2])
	}
	for raw := range signed {
		if _, err := v.Verify(context.Background(), raw); err != nil {
			f.Fatalf("a valid seed does not verify: %v", err)
		}
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(context.Background(), raw)
		if err == nil && !signed[raw] {
			t.Fatalf("a token that was never signed verified: %q → %+v", raw, c)
		}
		if err != nil && c != nil {
			t.Fatalf("claims returned with error %v", err)
		}
	})
}
