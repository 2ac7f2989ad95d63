package cachestore

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestPackHeader(t *testing.T) {
	long := strings.Repeat("v", 20_000)
	tests := []struct {
		name string
		in   http.Header
		keep func(string) bool
		want http.Header
	}{
		{"empty", http.Header{}, nil, http.Header{}},
		{"nil", nil, nil, http.Header{}},
		{"every field", http.Header{"Content-Type": {"text/plain"}, "Etag": {`"v1"`}, "Vary": {"A", "B"}},
			nil, http.Header{"Content-Type": {"text/plain"}, "Etag": {`"v1"`}, "Vary": {"A", "B"}}},
		{"filtered", http.Header{"Set-Cookie": {"a=1", "b=2"}, "X-Kept": {"1"}},
			func(name string) bool { return name != "Set-Cookie" }, http.Header{"X-Kept": {"1"}}},
		{"none kept", http.Header{"X": {"1"}}, func(string) bool { return false }, http.Header{}},
		{"empty values and long ones", http.Header{"X-Empty": {""}, "X-Long": {long, "short"}},
			nil, http.Header{"X-Empty": {""}, "X-Long": {long, "short"}}},
		// A name without values is no line on the wire.
		{"a name without values", http.Header{"X-None": {}, "X": {"1"}}, nil, http.Header{"X": {"1"}}},
		// No parsed header has a value with an LF; one would break the
		// lines, so it is left out, and the value after it kept.
		{"a value with an LF", http.Header{"X-Bad": {"a\nb", "c"}, "X": {"1"}}, nil, http.Header{"X-Bad": {"c"}, "X": {"1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := PackHeader(tt.in, tt.keep)
			if got := h.Clone(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Clone = %q, want %q", got, tt.want)
			}
			dst := http.Header{"X-Own": {"mine"}}
			rest := h.Fill(dst, nil, 2)
			if len(rest) != 0 || cap(rest) != 2 {
				t.Errorf("Fill left len %d cap %d, want 0 and 2", len(rest), cap(rest))
			}
			if len(dst) != len(tt.want)+1 || dst.Get("X-Own") != "mine" {
				t.Errorf("Fill gave %q", dst)
			}
			// With a buffer large enough, the values are cut from it.
			var buf [16]string
			dst = http.Header{}
			rest = h.Fill(dst, buf[:0], 2)
			if cap(rest) < 2 || len(tt.want) > 0 && !reflect.DeepEqual(dst, tt.want) {
				t.Errorf("Fill with a buffer gave %q, rest cap %d", dst, cap(rest))
			}
			for name, vs := range dst {
				if len(vs) > 0 && !inArray(&vs[0], buf[:]) {
					t.Errorf("%s's values are not in the buffer", name)
				}
			}
		})
	}
}

// TestPackedHeaderLines checks that a packed header is the lines of a
// head, which a hit writes to the client as they are.
func TestPackedHeaderLines(t *testing.T) {
	h := PackHeader(http.Header{"Etag": {`"a"`}, "Vary": {"A", "B"}, "X-Empty": {""}}, nil)
	lines := strings.SplitAfter(h.Lines(), "\r\n")
	slices.Sort(lines)
	if want := []string{"", "Etag: \"a\"\r\n", "Vary: A\r\n", "Vary: B\r\n", "X-Empty: \r\n"}; !slices.Equal(lines, want) {
		t.Errorf("Lines = %q, want %q in some order", h.Lines(), want)
	}
	if strings.Index(h.Lines(), "Vary: A\r\nVary: B\r\n") < 0 {
		t.Errorf("the values of one name are not together: %q", h.Lines())
	}
}

func TestPackedHeaderGet(t *testing.T) {
	h := PackHeader(http.Header{"Etag": {`"a"`, `"b"`}, "Last-Modified": {"x"}, "X-None": {}}, nil)
	for name, want := range map[string]string{"ETag": `"a"`, "etag": `"a"`, "Last-Modified": "x", "X-None": "", "Missing": ""} {
		if got := h.Get(name); got != want {
			t.Errorf("Get(%q) = %q, want %q", name, got, want)
		}
	}
	if (Header{}).Get("X") != "" || (Header{}).Size() != 0 {
		t.Error("the zero Header is not empty")
	}
}

// TestFilledValuesAreCapped is what keeps a stored header immutable: a
// response that appends to a value it got from Fill must copy, never write
// into the array the other fields (or other responses) share.
func TestFilledValuesAreCapped(t *testing.T) {
	h := PackHeader(http.Header{"A": {"1"}, "B": {"2"}, "C": {"3", "4"}}, nil)
	dst := http.Header{}
	h.Fill(dst, make([]string, 0, 8), 4)
	for name := range dst {
		dst[name] = append(dst[name], "appended")
	}
	for name, want := range map[string][]string{"A": {"1", "appended"}, "B": {"2", "appended"}, "C": {"3", "4", "appended"}} {
		if !reflect.DeepEqual(dst[name], want) {
			t.Errorf("%s = %q, want %q", name, dst[name], want)
		}
	}
	if got := h.Clone(); !reflect.DeepEqual(got, http.Header{"A": {"1"}, "B": {"2"}, "C": {"3", "4"}}) {
		t.Errorf("the packed header changed: %q", got)
	}
}

// inArray reports whether p points into a.
func inArray(p *string, a []string) bool {
	for i := range a {
		if p == &a[i] {
			return true
		}
	}
	return false
}

// FuzzPackedHeader packs headers of any names and values (an origin's
// response header, as the transports parse it, but looser: values may
// hold any byte) and checks what a stored object relies on: the lines are
// "Name: value" lines and nothing else, Clone and Get give back every
// value that can be a line, in order, and a value that cannot (one with
// an LF) is left out rather than breaking the lines.
func FuzzPackedHeader(f *testing.F) {
	f.Add("Content-Type\x00text/plain\x00Etag\x00\"v1\"\x00Vary\x00A\x00Vary\x00B")
	f.Add("X\x00a\nb\x00X\x00c\x00Y\x00")
	f.Add("Set-Cookie\x00a=1\r\x00Set-Cookie\x00: b")
	f.Fuzz(func(t *testing.T, in string) {
		parts := strings.Split(in, "\x00")
		h := http.Header{}
		for i := 0; i+1 < len(parts); i += 2 {
			name := http.CanonicalHeaderKey(parts[i])
			if !validName(name) {
				continue
			}
			h[name] = append(h[name], parts[i+1])
		}
		want := http.Header{}
		for name, vs := range h {
			for _, v := range vs {
				if !strings.Contains(v, "\n") {
					want[name] = append(want[name], v)
				}
			}
		}
		packed := PackHeader(h, nil)
		if got := packed.Clone(); !reflect.DeepEqual(got, want) {
			t.Fatalf("Clone = %q, want %q", got, want)
		}
		lines := packed.Lines()
		if lines != "" && !strings.HasSuffix(lines, "\r\n") {
			t.Fatalf("lines %q do not end a line", lines)
		}
		n := 0
		for line := range strings.SplitSeq(strings.TrimSuffix(lines, "\r\n"), "\r\n") {
			if lines == "" {
				break
			}
			name, _, ok := strings.Cut(line, ": ")
			if !ok || want[name] == nil || strings.Contains(line, "\n") {
				t.Fatalf("line %q is not one of %q", line, want)
			}
			n++
		}
		values := 0
		for name, vs := range want {
			values += len(vs)
			if got := packed.Get(name); got != vs[0] {
				t.Fatalf("Get(%q) = %q, want %q", name, got, vs[0])
			}
		}
		if n != values {
			t.Fatalf("%d lines for %d values", n, values)
		}
	})
}

// validName reports whether name is a field name a parsed header could
// hold: a token.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
