package lb

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetherlb/tether/internal/httpsyntax"
)

// frontConn is one client connection served by a front's HTTP/1.1 loop.
// Its buffers and request are reused from one request to the next.
type frontConn struct {
	f      *front
	raw    net.Conn             // the TCP connection; closing it aborts everything
	rw     net.Conn             // what requests are read from: raw, or TLS over it
	tls    *tls.ConnectionState // https listeners: the handshake's outcome
	br     *bufio.Reader
	bw     *bufio.Writer
	remote string

	state  atomic.Int32 // connIdle, connActive or connClosed
	served int          // requests served
	// sending is the front's tick when the write to the client under
	// way began, or 0 (see sendWatch).
	sending atomic.Int64
	// written counts the bytes written to the connection, for
	// frontResponse.Write to tell how much of a body left before a write
	// failed. Only the goroutine writing a response touches it.
	written int64

	head       []byte       // the request head, as read
	req        http.Request // the request, over head
	url        url.URL
	hdr        http.Header
	order      []string // hdr's names in arrival order
	vals       []string // backing array of hdr's values
	connTokens string   // the request's Connection field
	fwd        http.Header
	out        http.Request // carries fwd to setForwarded
	fwdFor     clientInfo   // the client fwd was made for
	fwdHost    string       // and the Host
	memo       tokenMemo    // the last affinity token opened

	rhead  []byte // the response head, as read
	rcode  int    // its status
	r10    bool   // its version is HTTP/1.0
	rhop   bool   // it has hop-by-hop fields besides the framing ones
	rh     http.Header
	rorder []string
	rvals  []string

	resp frontResponse // a handler's response (Front), or tether's own answer

	// On a Transient front, hctx is the context of the connection's
	// requests, reset for each (or replaced, see handlerCtx.spawned), and
	// reqBase the zero request that carries it, which parseRequest starts
	// fc.req from. Elsewhere both are zero.
	hctx    *handlerCtx
	reqBase http.Request

	watch frontWatch // the client, while a target takes its time
}

const (
	connIdle int32 = iota
	connActive
	connClosed
)

// frontMaxHead is the largest request head the front reads itself; a
// larger one, or one over the listener's max_header_bytes, goes to
// net/http, which answers it (431) or serves it by its own limit.
const frontMaxHead = 64 << 10

// frontMaxFields is the most header fields a request may have on the
// front's path.
const frontMaxFields = 100

func newFrontConn(f *front, c net.Conn) *frontConn {
	fc := &frontConn{f: f, raw: c, rw: c, br: bufio.NewReaderSize(c, 4<<10),
		remote: c.RemoteAddr().String(), hdr: http.Header{}, fwd: http.Header{}, rh: http.Header{}}
	fc.bw = bufio.NewWriterSize(sendWatch{fc}, 4<<10)
	fc.watch.init(fc)
	if f.transient {
		fc.hctx = &handlerCtx{fc: fc}
		fc.reqBase = *new(http.Request).WithContext(fc.hctx)
	}
	fc.state.Store(connActive)
	return fc
}

// step is what a connection does after a request.
type step int

const (
	stepNext    step = iota // read the next request
	stepClose               // close the connection
	stepHandOff             // net/http has the connection now
)

func (fc *frontConn) serve() {
	defer fc.f.remove(fc)
	defer fc.watch.timer.Stop()
	defer func() {
		// As net/http: a panic serving one connection is logged and ends
		// that connection, not the process.
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				fc.f.log.Error("panic serving a connection", "listener", fc.f.name, "client", fc.remote,
					"panic", fmt.Sprint(v), "stack", string(buf))
			}
			fc.raw.Close()
		}
	}()
	if fc.f.tls != nil && !fc.handshake() {
		return
	}
	for fc.waitRequest() {
		switch fc.serveRequest() {
		case stepNext:
			continue
		case stepHandOff:
			return
		}
		break
	}
	fc.bw.Flush()
	fc.rw.Close()
}

// handshake runs the TLS handshake of an https listener's connection,
// within read_header_timeout. A client that negotiated HTTP/2 goes to
// net/http at once. It reports whether the front serves the connection.
func (fc *frontConn) handshake() bool {
	f := fc.f
	tc := tls.Server(fc.raw, f.tls)
	if f.readHeaderTimeout > 0 {
		dl := time.Now().Add(f.readHeaderTimeout)
		fc.raw.SetReadDeadline(dl)
		fc.raw.SetWriteDeadline(dl)
	}
	if err := tc.Handshake(); err != nil {
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader[:]) {
			// As net/http: a plain HTTP request on the TLS port.
			io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		} else {
			f.log.Debug("TLS handshake failed", "listener", f.name, "client", fc.remote, "err", err)
		}
		fc.raw.Close()
		return false
	}
	fc.raw.SetWriteDeadline(time.Time{})
	fc.raw.SetReadDeadline(time.Time{})
	state := tc.ConnectionState()
	if state.NegotiatedProtocol == "h2" {
		f.pass(tc)
		return false
	}
	fc.rw, fc.tls = tc, &state
	fc.br.Reset(tc)
	fc.bw.Reset(sendWatch{fc})
	return true
}

