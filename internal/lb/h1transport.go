package lb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherlb/tether/internal/clock"
)

// h1Transport is the HTTP/1.1 RoundTripper of plain-HTTP target groups: a
// leaner path than net/http's Transport for what ReverseProxy sends.
//
// net/http runs a read loop and a write loop goroutine per connection and
// passes every request and response between them and the caller through
// channels. Here the goroutine that calls RoundTrip writes the request head
// and reads the response head itself, on a pooled keep-alive connection,
// and whoever reads Response.Body reads the connection: a request without a
// body costs no goroutine and no channel hand-off. A request body is
// streamed by a goroutine of its own while the caller reads the response,
// because a target may answer before it has read the body (RFC 9112,
// section 9.5) and may make it wait for "100 Continue".
//
// It keeps net/http's rules where they matter:
//   - per target, a LIFO stack of idle connections, bounded per target and
//     overall; a connection idle longer than idleTimeout is closed when met,
//     and a timer prunes the pools while any connection is idle;
//   - a request on a reused connection that dies before the first response
//     byte (the target closed it while idle) is sent again, once, on a new
//     connection, when net/http would retry it (Transport.shouldRetryRequest);
//   - Expect: 100-continue waits for the target's "100 Continue", or for
//     continueTimeout, before the body; 1xx responses go to
//     httptrace.ClientTrace.Got1xxResponse, which ReverseProxy uses to
//     forward 103 Early Hints;
//   - a connection goes back to the pool only once its response body was
//     read to the end, both sides allow keep-alive and the request body was
//     written in full; closing a body early closes the connection;
//   - the request's context closes the connection when it ends.
//
// Where it differs: an idle connection is not watched, so a target that
// closes one is found out when it is reused (and the request retried as
// above), and bytes a target sends on an idle connection, other than a 408,
// would be read as the next response (net/http's read loop discards them);
// a request that finds no idle connection dials its own rather than
// waiting for one to come back; above maxIdle, a returning connection is
// closed instead of the least recently used one.
//
// Requests it does not handle (protocol upgrades, other schemes, CONNECT,
// hosts net/http would rewrite, bodies net/http would probe) go to
// fallback, which keeps its own pool. Idle ages come from clk; the other
// timeouts (dial, 100 Continue, pruning) are network timeouts, in real
// time. Safe for concurrent use.
type h1Transport struct {
	fallback *http.Transport
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	clk      clock.Clock // ages idle connections

	maxIdle         int64         // idle connections across targets
	maxIdlePerHost  int           // idle connections per target
	idleTimeout     time.Duration // idle connections older than this are closed
	continueTimeout time.Duration // how long a body waits for "100 Continue"

	pools     sync.Map     // target address → *h1Pool
	idle      atomic.Int64 // idle connections in all pools
	closeIdle atomic.Bool  // set by CloseIdleConnections until the next request
	pruning   atomic.Bool  // a prune timer is armed
	bufs      sync.Pool    // *[]byte request body copy buffers
}

var _ http.RoundTripper = (*h1Transport)(nil)

const (
	h1BufSize      = 4 << 10  // per-connection read and write buffers, as net/http
	h1MaxHeadBytes = 10 << 20 // response head limit: net/http's default MaxResponseHeaderBytes
	// h1WriteWait is how long a finished response waits for its request
	// body to be written before it gives the connection up (net/http's
	// maxWriteWaitBeforeConnReuse).
	h1WriteWait = 50 * time.Millisecond
)

var (
	errH1HeadTooLarge  = errors.New("reading response: head larger than 10 MiB")
	errH1ClosedBody    = errors.New("http: read on closed response body")
	errH1BodySkipped   = errors.New("request body not sent: the target answered first and closes the connection")
	errH1StaleResponse = errors.New("reading response: 408 on a reused connection")
	errH1BadHead       = errors.New("writing request: invalid head")
	errH1SlowBody      = errors.New("request body not written when the response ended")
)

