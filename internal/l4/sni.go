package l4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// Errors of ReadClientHello, matched with errors.Is.
var (
	// ErrNotTLS means the first bytes are not a TLS handshake record: an
	// HTTP request, SSLv2, or anything else.
	ErrNotTLS = errors.New("not a TLS handshake")
	// ErrNoSNI means the ClientHello is well formed but names no server,
	// as when a client connects to an IP address.
	ErrNoSNI = errors.New("client hello has no server name")
	// ErrMalformed means the bytes start like TLS but are not a well-formed
	// ClientHello in well-formed records.
	ErrMalformed = errors.New("malformed client hello")
	// ErrTooLarge means a record or the ClientHello is longer than
	// MaxHelloLen.
	ErrTooLarge = errors.New("client hello too large")
)

// MaxHelloLen is the longest ClientHello message body, and the longest
// record, that ReadClientHello accepts: 16 KiB, the largest TLS record
// (RFC 8446, section 5.1). Real ClientHellos, post-quantum key shares
// included, are under 2 KiB.
const MaxHelloLen = 1 << 14

const (
	recordHeaderLen     = 5
	handshakeHeaderLen  = 4
	recordTypeHandshake = 22
	typeClientHello     = 1
	extensionServerName = 0
	nameTypeHostName    = 0
	maxHostNameLen      = 253
	maxLabelLen         = 63
)

// ReadClientHello reads one TLS ClientHello from r and returns the host
// name of its server_name extension (RFC 6066, section 3) in lower case,
// along with every byte it read, so that the caller can replay them to the
// server that completes the handshake.
//
// The ClientHello may be fragmented over several handshake records, of any
// sizes down to one byte each (RFC 8446, section 5.1). ReadClientHello reads
// whole records and nothing after the record that completes the
// ClientHello, so r can be a connection whose remaining bytes are passed on
// untouched. It reads at most MaxHelloLen bytes of ClientHello plus 5 bytes
// of header per record, and is as happy with a client that sends one byte
// at a time as with one that sends the whole hello at once; bounding the
// time it takes is the caller's job, with a read deadline.
//
// The error is ErrNotTLS if the first record is not a TLS handshake record,
// ErrNoSNI if the ClientHello is well formed but has no host name in a
// server_name extension (the caller may still route it to a default),
// ErrMalformed for anything that is not a well-formed ClientHello,
// ErrTooLarge for a record or ClientHello over MaxHelloLen, and otherwise
// r's error (io.EOF if r ended before the first byte, io.ErrUnexpectedEOF
// if it ended inside the ClientHello). The sentinel errors are wrapped with
// detail; match them with errors.Is. raw holds the bytes read even when err
// is not nil.
//
// The checks are those a TLS server makes before it reads the host name:
// lengths agree at every level, the session id is at most 32 bytes, there is
// at least one cipher suite and one compression method, nothing follows the
// extensions nor the ClientHello in its last record, there is at most one
// server_name extension, and it carries exactly one host name. The host name must be a DNS name: letters, digits,
// '-' and '_' in dot-separated labels of 1 to 63 bytes, at most 253 bytes
// in all, with no trailing dot.
func ReadClientHello(r io.Reader) (serverName string, raw []byte, err error) {
	var (
		msg  []byte // the handshake bytes gathered so far
		need = -1   // length of the whole handshake message, once known
	)
	for {
		first := raw == nil
		var body []byte
		raw, body, err = readRecord(r, raw, need-len(msg))
		if err != nil {
			return "", raw, fmt.Errorf("read client hello: %w", err)
		}
		if first {
			// Capped, so that a later append copies rather than writing
			// over the next record in raw.
			msg = body[:len(body):len(body)]
		} else {
			msg = append(msg, body...)
		}
		if need < 0 && len(msg) >= handshakeHeaderLen {
			if msg[0] != typeClientHello {
				return "", raw, fmt.Errorf("read client hello: handshake type %d: %w", msg[0], ErrMalformed)
			}
			n := int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3])
			if n > MaxHelloLen {
				return "", raw, fmt.Errorf("read client hello: %d bytes: %w", n, ErrTooLarge)
			}
			need = handshakeHeaderLen + n
		}
		switch {
		case need < 0 || len(msg) < need:
			continue
		case len(msg) > need:
			return "", raw, fmt.Errorf("read client hello: %d bytes after the hello: %w", len(msg)-need, ErrMalformed)
		}
		name, err := parseClientHello(msg[handshakeHeaderLen:])
		if err != nil {
			return "", raw, fmt.Errorf("read client hello: %w", err)
		}
		return name, raw, nil
	}
}

