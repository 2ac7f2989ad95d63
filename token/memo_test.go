package token_test

import (
	"context"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tetherlb/tether/token"
)

// TestHeaderMemo checks that memoizing headers skips none of the checks:
// a memoized header still needs a good signature and good claims, forged
// headers are never memoized, other headers are still checked, and the
// memo stays bounded.
func TestHeaderMemo(t *testing.T) {
	k := keys()
	s := newSetup(t, func(o *token.Options) { o.CacheSize = -1 }, k.ec1)
	good := sign(t, k.ec1, jose.ES256, claims(start))
	verified(t, s.v, good)
	if n := token.MemoizedHeaders(s.v); n != 1 {
		t.Fatalf("memoized %d headers after one token, want 1", n)
	}
	header := good[:strings.IndexByte(good, '.')]
	forged := header + good[strings.IndexByte(good, '.'):strings.LastIndexByte(good, '.')] + "." +
		strings.Repeat("A", 86)
	tests := []struct {
		name string
		raw  string
		want error
	}{
		{"memoized header, bad signature", forged, token.ErrSignature},
		{"memoized header, signed by another key", sign(t, k.ec2, jose.ES256, claims(start), "kid", "ec-1"), token.ErrSignature},
		{"memoized header, expired", sign(t, k.ec1, jose.ES256, with(claims(start), "exp", start.Add(-2*time.Hour).Unix())), token.ErrExpired},
		{"memoized header, wrong audience", sign(t, k.ec1, jose.ES256, with(claims(start), "aud", "other")), token.ErrAudience},
		{"new header, forged", sign(t, k.ec2, jose.ES256, claims(start), "kid", "ec-1", "x-forged", true), token.ErrSignature},
		{"new header, wrong typ", sign(t, k.ec1, jose.ES256, claims(start), "typ", "JWT"), token.ErrType},
		{"new header, jku", sign(t, k.ec1, jose.ES256, claims(start), "jku", "https://evil.example/jwks"), token.ErrHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // the second time after any memoizing
				_, err := s.v.Verify(context.Background(), tt.raw)
				checkErr(t, err, tt.want)
			}
		})
	}
	if n := token.MemoizedHeaders(s.v); n != 1 {
		t.Errorf("memoized %d headers after refusals, want 1", n)
	}
	for i := range 40 {
		verified(t, s.v, sign(t, k.ec1, jose.ES256, claims(start), "x-n", i))
		if n := token.MemoizedHeaders(s.v); n > 32 {
			t.Fatalf("memoized %d headers, more than 32", n)
		}
	}
	verified(t, s.v, good)
}