// newH1Transport returns an h1Transport over fallback with the pool
// settings of newTransport. clk ages idle connections.
func newH1Transport(fallback *http.Transport, clk clock.Clock) *h1Transport {
	return &h1Transport{
		fallback: fallback, dial: dialTarget(), clk: clk,
		maxIdle: maxIdleConns, maxIdlePerHost: maxIdleConnsPerTarget,
		idleTimeout: idleConnTimeout, continueTimeout: expectContinueTimeout,
	}
}

// RoundTrip implements http.RoundTripper.
func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	length, ok := h1Plan(req)
	if !ok {
		return t.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	if ctx.Err() != nil {
		closeBody(req)
		return nil, context.Cause(ctx)
	}
	if t.closeIdle.Load() {
		t.closeIdle.Store(false)
	}
	addr := targetAddr(req.URL)
	p := t.pool(addr)
	pc := p.get(t)
	if pc == nil {
		var err error
		if pc, err = t.dialConn(ctx, p, addr); err != nil {
			closeBody(req)
			return nil, err
		}
	}
	resp, err := t.send(ctx, pc, req, length)
	if err == nil || !h1ShouldRetry(ctx, pc, req, err) {
		return resp, h1Unwrap(err)
	}
	// Connections idle longer than this dead one are likely dead too.
	p.closeOlder(t, pc.idleAt)
	out := req
	if hasBody(req) {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r2 := *req
		r2.Body = body
		out = &r2
	}
	if pc, err = t.dialConn(ctx, p, addr); err != nil {
		closeBody(out)
		return nil, err
	}
	resp, err = t.send(ctx, pc, out, length)
	if err != nil {
		return nil, h1Unwrap(err)
	}
	resp.Request = req
	return resp, nil
}

// CloseIdleConnections closes the idle connections of both pools, this
// one's and the fallback's. Connections in use are closed when their
// exchange ends, until the next request.
func (t *h1Transport) CloseIdleConnections() {
	t.closeIdle.Store(true)
	t.pools.Range(func(_, v any) bool {
		v.(*h1Pool).closeOlder(t, time.Time{})
		return true
	})
	t.fallback.CloseIdleConnections()
}

// h1Plan reports how h1Transport frames req's body (0: none, > 0: that many
// bytes, -1: chunked), or false for a request it leaves to the fallback.
func h1Plan(req *http.Request) (length int64, ok bool) {
	u := req.URL
	if u == nil || req.Header == nil || u.Scheme != "http" || u.Host == "" || req.Cancel != nil ||
		req.Method == "CONNECT" || !isToken(req.Method) && req.Method != "" ||
		len(req.Header["Upgrade"]) > 0 || !plainHost(u.Host) || !plainHost(req.Host) {
		return 0, false
	}
	switch {
	case !hasBody(req):
		if req.ContentLength != 0 {
			return 0, false // net/http reports the mistake
		}
	case len(req.TransferEncoding) > 0:
		if len(req.TransferEncoding) != 1 || req.TransferEncoding[0] != "chunked" {
			return 0, false
		}
		length = -1
	case req.ContentLength > 0:
		length = req.ContentLength
	case req.Method == "" || req.Method == "GET" || req.Method == "HEAD" || req.Method == "DELETE" ||
		req.Method == "OPTIONS" || req.Method == "PROPFIND" || req.Method == "SEARCH":
		return 0, false // net/http probes such a body for emptiness
	default:
		length = -1
	}
	if length >= 0 && len(req.Trailer) > 0 {
		return 0, false
	}
	return length, true
}

