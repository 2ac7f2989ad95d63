package cachestore

import (
	"net/http"
	"net/textproto"
	"strings"
)

// Header is a response header packed for storage: every field name and
// value in one string. A stored http.Header is a map with a slice per name
// and a string per name and value, and the garbage collector scans all of
// them again in every cycle; a Header is one allocation without pointers.
//
// A Header is immutable, so every request may read a stored object's
// header at once. The zero Header has no fields.
type Header struct {
	// b is: the number of names, the number of values, then per name its
	// length, the name, its number of values and each value with its
	// length before it. Every number is a uvarint.
	b string
}

// PackHeader packs the fields of h whose names keep reports true (every
// field when keep is nil). Names are kept as h spells them (canonical, for
// a header net/http parsed).
func PackHeader(h http.Header, keep func(name string) bool) Header {
	// The kept fields, gathered in one pass over the map: most headers
	// fit the arrays, and none is looked up again.
	var smallNames [16]string
	var smallValues [16][]string
	names, fields := smallNames[:0], smallValues[:0]
	size, values := 0, 0
	for name, vs := range h {
		if keep != nil && !keep(name) {
			continue
		}
		names, fields = append(names, name), append(fields, vs)
		size += uvarintLen(len(name)) + len(name) + uvarintLen(len(vs))
		for _, v := range vs {
			size += uvarintLen(len(v)) + len(v)
		}
		values += len(vs)
	}
	if len(names) == 0 {
		return Header{}
	}
	var b strings.Builder
	b.Grow(uvarintLen(len(names)) + uvarintLen(values) + size)
	writeUvarint(&b, len(names))
	writeUvarint(&b, values)
	for i, name := range names {
		writeUvarint(&b, len(name))
		b.WriteString(name)
		writeUvarint(&b, len(fields[i]))
		for _, v := range fields[i] {
			writeUvarint(&b, len(v))
			b.WriteString(v)
		}
	}
	return Header{b.String()}
}

// Size returns the bytes h takes.
func (h Header) Size() int { return len(h.b) }

// Get returns the first value of the field name (canonicalised, as
// http.Header.Get does), or "".
func (h Header) Get(name string) string {
	name = textproto.CanonicalMIMEHeaderKey(name)
	for c := h.fields(); c.next(); {
		if c.name == name && c.values > 0 {
			return c.value()
		}
	}
	return ""
}

// Clone returns h as a new http.Header, which the caller may change.
func (h Header) Clone() http.Header {
	out := make(http.Header, h.count(0))
	h.Fill(out, nil, 0)
	return out
}

// Fill sets the fields of h in dst, replacing dst's values of the same
// names. The values' slices are cut from one array, each capped at its
// length, so that appending to one never writes into another (or into a
// header that other requests share): buf's, when its capacity holds h's
// values and extra more, else a new one. The array has room for extra
// more values: Fill returns that rest (length 0, capacity at least extra)
// for the caller's own fields.
func (h Header) Fill(dst http.Header, buf []string, extra int) []string {
	vals := buf[:0]
	if n := h.count(1) + extra; cap(vals) < n {
		vals = make([]string, 0, n)
	}
	for c := h.fields(); c.next(); {
		start := len(vals)
		for range c.values {
			vals = append(vals, c.value())
		}
		dst[c.name] = vals[start:len(vals):len(vals)]
	}
	return vals[len(vals):]
}

// count returns the number of names (i 0) or of values (i 1).
func (h Header) count(i int) int {
	if h.b == "" {
		return 0
	}
	var n, p int
	for range i + 1 {
		n, p = uvarint(h.b, p)
	}
	return n
}

// fieldCursor reads a packed header field by field: next moves to the
// next field (name, values), value reads its values in turn.
type fieldCursor struct {
	b      string
	p      int // the next byte to read
	left   int // fields after this one
	name   string
	values int // values of this field not yet read
}

func (h Header) fields() fieldCursor {
	c := fieldCursor{b: h.b}
	if h.b != "" {
		c.left, c.p = uvarint(h.b, 0)
		_, c.p = uvarint(h.b, c.p)
	}
	return c
}

func (c *fieldCursor) next() bool {
	for c.values > 0 { // skip what the caller did not read
		c.value()
	}
	if c.left == 0 {
		return false
	}
	c.left--
	l, p := uvarint(c.b, c.p)
	c.name = c.b[p : p+l]
	c.values, c.p = uvarint(c.b, p+l)
	return true
}

func (c *fieldCursor) value() string {
	c.values--
	l, p := uvarint(c.b, c.p)
	c.p = p + l
	return c.b[p:c.p]
}

// uvarint decodes the uvarint at s[p:], which PackHeader wrote, and
// returns it and the position after it.
func uvarint(s string, p int) (int, int) {
	var v, shift int
	for {
		c := s[p]
		p++
		v |= int(c&0x7f) << shift
		if c < 0x80 {
			return v, p
		}
		shift += 7
	}
}

func uvarintLen(v int) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

func writeUvarint(b *strings.Builder, v int) {
	for ; v >= 0x80; v >>= 7 {
		b.WriteByte(byte(v) | 0x80)
	}
	b.WriteByte(byte(v))
}
