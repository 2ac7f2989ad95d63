package keyring

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"slices"
)

// RSABits is the size in bits of the RSA keys that WithActiveRSA makes.
const RSABits = 2048

// The sizes of RSA modulus that Parse accepts, in bits.
const (
	minRSABits = 2048
	maxRSABits = 4096
)

// oidRSA is the PKCS#8 algorithm of an RSA key, rsaEncryption (RFC 8017,
// appendix A.1).
const oidRSA = "1.2.840.113549.1.1.1"

// WithActiveRSA returns r if its active key has an RSA key. Otherwise it
// returns a new ring, like r in every other way, whose active key has a
// fresh RSABits-bit RSA key made with crypto/rand; the keys before it keep
// theirs. r itself is unchanged.
//
// Generate, Rotate and LoadOrCreate never make RSA keys, as making one takes
// tens of milliseconds; tether keys generate and tether keys rotate call
// WithActiveRSA.
func (r *Ring) WithActiveRSA() (*Ring, error) {
	if r.s.keys[0].RSA != nil {
		return r, nil
	}
	// crypto/rsa ignores its random argument and always reads crypto/rand.
	priv, err := rsa.GenerateKey(rand.Reader, RSABits)
	if err != nil {
		return nil, fmt.Errorf("add RSA key to key ring: %w", err)
	}
	// The keys' secrets and RSA keys are shared with r: no ring changes them.
	keys := slices.Clone(r.s.keys)
	keys[0].RSA = priv
	return newRing(keys), nil
}

// pkcs8 is the start of a PKCS#8 private key (RFC 5208, section 5), enough
// to tell what algorithm it is for. encoding/asn1 ignores the optional
// fields after PrivateKey.
type pkcs8 struct {
	Version    int
	Algo       pkix.AlgorithmIdentifier
	PrivateKey []byte
}

// pkcs1Start is the start of a PKCS#1 RSA private key (RFC 8017, appendix
// A.1.2), enough to read the size of the modulus and to tell a PKCS#1 key
// from other DER.
type pkcs1Start struct {
	Version int
	N       *big.Int
	E       int
	D, P, Q *big.Int
}

// parseRSA decodes the "rsa" member of a key: the PKCS#8 DER of an RSA
// private key, base64url without padding. On failure it returns what is
// wrong, for "keys[i].rsa (key ID) ..."; the reason never includes any of
// s. The key's size is checked before it is validated, so a huge key does
// not cost a validation.
func parseRSA(s string) (*rsa.PrivateKey, string) {
	if s == "" {
		return nil, "is empty; leave it out for a key without an RSA key"
	}
	der, err := secretEncoding.DecodeString(s)
	if err != nil || secretEncoding.EncodeToString(der) != s {
		return nil, "is not base64url without padding"
	}
	var p8 pkcs8
	if rest, err := asn1.Unmarshal(der, &p8); err != nil || len(rest) > 0 {
		var p1 pkcs1Start
		if rest, err := asn1.Unmarshal(der, &p1); err == nil && len(rest) == 0 {
			return nil, "is a PKCS#1 RSA key, not PKCS#8; convert it with openssl pkcs8 -topk8 -nocrypt -outform DER"
		}
		return nil, "is not a PKCS#8 private key (DER)"
	}
	if alg := p8.Algo.Algorithm.String(); alg != oidRSA {
		return nil, fmt.Sprintf("is a PKCS#8 %s; want an RSA key", algorithmName(alg))
	}
	var p1 pkcs1Start
	if _, err := asn1.Unmarshal(p8.PrivateKey, &p1); err != nil || p1.N == nil {
		return nil, "is not a valid RSA private key"
	}
	if bits := p1.N.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Sprintf("has a %d-bit modulus; want %d to %d bits", bits, minRSABits, maxRSABits)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		// x509 validates the key it parses; its errors are not repeated in
		// case one ever quotes the key.
		return nil, "is not a valid RSA private key"
	}
	priv, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, "is not a valid RSA private key"
	}
	if n := len(priv.Primes); n != 2 {
		return nil, fmt.Sprintf("is a %d-prime RSA key; want 2 primes", n)
	}
	if err := priv.Validate(); err != nil {
		return nil, "is not a valid RSA private key"
	}
	return priv, ""
}

// algorithmName names the private key algorithm with the OID alg.
func algorithmName(alg string) string {
	switch alg {
	case "1.2.840.10045.2.1":
		return "ECDSA key"
	case "1.3.101.112":
		return "Ed25519 key"
	case "1.3.101.110":
		return "X25519 key"
	case "1.2.840.10040.4.1":
		return "DSA key"
	case "1.2.840.113549.1.1.10":
		return "RSASSA-PSS key"
	}
	if len(alg) > 40 {
		return "key of another algorithm"
	}
	return "key of algorithm " + alg
}

// encodeRSA encodes priv for the "rsa" member of a key.
func encodeRSA(priv *rsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("encode RSA key: %w", err)
	}
	return secretEncoding.EncodeToString(der), nil
}
