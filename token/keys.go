package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/json"
)

// minRSABits is the smallest RSA modulus accepted in a key set (NIST SP
// 800-131A; RFC 7518 §3.3). go-jose refuses moduli above
// jose.MaxRSAModulusBits (4096).
const minRSABits = 2048

// maxKeys bounds the keys kept from one JWKS document.
const maxKeys = 100

// keyKind is the type of a verification key, which decides the algorithms
// it can serve.
type keyKind int

const (
	kindRSA keyKind = iota + 1
	kindP256
	kindP384
	kindP521
	kindEd25519
)

func (k keyKind) String() string {
	return [...]string{"", "RSA", "EC P-256", "EC P-384", "EC P-521", "Ed25519"}[k]
}

// algKind is the key kind each supported algorithm needs.
var algKind = map[string]keyKind{
	"RS256": kindRSA, "RS384": kindRSA, "RS512": kindRSA,
	"PS256": kindRSA, "PS384": kindRSA, "PS512": kindRSA,
	"ES256": kindP256, "ES384": kindP384, "ES512": kindP521,
	"EdDSA": kindEd25519,
}

// verifyKey is one public key of a key set. Keys are immutable; a key that
// survives a refresh unchanged keeps its pointer, which is how cached
// tokens know their key is still published.
type verifyKey struct {
	kid  string
	alg  string // the JWK's "alg"; "" when absent
	kind keyKind
	pub  crypto.PublicKey
	id   string // kid, alg and the RFC 7638 thumbprint
}

// fits reports whether k may verify a signature made with alg.
func (k *verifyKey) fits(alg string) bool {
	return (k.alg == "" || k.alg == alg) && algKind[alg] == k.kind
}

// keySet is an immutable set of verification keys.
type keySet struct {
	byKID map[string][]*verifyKey
	n     int
}

// find returns the key for a token with header kid (hasKID false when the
// header has none) and alg. It fails with ErrUnknownKey when no key has
// the kid, and with ErrAlgorithm when keys have it but none fits alg.
func (s *keySet) find(kid string, hasKID bool, alg string) (*verifyKey, error) {
	var cands []*verifyKey
	switch {
	case hasKID:
		cands = s.byKID[kid]
		if len(cands) == 0 {
			return nil, fmt.Errorf("%w: no key has kid %s", ErrUnknownKey, quote(kid))
		}
	case s.n == 1:
		for _, ks := range s.byKID {
			cands = ks
		}
	default:
		return nil, fmt.Errorf("%w: the token has no kid and the key set has %d keys", ErrUnknownKey, s.n)
	}
	for _, k := range cands {
		if k.fits(alg) {
			return k, nil
		}
	}
	k := cands[0]
	return nil, fmt.Errorf("%w: alg %s does not fit key %s (%s, alg %s)", ErrAlgorithm, quote(alg), quote(k.kid), k.kind, quote(k.alg))
}

// has reports whether k is still in s. A nil set has no keys.
func (s *keySet) has(k *verifyKey) bool {
	return s != nil && slices.Contains(s.byKID[k.kid], k)
}

// parseKeySet parses a JWKS document, keeping the keys that can verify
// one of algs. Unusable keys are skipped and logged; old supplies the
// pointers of unchanged keys. A document without a usable key is an error.
func parseKeySet(doc []byte, algs []string, old *keySet, log *slog.Logger) (*keySet, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("not a JWKS document: %w", err)
	}
	prev := map[string]*verifyKey{}
	if old != nil {
		for _, ks := range old.byKID {
			for _, k := range ks {
				prev[k.id] = k
			}
		}
	}
	set := &keySet{byKID: map[string][]*verifyKey{}}
	for i, r := range raw.Keys {
		if set.n == maxKeys {
			log.Warn("jwks has too many keys; ignoring the rest", "kept", maxKeys, "total", len(raw.Keys))
			break
		}
		k, err := parseKey(r, algs)
		if err != nil {
			log.Warn("jwks key skipped", "index", i, "reason", err)
			continue
		}
		if p := prev[k.id]; p != nil {
			k = p
		}
		set.byKID[k.kid] = append(set.byKID[k.kid], k)
		set.n++
	}
	if set.n == 0 {
		return nil, fmt.Errorf("no usable key among %d", len(raw.Keys))
	}
	return set, nil
}

// parseKey parses one JWK and checks it is a public signing key of an
// accepted type and size that can verify one of algs.
func parseKey(raw []byte, algs []string) (*verifyKey, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	kid := quote(jwk.KeyID)
	if !jwk.IsPublic() {
		return nil, fmt.Errorf("kid %s: private or symmetric key material in a public key set", kid)
	}
	if !jwk.Valid() {
		return nil, fmt.Errorf("kid %s: invalid key", kid)
	}
	if jwk.Use != "" && jwk.Use != "sig" {
		return nil, fmt.Errorf("kid %s: use %s is not \"sig\"", kid, quote(jwk.Use))
	}
	kind, err := kindOf(jwk.Key)
	if err != nil {
		return nil, fmt.Errorf("kid %s: %w", kid, err)
	}
	k := &verifyKey{kid: jwk.KeyID, alg: jwk.Algorithm, kind: kind, pub: jwk.Key}
	if !slices.ContainsFunc(algs, k.fits) {
		return nil, fmt.Errorf("kid %s: a %s key with alg %s can verify none of the allowed algorithms %q", kid, kind, quote(k.alg), algs)
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("kid %s: %w", kid, err)
	}
	k.id = k.kid + "\x00" + k.alg + "\x00" + base64.RawURLEncoding.EncodeToString(tp)
	return k, nil
}

// kindOf classifies a public key, refusing RSA keys under 2048 bits and
// curves other than P-256, P-384, P-521 and Ed25519.
func kindOf(pub any) (keyKind, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if n := p.N.BitLen(); n < minRSABits {
			return 0, fmt.Errorf("RSA key of %d bits; at least %d required", n, minRSABits)
		}
		return kindRSA, nil
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256():
			return kindP256, nil
		case elliptic.P384():
			return kindP384, nil
		case elliptic.P521():
			return kindP521, nil
		}
		return 0, errors.New("unsupported elliptic curve")
	case ed25519.PublicKey:
		return kindEd25519, nil
	}
	return 0, fmt.Errorf("unsupported key type %T", pub)
}
