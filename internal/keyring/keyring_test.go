package keyring

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

// Secrets of the fixed test ring: bytes 0..31 and 32..63.
const (
	testSecret0 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	testSecret1 = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8"
)

// testFile is a valid key ring file whose active key is the second listed.
var testFile = `{
  "version": 1,
  "active": "0000000b",
  "keys": [
    {"id": "0000000a", "secret": "` + testSecret0 + `", "created_at": "2026-11-21T03:00:00Z"},
    {"id": "0000000b", "secret": "` + testSecret1 + `", "created_at": "2026-11-22T03:00:00+02:00"}
  ]
}`

func mustParse(t testing.TB, data string) *Ring {
	t.Helper()
	r, err := Parse([]byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return r
}

func mustGenerate(t testing.TB) *Ring {
	t.Helper()
	r, err := Generate(testNow)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return r
}

func ids(keys []Key) []string {
	var s []string
	for _, k := range keys {
		s = append(s, k.ID)
	}
	return s
}

func TestGenerate(t *testing.T) {
	r := mustGenerate(t)
	k := r.Active()
	if !validID(k.ID) {
		t.Errorf("Active().ID = %q, want 8 lowercase hex characters", k.ID)
	}
	if len(k.Secret) != SecretSize {
		t.Errorf("len(Active().Secret) = %d, want %d", len(k.Secret), SecretSize)
	}
	if !k.CreatedAt.Equal(testNow) {
		t.Errorf("Active().CreatedAt = %v, want %v", k.CreatedAt, testNow)
	}
	if got := len(r.Keys()); got != 1 {
		t.Errorf("len(Keys()) = %d, want 1", got)
	}
	other := mustGenerate(t)
	if bytes.Equal(other.Active().Secret, k.Secret) {
		t.Error("two Generate calls gave the same secret")
	}
}

func TestGenerateTruncatesToSecond(t *testing.T) {
	local := time.FixedZone("UTC+2", 2*60*60)
	r, err := Generate(time.Date(2026, 11, 22, 5, 0, 0, 999_999_999, local))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Active().CreatedAt; got != testNow {
		t.Errorf("CreatedAt = %v (%v), want %v in UTC", got, got.Location(), testNow)
	}
}

func TestRotate(t *testing.T) {
	r := mustGenerate(t)
	seen := map[string]bool{r.Active().ID: true}
	for i := 1; i <= 12; i++ {
		prev := r
		before := ids(prev.Keys())
		now := testNow.Add(time.Duration(i) * time.Hour)
		next, err := prev.Rotate(now)
		if err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
		got := ids(next.Keys())
		if want := min(i+1, MaxKeys); len(got) != want {
			t.Fatalf("rotation %d: %d keys, want %d", i, len(got), want)
		}
		active := next.Active()
		if seen[active.ID] {
			t.Fatalf("rotation %d: active id %s was used before", i, active.ID)
		}
		seen[active.ID] = true
		if got[0] != active.ID || !active.CreatedAt.Equal(now) {
			t.Errorf("rotation %d: Keys()[0] = %s, Active() = %s created %v; want the new key first, created %v",
				i, got[0], active.ID, active.CreatedAt, now)
		}
		// The previous keys follow, newest first, the oldest cut at MaxKeys.
		if want := before[:len(got)-1]; fmt.Sprint(got[1:]) != fmt.Sprint(want) {
			t.Errorf("rotation %d: previous keys %v, want %v", i, got[1:], want)
		}
		if after := ids(prev.Keys()); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("rotation %d: Rotate changed the old ring from %v to %v", i, before, after)
		}
		r = next
	}
}

func TestLookup(t *testing.T) {
	r := mustParse(t, testFile)
	tests := []struct {
		name   string
		id     string
		ok     bool
		secret string
	}{
		{name: "active", id: "0000000b", ok: true, secret: testSecret1},
		{name: "previous", id: "0000000a", ok: true, secret: testSecret0},
		{name: "absent", id: "0000000c"},
		{name: "empty", id: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, ok := r.Lookup(tt.id)
			if ok != tt.ok {
				t.Fatalf("Lookup(%q) ok = %v, want %v", tt.id, ok, tt.ok)
			}
			if got := base64.RawURLEncoding.EncodeToString(k.Secret); ok && got != tt.secret {
				t.Errorf("Lookup(%q) returned the wrong secret", tt.id)
			}
		})
	}
}

func TestRingIsImmutable(t *testing.T) {
	r := mustParse(t, testFile)
	for _, k := range r.Keys() {
		clear(k.Secret)
	}
	a := r.Active()
	clear(a.Secret)
	if k, _ := r.Lookup("0000000a"); base64.RawURLEncoding.EncodeToString(k.Secret) != testSecret0 {
		t.Error("changing a secret returned by Keys changed the ring")
	}
	if base64.RawURLEncoding.EncodeToString(r.Active().Secret) != testSecret1 {
		t.Error("changing the secret returned by Active changed the ring")
	}
}

