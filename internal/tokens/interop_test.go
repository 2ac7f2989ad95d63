package tokens_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/keyring"
)

// The interop test has tether's tokens verified by a JOSE implementation
// we did not write: panva/jose (https://github.com/panva/jose), the npm
// package Node.js services use, run by testdata/jose/verify.mjs against the
// service's real JWKS URL.

// joseDir is the npm package that holds verify.mjs and pins jose.
const joseDir = "testdata/jose"

// joseInstall says how to install what the interop test needs.
const joseInstall = "run `make deps` (scripts/test-deps.sh installs Node.js and runs npm ci), " +
	"or `npm ci --no-audit --no-fund` in internal/tokens/testdata/jose"

// joseCase is one verification by verify.mjs; see its doc comment.
type joseCase struct {
	Name           string   `json:"name"`
	JWKSURL        string   `json:"jwksUrl"`
	Token          string   `json:"token"`
	Issuer         string   `json:"issuer"`
	Audience       string   `json:"audience"`
	Typ            string   `json:"typ"`
	Algorithms     []string `json:"algorithms"`
	CurrentDate    string   `json:"currentDate"`
	MaxTokenAge    string   `json:"maxTokenAge,omitempty"`
	ClockTolerance string   `json:"clockTolerance,omitempty"`
}

// joseResult is verify.mjs's answer to one case.
type joseResult struct {
	Name            string         `json:"name"`
	OK              bool           `json:"ok"`
	Payload         map[string]any `json:"payload"`
	ProtectedHeader map[string]any `json:"protectedHeader"`
	Code            string         `json:"code"`
	Message         string         `json:"message"`
	Claim           string         `json:"claim"`
	Cause           string         `json:"cause"`
}

func (r joseResult) String() string {
	if r.OK {
		return "verified"
	}
	return fmt.Sprintf("%s (claim %q): %s %s", r.Code, r.Claim, r.Message, r.Cause)
}

// joseNode returns the path of node after checking that jose is installed
// at the version package-lock.json pins. What is missing fails the test:
// the interop test is part of the suite and `make test` installs it. Only
// -short skips.
func joseNode(t *testing.T) string {
	t.Helper()
	problem := ""
	node, err := exec.LookPath("node")
	if err != nil {
		problem = "node is not installed"
	} else if want, got := joseVersion(t, "package-lock.json"), joseVersion(t, "node_modules/jose/package.json"); got == "" {
		problem = "jose is not installed in " + joseDir + "/node_modules"
	} else if got != want {
		problem = fmt.Sprintf("%s/node_modules holds jose %s, package-lock.json pins %s", joseDir, got, want)
	}
	if problem != "" {
		if testing.Short() {
			t.Skipf("%s; %s", problem, joseInstall)
		}
		t.Fatalf("%s: %s", problem, joseInstall)
	}
	return node
}

// joseVersion reads jose's version from package-lock.json or jose's own
// package.json in joseDir; "" when the file is missing.
func joseVersion(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(joseDir, file))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version  string `json:"version"`
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if file == "package-lock.json" {
		return doc.Packages["node_modules/jose"].Version
	}
	return doc.Version
}

// runJose verifies every case in one node process (node takes a while to
// start) and returns the results by case name.
func runJose(t *testing.T, node string, cases []joseCase) map[string]joseResult {
	t.Helper()
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "verify.mjs")
	cmd.Dir = joseDir
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node verify.mjs: %v\n%s", err, stderr.String())
	}
	var results []joseResult
	dec := json.NewDecoder(&stdout)
	dec.UseNumber() // keeps iat's digits as jose wrote them
	if err := dec.Decode(&results); err != nil {
		t.Fatalf("verify.mjs output: %v\n%s", err, stderr.String())
	}
	if len(results) != len(cases) {
		t.Fatalf("verify.mjs answered %d cases of %d", len(results), len(cases))
	}
	byName := make(map[string]joseResult, len(results))
	for _, r := range results {
		byName[r.Name] = r
	}
	return byName
}

// interopCase is a verification of a freshly issued token by jose.
type interopCase struct {
	name string
	edit func(c *joseCase, tok interopTokens)
	// code and claim are the jose error (code ERR_JWT_EXPIRED, claim
	// "exp"; no claim for a bad signature); an empty code means the token
	// verifies.
	code, claim string
}

// interopTokens is one login of alice, at issued on the fake clock.
type interopTokens struct {
	access, id string
	issued     time.Time
}

