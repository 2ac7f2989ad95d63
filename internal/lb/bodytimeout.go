package lb

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// idleBody is a request body whose client must send a byte at least
// every timeout (listeners[].body_timeout, NGINX's client_body_timeout):
// each Read moves the connection's (or the HTTP/2 stream's) read deadline
// timeout ahead, so a slow upload that keeps sending is never cut, and a
// client that stalls halfway frees the target connection its request
// holds. Once the body has ended the deadline is cleared: net/http goes on
// reading the connection in the background, to notice a client that
// leaves while the target answers, and must not time out there.
//
// It also tells whether any of the body has been read: a request whose
// target could not be connected to may go to another target with its body
// when none of it was (see group.failover).
type idleBody struct {
	body     io.ReadCloser
	rc       *http.ResponseController
	timeout  time.Duration
	started  atomic.Bool // Read was called
	timedOut atomic.Bool // a Read failed for the deadline
}

// watchBody gives r an idleBody when it has a body, and returns it (nil
// when it has none). HTTP/1.1 only: an HTTP/2 stream's read deadline is a
// timer that fires while no read is pending (a client held back by a slow
// target's flow control would get 408), and setting it once the handler
// has returned, while the upload still reads, crashes Go's HTTP/2 server;
// an HTTP/2 client's stalled body holds one stream, not a connection.
func watchBody(w http.ResponseWriter, r *http.Request, timeout time.Duration) *idleBody {
	if r.ProtoMajor != 1 || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 || timeout <= 0 {
		return nil
	}
	b := &idleBody{body: r.Body, rc: http.NewResponseController(w), timeout: timeout}
	r.Body = b
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.started.Store(true)
	b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	n, err := b.body.Read(p)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.timedOut.Store(true)
	default: // the end, or another failure: nothing more to wait for
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// Close closes the body once reading has begun. A body not read yet stays
// open, for a retry on another target after a failed connection (a
// transport closes the body it was given even when it could not connect);
// net/http closes it when the handler returns.
func (b *idleBody) Close() error {
	b.rc.SetReadDeadline(time.Time{})
	if !b.started.Load() {
		return nil
	}
	return b.body.Close()
}

// unread reports whether b is a body none of which has been read.
func (b *idleBody) unread() bool { return b != nil && !b.started.Load() }

// stalled reports whether b is a body whose client stopped sending.
func (b *idleBody) stalled() bool { return b != nil && b.timedOut.Load() }