// send makes one exchange on pc, which it owns from now on: it goes back
// to the pool or is closed when the exchange ends.
func (t *h1Transport) send(ctx context.Context, pc *h1Conn, req *http.Request, length int64) (*http.Response, error) {
	x := &h1Exchange{t: t, pc: pc, ctx: ctx, req: req}
	x.stop = context.AfterFunc(ctx, pc.abort)
	x.reqClose = req.Close || hasToken(headerValue(req.Header, "Connection"), "close")
	if err := x.writeHead(length); err != nil {
		return nil, err
	}
	if length != 0 {
		x.up = &h1Upload{t: t, pc: pc, req: req, length: length, result: make(chan error, 1)}
		if req.ProtoAtLeast(1, 1) && t.continueTimeout > 0 &&
			hasToken(headerValue(req.Header, "Expect"), "100-continue") {
			x.up.cont = make(chan bool, 1)
			x.contPending = true
		}
		go x.up.run()
	}
	resp, err := x.readResponse()
	if err != nil {
		x.release(false)
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if werr := x.up.poll(); werr != nil && werr != errH1BodySkipped {
			return nil, werr // the body's failure says more than the read's
		}
		return nil, err
	}
	if resp.StatusCode == http.StatusRequestTimeout && pc.reused && isReplayable(req) {
		// Sent by the target when it gave up the idle connection, before it
		// saw this request (net/http drops it while the connection idles).
		x.release(false)
		return nil, errH1StaleResponse
	}
	keep := !resp.Close && !x.reqClose && resp.StatusCode >= 200
	if resp.Body == http.NoBody {
		x.release(keep)
		return resp, nil
	}
	x.keep, x.body = keep, resp.Body
	resp.Body = x
	return resp, nil
}

// writeHead writes and flushes the request head. On failure the request
// body is closed and the exchange ended.
func (x *h1Exchange) writeHead(length int64) error {
	pc, req := x.pc, x.req
	start := pc.nwrite
	err := pc.writeHead(req, length)
	if err == nil {
		err = pc.bw.Flush()
	}
	if err == nil {
		return nil
	}
	closeBody(req)
	if errors.Is(err, errH1BadHead) && pc.nwrite == start {
		pc.bw.Reset(h1Writer{pc}) // nothing went out: the connection is clean
		x.release(true)
		return err
	}
	x.release(false)
	switch {
	case x.ctx.Err() != nil:
		return context.Cause(x.ctx)
	case errors.Is(err, errH1BadHead):
		return err
	case pc.nwrite == start:
		return h1NothingWritten{err}
	}
	return fmt.Errorf("writing request: %w", err)
}

// readResponse reads the response head, passing 1xx responses to the
// request's ClientTrace, and tells a body waiting for "100 Continue"
// whether to go.
func (x *h1Exchange) readResponse() (*http.Response, error) {
	pc := x.pc
	pc.readLimit = h1MaxHeadBytes
	if _, err := pc.br.Peek(1); err != nil {
		return nil, h1FirstByteError{err}
	}
	for {
		resp, err := http.ReadResponse(pc.br, x.req)
		if err != nil {
			if pc.readLimit <= 0 {
				err = errH1HeadTooLarge
			}
			return nil, fmt.Errorf("reading response: %w", err)
		}
		code := resp.StatusCode
		if code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
			pc.readLimit = math.MaxInt64
			if x.contPending {
				// As net/http: send the body anyway if the connection is
				// to be kept, so that it stays in step.
				x.proceed(!resp.Close && !x.reqClose)
			}
			return resp, nil
		}
		trace := httptrace.ContextClientTrace(x.ctx)
		if code == http.StatusContinue && x.contPending {
			if trace != nil && trace.Got100Continue != nil {
				trace.Got100Continue()
			}
			x.proceed(true)
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, err
			}
			pc.readLimit = h1MaxHeadBytes // the caller saw this head; limit the next one alone
		}
	}
}

// h1Exchange is one request on one connection, from its head to the end of
// its response body; it is the Response.Body the caller reads.
type h1Exchange struct {
	t    *h1Transport
	pc   *h1Conn
	ctx  context.Context
	req  *http.Request
	stop func() bool // unhooks pc.abort from ctx; false if it ran
	up   *h1Upload   // the request body, or nil

	reqClose    bool // the request asked to close the connection
	contPending bool // the body waits for "100 Continue"
	keep        bool // both sides allow keep-alive
	body        io.ReadCloser

	mu       sync.Mutex // Read against Close
	rerr     error      // the first Read error; io.EOF at the end
	closed   bool
	released bool
}

// proceed tells a body waiting for "100 Continue" whether to go.
func (x *h1Exchange) proceed(send bool) {
	x.contPending = false
	x.up.cont <- send
}

