// Package affinity keeps a client on the target it was first sent to.
//
// The binding travels with the client as an affinity token, a cookie or
// header value that a Sealer seals with authenticated encryption
// (XChaCha20-Poly1305) under keys derived from the key ring. Any replica with
// the same key ring opens the token, so stickiness needs no shared state, and
// the client can neither read nor change which target it names.
package affinity

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/tetherlb/tether/internal/keyring"
)

// MaxTokenLen is the longest token, in bytes, that Open decodes; longer
// input is rejected before any work. Seal fails rather than make a longer
// token.
const MaxTokenLen = 256

// MaxNameLen is the longest Token.Group or Token.Target, in bytes. Seal also
// fails when the two names together would make the token longer than
// MaxTokenLen: for tokens issued before the year 2500 that live at most 12
// days, 129 bytes of names in all fit, such as two names of 64 bytes.
const MaxNameLen = 128

// purpose is the keyring.Ring.Derive purpose of the token keys.
const purpose = "affinity"

// Errors that Open returns, wrapped; match them with errors.Is.
var (
	// ErrMalformed means the value is not a token sealed by a replica with
	// this key ring: it is empty, too long, not base64url, of the wrong
	// length or version, or it was changed after sealing.
	ErrMalformed = errors.New("malformed token")
	// ErrUnknownKey means the token names a key that is not in the ring,
	// usually one rotated out, or that the token was forged.
	ErrUnknownKey = errors.New("unknown key")
	// ErrExpired means the token is authentic but its ExpiresAt has passed.
	ErrExpired = errors.New("token expired")
)

// The errors that Open returns, made once so that rejecting hostile input
// does not allocate.
var (
	errTooLong    = fmt.Errorf("open affinity token: %w: longer than %d bytes", ErrMalformed, MaxTokenLen)
	errEmpty      = fmt.Errorf("open affinity token: %w: empty", ErrMalformed)
	errEncoding   = fmt.Errorf("open affinity token: %w: not base64url without padding", ErrMalformed)
	errShort      = fmt.Errorf("open affinity token: %w: too short", ErrMalformed)
	errVersion    = fmt.Errorf("open affinity token: %w: unknown version", ErrMalformed)
	errAuth       = fmt.Errorf("open affinity token: %w: authentication failed", ErrMalformed)
	errPlaintext  = fmt.Errorf("open affinity token: %w: bad contents", ErrMalformed)
	errUnknownKey = fmt.Errorf("open affinity token: %w", ErrUnknownKey)
	errExpired    = fmt.Errorf("open affinity token: %w", ErrExpired)
)

// Token is what an affinity token says.
type Token struct {
	// Group is the name of the target group.
	Group string
	// Target is the configured id of the target, never its address.
	Target string
	// Binding is a random id of this client's binding, kept across re-seals,
	// so that bound clients can be counted.
	Binding uint64
	// IssuedAt is when the token was sealed, to the second.
	IssuedAt time.Time
	// ExpiresAt is when the token stops being honoured, to the second.
	ExpiresAt time.Time
}

// The wire format, before base64url without padding:
//
//	version (1 byte, 0x01) | key id (4 bytes) | nonce (24 bytes) | ciphertext
//
// The ciphertext is XChaCha20-Poly1305 of the encoded Token (see
// appendPlaintext) with the version and key id as additional data, so
// neither can be changed without failing authentication.
const (
	wireVersion = 0x01
	idLen       = 4
	headerLen   = 1 + idLen
	nonceLen    = chacha20poly1305.NonceSizeX
	overhead    = headerLen + nonceLen + chacha20poly1305.Overhead
	// maxRawLen is the most bytes that MaxTokenLen base64url characters hold.
	maxRawLen = MaxTokenLen * 6 / 8
)

// Sealer seals and opens affinity tokens under the keys of one key ring. It
// seals with the ring's active key and opens tokens sealed under any key of
// the ring. A Sealer is safe for concurrent use. To change keys, make a new
// Sealer from the new ring.
type Sealer struct {
	keys   []sealerKey // active first
	active sealerKey
}

// sealerKey is the AEAD of one ring key.
type sealerKey struct {
	id   [idLen]byte
	aead cipher.AEAD
}

