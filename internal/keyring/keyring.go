// Package keyring holds the secret keys that tether derives its sealing keys
// from: one active key that seals new values and up to MaxKeys-1 previous
// keys that still open values sealed before a rotation.
//
// A ring lives in a JSON file of mode 0600 (see Parse for the format). Any
// number of tether replicas that share the file can open each other's
// affinity tokens, so stickiness needs no shared state. Components never use
// a ring secret directly: they call Ring.Derive with their own purpose and
// get independent subkeys, so a key used for one purpose is never reused for
// another.
//
// A key may also hold an RSA private key (Key.RSA), for signing with RS256,
// which cannot be derived from a secret: RSA keys are stored in the file,
// and Ring.WithActiveRSA adds one to the active key.
package keyring

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
)

// MaxKeys is the most keys a ring holds. Rotate drops the oldest key when a
// new one would exceed it, and Parse rejects a file with more.
const MaxKeys = 8

// SecretSize is the length in bytes of every key secret.
const SecretSize = 32

// idSize is the number of random bytes in a key ID; the ID is their
// lowercase hex form.
const idSize = 4

// SubkeySize is the length in bytes of each subkey returned by Ring.Derive.
const SubkeySize = 32

// Ring is an ordered set of keys: the active key first, then the previous
// keys, newest first. A Ring is immutable once made, so it is safe for
// concurrent use; Rotate returns a new Ring. Its methods return copies of the
// secrets, so callers cannot change a Ring through them; RSA keys are shared,
// not copied, and must not be modified.
//
// The zero Ring holds no keys and is not usable; make rings with Generate,
// Parse, Load or LoadOrCreate.
type Ring struct {
	// The keys are behind a pointer so that printing a Ring through the fmt
	// package's reflection, which ignores the methods of unexported fields,
	// shows an address and never secret bytes.
	s *ringState
}

// ringState is what a Ring holds.
type ringState struct {
	keys []Key // active first, then the previous keys, newest first
}

// newRing returns a ring of keys, which must be in Ring order.
func newRing(keys []Key) *Ring { return &Ring{s: &ringState{keys: keys}} }

// Generate returns a new ring holding one fresh active key created at now.
// Secrets come from crypto/rand.
func Generate(now time.Time) (*Ring, error) {
	k, err := newKey(now, nil)
	if err != nil {
		return nil, fmt.Errorf("generate key ring: %w", err)
	}
	return newRing([]Key{k}), nil
}

// Rotate returns a new ring whose active key is fresh and created at now.
// The keys of r follow it, newest first; when that would make more than
// MaxKeys keys, the oldest are dropped. Values sealed under a dropped key no
// longer open. r itself is unchanged.
func (r *Ring) Rotate(now time.Time) (*Ring, error) {
	k, err := newKey(now, r)
	if err != nil {
		return nil, fmt.Errorf("rotate key ring: %w", err)
	}
	keys := make([]Key, 0, min(len(r.s.keys)+1, MaxKeys))
	keys = append(keys, k)
	for _, old := range r.s.keys {
		if len(keys) == MaxKeys {
			break
		}
		keys = append(keys, old)
	}
	return newRing(keys), nil
}

// WithoutPrevious returns a ring of r's active key alone: what the older
// keys sealed or signed no longer opens or verifies. It is the emergency
// rotation's second half, after a key has leaked (tether keys rotate
// -drop-old).
func (r *Ring) WithoutPrevious() *Ring {
	return newRing([]Key{r.s.keys[0]})
}

// newKey makes a key with a random ID that r does not already hold (r may
// be nil) and a random secret.
func newKey(now time.Time, r *Ring) (Key, error) {
	var id [idSize]byte
	for {
		if _, err := rand.Read(id[:]); err != nil {
			return Key{}, fmt.Errorf("read random key id: %w", err)
		}
		if r == nil {
			break
		}
		if _, taken := r.Lookup(hex.EncodeToString(id[:])); !taken {
			break
		}
	}
	secret := make([]byte, SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, fmt.Errorf("read random key secret: %w", err)
	}
	return Key{
		ID:        hex.EncodeToString(id[:]),
		Secret:    secret,
		CreatedAt: now.UTC().Truncate(time.Second),
	}, nil
}

// Active returns the key that seals new values.
func (r *Ring) Active() Key {
	return r.s.keys[0].clone()
}

// Keys returns every key of the ring, the active key first and then the
// previous keys, newest first. The slice and the secrets are copies.
func (r *Ring) Keys() []Key {
	keys := make([]Key, len(r.s.keys))
	for i, k := range r.s.keys {
		keys[i] = k.clone()
	}
	return keys
}

// Lookup returns the key with the given ID and whether the ring holds it.
func (r *Ring) Lookup(id string) (Key, bool) {
	for _, k := range r.s.keys {
		if k.ID == id {
			return k.clone(), true
		}
	}
	return Key{}, false
}

// ActiveID returns the ID of the active key: the key new values are
// sealed or signed with.
func (r *Ring) ActiveID() string { return r.s.keys[0].ID }

// Derive returns, for each key ID of the ring, a SubkeySize-byte subkey for
// purpose, computed with HKDF-SHA256 (RFC 5869,
// https://www.rfc-editor.org/rfc/rfc5869) from the key's secret with no salt
// and the info string "tether/"+purpose. Different purposes and different
// keys give independent subkeys; the same key and purpose always give the
// same subkey, on every replica.
func (r *Ring) Derive(purpose string) map[string][]byte {
	sub := make(map[string][]byte, len(r.s.keys))
	for _, k := range r.s.keys {
		b, err := hkdf.Key(sha256.New, k.Secret, nil, "tether/"+purpose, SubkeySize)
		if err != nil {
			// HKDF-SHA256 fails only for outputs longer than 255*32 bytes.
			panic("keyring: derive: " + err.Error())
		}
		sub[k.ID] = b
	}
	return sub
}

// String describes the ring by its key IDs, active first. It never shows a
// secret.
//
// String, GoString and Format have value receivers so that a Ring value
// prints safely too.
func (r Ring) String() string {
	if r.s == nil {
		return "keyring.Ring{}"
	}
	var b strings.Builder
	b.WriteString("keyring.Ring{")
	for i, k := range r.s.keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k.ID)
		if i == 0 {
			b.WriteString(" (active)")
		}
	}
	b.WriteString("}")
	return b.String()
}

// GoString is String, so that the %#v verb does not show secrets either.
func (r Ring) GoString() string { return r.String() }

// Format implements fmt.Formatter so that every verb, not only %v and %s,
// prints String.
func (r Ring) Format(f fmt.State, verb rune) { io.WriteString(f, r.String()) }
