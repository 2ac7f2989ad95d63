package keyring

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// testRSA returns the checked-in test RSA key of bits bits (2048 or 4096)
// and its "rsa" member: PKCS#8, base64url without padding.
func testRSA(t testing.TB, bits int) (*rsa.PrivateKey, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "rsa"+strconv.Itoa(bits)+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	enc := strings.TrimSpace(string(data))
	der, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	return key.(*rsa.PrivateKey), enc
}

// keyWithRSA returns a key object with an "rsa" member; rsa is raw JSON.
func keyWithRSA(id, secret, created, rsa string) string {
	k := keyJSON(id, secret, created)
	return k[:len(k)-1] + `, "rsa": ` + rsa + "}"
}

// testRSAFile returns testFile with a 2048-bit RSA key on the active key
// (0000000b) and a 4096-bit one on the other.
func testRSAFile(t testing.TB) string {
	t.Helper()
	_, enc2048 := testRSA(t, 2048)
	_, enc4096 := testRSA(t, 4096)
	return ringJSON("1", `"0000000b"`,
		keyWithRSA(`"0000000a"`, `"`+testSecret0+`"`, `"2026-11-21T03:00:00Z"`, `"`+enc4096+`"`),
		keyWithRSA(`"0000000b"`, `"`+testSecret1+`"`, `"2026-11-22T03:00:00Z"`, `"`+enc2048+`"`))
}

func TestParseRSA(t *testing.T) {
	priv2048, enc2048 := testRSA(t, 2048)
	tests := []struct {
		name string
		file string
		want map[string]*rsa.PrivateKey // RSA key by key ID; absent = none
	}{
		{name: "without rsa", file: testFile, want: map[string]*rsa.PrivateKey{}},
		{name: "2048 and 4096 bits", file: testRSAFile(t), want: map[string]*rsa.PrivateKey{
			"0000000b": priv2048,
			"0000000a": func() *rsa.PrivateKey { k, _ := testRSA(t, 4096); return k }(),
		}},
		{name: "active only", file: ringJSON("1", `"0000000b"`,
			keyJSON(`"0000000a"`, `"`+testSecret0+`"`, `"2026-11-21T03:00:00Z"`),
			keyWithRSA(`"0000000b"`, `"`+testSecret1+`"`, `"2026-11-22T03:00:00Z"`, `"`+enc2048+`"`)),
			want: map[string]*rsa.PrivateKey{"0000000b": priv2048}},
		{name: "rsa null", file: ringJSON("1", `"0000000a"`,
			keyWithRSA(`"0000000a"`, `"`+testSecret0+`"`, `"2026-11-21T03:00:00Z"`, "null")),
			want: map[string]*rsa.PrivateKey{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustParse(t, tt.file)
			for _, k := range r.Keys() {
				want := tt.want[k.ID]
				if want == nil && k.RSA != nil {
					t.Errorf("key %s has an RSA key, want none", k.ID)
				}
				if want != nil && (k.RSA == nil || !k.RSA.Equal(want)) {
					t.Errorf("key %s has RSA key %v, want the one in the file", k.ID, k.RSA != nil)
				}
			}
			// Saving writes the same members back, and parses to the same
			// ring.
			data, err := r.marshal()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Count(string(data), `"rsa"`), len(tt.want); got != want {
				t.Errorf("saved file has %d rsa members, want %d:\n%s", got, want, data)
			}
			if _, ok := tt.want["0000000b"]; ok && !strings.Contains(string(data), `"rsa": "`+enc2048+`"`) {
				t.Errorf("saved file does not hold the rsa member as it was read")
			}
			assertSameRing(t, mustParse(t, string(data)), r)
		})
	}
}

// pkcs1Full is a PKCS#1 RSA private key (RFC 8017, appendix A.1.2) with
// two primes, for building broken keys.
type pkcs1Full struct {
	Version               int
	N                     *big.Int
	E                     int
	D, P, Q, Dp, Dq, Qinv *big.Int
}

// pkcs8RSA wraps a PKCS#1 key in PKCS#8 and encodes it for the "rsa"
// member.
func pkcs8RSA(t testing.TB, p1 any) string {
	t.Helper()
	inner, err := asn1.Marshal(p1)
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(pkcs8{
		Algo: pkix.AlgorithmIdentifier{
			Algorithm:  asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1},
			Parameters: asn1.NullRawValue,
		},
		PrivateKey: inner,
	})
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(der)
}

