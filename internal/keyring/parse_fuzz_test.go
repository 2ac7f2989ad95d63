package keyring

import (
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics on any input, that whatever it
// accepts saves and parses back to the same ring, and that its errors start
// with the operation. The seed corpus is in testdata/fuzz/FuzzParse; the
// seeds added here include rings with "rsa" members (an RSA key and, in
// PKCS#8, an Ed25519 key).
func FuzzParse(f *testing.F) {
	f.Add([]byte(testFile))
	f.Add([]byte(`{"version": 1, "active": "0000000a", "keys": [{"id": "0000000a", "secret": "` + testSecret0 + `", "created_at": "2026-11-22T03:00:00.5+01:00"}]}`))
	f.Add([]byte(testRSAFile(f)))
	f.Add([]byte(`{"version": 1, "active": "0000000a", "keys": [{"id": "0000000a", "secret": "` + testSecret0 + `", "created_at": "2026-11-22T03:00:00Z", "rsa": "MC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`))
	f.Add([]byte(`{"version": 2, "active": "x", "keys": [{"id": "x", "secret": "AAAA", "created_at": "soon"}]}`))
	f.Add([]byte(`{"version": 1, "keys": null}`))
	f.Add([]byte(`{"version": 1e3, "active": 0, "keys": {}}`))
	f.Add([]byte(`[{"version": 1}]`))
	f.Add([]byte("\x00\xff{"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "parse key ring: ") {
				t.Fatalf("error %q does not start with the operation", err)
			}
			return
		}
		n := len(r.Keys())
		if n == 0 || n > MaxKeys {
			t.Fatalf("parsed a ring of %d keys", n)
		}
		out, err := r.marshal()
		if err != nil {
			t.Fatalf("marshal of a parsed ring: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse of a saved ring: %v\n%s", err, out)
		}
		assertSameRing(t, again, r)
	})
}
