package lb

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// front serves the connections of an http or https listener, or of an
// edge (Front), on tether's own HTTP/1.1 loop (frontConn). On https it
// runs the TLS handshake and passes HTTP/2 connections on as they are. It
// serves the common request itself with serveReq (listeners: proxying one
// without a body to a plain-HTTP target group, with a few allocations and
// no goroutine besides the connection's own). At the first request it
// does not handle (a body, an upgrade, Expect, HTTP/1.0, an authorizer, a
// malformed or oversized head, ...) it hands the connection, with the
// bytes it has read, to the listener's net/http server, which serves it
// from then on: front is that server's net.Listener, and Accept returns
// such connections.
//
// Lifecycle, as net/http's: Close stops accepting, closes idle connections
// and makes busy ones close after their response; Accept fails once the
// accept loop and every connection of the front have ended, so that
// http.Server.Shutdown, which waits for its listeners, also waits for
// them; abort closes every connection at once.
type front struct {
	src               net.Listener // the socket handle
	tls               *tls.Config  // https listeners, else nil
	serveReq          func(fc *frontConn) step
	fresh             bool   // each request gets its own header, URL and response header (handlers may keep them)
	transient         bool   // FrontOptions.Transient: a response's head is the handler's header, not a copy, and the connection's request and context are reused
	name              string // the listener's, for logs
	log               *slog.Logger
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	headLimit         int // the longest request head the front reads
	onReject          func(code int)
	// sendTimeout is how long a write to a client may wait for the
	// client to take bytes before the connection is given up
	// (watchSends); ticks counts watchSends's ticks, from 1.
	sendTimeout   time.Duration
	onSendTimeout func()
	ticks         atomic.Int64

	handoff chan net.Conn
	closing atomic.Bool
	start   sync.Once

	mu     sync.Mutex
	conns  map[*frontConn]struct{}
	active int           // the accept loop and the connections being served
	done   chan struct{} // closed when closing and active is 0
	finish func()        // closes done, once
}

// frontOptions are a front's settings.
type frontOptions struct {
	name              string // for logs
	log               *slog.Logger
	tls               *tls.Config // nil: plain HTTP
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration // 0: readHeaderTimeout, as net/http
	maxHeaderBytes    int           // 0: frontMaxHead
	transient         bool          // see front.transient
	onReject          func(code int)
	sendTimeout       time.Duration // 0: frontSendTimeout
	onSendTimeout     func()        // counts a connection given up by watchSends; may be nil
}

// newFront returns a front on src that serves each request it handles
// with serveReq. fresh gives each request its own header map and values,
// URL and response header, for handlers that may keep them past their
// return.
func newFront(src net.Listener, o frontOptions, serveReq func(*frontConn) step, fresh bool) *front {
	idle := o.idleTimeout
	if idle <= 0 {
		idle = o.readHeaderTimeout
	}
	f := &front{src: src, tls: o.tls, serveReq: serveReq, fresh: fresh, transient: o.transient, name: o.name, log: o.log,
		readHeaderTimeout: o.readHeaderTimeout, idleTimeout: idle, headLimit: frontMaxHead, onReject: o.onReject,
		handoff: make(chan net.Conn), conns: map[*frontConn]struct{}{}, active: 1, done: make(chan struct{})}
	if o.maxHeaderBytes > 0 && o.maxHeaderBytes < frontMaxHead {
		f.headLimit = o.maxHeaderBytes
	}
	f.finish = sync.OnceFunc(func() { close(f.done) })
	f.sendTimeout, f.onSendTimeout = o.sendTimeout, o.onSendTimeout
	if f.sendTimeout <= 0 {
		f.sendTimeout = frontSendTimeout
	}
	f.ticks.Store(1)
	return f
}

var _ net.Listener = (*front)(nil)

// Accept returns the next connection handed to net/http. The first call
// starts accepting on the socket.
func (f *front) Accept() (net.Conn, error) {
	f.start.Do(func() {
		go f.acceptLoop()
		go f.watchSends()
	})
	select {
	case c := <-f.handoff:
		return c, nil
	case <-f.done:
		return nil, net.ErrClosed
	}
}

func (f *front) acceptLoop() {
	defer f.release()
	for {
		c, err := f.src.Accept()
		if err != nil {
			return
		}
		fc := newFrontConn(f, c)
		f.mu.Lock()
		f.conns[fc] = struct{}{}
		f.active++
		f.mu.Unlock()
		go fc.serve()
	}
}

// release ends one active user: the accept loop or a connection.
func (f *front) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.active--
	if f.active == 0 && f.closing.Load() {
		f.finish()
	}
}

// remove forgets fc, which has ended or was handed to net/http.
func (f *front) remove(fc *frontConn) {
	f.mu.Lock()
	delete(f.conns, fc)
	f.mu.Unlock()
	f.release()
}

// pass hands c to net/http, or closes it when net/http no longer accepts.
func (f *front) pass(c net.Conn) {
	select {
	case f.handoff <- c:
	case <-f.done:
		c.Close()
	}
}

// Close stops accepting, closes the idle connections and makes the others
// close after their response.
func (f *front) Close() error {
	if f.closing.Swap(true) {
		return nil
	}
	err := f.src.Close()
	f.mu.Lock()
	for fc := range f.conns {
		fc.closeIfIdle()
	}
	if f.active == 0 {
		f.finish()
	}
	f.mu.Unlock()
	return err
}

// abort closes every connection of the front, busy or not.
func (f *front) abort() {
	f.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for fc := range f.conns {
		fc.raw.Close()
	}
}

// shutdown shuts the front and srv, the server it hands connections to,
// down gracefully until ctx ends, then closes every connection left.
//
// It returns an error when ctx ended with requests still in flight, on
// the front's connections or srv's: they were cut short.
func (f *front) shutdown(ctx context.Context, srv *http.Server) error {
	var cut atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		cut.Store(len(f.conns) > 0)
		f.mu.Unlock()
		f.abort()
	})
	defer stop()
	f.Close()
	err := srv.Shutdown(ctx)
	if err != nil {
		srv.Close()
		f.abort()
	}
	if err == nil && cut.Load() {
		err = fmt.Errorf("connections still busy were closed: %w", context.Cause(ctx))
	}
	return err
}

// Addr returns the socket's address.
func (f *front) Addr() net.Addr { return f.src.Addr() }

// prefixConn replays bytes a front read before it handed the connection to
// net/http.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
