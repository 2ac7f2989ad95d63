package keyring

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	r := mustParse(t, testFile)
	if got := fmt.Sprint(ids(r.Keys())); got != "[0000000b 0000000a]" {
		t.Errorf("Keys() ids = %s, want the active key first: [0000000b 0000000a]", got)
	}
	a := r.Active()
	if a.ID != "0000000b" {
		t.Errorf("Active().ID = %s, want 0000000b", a.ID)
	}
	if want := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC); a.CreatedAt != want {
		t.Errorf("Active().CreatedAt = %v, want %v (in UTC)", a.CreatedAt, want)
	}
	if len(a.Secret) != SecretSize || a.Secret[0] != 32 || a.Secret[31] != 63 {
		t.Errorf("Active().Secret was not decoded from base64url")
	}
}

// ringJSON returns a key ring file of keys, which are JSON objects.
func ringJSON(version, active string, keys ...string) string {
	return fmt.Sprintf(`{"version": %s, "active": %s, "keys": [%s]}`, version, active, strings.Join(keys, ", "))
}

// keyJSON returns a key object; an empty argument leaves the field out.
func keyJSON(id, secret, created string) string {
	var fields []string
	if id != "" {
		fields = append(fields, `"id": `+id)
	}
	if secret != "" {
		fields = append(fields, `"secret": `+secret)
	}
	if created != "" {
		fields = append(fields, `"created_at": `+created)
	}
	return "{" + strings.Join(fields, ", ") + "}"
}

