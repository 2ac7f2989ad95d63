package edge

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetherlb/tether/internal/edge/cachestore"
	"github.com/tetherlb/tether/internal/edge/httpcache"
)

// copyBuffers are the buffers relay streams bodies through.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// relay streams an origin response that is not stored to the client, with
// the Set-Cookie lines viewerOnly holds (nil: those viewerSetCookies
// chooses).
func (e *Edge) relay(w http.ResponseWriter, x *exchange, resp *http.Response, viewerOnly []string) {
	if viewerOnly == nil {
		viewerOnly = e.viewerSetCookies(x, resp.Header)
	}
	x.noGzip = true
	e.writeHeader(w, x, resp.StatusCode, resp.Header, viewerOnly, resp.ContentLength)
	if x.r.Method == http.MethodHead {
		return
	}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	var n int64
	var err error
	switch size := resp.ContentLength; {
	case streaming(resp):
		n, err = io.CopyBuffer(flushWriter{w}, resp.Body, *buf)
	case size <= int64(len(*buf)):
		// A small body of known length: read once, written once.
		var m int
		m, err = io.ReadFull(resp.Body, (*buf)[:size])
		w.Write((*buf)[:m])
		n = int64(m)
	default:
		n, err = io.CopyBuffer(w, resp.Body, *buf)
	}
	x.cut = x.cut || err != nil
	e.metrics.sent(fromOrigin, n)
}

// streaming reports whether a response's body must reach the client as it
// comes (server-sent events, or a body of unknown length that may be a long
// poll), rather than in the server's buffered writes.
func streaming(resp *http.Response) bool {
	return resp.ContentLength < 0 || isEventStream(resp.Header)
}

// isEventStream reports whether h is the header of server-sent events.
func isEventStream(h http.Header) bool {
	return strings.HasPrefix(h.Get("Content-Type"), "text/event-stream")
}

// writeHeader writes status and the header h of an origin response: the
// fields clientFields passes on (not the hop-by-hop ones, and, when
// viewerOnly is not nil, viewerOnly's Set-Cookie lines in place of its
// own), then what finishHeader adds; as lines when w takes them
// (writeLines), else through w's header map. h is not changed.
func (e *Edge) writeHeader(w http.ResponseWriter, x *exchange, status int, h http.Header, viewerOnly []string, size int64) {
	if e.writeLines(w, x, status, h, viewerOnly, size) {
		return
	}
	out := w.Header()
	clientFields(h, viewerOnly, func(name string, values []string) {
		out[name] = values // the client never changes them; net/http copies on write
	})
	if len(viewerOnly) > 0 {
		out["Set-Cookie"] = slices.Clip(viewerOnly)
	}
	e.finishHeader(w, x, out, status, size, -1, headerValues(w))
}

// headerValues returns the array a response's header values may be cut
// from, lent by the front for the connection (lb.Front's HeaderValues),
// or nil on a server that lends none: cachestore.Header.Fill and
// finishHeader then allocate. The head is written after ServeHTTP has
// returned, so the array must outlive the exchange.
func headerValues(w http.ResponseWriter) []string {
	for {
		switch v := w.(type) {
		case interface{ HeaderValues() []string }:
			return v.HeaderValues()
		case *accessWriter:
			w = v.ResponseWriter
		default:
			return nil
		}
	}
}

// writeObjectHeader writes status and the header of a stored object, with
// Age (age, in whole seconds), then what finishHeader adds: as lines when
// w takes them and the object's need no change (writeObjectLines), else
// through w's header map. The object's header is shared by every request
// that reads it: the values are copied into the response.
func (e *Edge) writeObjectHeader(w http.ResponseWriter, x *exchange, obj *cachestore.Object, age time.Duration) {
	if e.writeObjectLines(w, x, obj, age) {
		return
	}
	out := w.Header()
	vals := fillObjectHeader(out, obj, headerValues(w), 3)
	e.finishHeader(w, x, out, obj.Status, int64(len(obj.Body)), int64(age/time.Second), vals)
}