// brokenRSA returns priv in PKCS#8 after change has modified its PKCS#1
// fields.
func brokenRSA(t testing.TB, priv *rsa.PrivateKey, change func(*pkcs1Full)) string {
	t.Helper()
	p := pkcs1Full{
		N: priv.N, E: priv.E, D: priv.D, P: priv.Primes[0], Q: priv.Primes[1],
		Dp: priv.Precomputed.Dp, Dq: priv.Precomputed.Dq, Qinv: priv.Precomputed.Qinv,
	}
	change(&p)
	return pkcs8RSA(t, p)
}

func pkcs8Of(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func generateRSA(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseRSAErrors(t *testing.T) {
	priv, enc := testRSA(t, 2048)
	der := pkcs8Of(t, priv)
	b64 := base64.RawURLEncoding.EncodeToString
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 a multi-prime key is what the test needs.
	multi, err := rsa.GenerateMultiPrimeKey(rand.Reader, 3, 2048)
	if err != nil {
		t.Fatal(err)
	}
	huge := new(big.Int).Lsh(big.NewInt(1), 4159)
	huge.Add(huge, big.NewInt(1))
	plus2 := func(x *big.Int) *big.Int { return new(big.Int).Add(x, big.NewInt(2)) }
	tests := []struct {
		name string
		rsa  string // the member's value, a JSON string's contents
		want string // follows `keys[1].rsa (key "0000000b") `
	}{
		{name: "empty", rsa: "", want: "is empty; leave it out for a key without an RSA key"},
		{name: "padded", rsa: enc + "=", want: "is not base64url without padding"},
		{name: "standard alphabet", rsa: base64.RawStdEncoding.EncodeToString(der), want: "is not base64url without padding"},
		{name: "with newline", rsa: enc[:64] + `\n` + enc[64:], want: "is not base64url without padding"},
		{name: "not DER", rsa: b64([]byte("not a key at all, just some text")), want: "is not a PKCS#8 private key (DER)"},
		{name: "PKCS#1", rsa: b64(x509.MarshalPKCS1PrivateKey(priv)), want: "is a PKCS#1 RSA key, not PKCS#8; convert it with openssl pkcs8 -topk8 -nocrypt -outform DER"},
		{name: "trailing data", rsa: b64(append(der[:len(der):len(der)], 0)), want: "is not a PKCS#8 private key (DER)"},
		{name: "truncated", rsa: b64(der[:len(der)-10]), want: "is not a PKCS#8 private key (DER)"},
		{name: "Ed25519", rsa: b64(pkcs8Of(t, ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)))), want: "is a PKCS#8 Ed25519 key; want an RSA key"},
		{name: "ECDSA", rsa: b64(pkcs8Of(t, ecKey)), want: "is a PKCS#8 ECDSA key; want an RSA key"},
		{name: "1024 bits", rsa: b64(pkcs8Of(t, generateRSA(t, 1024))), want: "has a 1024-bit modulus; want 2048 to 4096 bits"},
		{name: "2047 bits", rsa: b64(pkcs8Of(t, generateRSA(t, 2047))), want: "has a 2047-bit modulus; want 2048 to 4096 bits"},
		{name: "4160 bits", rsa: brokenRSA(t, priv, func(p *pkcs1Full) { p.N = huge }), want: "has a 4160-bit modulus; want 2048 to 4096 bits"},
		{name: "not PKCS#1 inside", rsa: pkcs8RSA(t, "not PKCS#1"), want: "is not a valid RSA private key"},
		{name: "wrong private exponent", rsa: brokenRSA(t, priv, func(p *pkcs1Full) { p.D = plus2(p.D) }), want: "is not a valid RSA private key"},
		{name: "wrong prime", rsa: brokenRSA(t, priv, func(p *pkcs1Full) { p.P = plus2(p.P) }), want: "is not a valid RSA private key"},
		{name: "wrong CRT coefficient", rsa: brokenRSA(t, priv, func(p *pkcs1Full) { p.Qinv = plus2(p.Qinv) }), want: "is not a valid RSA private key"},
		{name: "wrong public exponent", rsa: brokenRSA(t, priv, func(p *pkcs1Full) { p.E = 3 }), want: "is not a valid RSA private key"},
		{name: "three primes", rsa: b64(pkcs8Of(t, multi)), want: "is a 3-prime RSA key; want 2 primes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := ringJSON("1", `"0000000a"`,
				keyJSON(`"0000000a"`, `"`+testSecret0+`"`, `"2026-11-21T03:00:00Z"`),
				keyWithRSA(`"0000000b"`, `"`+testSecret1+`"`, `"2026-11-22T03:00:00Z"`, `"`+tt.rsa+`"`))
			_, err := Parse([]byte(file))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			msg := err.Error()
			if want := `parse key ring: keys[1].rsa (key "0000000b") ` + tt.want; msg != want {
				t.Errorf("error = %q,\nwant    %q", msg, want)
			}
			value := strings.ReplaceAll(tt.rsa, `\n`, "\n")
			for _, part := range strings.Split(value, "\n") {
				if len(part) >= 8 && strings.Contains(msg, part[len(part)/2-4:len(part)/2+4]) {
					t.Errorf("error %q quotes the rsa value", msg)
				}
			}
			assertNoForms(t, "error", msg, rsaForms(priv))
		})
	}
}

