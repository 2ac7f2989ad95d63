package l4_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"golang.org/x/crypto/cryptobyte"

	"github.com/tetherlb/tether/internal/l4"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the real ClientHellos in testdata/fuzz/FuzzReadClientHello")

// captureHello returns the first record a crypto/tls client sends with
// cfg: its ClientHello.
func captureHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	c, s := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tls.Client(c, cfg).Handshake()
	}()
	defer func() {
		s.Close()
		c.Close()
		<-done
	}()
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(s, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(s, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

// realHellos are crypto/tls client configurations, with the server name
// ReadClientHello must find in their ClientHellos.
var realHellos = []struct {
	name string
	cfg  *tls.Config
	want string
	err  error
}{
	{"tls13", &tls.Config{ServerName: "a.example.com"}, "a.example.com", nil},
	{"tls12", &tls.Config{ServerName: "a.example.com", MaxVersion: tls.VersionTLS12}, "a.example.com", nil},
	{"tls10", &tls.Config{ServerName: "a.example.com", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}, "a.example.com", nil},
	{"upper-case", &tls.Config{ServerName: "A.Example.COM"}, "a.example.com", nil},
	{"trailing-dot", &tls.Config{ServerName: "a.example.com."}, "a.example.com", nil},
	{"alpn-x25519", &tls.Config{ServerName: "b.example.com", NextProtos: []string{"h2", "http/1.1"},
		CurvePreferences: []tls.CurveID{tls.X25519}}, "b.example.com", nil},
	{"long-name", &tls.Config{ServerName: strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." +
		strings.Repeat("c", 63) + "." + strings.Repeat("d", 61)}, "", nil},
	{"ip-address", &tls.Config{ServerName: "192.0.2.1"}, "", l4.ErrNoSNI},
	{"no-server-name", &tls.Config{InsecureSkipVerify: true}, "", l4.ErrNoSNI},
}

// fragment re-splits a one-record ClientHello into records of size bytes.
func fragment(hello []byte, size int) []byte {
	var out []byte
	for p := hello[5:]; len(p) > 0; {
		n := min(size, len(p))
		out = append(out, 22, 3, 1, byte(n>>8), byte(n))
		out = append(out, p[:n]...)
		p = p[n:]
	}
	return out
}

func TestReadClientHelloReal(t *testing.T) {
	for _, h := range realHellos {
		hello := captureHello(t, h.cfg)
		want := h.want
		if want == "" && h.err == nil {
			want = h.cfg.ServerName
		}
		for _, split := range []int{0, 1, 7, 100} {
			in := hello
			if split > 0 {
				in = fragment(hello, split)
			}
			readers := map[string]func(io.Reader) io.Reader{
				"whole":    func(r io.Reader) io.Reader { return r },
				"one byte": iotest.OneByteReader,
			}
			for rname, wrap := range readers {
				t.Run(fmt.Sprintf("%s/records of %d/%s", h.name, split, rname), func(t *testing.T) {
					src := bytes.NewReader(append(bytes.Clone(in), "after"...))
					name, raw, err := l4.ReadClientHello(wrap(src))
					if !errors.Is(err, h.err) || (h.err == nil && err != nil) {
						t.Fatalf("error %v, want %v", err, h.err)
					}
					if name != want {
						t.Errorf("name %q, want %q", name, want)
					}
					if !bytes.Equal(raw, in) {
						t.Errorf("raw is %d bytes, want the %d of the hello", len(raw), len(in))
					}
					if rest, _ := io.ReadAll(src); string(rest) != "after" {
						t.Errorf("left %q unread, want \"after\"", rest)
					}
				})
			}
		}
	}
}

// ext is one ClientHello extension.
type ext struct {
	typ  uint16
	data []byte
}

// helloSpec describes a ClientHello to build.
type helloSpec struct {
	vers      uint16
	sessionID []byte
	suites    []byte
	methods   []byte
	exts      []ext
	noExts    bool   // leave out the extensions block
	trailing  []byte // after the extensions block
}

func baseSpec() helloSpec {
	return helloSpec{
		vers:      0x0303,
		sessionID: make([]byte, 32),
		suites:    []byte{0x13, 0x01, 0x13, 0x02},
		methods:   []byte{0},
		exts:      []ext{{0x002b, []byte{2, 3, 4}}, {0, sniData(0, "a.example.com")}, {0x0010, []byte{0, 3, 2, 'h', '2'}}},
	}
}

// sniData is a server_name extension body listing name types and names:
// sniData(0, "a.example.com", 7, "x").
func sniData(entries ...any) []byte {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for i := 0; i < len(entries); i += 2 {
			b.AddUint8(uint8(entries[i].(int)))
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(entries[i+1].(string))) })
		}
	})
	return b.BytesOrPanic()
}

