package lb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/httpsyntax"
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
	// readTimeout, when not zero, fails an exchange whose target sends
	// nothing for that long, head or body (NewTransportTimeout).
	readTimeout time.Duration

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
	// h1Max1xx bounds the informational responses before the final one:
	// with a ClientTrace that takes them (ReverseProxy forwards 103 Early
	// Hints), each has the head limit to itself, so their number needs a
	// bound of its own (net/http bounds it at 5 without such a trace).
	h1Max1xx = 32
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
	errH1Too1xx        = errors.New("reading response: more than 32 informational (1xx) responses")
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
	return t.RoundTripHeader(req.Context(), req, nil)
}

// RoundTripHeader is RoundTrip for req with the context ctx in place of
// req.Context(), which it ignores (a caller that builds a request for one
// round trip need not copy it with WithContext), and with the response's
// header read into h when h is not nil and the lean transport reads the
// response itself (see Transport.RoundTripHeader).
func (t *h1Transport) RoundTripHeader(ctx context.Context, req *http.Request, h http.Header) (*http.Response, error) {
	return t.roundTrip(ctx, req, nil, h)
}

// RoundTripFields is RoundTripHeader for a request without a body whose
// header fields the caller has already written out: fields holds them as
// lines ("Name: value\r\n"), sent as they are after the request line and
// Host (so without a User-Agent of the transport's own), in place of
// req.Header's. It saves a caller that builds a request for one round trip
// the header map and its sorting. req.Header must be empty (or nil); the
// transport fills it from fields only when it hands req to net/http's.
// A line that is not a valid field fails the round trip before anything
// is sent.
func (t *h1Transport) RoundTripFields(ctx context.Context, req *http.Request, fields []byte, h http.Header) (*http.Response, error) {
	if hasBody(req) || len(req.Header) > 0 || !fieldLinesOK(fields) {
		closeBody(req)
		return nil, fmt.Errorf("%w: fields that are not header lines, or a request with a body or a header", errH1BadHead)
	}
	if req.Header == nil {
		req.Header = make(http.Header, 8)
	}
	if _, ok := h1Plan(req); !ok {
		addFieldLines(req.Header, fields)
		fields = nil
	}
	return t.roundTrip(ctx, req, fields, h)
}

// roundTrip is RoundTripHeader, with the request's header fields taken
// from fields when it is not nil (RoundTripFields).
func (t *h1Transport) roundTrip(ctx context.Context, req *http.Request, fields []byte, h http.Header) (*http.Response, error) {
	length, ok := h1Plan(req)
	if !ok {
		if req.Context() != ctx {
			req = req.WithContext(ctx)
		}
		return t.fallback.RoundTrip(req)
	}
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
	resp, err := t.send(ctx, pc, req, length, fields, h)
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
	resp, err = t.send(ctx, pc, out, length, fields, h)
	if err != nil {
		return nil, h1Unwrap(err)
	}
	resp.Request = req
	return resp, nil
}

