package lb

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/tetherlb/tether/internal/config"
)

// frontSendTimeout is how long a front's write to a client may wait for
// the client to take bytes, as NGINX's send_timeout (60 s by default) and
// HAProxy's timeout client: a client that stops reading a response would
// otherwise hold its connection and goroutine, and, while a target's body
// is relayed to it, the target's connection, for ever. It is the time
// between two pieces the client takes, not the whole response's: a slow
// client that keeps reading is never cut. It is a listener's default
// send_timeout; FrontOptions.SendTimeout changes it for a Front.
const frontSendTimeout = config.DefaultSendTimeout

const (
	// sendTicks is how many times per sendTimeout watchSends looks: a
	// stalled write is given up between 1 and 1.1 times sendTimeout after
	// it began.
	sendTicks = 10
	// sendPiece is the most a connection writes at once, so that a long
	// write of a client that reads slowly is seen to progress.
	sendPiece = 64 << 10
)

// watchSends gives up the connections whose client has taken nothing of a
// write for sendTimeout: their write deadline is set in the past, so that
// the write fails and the connection ends as when the client goes away.
// It runs until the front is done.
func (f *front) watchSends() {
	if f.sendTimeout <= 0 {
		return
	}
	t := time.NewTicker(f.sendTimeout / sendTicks)
	defer t.Stop()
	for {
		select {
		case <-f.done:
			return
		case <-t.C:
		}
		now := f.ticks.Add(1)
		f.mu.Lock()
		for fc := range f.conns {
			if began := fc.sending.Load(); began != 0 && now-began > sendTicks && fc.sending.CompareAndSwap(began, 0) {
				// The swap makes it once per stalled write, however
				// many ticks the write takes to fail. It is counted
				// before the write fails, so that whoever sees the
				// failure sees the count.
				if f.onSendTimeout != nil {
					f.onSendTimeout()
				}
				fc.raw.SetWriteDeadline(time.Unix(1, 0))
				f.log.Debug("client took no bytes for the send timeout: connection closed", "listener", f.name,
					"client", fc.remote, "timeout", f.sendTimeout)
			}
		}
		f.mu.Unlock()
	}
}

// sendWatch is what a connection's buffered writer writes to: the
// connection, in pieces of at most sendPiece bytes, each stamped with the
// front's tick while it is being written (frontConn.sending), for
// watchSends.
type sendWatch struct{ fc *frontConn }

func (s sendWatch) Write(p []byte) (int, error) {
	fc := s.fc
	n, err := writePieces(p, func(piece []byte) (int, error) {
		fc.sending.Store(fc.f.ticks.Load())
		defer fc.sending.Store(0)
		return fc.rw.Write(piece)
	})
	fc.written += int64(n)
	return n, err
}

