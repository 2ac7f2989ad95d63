package affinity

import (
	"encoding/binary"
	"time"
)

// The plaintext of a token is, in order:
//
//	group     uvarint length, then the bytes (at most MaxNameLen)
//	target    uvarint length, then the bytes (at most MaxNameLen)
//	binding   8 bytes, big-endian
//	issued    varint (zigzag) of IssuedAt in Unix seconds
//	lifetime  varint (zigzag) of ExpiresAt minus IssuedAt in seconds
//
// Varints keep the times to about 8 bytes together instead of 16, which is
// what lets two 64-byte names fit in MaxTokenLen. Nothing may follow.

// minPlaintextLen is the length of the plaintext of a Token with empty
// names and both times at the Unix epoch.
const minPlaintextLen = 1 + 1 + 8 + 1 + 1

// appendPlaintext appends the encoding of t to b.
func appendPlaintext(b []byte, t Token) []byte {
	b = binary.AppendUvarint(b, uint64(len(t.Group)))
	b = append(b, t.Group...)
	b = binary.AppendUvarint(b, uint64(len(t.Target)))
	b = append(b, t.Target...)
	b = binary.BigEndian.AppendUint64(b, t.Binding)
	issued := t.IssuedAt.Unix()
	b = binary.AppendVarint(b, issued)
	// The difference wraps around for absurd times; parsePlaintext's sum
	// wraps back, so every pair of times survives.
	return binary.AppendVarint(b, t.ExpiresAt.Unix()-issued)
}

// parsePlaintext decodes a plaintext made by appendPlaintext. It reports
// false for anything else, including trailing bytes.
func parsePlaintext(b []byte) (Token, bool) {
	group, b, ok := readName(b)
	if !ok {
		return Token{}, false
	}
	target, b, ok := readName(b)
	if !ok || len(b) < 8 {
		return Token{}, false
	}
	binding := binary.BigEndian.Uint64(b)
	b = b[8:]
	issued, n := binary.Varint(b)
	if n <= 0 {
		return Token{}, false
	}
	b = b[n:]
	lifetime, n := binary.Varint(b)
	if n <= 0 || n != len(b) {
		return Token{}, false
	}
	return Token{
		Group:     group,
		Target:    target,
		Binding:   binding,
		IssuedAt:  time.Unix(issued, 0).UTC(),
		ExpiresAt: time.Unix(issued+lifetime, 0).UTC(),
	}, true
}

// readName reads a length-prefixed name from the start of b and returns it
// and the rest of b.
func readName(b []byte) (string, []byte, bool) {
	n, size := binary.Uvarint(b)
	if size <= 0 || n > MaxNameLen || n > uint64(len(b)-size) {
		return "", nil, false
	}
	b = b[size:]
	return string(b[:n]), b[n:], true
}
