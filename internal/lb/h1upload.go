package lb

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// h1Upload writes a request body, on a goroutine of its own.
type h1Upload struct {
	t      *h1Transport
	pc     *h1Conn
	req    *http.Request
	length int64      // -1: chunked
	cont   chan bool  // with Expect: 100-continue, whether to send
	result chan error // the outcome, sent once

	done bool  // result was received (by the exchange)
	err  error // what it was
}

func (u *h1Upload) run() {
	err := u.write()
	u.result <- err
	if err != nil && err != errH1BodySkipped {
		u.pc.conn.Close() // the target has part of a request
	}
}

// poll returns the outcome if the body is done, nil if it is not or if
// there is no body (nil u).
func (u *h1Upload) poll() error {
	if u == nil {
		return nil
	}
	if !u.done {
		select {
		case u.err = <-u.result:
			u.done = true
		default:
		}
	}
	return u.err
}

// wait returns nil once the body is written in full, waiting h1WriteWait
// at most. Nil u has no body.
func (u *h1Upload) wait() error {
	if u == nil {
		return nil
	}
	if err := u.poll(); u.done {
		return err
	}
	timer := time.NewTimer(h1WriteWait)
	defer timer.Stop()
	select {
	case u.err = <-u.result:
		u.done = true
		return u.err
	case <-timer.C:
		return errH1SlowBody
	}
}

// write streams the body: chunked ones chunk by chunk, each flushed, as
// net/http does, then the trailers.
func (u *h1Upload) write() (err error) {
	body := u.req.Body
	defer func() {
		if cerr := body.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if u.cont != nil && !u.waitContinue() {
		return errH1BodySkipped
	}
	bp := u.t.buffer()
	defer u.t.bufs.Put(bp)
	buf, bw := *bp, u.pc.bw
	var n int64
	for {
		m, rerr := body.Read(buf)
		if m > 0 {
			n += int64(m)
			if u.length >= 0 && n > u.length {
				return fmt.Errorf("writing request: body longer than Content-Length %d", u.length)
			}
			if err := u.writeChunk(bw, buf[:m]); err != nil {
				return fmt.Errorf("writing request body: %w", err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return &requestBodyError{rerr}
		}
	}
	if u.length >= 0 && n != u.length {
		return fmt.Errorf("writing request: Content-Length %d, body %d bytes", u.length, n)
	}
	if u.length < 0 {
		bw.WriteString("0\r\n")
		if err := writeFields(bw, u.req.Trailer, false); err != nil {
			return err
		}
		bw.WriteString("\r\n")
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing request body: %w", err)
	}
	return nil
}

// requestBodyError is the client's request body failing to read: a
// malformed chunked body, or one cut short. The client gets a 400 for it
// (or nothing, when it went away); the target is not blamed.
type requestBodyError struct{ err error }

func (e *requestBodyError) Error() string { return "reading request body: " + e.err.Error() }
func (e *requestBodyError) Unwrap() error { return e.err }

// writeChunk writes p as it goes on the wire: as it is in a body of known
// length, as a chunk, flushed, otherwise.
func (u *h1Upload) writeChunk(bw *bufio.Writer, p []byte) error {
	if u.length >= 0 {
		_, err := bw.Write(p)
		return err
	}
	var hex [16]byte
	bw.Write(strconv.AppendInt(hex[:0], int64(len(p)), 16))
	bw.WriteString("\r\n")
	bw.Write(p)
	bw.WriteString("\r\n")
	return bw.Flush()
}

// waitContinue waits for the response head's verdict on the body, or for
// continueTimeout, after which the body goes anyway.
func (u *h1Upload) waitContinue() bool {
	timer := time.NewTimer(u.t.continueTimeout)
	defer timer.Stop()
	select {
	case ok := <-u.cont:
		return ok
	case <-timer.C:
		return true
	}
}

func (t *h1Transport) buffer() *[]byte {
	if bp, ok := t.bufs.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, 32<<10)
	return &b
}

// h1NothingWritten and h1FirstByteError mark the failures after which a
// request may be sent again on a new connection; h1Unwrap removes them.
type h1NothingWritten struct{ err error }

func (e h1NothingWritten) Error() string { return "writing request: " + e.err.Error() }
func (e h1NothingWritten) Unwrap() error { return e.err }

type h1FirstByteError struct{ err error }

func (e h1FirstByteError) Error() string { return "reading response: " + e.err.Error() }
func (e h1FirstByteError) Unwrap() error { return e.err }

func h1Unwrap(err error) error {
	switch e := err.(type) {
	case h1NothingWritten:
		return fmt.Errorf("writing request: %w", e.err)
	case h1FirstByteError:
		return fmt.Errorf("reading response: %w", e.err)
	}
	return err
}

// h1ShouldRetry is net/http's Transport.shouldRetryRequest: only a reused
// connection that failed before the first response byte, and only for a
// request that is safe to send twice, or that never left.
func h1ShouldRetry(ctx context.Context, pc *h1Conn, req *http.Request, err error) bool {
	if !pc.reused || ctx.Err() != nil {
		return false
	}
	if _, ok := err.(h1NothingWritten); ok {
		return !hasBody(req) || req.GetBody != nil
	}
	if !isReplayable(req) {
		return false
	}
	fb, ok := err.(h1FirstByteError)
	if ok && isTimeout(fb.err) {
		return false // the target is slow, not gone: a retry would wait as long
	}
	return ok || err == errH1StaleResponse
}

// isReplayable is net/http's Request.isReplayable.
func isReplayable(req *http.Request) bool {
	if hasBody(req) && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "", "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	_, ok := req.Header["Idempotency-Key"]
	_, xok := req.Header["X-Idempotency-Key"]
	return ok || xok
}

func hasBody(req *http.Request) bool { return req.Body != nil && req.Body != http.NoBody }

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// targetAddr is the host:port to dial for u (port 80 by default).
func targetAddr(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}
