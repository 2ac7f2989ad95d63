package lb

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tetherlb/tether/internal/httpsyntax"
)

// Front serves an http.Server's handler on tether's own HTTP/1.1 loop, as
// listeners are served (see front): requests without a body, in origin
// form, with a plain Host, are read by the front and passed to the
// handler with a lean ResponseWriter; at the first other request the
// connection goes to the http.Server, whose listener the Front is. The
// edge serves its listeners this way.
//
// Where it differs from net/http for the requests it serves: a client
// that goes away is noticed only once the request's context is waited on
// (Done, or context.AfterFunc, as an origin fetch does), and 250 ms after
// that, when its context is canceled; the context carries no values (no
// http.ServerContextKey); there is no Hijacker and no ResponseController
// deadline; and response fields are written in no particular order.
// Its ResponseWriter has two methods more: HeaderValues() []string, which
// lends the handler the connection's array for its header's values, and
// WriteHeadLines, which takes the head as header lines the handler has
// written out (front_lines.go).
type Front struct {
	f   *front
	srv *http.Server
}

// FrontOptions are a Front's settings besides the http.Server's.
type FrontOptions struct {
	Name string       // for logs
	Log  *slog.Logger // nil: slog.Default()
	// Transient promises that the handler keeps nothing of a request once
	// ServeHTTP has returned: no goroutine it started reads the
	// *http.Request, its header, URL or context, or the ResponseWriter's
	// header, after that. A clone may be kept, if its context does not
	// depend on the request's: http.Request.Clone with
	// context.WithoutCancel(r.Context()), say. The front then reuses all
	// of them from one request of a connection to the next instead of
	// allocating them for each: the *http.Request is the same, and its
	// context is the connection's, reset for every request (canceled
	// when ServeHTTP returns, or the client leaves, as ever). It also
	// promises that the handler does not change the ResponseWriter's
	// header after WriteHeader (or the first Write), trailers included:
	// the head is then the handler's header itself, not a copy of it.
	Transient bool
	// SendTimeout is how long a write to a client may wait for the
	// client to take bytes before the connection is closed (0: 60 s, as
	// NGINX's send_timeout; see frontSendTimeout).
	SendTimeout time.Duration
	// OnSendTimeout, if set, is called for every connection closed by
	// the send timeout (a metric's Inc).
	OnSendTimeout func()
	// OnReject, if set, is called with the status of every request
	// refused before the handler sees it: a head net/http cannot parse
	// (400, 431, 505, ...), or one the front refuses itself.
	OnReject func(code int)
}

// NewFront returns a Front on ln for srv, and sets srv up for the
// connections it hands over: srv.Handler sees r.TLS on them as on the
// others. The front takes the TLS configuration (srv.TLSConfig: nil for
// plain HTTP), ReadHeaderTimeout, IdleTimeout and MaxHeaderBytes from srv.
// Run it with Serve, never srv.ServeTLS: the front runs the TLS
// handshake.
func NewFront(ln net.Listener, srv *http.Server, o FrontOptions) *Front {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	h := srv.Handler
	fo := frontOptions{name: o.Name, log: o.Log, tls: srv.TLSConfig, readHeaderTimeout: srv.ReadHeaderTimeout,
		idleTimeout: srv.IdleTimeout, maxHeaderBytes: srv.MaxHeaderBytes, transient: o.Transient, sendTimeout: o.SendTimeout, onSendTimeout: o.OnSendTimeout,
		onReject: o.OnReject}
	next := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if next != nil {
			ctx = next(ctx, c)
		}
		return connContext(ctx, c)
	}
	handed := withSendDeadlines(h, o.SendTimeout, o.OnSendTimeout)
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := connFrom(r.Context()); c != nil {
			c.restoreTLS(r)
			defer c.nextRequest()
		}
		handed.ServeHTTP(w, r)
	})
	return &Front{f: newFront(ln, fo, serveHandler(h), !o.Transient), srv: srv}
}

// Smuggled reports whether r, a request a Front handed to net/http, came
// with a framing that cannot be trusted: both Content-Length and
// Transfer-Encoding (net/http drops the Content-Length and reads the body
// chunked, but the pair is the classic request-smuggling vector, which
// HAProxy and AWS ALB refuse with 400, as tether's listeners do), or
// Transfer-Encoding on HTTP/1.0 (net/http drops it and reads the chunked
// body as the next request). A handler should refuse it too, and close
// the connection.
func Smuggled(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.ProtoMinor != 0 && len(r.TransferEncoding) == 0 {
		// Neither HTTP/1.0 nor a chunked body (net/http keeps the
		// Transfer-Encoding of the pair): no need to look.
		return false
	}
	c := connFrom(r.Context())
	return c != nil && c.smuggled(r)
}

// Serve serves until the Front is shut down; it returns
// http.ErrServerClosed then.
func (f *Front) Serve() error { return f.srv.Serve(f) }

