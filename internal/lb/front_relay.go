package lb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tetherlb/tether/internal/httpsyntax"
)

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
	code, n := fc.answer(func(w http.ResponseWriter) { g.answerError(w, &fc.req, ex, err) })
	return stepNext, code, n
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
	var num string
	if code >= 100 && code < 600 {
		num = itoa(code) // no allocation
	} else {
		num = strconv.Itoa(code)
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
	bw.WriteString("Date: ")
	bw.Write(time.Now().UTC().AppendFormat(bw.AvailableBuffer(), http.TimeFormat)) // no allocation
	bw.WriteString("\r\n")
}

// relayLength copies a body of n bytes from pc to the client, as it
// comes; a stream (event-stream) is flushed as it comes, too.
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
		if stream && fc.bw.Flush() != nil {
			return done, errClientGone
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
		if writeChunk(fc.bw, b) != nil || fc.bw.Flush() != nil {
			return done, errClientGone
		}
		pc.br.Discard(len(b))
		done += int64(len(b))
	}
	if _, err := fc.bw.WriteString("0\r\n\r\n"); err != nil {
		return done, errClientGone
	}
	return done, nil
}

// writeChunk writes b as one chunk of a chunked body.
func writeChunk(bw *bufio.Writer, b []byte) error {
	writeChunkSize(bw, int64(len(b)))
	bw.Write(b)
	_, err := bw.WriteString("\r\n")
	return err
}

// writeChunkSize writes the size line of a chunk.
func writeChunkSize(bw *bufio.Writer, n int64) {
	var num [16]byte
	bw.Write(strconv.AppendInt(num[:0], n, 16))
	bw.WriteString("\r\n")
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
		writeChunkSize(fc.bw, size)
		n, err := fc.relayLength(pc, size, false)
		done += n
		if err != nil {
			return done, err
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
