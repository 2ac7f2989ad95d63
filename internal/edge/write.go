package edge

import (
	"compress/gzip"
	"github.com/tetherlb/tether/internal/edge/httpcache"
	"io"
	"net/http"
	"strconv"
	"strings"
)

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
	n, _ := io.Copy(flushWriter{w}, resp.Body)
	e.metrics.sent("origin", n)
}

// writeHeader writes status and header (stored or relayed), the
// requester's own Set-Cookie lines, Age, and Cache-Status; it removes
// hop-by-hop fields and, unless configured, CDN-Cache-Control.
func (e *Edge) writeHeader(w http.ResponseWriter, x *exchange, status int, h http.Header, viewerOnly []string, size int64, age string) {
	out := w.Header()
	for k, v := range h {
		out[k] = append([]string(nil), v...)
	}
	for _, name := range hopHeaders {
		out.Del(name)
	}
	for _, f := range strings.Split(h.Get("Connection"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			out.Del(f)
		}
	}
	out.Del("CDN-Cache-Control")
	for _, c := range viewerOnly {
		out.Add("Set-Cookie", c)
	}
	if age != "" {
		out.Set("Age", age)
	}
	if x.b != nil && x.b.compress && e.shouldGzip(x, out, size) {
		out.Set("Content-Encoding", "gzip")
		out.Del("Content-Length")
		out.Add("Vary", "Accept-Encoding")
		x.gzip = true
	} else if size >= 0 && x.r.Method != http.MethodHead && status != http.StatusNoContent && status != http.StatusNotModified {
		out.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	httpcache.AppendCacheStatus(out, e.statusMember(x))
	w.WriteHeader(status)
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
