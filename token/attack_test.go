package token_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tetherlb/tether/token"
)

var b64 = base64.RawURLEncoding

// attacker is a server that must never be contacted.
func attacker(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(`{"keys":[]}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/jwks.json", &hits
}

// unsigned builds header.payload. with an empty signature.
func unsigned(t *testing.T, header map[string]any, cl map[string]any) string {
	return b64.EncodeToString([]byte(mustJSON(t, header))) + "." + b64.EncodeToString([]byte(mustJSON(t, cl))) + "."
}

// hs256 signs header.payload with HMAC-SHA256 under secret.
func hs256(t *testing.T, header map[string]any, cl map[string]any, secret []byte) string {
	input := strings.TrimSuffix(unsigned(t, header, cl), ".")
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + b64.EncodeToString(mac.Sum(nil))
}

func selfSigned(t *testing.T, k *ecdsa.PrivateKey) string {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"},
		NotBefore: start.Add(-time.Hour), NotAfter: start.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

func TestAttacks(t *testing.T) {
	k := keys()
	// rsa-1 publishes alg RS256; PS256 and ES256 are allowed so that only
	// the key binding can refuse them.
	s := newSetup(t, func(o *token.Options) { o.Algorithms = []string{"RS256", "PS256", "ES256", "EdDSA"} },
		k.rsa1, k.ec1, k.ed1)
	evilURL, evilHits := attacker(t)
	evilKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	evil := testKey{kid: "ec-1", alg: jose.ES256, priv: evilKey}
	cl := claims(start)
	rsaPub, err := x509.MarshalPKIXPublicKey(k.rsa1.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPub})
	hdr := func(alg string) map[string]any { return map[string]any{"alg": alg, "typ": "at+jwt", "kid": "rsa-1"} }
	valid := sign(t, k.ec1, jose.ES256, cl)

	for _, tc := range []struct {
		name string
		raw  string
		want error
	}{
		{"alg none", unsigned(t, hdr("none"), cl), token.ErrAlgorithm},
		{"alg NONE", unsigned(t, hdr("NONE"), cl), token.ErrAlgorithm},
		{"alg none with a signature", unsigned(t, hdr("none"), cl) + "c2ln", token.ErrAlgorithm},
		{"HS256 keyed with the RSA public key PEM", hs256(t, hdr("HS256"), cl, rsaPEM), token.ErrAlgorithm},
		{"HS256 keyed with the RSA public key DER", hs256(t, hdr("HS256"), cl, rsaPub), token.ErrAlgorithm},
		{"alg missing", unsigned(t, map[string]any{"typ": "at+jwt", "kid": "rsa-1"}, cl) + "c2ln", token.ErrAlgorithm},
		{"jku to the attacker", sign(t, evil, jose.ES256, cl, "jku", evilURL), token.ErrHeader},
		{"x5u to the attacker", sign(t, evil, jose.ES256, cl, "x5u", evilURL), token.ErrHeader},
		{"jku on a validly signed token", sign(t, k.ec1, jose.ES256, cl, "jku", evilURL), token.ErrHeader},
		{"embedded jwk of the attacker", signEmbedded(t, evil, cl), token.ErrHeader},
		{"x5c of the attacker", sign(t, evil, jose.ES256, cl, "x5c", []string{selfSigned(t, evilKey)}), token.ErrHeader},
		{"attacker key under a known kid", sign(t, evil, jose.ES256, cl), token.ErrSignature},
		{"kid not in the set", sign(t, testKey{kid: "nope", priv: k.ec1.priv}, jose.ES256, cl), token.ErrUnknownKey},
		{"kid not a string", sign(t, k.ec1, jose.ES256, cl, "kid", 1), token.ErrMalformed},
		// Injected kids are only ever a map key: nothing reads a file, a
		// database or a URL named by them.
		{"kid path traversal", sign(t, testKey{kid: "../../../../etc/passwd", priv: k.ec1.priv}, jose.ES256, cl), token.ErrUnknownKey},
		{"kid SQL injection", sign(t, testKey{kid: "x' OR '1'='1", priv: k.ec1.priv}, jose.ES256, cl), token.ErrUnknownKey},
		{"kid with NUL and a known prefix", sign(t, testKey{kid: "ec-1\x00", priv: k.ec1.priv}, jose.ES256, cl), token.ErrUnknownKey},
		{"kid a URL", sign(t, testKey{kid: evilURL, priv: k.ec1.priv}, jose.ES256, cl), token.ErrUnknownKey},
		{"nbf an hour ahead", sign(t, k.ec1, jose.ES256, with(cl, "nbf", start.Add(time.Hour).Unix())), token.ErrNotYetValid},
		{"RS256 key with a PS256 header", sign(t, k.rsa1, jose.PS256, cl), token.ErrAlgorithm},
		{"RS256 key named by an ES256 token", sign(t, testKey{kid: "rsa-1", priv: k.ec1.priv}, jose.ES256, cl), token.ErrAlgorithm},
		{"EdDSA key named by an RS256 token", sign(t, testKey{kid: "ed-1", priv: k.rsa1.priv}, jose.RS256, cl), token.ErrAlgorithm},
		{"crit", sign(t, k.ec1, jose.ES256, cl, "crit", []string{"exp"}), token.ErrHeader},
		{"empty crit", sign(t, k.ec1, jose.ES256, cl, "crit", []string{}), token.ErrHeader},
		{"unencoded payload (b64 false)", signUnencoded(t, k.ec1, cl), token.ErrHeader},
		{"nested JWT (cty)", sign(t, k.ec1, jose.ES256, cl, "cty", "JWT"), token.ErrHeader},
		{"oversized", sign(t, k.ec1, jose.ES256, with(cl, "pad", strings.Repeat("x", token.MaxTokenSize))), token.ErrMalformed},
		{"JWE compact", encrypted(t, k.rsa1, cl), token.ErrMalformed},
		{"JSON serialization", jsonSerialized(t, k.ec1, cl, true), token.ErrMalformed},
		{"flattened JSON serialization", jsonSerialized(t, k.ec1, cl, false), token.ErrMalformed},
		{"duplicate alg in the header", signRaw(t, k.rsa1, `{"alg":"HS256","alg":"RS256","typ":"at+jwt","kid":"rsa-1"}`, mustJSON(t, cl)), token.ErrMalformed},
		{"duplicate kid in the header", signRaw(t, k.rsa1, `{"alg":"RS256","kid":"x","typ":"at+jwt","kid":"rsa-1"}`, mustJSON(t, cl)), token.ErrMalformed},
		{"duplicate sub in the claims", signRaw(t, k.ec1, `{"alg":"ES256","typ":"at+jwt","kid":"ec-1"}`,
			strings.Replace(mustJSON(t, cl), `"sub":"alice"`, `"sub":"alice","sub":"admin"`, 1)), token.ErrMalformed},
		{"invalid UTF-8 in the claims", signRaw(t, k.ec1, `{"alg":"ES256","typ":"at+jwt","kid":"ec-1"}`,
			strings.Replace(mustJSON(t, cl), `"alice"`, "\"ali\xffce\"", 1)), token.ErrMalformed},
		{"claims not an object", signRaw(t, k.ec1, `{"alg":"ES256","typ":"at+jwt","kid":"ec-1"}`, `["sub"]`), token.ErrMalformed},
		{"expired 1s beyond leeway", sign(t, k.ec1, jose.ES256, with(cl, "exp", start.Add(-31*time.Second).Unix())), token.ErrExpired},
		{"payload swapped", swapPayload(t, valid, with(cl, "sub", "admin")), token.ErrSignature},
		{"signature truncated", truncateSig(valid), token.ErrSignature},
		{"non-canonical base64 in the signature", nonCanonical(t, valid), token.ErrMalformed},
		{"padding", valid + "==", token.ErrMalformed},
		{"newline inside", valid[:20] + "\n" + valid[20:], token.ErrMalformed},
		{"leading space", " " + valid, token.ErrMalformed},
		{"two parts", valid[:strings.LastIndexByte(valid, '.')], token.ErrMalformed},
		{"four parts", valid + ".x", token.ErrMalformed},
		{"empty", "", token.ErrMalformed},
		{"header not JSON", b64.EncodeToString([]byte("alg")) + ".e30.c2ln", token.ErrMalformed},
		{"header a JSON array", b64.EncodeToString([]byte(`["alg"]`)) + ".e30.c2ln", token.ErrMalformed},
		{"empty signature", unsigned(t, map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": "ec-1"}, cl), token.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := s.v.Verify(context.Background(), tc.raw)
			if c != nil {
				t.Errorf("claims returned with an error: %+v", c)
			}
			checkErr(t, err, tc.want)
			t.Logf("%v", err)
		})
	}
	if n := evilHits.Load(); n != 0 {
		t.Errorf("the attacker's server was contacted %d times", n)
	}
	if _, err := s.v.Verify(context.Background(), valid); err != nil {
		t.Errorf("the unmodified token: %v", err)
	}
}

// TestGoJOSERefusesDuplicateHeaderMembers documents the go-jose behaviour
// the verifier relies on: its JSON decoder refuses duplicate member names
// (RFC 7515 §4 would also allow keeping the last one).
func TestGoJOSERefusesDuplicateHeaderMembers(t *testing.T) {
	raw := signRaw(t, keys().rsa1, `{"alg":"HS256","alg":"RS256"}`, `{}`)
	if _, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.HS256}); err == nil {
		t.Fatal("go-jose parsed a header with a duplicate alg")
	}
}

func signEmbedded(t *testing.T, k testKey, cl map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("at+jwt")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(cl).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func signUnencoded(t *testing.T, k testKey, cl map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", k.kid).WithBase64(false)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign([]byte(b64.EncodeToString([]byte(mustJSON(t, cl)))))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func encrypted(t *testing.T, k testKey, cl map[string]any) string {
	t.Helper()
	enc, err := jose.NewEncrypter(jose.A128GCM, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: k.priv.Public(), KeyID: k.kid},
		(&jose.EncrypterOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Encrypted(enc).Claims(cl).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func jsonSerialized(t *testing.T, k testKey, cl map[string]any, full bool) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", k.kid))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign([]byte(mustJSON(t, cl)))
	if err != nil {
		t.Fatal(err)
	}
	if full {
		return obj.FullSerialize()
	}
	parts := strings.Split(must(obj.CompactSerialize()), ".")
	return mustJSON(t, map[string]string{"protected": parts[0], "payload": parts[1], "signature": parts[2]})
}

// truncateSig drops the last bytes of the signature, keeping the encoding
// canonical.
func truncateSig(raw string) string {
	i := strings.LastIndexByte(raw, '.')
	sig := must2(b64.DecodeString(raw[i+1:]))
	return raw[:i+1] + b64.EncodeToString(sig[:len(sig)-3])
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

func swapPayload(t *testing.T, raw string, cl map[string]any) string {
	p := strings.Split(raw, ".")
	return p[0] + "." + b64.EncodeToString([]byte(mustJSON(t, cl))) + "." + p[2]
}

// nonCanonical sets unused low bits of the signature's last character: a
// lenient base64 decoder yields the same signature bytes, so the token
// would verify under a second spelling.
func nonCanonical(t *testing.T, raw string) string {
	t.Helper()
	sig := raw[strings.LastIndexByte(raw, '.')+1:]
	if len(sig)%4 == 0 {
		t.Fatalf("signature of %d characters has no unused bits", len(sig))
	}
	last := sig[len(sig)-1]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, last)
	tweaked := raw[:len(raw)-1] + string(alphabet[i^1])
	if dec, _ := b64.DecodeString(tweaked[strings.LastIndexByte(tweaked, '.')+1:]); string(dec) != string(must2(b64.DecodeString(sig))) {
		t.Fatal("the tweak changed the decoded signature")
	}
	return tweaked
}

func must2(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestWeakRSAKeyIgnored checks that a 1024-bit RSA key in the key set is
// skipped while the other keys stay usable.
func TestWeakRSAKeyIgnored(t *testing.T) {
	k := keys()
	s := newSetup(t, nil, k.rsaWeak, k.rsa1)
	_, err := s.v.Verify(context.Background(), sign(t, k.rsaWeak, jose.RS256, claims(start)))
	checkErr(t, err, token.ErrUnknownKey)
	if _, err := s.v.Verify(context.Background(), sign(t, k.rsa1, jose.RS256, claims(start))); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.rsaWeak.priv.(*rsa.PrivateKey); !ok {
		t.Fatal("fixture is not RSA")
	}
}
