package tokens

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tetherlb/tether/internal/keyring"
)

// Signing keys come from the key ring, so that every replica that shares
// the ring file signs with the same keys and publishes the same JWKS:
//
//   - RS256: the RSA key stored with a ring key (tether keys generate and
//     rotate add one to the new active key). RSA keys cannot be derived.
//   - ES256: a P-256 scalar derived with HKDF-SHA256 from the ring key's
//     secret (info "tether/tokens/es256/N", the first N that gives a
//     scalar in range; N is 0 except with probability about 2^-32).
//   - EdDSA: an Ed25519 seed derived with HKDF-SHA256 (info
//     "tether/tokens/ed25519").
//
// The kid of a ring key's signing key is "<ring key ID>-<alg>", lowercase
// (3f9a01c2-rs256), so a change of algorithm never reuses a kid.

// signingKey is the signing key of one ring key.
type signingKey struct {
	kid     string
	priv    crypto.Signer
	access  jose.Signer // typ at+jwt (RFC 9068)
	id      jose.Signer // typ JWT
	created time.Time   // the ring key's creation time
}

// keySet is the signing keys of one ring, active first.
type keySet struct {
	alg  jose.SignatureAlgorithm
	keys []*signingKey
}

// errNoRSAKey is returned for an RS256 service whose active ring key has
// no RSA key.
var errNoRSAKey = errors.New("the key ring's active key has no RSA key, which tokens.signing.alg RS256 needs")

// newKeySet makes the signing keys of ring for alg. Ring keys that cannot
// sign with alg (an old key without an RSA key) are left out; the active
// key must be able to.
func newKeySet(ring *keyring.Ring, alg string) (*keySet, error) {
	ks := &keySet{alg: jose.SignatureAlgorithm(alg)}
	for i, k := range ring.Keys() {
		priv, err := derive(k, alg)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k.ID, err)
		}
		if priv == nil {
			if i == 0 {
				return nil, fmt.Errorf("%w (key %s; run 'tether keys rotate -f FILE' to make a new active key with one, then reload)", errNoRSAKey, k.ID)
			}
			continue
		}
		sk := &signingKey{kid: k.ID + "-" + strings.ToLower(alg), priv: priv, created: k.CreatedAt}
		jwk := jose.JSONWebKey{Key: priv, KeyID: sk.kid, Algorithm: alg, Use: "sig"}
		if sk.access, err = jose.NewSigner(jose.SigningKey{Algorithm: ks.alg, Key: jwk},
			(&jose.SignerOptions{}).WithType("at+jwt")); err != nil {
			return nil, fmt.Errorf("key %s: %w", k.ID, err)
		}
		if sk.id, err = jose.NewSigner(jose.SigningKey{Algorithm: ks.alg, Key: jwk},
			(&jose.SignerOptions{}).WithType("JWT")); err != nil {
			return nil, fmt.Errorf("key %s: %w", k.ID, err)
		}
		ks.keys = append(ks.keys, sk)
	}
	return ks, nil
}

// derive returns the private key of k for alg, or nil for RS256 when k
// has no RSA key.
func derive(k keyring.Key, alg string) (crypto.Signer, error) {
	switch alg {
	case "RS256":
		if k.RSA == nil {
			return nil, nil
		}
		return k.RSA, nil
	case "EdDSA":
		seed, err := hkdf.Key(sha256.New, k.Secret, nil, "tether/tokens/ed25519", ed25519.SeedSize)
		if err != nil {
			return nil, err
		}
		return ed25519.NewKeyFromSeed(seed), nil
	case "ES256":
		for n := 0; n < 16; n++ {
			d, err := hkdf.Key(sha256.New, k.Secret, nil, fmt.Sprintf("tether/tokens/es256/%d", n), 32)
			if err != nil {
				return nil, err
			}
			if priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d); err == nil {
				return priv, nil
			}
		}
		return nil, errors.New("no P-256 scalar in range after 16 derivations")
	}
	return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
}

// active returns the key that signs new tokens.
func (ks *keySet) active() *signingKey { return ks.keys[0] }

// jwks returns the public JWKS document: the active key, and each older
// key while tokens it signed may still be live. A key stopped signing when
// the next newer key was created (or, if later, when this process last
// signed with it: retiredAt), so it is published until then plus ttl.
func (ks *keySet) jwks(now time.Time, ttl time.Duration, retiredAt map[string]time.Time) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for i, k := range ks.keys {
		if i > 0 {
			stopped := ks.keys[i-1].created
			if t, ok := retiredAt[k.kid]; ok && t.After(stopped) {
				stopped = t
			}
			if !now.Before(stopped.Add(ttl)) {
				continue
			}
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(ks.alg), Use: "sig"})
	}
	return json.Marshal(set)
}
