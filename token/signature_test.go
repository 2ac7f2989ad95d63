package token_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tetherlb/tether/token"
)

// Signatures in the wrong format for their algorithm never verify: the
// signature check is the standard library's, fed as RFC 7518 says.
func TestSignatureFormats(t *testing.T) {
	k := keys()
	s := newSetup(t, func(o *token.Options) { o.Algorithms = []string{"RS256", "PS256", "ES256", "EdDSA"} }, k.rsa1, k.rsa2, k.ec1, k.ed1)
	resign := func(raw string, sig []byte) string {
		return raw[:strings.LastIndexByte(raw, '.')+1] + b64.EncodeToString(sig)
	}
	input := func(raw string) []byte { return []byte(raw[:strings.LastIndexByte(raw, '.')]) }

	es := sign(t, k.ec1, jose.ES256, claims(start))
	digest := sha256.Sum256(input(es))
	der, err := ecdsa.SignASN1(rand.Reader, k.ec1.priv.(*ecdsa.PrivateKey), digest[:])
	if err != nil {
		t.Fatal(err)
	}
	rs := sign(t, k.rsa1, jose.RS256, claims(start))
	rsDigest := sha256.Sum256(input(rs))
	pss, err := rsa.SignPSS(rand.Reader, k.rsa1.priv.(*rsa.PrivateKey), crypto.SHA256, rsDigest[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	ps := sign(t, k.rsa2, jose.PS256, claims(start))
	psDigest := sha256.Sum256(input(ps))
	psShortSalt, err := rsa.SignPSS(rand.Reader, k.rsa2.priv.(*rsa.PrivateKey), crypto.SHA256, psDigest[:], &rsa.PSSOptions{SaltLength: 8})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		raw  string
	}{
		{"ES256 signature in ASN.1 DER, not R||S", resign(es, der)},
		{"ES256 signature one byte short", resign(es, mustSig(t, es)[:63])},
		{"ES256 R||S with a zero S", resign(es, append(mustSig(t, es)[:32:32], make([]byte, 32)...))},
		{"RS256 token signed with PSS", resign(rs, pss)},
		{"PS256 with an 8-byte salt, not the hash's 32", resign(ps, psShortSalt)},
		{"EdDSA signature of the wrong length", resign(sign(t, k.ed1, jose.EdDSA, claims(start)), make([]byte, 63))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.v.Verify(context.Background(), tc.raw); !errors.Is(err, token.ErrSignature) {
				t.Errorf("Verify = %v, want ErrSignature", err)
			}
		})
	}
	for name, raw := range map[string]string{"ES256": es, "RS256": rs, "PS256": ps} {
		if _, err := s.v.Verify(context.Background(), raw); err != nil {
			t.Errorf("the untouched %s token: %v", name, err)
		}
	}
}

func mustSig(t *testing.T, raw string) []byte {
	t.Helper()
	b, err := b64.DecodeString(raw[strings.LastIndexByte(raw, '.')+1:])
	if err != nil {
		t.Fatal(err)
	}
	return b
}
