package l4_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/tetherlb/tether/internal/l4"
)

// FuzzReadClientHello checks that ReadClientHello never panics, reads
// exactly the bytes it returns, reads the same through a one-byte reader,
// returns only its documented errors, and, whenever crypto/tls's server
// parses the same bytes, finds the same server name: a proxy that routed
// on one name while the server answered for another would be a hole.
func FuzzReadClientHello(f *testing.F) {
	for _, hello := range seedHellos(f) {
		f.Add(hello)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := bytes.NewReader(data)
		name, raw, err := l4.ReadClientHello(src)
		if consumed := len(data) - src.Len(); consumed != len(raw) || !bytes.Equal(raw, data[:consumed]) {
			t.Fatalf("read %d bytes, returned %d", consumed, len(raw))
		}
		if maxRaw := 6 * (l4.MaxHelloLen + 4); len(raw) > maxRaw {
			t.Fatalf("read %d bytes, more than %d", len(raw), maxRaw)
		}
		name1, raw1, err1 := l4.ReadClientHello(iotest.OneByteReader(bytes.NewReader(data)))
		if name1 != name || !bytes.Equal(raw1, raw) || (err == nil) != (err1 == nil) {
			t.Fatalf("one byte at a time: %q, %d bytes, %v; at once: %q, %d bytes, %v", name1, len(raw1), err1, name, len(raw), err)
		}
		switch {
		case err == nil:
			if name == "" || name != strings.ToLower(name) {
				t.Fatalf("name %q", name)
			}
		case name != "":
			t.Fatalf("name %q with error %v", name, err)
		case !isDocumented(err):
			t.Fatalf("undocumented error %v", err)
		}
		if err != nil && !errors.Is(err, l4.ErrNoSNI) {
			return
		}
		if goName, ok := tlsServerName(raw); ok && !strings.EqualFold(goName, name) {
			t.Fatalf("crypto/tls reads server name %q, ReadClientHello %q", goName, name)
		}
	})
}

func isDocumented(err error) bool {
	for _, e := range []error{l4.ErrNotTLS, l4.ErrNoSNI, l4.ErrMalformed, l4.ErrTooLarge, io.EOF, io.ErrUnexpectedEOF} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// errStop ends a crypto/tls handshake once the ClientHello is parsed.
var errStop = errors.New("stop")

// tlsServerName runs a crypto/tls server over hello and returns the server
// name it parsed; ok is false if it did not get as far as parsing a
// ClientHello.
func tlsServerName(hello []byte) (name string, ok bool) {
	conn := &replayConn{r: bytes.NewReader(hello)}
	srv := tls.Server(conn, &tls.Config{GetConfigForClient: func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
		name, ok = chi.ServerName, true
		return nil, errStop
	}})
	_ = srv.Handshake()
	return name, ok
}

// replayConn is a net.Conn that reads from r and discards writes.
type replayConn struct{ r *bytes.Reader }

func (c *replayConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *replayConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *replayConn) Close() error                     { return nil }
func (c *replayConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *replayConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *replayConn) SetDeadline(time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(time.Time) error { return nil }

// TestTLSServerNameOracle checks that the fuzz target's crypto/tls oracle
// does parse real ClientHellos, so that its comparison is not vacuous.
func TestTLSServerNameOracle(t *testing.T) {
	for _, h := range realHellos {
		name, ok := tlsServerName(captureHello(t, h.cfg))
		if !ok {
			t.Errorf("%s: crypto/tls did not parse the hello", h.name)
			continue
		}
		if want, _ := strings.CutSuffix(h.cfg.ServerName, "."); h.err == nil && !strings.EqualFold(name, want) {
			t.Errorf("%s: crypto/tls read %q, want %q", h.name, name, want)
		}
	}
}