// jsDate formats t for JavaScript's Date, to the millisecond.
func jsDate(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

var interopCases = []interopCase{
	{name: "access token", edit: func(*joseCase, interopTokens) {}},
	{name: "ID token", edit: func(c *joseCase, tok interopTokens) { c.Token, c.Typ = tok.id, "JWT" }},
	{name: "flipped signature byte", edit: func(c *joseCase, tok interopTokens) { c.Token = flipSignature(tok.access) },
		code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"},
	{name: "wrong audience", edit: func(c *joseCase, _ interopTokens) { c.Audience = "admin" },
		code: "ERR_JWT_CLAIM_VALIDATION_FAILED", claim: "aud"},
	{name: "wrong issuer", edit: func(c *joseCase, _ interopTokens) { c.Issuer = "https://tokens.example.com" },
		code: "ERR_JWT_CLAIM_VALIDATION_FAILED", claim: "iss"},
	{name: "a second before expiry", edit: func(c *joseCase, tok interopTokens) {
		c.CurrentDate = jsDate(tok.issued.Add(10*time.Minute - time.Second))
	}},
	{name: "expired", edit: func(c *joseCase, tok interopTokens) { c.CurrentDate = jsDate(tok.issued.Add(11 * time.Minute)) },
		code: "ERR_JWT_EXPIRED", claim: "exp"},
	{name: "access token as typ JWT", edit: func(c *joseCase, _ interopTokens) { c.Typ = "JWT" },
		code: "ERR_JWT_CLAIM_VALIDATION_FAILED", claim: "typ"},
	{name: "ID token as typ at+jwt", edit: func(c *joseCase, tok interopTokens) { c.Token = tok.id },
		code: "ERR_JWT_CLAIM_VALIDATION_FAILED", claim: "typ"},
	// maxTokenAge makes jose check iat against the time.
	{name: "maxTokenAge a second later", edit: func(c *joseCase, tok interopTokens) {
		c.MaxTokenAge, c.CurrentDate = "10m", jsDate(tok.issued.Add(time.Second))
	}},
	{name: "maxTokenAge in the issuing second", edit: func(c *joseCase, _ interopTokens) {
		c.MaxTokenAge = "10m"
	}},
	{name: "maxTokenAge past the age", edit: func(c *joseCase, tok interopTokens) {
		c.MaxTokenAge, c.CurrentDate = "5m", jsDate(tok.issued.Add(6*time.Minute))
	}, code: "ERR_JWT_EXPIRED", claim: "iat"},
}

// flipSignature flips one bit in the middle of a compact JWS's signature.
func flipSignature(jws string) string {
	i := strings.LastIndexByte(jws, '.')
	sig, err := base64.RawURLEncoding.DecodeString(jws[i+1:])
	if err != nil || len(sig) == 0 {
		panic("flipSignature: not a compact JWS")
	}
	sig[len(sig)/2] ^= 0x01
	return jws[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

func TestInteropJoseVerifiesTokens(t *testing.T) {
	node := joseNode(t)
	derived, err := keyring.Generate(start) // no RSA key: ES256 and EdDSA derive theirs
	if err != nil {
		t.Fatal(err)
	}
	rings := map[string]*keyring.Ring{"RS256": rsaRing(t), "ES256": derived, "EdDSA": derived}
	algs := []string{"RS256", "ES256", "EdDSA"}
	logins := map[string]interopTokens{}
	hs := map[string]*harness{}
	var cases []joseCase
	for _, alg := range algs {
		h := newHarness(t, withRing(rings[alg]), withYAML("  signing: {alg: "+alg+"}\n"))
		// A login 1.234s past the second: iat is whole seconds (issue.go),
		// so jose's maxTokenAge, which floors the time, accepts it at once.
		h.clk.Advance(1234 * time.Millisecond)
		tok := interopTokens{issued: h.clk.Now()}
		r := h.login("")
		tok.access, tok.id = r.str("access_token"), r.str("id_token")
		if iat := claimsOf(t, tok.access)["iat"]; fmt.Sprint(iat) != fmt.Sprint(start.Unix()+1) {
			t.Fatalf("%s: access token iat = %v, want whole seconds %d", alg, iat, start.Unix()+1)
		}
		jwksURL := h.get("/.well-known/openid-configuration").str("jwks_uri")
		for _, ic := range interopCases {
			c := joseCase{Name: alg + "/" + ic.name, JWKSURL: jwksURL, Token: tok.access, Issuer: h.url, Audience: "api",
				Typ: "at+jwt", Algorithms: []string{alg}, CurrentDate: jsDate(tok.issued)}
			ic.edit(&c, tok)
			cases = append(cases, c)
		}
		logins[alg], hs[alg] = tok, h
	}
	results := runJose(t, node, cases)
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			for _, ic := range interopCases {
				t.Run(ic.name, func(t *testing.T) {
					r, ok := results[alg+"/"+ic.name]
					switch {
					case !ok:
						t.Fatal("verify.mjs did not answer this case")
					case ic.code == "" && !r.OK:
						t.Fatalf("jose refuses the token: %v", r)
					case ic.code != "" && (r.OK || r.Code != ic.code || r.Claim != ic.claim):
						t.Fatalf("jose: %v; want %s (claim %q)", r, ic.code, ic.claim)
					}
				})
			}
			checkJosePayloads(t, hs[alg], alg, logins[alg], results)
		})
	}
}

// checkJosePayloads checks what jose read from the tokens it verified.
func checkJosePayloads(t *testing.T, h *harness, alg string, tok interopTokens, results map[string]joseResult) {
	t.Helper()
	kid := claimsKid(t, tok.access)
	iat := json.Number(fmt.Sprint(tok.issued.Unix()))
	for _, tc := range []struct {
		name, typ string
		want      map[string]any
	}{
		{"access token", "at+jwt", map[string]any{"sub": h.alice.ID, "aud": "api", "iss": h.url, "iat": iat,
			"scope": "orders:read orders:write", "token_use": "access", "client_id": "tether", "username": "alice"}},
		{"ID token", "JWT", map[string]any{"sub": h.alice.ID, "aud": "api", "iss": h.url, "iat": iat,
			"token_use": "id", "email": "alice@example.com", "preferred_username": "alice"}},
	} {
		r := results[alg+"/"+tc.name]
		if !r.OK {
			continue // reported by its case
		}
		for k, v := range tc.want {
			if r.Payload[k] != v {
				t.Errorf("%s: jose read %s = %v (%T), want %v", tc.name, k, r.Payload[k], r.Payload[k], v)
			}
		}
		hdr := r.ProtectedHeader
		if hdr["alg"] != alg || hdr["typ"] != tc.typ || hdr["kid"] != kid || kid != h.ring.ActiveID()+"-"+strings.ToLower(alg) {
			t.Errorf("%s: jose read the header %v, want alg %s, typ %s, kid %s", tc.name, hdr, alg, tc.typ, kid)
		}
	}
}
