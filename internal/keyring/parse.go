package keyring

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
)

// fileVersion is the only key ring file version Parse accepts.
const fileVersion = 1

// secretEncoding encodes secrets in the file: base64url without padding.
var secretEncoding = base64.RawURLEncoding.Strict()

// fileRing is the JSON form of a ring.
type fileRing struct {
	Version *int      `json:"version"`
	Active  string    `json:"active"`
	Keys    []fileKey `json:"keys"`
}

// fileKey is the JSON form of a key. CreatedAt is a string so that Parse can
// name the key whose time is wrong. RSA is nil for a key without an RSA key.
type fileKey struct {
	ID        string  `json:"id"`
	Secret    string  `json:"secret"`
	CreatedAt string  `json:"created_at"`
	RSA       *string `json:"rsa,omitempty"`
}

// Parse decodes a key ring file:
//
//	{
//	  "version": 1,
//	  "active": "3f9a01c2",
//	  "keys": [
//	    {"id": "3f9a01c2", "secret": "<32 bytes, base64url without padding>", "created_at": "2026-11-22T03:00:00Z",
//	     "rsa": "<PKCS#8 DER of an RSA private key, base64url without padding>"},
//	    {"id": "0b7de455", "secret": "<32 bytes, base64url without padding>", "created_at": "2026-11-21T03:00:00Z"}
//	  ]
//	}
//
// The "rsa" member is optional: it holds the key's RSA private key (see
// Key.RSA), which a key without one leaves out.
//
// Decoding is strict: an unknown field, a version other than 1, no keys,
// more than MaxKeys keys, an ID that is not 8 lowercase hex characters or is
// repeated, a secret that is not exactly SecretSize bytes of unpadded
// base64url, a created_at that is not an RFC 3339 time, an rsa that is
// empty, is not unpadded base64url, is not PKCS#8, is not an RSA key, has a
// modulus of fewer than 2048 or more than 4096 bits, has more than two
// primes or fails rsa.PrivateKey.Validate, and an active ID that names no
// key are all errors. Every problem of a well-formed JSON document is
// reported at once. Error messages never include a secret or an RSA key.
func Parse(data []byte) (*Ring, error) {
	var f fileRing
	if err := decodeStrict(data, &f); err != nil {
		return nil, fmt.Errorf("parse key ring: %w", err)
	}
	if err := checkFieldCase(data); err != nil {
		return nil, fmt.Errorf("parse key ring: %w", err)
	}
	var problems []error
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf(format, args...))
	}
	switch {
	case f.Version == nil:
		add("version is missing; want %d", fileVersion)
	case *f.Version != fileVersion:
		add("version %d is not supported; want %d", *f.Version, fileVersion)
	}
	switch {
	case len(f.Keys) == 0:
		add("keys is empty; want at least one key")
	case len(f.Keys) > MaxKeys:
		add("keys has %d entries; want at most %d", len(f.Keys), MaxKeys)
	}
	keys := make([]Key, 0, len(f.Keys))
	seen := make(map[string]int, len(f.Keys))
	active := -1
	for i, fk := range f.Keys {
		k, errs := parseKey(i, fk)
		problems = append(problems, errs...)
		if j, dup := seen[fk.ID]; dup && fk.ID != "" {
			add("keys[%d].id %s repeats keys[%d].id", i, quote(fk.ID), j)
		} else {
			seen[fk.ID] = i
		}
		if fk.ID == f.Active && active < 0 {
			active = i
		}
		keys = append(keys, k)
	}
	switch {
	case f.Active == "":
		add("active is missing; want the id of one of the keys")
	case active < 0:
		add("active %s is not the id of any key", quote(f.Active))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("parse key ring: %w", errors.Join(problems...))
	}
	// The active key goes first; the others keep their order in the file.
	ordered := make([]Key, 0, len(keys))
	ordered = append(ordered, keys[active])
	ordered = append(ordered, keys[:active]...)
	ordered = append(ordered, keys[active+1:]...)
	return newRing(ordered), nil
}