// finishHeader completes the response header out and writes it with status:
// Age when age is not negative, gzip's fields when the edge compresses
// the body, else Content-Length (size, when it is known and the response
// has a body), the edge's Cache-Status member after any the header holds,
// and X-Cache in cloudfront mode. The values it adds are cut from one
// string and from vals, whose capacity they use first.
func (e *Edge) finishHeader(w http.ResponseWriter, x *exchange, out http.Header, status int, size, age int64, vals []string) {
	var arr [256]byte
	b := arr[:0]
	if age >= 0 {
		b = strconv.AppendInt(b, age, 10)
	}
	ageEnd, lenEnd := len(b), len(b)
	if enc := e.compression(x, out, size); enc != "" {
		out["Content-Encoding"] = gzipEncoding
		x.gzip = true
		if enc == "br" {
			out["Content-Encoding"] = brEncoding
			x.gzip, x.br = false, true
		}
		delete(out, "Content-Length")
		codedFields(out)
	} else if size >= 0 && status != http.StatusNoContent && status != http.StatusNotModified &&
		(x.r.Method != http.MethodHead || status == http.StatusPartialContent || status == http.StatusRequestedRangeNotSatisfiable) {
		// A HEAD gets the Content-Length the GET would: the stored one, but
		// for a range, the range's (or 0 for a 416).
		b = strconv.AppendInt(b, size, 10)
		if cl := out["Content-Length"]; len(cl) == 1 && cl[0] == string(b[ageEnd:]) {
			b = b[:ageEnd] // the header says so already
		}
		lenEnd = len(b)
	}
	for _, prev := range out["Cache-Status"] {
		b = append(append(b, prev...), ", "...)
	}
	b = e.appendStatusMember(b, x)
	s := string(b)
	if age >= 0 {
		vals = append(vals, s[:ageEnd])
		out["Age"] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if lenEnd > ageEnd {
		vals = append(vals, s[ageEnd:lenEnd])
		out["Content-Length"] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	vals = append(vals, s[lenEnd:])
	out["Cache-Status"] = vals[len(vals)-1 : len(vals) : len(vals)]
	e.setXCache(out, x, status)
	if _, ok := out["Content-Type"]; !ok {
		// The origin sent none: none goes to the client either. The key
		// present with no value keeps net/http (and the front) from
		// sniffing one from the body, which would make an upload served
		// with nosniff and no type renderable HTML (RFC 9110 §8.3 leaves
		// sniffing to the recipient).
		out["Content-Type"] = nil
	}
	w.WriteHeader(status)
}

// Values the response header shares with every other response: net/http
// copies a handler's header before it writes it, and the slices are full,
// so that appending to one copies it.
var (
	gzipEncoding      = []string{"gzip"}
	acceptRangesBytes = []string{"bytes"}
	brEncoding        = []string{"br"}
	xCache            = map[string][]string{
		"Hit": {"Hit from cloudfront"}, "RefreshHit": {"RefreshHit from cloudfront"},
		"Error": {"Error from cloudfront"}, "Miss": {"Miss from cloudfront"},
	}
)

// setXCache adds CloudFront's X-Cache header in cloudfront mode, for the
// tools that read it: Hit, RefreshHit (revalidated with a 304), Error (the
// edge or the origin failed) or Miss "from cloudfront".
func (e *Edge) setXCache(h http.Header, x *exchange, status int) {
	if e.cloudfront {
		h["X-Cache"] = xCache[xCacheKind(x, status)]
	}
}

// xCacheKind returns the kind of X-Cache a response to x with status
// gets: Hit, RefreshHit, Error or Miss.
func xCacheKind(x *exchange, status int) string {
	switch {
	case x.status.Hit:
		return "Hit"
	case x.status.Fwd == "stale" && x.status.FwdStatus == http.StatusNotModified:
		return "RefreshHit"
	case status >= 400:
		return "Error"
	}
	return "Miss"
}

// writeBody writes a buffered body (not for HEAD), compressed when
// writeHeader chose to.
func (e *Edge) writeBody(w http.ResponseWriter, x *exchange, body []byte, src source) {
	if x.r.Method == http.MethodHead {
		return
	}
	var n int64 // what the client took: less than the body when it left
	switch {
	case x.br, x.gzip:
		enc := "gzip"
		if x.br {
			enc = "br"
		}
		cw := &countingWriter{w: w}
		compressTo(cw, body, enc)
		n = cw.n
	default:
		written, _ := w.Write(body)
		n = int64(written)
	}
	e.metrics.sent(src, n)
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// compression returns the encoding the edge compresses this response
// with, or "": the behavior compresses, the response is not encoded
// already, is of a compressible type and is worth it (≥ 1 KiB), and the
// client accepts brotli (when the cache policy keys it, as CloudFront
// requires) or gzip. Brotli wins when both are accepted.
func (e *Edge) compression(x *exchange, h http.Header, size int64) string {
	// A HEAD is answered as its GET would be: with the coding's fields.
	if x.noGzip || !compressible(x.b, h, size) {
		return ""
	}
	switch normalizeAcceptEncoding(x.r.Header.Values("Accept-Encoding"), true, x.b.brKey) {
	case "br,gzip", "br":
		return "br"
	case "gzip":
		return "gzip"
	}
	return ""
}

// compressible reports whether behavior b compresses a response with
// header h and a body of size bytes for a client that accepts gzip: b
// compresses, the body is 1 KiB or more, of a compressible type, not
// coded already and not no-transform.
func compressible(b *behavior, h http.Header, size int64) bool {
	if b == nil || !b.compress || h.Get("Content-Encoding") != "" || size < 1024 {
		return false
	}
	if httpcache.ParseCacheControl(h["Cache-Control"]).NoTransform {
		return false // RFC 9110 §7.7: a proxy must not change a no-transform body's coding
	}
	ct := strings.ToLower(h.Get("Content-Type"))
	return slices.ContainsFunc(compressibleTypes, func(p string) bool { return strings.HasPrefix(ct, p) }) || structuredText(ct)
}

// structuredText reports whether the media type of ct, lower-cased, is a
// JSON or XML one by its structured syntax suffix (RFC 6838 §4.2.8):
// application/vnd.api+json, application/atom+xml.
func structuredText(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	return strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml")
}

// compressibleTypes are the Content-Type prefixes the edge compresses.
var compressibleTypes = []string{"text/", "application/json", "application/javascript", "application/xml", "image/svg+xml", "application/wasm"}

// flushWriter flushes after every write, so that streamed responses (SSE,
// long bodies) reach the client as they come.
type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}