// Accept, Close and Addr make a Front the net.Listener of its http.Server.
func (f *Front) Accept() (net.Conn, error) { return f.f.Accept() }

// Close stops accepting; see front.Close.
func (f *Front) Close() error { return f.f.Close() }

// Addr returns the listener's address.
func (f *Front) Addr() net.Addr { return f.f.Addr() }

// Shutdown shuts the front and its server down gracefully until ctx ends,
// then closes every connection left.
func (f *Front) Shutdown(ctx context.Context) error { return f.f.shutdown(ctx, f.srv) }

// serveHandler serves a front's request with h.
func serveHandler(h http.Handler) func(fc *frontConn) step {
	return func(fc *frontConn) step {
		var ctx *handlerCtx
		var r *http.Request
		if fc.f.transient {
			ctx, r = fc.hctx, &fc.req // parseRequest gave it the context
			ctx.reset()
		} else {
			ctx = &handlerCtx{fc: fc}
			r = fc.req.WithContext(ctx) // a copy: its context is its own
		}
		if fc.f.fresh {
			u := new(url.URL) // the handler may keep it
			*u = fc.url
			r.URL = u
		}
		w := &fc.resp
		w.reset(fc, r)
		gone := false
		func() {
			defer func() { gone = ctx.end() }() // a panic too ends the context
			h.ServeHTTP(w, r)
		}()
		w.finish()
		if fc.f.transient && !ctx.reusable() {
			// Functions the context started when it ended may still
			// read it: the next request gets a context of its own.
			fc.hctx = &handlerCtx{fc: fc}
			fc.reqBase = *fc.reqBase.WithContext(fc.hctx)
		}
		if w.err != nil || w.closeAfter || gone {
			return stepClose
		}
		return fc.after()
	}
}

// answer writes one of tether's own answers (writeError and kin) for the
// current request with frontResponse, and returns the status and body
// bytes; write may also write nothing (0, 0), for a client that left.
func (fc *frontConn) answer(write func(http.ResponseWriter)) (int, int64) {
	w := &fc.resp
	w.reset(fc, &fc.req)
	write(w)
	if w.code == 0 && w.written == 0 {
		return 0, 0
	}
	w.finish()
	return w.code, w.written
}

// frontHold is how much body a handler may write before the head must go
// out: a response complete within it gets a Content-Length, a longer one
// without one goes chunked (net/http's bufferBeforeChunkingSize).
const frontHold = 2048

// frontResponse is the http.ResponseWriter of a handler a front serves,
// with net/http's rules: the head is the header as it was at WriteHeader
// (or the first Write); it goes out when the body outgrows frontHold, at
// Flush, or when the handler returns, and until then the body waits in
// hold. A missing Content-Type is sniffed from the first 512 bytes; a body
// complete within frontHold gets a Content-Length, a longer one without
// one goes chunked, as does one with declared trailers.
type frontResponse struct {
	fc         *frontConn
	r          *http.Request
	h          http.Header // the handler's
	head       http.Header // the head, as of WriteHeader: ownHead, or h on a Transient front
	ownHead    http.Header // reused from one response to the next
	code       int         // 0 until WriteHeader
	sent       bool        // the head is written
	chunked    bool        // the body goes chunked
	length     int64       // the declared Content-Length, or -1
	written    int64       // body bytes the handler wrote
	hold       []byte
	trailers   []string   // declared trailer names
	closeAfter bool       // the connection closes after the response
	err        error      // writing to the client failed
	vals       [16]string // lent to the handler: HeaderValues
}

var _ http.Flusher = (*frontResponse)(nil)

func (w *frontResponse) reset(fc *frontConn, r *http.Request) {
	hold, head, h := w.hold[:0], w.ownHead, w.h
	if head == nil {
		head = http.Header{}
	}
	clear(head)
	if h == nil || fc.f.fresh {
		h = http.Header{} // the handler may keep its header
	} else {
		clear(h)
	}
	*w = frontResponse{fc: fc, r: r, h: h, head: head, ownHead: head, length: -1, hold: hold}
}

func (w *frontResponse) Header() http.Header { return w.h }

// HeaderValues returns an empty slice with room for 16 values, which the
// handler may cut its header's values from instead of allocating them:
// the head is written from them after ServeHTTP has returned, when
// nothing the handler allocated per request need still be alive. The
// array is the connection's: it is left as the handler leaves it until
// the response has been written, and lent again for the next one.
func (w *frontResponse) HeaderValues() []string { return w.vals[:0] }

// WriteHeader sends informational (1xx) heads at once, without framing
// fields, and fixes the final status and head.
func (w *frontResponse) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code)) // as net/http
	}
	if w.code != 0 || w.sent {
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		bw := w.fc.bw
		writeStatusLine(bw, code)
		for k, vs := range w.h {
			if k == "Content-Length" || k == "Transfer-Encoding" {
				continue
			}
			for _, v := range vs {
				writeLine(bw, k, v)
			}
		}
		bw.WriteString("\r\n")
		if err := bw.Flush(); err != nil {
			w.err = err
		}
		return
	}
	w.code = code
	if w.fc.f.transient {
		w.head = w.h // the handler changes it no more (FrontOptions.Transient)
	} else {
		for k, v := range w.h {
			w.head[k] = v // changes to the header from now on do not count
		}
	}
	if cl := headerValue(w.head, "Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.length = n
		} else {
			delete(w.head, "Content-Length") // as net/http, which logs it
		}
	}
}