// message returns the handshake message: type, length, body.
func (s helloSpec) message() []byte {
	var b cryptobyte.Builder
	b.AddUint8(1)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint16(s.vers)
		b.AddBytes(make([]byte, 32))
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.sessionID) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.suites) })
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.methods) })
		if !s.noExts {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				for _, e := range s.exts {
					b.AddUint16(e.typ)
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.data) })
				}
			})
		}
		b.AddBytes(s.trailing)
	})
	return b.BytesOrPanic()
}

// record wraps payload in a TLS record of type typ.
func record(typ byte, payload []byte) []byte {
	return append([]byte{typ, 3, 1, byte(len(payload) >> 8), byte(len(payload))}, payload...)
}

func (s helloSpec) bytes() []byte { return record(22, s.message()) }

func TestReadClientHelloParse(t *testing.T) {
	with := func(f func(*helloSpec)) []byte {
		s := baseSpec()
		f(&s)
		return s.bytes()
	}
	withSNI := func(data []byte) []byte {
		return with(func(s *helloSpec) { s.exts[1].data = data })
	}
	label := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name string
		in   []byte
		want string
		err  error
	}{
		{"valid", with(func(*helloSpec) {}), "a.example.com", nil},
		{"upper case folded", withSNI(sniData(0, "A.Example.COM")), "a.example.com", nil},
		{"underscore and digits", withSNI(sniData(0, "_a-1.example.com")), "_a-1.example.com", nil},
		{"253 bytes", withSNI(sniData(0, label(63)+"."+label(63)+"."+label(63)+"."+label(61))), label(63) + "." + label(63) + "." + label(63) + "." + label(61), nil},
		{"other name type ignored", withSNI(sniData(7, "ignored", 0, "a.example.com")), "a.example.com", nil},
		{"no extensions", with(func(s *helloSpec) { s.noExts = true }), "", l4.ErrNoSNI},
		{"no server_name", with(func(s *helloSpec) { s.exts = s.exts[:1] }), "", l4.ErrNoSNI},
		{"only other name types", withSNI(sniData(7, "x")), "", l4.ErrNoSNI},
		{"two server_name extensions", with(func(s *helloSpec) { s.exts = append(s.exts, ext{0, sniData(0, "b.example.com")}) }), "", l4.ErrMalformed},
		{"two host names", withSNI(sniData(0, "a.example.com", 0, "b.example.com")), "", l4.ErrMalformed},
		{"empty host name", withSNI(sniData(0, "")), "", l4.ErrMalformed},
		// RFC 6066 says no trailing dot; OpenSSL's servers take one, and
		// the name is the one without it.
		{"trailing dot", withSNI(sniData(0, "a.example.com.")), "a.example.com", nil},
		{"a dot alone", withSNI(sniData(0, ".")), "", l4.ErrMalformed},
		{"two trailing dots", withSNI(sniData(0, "a.example.com..")), "", l4.ErrMalformed},
		{"leading dot", withSNI(sniData(0, ".example.com")), "", l4.ErrMalformed},
		{"empty label", withSNI(sniData(0, "a..com")), "", l4.ErrMalformed},
		{"space", withSNI(sniData(0, "a b.com")), "", l4.ErrMalformed},
		{"NUL", withSNI(sniData(0, "a\x00.com")), "", l4.ErrMalformed},
		{"non-ASCII", withSNI(sniData(0, "bücher.example")), "", l4.ErrMalformed},
		{"label of 64", withSNI(sniData(0, label(64)+".com")), "", l4.ErrMalformed},
		{"254 bytes", withSNI(sniData(0, label(63)+"."+label(63)+"."+label(63)+"."+label(62))), "", l4.ErrMalformed},
		{"empty server_name", withSNI(nil), "", l4.ErrMalformed},
		{"empty server_name list", withSNI([]byte{0, 0}), "", l4.ErrMalformed},
		{"byte after the list", withSNI(append(sniData(0, "a.example.com"), 0)), "", l4.ErrMalformed},
		{"list longer than the extension", withSNI([]byte{0, 9, 0, 0, 1, 'a'}), "", l4.ErrMalformed},
		{"session id of 33", with(func(s *helloSpec) { s.sessionID = make([]byte, 33) }), "", l4.ErrMalformed},
		{"no cipher suite", with(func(s *helloSpec) { s.suites = nil }), "", l4.ErrMalformed},
		{"odd cipher suites", with(func(s *helloSpec) { s.suites = []byte{0x13, 0x01, 0x13} }), "", l4.ErrMalformed},
		{"no compression", with(func(s *helloSpec) { s.methods = nil }), "", l4.ErrMalformed},
		{"legacy version 2.0", with(func(s *helloSpec) { s.vers = 0x0200 }), "", l4.ErrMalformed},
		{"bytes after the extensions", with(func(s *helloSpec) { s.trailing = []byte{0} }), "", l4.ErrMalformed},
		{"truncated extension", with(func(s *helloSpec) { s.noExts = true; s.trailing = []byte{0, 4, 0, 0, 0} }), "", l4.ErrMalformed},

		{"empty input", nil, "", io.EOF},
		{"part of a header", []byte{22, 3}, "", io.ErrUnexpectedEOF},
		{"part of a record", with(func(*helloSpec) {})[:40], "", io.ErrUnexpectedEOF},
		{"HTTP", []byte("GET / HTTP/1.1\r\n\r\n"), "", l4.ErrNotTLS},
		{"SSLv2 hello", []byte{0x80, 0x2e, 1, 3, 1, 0, 0x15}, "", l4.ErrNotTLS},
		{"application data", record(23, []byte("x")), "", l4.ErrNotTLS},
		{"record version 2", []byte{22, 2, 0, 0, 1, 1}, "", l4.ErrNotTLS},
		{"empty record", []byte{22, 3, 1, 0, 0}, "", l4.ErrMalformed},
		{"record over 16 KiB", []byte{22, 3, 1, 0x40, 0x01}, "", l4.ErrTooLarge},
		{"hello over 16 KiB", record(22, append([]byte{1, 0, 0x40, 0x01}, make([]byte, 100)...)), "", l4.ErrTooLarge},
		{"server hello", record(22, []byte{2, 0, 0, 1, 0}), "", l4.ErrMalformed},
		{"bytes after the hello", record(22, append(baseSpec().message(), 0)), "", l4.ErrMalformed},
		{"alert inside the hello", func() []byte {
			m := baseSpec().message()
			return append(append(record(22, m[:10]), record(21, []byte{2, 40})...), record(22, m[10:])...)
		}(), "", l4.ErrMalformed},
		{"last record too long", func() []byte {
			m := baseSpec().message()
			return append(record(22, m[:10]), record(22, append(m[10:], 0))...)
		}(), "", l4.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := bytes.NewReader(tc.in)
			name, raw, err := l4.ReadClientHello(src)
			if tc.err == nil && err != nil || !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if name != tc.want {
				t.Errorf("name %q, want %q", name, tc.want)
			}
			if consumed := len(tc.in) - src.Len(); consumed != len(raw) || !bytes.Equal(raw, tc.in[:consumed]) {
				t.Errorf("read %d bytes but returned %d as raw", consumed, len(raw))
			}
		})
	}
}