func TestWithActiveRSA(t *testing.T) {
	r, err := mustGenerate(t).Rotate(testNow.Add(1))
	if err != nil {
		t.Fatal(err)
	}
	if r.Active().RSA != nil {
		t.Fatal("Generate and Rotate made an RSA key")
	}

	withRSA, err := r.WithActiveRSA()
	if err != nil {
		t.Fatalf("WithActiveRSA: %v", err)
	}
	if withRSA == r {
		t.Fatal("WithActiveRSA of a ring without an RSA key returned the ring itself")
	}
	if r.Active().RSA != nil {
		t.Error("WithActiveRSA changed the ring it was called on")
	}
	active := withRSA.Active()
	if active.RSA == nil {
		t.Fatal("the new ring's active key has no RSA key")
	}
	if got := active.RSA.N.BitLen(); got != RSABits {
		t.Errorf("the RSA key has %d bits, want %d", got, RSABits)
	}
	if err := active.RSA.Validate(); err != nil {
		t.Errorf("the RSA key does not validate: %v", err)
	}
	// Everything but the active key's RSA key is as it was.
	before, after := r.Keys(), withRSA.Keys()
	for i := range before {
		if after[i].ID != before[i].ID || string(after[i].Secret) != string(before[i].Secret) ||
			!after[i].CreatedAt.Equal(before[i].CreatedAt) {
			t.Errorf("key %d = %v, want %v", i, after[i], before[i])
		}
		if i > 0 && after[i].RSA != nil {
			t.Errorf("key %d (not active) got an RSA key", i)
		}
	}
	// The key signs RS256 (RSASSA-PKCS1-v1_5 with SHA-256).
	digest := sha256.Sum256([]byte("header.payload"))
	sig, err := rsa.SignPKCS1v15(nil, active.RSA, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatalf("SignPKCS1v15: %v", err)
	}
	if err := rsa.VerifyPKCS1v15(&active.RSA.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		t.Errorf("VerifyPKCS1v15: %v", err)
	}

	again, err := withRSA.WithActiveRSA()
	if err != nil || again != withRSA {
		t.Errorf("WithActiveRSA of a ring with an RSA key = %v, %v; want the ring itself", again, err)
	}

	// After a rotation the previous key keeps its RSA key, and the new
	// active key gets a different one.
	rotated, err := withRSA.Rotate(testNow.Add(2))
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Active().RSA != nil {
		t.Error("Rotate made an RSA key")
	}
	next, err := rotated.WithActiveRSA()
	if err != nil {
		t.Fatal(err)
	}
	keys := next.Keys()
	if keys[1].ID != active.ID || keys[1].RSA == nil || !keys[1].RSA.Equal(active.RSA) {
		t.Error("the previous active key lost its RSA key")
	}
	if keys[0].RSA == nil || keys[0].RSA.Equal(active.RSA) {
		t.Error("the new active key did not get a new RSA key")
	}
}

func TestSaveLoadRSA(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	r := mustParse(t, testRSAFile(t))
	r, err := r.Rotate(testNow.Add(1)) // a key without RSA among keys with
	if err != nil {
		t.Fatal(err)
	}
	got := saveAndLoad(t, r, path)
	if k := got.Keys(); k[0].RSA != nil || k[1].RSA == nil || k[2].RSA == nil {
		t.Errorf("loaded RSA keys: %v, %v, %v; want none on the active key and one on each other",
			k[0].RSA != nil, k[1].RSA != nil, k[2].RSA != nil)
	}
}

// A ring of MaxKeys keys that all have the largest RSA keys fits in a file
// that Load accepts.
func TestLoadLargestRing(t *testing.T) {
	_, enc := testRSA(t, 4096)
	keys := make([]string, MaxKeys)
	for i := range keys {
		id := `"0000000` + string(rune('0'+i)) + `"`
		keys[i] = keyWithRSA(id, `"`+testSecret0+`"`, `"2026-11-22T03:00:00Z"`, `"`+enc+`"`)
	}
	r := mustParse(t, ringJSON("1", `"00000000"`, keys...))
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := r.Save(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatalf("Load of %d keys with 4096-bit RSA keys: %v", MaxKeys, err)
	}
}
