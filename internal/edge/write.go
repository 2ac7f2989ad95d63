package edge

import (
	"compress/gzip"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tetherlb/tether/internal/edge/httpcache"
)

// copyBuffers are the buffers relay streams bodies through.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// relay streams an origin response that is not stored to the client, with
// the Set-Cookie lines viewerOnly holds (nil: those viewerSetCookies
// chooses).
func (e *Edge) relay(w http.ResponseWriter, x *exchange, resp *http.Response, viewerOnly []string) {
	h := resp.Header.Clone()
	if viewerOnly == nil {
		viewerOnly = e.viewerSetCookies(x, resp.Header)
	}
	h.Del("Set-Cookie")
	x.noGzip = true
	e.writeHeader(w, x, resp.StatusCode, h, viewerOnly, resp.ContentLength, "")
	if x.r.Method == http.MethodHead {
		return
	}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	var dst io.Writer = w
	if streaming(resp) {
		dst = flushWriter{w}
	}
	n, _ := io.CopyBuffer(dst, resp.Body, *buf)
	e.metrics.sent("origin", n)
}

// streaming reports whether a response's body must reach the client as it
// comes (server-sent events, or a body of unknown length that may be a long
// poll), rather than in the server's buffered writes.
func streaming(resp *http.Response) bool {
	return resp.ContentLength < 0 || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
}

// writeHeader writes status and header (stored or relayed), the
// requester's own Set-Cookie lines, Age, and Cache-Status; it removes
// hop-by-hop fields and, unless configured, CDN-Cache-Control.
func (e *Edge) writeHeader(w http.ResponseWriter, x *exchange, status int, h http.Header, viewerOnly []string, size int64, age string) {
	out := w.Header()
	for k, v := range h {
		out[k] = v // the client never changes them; net/http copies on write
	}
	if !x.cleanHeader {
		stripHopHeaders(out)
	}
	if len(viewerOnly) > 0 {
		// Clipped: out's slices may be a stored object's, never to be
		// appended to in place.
		out["Set-Cookie"] = append(slices.Clip(out["Set-Cookie"]), viewerOnly...)
	}
	if age != "" {
		out.Set("Age", age)
	}
	if x.b != nil && x.b.compress && e.shouldGzip(x, out, size) {
		out.Set("Content-Encoding", "gzip")
		out.Del("Content-Length")
		out["Vary"] = append(slices.Clip(out["Vary"]), "Accept-Encoding")
		x.gzip = true
	} else if size >= 0 && x.r.Method != http.MethodHead && status != http.StatusNoContent && status != http.StatusNotModified {
		out.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	httpcache.AppendCacheStatus(out, e.statusMember(x))
	e.setXCache(out, x, status)
	w.WriteHeader(status)
}

// setXCache adds CloudFront's X-Cache header in cloudfront mode, for the
// tools that read it: Hit, RefreshHit (revalidated with a 304), Error (the
// edge or the origin failed) or Miss "from cloudfront".
func (e *Edge) setXCache(h http.Header, x *exchange, status int) {
	if !e.cloudfront {
		return
	}
	kind := "Miss"
	switch {
	case x.status.Hit:
		kind = "Hit"
	case x.status.Fwd == "stale" && x.status.FwdStatus == http.StatusNotModified:
		kind = "RefreshHit"
	case status >= 400:
		kind = "Error"
	}
	h.Set("X-Cache", kind+" from cloudfront")
}

// stripHopHeaders removes the hop-by-hop fields, those Connection names,
// and CDN-Cache-Control (meant for the edge, not the client) from h.
func stripHopHeaders(h http.Header) {
	for _, f := range strings.Split(h.Get("Connection"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			h.Del(f)
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
	h.Del("CDN-Cache-Control")
}

// writeBody writes a buffered body (not for HEAD), gzipped when
// writeHeader chose to.
func (e *Edge) writeBody(w http.ResponseWriter, x *exchange, body []byte, source string) {
	if x.r.Method == http.MethodHead {
		return
	}
	if x.gzip {
		zw := gzip.NewWriter(w)
		zw.Write(body)
		zw.Close()
	} else {
		w.Write(body)
	}
	e.metrics.sent(source, int64(len(body)))
}

// shouldGzip reports whether the edge compresses this response: the
// behavior compresses, the client accepts gzip, the response is not
// encoded already, is of a compressible type and is worth it (≥ 1 KiB).
func (e *Edge) shouldGzip(x *exchange, h http.Header, size int64) bool {
	if x.noGzip || x.r.Method == http.MethodHead || h.Get("Content-Encoding") != "" || size >= 0 && size < 1024 || size < 0 {
		return false
	}
	if normalizeAcceptEncoding(x.r.Header.Values("Accept-Encoding"), true, false) != "gzip" {
		return false
	}
	ct := strings.ToLower(h.Get("Content-Type"))
	for _, p := range []string{"text/", "application/json", "application/javascript", "application/xml", "image/svg+xml", "application/wasm"} {
		if strings.HasPrefix(ct, p) {
			return true
		}
	}
	return false
}

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