// release ends the exchange: pc goes back to the pool if reuse holds and
// nothing went wrong, and is closed otherwise.
func (x *h1Exchange) release(reuse bool) {
	if x.released {
		return
	}
	x.released = true
	if x.contPending {
		x.proceed(false)
	}
	pc := x.pc
	if x.stop() && reuse && x.up.wait() == nil && !pc.sawEOF && pc.br.Buffered() == 0 {
		pc.reused = true
		x.t.put(pc)
		return
	}
	pc.conn.Close()
}

// Read reads the response body; at its end the connection goes back to
// the pool.
func (x *h1Exchange) Read(p []byte) (int, error) {
	x.mu.Lock()
	if x.closed || x.rerr != nil {
		err := x.rerr
		if x.closed {
			err = errH1ClosedBody
		}
		x.mu.Unlock()
		return 0, err
	}
	x.mu.Unlock()
	n, err := x.body.Read(p)
	if err != nil {
		x.mu.Lock()
		defer x.mu.Unlock()
		if err != io.EOF && x.ctx.Err() != nil {
			err = context.Cause(x.ctx)
		}
		if x.rerr == nil {
			x.rerr = err
			x.release(err == io.EOF && x.keep)
		}
	}
	return n, err
}

// Close closes the body. Before its end, it closes the connection, as
// net/http does, rather than read what is left.
func (x *h1Exchange) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closed = true
	x.release(false)
	return nil
}

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
			return fmt.Errorf("reading request body: %w", rerr)
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
	_, ok := err.(h1FirstByteError)
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

// h1Conn is one connection to a target, with the buffers that live with it.
type h1Conn struct {
	pool  *h1Pool // where it idles
	conn  net.Conn
	br    *bufio.Reader // reads through the h1Conn: read limit, EOF seen
	bw    *bufio.Writer // writes through h1Writer: bytes written
	abort func()        // closes conn; hooked to each request's context

	idleAt    time.Time // when it last went idle
	reused    bool      // it carried a whole exchange before
	nwrite    int64
	readLimit int64
	sawEOF    bool // the target closed its side
}

func (t *h1Transport) dialConn(ctx context.Context, p *h1Pool, addr string) (*h1Conn, error) {
	c, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, err
	}
	pc := &h1Conn{pool: p, conn: c, readLimit: math.MaxInt64}
	pc.br = bufio.NewReaderSize(pc, h1BufSize)
	pc.bw = bufio.NewWriterSize(h1Writer{pc}, h1BufSize)
	pc.abort = func() { c.Close() }
	return pc, nil
}

// Read is what pc.br reads from.
func (pc *h1Conn) Read(p []byte) (int, error) {
	if pc.readLimit <= 0 {
		return 0, errH1HeadTooLarge
	}
	if int64(len(p)) > pc.readLimit {
		p = p[:pc.readLimit]
	}
	n, err := pc.conn.Read(p)
	if err == io.EOF {
		pc.sawEOF = true
	}
	pc.readLimit -= int64(n)
	return n, err
}

type h1Writer struct{ pc *h1Conn }

func (w h1Writer) Write(p []byte) (int, error) {
	n, err := w.pc.conn.Write(p)
	w.pc.nwrite += int64(n)
	return n, err
}

func closeAll(conns []*h1Conn) {
	for _, pc := range conns {
		pc.conn.Close()
	}
}

// h1Pool holds the idle connections to one target, the most recently used
// on top: under load a few hot connections serve, and the rest age out.
type h1Pool struct {
	mu   sync.Mutex
	idle []*h1Conn // idle[0] went idle first
}

func (t *h1Transport) pool(addr string) *h1Pool {
	if p, ok := t.pools.Load(addr); ok {
		return p.(*h1Pool)
	}
	p, _ := t.pools.LoadOrStore(addr, &h1Pool{})
	return p.(*h1Pool)
}

// get takes the most recently used idle connection, or returns nil. If it
// has expired, so have all below it: they are closed.
func (p *h1Pool) get(t *h1Transport) *h1Conn {
	p.mu.Lock()
	n := len(p.idle)
	if n == 0 {
		p.mu.Unlock()
		return nil
	}
	pc := p.idle[n-1]
	if t.clk.Now().Sub(pc.idleAt) <= t.idleTimeout {
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		t.idle.Add(-1)
		return pc
	}
	expired := p.takeLocked(time.Time{})
	p.mu.Unlock()
	t.idle.Add(-int64(len(expired)))
	closeAll(expired)
	return nil
}

