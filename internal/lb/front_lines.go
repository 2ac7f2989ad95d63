package lb

import (
	"bytes"
	"net/http"
	"strconv"
)

// WriteHeadLines writes the response's head at once from header lines the
// handler has written out itself, in place of WriteHeader and the header
// map: the status line for code, lines ("Name: value\r\n" each), a Date
// when lines hold none, a Content-Length of length unless lines hold one
// (which must say length), and Connection: close when the connection
// ends after the response. The handler then writes length bytes of body
// with Write (none for HEAD, whose Writes are dropped as ever). The
// handler's header map is not read.
//
// It returns false, and writes nothing, when it cannot: the head is
// already fixed (WriteHeader or Write was called), code is not a final
// status whose response has a body (200–599 but 204 and 304), length is
// negative, or lines hold no Content-Type (net/http would sniff one from
// the body), a Content-Length other than length, or a framing field
// (Transfer-Encoding, Trailer, Connection). The handler then answers as
// usual. lines must be field lines, as a parsed header's are: names that
// are tokens, values without CR or LF.
//
// It spares a handler that holds its response's header as lines already
// (the edge's stored objects) filling the map, and the front reading it.
func (w *frontResponse) WriteHeadLines(code int, length int64, lines []byte) bool {
	if w.code != 0 || w.sent || code < 200 || code > 599 || code == http.StatusNoContent || code == http.StatusNotModified || length < 0 {
		return false
	}
	f, ok := scanHeadLines(lines, length)
	if !ok || !f.contentType {
		return false
	}
	w.code, w.length, w.sent = code, length, true
	bw := w.fc.bw
	writeStatusLine(bw, code)
	bw.Write(lines)
	if !f.date {
		writeDate(bw)
	}
	if !f.contentLength {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), length, 10)) // no allocation
		bw.WriteString("\r\n")
	}
	if w.fc.req.Close || w.fc.f.closing.Load() {
		w.closeAfter = true
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
	return true
}

// headLineFields says which of the fields the front looks at a handler's
// head lines hold.
type headLineFields struct {
	date, contentType, contentLength bool
}

// scanHeadLines reads the names of lines for WriteHeadLines: it reports
// whether they hold a Date, a Content-Type and a Content-Length, and ok
// false for a framing field, or a Content-Length other than length.
func scanHeadLines(lines []byte, length int64) (f headLineFields, ok bool) {
	for len(lines) > 0 {
		end := bytes.IndexByte(lines, '\n')
		colon := bytes.IndexByte(lines[:max(end, 0)], ':')
		if end < 0 || colon < 0 {
			return f, false
		}
		name, value := lines[:colon], lines[colon+1:end+1]
		lines = lines[end+1:]
		switch len(name) {
		case len("Date"):
			f.date = f.date || bytes.EqualFold(name, []byte("Date"))
		case len("Content-Type"):
			f.contentType = f.contentType || bytes.EqualFold(name, []byte("Content-Type"))
		case len("Content-Length"):
			if bytes.EqualFold(name, []byte("Content-Length")) {
				if f.contentLength || contentLength(string(bytes.TrimSpace(value))) != length {
					return f, false
				}
				f.contentLength = true
			}
		case len("Transfer-Encoding"), len("Trailer"), len("Connection"):
			if bytes.EqualFold(name, []byte("Transfer-Encoding")) || bytes.EqualFold(name, []byte("Trailer")) || bytes.EqualFold(name, []byte("Connection")) {
				return f, false
			}
		}
	}
	return f, true
}
