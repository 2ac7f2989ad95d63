package users

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Limits of the password policy (NIST SP 800-63B §3.1.1.2), checked by
// CheckPassword.
const (
	MinPasswordLen = 8    // characters (Unicode code points)
	MaxPasswordLen = 1024 // bytes
)

// ErrPasswordPolicy is wrapped by CheckPassword's errors.
var ErrPasswordPolicy = errors.New("password rejected")

// CheckPassword reports whether password may be set for the user named
// username: at least MinPasswordLen characters, at most MaxPasswordLen
// bytes, and not the username itself in any case. It imposes no
// composition rules (mixes of letters, digits, symbols), which NIST
// advises against. Its error never contains the password.
func CheckPassword(password, username string) error {
	switch {
	case utf8.RuneCountInString(password) < MinPasswordLen:
		return fmt.Errorf("%w: shorter than %d characters", ErrPasswordPolicy, MinPasswordLen)
	case len(password) > MaxPasswordLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrPasswordPolicy, MaxPasswordLen)
	case strings.EqualFold(password, strings.TrimSpace(username)):
		return fmt.Errorf("%w: the same as the username", ErrPasswordPolicy)
	}
	return nil
}

// Params are argon2id's cost parameters (RFC 9106 §3.1).
type Params struct {
	// Memory is the memory each hash fills, in KiB.
	Memory uint32
	// Iterations is the number of passes over the memory.
	Iterations uint32
	// Parallelism is the number of lanes (and threads).
	Parallelism uint8
	// SaltLen and KeyLen are the lengths of the random salt and of the
	// derived key, in bytes.
	SaltLen, KeyLen uint32
}

// DefaultParams returns OWASP's recommended argon2id parameters: 19 MiB of
// memory, 2 iterations, 1 lane, with a 16-byte salt and a 32-byte key. One
// hash takes some tens of milliseconds on a server core (BenchmarkHash).
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
}

// Bounds on the parameters a hash may carry. The upper ones keep a hash
// planted in a store from making one login cost minutes.
const (
	maxMemory     = 4 << 20 // KiB: 4 GiB
	maxIterations = 64
	minSaltLen    = 8
	maxSaltLen    = 64
	minKeyLen     = 16
	maxKeyLen     = 128
)

// validate reports whether p is within the bounds a hash may carry.
func (p Params) validate() error {
	switch {
	case p.Parallelism < 1:
		return errors.New("parallelism 0: want 1 to 255")
	case p.Memory < 8*uint32(p.Parallelism) || p.Memory > maxMemory:
		return fmt.Errorf("memory %d KiB: want %d (8 per lane) to %d", p.Memory, 8*uint32(p.Parallelism), maxMemory)
	case p.Iterations < 1 || p.Iterations > maxIterations:
		return fmt.Errorf("iterations %d: want 1 to %d", p.Iterations, maxIterations)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt of %d bytes: want %d to %d", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key of %d bytes: want %d to %d", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// b64 is the PHC string format's base64: the standard alphabet without
// padding, with the unused bits of the last character zero.
var b64 = base64.RawStdEncoding.Strict()

// HashPassword hashes password with argon2id at p and a fresh random salt,
// and returns the hash in the PHC string format
// (https://github.com/P-H-C/phc-string-format/blob/master/phc-sf-spec.md):
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// It does not apply the password policy (see CheckPassword).
func HashPassword(password string, p Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	salt := make([]byte, p.SaltLen)
	rand.Read(salt) // never fails (crypto/rand documents it)
	h := hash{Params: p, salt: salt, key: argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)}
	return h.String(), nil
}

// VerifyPassword reports whether password matches encoded, a hash made by
// HashPassword with any parameters. The comparison takes the same time
// wherever the keys differ (crypto/subtle). An error means that encoded is
// not an argon2id hash this package can check.
func VerifyPassword(encoded, password string) (bool, error) {
	h, err := parseHash(encoded)
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	key := argon2.IDKey([]byte(password), h.salt, h.Iterations, h.Memory, h.Parallelism, h.KeyLen)
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// NeedsRehash reports whether encoded was made with parameters other than
// p, or cannot be parsed, so that the password should be hashed again at p
// the next time it is known (after a successful login).
func NeedsRehash(encoded string, p Params) bool {
	h, err := parseHash(encoded)
	return err != nil || h.Params != p
}

// hash is a parsed argon2id PHC string.
type hash struct {
	Params
	salt, key []byte
}

// String encodes h in the PHC string format.
func (h hash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.Memory, h.Iterations, h.Parallelism, b64.EncodeToString(h.salt), b64.EncodeToString(h.key))
}

// parseHash parses an argon2id PHC string strictly: the version must be 19
// (0x13), the parameters exactly m, t and p in that order, in decimal
// without leading zeros, and the parameters and lengths within the bounds
// of Params.validate. What it accepts, String encodes back to the same
// string.
// decodeB64 decodes the unpadded base64 of a PHC field, refusing any
// other spelling of the same bytes: the decoder skips CR and LF, so a
// field with a line break in it would otherwise decode as if it had none.
func decodeB64(s string) ([]byte, error) {
	b, err := b64.DecodeString(s)
	if err == nil && b64.EncodeToString(b) != s {
		err = errors.New("not in canonical unpadded base64")
	}
	return b, err
}

func parseHash(s string) (hash, error) {
	var h hash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return h, errors.New("not an argon2id hash in PHC format ($argon2id$v=19$m=…,t=…,p=…$salt$key)")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, fmt.Errorf("argon2 version %q: want v=%d", parts[2], argon2.Version)
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return h, fmt.Errorf("parameters %q: want m=…,t=…,p=…", parts[3])
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		num, ok := strings.CutPrefix(params[i], name+"=")
		v, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil || strconv.FormatUint(v, 10) != num {
			return h, fmt.Errorf("parameters %q: want m=…,t=…,p=… in decimal", parts[3])
		}
		vals[i] = v
	}
	if vals[2] > 255 {
		return h, fmt.Errorf("parallelism %d: want 1 to 255", vals[2])
	}
	var err error
	if h.salt, err = decodeB64(parts[4]); err != nil {
		return h, fmt.Errorf("salt: %w", err)
	}
	if h.key, err = decodeB64(parts[5]); err != nil {
		return h, fmt.Errorf("key: %w", err)
	}
	h.Params = Params{Memory: uint32(vals[0]), Iterations: uint32(vals[1]), Parallelism: uint8(vals[2]),
		SaltLen: uint32(len(h.salt)), KeyLen: uint32(len(h.key))}
	if err := h.validate(); err != nil {
		return h, err
	}
	return h, nil
}
