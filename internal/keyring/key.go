package keyring

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Key is one key of a ring.
//
// A Key prints, logs and marshals to JSON without its secret or RSA key:
// String, GoString, Format, LogValue and MarshalJSON all leave Secret and
// RSA out, saying only whether there is an RSA key and its size, so a Key
// can be passed to fmt, log/slog or encoding/json without leaking either.
type Key struct {
	// ID names the key in sealed values: 8 lowercase hex characters (4
	// random bytes), unique in its ring.
	ID string
	// Secret is the SecretSize random bytes that subkeys are derived from.
	// Use Ring.Derive rather than the secret itself.
	Secret []byte
	// CreatedAt is when the key was generated, in UTC, to the second.
	CreatedAt time.Time
	// RSA is the key's RSA private key, of 2048 to 4096 bits, for signing
	// with algorithms that cannot be derived from Secret (RS256); nil when
	// the key has none. Ring.WithActiveRSA gives the active key one. It is
	// shared by every copy of the Key, so it must not be modified; signing
	// and reading it are safe for concurrent use.
	RSA *rsa.PrivateKey
}

const redacted = "[redacted]"

// String describes the key by its ID and creation time; the secret is shown
// as [redacted], and an RSA key as [redacted N-bit RSA key].
func (k Key) String() string {
	s := fmt.Sprintf("keyring.Key{ID: %s, CreatedAt: %s, Secret: %s",
		k.ID, k.CreatedAt.Format(time.RFC3339), redacted)
	if k.RSA != nil {
		s += fmt.Sprintf(", RSA: [redacted %d-bit RSA key]", k.rsaBits())
	}
	return s + "}"
}

// GoString is like String in Go syntax, for the %#v verb. The secret and
// any RSA key are shown as [redacted].
func (k Key) GoString() string {
	s := fmt.Sprintf("keyring.Key{ID:%q, Secret:%s, CreatedAt:%q",
		k.ID, redacted, k.CreatedAt.Format(time.RFC3339))
	if k.RSA != nil {
		s += ", RSA:" + redacted
	}
	return s + "}"
}

// Format implements fmt.Formatter so that no verb, not even %x or %d, prints
// the secret: %#v prints GoString and every other verb prints String.
func (k Key) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, k.GoString())
		return
	}
	io.WriteString(f, k.String())
}

// LogValue implements slog.LogValuer: a key logs as a group of its ID,
// creation time and, when it has an RSA key, the key's size in bits
// (rsa_bits).
func (k Key) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("id", k.ID),
		slog.Time("created_at", k.CreatedAt),
	}
	if k.RSA != nil {
		attrs = append(attrs, slog.Int("rsa_bits", k.rsaBits()))
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON encodes the key's ID, creation time and, when it has an RSA
// key, the key's size in bits (rsa_bits) only. The key ring file, which does
// hold secrets, is written by Ring.Save.
func (k Key) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID        string    `json:"id"`
		CreatedAt time.Time `json:"created_at"`
		RSABits   int       `json:"rsa_bits,omitempty"`
	}{k.ID, k.CreatedAt, k.rsaBits()})
}

// rsaBits returns the size of k's RSA modulus in bits, or 0 when k has no
// RSA key.
func (k Key) rsaBits() int {
	if k.RSA == nil || k.RSA.N == nil {
		return 0
	}
	return k.RSA.N.BitLen()
}

// clone returns a copy of k whose secret shares no memory with k's. The RSA
// key is shared, not copied: no ring ever modifies one (see Key.RSA).
func (k Key) clone() Key {
	c := k
	c.Secret = bytes.Clone(k.Secret)
	return c
}
