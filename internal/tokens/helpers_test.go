package tokens_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/keyring"
	"github.com/tetherlb/tether/internal/testsupport"
	"github.com/tetherlb/tether/internal/tokens"
	"github.com/tetherlb/tether/internal/users"
	"github.com/tetherlb/tether/internal/users/filestore"
	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/memstore"
	"github.com/tetherlb/tether/token"
)

// cheap argon2id parameters keep the tests fast; the benchmark uses the
// real ones.
var cheap = users.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// start is where the tests' fake clock begins: the real time, to the
// second, because the Redis and PostgreSQL stores expire records by their
// own clocks (a not-before record lives only minutes).
var start = time.Now().UTC().Truncate(time.Second)

const password = "correct horse battery staple"

// harness is a token service on a real loopback HTTP server, with a user
// pool in a real file and a fake clock.
type harness struct {
	t       testing.TB
	svc     *tokens.Service
	url     string
	clk     *clock.Fake
	users   users.Store
	refresh session.Store
	reg     *prometheus.Registry
	ring    *keyring.Ring
	alice   users.User
	logs    testsupport.SyncBuffer
}

type harnessOpt func(*harnessConf)

type harnessConf struct {
	yaml    string // extra keys of the tokens block
	refresh session.Store
	ring    *keyring.Ring
	users   users.Store
}

func withYAML(y string) harnessOpt           { return func(c *harnessConf) { c.yaml = y } }
func withRefresh(s session.Store) harnessOpt { return func(c *harnessConf) { c.refresh = s } }
func withRing(r *keyring.Ring) harnessOpt    { return func(c *harnessConf) { c.ring = r } }

// withUsers shares another harness's user pool, as replicas do.
func withUsers(s users.Store) harnessOpt { return func(c *harnessConf) { c.users = s } }

// tokensConfig parses a config whose tokens block has extra keys.
func tokensConfig(t testing.TB, extra string) *config.Config {
	t.Helper()
	y := `listeners: [{name: web, address: 127.0.0.1:0, default_target_group: app}]
target_groups: [{name: app, targets: [{id: app-1, address: 127.0.0.1:1}]}]
tokens:
  address: 127.0.0.1:9903
  audiences: [api, admin]
  scopes: [orders:read, orders:write]
` + extra
	c, err := config.Parse([]byte(y), t.TempDir())
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return c
}

func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	var hc harnessConf
	for _, o := range opts {
		o(&hc)
	}
	cfg := tokensConfig(t, hc.yaml)
	clk := clock.NewFake(start)
	us := hc.users
	if us == nil {
		fs, err := filestore.Open(filepath.Join(t.TempDir(), "users.json"), filestore.Options{Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fs.Close() })
		us = fs
	}
	if hc.refresh == nil {
		hc.refresh = memstore.New(memstore.Options{Clock: clk})
		t.Cleanup(func() { hc.refresh.Close() })
	}
	if hc.ring == nil {
		hc.ring = rsaRing(t)
	}
	h := &harness{t: t, clk: clk, users: us, refresh: hc.refresh, reg: prometheus.NewRegistry(), ring: hc.ring}
	if alice, found, _ := us.GetByUsername(context.Background(), "alice"); found {
		h.alice = alice
	} else {
		h.alice = h.addUser("alice", func(u *users.User) {
			u.Email, u.Name, u.TenantID, u.Roles = "alice@example.com", "Alice", "acme", []string{"admin", "buyer"}
			u.Attributes = map[string]string{"plan": "gold"}
		})
	}
	// The service's own issuer must be the test server's URL, so the
	// server starts first and the handler is set after.
	var handler http.Handler = http.NotFoundHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	cfg.Tokens.Issuer = srv.URL
	var err error
	h.svc, err = tokens.New(tokens.Options{Config: cfg.Tokens, Ring: hc.ring, Users: us, Refresh: hc.refresh,
		Params: cheap, Clock: clk, Registerer: h.reg, Logger: slog.New(slog.NewTextHandler(&h.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.svc.Close)
	handler = h.svc.Handler()
	h.url = srv.URL
	return h
}

var rsaRings = map[string]*keyring.Ring{}

// rsaRing returns a ring whose active key has an RSA key. Making one takes
// a moment, so tests share one.
func rsaRing(t testing.TB) *keyring.Ring {
	t.Helper()
	if r := rsaRings["shared"]; r != nil {
		return r
	}
	r, err := keyring.Generate(start)
	if err != nil {
		t.Fatal(err)
	}
	if r, err = r.WithActiveRSA(); err != nil {
		t.Fatal(err)
	}
	rsaRings["shared"] = r
	return r
}

func (h *harness) addUser(name string, edit func(*users.User)) users.User {
	h.t.Helper()
	hash, err := users.HashPassword(password, cheap)
	if err != nil {
		h.t.Fatal(err)
	}
	u := users.User{Username: name, PasswordHash: hash}
	if edit != nil {
		edit(&u)
	}
	u, err = h.users.Create(context.Background(), u)
	if err != nil {
		h.t.Fatal(err)
	}
	return u
}

// response is a decoded answer of the service.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r response) str(k string) string { s, _ := r.body[k].(string); return s }

func (h *harness) do(req *http.Request) response {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/") {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			h.t.Fatalf("%s %s: body is not JSON: %q", req.Method, req.URL.Path, raw)
		}
	}
	return out
}

