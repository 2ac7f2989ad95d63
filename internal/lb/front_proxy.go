package lb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherlb/tether/internal/affinity"
	"github.com/tetherlb/tether/internal/httpsyntax"
)

// serveFront serves a request the front read on lh's listener: routing
// and stickiness as ServeHTTP does, then proxy. A request whose route
// needs what only net/http's path has (an authorizer, TLS bridging) hands
// the connection over.
func (lh *listenerHandler) serveFront(fc *frontConn) step {
	s := lh.srv
	r := &fc.req
	rt := s.gen.Load().routers[lh.name]
	if rt == nil { // the listener left the config and is shutting down
		r.Close = true
		fc.ew.reset()
		writeError(&fc.ew, http.StatusServiceUnavailable)
		return stepClose
	}
	g, gate := rt.match(hostOnly(r.Host), r.URL.Path)
	if gate != nil || g.up == nil || g.up.rt != http.RoundTripper(s.h1) {
		return fc.handOff() // authorizers and TLS bridging are net/http's
	}
	ex := &exchange{g: g, ci: lh.tl.Identify(r), port: lh.port, start: s.clk.Now(), hsts: lh.hsts, memo: &fc.memo}
	t, err := g.choose(r, ex)
	if err != nil || t == nil {
		fc.ew.reset()
		g.noTarget(&fc.ew, ex)
		s.logAccess(r, lh.name, ex, fc.ew.code, fc.ew.bytes)
		return fc.after()
	}
	inflight := g.begin(ex, t)
	next, code, n := fc.proxy(g, ex)
	g.end(ex, inflight)
	s.logAccess(r, lh.name, ex, code, n)
	if next != stepNext {
		return next
	}
	return fc.after()
}

// proxy sends the front's current request to ex's target (moving to
// another when the target cannot be reached, as the retrier does) and
// relays the response. It returns what the connection does next, the
// status the client got (0: none) and the body bytes written.
func (fc *frontConn) proxy(g *group, ex *exchange) (step, int, int64) {
	r := &fc.req
	// What ReverseProxy's Rewrite does for net/http's path.
	if g.sticky.mode != "none" && g.sticky.mode != "source_ip" {
		affinity.StripCookies(r.Header, g.sticky.cookie, g.sticky.corsCookie, g.sticky.appCookie)
		if g.sticky.mode == "header" {
			r.Header.Del(g.sticky.header)
		}
	}
	// From an untrusted peer, the forwarding fields depend only on the
	// client and the Host, which rarely change on a connection.
	if ex.ci.Trusted || ex.ci != fc.fwdFor || r.Host != fc.fwdHost || len(fc.fwd) == 0 {
		clear(fc.fwd)
		fc.out.Header = fc.fwd
		setForwarded(&fc.out, r, ex.ci, ex.port)
		fc.fwdFor, fc.fwdHost = ex.ci, r.Host
	}

	pc, err := fc.roundTrip(g, ex)
	if err != nil {
		fc.ew.reset()
		g.answerError(&fc.ew, r, ex, err)
		if ex.status == 499 {
			return stepClose, 0, 0
		}
		return stepNext, fc.ew.code, fc.ew.bytes
	}
	return fc.relay(g, ex, pc)
}

// errClientGone is why an exchange ends when its client closes the
// connection before the target answers.
var errClientGone = fmt.Errorf("client closed the connection: %w", context.Canceled)

// roundTrip writes the request to a connection to ex.t and reads the
// response head into fc.rh. A reused connection that dies before the
// first response byte is replaced once by a new one, as h1Transport does;
// a target that cannot be reached is replaced once by another, as the
// retrier does.
func (fc *frontConn) roundTrip(g *group, ex *exchange) (*h1Conn, error) {
	tr := g.srv.h1
	r := &fc.req
	failedOver, redialed := false, false
	for {
		p := tr.pool(ex.t.address)
		var pc *h1Conn
		if !redialed {
			pc = p.get(tr)
		}
		if pc == nil {
			var err error
			if pc, err = tr.dialConn(context.Background(), p, ex.t.address); err != nil {
				if failedOver || !connectFailure(err) {
					return nil, err
				}
				failedOver, redialed = true, false
				if alt, ferr := g.failover(r, ex, err); alt == nil {
					return nil, ferr
				}
				continue
			}
		}
		err := fc.exchange(pc, ex)
		if err == nil {
			return pc, nil
		}
		pc.conn.Close()
		if err != errClientGone && pc.reused && !redialed && frontRetry(r, err) {
			p.closeOlder(tr, pc.idleAt) // idle longer than this dead one: likely dead too
			redialed = true
			continue
		}
		return nil, h1Unwrap(err)
	}
}

