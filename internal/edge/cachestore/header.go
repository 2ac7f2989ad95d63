package cachestore

import (
	"net/http"
	"net/textproto"
	"strings"
)

// Header is a response header packed for storage: its fields as the lines
// of an HTTP/1.1 head ("Name: value\r\n" for every value), in one string.
// A stored http.Header is a map with a slice per name and a string per
// name and value, and the garbage collector scans all of them again in
// every cycle; a Header is one allocation without pointers, which a hit
// may also write to the client as it is (Lines).
//
// A Header is immutable, so every request may read a stored object's
// header at once. The zero Header has no fields.
type Header struct {
	// b is the lines, the values of a name one after the other, in no
	// particular order of names. Names are as PackHeader got them.
	b string
}

// PackHeader packs the fields of h whose names keep reports true (every
// field when keep is nil). Names are kept as h spells them (canonical, for
// a header net/http parsed), and must be field names (tokens), as every
// parsed header's are. A value with an LF in it, which no parsed header
// holds, is left out: it cannot be a line.
func PackHeader(h http.Header, keep func(name string) bool) Header {
	// The kept fields, gathered in one pass over the map: most headers
	// fit the arrays, and none is looked up again.
	var smallNames [16]string
	var smallValues [16][]string
	names, fields := smallNames[:0], smallValues[:0]
	size := 0
	for name, vs := range h {
		if len(vs) == 0 || keep != nil && !keep(name) {
			continue
		}
		names, fields = append(names, name), append(fields, vs)
		for _, v := range vs {
			size += len(name) + len(": \r\n") + len(v)
		}
	}
	if len(names) == 0 {
		return Header{}
	}
	var b strings.Builder
	b.Grow(size)
	values := 0
	for i, name := range names {
		for _, v := range fields[i] {
			b.WriteString(name)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteString("\r\n")
			values++
		}
	}
	if s := b.String(); strings.Count(s, "\n") == values {
		return Header{s}
	}
	return packChecked(names, fields)
}

// packChecked is PackHeader for fields some value of which holds an LF:
// those values are left out.
func packChecked(names []string, fields [][]string) Header {
	var b strings.Builder
	for i, name := range names {
		for _, v := range fields[i] {
			if strings.IndexByte(v, '\n') < 0 {
				b.WriteString(name + ": " + v + "\r\n")
			}
		}
	}
	return Header{b.String()}
}

// Size returns the bytes h takes.
func (h Header) Size() int { return len(h.b) }

// Lines returns h as the field lines of a head, each ending in CRLF.
func (h Header) Lines() string { return h.b }

// Get returns the first value of the field name (canonicalised, as
// http.Header.Get does), or "".
func (h Header) Get(name string) string {
	name = textproto.CanonicalMIMEHeaderKey(name)
	for c := h.fields(); c.next(); {
		if c.name == name {
			return c.value
		}
	}
	return ""
}

// Clone returns h as a new http.Header, which the caller may change.
func (h Header) Clone() http.Header {
	out := make(http.Header, h.values())
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
	if n := h.values() + extra; cap(vals) < n {
		vals = make([]string, 0, n)
	}
	start, name := 0, ""
	for c := h.fields(); c.next(); {
		if c.name != name && len(vals) > start {
			dst[name] = vals[start:len(vals):len(vals)]
			start = len(vals)
		}
		name = c.name
		vals = append(vals, c.value)
	}
	if len(vals) > start {
		dst[name] = vals[start:len(vals):len(vals)]
	}
	return vals[len(vals):]
}

// values returns the number of h's values: its lines.
func (h Header) values() int { return strings.Count(h.b, "\n") }

// fieldCursor reads a packed header line by line: next moves to the next
// line, and sets name and value.
type fieldCursor struct {
	rest        string
	name, value string
}

func (h Header) fields() fieldCursor { return fieldCursor{rest: h.b} }

func (c *fieldCursor) next() bool {
	line, rest, ok := strings.Cut(c.rest, "\r\n")
	if !ok {
		return false
	}
	c.rest = rest
	c.name, c.value, _ = strings.Cut(line, ": ")
	return true
}
