package pgstore

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// A Go string may hold any bytes; a PostgreSQL text value may hold neither
// NUL nor bytes that are not UTF-8 (in a UTF-8 database). Tenants and user
// IDs come from requests, so the store keeps them, and IDs, in an
// injective text encoding:
//
//	NUL                  \0
//	backslash            \\
//	a byte not in UTF-8  \xHH (two lowercase hex digits)
//
// Every other string, which is every tenant and user an application
// normally has, is stored as is, so rows stay readable and searchable in
// psql.

const hexDigits = "0123456789abcdef"

// needsEscape reports whether s holds NUL, a backslash or invalid UTF-8.
func needsEscape(s string) bool {
	return strings.IndexByte(s, 0) >= 0 || strings.IndexByte(s, '\\') >= 0 || !utf8.ValidString(s)
}

// encodeKey returns s in the store's text encoding.
func encodeKey(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == 0:
			b.WriteString(`\0`)
		case c == '\\':
			b.WriteString(`\\`)
		case c < utf8.RuneSelf:
			b.WriteByte(c)
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b.WriteString(`\x`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			} else {
				b.WriteString(s[i : i+size])
			}
			i += size
			continue
		}
		i++
	}
	return b.String()
}

var errBadEscape = errors.New("bad escape in stored key")

// decodeKey reverses encodeKey.
func decodeKey(s string) (string, error) {
	if strings.IndexByte(s, '\\') < 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case i+1 < len(s) && s[i+1] == '0':
			b.WriteByte(0)
			i++
		case i+1 < len(s) && s[i+1] == '\\':
			b.WriteByte('\\')
			i++
		case i+3 < len(s) && s[i+1] == 'x':
			hi, lo := strings.IndexByte(hexDigits, s[i+2]), strings.IndexByte(hexDigits, s[i+3])
			if hi < 0 || lo < 0 {
				return "", errBadEscape
			}
			b.WriteByte(byte(hi<<4 | lo))
			i += 3
		default:
			return "", errBadEscape
		}
	}
	return b.String(), nil
}