// NewSealer returns a Sealer for the keys of r, derived from the key
// secrets with HKDF for the purpose "affinity" (see keyring.Ring.Derive).
func NewSealer(r *keyring.Ring) (*Sealer, error) {
	if r == nil {
		return nil, errors.New("new affinity sealer: nil key ring")
	}
	subkeys := r.Derive(purpose)
	s := &Sealer{}
	for _, k := range r.Keys() {
		var sk sealerKey
		if n, err := hex.Decode(sk.id[:], []byte(k.ID)); err != nil || n != idLen {
			return nil, fmt.Errorf("new affinity sealer: key id %q is not %d hex bytes", k.ID, idLen)
		}
		aead, err := chacha20poly1305.NewX(subkeys[k.ID])
		if err != nil {
			return nil, fmt.Errorf("new affinity sealer: key %s: %w", k.ID, err)
		}
		sk.aead = aead
		s.keys = append(s.keys, sk)
	}
	if len(s.keys) == 0 {
		return nil, errors.New("new affinity sealer: key ring has no keys")
	}
	s.active = s.keys[0]
	return s, nil
}

// Seal returns t sealed under the active key as a base64url string without
// padding, safe in a cookie value or an HTTP header. Times are kept to the
// second. Each call draws a fresh random nonce, so sealing the same Token
// twice gives different strings. Seal fails when t.Group or t.Target is
// longer than MaxNameLen or the token would be longer than MaxTokenLen.
func (s *Sealer) Seal(t Token) (string, error) {
	if len(t.Group) > MaxNameLen || len(t.Target) > MaxNameLen {
		return "", fmt.Errorf("seal affinity token: group or target longer than %d bytes", MaxNameLen)
	}
	var buf [maxRawLen + 64]byte
	raw := buf[:headerLen+nonceLen]
	raw[0] = wireVersion
	copy(raw[1:headerLen], s.active.id[:])
	nonce := raw[headerLen:]
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal affinity token: %w", err)
	}
	raw = appendPlaintext(raw, t)
	if n := len(raw) + chacha20poly1305.Overhead; n > maxRawLen {
		return "", fmt.Errorf("seal affinity token: group and target too long: %d bytes sealed, at most %d fit in %d characters",
			n, maxRawLen, MaxTokenLen)
	}
	// Encrypt in place: the ciphertext overwrites the plaintext.
	plain := raw[headerLen+nonceLen:]
	raw = s.active.aead.Seal(raw[:headerLen+nonceLen], nonce, plain, raw[:headerLen])
	var out [MaxTokenLen]byte
	base64.RawURLEncoding.Encode(out[:], raw)
	return string(out[:base64.RawURLEncoding.EncodedLen(len(raw))]), nil
}

// Open checks and decrypts v, a token made by Seal with a key of the ring,
// at the time now.
//
// Open returns an error matching ErrMalformed when v is empty, longer than
// MaxTokenLen, not base64url without padding, of an unknown version, or was
// changed in any way; ErrUnknownKey when the key that sealed v is not in the
// ring; and ErrExpired when now is at or after ExpiresAt, in which case t
// and stale are filled in too. stale reports that v was sealed under a key
// other than the active one, so the caller should seal it again.
func (s *Sealer) Open(v string, now time.Time) (t Token, stale bool, err error) {
	switch {
	case len(v) == 0:
		return Token{}, false, errEmpty
	case len(v) > MaxTokenLen:
		return Token{}, false, errTooLong
	}
	// The decoder skips CR and LF; refuse every byte outside the alphabet
	// so that a token has one spelling.
	for i := 0; i < len(v); i++ {
		if !isBase64URL(v[i]) {
			return Token{}, false, errEncoding
		}
	}
	var src [MaxTokenLen]byte
	var buf [maxRawLen]byte
	n, err := base64.RawURLEncoding.Strict().Decode(buf[:], src[:copy(src[:], v)])
	if err != nil {
		return Token{}, false, errEncoding
	}
	raw := buf[:n]
	if len(raw) < overhead+minPlaintextLen {
		return Token{}, false, errShort
	}
	if raw[0] != wireVersion {
		return Token{}, false, errVersion
	}
	key, ok := s.lookup(raw[1:headerLen])
	if !ok {
		return Token{}, false, errUnknownKey
	}
	nonce := raw[headerLen : headerLen+nonceLen]
	sealed := raw[headerLen+nonceLen:]
	plain, err := key.aead.Open(sealed[:0], nonce, sealed, raw[:headerLen])
	if err != nil {
		return Token{}, false, errAuth
	}
	t, ok = parsePlaintext(plain)
	if !ok {
		return Token{}, false, errPlaintext
	}
	stale = key.id != s.active.id
	if !now.Before(t.ExpiresAt) {
		return t, stale, errExpired
	}
	return t, stale, nil
}

// lookup returns the key whose id is id.
func (s *Sealer) lookup(id []byte) (sealerKey, bool) {
	for _, k := range s.keys {
		if string(k.id[:]) == string(id) {
			return k, true
		}
	}
	return sealerKey{}, false
}

// isBase64URL reports whether c is in the base64url alphabet.
func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}
