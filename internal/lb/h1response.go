package lb

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// quickResponse reads the response head at the start of br when br holds
// all of it and it is a plain one: HTTP/1.1, a final status whose response
// has a body (200–599 but 204 and 304), to a request other than HEAD,
// token field names, values without control bytes but tab, one
// Content-Length, and no Transfer-Encoding, Trailer or Connection field and
// no obsolete line folding. That is what most targets answer, and
// http.ReadResponse reads it with eight allocations where this takes
// three: the head is copied into one string that names, values and
// Status are cut from, the header map is made, and the Response, the
// values' array and the body reader are q's, which lives with the
// exchange.
//
// For any other head it returns nil and reads nothing, and the caller
// reads the head with http.ReadResponse: what quickResponse accepts, it
// reads as http.ReadResponse does (FuzzQuickResponse holds it to that), so
// every error and every unusual framing stays net/http's.
//
// The response is &q.resp, and its Body &q.body, set to read its
// Content-Length bytes from br (http.NoBody when there are none).
func quickResponse(br *bufio.Reader, req *http.Request, q *quickParts) *http.Response {
	if req.Method == http.MethodHead {
		return nil
	}
	buf, _ := br.Peek(br.Buffered())
	n := headEnd(buf)
	if n < 0 {
		return nil
	}
	s := string(buf[:n])
	status, rest := nextLine(s)
	if line := status; len(line) < 12 || line[:9] != "HTTP/1.1 " || len(line) > 12 && line[12] != ' ' {
		return nil
	}
	code := 0
	for _, c := range []byte(status[9:12]) {
		if c < '0' || c > '9' {
			return nil
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified || code > 599 {
		return nil
	}
	fields := strings.Count(rest, "\n") // an upper bound: the blank line is one
	h := q.header
	if h == nil {
		h = make(http.Header, fields)
	} else {
		clear(h) // what a head quickResponse gave up on left in it
	}
	vals := q.vals[:0]
	if fields > len(q.vals) {
		vals = make([]string, 0, fields)
	}
	length := int64(-1)
	for {
		var line string
		if line, rest = nextLine(rest); line == "" {
			break
		}
		key, value, ok := parseField(line)
		if !ok {
			return nil // includes obsolete folding: a line starting with a space
		}
		switch key {
		case "Transfer-Encoding", "Trailer", "Connection":
			return nil
		case "Content-Length":
			if length >= 0 {
				return nil
			}
			if length = contentLength(value); length < 0 {
				return nil
			}
		}
		if vs, seen := h[key]; seen {
			h[key] = append(vs, value)
			continue
		}
		vals = append(vals, value)
		h[key] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if length < 0 {
		return nil
	}
	br.Discard(n)
	q.resp = http.Response{Status: status[9:], StatusCode: code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, ContentLength: length, Request: req, Body: http.NoBody}
	if length > 0 {
		q.body = h1Fixed{br: br, left: length}
		q.resp.Body = &q.body
	}
	return &q.resp
}

// quickParts are the parts of a response quickResponse reads that need no
// allocation of their own: they are allocated with the exchange.
type quickParts struct {
	// header, when not nil, is the map the header goes in: the caller's
	// (h1Transport.RoundTripHeader).
	header http.Header
	resp   http.Response
	vals   [8]string // the values of up to 8 fields
	body   h1Fixed
}

// contentLength parses a Content-Length value as net/http does (decimal
// digits, below 2^63), or returns -1.
func contentLength(v string) int64 {
	if v == "" || len(v) > 18 {
		return -1 // 18 digits never overflow; longer ones are left to net/http
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return -1
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// h1Fixed reads a body of known length from a connection's reader, as
// net/http's body does: io.EOF with the last bytes, and
// io.ErrUnexpectedEOF when the connection ends first.
type h1Fixed struct {
	br   *bufio.Reader
	left int64
}

func (f *h1Fixed) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.br.Read(p)
	f.left -= int64(n)
	switch {
	case f.left == 0:
		return n, io.EOF
	case err == io.EOF:
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// Close does nothing: the exchange that owns f ends the connection.
func (f *h1Fixed) Close() error { return nil }
