package users

import (
	"errors"
	"strings"
	"testing"
)

// testParams are cheap argon2id parameters for tests: a hash takes
// microseconds instead of tens of milliseconds.
var testParams = Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

func mustHash(t testing.TB, password string, p Params) string {
	t.Helper()
	h, err := HashPassword(password, p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashOWASPParameters(t *testing.T) {
	h := mustHash(t, "correct horse battery staple", DefaultParams())
	if want := "$argon2id$v=19$m=19456,t=2,p=1$"; !strings.HasPrefix(h, want) {
		t.Fatalf("hash %q does not start with %q", h, want)
	}
	parsed, err := parseHash(h)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Params != DefaultParams() || len(parsed.salt) != 16 || len(parsed.key) != 32 {
		t.Fatalf("parsed %+v, want OWASP's parameters, a 16-byte salt and a 32-byte key", parsed)
	}
	if ok, err := VerifyPassword(h, "correct horse battery staple"); !ok || err != nil {
		t.Fatalf("VerifyPassword(right password) = %v, %v", ok, err)
	}
	if NeedsRehash(h, DefaultParams()) {
		t.Error("a fresh hash needs a rehash")
	}
}

func TestHashRoundTrip(t *testing.T) {
	for _, pw := range []string{"password1", "ünïcödé pässwörd", strings.Repeat("x", MaxPasswordLen), "\x00\xff binary ok"} {
		h := mustHash(t, pw, testParams)
		if parsed, err := parseHash(h); err != nil || parsed.String() != h {
			t.Fatalf("parse(%q) = %v, %v; want it to encode back the same", h, parsed, err)
		}
		if ok, err := VerifyPassword(h, pw); !ok || err != nil {
			t.Errorf("VerifyPassword(right password) = %v, %v", ok, err)
		}
		if ok, err := VerifyPassword(h, pw+"!"); ok || err != nil {
			t.Errorf("VerifyPassword(wrong password) = %v, %v; want false, nil", ok, err)
		}
	}
	if a, b := mustHash(t, "same password", testParams), mustHash(t, "same password", testParams); a == b {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

// TestTamperedHash checks that changing any part of a hash makes the right
// password fail, or the hash unreadable, never pass.
func TestTamperedHash(t *testing.T) {
	const pw = "correct horse battery staple"
	h := mustHash(t, pw, testParams)
	parts := strings.Split(h, "$")
	flip := func(s string) string { // change the first character
		if s[0] == 'A' {
			return "B" + s[1:]
		}
		return "A" + s[1:]
	}
	tests := []struct {
		name, hash string
	}{
		{"salt", strings.Join([]string{"", parts[1], parts[2], parts[3], flip(parts[4]), parts[5]}, "$")},
		{"key", strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], flip(parts[5])}, "$")},
		{"memory", strings.Replace(h, "m=64,", "m=72,", 1)},
		{"iterations", strings.Replace(h, "t=1,", "t=2,", 1)},
		{"parallelism", strings.Replace(h, "p=1$", "p=2$", 1)},
		{"argon2i", strings.Replace(h, "$argon2id$", "$argon2i$", 1)},
		{"version", strings.Replace(h, "v=19", "v=16", 1)},
		{"truncated", h[:len(h)-4]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ok, _ := VerifyPassword(tt.hash, pw); ok {
				t.Fatalf("VerifyPassword(%q) passed", tt.hash)
			}
		})
	}
}