// frontRetry is h1ShouldRetry for the front's requests, which have no body.
func frontRetry(r *http.Request, err error) bool {
	if _, ok := err.(h1NothingWritten); ok {
		return true
	}
	_, first := err.(h1FirstByteError)
	return (first || err == errH1StaleResponse) && isReplayable(r)
}

// exchange writes the request head on pc and reads the response head,
// watching the client meanwhile.
func (fc *frontConn) exchange(pc *h1Conn, ex *exchange) error {
	start := pc.nwrite
	fc.writeRequest(pc.bw)
	if err := pc.bw.Flush(); err != nil {
		if pc.nwrite == start {
			return h1NothingWritten{err}
		}
		return fmt.Errorf("writing request: %w", err)
	}
	fc.watch.arm(pc)
	err := fc.readResponseHead(pc)
	if fc.watch.disarm() {
		return errClientGone
	}
	if err == nil && fc.rcode == http.StatusRequestTimeout && pc.reused && isReplayable(&fc.req) {
		return errH1StaleResponse // the target gave the idle connection up
	}
	return err
}

// writeRequest writes the request head for the target: the client's
// fields in their order without the hop-by-hop ones and those tether
// sets, then X-Forwarded-* and Forwarded.
func (fc *frontConn) writeRequest(bw *bufio.Writer) {
	r := &fc.req
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(r.RequestURI)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(r.Host)
	bw.WriteString("\r\n")
	for _, k := range fc.order {
		switch k {
		case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
			"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length",
			"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Host", "Forwarded":
			continue
		}
		if fc.connTokens != "" && hasToken(fc.connTokens, k) {
			continue
		}
		for _, v := range r.Header[k] {
			writeLine(bw, k, v)
		}
	}
	switch r.Method {
	case "POST", "PUT", "PATCH":
		bw.WriteString("Content-Length: 0\r\n") // as net/http's Transport
	}
	if te := r.Header["Te"]; len(te) > 0 && hasToken(te[0], "trailers") {
		bw.WriteString("Te: trailers\r\n") // as ReverseProxy
	}
	for _, k := range [...]string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Host", "Forwarded"} {
		for _, v := range fc.fwd[k] {
			writeLine(bw, k, v)
		}
	}
	bw.WriteString("\r\n")
}