func (h *harness) postJSON(path, body string, header ...string) response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return h.do(req)
}

func (h *harness) postForm(path string, form url.Values) response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.do(req)
}

func (h *harness) get(path string, header ...string) response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.url+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return h.do(req)
}

// login logs alice in and fails the test unless it works.
func (h *harness) login(extra string) response {
	h.t.Helper()
	r := h.postJSON("/api/v1/login", `{"username":"alice","password":"`+password+`"`+extra+`}`)
	if r.status != http.StatusOK {
		h.t.Fatalf("login: %d %s", r.status, r.raw)
	}
	return r
}

func (h *harness) refreshWith(rt string) response {
	h.t.Helper()
	return h.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// verifier is what a service of the user's would run: the public token
// package, reading the JWKS over HTTP.
func (h *harness) verifier(typ string) *token.Verifier {
	h.t.Helper()
	v, err := token.New(token.Options{Issuer: h.url, Audiences: []string{"api"}, JWKSURL: h.url + "/.well-known/jwks.json",
		Type: typ, Now: h.clk.Now, CacheSize: -1, NotBefore: h.svc.NotBefore})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(v.Close)
	return v
}

func (h *harness) metric(name string, labels map[string]string) float64 {
	h.t.Helper()
	return testsupport.Metric(h.t, h.reg, name, labels)
}

// claimsOf decodes a JWT's payload without verifying it, for assertions.
func claimsOf(t testing.TB, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// headerOf decodes a JWT's protected header.
func headerOf(t testing.TB, jwt string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func claimsKid(t testing.TB, jwt string) string {
	t.Helper()
	kid, _ := headerOf(t, jwt)["kid"].(string)
	return kid
}

// kids lists the kids of a JWKS answer, in order.
func kids(t testing.TB, r response) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			Alg string `json:"alg"`
			Use string `json:"use"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(r.raw, &set); err != nil {
		t.Fatalf("JWKS %q: %v", r.raw, err)
	}
	var out []string
	for _, k := range set.Keys {
		if k.Use != "sig" || k.Alg == "" {
			t.Errorf("key %s: use %q alg %q", k.Kid, k.Use, k.Alg)
		}
		out = append(out, k.Kid)
	}
	return out
}

// usersHash hashes another password, for password-change tests.
func usersHash(t testing.TB) (string, string) {
	t.Helper()
	const pw = "another long password"
	hash, err := users.HashPassword(pw, cheap)
	if err != nil {
		t.Fatal(err)
	}
	return hash, pw
}