func TestParseHashRejects(t *testing.T) {
	salt, key := "c2FsdHNhbHRzYWx0c2FsdA", "TUhCoV6YH8thtZpQqRp0JvQQ5ZYgiLA0LYApKDG6qtM"
	ok := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
	if _, err := parseHash(ok); err != nil {
		t.Fatalf("parseHash(%q): %v", ok, err)
	}
	for _, h := range []string{
		"",
		"plaintext",
		"$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",       // bcrypt
		"$argon2id$v=19$m=64,t=1,p=1$" + salt,                                // no key
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$",              // extra part
		"$argon2id$m=64,t=1,p=1$" + salt + "$" + key,                         // no version
		"$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key,                    // order
		"$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key,                   // leading zero
		"$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key,                   // sign
		"$argon2id$v=19$m=64,t=1,p=1,keyid=x$" + salt + "$" + key,            // extra parameter
		"$argon2id$v=19$m=4,t=1,p=1$" + salt + "$" + key,                     // memory below 8 per lane
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,                    // no iterations
		"$argon2id$v=19$m=64,t=1000,p=1$" + salt + "$" + key,                 // too many
		"$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,                    // no lanes
		"$argon2id$v=19$m=9999999,t=1,p=1$" + salt + "$" + key,               // over 4 GiB
		"$argon2id$v=19$m=64,t=1,p=256$" + salt + "$" + key,                  // p over 255
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key,                  // padding
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:len(key)-1] + "p", // non-zero spare bits
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key,                          // 4-byte salt
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$a2V5a2V5a2V5",              // 9-byte key
	} {
		if _, err := parseHash(h); err == nil {
			t.Errorf("parseHash(%q) accepted it", h)
		}
		if ok, err := VerifyPassword(h, "correct horse battery staple"); ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want false and an error", h, ok, err)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	h := mustHash(t, "correct horse battery staple", testParams)
	tests := []struct {
		name string
		p    Params
		want bool
	}{
		{"same", testParams, false},
		{"more memory", Params{128, 1, 1, 16, 32}, true},
		{"more iterations", Params{64, 2, 1, 16, 32}, true},
		{"more lanes", Params{64, 1, 2, 16, 32}, true},
		{"longer salt", Params{64, 1, 1, 32, 32}, true},
		{"longer key", Params{64, 1, 1, 16, 64}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NeedsRehash(h, tt.p); got != tt.want {
				t.Errorf("NeedsRehash = %v, want %v", got, tt.want)
			}
		})
	}
	if !NeedsRehash("not a hash", testParams) {
		t.Error("an unreadable hash does not need a rehash")
	}
}

func TestHashPasswordRejectsBadParams(t *testing.T) {
	for _, p := range []Params{{}, {Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 4, KeyLen: 32}, {Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 8}} {
		if _, err := HashPassword("password", p); err == nil {
			t.Errorf("HashPassword with %+v succeeded", p)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		name, password, username string
		ok                       bool
	}{
		{"eight characters", "12345678", "alice", true},
		{"seven characters", "1234567", "alice", false},
		{"eight characters in more bytes", "éééééééé", "alice", true},
		{"seven characters in more than eight bytes", "ééééééé", "alice", false},
		{"longest", strings.Repeat("a", MaxPasswordLen), "alice", true},
		{"too long", strings.Repeat("a", MaxPasswordLen+1), "alice", false},
		{"no composition rules", "aaaaaaaaaaaa", "alice", true},
		{"the username", "alice.smith", "alice.smith", false},
		{"the username in another case", "ALICE.SMITH", " alice.smith ", false},
		{"contains the username", "alice.smith!", "alice.smith", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPassword(tt.password, tt.username)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckPassword = %v, want ok %v", err, tt.ok)
			}
			if err != nil && (!errors.Is(err, ErrPasswordPolicy) || strings.Contains(err.Error(), tt.password)) {
				t.Fatalf("error %q: want ErrPasswordPolicy, without the password", err)
			}
		})
	}
}

// FuzzParseHash checks that parseHash never panics, and that what it
// accepts encodes back to the same string and can be verified. The seed
// corpus is in testdata/fuzz/FuzzParseHash.
func FuzzParseHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$TUhCoV6YH8thtZpQqRp0JvQQ5ZYgiLA0LYApKDG6qtM")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$TUhCoV6YH8thtZpQqRp0JvQQ5ZYgiLA0LYApKDG6qtM")
	f.Add("$argon2i$v=19$m=64,t=1,p=1$c2FsdA$a2V5")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$$")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHash(s)
		if err != nil {
			return
		}
		if h.String() != s {
			t.Fatalf("parseHash(%q) encodes back as %q", s, h.String())
		}
		if h.Memory <= 1024 && h.Iterations <= 4 { // keep each input fast
			if _, err := VerifyPassword(s, "password"); err != nil {
				t.Fatalf("VerifyPassword of an accepted hash: %v", err)
			}
		}
	})
}

// BenchmarkHash measures one hash at OWASP's parameters: the cost of a
// login, and of a failed one.
func BenchmarkHash(b *testing.B) {
	h := mustHash(b, "correct horse battery staple", DefaultParams())
	b.ResetTimer()
	for b.Loop() {
		if ok, _ := VerifyPassword(h, "correct horse battery staple"); !ok {
			b.Fatal("the password does not verify")
		}
	}
}