func writeLine(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

// readResponseHead reads the target's response head into fc.rh, passing
// informational (1xx) responses on to the client.
func (fc *frontConn) readResponseHead(pc *h1Conn) error {
	pc.readLimit = h1MaxHeadBytes
	if _, err := pc.br.Peek(1); err != nil {
		return h1FirstByteError{err}
	}
	for {
		head, err := readHead(pc.br, fc.rhead[:0], math.MaxInt)
		fc.rhead = head
		if err != nil {
			if pc.readLimit <= 0 {
				return errH1HeadTooLarge
			}
			return fmt.Errorf("reading response: %w", err)
		}
		if err := fc.parseResponse(head); err != nil {
			return err
		}
		switch code := fc.rcode; {
		case code >= 200:
			pc.readLimit = math.MaxInt64
			return nil
		case code == http.StatusSwitchingProtocols:
			return errors.New("reading response: 101 Switching Protocols to a request without Upgrade")
		case code != http.StatusContinue:
			// A 1xx has no body: its framing fields must still parse, as
			// net/http's client requires, and do not go on.
			if _, _, err := responseFraming(fc.rh); err != nil {
				return err
			}
			fc.stripHopByHop(headerValue(fc.rh, "Connection"))
			fc.writeHead(code, false, -1, false)
			if err := fc.bw.Flush(); err != nil {
				return errClientGone
			}
		}
		pc.readLimit = h1MaxHeadBytes // each head has its own limit
	}
}

// parseResponse parses a response head into fc.rcode, fc.rh and
// fc.rorder, with net/http's rules: a status line of HTTP/1.x and three
// digits, token field names, no control bytes but tab in values, obsolete
// line folding joined with a space.
func (fc *frontConn) parseResponse(head []byte) error {
	s := string(head)
	line, rest := nextLine(s)
	if len(line) < 12 || !strings.HasPrefix(line, "HTTP/1.") || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
		len(line) > 12 && line[12] != ' ' {
		return fmt.Errorf("reading response: malformed status line %q", truncate(line))
	}
	code, err := strconv.Atoi(line[9:12])
	if err != nil || code < 100 {
		return fmt.Errorf("reading response: malformed status code %q", line[9:12])
	}
	fc.rcode, fc.r10, fc.rhop = code, line[7] == '0', false
	clear(fc.rh)
	fc.rorder, fc.rvals = fc.rorder[:0], fc.rvals[:0]
	last := ""
	for {
		line, rest = nextLine(rest)
		if line == "" {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && last != "" {
			if !fieldValueOK(line) {
				return fmt.Errorf("reading response: malformed header line %q", truncate(line))
			}
			vs := fc.rh[last]
			vs[len(vs)-1] += " " + strings.Trim(line, " \t")
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !httpsyntax.IsToken(name) || !fieldValueOK(value) {
			return fmt.Errorf("reading response: malformed header line %q", truncate(line))
		}
		value = strings.Trim(value, " \t")
		key := http.CanonicalHeaderKey(name)
		switch key {
		case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Upgrade":
			fc.rhop = true
		}
		fc.rvals = append(fc.rvals, value)
		n := len(fc.rvals)
		if vs, seen := fc.rh[key]; seen {
			fc.rh[key] = append(vs, value)
		} else {
			fc.rh[key] = fc.rvals[n-1 : n : n]
			fc.rorder = append(fc.rorder, key)
		}
		last = key
	}
	return nil
}

// nextLine splits s after its first line, which loses its CRLF or LF.
func nextLine(s string) (line, rest string) {
	line, rest, _ = strings.Cut(s, "\n")
	return strings.TrimSuffix(line, "\r"), rest
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// relay sends the response whose head is in fc.rh to the client, then its
// body, and gives pc back to the pool when the exchange left it clean.
func (fc *frontConn) relay(g *group, ex *exchange, pc *h1Conn) (step, int, int64) {
	r, h, code := &fc.req, fc.rh, fc.rcode
	noBody := r.Method == "HEAD" || code == http.StatusNoContent || code == http.StatusNotModified
	chunked, length, ferr := responseFraming(h)
	if ferr != nil {
		return fc.failRelay(g, ex, pc, ferr)
	}
	upConn := headerValue(h, "Connection")
	keepUp := !fc.r10 && !hasToken(upConn, "close") && (noBody || chunked || length >= 0)
	declared := length
	if r.Method == "HEAD" && length < 0 {
		declared = -2 // no framing field at all
	}
	stream := !noBody && (length < 0 || strings.HasPrefix(headerValue(h, "Content-Type"), "text/event-stream"))

	g.finishHead(h, code, ex)
	fc.stripHopByHop(upConn)
	fc.writeHead(code, noBody && r.Method != "HEAD", declared, chunked || !noBody && length < 0)

	var (
		n   int64
		err error
	)
	switch {
	case noBody:
	case chunked:
		n, err = fc.relayChunked(pc)
	case length >= 0:
		n, err = fc.relayLength(pc, length, stream)
	default:
		n, err = fc.relayUntilEOF(pc)
	}
	if err == nil {
		err = fc.bw.Flush()
		if err != nil {
			err = errClientGone
		}
	}
	if err != nil {
		pc.conn.Close()
		if !errors.Is(err, errClientGone) {
			g.srv.metrics.proxyErrors.WithLabelValues(g.name, ex.t.id, "body").Inc()
			g.srv.log.Debug("target response body failed", "group", g.name, "target", ex.t.id, "err", err)
		}
		return stepClose, code, n // the client sees the body cut short
	}
	if keepUp && !pc.sawEOF && pc.br.Buffered() == 0 {
		pc.reused = true
		g.srv.h1.put(pc)
	} else {
		pc.conn.Close()
	}
	return stepNext, code, n
}

// responseFraming reads how a response head frames its body: chunked, a
// Content-Length (-1: none), or an error for fields net/http's client
// refuses.
func responseFraming(h http.Header) (chunked bool, length int64, err error) {
	if te := h["Transfer-Encoding"]; len(te) > 0 {
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") {
			return false, -1, fmt.Errorf("reading response: unsupported Transfer-Encoding %q", truncate(strings.Join(te, ",")))
		}
		return true, -1, nil
	}
	if cl := h["Content-Length"]; len(cl) > 0 {
		n, err := strconv.ParseInt(cl[0], 10, 64)
		if err != nil || n < 0 || cl[0][0] == '+' || !allEqual(cl) {
			return false, -1, fmt.Errorf("reading response: bad Content-Length %q", truncate(strings.Join(cl, ",")))
		}
		return false, n, nil
	}
	return false, -1, nil
}

// failRelay answers a response head the front cannot relay with 502.
func (fc *frontConn) failRelay(g *group, ex *exchange, pc *h1Conn, err error) (step, int, int64) {
	pc.conn.Close()
	fc.ew.reset()
	g.answerError(&fc.ew, &fc.req, ex, err)
	return stepNext, fc.ew.code, fc.ew.bytes
}

func allEqual(vs []string) bool {
	for _, v := range vs[1:] {
		if v != vs[0] {
			return false
		}
	}
	return true
}

// stripHopByHop removes the response fields that are about the target's
// connection (ReverseProxy's list, and those the response's Connection
// names) and the framing fields writeHead writes itself.
func (fc *frontConn) stripHopByHop(upConn string) {
	h := fc.rh
	delete(h, "Content-Length")
	delete(h, "Transfer-Encoding")
	if fc.rhop {
		for _, k := range [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
			"Proxy-Authorization", "Te", "Upgrade"} {
			delete(h, k)
		}
	}
	if upConn != "" {
		for _, f := range strings.Split(upConn, ",") {
			if f = strings.TrimSpace(f); f != "" {
				delete(h, http.CanonicalHeaderKey(f))
			}
		}
	}
}

// writeHead writes a response head to the client from fc.rh, in the
// target's field order and then the fields tether added. length is the
// Content-Length to declare (-1: none, -2: none and no other framing
// either), chunked says the body goes chunked; bare writes no framing at
// all (1xx, 204, 304).
func (fc *frontConn) writeHead(code int, bare bool, length int64, chunked bool) {
	bw, h := fc.bw, fc.rh
	writeStatusLine(bw, code)
	present := 0 // of the target's fields, those still in h
	for _, k := range fc.rorder {
		vs, ok := h[k]
		if !ok {
			continue
		}
		present++
		if k == "Trailer" && !chunked {
			continue
		}
		for _, v := range vs {
			writeLine(bw, k, v)
		}
	}
	if len(h) > present { // fields tether added
		for k, vs := range h {
			if !contains(fc.rorder, k) {
				for _, v := range vs {
					writeLine(bw, k, v)
				}
			}
		}
	}
	if code < 200 {
		bw.WriteString("\r\n")
		return
	}
	if _, ok := h["Date"]; !ok {
		writeDate(bw)
	}
	switch {
	case bare:
	case chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case length >= 0:
		var num [20]byte
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(num[:0], length, 10))
		bw.WriteString("\r\n")
	}
	if fc.req.Close || fc.f.closing.Load() {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// writeStatusLine writes net/http's status line for code.
func writeStatusLine(bw *bufio.Writer, code int) {
	num := strconv.Itoa(code) // itoa covers 100-599 only
	if code >= 100 && code < 600 {
		num = itoa(code)
	}
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(num)
	bw.WriteByte(' ')
	if text := http.StatusText(code); text != "" {
		bw.WriteString(text)
	} else {
		bw.WriteString("status code ")
		bw.WriteString(num)
	}
	bw.WriteString("\r\n")
}

// writeDate writes a Date field for now, as net/http adds one.
func writeDate(bw *bufio.Writer) {
	var buf [40]byte
	bw.WriteString("Date: ")
	bw.Write(time.Now().UTC().AppendFormat(buf[:0], http.TimeFormat))
	bw.WriteString("\r\n")
}

// relayLength copies a body of n bytes. A stream (event-stream) is flushed
// as it comes.
func (fc *frontConn) relayLength(pc *h1Conn, n int64, stream bool) (int64, error) {
	var done int64
	for done < n {
		if pc.br.Buffered() == 0 {
			if _, err := pc.br.Peek(1); err != nil {
				return done, bodyErr(err)
			}
		}
		b, _ := pc.br.Peek(int(min(int64(pc.br.Buffered()), n-done)))
		if _, err := fc.bw.Write(b); err != nil {
			return done, errClientGone
		}
		pc.br.Discard(len(b))
		done += int64(len(b))
		if stream {
			if err := fc.bw.Flush(); err != nil {
				return done, errClientGone
			}
		}
	}
	return done, nil
}

// relayUntilEOF sends a body that ends when the target closes the
// connection, chunked, flushing as it comes.
func (fc *frontConn) relayUntilEOF(pc *h1Conn) (int64, error) {
	var done int64
	for {
		b, err := pc.br.Peek(1)
		if err == io.EOF {
			break
		}
		if err != nil {
			return done, bodyErr(err)
		}
		b, _ = pc.br.Peek(pc.br.Buffered())
		if err := fc.writeChunk(b); err != nil {
			return done, err
		}
		pc.br.Discard(len(b))
		done += int64(len(b))
	}
	if _, err := fc.bw.WriteString("0\r\n\r\n"); err != nil {
		return done, errClientGone
	}
	return done, nil
}

func (fc *frontConn) writeChunk(b []byte) error {
	var num [16]byte
	fc.bw.Write(strconv.AppendInt(num[:0], int64(len(b)), 16))
	fc.bw.WriteString("\r\n")
	fc.bw.Write(b)
	fc.bw.WriteString("\r\n")
	if err := fc.bw.Flush(); err != nil {
		return errClientGone
	}
	return nil
}

// relayChunked passes a chunked body on as it comes, chunk by chunk,
// trailer fields included, checking its framing.
func (fc *frontConn) relayChunked(pc *h1Conn) (int64, error) {
	var done int64
	for {
		line, err := readChunkLine(pc.br)
		if err != nil {
			return done, err
		}
		size, ok := chunkSize(line)
		if !ok {
			return done, fmt.Errorf("reading response body: malformed chunk size %q", truncate(string(line)))
		}
		if size == 0 {
			break
		}
		var num [16]byte
		fc.bw.Write(strconv.AppendInt(num[:0], size, 16))
		fc.bw.WriteString("\r\n")
		for left := size; left > 0; {
			if pc.br.Buffered() == 0 {
				if _, err := pc.br.Peek(1); err != nil {
					return done, bodyErr(err)
				}
			}
			b, _ := pc.br.Peek(int(min(int64(pc.br.Buffered()), left)))
			if _, err := fc.bw.Write(b); err != nil {
				return done, errClientGone
			}
			pc.br.Discard(len(b))
			left -= int64(len(b))
			done += int64(len(b))
		}
		if end, err := readChunkLine(pc.br); err != nil || len(end) != 0 {
			return done, errors.New("reading response body: chunk not followed by CRLF")
		}
		fc.bw.WriteString("\r\n")
		if err := fc.bw.Flush(); err != nil {
			return done, errClientGone
		}
	}
	fc.bw.WriteString("0\r\n")
	for { // trailer fields, then the blank line
		line, err := readChunkLine(pc.br)
		if err != nil {
			return done, err
		}
		if len(line) > 0 {
			name, value, ok := strings.Cut(string(line), ":")
			if !ok || !httpsyntax.IsToken(name) || !fieldValueOK(value) {
				return done, fmt.Errorf("reading response body: malformed trailer %q", truncate(string(line)))
			}
		}
		fc.bw.Write(line)
		fc.bw.WriteString("\r\n")
		if len(line) == 0 {
			return done, nil
		}
	}
}

// readChunkLine reads one line of chunked framing, without its CRLF; a
// line longer than the read buffer is an error.
func readChunkLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return nil, errors.New("reading response body: chunk line too long")
		}
		return nil, bodyErr(err)
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// chunkSize parses the hexadecimal size of a chunk line, ignoring chunk
// extensions.
func chunkSize(line []byte) (int64, bool) {
	if i := strings.IndexByte(string(line), ';'); i >= 0 {
		line = line[:i]
	}
	for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
		line = line[:len(line)-1]
	}
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

func bodyErr(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("reading response body: %w", err)
}

// frontWriter is the http.ResponseWriter of the answers tether writes on
// the front itself (writeError): the head goes out at the first write.
type frontWriter struct {
	fc    *frontConn
	h     http.Header
	code  int
	bytes int64
}

func (w *frontWriter) reset() {
	clear(w.h)
	w.code, w.bytes = 0, 0
}

func (w *frontWriter) Header() http.Header { return w.h }

func (w *frontWriter) WriteHeader(code int) {
	if w.code != 0 {
		return
	}
	w.code = code
	bw := w.fc.bw
	writeStatusLine(bw, code)
	for k, vs := range w.h {
		for _, v := range vs {
			writeLine(bw, k, v)
		}
	}
	writeDate(bw)
	if w.fc.req.Close || w.fc.f.closing.Load() {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
}

func (w *frontWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	n, err := w.fc.bw.Write(p)
	w.bytes += int64(n)
	return n, err
}

// frontWatchDelay is how long a request waits for its response head
// before the front watches its client, to abort the exchange if the
// client leaves (as net/http's background read does for every request).
const frontWatchDelay = 250 * time.Millisecond

// frontWatch notices a client that closes its connection while a target
// takes its time: past frontWatchDelay, a goroutine waits for the client's
// next byte, and closes the target connection if the client is gone.
type frontWatch struct {
	fc    *frontConn
	timer *time.Timer
	pc    atomic.Pointer[h1Conn]
	state atomic.Int32 // watchArmed, watchRunning, watchOff
	gone  bool         // the client left; read after done
	done  chan struct{}

	mu       sync.Mutex // orders disarm's deadline against the watch clearing one
	stopping bool
}

const (
	watchOff int32 = iota
	watchArmed
	watchRunning
)

func (w *frontWatch) init(fc *frontConn) {
	w.fc = fc
	w.done = make(chan struct{}, 1)
	w.timer = time.AfterFunc(time.Hour, w.run)
	w.timer.Stop()
}

// arm starts the delay for an exchange on pc.
func (w *frontWatch) arm(pc *h1Conn) {
	w.pc.Store(pc)
	w.state.Store(watchArmed)
	w.timer.Reset(frontWatchDelay)
}

func (w *frontWatch) run() {
	if !w.state.CompareAndSwap(watchArmed, watchRunning) {
		return
	}
	for {
		_, err := w.fc.br.Peek(1)
		if err != nil && isTimeout(err) {
			// A deadline left from the wait for the request, or disarm's.
			w.mu.Lock()
			stopping := w.stopping
			if !stopping {
				w.fc.rw.SetReadDeadline(time.Time{})
			}
			w.mu.Unlock()
			if !stopping {
				continue
			}
		}
		w.gone = err != nil && !isTimeout(err)
		break
	}
	if w.gone {
		w.pc.Load().conn.Close() // ends the exchange's read
	}
	w.done <- struct{}{}
}

// disarm ends the watch, and reports whether the client left.
func (w *frontWatch) disarm() bool {
	if w.state.CompareAndSwap(watchArmed, watchOff) {
		w.timer.Stop()
		return false
	}
	// The watch runs: make its read return, and wait for it.
	w.mu.Lock()
	w.stopping = true
	w.fc.rw.SetReadDeadline(time.Unix(1, 0))
	w.mu.Unlock()
	<-w.done
	w.stopping = false
	w.fc.rw.SetReadDeadline(time.Time{})
	w.state.Store(watchOff)
	return w.gone
}
