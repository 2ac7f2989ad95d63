package lb

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Front serves an http.Handler on tether's own HTTP/1.1 loop, as
// listeners are served (see front): requests without a body, in origin
// form, with a plain Host, are read by the front and passed to the
// handler with a lean ResponseWriter; at the first other request the
// connection goes to an http.Server, whose listener the Front is. The edge
// serves its listeners this way.
//
// Where it differs from net/http for the requests it serves: the
// request's context is not canceled when the client goes away (a write
// to a closed connection fails instead), there is no Hijacker, and
// response fields are written in no particular order.
type Front struct{ f *front }

// FrontOptions are a Front's settings, as the http.Server's.
type FrontOptions struct {
	Name              string // for logs
	Log               *slog.Logger
	TLS               *tls.Config // nil: plain HTTP
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
}

// NewFront returns a Front serving h on ln. Serve the http.Server that
// takes the connections the front hands over on the Front itself, with
// Serve, never ServeTLS: the front runs the TLS handshake.
func NewFront(ln net.Listener, h http.Handler, o FrontOptions) *Front {
	fo := frontOptions{name: o.Name, log: o.Log, tls: o.TLS, readHeaderTimeout: o.ReadHeaderTimeout,
		idleTimeout: o.IdleTimeout, maxHeaderBytes: o.MaxHeaderBytes}
	return &Front{newFront(ln, fo, serveHandler(h), true)}
}

// Accept, Close and Addr make a Front the net.Listener of its http.Server.
func (f *Front) Accept() (net.Conn, error) { return f.f.Accept() }

// Close stops accepting; see front.Close.
func (f *Front) Close() error { return f.f.Close() }

// Addr returns the listener's address.
func (f *Front) Addr() net.Addr { return f.f.Addr() }

// Shutdown shuts srv and the front down gracefully until ctx ends, then
// closes every connection left.
func (f *Front) Shutdown(ctx context.Context, srv *http.Server) error {
	err := f.f.shutdownWith(ctx, srv.Shutdown)
	if err != nil {
		srv.Close()
		f.f.abort()
	}
	return err
}

// serveHandler serves a front's request with h.
func serveHandler(h http.Handler) func(fc *frontConn) step {
	return func(fc *frontConn) step {
		r := new(http.Request)
		*r = fc.req
		u := new(url.URL)
		*u = fc.url
		r.URL = u
		w := &fc.resp
		w.reset(fc, r)
		h.ServeHTTP(w, r)
		w.finish()
		if w.err != nil || w.closeAfter {
			return stepClose
		}
		return fc.after()
	}
}

// frontHold is how much body a handler may write before the head must go
// out: a response complete within it gets a Content-Length, a longer one
// without one goes chunked (net/http's bufferBeforeChunkingSize).
const frontHold = 2048

// frontResponse is the http.ResponseWriter of a handler a front serves.
// The head goes out when the body outgrows frontHold, at Flush, or when
// the handler returns; until then the body waits in hold.
type frontResponse struct {
	fc         *frontConn
	r          *http.Request
	h          http.Header
	code       int   // 0 until WriteHeader
	sent       bool  // the head is written
	chunked    bool  // the body goes chunked
	length     int64 // the declared Content-Length, or -1
	written    int64 // body bytes the handler wrote
	hold       []byte
	closeAfter bool  // the connection closes after the response
	err        error // writing to the client failed
}

var _ http.Flusher = (*frontResponse)(nil)

func (w *frontResponse) reset(fc *frontConn, r *http.Request) {
	hold := w.hold[:0]
	*w = frontResponse{fc: fc, r: r, h: http.Header{}, length: -1, hold: hold}
}

func (w *frontResponse) Header() http.Header { return w.h }

// WriteHeader sends informational (1xx) heads at once and records the
// final status.
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
	if cl := w.h.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.length = n
		} else {
			w.h.Del("Content-Length") // as net/http, which logs it
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
	if w.r.Method == "HEAD" {
		return len(p), nil
	}
	if !w.sent {
		if len(w.hold)+len(p) <= frontHold {
			w.hold = append(w.hold, p...)
			return len(p), nil
		}
		w.sendHead(false)
	}
	w.writeBody(p)
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
		w.sendHead(false)
	}
	if w.err == nil {
		if err := w.fc.bw.Flush(); err != nil {
			w.err = err
		}
	}
}

// finish completes the response after the handler returned.
func (w *frontResponse) finish() {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		w.sendHead(true)
	}
	if w.chunked && w.err == nil {
		w.fc.bw.WriteString("0\r\n\r\n")
	}
	if w.length >= 0 && w.written < w.length && w.r.Method != "HEAD" && !w.bodyless() {
		w.closeAfter = true // the client waits for bytes that never come: close, as net/http
	}
}

// sendHead writes the head, with the framing net/http would choose: the
// declared Content-Length; for a complete response (final) the length of
// what was written; else chunked. Like net/http it sniffs a missing
// Content-Type and adds Date.
func (w *frontResponse) sendHead(final bool) {
	w.sent = true
	h, bw := w.h, w.fc.bw
	head := w.r.Method == "HEAD"
	if !w.bodyless() {
		if _, ok := h["Content-Type"]; !ok && h.Get("Content-Encoding") == "" && len(w.hold) > 0 {
			h.Set("Content-Type", http.DetectContentType(w.hold))
		}
		switch {
		case w.length >= 0:
		case final && (!head || w.written > 0):
			w.length = w.written
			h.Set("Content-Length", strconv.FormatInt(w.written, 10))
		case !head:
			w.chunked = true
		}
	} else {
		h.Del("Content-Length")
	}
	h.Del("Transfer-Encoding")
	if hasToken(h.Get("Connection"), "close") {
		w.closeAfter = true
	}
	h.Del("Connection")
	writeStatusLine(bw, w.code)
	for k, vs := range h {
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
		var num [16]byte
		bw.Write(strconv.AppendInt(num[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
		bw.Write(p)
		_, err = bw.WriteString("\r\n")
	} else {
		_, err = bw.Write(p)
	}
	if err != nil && w.err == nil {
		w.err = err
	}
}