// put makes pc idle on top of its pool, or closes it when the pool is full
// or CloseIdleConnections asked for it. It closes the pool's expired
// connections on the way and makes sure a prune is scheduled.
func (t *h1Transport) put(pc *h1Conn) {
	if t.closeIdle.Load() || t.idle.Load() >= t.maxIdle {
		pc.conn.Close()
		return
	}
	now, p := t.clk.Now(), pc.pool
	p.mu.Lock()
	if len(p.idle) >= t.maxIdlePerHost {
		p.mu.Unlock()
		pc.conn.Close()
		return
	}
	pc.idleAt = now
	p.idle = append(p.idle, pc)
	var expired []*h1Conn
	if cutoff := now.Add(-t.idleTimeout); p.idle[0].idleAt.Before(cutoff) {
		expired = p.takeLocked(cutoff)
	}
	p.mu.Unlock()
	t.idle.Add(1 - int64(len(expired)))
	closeAll(expired)
	if !t.pruning.Load() && t.pruning.CompareAndSwap(false, true) {
		time.AfterFunc(t.idleTimeout, t.prune)
	}
}

// takeLocked removes and returns the connections that went idle at or
// before cutoff (the bottom of the stack); all of them for a zero cutoff.
func (p *h1Pool) takeLocked(cutoff time.Time) []*h1Conn {
	k := len(p.idle)
	if !cutoff.IsZero() {
		k = 0
		for k < len(p.idle) && !p.idle[k].idleAt.After(cutoff) {
			k++
		}
	}
	if k == 0 {
		return nil
	}
	out := slices.Clone(p.idle[:k])
	n := copy(p.idle, p.idle[k:])
	clear(p.idle[n:])
	p.idle = p.idle[:n]
	return out
}

// closeOlder closes the idle connections that went idle at or before
// cutoff; all of them for a zero cutoff.
func (p *h1Pool) closeOlder(t *h1Transport, cutoff time.Time) {
	p.mu.Lock()
	old := p.takeLocked(cutoff)
	p.mu.Unlock()
	t.idle.Add(-int64(len(old)))
	closeAll(old)
}

// prune closes the expired idle connections of every pool, and runs again
// while connections idle, so that none outlives idleTimeout by more than
// half of it. A single timer serves the whole transport.
func (t *h1Transport) prune() {
	t.pruning.Store(false)
	cutoff := t.clk.Now().Add(-t.idleTimeout)
	left := false
	t.pools.Range(func(_, v any) bool {
		p := v.(*h1Pool)
		p.closeOlder(t, cutoff)
		p.mu.Lock()
		left = left || len(p.idle) > 0
		p.mu.Unlock()
		return true
	})
	if left && t.pruning.CompareAndSwap(false, true) {
		time.AfterFunc(t.idleTimeout/2, t.prune)
	}
}