func TestDerive(t *testing.T) {
	r := mustParse(t, testFile)
	affinity := r.Derive("affinity")
	session := r.Derive("session")
	if len(affinity) != 2 || len(session) != 2 {
		t.Fatalf("Derive gave %d and %d subkeys, want 2 each", len(affinity), len(session))
	}
	// Known answers, computed independently with Python's hmac module
	// (RFC 5869 extract and expand), for the secret 0x00..0x1f.
	tests := []struct {
		name    string
		purpose string
		want    string
	}{
		{name: "affinity", purpose: "affinity", want: "a33f8e93b7c9bda7524e4e0dcdd51156344af8c2d77734fde90ad12cda883715"},
		{name: "session", purpose: "session", want: "7d6d3d839956bb9c58740d3bd131a4ddeef76857e396ad2e67237814e2895bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hex.EncodeToString(r.Derive(tt.purpose)["0000000a"]); got != tt.want {
				t.Errorf("Derive(%q)[0000000a] = %s, want %s", tt.purpose, got, tt.want)
			}
		})
	}
	for id := range affinity {
		if len(affinity[id]) != SubkeySize {
			t.Errorf("subkey %s is %d bytes, want %d", id, len(affinity[id]), SubkeySize)
		}
		if bytes.Equal(affinity[id], session[id]) {
			t.Errorf("key %s: purposes affinity and session gave the same subkey", id)
		}
		k, _ := r.Lookup(id)
		if bytes.Equal(affinity[id], k.Secret) {
			t.Errorf("key %s: subkey equals the secret", id)
		}
	}
	if bytes.Equal(affinity["0000000a"], affinity["0000000b"]) {
		t.Error("two keys gave the same subkey")
	}
	if again := r.Derive("affinity"); !bytes.Equal(again["0000000b"], affinity["0000000b"]) {
		t.Error("Derive is not deterministic")
	}
}

// secretForms returns the ways a secret could show up in text.
func secretForms(secret []byte) []string {
	dec := fmt.Sprint(secret) // [0 1 2 ...]
	return []string{
		string(secret),
		hex.EncodeToString(secret),
		base64.StdEncoding.EncodeToString(secret)[:40],
		base64.RawURLEncoding.EncodeToString(secret)[:40],
		dec[1 : len(dec)-1],
		fmt.Sprintf("%#v", secret)[len("[]byte{"):60],
	}
}

// rsaForms returns the ways an RSA private key could show up in text: its
// PKCS#8 and PKCS#1 encodings, and its modulus, private exponent and primes
// in decimal and hex. Each form is a stretch of 40 characters from the
// middle, past the prefix that every key of a size shares.
func rsaForms(priv *rsa.PrivateKey) []string {
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		panic(err)
	}
	pkcs1 := x509.MarshalPKCS1PrivateKey(priv)
	whole := []string{
		base64.RawURLEncoding.EncodeToString(pkcs8),
		base64.StdEncoding.EncodeToString(pkcs8),
		base64.StdEncoding.EncodeToString(pkcs1),
		hex.EncodeToString(pkcs8),
		string(pkcs8[len(pkcs8)/2:]),
		fmt.Sprint(pkcs8),
	}
	for _, n := range append([]*big.Int{priv.N, priv.D}, priv.Primes...) {
		whole = append(whole, n.String(), n.Text(16), strings.ToUpper(n.Text(16)))
	}
	var forms []string
	for _, w := range whole {
		mid := len(w) / 2
		forms = append(forms, w[mid-20:mid+20])
	}
	return forms
}

// assertNoForms fails t if text holds any of forms.
func assertNoForms(t *testing.T, what, text string, forms ...[]string) {
	t.Helper()
	for _, fs := range forms {
		for _, form := range fs {
			if strings.Contains(text, form) {
				t.Errorf("%s shows a secret: %s", what, text)
				return
			}
		}
	}
}

// The forms must find a key printed the ways a careless Key would print it,
// or TestSecretsDoNotLeak would pass vacuously.
func TestRSAFormsFindKeys(t *testing.T) {
	priv, enc := testRSA(t, 2048)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	printed := map[string]string{
		"%v":        fmt.Sprintf("%v", priv),
		"%+v":       fmt.Sprintf("%+v", priv),
		"N %x":      fmt.Sprintf("%x", priv.N),
		"N %X":      fmt.Sprintf("%X", priv.N),
		"json":      func() string { b, _ := json.Marshal(priv); return string(b) }(),
		"pkcs8":     enc,
		"pkcs8 hex": fmt.Sprintf("%x", der),
		"D":         priv.D.String(),
		"P hex":     priv.Primes[0].Text(16),
		"Q":         priv.Primes[1].String(),
	}
	for name, text := range printed {
		found := false
		for _, form := range rsaForms(priv) {
			found = found || strings.Contains(text, form)
		}
		if !found {
			t.Errorf("rsaForms does not find the key in its %s form", name)
		}
	}
}

