package lb_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tetherlb/tether/internal/lb"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// localIssuer is tokens.issuer of the test configs' tokens block.
const localIssuer = "http://127.0.0.1:9903"

// tokensBlock is a tokens: block for local: true authorizers. tether's
// token service itself does not run in these tests: fakeAuthority stands
// in for it.
const tokensBlock = "tokens: {address: 127.0.0.1:9903, audiences: [api, admin], scopes: [orders:read, orders:write]}\n"

// signingKey is an ES256 key with its kid.
type signingKey struct {
	kid  string
	priv *ecdsa.PrivateKey
}

func newSigningKey(t testing.TB, kid string) signingKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, priv: k}
}

// jwks returns the public JWKS document of keys.
func jwks(t testing.TB, keys ...signingKey) []byte {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: "ES256", Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign returns claims as an access token (typ at+jwt) signed by k.
func (k signingKey) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", k.kid)
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// signHS256 signs claims with HMAC-SHA256 under secret, with kid: the
// algorithm-confusion attack when secret is a public key.
func signHS256(t testing.TB, kid string, secret []byte, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid)
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// unsigned returns claims as a token with alg none and no signature.
func unsigned(t testing.TB, kid string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "at+jwt", "kid": kid})
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(p) + "."
}

// claimsAt returns the claims of a good token for alice issued at now and
// valid for 10 minutes, with extra merged in (a nil value removes a claim).
func claimsAt(now time.Time, extra map[string]any) map[string]any {
	c := map[string]any{
		"iss": localIssuer, "sub": "alice", "aud": "api",
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"scope": "orders:read profile", "jti": fmt.Sprint(now.UnixNano()),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// fakeAuthority stands in for tether's token service (internal/tokens):
// a JWKS document, an issuer and per-user not-before times.
type fakeAuthority struct {
	issuer    string
	jwksCalls atomic.Int64
	storeDown atomic.Bool // NotBefore fails while set

	mu        sync.Mutex
	doc       []byte
	notBefore map[string]time.Time
	revoked   map[string]bool // "subject sid" of logins logged out everywhere
	record    bool            // keep the subjects NotBefore is asked about
	subjects  []string        // held, so that their memory is never reused
}

var _ lb.TokenAuthority = (*fakeAuthority)(nil)

func newFakeAuthority(t testing.TB, keys ...signingKey) *fakeAuthority {
	return &fakeAuthority{issuer: localIssuer, doc: jwks(t, keys...), notBefore: map[string]time.Time{}, revoked: map[string]bool{}, record: true}
}

func (f *fakeAuthority) Issuer() string { return f.issuer }

func (f *fakeAuthority) JWKS(context.Context) ([]byte, error) {
	f.jwksCalls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.doc, nil
}

func (f *fakeAuthority) NotBefore(_ context.Context, _, subject string) (time.Time, error) {
	if f.storeDown.Load() {
		return time.Time{}, errors.New("dial tcp 127.0.0.1:6379: connection refused")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.record {
		f.subjects = append(f.subjects, subject)
	}
	return f.notBefore[subject], nil
}

func (f *fakeAuthority) SessionRevoked(_, subject, sid string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.revoked[subject+" "+sid]
}

func (f *fakeAuthority) revokeSession(subject, sid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked[subject+" "+sid] = true
}

func (f *fakeAuthority) setNotBefore(subject string, t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notBefore[subject] = t
}

// decodes returns how many distinct claim sets the verifier handed to
// NotBefore. The verifier asks NotBefore on every request, with the
// subject string of the token's claims: a token served from the cache
// comes with the claims decoded when it was first verified, the very same
// string, while a token verified afresh comes with a newly decoded one.
// So this counts full verifications, as seen from outside the verifier.
func (f *fakeAuthority) decodes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[*byte]bool{}
	for _, s := range f.subjects {
		seen[unsafe.StringData(s)] = true
	}
	return len(seen)
}

// withTokens gives the load balancer a token service.
func withTokens(a lb.TokenAuthority) ts.Option {
	return func(d *lb.Deps) { d.Tokens = a }
}

// jwtYAML renders a config with a listener "web" whose rules are given
// (indented 6 spaces, YAML list items), one group "app" over targets, and
// extra top-level YAML.
func jwtYAML(targets []*ts.Target, rules, extra string) string {
	var b strings.Builder
	b.WriteString(`admin: {address: "off"}
listeners:
  - name: web
    address: 127.0.0.1:0
    default_target_group: app
    rules:
      - {path: /open, target_group: app}
`)
	b.WriteString(rules)
	b.WriteString(`target_groups:
  - name: app
    health_check: {path: /healthz}
    targets:
`)
	for _, t := range targets {
		fmt.Fprintf(&b, "      - {id: %s, address: %q}\n", t.ID, t.Addr)
	}
	b.WriteString(extra)
	return b.String()
}

// answer is what a client got from tether.
type answer struct {
	code      int
	challenge string // WWW-Authenticate
	retry     string // Retry-After
	body      map[string]string
	raw       string
}

// call sends GET url with hdr (name, value pairs; repeated names add
// values) and returns the answer.
func call(t *testing.T, url string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := plainClient().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	a := answer{code: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate"),
		retry: resp.Header.Get("Retry-After"), raw: string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal([]byte(a.raw), &a.body); err != nil {
			t.Errorf("the JSON error body %q does not decode: %v", a.raw, err)
		}
	}
	return a
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func hits(targets []*ts.Target) int64 {
	var n int64
	for _, tg := range targets {
		n += tg.Requests.Load()
	}
	return n
}

// lastTo returns the last request a target received for path.
func lastTo(t *testing.T, targets []*ts.Target, path string) *http.Request {
	t.Helper()
	for _, tg := range targets {
		if r := tg.LastRequest(); r != nil && r.URL.Path == path {
			return r
		}
	}
	t.Fatalf("no target received %s", path)
	return nil
}

func jwtDecisions(t *testing.T, l *ts.LB, result string) float64 {
	t.Helper()
	return ts.Metric(t, l.Registry(), "tether_authorizer_decisions_total", map[string]string{"type": "jwt", "result": result})
}