// writeHead writes req's request line and header fields into pc.bw as
// net/http's Request.write does for its Transport: Host from req.Host (else
// the URL's), net/http's User-Agent unless the header has one (an empty one
// means none), the framing fields for length, then the other fields sorted
// by name. It refuses a head that would not mean what it says.
func (pc *h1Conn) writeHead(req *http.Request, length int64) error {
	bw := pc.bw
	method := req.Method
	if method == "" {
		method = "GET"
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	if err := writeRequestURI(bw, req.URL); err != nil {
		return err
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	h := req.Header
	if ua, ok := h["User-Agent"]; !ok {
		bw.WriteString("User-Agent: Go-http-client/1.1\r\n")
	} else if len(ua) > 0 && ua[0] != "" {
		if err := writeField(bw, "User-Agent", ua[0]); err != nil {
			return err
		}
	}
	if req.Close && !hasToken(headerValue(h, "Connection"), "close") {
		bw.WriteString("Connection: close\r\n")
	}
	switch {
	case length < 0:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		if err := writeTrailerNames(bw, req.Trailer); err != nil {
			return err
		}
	case length > 0 || method == "POST" || method == "PUT" || method == "PATCH":
		var num [20]byte
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(num[:0], length, 10))
		bw.WriteString("\r\n")
	}
	if err := writeFields(bw, h, true); err != nil {
		return err
	}
	_, err := bw.WriteString("\r\n")
	return err
}

// writeRequestURI writes u's path and query, as u.RequestURI() without its
// allocation.
func writeRequestURI(bw *bufio.Writer, u *url.URL) error {
	if u.Opaque != "" {
		ruri := u.RequestURI()
		if strings.ContainsFunc(ruri, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("%w: control byte or space in the URL", errH1BadHead)
		}
		bw.WriteString(ruri)
		return nil
	}
	path := u.EscapedPath() // escaped: no control byte, no space
	if path == "" {
		path = "/"
	}
	bw.WriteString(path)
	if u.ForceQuery || u.RawQuery != "" {
		for i := 0; i < len(u.RawQuery); i++ {
			if b := u.RawQuery[i]; b <= ' ' || b == 0x7f {
				return fmt.Errorf("%w: control byte or space in the URL", errH1BadHead)
			}
		}
		bw.WriteByte('?')
		bw.WriteString(u.RawQuery)
	}
	return nil
}

// writeFields writes the fields of h sorted by name, as net/http does. With
// head set it skips those writeHead writes itself.
func writeFields(bw *bufio.Writer, h http.Header, head bool) error {
	var arr [32]string
	keys := arr[:0]
	for k := range h {
		switch {
		case head && (k == "Host" || k == "User-Agent" || k == "Content-Length" ||
			k == "Transfer-Encoding" || k == "Trailer"):
		default:
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !isToken(k) {
			return fmt.Errorf("%w: field name %q", errH1BadHead, k)
		}
		for _, v := range h[k] {
			if err := writeField(bw, k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeField writes one field line. It refuses a value with a control
// byte other than tab (CR, LF and NUL among them), which could end the
// line or the head early: net/http refuses the same.
func writeField(bw *bufio.Writer, k, v string) error {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return fmt.Errorf("%w: field value for %q", errH1BadHead, k)
		}
	}
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
	return nil
}

// writeTrailerNames announces the trailers of a chunked body.
func writeTrailerNames(bw *bufio.Writer, tr http.Header) error {
	if len(tr) == 0 {
		return nil
	}
	keys := make([]string, 0, len(tr))
	for k := range tr {
		k = http.CanonicalHeaderKey(k)
		if !isToken(k) || k == "Transfer-Encoding" || k == "Trailer" || k == "Content-Length" {
			return fmt.Errorf("%w: trailer %q", errH1BadHead, k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	bw.WriteString("Trailer: ")
	bw.WriteString(strings.Join(keys, ","))
	bw.WriteString("\r\n")
	return nil
}

// isToken reports whether s is an RFC 9110 token: a valid method or field
// name.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !tokenBytes[s[i]] {
			return false
		}
	}
	return s != ""
}

// plainHost reports whether a Host needs none of the rewriting net/http
// does (IDNA, IPv6 zones, blanking invalid hosts).
func plainHost(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plainHostBytes[s[i]] {
			return false
		}
	}
	return true
}

// tokenBytes and plainHostBytes are the bytes allowed in a token and in a
// plain Host. They are never written after init.
var (
	tokenBytes     = byteSet("!#$%&'*+-.^_`|~")
	plainHostBytes = byteSet("-._~:[]!$&'()*+,;=")
)

// byteSet returns the set of ASCII letters, digits and extra.
func byteSet(extra string) (set [256]bool) {
	for b := '0'; b <= 'z'; b++ {
		set[b] = '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
	}
	for i := range len(extra) {
		set[extra[i]] = true
	}
	return set
}

func headerValue(h http.Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// hasToken reports whether the comma or space separated list v holds
// token, in any case (net/http's hasToken).
func hasToken(v, token string) bool {
	for sp := 0; sp+len(token) <= len(v); sp++ {
		if sp > 0 && !isListSep(v[sp-1]) {
			continue
		}
		if end := sp + len(token); end != len(v) && !isListSep(v[end]) {
			continue
		}
		if strings.EqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

func isListSep(b byte) bool { return b == ' ' || b == ',' || b == '\t' }