// parseKey checks and converts the i'th key of the file. It returns every
// problem it finds.
func parseKey(i int, fk fileKey) (Key, []error) {
	var problems []error
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf("keys[%d]."+format, append([]any{i}, args...)...))
	}
	k := Key{ID: fk.ID}
	if !validID(fk.ID) {
		add("id %s is not %d lowercase hex characters", quote(fk.ID), 2*idSize)
	}
	if fk.Secret == "" {
		add("secret is missing")
	} else if secret, err := secretEncoding.DecodeString(fk.Secret); err != nil ||
		secretEncoding.EncodeToString(secret) != fk.Secret {
		add("secret is not base64url without padding")
	} else if len(secret) != SecretSize {
		add("secret is %d bytes; want %d", len(secret), SecretSize)
	} else {
		k.Secret = secret
	}
	if fk.CreatedAt == "" {
		add("created_at is missing")
	} else if t, err := time.Parse(time.RFC3339, fk.CreatedAt); err != nil {
		add("created_at %s is not an RFC 3339 time such as 2026-11-22T03:00:00Z", quote(fk.CreatedAt))
	} else if y := t.UTC().Year(); y < 0 || y > 9999 {
		add("created_at %s is out of range in UTC", quote(fk.CreatedAt))
	} else {
		k.CreatedAt = t.UTC()
	}
	if fk.RSA != nil {
		if priv, problem := parseRSA(*fk.RSA); problem != "" {
			problems = append(problems, fmt.Errorf("keys[%d].rsa (key %s) %s", i, quote(fk.ID), problem))
		} else {
			k.RSA = priv
		}
	}
	return k, problems
}

// validID reports whether id is 8 lowercase hex characters.
func validID(id string) bool {
	if len(id) != 2*idSize {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// quote quotes a short value from the file for an error message. A long
// value is described by its length only, in case it is a misplaced secret.
func quote(s string) string {
	if len(s) > 32 {
		return fmt.Sprintf("(%d bytes)", len(s))
	}
	return fmt.Sprintf("%q", s)
}

// decodeStrict decodes one JSON object into v, rejecting unknown fields and
// trailing data. Its errors never quote the input, so a broken file cannot
// leak a secret into a message.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

// jsonError rewrites a decoding error in terms of the file's fields.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("empty file; want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: unexpected end of file")
	case errors.As(err, &syntax):
		return fmt.Errorf("invalid JSON at byte offset %d", syntax.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the file"
		}
		want := jsonKind(typ.Type)
		if want == "number" && strings.HasPrefix(typ.Value, "number") {
			return fmt.Errorf("%s is not a whole number in range", field)
		}
		return fmt.Errorf("%s is a JSON %s; want a JSON %s", field, typ.Value, want)
	default:
		// DisallowUnknownFields reports `json: unknown field "name"`.
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
}

// jsonKind names the JSON kind that decodes into t.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Bool:
		return "boolean"
	default:
		return "number"
	}
}

// checkFieldCase rejects field names that encoding/json matched without
// regard to case, such as "Active": the file format is case-sensitive. data
// has already decoded without error.
func checkFieldCase(data []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil // decodeStrict reported what is wrong
	}
	if err := exactFields(top, "version", "active", "keys"); err != nil {
		return err
	}
	var keys []map[string]json.RawMessage
	if err := json.Unmarshal(top["keys"], &keys); err != nil {
		return nil
	}
	for i, k := range keys {
		if err := exactFields(k, "id", "secret", "created_at", "rsa"); err != nil {
			return fmt.Errorf("keys[%d]: %w", i, err)
		}
	}
	return nil
}

// exactFields reports the first field of obj, in sorted order, that is not
// one of names.
func exactFields(obj map[string]json.RawMessage, names ...string) error {
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		if !slices.Contains(names, name) {
			return fmt.Errorf("unknown field %q", name)
		}
	}
	return nil
}