func TestParseErrors(t *testing.T) {
	const (
		id      = `"0000000a"`
		secret  = `"` + testSecret0 + `"`
		created = `"2026-11-22T03:00:00Z"`
	)
	good := keyJSON(id, secret, created)
	nine := make([]string, 9)
	for i := range nine {
		nine[i] = keyJSON(fmt.Sprintf(`"0000000%d"`, i), secret, created)
	}
	tests := []struct {
		name string
		data string
		want []string // each must appear in the error message
	}{
		{name: "empty file", data: "", want: []string{"empty file"}},
		{name: "not JSON", data: "version = 1", want: []string{"invalid JSON at byte offset 1"}},
		{name: "truncated", data: `{"version": 1, "keys": [`, want: []string{"unexpected end of file"}},
		{name: "trailing data", data: ringJSON("1", id, good) + "{}", want: []string{"data after the JSON object"}},
		{name: "top-level array", data: "[]", want: []string{"the file is a JSON array; want a JSON object"}},
		{name: "unknown field", data: `{"version": 1, "active": "0000000a", "rotate": true, "keys": [` + good + `]}`, want: []string{`unknown field "rotate"`}},
		{name: "unknown key field", data: ringJSON("1", id, `{"id": "0000000a", "secret": `+secret+`, "created_at": `+created+`, "note": "x"}`), want: []string{`unknown field "note"`}},
		{name: "field name case", data: `{"version": 1, "Active": "0000000a", "keys": [` + good + `]}`, want: []string{`unknown field "Active"`}},
		{name: "rsa field name case", data: ringJSON("1", id, `{"id": "0000000a", "secret": `+secret+`, "created_at": `+created+`, "RSA": "x"}`), want: []string{`keys[0]: unknown field "RSA"`}},
		{name: "rsa number", data: ringJSON("1", id, `{"id": "0000000a", "secret": `+secret+`, "created_at": `+created+`, "rsa": 5}`), want: []string{"keys.rsa is a JSON number; want a JSON string"}},
		{name: "key field name case", data: ringJSON("1", id, `{"ID": "0000000a", "secret": `+secret+`, "created_at": `+created+`}`), want: []string{`keys[0]: unknown field "ID"`}},
		{name: "version missing", data: `{"active": "0000000a", "keys": [` + good + `]}`, want: []string{"version is missing; want 1"}},
		{name: "version 2", data: ringJSON("2", id, good), want: []string{"version 2 is not supported; want 1"}},
		{name: "version string", data: ringJSON(`"1"`, id, good), want: []string{"version is a JSON string; want a JSON number"}},
		{name: "version fraction", data: ringJSON("1.5", id, good), want: []string{"version is not a whole number"}},
		{name: "no keys", data: ringJSON("1", id), want: []string{"keys is empty; want at least one key"}},
		{name: "keys null", data: `{"version": 1, "active": "0000000a", "keys": null}`, want: []string{"keys is empty"}},
		{name: "too many keys", data: ringJSON("1", `"00000000"`, nine...), want: []string{"keys has 9 entries; want at most 8"}},
		{name: "id upper case", data: ringJSON("1", `"0000000A"`, keyJSON(`"0000000A"`, secret, created)), want: []string{`keys[0].id "0000000A" is not 8 lowercase hex characters`}},
		{name: "id short", data: ringJSON("1", `"00a"`, keyJSON(`"00a"`, secret, created)), want: []string{`keys[0].id "00a" is not 8 lowercase hex`}},
		{name: "id missing", data: ringJSON("1", id, keyJSON("", secret, created)), want: []string{`keys[0].id "" is not 8 lowercase hex`}},
		{name: "id number", data: ringJSON("1", id, keyJSON("10", secret, created)), want: []string{"keys.id is a JSON number; want a JSON string"}},
		{name: "id repeated", data: ringJSON("1", id, good, good), want: []string{`keys[1].id "0000000a" repeats keys[0].id`}},
		{name: "secret missing", data: ringJSON("1", id, keyJSON(id, "", created)), want: []string{"keys[0].secret is missing"}},
		{name: "secret padded", data: ringJSON("1", id, keyJSON(id, `"`+testSecret0+`="`, created)), want: []string{"keys[0].secret is not base64url without padding"}},
		{name: "secret standard alphabet", data: ringJSON("1", id, keyJSON(id, `"+/ECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"`, created)), want: []string{"keys[0].secret is not base64url"}},
		{name: "secret with newline", data: ringJSON("1", id, keyJSON(id, `"`+testSecret0[:20]+`\n`+testSecret0[20:]+`"`, created)), want: []string{"keys[0].secret is not base64url"}},
		{name: "secret non-zero padding bits", data: ringJSON("1", id, keyJSON(id, `"`+testSecret0[:42]+`9"`, created)), want: []string{"keys[0].secret is not base64url"}},
		{name: "secret 16 bytes", data: ringJSON("1", id, keyJSON(id, `"AAECAwQFBgcICQoLDA0ODw"`, created)), want: []string{"keys[0].secret is 16 bytes; want 32"}},
		{name: "created_at before year 0 in UTC", data: ringJSON("1", id, keyJSON(id, secret, `"0000-01-01T00:00:00+01:00"`)), want: []string{`keys[0].created_at "0000-01-01T00:00:00+01:00" is out of range in UTC`}},
		{name: "created_at missing", data: ringJSON("1", id, keyJSON(id, secret, "")), want: []string{"keys[0].created_at is missing"}},
		{name: "created_at not RFC 3339", data: ringJSON("1", id, keyJSON(id, secret, `"2026-11-22 03:00"`)), want: []string{`keys[0].created_at "2026-11-22 03:00" is not an RFC 3339 time`}},
		{name: "active missing", data: `{"version": 1, "keys": [` + good + `]}`, want: []string{"active is missing; want the id of one of the keys"}},
		{name: "active unknown", data: ringJSON("1", `"0000000b"`, good), want: []string{`active "0000000b" is not the id of any key`}},
		{name: "every problem at once", data: ringJSON("3", `"ffffffff"`, keyJSON(`"x"`, `"AAAA"`, `"soon"`)), want: []string{
			"version 3 is not supported",
			`keys[0].id "x" is not 8 lowercase hex`,
			"keys[0].secret is 3 bytes; want 32",
			`keys[0].created_at "soon" is not an RFC 3339 time`,
			`active "ffffffff" is not the id of any key`,
		}},
		{name: "every problem of a key with rsa", data: ringJSON("1", `"x"`, `{"id": "x", "secret": "AAAA", "created_at": "soon", "rsa": "AAAA="}`), want: []string{
			`keys[0].id "x" is not 8 lowercase hex`,
			"keys[0].secret is 3 bytes; want 32",
			`keys[0].created_at "soon" is not an RFC 3339 time`,
			`keys[0].rsa (key "x") is not base64url without padding`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse([]byte(tt.data))
			if err == nil {
				t.Fatalf("Parse succeeded with %v, want an error", r)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "parse key ring: ") {
				t.Errorf("error %q does not start with the operation", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
		})
	}
}

func TestParseMarshalRoundTrip(t *testing.T) {
	r := mustParse(t, testFile)
	data, err := r.marshal()
	if err != nil {
		t.Fatal(err)
	}
	again := mustParse(t, string(data))
	assertSameRing(t, again, r)
}

// assertSameRing fails t unless got and want hold the same keys in the same
// order.
func assertSameRing(t testing.TB, got, want *Ring) {
	t.Helper()
	g, w := got.Keys(), want.Keys()
	if len(g) != len(w) {
		t.Fatalf("ring has %d keys, want %d", len(g), len(w))
	}
	for i := range w {
		if g[i].ID != w[i].ID || string(g[i].Secret) != string(w[i].Secret) || !g[i].CreatedAt.Equal(w[i].CreatedAt) {
			t.Errorf("key %d = %v, want %v (or secrets differ)", i, g[i], w[i])
		}
		if (g[i].RSA == nil) != (w[i].RSA == nil) || g[i].RSA != nil && !g[i].RSA.Equal(w[i].RSA) {
			t.Errorf("key %d: RSA key differs (has one: %v, want one: %v)", i, g[i].RSA != nil, w[i].RSA != nil)
		}
	}
}
