package lb

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
)

// conn wraps a client connection to see two things the net/http server
// hides from handlers:
//
//   - a request head that carries both Content-Length and Transfer-Encoding
//     (net/http silently drops Content-Length; tether rejects such a request
//     with 400, as HAProxy and AWS ALB do, since the pair is the classic
//     request-smuggling vector), or Transfer-Encoding on HTTP/1.0 (which
//     net/http drops, body and all), and
//   - the error responses net/http writes itself for requests it cannot
//     parse (400 bad Host, 431 headers too large, ...), which never reach a
//     handler, so that they can be counted.
//
// Only request heads are scanned: the handler switches the scanner off for
// the body and back on when the exchange ends.
type conn struct {
	net.Conn
	onReject func(code int)
	tls      *tls.ConnectionState // a TLS connection a front handed over, or nil

	scanning atomic.Bool // in a request head
	sawCL    atomic.Bool
	sawTE    atomic.Bool
	line     []byte // start of the current header line, lowercased, up to 20 bytes
	atStart  bool   // at the start of a line
	newlines int    // consecutive line ends, to find the end of the head
}

func newConn(c net.Conn, onReject func(int)) *conn {
	w := &conn{Conn: c, onReject: onReject, line: make([]byte, 0, 20), atStart: true}
	w.scanning.Store(true)
	return w
}

var (
	hdrContentLength    = []byte("content-length:")
	hdrTransferEncoding = []byte("transfer-encoding:")
)

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.scanning.Load() {
		c.scan(p[:n])
	}
	return n, err
}

func (c *conn) scan(p []byte) {
	for _, b := range p {
		switch b {
		case '\n':
			c.newlines++
			if c.newlines == 2 { // blank line: end of the head
				c.scanning.Store(false)
				c.newlines = 0
				c.atStart, c.line = true, c.line[:0]
				return
			}
			c.atStart, c.line = true, c.line[:0]
			continue
		case '\r':
			continue
		}
		c.newlines = 0
		if !c.atStart {
			continue
		}
		if len(c.line) < cap(c.line) {
			if 'A' <= b && b <= 'Z' {
				b += 'a' - 'A'
			}
			c.line = append(c.line, b)
		}
		if b == ':' {
			if bytes.Equal(c.line, hdrContentLength) {
				c.sawCL.Store(true)
			} else if bytes.Equal(c.line, hdrTransferEncoding) {
				c.sawTE.Store(true)
			}
			c.atStart = false
		}
	}
}

// restoreTLS gives r the TLS state of the connection a front handed over:
// net/http sees TLS only on a *tls.Conn. A nil c does nothing.
func (c *conn) restoreTLS(r *http.Request) {
	if c != nil && r.TLS == nil {
		r.TLS = c.tls
	}
}

// smuggled reports whether r, the current request, came with a framing
// that cannot be trusted (RFC 9112 §6.1, §6.3): both Content-Length and
// Transfer-Encoding, or Transfer-Encoding on HTTP/1.0, which net/http
// drops, reading the chunked body that follows as the next request.
func (c *conn) smuggled(r *http.Request) bool {
	return c.sawTE.Load() && (c.sawCL.Load() || !r.ProtoAtLeast(1, 1))
}

// nextRequest re-arms the head scanner after an exchange.
func (c *conn) nextRequest() {
	c.sawCL.Store(false)
	c.sawTE.Store(false)
	c.scanning.Store(true)
}

// Write counts the error responses that net/http writes by itself. Those
// start with a 4xx status line and, unlike every handler response, carry no
// Date header.
func (c *conn) Write(p []byte) (int, error) {
	if len(p) > 12 && p[9] == '4' && bytes.HasPrefix(p, []byte("HTTP/1.1 4")) &&
		!bytes.Contains(p, []byte("\r\nDate: ")) {
		if code, err := strconv.Atoi(string(p[9:12])); err == nil && c.onReject != nil {
			c.onReject(code)
		}
	}
	return c.Conn.Write(p)
}

type connKey struct{}

// connContext stores the wrapped conn in the request context.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if w, ok := c.(*conn); ok {
		return context.WithValue(ctx, connKey{}, w)
	}
	return ctx
}

func connFrom(ctx context.Context) *conn {
	c, _ := ctx.Value(connKey{}).(*conn)
	return c
}