// bodyless reports whether the response may not have a body.
func (w *frontResponse) bodyless() bool {
	return w.code == http.StatusNoContent || w.code == http.StatusNotModified || w.code < 200
}

func (w *frontResponse) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.bodyless() {
		return 0, http.ErrBodyNotAllowed
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.sent {
		if len(w.hold)+len(p) <= frontHold {
			w.hold = append(w.hold, p...)
			return len(p), nil
		}
		w.sendHead(false, p)
	}
	if w.r.Method != "HEAD" {
		// Past base, what reaches the connection is p: the count of it
		// that did, when a write fails (a client that left), is what the
		// caller reports as sent.
		base := w.fc.written + int64(w.fc.bw.Buffered())
		w.writeBody(p)
		if w.err != nil {
			return int(min(max(w.fc.written-base, 0), int64(len(p)))), w.err
		}
	}
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

// Flush sends the head and what the body has so far.
func (w *frontResponse) Flush() {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		w.sendHead(false, nil)
	}
	if w.err == nil {
		if err := w.fc.bw.Flush(); err != nil {
			w.err = err
		}
	}
}

// finish completes the response after the handler returned: the last
// chunk and the trailers, or the close of a body shorter than declared.
func (w *frontResponse) finish() {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		w.sendHead(true, nil)
	}
	if w.chunked && w.err == nil {
		bw := w.fc.bw
		bw.WriteString("0\r\n")
		for _, k := range w.trailers {
			for _, v := range w.h[k] {
				writeLine(bw, k, v)
			}
		}
		for k, vs := range w.h {
			if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpsyntax.IsToken(name) {
				for _, v := range vs {
					writeLine(bw, name, v)
				}
			}
		}
		bw.WriteString("\r\n")
	}
	if w.length >= 0 && w.written < w.length && w.r.Method != "HEAD" && !w.bodyless() {
		w.closeAfter = true // the client waits for bytes that never come: close, as net/http
	}
}

// sendHead writes the head, with the framing net/http would choose (see
// frontResponse). final says the handler has returned; next is body the
// handler is writing now, after hold.
func (w *frontResponse) sendHead(final bool, next []byte) {
	w.sent = true
	h, bw := w.head, w.fc.bw
	head := w.r.Method == "HEAD"
	for _, v := range h["Trailer"] {
		for _, name := range strings.Split(v, ",") {
			if name = http.CanonicalHeaderKey(strings.TrimSpace(name)); httpsyntax.IsToken(name) {
				w.trailers = append(w.trailers, name)
			}
		}
	}
	switch w.code {
	case http.StatusNotModified:
		delete(h, "Content-Type")
		delete(h, "Content-Length")
		delete(h, "Transfer-Encoding")
	case http.StatusNoContent:
		delete(h, "Content-Length")
		delete(h, "Transfer-Encoding")
	default:
		if _, ok := h["Content-Type"]; !ok && headerValue(h, "Content-Encoding") == "" {
			var buf [512]byte
			n := copy(buf[:], w.hold)
			n += copy(buf[n:], next)
			if n > 0 {
				h["Content-Type"] = []string{http.DetectContentType(buf[:n])}
			}
		}
		delete(h, "Transfer-Encoding")
		switch {
		case len(w.trailers) > 0 && !head:
			delete(h, "Content-Length")
			w.length, w.chunked = -1, true
		case w.length >= 0:
		case final && (!head || w.written > 0):
			w.length = w.written
			h["Content-Length"] = []string{strconv.FormatInt(w.written, 10)}
		case !head:
			w.chunked = true
		}
	}
	if hasToken(headerValue(h, "Connection"), "close") {
		w.closeAfter = true
	}
	delete(h, "Connection")
	writeStatusLine(bw, w.code)
	for k, vs := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		for _, v := range vs {
			writeLine(bw, k, v)
		}
	}
	if _, ok := h["Date"]; !ok {
		writeDate(bw)
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if w.closeAfter || w.fc.req.Close || w.fc.f.closing.Load() {
		w.closeAfter = true
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
	if len(w.hold) > 0 && !head {
		hold := w.hold
		w.hold = w.hold[:0]
		w.writeBody(hold)
	}
}

// writeBody writes body bytes after the head, chunked if the body is.
func (w *frontResponse) writeBody(p []byte) {
	bw := w.fc.bw
	var err error
	if w.chunked {
		err = writeChunk(bw, p)
	} else {
		_, err = bw.Write(p)
	}
	if err != nil && w.err == nil {
		w.err = err
	}
}