// looksLikeHTTP reports whether the first bytes of a connection are those
// of a plain HTTP request (net/http's tlsRecordHeaderLooksLikeHTTP).
func looksLikeHTTP(hdr []byte) bool {
	switch string(hdr) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// waitRequest waits, idle, for the first byte of the next request, and
// reports whether one came while the front serves. A new connection is not
// idle: as with net/http, it has read_header_timeout to send its first
// request even when the front is closing, since the client did nothing
// wrong.
//
// Deadlines cost: when the whole head has arrived with its first byte, as
// it usually does, the wait's deadline is left in place rather than
// replaced by read_header_timeout and then cleared. Nothing reads the
// client until the next request but the watch, which goes on past it.
func (fc *frontConn) waitRequest() bool {
	f := fc.f
	if fc.served > 0 && f.closing.Load() {
		return false
	}
	if fc.br.Buffered() == 0 {
		wait := f.readHeaderTimeout
		if fc.served > 0 {
			fc.state.Store(connIdle)
			if f.closing.Load() && fc.state.CompareAndSwap(connIdle, connClosed) {
				return false // Close ran between the check and the store
			}
			wait = f.idleTimeout
		}
		if wait > 0 {
			fc.rw.SetReadDeadline(time.Now().Add(wait))
		}
		if _, err := fc.br.Peek(1); err != nil {
			return false
		}
		if fc.served > 0 && !fc.state.CompareAndSwap(connIdle, connActive) {
			return false // closed as idle
		}
	}
	if f.readHeaderTimeout > 0 && !headBuffered(fc.br) {
		fc.rw.SetReadDeadline(time.Now().Add(f.readHeaderTimeout))
	}
	return true
}

// headBuffered reports whether br holds a whole head.
func headBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return headEnd(b) > 0
}

// headEnd returns the length of the head at the start of b, up to and
// including the first blank line (CRLF or bare LF line ends, as net/http
// reads them), or -1 if b holds no blank line.
func headEnd(b []byte) int {
	for j := 0; ; {
		k := bytes.IndexByte(b[j:], '\n')
		if k < 0 {
			return -1
		}
		j += k + 1
		switch {
		case j < len(b) && b[j] == '\n':
			return j + 1
		case j+1 < len(b) && b[j] == '\r' && b[j+1] == '\n':
			return j + 2
		}
	}
}

// closeIfIdle closes the connection if it waits for a request. The front
// calls it under its lock.
func (fc *frontConn) closeIfIdle() {
	if fc.state.CompareAndSwap(connIdle, connClosed) {
		fc.raw.Close()
	}
}

var errFrontHeadTooLarge = errors.New("request head larger than the front reads")

// serveRequest reads one request and serves it, or hands the connection
// to net/http.
func (fc *frontConn) serveRequest() step {
	head, err := readHead(fc.br, fc.head[:0], fc.f.headLimit)
	fc.head = head
	if err != nil {
		if err == errFrontHeadTooLarge {
			return fc.handOff()
		}
		return stepClose // the client left, or was too slow
	}
	if !fc.parseRequest(head) {
		return fc.handOff()
	}
	fc.served++
	return fc.f.serveReq(fc)
}

// after is what follows a complete response: the next request, unless
// the client or the front's shutdown asked to close.
func (fc *frontConn) after() step {
	if fc.req.Close || fc.f.closing.Load() {
		return stepClose
	}
	if err := fc.bw.Flush(); err != nil {
		return stepClose
	}
	return stepNext
}

// handOff gives the connection, with the bytes read from it, to the
// listener's net/http server.
func (fc *frontConn) handOff() step {
	if err := fc.bw.Flush(); err != nil {
		return stepClose
	}
	buffered, _ := fc.br.Peek(fc.br.Buffered())
	prefix := make([]byte, 0, len(fc.head)+len(buffered))
	prefix = append(append(prefix, fc.head...), buffered...)
	fc.rw.SetReadDeadline(time.Time{}) // net/http sets its own
	c := newConn(&prefixConn{Conn: fc.rw, prefix: prefix}, fc.f.onReject)
	c.tls = fc.tls
	fc.f.pass(c)
	return stepHandOff
}

// readHead reads an HTTP head, up to and including the blank line that
// ends it, appending it to buf. A head longer than limit fails with
// errFrontHeadTooLarge, with what was read in buf.
func readHead(br *bufio.Reader, buf []byte, limit int) ([]byte, error) {
	// The common case: the whole head is buffered.
	if b, _ := br.Peek(br.Buffered()); len(b) > 0 {
		if n := headEnd(b); n > 0 && n <= limit {
			buf = append(buf, b[:n]...)
			br.Discard(n)
			return buf, nil
		}
	}
	lineStart := len(buf)
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > limit {
			return buf, errFrontHeadTooLarge
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue // the line goes on
		case err != nil:
			return buf, err
		}
		line := buf[lineStart:]
		if len(line) == 1 || len(line) == 2 && line[0] == '\r' {
			if lineStart > 0 {
				return buf, nil
			}
			// A blank line before the request line: net/http's business.
			return buf, errFrontHeadTooLarge
		}
		lineStart = len(buf)
	}
}

