package keyring

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Key is one key of a ring.
//
// A Key prints, logs and marshals to JSON without its secret: String,
// GoString, Format, LogValue and MarshalJSON all leave Secret out, so a Key
// can be passed to fmt, log/slog or encoding/json without leaking it.
type Key struct {
	// ID names the key in sealed values: 8 lowercase hex characters (4
	// random bytes), unique in its ring.
	ID string
	// Secret is the SecretSize random bytes that subkeys are derived from.
	// Use Ring.Derive rather than the secret itself.
	Secret []byte
	// CreatedAt is when the key was generated, in UTC, to the second.
	CreatedAt time.Time
}

const redacted = "[redacted]"

// String describes the key by its ID and creation time; the secret is shown
// as [redacted].
func (k Key) String() string {
	return fmt.Sprintf("keyring.Key{ID: %s, CreatedAt: %s, Secret: %s}",
		k.ID, k.CreatedAt.Format(time.RFC3339), redacted)
}

// GoString is like String in Go syntax, for the %#v verb. The secret is
// shown as [redacted].
func (k Key) GoString() string {
	return fmt.Sprintf("keyring.Key{ID:%q, Secret:%s, CreatedAt:%q}",
		k.ID, redacted, k.CreatedAt.Format(time.RFC3339))
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

// LogValue implements slog.LogValuer: a key logs as a group of its ID and
// creation time.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", k.ID),
		slog.Time("created_at", k.CreatedAt),
	)
}

// MarshalJSON encodes the key's ID and creation time only. The key ring
// file, which does hold secrets, is written by Ring.Save.
func (k Key) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID        string    `json:"id"`
		CreatedAt time.Time `json:"created_at"`
	}{k.ID, k.CreatedAt})
}

// clone returns a copy of k whose secret shares no memory with k's.
func (k Key) clone() Key {
	c := k
	c.Secret = bytes.Clone(k.Secret)
	return c
}