// Releases implements Transport.Releases: the lean transport writes a
// request's head before it reads the response, and the exchange that
// holds req ends when the response's body is closed.
func (t *h1Transport) Releases(req *http.Request) bool {
	_, ok := h1Plan(req)
	return ok && !hasBody(req)
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
		req.Method == "CONNECT" || !httpsyntax.IsToken(req.Method) && req.Method != "" ||
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
func (t *h1Transport) send(ctx context.Context, pc *h1Conn, req *http.Request, length int64, fields []byte, h http.Header) (*http.Response, error) {
	x := &h1Exchange{t: t, pc: pc, ctx: ctx, req: req, fields: fields}
	x.quick.header = h
	x.stop = afterCancel(ctx, pc.abort)
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
	var err error
	if x.fields != nil {
		err = pc.writeHeadFields(req, x.fields)
	} else {
		err = pc.writeHead(req, length)
	}
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
	if resp := quickResponse(pc.br, x.req, &x.quick); resp != nil {
		pc.readLimit = math.MaxInt64
		if x.contPending {
			x.proceed(!x.reqClose) // as below; a quick head never asks to close
		}
		return resp, nil
	}
	clear(x.quick.header) // the fields read before quickResponse gave up
	for informational := 0; ; informational++ {
		if informational > h1Max1xx {
			return nil, errH1Too1xx
		}
		resp, err := http.ReadResponse(pc.br, x.req)
		if err != nil {
			if pc.readLimit <= 0 {
				err = errH1HeadTooLarge
			}
			return nil, fmt.Errorf("reading response: %w", err)
		}
		if name, ok := httpsyntax.FieldNamesOK(resp.Header); !ok {
			// As the front's own reader refuses it (parseField). The
			// connection is not reused after an error.
			return nil, fmt.Errorf("reading response: malformed header field name %q", truncate(name))
		}
		code := resp.StatusCode
		if code == http.StatusSwitchingProtocols && (x.fields != nil || x.req.Header.Get("Upgrade") == "") {
			// A switch nobody asked for: relayed, the client would take
			// the connection for a tunnel (the front refuses it too).
			return nil, errors.New("reading response: 101 Switching Protocols to a request without Upgrade")
		}
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
	t   *h1Transport
	pc  *h1Conn
	ctx context.Context
	req *http.Request
	// fields are the request's header lines when the caller wrote them
	// (RoundTripFields), else nil: req.Header's are written.
	fields []byte
	stop   cancelHook // unhooks pc.abort from ctx; Stop is false if it ran
	up     *h1Upload  // the request body, or nil

	reqClose    bool // the request asked to close the connection
	contPending bool // the body waits for "100 Continue"
	keep        bool // both sides allow keep-alive
	body        io.ReadCloser
	quick       quickParts // the response quickResponse read, if it did

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
	if x.stop.Stop() && reuse && x.up.wait() == nil && !pc.sawEOF && pc.br.Buffered() == 0 {
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

// Transport is the HTTP/1.1 transport tether uses for plain-HTTP targets,
// for other parts of tether that proxy to an origin (the edge): the lean
// h1Transport over a pooled net/http Transport for what it does not
// handle. Close it with CloseIdleConnections.
type Transport interface {
	http.RoundTripper
	// RoundTripHeader is RoundTrip with ctx in place of req.Context(),
	// for a caller that may bring the map for the response's header: when
	// h is not nil and the transport reads the response itself, it clears
	// h and reads the header into it instead of a new map, saving the
	// map's allocations; else the response has a header of its own.
	// Either way h stays the caller's.
	RoundTripHeader(ctx context.Context, req *http.Request, h http.Header) (*http.Response, error)
	// RoundTripFields is RoundTripHeader for a request without a body
	// whose header fields the caller has already written as lines
	// ("Name: value\r\n"), sent as they are after the request line and
	// Host, with no field of the transport's own: see
	// h1Transport.RoundTripFields.
	RoundTripFields(ctx context.Context, req *http.Request, fields []byte, h http.Header) (*http.Response, error)
	// Releases reports whether the transport is done with req, a request
	// without a body, once RoundTripHeader has failed or the body of the
	// response it returned is closed: then nothing of req, its URL or its
	// header is read any more, and the caller may reuse them. It is false
	// for a request the transport hands to net/http's, which may still be
	// writing a request when the response has arrived.
	Releases(req *http.Request) bool
	CloseIdleConnections()
}

// NewTransport returns a new Transport whose idle connections age by clk.
// It has no response timeout: a target may take as long as it likes to
// answer, and to send its body (long polls, streams).
func NewTransport(clk clock.Clock) Transport {
	return newH1Transport(newTransport(), clk)
}

// NewTransportTimeout is NewTransport with a read timeout, as CloudFront's
// origin response timeout and NGINX's proxy_read_timeout: a target that
// sends nothing for d, before the response head or between two reads of
// its body, fails the exchange with a timeout (a net.Error whose Timeout
// is true), which is not retried. A read may time out up to d/12 (at most
// 5 seconds) early: the deadline is moved on only that often. net/http's
// transport, for the requests it takes, times out the head alone.
func NewTransportTimeout(clk clock.Clock, d time.Duration) Transport {
	fallback := newTransport()
	fallback.ResponseHeaderTimeout = d
	t := newH1Transport(fallback, clk)
	t.readTimeout = d
	return t
}