// writePieces writes p with write in pieces of at most sendPiece bytes,
// until it has all gone or a write fails.
func writePieces(p []byte, write func(piece []byte) (int, error)) (int, error) {
	written := 0
	for len(p) > 0 {
		n, err := write(p[:min(len(p), sendPiece)])
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// withSendDeadlines wraps h, the handler of the requests a front hands to
// net/http (HTTP/2, HTTP/1.1 requests with a body), so that their
// responses get the send timeout too: each write, in pieces of at most
// sendPiece bytes, must go out within timeout, through the response's
// write deadline (http.ResponseController), which is cleared again after
// it (on HTTP/2 a deadline resets the stream when it passes, write or
// not, and a stream may rightly be quiet for long). On HTTP/2 that also
// covers a client that stops granting flow control. onTimeout, if set,
// counts the writes that ran out of time.
//
// The end of an HTTP/1.1 response, which net/http writes after the
// handler returns (what its buffers still hold, the last chunk), goes out
// within the timeout too. A response whose framing is settled (its head
// sent, or a Content-Length declared) is flushed before the handler
// returns, under the timeout and counted; then, for the rest, or for a small response
// whose Content-Length net/http is still to work out (flushing it would
// make it chunked), the connection keeps a deadline of timeout from now.
// The next request's handler clears it first: a handed-off connection is
// net/http's for good, so nothing else writes to it in between but
// net/http's own answers to a malformed next request, which a deadline
// passed by then would cut short (the connection is closed instead).
func withSendDeadlines(h http.Handler, timeout time.Duration, onTimeout func()) http.Handler {
	if timeout <= 0 {
		timeout = frontSendTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		rc.SetWriteDeadline(time.Time{})
		d := &deadlineWriter{ResponseWriter: w, rc: rc, timeout: timeout, onTimeout: onTimeout}
		if r.ProtoMajor != 1 {
			// HTTP/2 sends a stream's end on its own (a client that
			// withholds flow control for it holds that stream alone,
			// not a goroutine), and a deadline set now could reach a
			// stream that has already ended, whose timer would then
			// live on until it fired.
			defer rc.SetWriteDeadline(time.Time{})
			h.ServeHTTP(d, r)
			return
		}
		defer func() { rc.SetWriteDeadline(time.Now().Add(timeout)) }()
		h.ServeHTTP(d, r)
		if !d.hijacked && (d.flushed || d.written > headHeld || w.Header().Get("Content-Length") != "") {
			d.Flush()
		}
	})
}

// headHeld is more than net/http buffers of an HTTP/1.1 response before
// it sends the head: past it, the framing is settled.
const headHeld = 4 << 10

// deadlineWriter is the ResponseWriter withSendDeadlines gives a handler.
type deadlineWriter struct {
	http.ResponseWriter
	rc        *http.ResponseController
	timeout   time.Duration
	onTimeout func()
	timedOut  bool

	written  int64 // bytes the handler wrote
	flushed  bool  // the handler flushed
	hijacked bool  // the handler took the connection
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	return writePieces(p, func(piece []byte) (int, error) {
		d.rc.SetWriteDeadline(time.Now().Add(d.timeout)) // ErrNotSupported: no deadline, as before
		defer d.rc.SetWriteDeadline(time.Time{})
		n, err := d.ResponseWriter.Write(piece)
		d.written += int64(n)
		d.count(err)
		return n, err
	})
}

// Flush sends what is buffered, within the timeout too.
func (d *deadlineWriter) Flush() {
	d.flushed = true
	d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	err := d.rc.Flush()
	d.rc.SetWriteDeadline(time.Time{})
	d.count(err)
}

// Unwrap lets http.ResponseController (ReverseProxy's flushes) reach the
// writer below.
func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// Hijack hands over the connection of an upgrade (WebSocket) with the send
// timeout still on it: each write to the client, in pieces of at most
// sendPiece bytes, must go out within the timeout, so that a client that
// stops reading an upgraded connection does not hold it, and its target's,
// for ever (NGINX applies its send_timeout to upgraded connections too). A
// quiet connection is not cut: the deadline is set only while a write
// waits.
func (d *deadlineWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(d.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	d.hijacked = true
	dc := &deadlineConn{Conn: c, timeout: d.timeout, onTimeout: d.onTimeout}
	rw.Writer.Reset(dc) // writes through rw's buffer must go through dc too
	return dc, rw, nil
}

// deadlineConn is a hijacked connection whose writes have the send timeout.
type deadlineConn struct {
	net.Conn
	timeout   time.Duration
	onTimeout func()
	timedOut  atomic.Bool
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	return writePieces(p, func(piece []byte) (int, error) {
		c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
		defer c.Conn.SetWriteDeadline(time.Time{})
		n, err := c.Conn.Write(piece)
		if err != nil && c.onTimeout != nil && errors.Is(err, os.ErrDeadlineExceeded) && c.timedOut.CompareAndSwap(false, true) {
			c.onTimeout()
		}
		return n, err
	})
}

// count counts a write that failed for its deadline, once per response.
func (d *deadlineWriter) count(err error) {
	if err != nil && !d.timedOut && d.onTimeout != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		d.timedOut = true
		d.onTimeout()
	}
}