// TestReadsNoFurther checks that a record that would carry the hello past
// its end is refused before its body is read.
func TestReadsNoFurther(t *testing.T) {
	m := baseSpec().message()
	in := append(record(22, m[:10]), record(22, append(m[10:], "more"...))...)
	src := bytes.NewReader(in)
	_, raw, err := l4.ReadClientHello(src)
	if !errors.Is(err, l4.ErrMalformed) {
		t.Fatalf("error %v, want ErrMalformed", err)
	}
	if len(raw) != 15+5 || src.Len() != len(in)-20 {
		t.Errorf("read %d bytes, want the first record and the second header (20)", len(raw))
	}
}

// TestSeedCorpus checks that the checked-in seed corpus of
// FuzzReadClientHello holds the real ClientHellos, each of which parses;
// with -update-corpus it first rewrites them.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReadClientHello")
	seeds := seedHellos(t)
	if *updateCorpus {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, in := range seeds {
			data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", in)
			if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name := range seeds {
		if !strings.HasPrefix(name, "real-") {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "seed-"+name)); err != nil {
			t.Errorf("seed %s is missing (run go test ./internal/l4 -run TestSeedCorpus -update-corpus): %v", name, err)
		}
	}
}

// seedHellos returns real and hand-made ClientHellos by name.
func seedHellos(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	for _, h := range realHellos {
		hello := captureHello(t, h.cfg)
		out["real-"+h.name] = hello
		if h.name == "tls13" {
			out["real-tls13-records-of-7"] = fragment(hello, 7)
		}
	}
	out["built-base"] = baseSpec().bytes()
	s := baseSpec()
	s.noExts = true
	out["built-no-extensions"] = s.bytes()
	return out
}

func BenchmarkReadClientHello(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"tls13-mlkem", &tls.Config{ServerName: "a.example.com"}},
		{"tls13-x25519", &tls.Config{ServerName: "a.example.com", CurvePreferences: []tls.CurveID{tls.X25519}}},
	} {
		hello := captureHello(b, tc.cfg)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(hello)))
			r := bytes.NewReader(hello)
			for b.Loop() {
				r.Reset(hello)
				if _, _, err := l4.ReadClientHello(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
