package session

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/tetherlb/tether/internal/keyring"
)

// Keys is where the Manager gets the keys for what it signs (CSRF tokens)
// and keyed hashes (the session hash in logs and forwarded headers): one
// subkey per purpose for each key ID, and the ID of the key new values are
// signed with. Values signed under any key of the ring verify, so a
// rotation invalidates nothing; the next value is signed with the new
// active key. tether's key ring (see LoadKeyRing) implements Keys.
type Keys interface {
	// ActiveID returns the ID of the key that signs new values.
	ActiveID() string
	// Derive returns a subkey for purpose under every key ID.
	Derive(purpose string) map[string][]byte
}

// LoadKeyRing reads a tether key ring file (made by `tether keys
// generate`); the file must have mode 0600.
func LoadKeyRing(path string) (Keys, error) {
	r, err := keyring.Load(path)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return r, nil
}

// StaticKey returns Keys made of one secret of at least 32 random bytes,
// for apps that do not use a tether key ring. It has no rotation.
func StaticKey(secret []byte) (Keys, error) {
	if len(secret) < 32 {
		return nil, errors.New("session: StaticKey needs a secret of at least 32 random bytes")
	}
	return staticKey{secret: append([]byte(nil), secret...)}, nil
}

type staticKey struct{ secret []byte }

func (staticKey) ActiveID() string { return "static" }

func (k staticKey) Derive(purpose string) map[string][]byte {
	b, err := hkdf.Key(sha256.New, k.secret, nil, "tether/"+purpose, 32)
	if err != nil {
		panic("session: derive: " + err.Error())
	}
	return map[string][]byte{"static": b}
}

// Key purposes; each gets an independent HKDF subkey.
const (
	purposeCSRF = "session/csrf"
	purposeHash = "session/hash"
)

// subkeys is the keys of one purpose, derived once.
type subkeys struct {
	active string
	byID   map[string][]byte
}

func deriveSubkeys(k Keys, purpose string) subkeys {
	return subkeys{active: k.ActiveID(), byID: k.Derive(purpose)}
}