func assertNoSecret(t *testing.T, what, text string, secrets ...[]byte) {
	t.Helper()
	for _, s := range secrets {
		assertNoForms(t, what, text, secretForms(s))
	}
}

func TestSecretsDoNotLeak(t *testing.T) {
	r := mustParse(t, testRSAFile(t))
	k := r.Active()
	old, _ := r.Lookup("0000000a")
	var forms [][]string
	for _, key := range []Key{k, old} {
		if key.RSA == nil {
			t.Fatalf("key %s has no RSA key", key.ID)
		}
		forms = append(forms, secretForms(key.Secret), rsaForms(key.RSA))
	}
	values := map[string]any{"Key": k, "*Key": &k, "*Ring": r, "Ring": *r, "[]Key": r.Keys()}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			t.Run(name+" "+verb, func(t *testing.T) {
				assertNoForms(t, "fmt "+verb, fmt.Sprintf(verb, v), forms...)
			})
		}
	}
	t.Run("String", func(t *testing.T) {
		if got, want := k.String(), "keyring.Key{ID: 0000000b, CreatedAt: 2026-11-22T03:00:00Z, Secret: [redacted], RSA: [redacted 2048-bit RSA key]}"; got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
		if got, want := k.GoString(), `keyring.Key{ID:"0000000b", Secret:[redacted], CreatedAt:"2026-11-22T03:00:00Z", RSA:[redacted]}`; got != want {
			t.Errorf("GoString() = %q, want %q", got, want)
		}
	})
	t.Run("slog", func(t *testing.T) {
		var buf bytes.Buffer
		logger := slog.New(slog.NewJSONHandler(&buf, nil))
		logger.Info("rotated", "key", k, "keys", r.Keys(), "ring", r)
		assertNoForms(t, "slog", buf.String(), forms...)
		if !strings.Contains(buf.String(), `"key":{"id":"0000000b","created_at":"2026-11-22T03:00:00Z","rsa_bits":2048}`) {
			t.Errorf("slog output lacks the key id and RSA key size: %s", buf.String())
		}
	})
	t.Run("json", func(t *testing.T) {
		data, err := json.Marshal(map[string]any{"key": k, "keys": r.Keys()})
		if err != nil {
			t.Fatal(err)
		}
		assertNoForms(t, "json.Marshal", string(data), forms...)
		if !strings.Contains(string(data), `{"id":"0000000a","created_at":"2026-11-21T03:00:00Z","rsa_bits":4096}`) {
			t.Errorf("json.Marshal lacks the key id and RSA key size: %s", data)
		}
	})
	t.Run("without RSA", func(t *testing.T) {
		k := mustParse(t, testFile).Active()
		if got, want := k.String(), "keyring.Key{ID: 0000000b, CreatedAt: 2026-11-22T01:00:00Z, Secret: [redacted]}"; got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
		if data, _ := json.Marshal(k); strings.Contains(string(data), "rsa") {
			t.Errorf("json.Marshal of a key without RSA = %s, want no rsa_bits", data)
		}
	})
}

func TestErrorsDoNotLeakSecrets(t *testing.T) {
	secret := make([]byte, SecretSize)
	for i := range secret {
		secret[i] = byte(200 + i)
	}
	enc := base64.RawURLEncoding.EncodeToString(secret)
	tests := []struct {
		name string
		file string
	}{
		{name: "other problem", file: `{"version": 2, "active": "0000000a", "keys": [{"id": "0000000a", "secret": "` + enc + `", "created_at": "x"}]}`},
		{name: "secret in id", file: `{"version": 1, "active": "` + enc + `", "keys": [{"id": "` + enc + `", "secret": "` + enc + `"}]}`},
		{name: "secret in created_at", file: `{"version": 1, "active": "0000000a", "keys": [{"id": "0000000a", "secret": "` + enc + `", "created_at": "` + enc + `"}]}`},
		{name: "secret padded", file: `{"version": 1, "active": "0000000a", "keys": [{"id": "0000000a", "secret": "` + enc + `="}]}`},
		{name: "secret too long", file: `{"version": 1, "active": "0000000a", "keys": [{"id": "0000000a", "secret": "` + enc + `AAAA"}]}`},
		{name: "syntax error in secret", file: `{"version": 1, "active": "0000000a", "keys": [{"id": "0000000a", "secret": "` + enc[:20] + "\x01" + enc[20:] + `"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			text := strings.ReplaceAll(err.Error(), "\n", " ")
			assertNoSecret(t, "error", text, secret)
		})
	}
}