// parseRequest fills fc.req from head, and reports whether the request is
// one the front serves: HTTP/1.1 in origin form, without a body, an
// upgrade or Expect, with one plain Host and well-formed fields. Anything
// else is net/http's, which also answers what is malformed.
func (fc *frontConn) parseRequest(head []byte) bool {
	s := string(head) // one allocation; every field below is a substring
	line, rest, ok := strings.Cut(s, "\r\n")
	if !ok {
		return false
	}
	method, line, ok := strings.Cut(line, " ")
	if !ok || !httpsyntax.IsToken(method) || method == "CONNECT" || method == "PRI" {
		return false
	}
	target, proto, ok := strings.Cut(line, " ")
	if !ok || proto != "HTTP/1.1" || !frontTarget(target) {
		return false
	}
	path, query, _ := strings.Cut(target, "?")
	if strings.IndexByte(query, ';') >= 0 {
		return false // ReverseProxy would rewrite such a query
	}
	if fc.f.fresh {
		fc.hdr, fc.vals = http.Header{}, make([]string, 0, 16)
	} else {
		clear(fc.hdr)
		fc.vals = fc.vals[:0]
	}
	fc.order = fc.order[:0]
	host, haveHost, connTokens := "", false, ""
	for {
		line, rest, ok = strings.Cut(rest, "\r\n")
		if !ok || strings.IndexByte(line, '\n') >= 0 {
			return false
		}
		if line == "" {
			break
		}
		key, value, ok := parseField(line)
		if !ok || len(fc.order) >= frontMaxFields {
			return false
		}
		switch key {
		case "Host":
			if haveHost {
				return false
			}
			host, haveHost = value, true
			continue
		case "Content-Length":
			if value != "0" || fc.hdr[key] != nil {
				return false
			}
		case "Transfer-Encoding", "Expect", "Upgrade", "Http2-Settings":
			return false
		case "Connection":
			if fc.hdr[key] != nil {
				return false
			}
			connTokens = value
		}
		fc.order, fc.vals = addField(fc.hdr, fc.order, fc.vals, key, value)
	}
	if rest != "" || host == "" || !plainHost(host) || hasToken(connTokens, "upgrade") {
		return false
	}
	fc.connTokens = connTokens
	fc.url = url.URL{Path: path, RawQuery: query}
	fc.req = fc.reqBase // zero but for a Transient front's context
	r := &fc.req
	r.Method, r.URL, r.Proto, r.ProtoMajor, r.ProtoMinor = method, &fc.url, "HTTP/1.1", 1, 1
	r.Header, r.Body, r.Host, r.RemoteAddr, r.RequestURI = fc.hdr, http.NoBody, host, fc.remote, target
	r.Close, r.TLS = hasToken(connTokens, "close"), fc.tls
	return true
}

// addField adds value to h[key]. A key's first value gets a one-value
// slice of vals, capped so that a second value copies; order gains the
// key. It returns order and vals.
func addField(h http.Header, order, vals []string, key, value string) ([]string, []string) {
	if vs, seen := h[key]; seen {
		h[key] = append(vs, value)
		return order, vals
	}
	vals = append(vals, value)
	n := len(vals)
	h[key] = vals[n-1 : n : n]
	return append(order, key), vals
}

// frontTarget reports whether a request target is in origin form with
// only the bytes that net/http would pass on unchanged: no percent
// escapes (routing would need the decoded path), no fragment, nothing
// net/http re-escapes in a path.
func frontTarget(t string) bool {
	if len(t) == 0 || t[0] != '/' {
		return false
	}
	inQuery := false
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '?':
			inQuery = true
		case c <= ' ' || c >= 0x7f || c == '%' || c == '#':
			return false
		case !inQuery && !pathBytes[c]:
			return false
		}
	}
	return true
}

// pathBytes are the bytes a path keeps as they are in net/http's
// URL.EscapedPath. It is never written after init.
var pathBytes = func() (set [256]bool) {
	for c := '0'; c <= '9'; c++ {
		set[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		set[c] = true
		set[c-'a'+'A'] = true
	}
	for _, c := range []byte("-._~!$&'()*+,;=:@[]/") {
		set[c] = true
	}
	return set
}()

// trimOWS removes the spaces and tabs around a field value (strings.Trim
// with a cutset is several times slower on this path).
func trimOWS(v string) string {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// parseField splits a header line into its canonical name and its value
// without the spaces and tabs around it, and reports whether the line is a
// field as net/http reads one: a token, a colon, and a value without
// control bytes but tab. Requests and response heads share it.
func parseField(line string) (key, value string, ok bool) {
	name, value, ok := strings.Cut(line, ":")
	if !ok || !httpsyntax.IsToken(name) || !fieldValueOK(value) {
		return "", "", false
	}
	return http.CanonicalHeaderKey(name), trimOWS(value), true
}

// fieldValueOK reports whether a field value has no control byte but tab,
// as net/http requires.
func fieldValueOK(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}
