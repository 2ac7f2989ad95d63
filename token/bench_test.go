package token_test

import (
	"context"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tetherlb/tether/token"
)

// benchVerifier is a Verifier on a static key set holding every fixture
// key, with a fixed clock and no HTTP.
func benchVerifier(b *testing.B, cacheSize int) *token.Verifier {
	b.Helper()
	k := keys()
	doc := jwksDoc(b, k.rsa1.public(), k.ec1.public(), k.ed1.public())
	v, err := token.New(token.Options{
		Issuer: issuer, Audiences: []string{audience}, CacheSize: cacheSize,
		Now:      func() time.Time { return start },
		JWKSFunc: func(context.Context) ([]byte, error) { return doc, nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(v.Close)
	return v
}

// BenchmarkVerify measures a full verification (no cache) per algorithm.
func BenchmarkVerify(b *testing.B) {
	k := keys()
	v := benchVerifier(b, -1)
	for _, tc := range []struct {
		key testKey
		alg jose.SignatureAlgorithm
	}{{k.rsa1, jose.RS256}, {k.ec1, jose.ES256}, {k.ed1, jose.EdDSA}} {
		b.Run(string(tc.alg), func(b *testing.B) {
			raw := sign(b, tc.key, tc.alg, claims(start))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(context.Background(), raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyCached measures a repeated token, served from the cache.
func BenchmarkVerifyCached(b *testing.B) {
	k := keys()
	v := benchVerifier(b, 0)
	raw := sign(b, k.ec1, jose.ES256, claims(start))
	if _, err := v.Verify(context.Background(), raw); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(context.Background(), raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := v.Verify(context.Background(), raw); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
