package memstore

import (
	"crypto/sha256"
	"encoding/hex"
)

// idKind tells how a record ID maps to the 32-byte digest a key holds.
type idKind uint8

const (
	// kindHex is an ID of 64 lowercase hex characters, the form the Manager
	// stores sessions under; the digest is the decoded ID.
	kindHex idKind = iota
	// kindRemember is "rm." followed by 64 lowercase hex characters, the form
	// of remember-me records; the digest is the decoded hex.
	kindRemember
	// kindOther is any other ID. The digest is its SHA-256, and the shard
	// keeps the ID itself beside the record so that ListUser can return it.
	kindOther
)

// rememberPrefix starts the IDs of remember-me records.
const rememberPrefix = "rm."

// ikey names a record within its tenant in 33 bytes: the 64 characters of a
// hex ID take 32.
type ikey struct {
	kind idKind
	sum  [32]byte
}

// parseID returns the key of id. Distinct IDs get distinct keys: the two
// hex forms decode one to one, and other IDs are told apart by SHA-256.
func parseID(id string) ikey {
	var k ikey
	switch {
	case len(id) == 64 && decodeHex(&k.sum, id):
		k.kind = kindHex
	case len(id) == 67 && id[:3] == rememberPrefix && decodeHex(&k.sum, id[3:]):
		k.kind = kindRemember
	default:
		k.kind = kindOther
		k.sum = sha256.Sum256([]byte(id))
	}
	return k
}

// format returns the ID k was parsed from; other is that ID when k is of
// kindOther, which cannot be rebuilt from its digest.
func (k ikey) format(other string) string {
	switch k.kind {
	case kindHex:
		return hex.EncodeToString(k.sum[:])
	case kindRemember:
		return rememberPrefix + hex.EncodeToString(k.sum[:])
	default:
		return other
	}
}

// decodeHex decodes 64 lowercase hex characters into dst and reports
// whether s was exactly that. Uppercase digits are refused so that every
// key formats back to the ID it came from. It has no data-dependent
// branches: IDs are random, so branches would be mispredicted half the time.
func decodeHex(dst *[32]byte, s string) bool {
	var bad byte
	for i := range dst {
		hi, lo := s[2*i], s[2*i+1]
		dst[i] = hexValue(hi)<<4 | hexValue(lo)
		bad |= notHex(hi) | notHex(lo)
	}
	return bad == 0
}

// hexValue returns the value of the hex digit c, '0'-'9' or 'a'-'f'.
func hexValue(c byte) byte { return c&0xf + 9*(c>>6) }

// notHex returns 1 if c is not a lowercase hex digit, 0 if it is.
func notHex(c byte) byte {
	return b2u(c-'0' > 9) & b2u(c-'a' > 5)
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}
