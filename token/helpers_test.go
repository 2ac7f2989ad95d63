package token_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/token"
)

const (
	issuer   = "http://127.0.0.1:9903"
	audience = "https://api.example.com"
)

var start = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// testKey is a private key with the kid and alg it signs under.
type testKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
	// jwkAlg is the "alg" published in the JWKS; "" publishes none.
	jwkAlg string
}

// public returns k's JWK as published in a key set.
func (k testKey) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.jwkAlg, Use: "sig"}
}

// fixtures holds the keys of the whole test binary: RSA generation is slow
// under the race detector.
type fixtures struct {
	rsa1, rsa2, rsaWeak, ec1, ec2, ed1 testKey
}

var keys = sync.OnceValue(func() fixtures {
	rsaKey := func(bits int) *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			panic(err)
		}
		return k
	}
	ecKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return fixtures{
		rsa1:    testKey{kid: "rsa-1", alg: jose.RS256, priv: rsaKey(2048), jwkAlg: "RS256"},
		rsa2:    testKey{kid: "rsa-2", alg: jose.RS256, priv: rsaKey(2048)},
		rsaWeak: testKey{kid: "rsa-weak", alg: jose.RS256, priv: rsaKey(1024)},
		ec1:     testKey{kid: "ec-1", alg: jose.ES256, priv: ecKey()},
		ec2:     testKey{kid: "ec-2", alg: jose.ES256, priv: ecKey()},
		ed1:     testKey{kid: "ed-1", alg: jose.EdDSA, priv: ed},
	}
})

// jwksDoc marshals a key set.
func jwksDoc(t testing.TB, ks ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jwksServer serves a JWKS document and counts requests.
type jwksServer struct {
	*httptest.Server
	mu           sync.Mutex
	doc          []byte
	status       int
	cacheControl string
	gate         chan struct{} // if set, requests wait for it to close
	entered      chan struct{} // if set, receives a value as each request arrives
	hits         atomic.Int64
}

func newJWKSServer(t testing.TB, ks ...testKey) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK}
	s.setKeys(t, ks...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		doc, status, cc, gate, entered := s.doc, s.status, s.cacheControl, s.gate, s.entered
		s.mu.Unlock()
		if entered != nil {
			entered <- struct{}{}
		}
		if gate != nil {
			<-gate
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		w.Write(doc)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(t testing.TB, ks ...testKey) {
	t.Helper()
	pubs := make([]jose.JSONWebKey, len(ks))
	for i, k := range ks {
		pubs[i] = k.public()
	}
	s.setDoc(jwksDoc(t, pubs...))
}

func (s *jwksServer) setDoc(doc []byte) {
	s.mu.Lock()
	s.doc = doc
	s.mu.Unlock()
}

func (s *jwksServer) set(f func(s *jwksServer)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

func (s *jwksServer) url() string { return s.URL + "/.well-known/jwks.json" }

// setup is a Verifier on a JWKS server, with a fake clock.
type setup struct {
	v     *token.Verifier
	srv   *jwksServer
	clock *clock.Fake
}

// newSetup starts a JWKS server publishing ks and a Verifier on it; edit
// adjusts the options first.
func newSetup(t testing.TB, edit func(*token.Options), ks ...testKey) *setup {
	t.Helper()
	s := newServerSetup(t, ks...)
	s.start(t, edit)
	return s
}

// newServerSetup starts only the JWKS server, so that the test can
// configure it before calling start.
func newServerSetup(t testing.TB, ks ...testKey) *setup {
	t.Helper()
	return &setup{srv: newJWKSServer(t, ks...), clock: clock.NewFake(start)}
}

// start creates the Verifier on s's server and clock.
func (s *setup) start(t testing.TB, edit func(*token.Options)) {
	t.Helper()
	opts := token.Options{
		Issuer:    issuer,
		Audiences: []string{audience},
		JWKSURL:   s.srv.url(),
		Now:       s.clock.Now,
	}
	if edit != nil {
		edit(&opts)
	}
	v, err := token.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	s.v = v
}

// claims returns valid access-token claims at now.
func claims(now time.Time) map[string]any {
	return map[string]any{
		"iss":       issuer,
		"sub":       "alice",
		"aud":       audience,
		"exp":       now.Add(10 * time.Minute).Unix(),
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"jti":       "jti-1",
		"client_id": "web",
		"scope":     "orders:read orders:write",
	}
}

// with returns a copy of m with the given claims set (a nil value deletes).
func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
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

// sign signs cl with k under alg with go-jose, with typ at+jwt, k's kid
// and the extra headers (a nil value removes typ or kid).
func sign(t testing.TB, k testKey, alg jose.SignatureAlgorithm, cl map[string]any, hdr ...any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", k.kid)
	for i := 0; i < len(hdr); i += 2 {
		name := jose.HeaderKey(hdr[i].(string))
		if hdr[i+1] == nil {
			delete(opts.ExtraHeaders, name)
		} else {
			opts.WithHeader(name, hdr[i+1])
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(cl).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// signRaw builds a compact JWS from literal header and payload JSON,
// signed with k (RS256, ES256 or EdDSA, by k's type), so that tests can
// sign what go-jose would refuse to produce.
func signRaw(t testing.TB, k testKey, headerJSON, payloadJSON string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(headerJSON)) + "." + enc.EncodeToString([]byte(payloadJSON))
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	switch p := k.priv.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, p, crypto.SHA256, digest[:])
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, p, digest[:])
		if err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
		}
	case ed25519.PrivateKey:
		sig = ed25519.Sign(p, []byte(input))
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + enc.EncodeToString(sig)
}

// mustJSON marshals v.
func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