// readRecord reads one handshake record from r, appends it to raw, and
// returns raw and the record's body, a slice of raw. raw is nil before the
// first record. left is how many handshake bytes the hello still lacks, or
// negative while that is not known. It checks the header before reading
// the body, so that it never reads past the hello.
func readRecord(r io.Reader, raw []byte, left int) ([]byte, []byte, error) {
	var hdr [recordHeaderLen]byte
	if got, err := io.ReadFull(r, hdr[:]); err != nil {
		if raw != nil && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return append(raw, hdr[:got]...), nil, err
	}
	first := raw == nil
	n := int(binary.BigEndian.Uint16(hdr[3:]))
	if first {
		raw = make([]byte, 0, recordHeaderLen+n)
	}
	raw = append(raw, hdr[:]...)
	if err := checkRecordHeader(hdr, first, n, left); err != nil {
		return raw, nil, err
	}
	start := len(raw)
	raw = slices.Grow(raw, n)[:start+n]
	if got, err := io.ReadFull(r, raw[start:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return raw[:start+got], nil, err
	}
	return raw, raw[start:], nil
}

// checkRecordHeader checks the header of a record of length n. first says
// it is the first record; left is how many handshake bytes the hello still
// lacks, or negative while that is not yet known.
func checkRecordHeader(hdr [recordHeaderLen]byte, first bool, n, left int) error {
	if hdr[0] != recordTypeHandshake || hdr[1] != 3 {
		if first {
			return fmt.Errorf("record type %d, version %d.%d: %w", hdr[0], hdr[1], hdr[2], ErrNotTLS)
		}
		// Handshake messages must not be interleaved with other record
		// types (RFC 8446, section 5.1).
		return fmt.Errorf("record type %d, version %d.%d inside the hello: %w", hdr[0], hdr[1], hdr[2], ErrMalformed)
	}
	switch {
	case n == 0:
		return fmt.Errorf("empty handshake record: %w", ErrMalformed)
	case n > MaxHelloLen:
		return fmt.Errorf("record of %d bytes: %w", n, ErrTooLarge)
	case left >= 0 && n > left:
		return fmt.Errorf("record of %d bytes where the hello lacks %d: %w", n, left, ErrMalformed)
	}
	return nil
}

// parseClientHello returns the host name in a ClientHello message body
// (RFC 8446, section 4.1.2; RFC 5246, section 7.4.1.2).
func parseClientHello(body []byte) (string, error) {
	s := cryptobyte.String(body)
	var (
		vers                       uint16
		sessionID, suites, methods cryptobyte.String
	)
	if !s.ReadUint16(&vers) || !s.Skip(32) ||
		!s.ReadUint8LengthPrefixed(&sessionID) ||
		!s.ReadUint16LengthPrefixed(&suites) ||
		!s.ReadUint8LengthPrefixed(&methods) {
		return "", fmt.Errorf("truncated: %w", ErrMalformed)
	}
	switch {
	case vers>>8 != 3:
		return "", fmt.Errorf("legacy version %#04x: %w", vers, ErrMalformed)
	case len(sessionID) > 32:
		return "", fmt.Errorf("session id of %d bytes: %w", len(sessionID), ErrMalformed)
	case len(suites) < 2 || len(suites)%2 != 0:
		return "", fmt.Errorf("cipher suites of %d bytes: %w", len(suites), ErrMalformed)
	case len(methods) < 1:
		return "", fmt.Errorf("no compression method: %w", ErrMalformed)
	}
	if s.Empty() {
		// A hello from before extensions (SSL 3.0, some TLS 1.0 clients).
		return "", fmt.Errorf("no extensions: %w", ErrNoSNI)
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) || !s.Empty() {
		return "", fmt.Errorf("extensions block: %w", ErrMalformed)
	}
	var (
		name string
		seen bool
	)
	for !exts.Empty() {
		var (
			typ  uint16
			data cryptobyte.String
		)
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return "", fmt.Errorf("extension framing: %w", ErrMalformed)
		}
		if typ != extensionServerName {
			continue
		}
		if seen {
			// Two would let the proxy and the server disagree on the name.
			return "", fmt.Errorf("two server_name extensions: %w", ErrMalformed)
		}
		seen = true
		var err error
		if name, err = parseServerName(data); err != nil {
			return "", err
		}
	}
	if name == "" {
		return "", fmt.Errorf("no host_name in server_name: %w", ErrNoSNI)
	}
	return name, nil
}

// parseServerName returns the host name in the data of a server_name
// extension (RFC 6066, section 3), or "" if it names no host.
func parseServerName(data cryptobyte.String) (string, error) {
	var list cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&list) || !data.Empty() || list.Empty() {
		return "", fmt.Errorf("server_name list: %w", ErrMalformed)
	}
	var host []byte
	for !list.Empty() {
		var (
			typ  uint8
			name cryptobyte.String
		)
		if !list.ReadUint8(&typ) || !list.ReadUint16LengthPrefixed(&name) {
			return "", fmt.Errorf("server_name entry: %w", ErrMalformed)
		}
		if typ != nameTypeHostName {
			continue
		}
		if host != nil {
			return "", fmt.Errorf("two host names: %w", ErrMalformed)
		}
		host = name
	}
	if host == nil {
		return "", nil
	}
	// RFC 6066 forbids a trailing dot, but clients send one for a fully
	// qualified name and TLS servers (OpenSSL's) accept it: the name is
	// the one without it, as a listener's host rules read Host.
	if len(host) > 1 && host[len(host)-1] == '.' {
		host = host[:len(host)-1]
	}
	if !validHostName(host) {
		return "", fmt.Errorf("host name %q: %w", host, ErrMalformed)
	}
	return lowerASCII(host), nil
}

// validHostName reports whether b is a DNS name without a trailing dot:
// labels of 1 to 63 letters, digits, '-' or '_', at most 253 bytes in all.
func validHostName(b []byte) bool {
	if len(b) == 0 || len(b) > maxHostNameLen {
		return false
	}
	label := 0
	for _, c := range b {
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
		if label++; label > maxLabelLen {
			return false
		}
	}
	return label > 0
}

// lowerASCII returns b as a string in lower case. It allocates once
// unless b has upper-case letters.
func lowerASCII(b []byte) string {
	return strings.ToLower(string(b))
}
