package lb

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"time"

	"github.com/tetherlb/tether/internal/affinity"
)

// exchange is the state of one proxied request, shared by the handler, the
// transport (which may retry on another target) and the response hook.
type exchange struct {
	g       *group
	ci      clientInfo
	port    string // listener port for X-Forwarded-Port
	start   time.Time
	t       *target // the target serving the request now
	dec     decision
	bind    binding
	issued  bool // a token went out with the response
	counted bool // the decision has been counted
	retry   string
	status  int
	lh      *listenerHandler // the listener the request came in on (its HSTS value too)
	memo    *tokenMemo       // the connection's last opened token, or nil
	body    *idleBody        // the request's body under body_timeout, or nil
}

// setHSTS adds the listener's Strict-Transport-Security header unless the
// target sent its own.
func (ex *exchange) setHSTS(h http.Header) {
	if ex.lh.hsts != "" && h.Get("Strict-Transport-Security") == "" {
		h.Set("Strict-Transport-Security", ex.lh.hsts)
	}
}

type exchangeKey struct{}

func exchangeFrom(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*exchange)
	return ex
}

// dialError marks a failure to connect to a target: the request never
// reached it, so it is safe to try another.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connecting to target: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// Upstream connection settings, shared by net/http's Transport and
// h1Transport.
const (
	dialTimeout           = 5 * time.Second  // to connect to a target
	keepAlivePeriod       = 30 * time.Second // TCP keep-alive probes on upstream connections
	maxIdleConns          = 4096             // idle upstream connections, all targets together
	maxIdleConnsPerTarget = 1024
	// idleConnTimeout closes idle upstream connections below the 60s
	// keep-alive of most servers, so tether is the side that closes.
	idleConnTimeout       = 50 * time.Second
	expectContinueTimeout = time.Second // wait for "100 Continue" before sending the body anyway
)

// dialTarget returns the function that connects to targets. A failure to
// connect is a *dialError, unless ctx ended first.
func dialTarget() func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlivePeriod}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil && ctx.Err() == nil {
			return nil, &dialError{err}
		}
		return c, err
	}
}

// newTransport returns a pooled net/http transport: the one TLS-bridged
// groups use, and the fallback of h1Transport for plain-HTTP groups.
// Timeouts: 5s to connect; no response timeout (long polls and streams are
// legitimate); idle upstream connections close after 50s.
func newTransport() *http.Transport {
	return &http.Transport{
		DialContext:           dialTarget(),
		MaxIdleConns:          maxIdleConns,
		MaxIdleConnsPerHost:   maxIdleConnsPerTarget,
		IdleConnTimeout:       idleConnTimeout,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: expectContinueTimeout,
		DisableCompression:    true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(256)},
		HTTP2:                 &http.HTTP2Config{MaxReceiveBufferPerStream: UpstreamH2StreamWindow},
	}
}

// UpstreamH2StreamWindow is the HTTP/2 flow-control window of each
// stream to a target or an origin: what may be buffered for a client
// that does not read, until the send timeout. Go's default, 4 MiB, let
// one client connection's 100 stalled streams hold 400 MB (black-box
// testing: 10 such clients took an edge to 4.3 GB). 128 KiB is twice
// the protocol's initial window (65,535 bytes, RFC 9113 §6.9.2) and
// still passes 128 MB/s per stream to a target 1 ms away (6.4 MB/s at
// 20 ms). The connection's
// window stays Go's, so that one stalled stream cannot stop the others
// that share its connection.
const UpstreamH2StreamWindow = 128 << 10

// bufferPool lends ReverseProxy its 32 KiB copy buffers.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }

// newProxy builds the group's reverse proxy.
func (g *group) newProxy(rt http.RoundTripper, pool httputil.BufferPool) *httputil.ReverseProxy {
	scheme := "http"
	if g.cfg.Protocol == "https" {
		scheme = "https"
	}
	strip := []string{g.sticky.cookie, g.sticky.corsCookie, g.sticky.appCookie}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			ex := exchangeFrom(pr.In.Context())
			pr.Out.URL.Scheme = scheme
			pr.Out.URL.Host = ex.t.address
			pr.Out.Host = pr.In.Host
			setForwarded(pr.Out, pr.In, ex.ci, ex.port)
			// Targets never see tether's own tokens (HAProxy's "indirect").
			if g.sticky.mode != "none" && g.sticky.mode != "source_ip" {
				affinity.StripCookies(pr.Out.Header, strip...)
				if g.sticky.mode == "header" {
					pr.Out.Header.Del(g.sticky.header)
				}
			}
		},
		Transport: &retrier{g: g, next: rt},
		// FlushInterval 0: ReverseProxy already flushes at once for
		// text/event-stream and for bodies of unknown length (streams), and a
		// negative value would cost a timer and a second write per response.
		FlushInterval:  0,
		BufferPool:     pool,
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		// What ReverseProxy logs itself (a target's body that broke off
		// mid-copy) goes to tether's log, not to stderr unformatted.
		ErrorLog: slog.NewLogLogger(g.srv.log.With("target_group", g.name).Handler(), slog.LevelWarn),
	}
}

// retrier sends a request to the exchange's target and, when the target
// cannot be reached and the request's body (if any) has not been read
// from, once more to another target. The failed target is marked unhealthy at once (passive
// health).
type retrier struct {
	g    *group
	next http.RoundTripper
}

func (rt *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := exchangeFrom(req.Context())
	resp, err := rt.next.RoundTrip(req)
	if err == nil || !connectFailure(err) {
		return resp, err
	}
	alt, err := rt.g.failover(req, ex, err)
	if alt == nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	out.URL.Host = alt.address
	if ex.body.unread() {
		// The body the failed attempt was given (ReverseProxy's wrapper of
		// it) is closed now, as RoundTrip must leave it; the request's own,
		// none of which was read, is not (see idleBody.Close).
		out.Body = ex.body
	}
	return rt.next.RoundTrip(out)
}

// failover handles a failure to connect to the exchange's target: the
// target is marked unhealthy at once (passive health) and, unless the
// request has a body that has been read from already (nothing of it was
// sent before the connection failed, so an unread body goes on whole) or
// strict stickiness forbids it, the exchange moves to another target,
// which it returns. Otherwise it
// returns nil and the error to answer with.
func (g *group) failover(req *http.Request, ex *exchange, err error) (*target, error) {
	failed := ex.t
	failed.status().ReportConnectError()
	g.srv.metrics.proxyErrors.WithLabelValues(g.name, failed.id, "connect").Inc()
	g.srv.log.Warn("target unreachable", "group", g.name, "target", failed.id, "err", err)
	if req.Body != nil && req.Body != http.NoBody && !ex.body.unread() {
		return nil, err // a streamed body, once read from, cannot be replayed
	}
	if g.sticky.strict && ex.dec.outcome == outcomeKept {
		ex.dec = decision{outcomeRefused, causeUnhealthy}
		return nil, errStrict
	}
	alt := g.pick(req, ex.ci, ex.start, failed)
	if alt == nil {
		return nil, err
	}
	failed.outstanding.Add(-1)
	alt.outstanding.Add(1)
	ex.t = alt
	ex.retry = "connect"
	g.rebindAfterFailure(ex, alt)
	g.srv.metrics.retries.WithLabelValues(g.name, "connect").Inc()
	return alt, nil
}

// modifyResponse feeds passive health, adds the affinity token and names
// the target.
func (g *group) modifyResponse(resp *http.Response) error {
	g.finishHead(resp.Header, resp.StatusCode, exchangeFrom(resp.Request.Context()))
	return nil
}

// finishHead is the work on a target's response head h, with status
// code, before it goes to the client.
func (g *group) finishHead(h http.Header, code int, ex *exchange) {
	ex.status = code
	if ex.t.status().ReportResponse(code, g.mayEjectPassively) {
		g.srv.log.Warn("target kept in service despite its 5xx responses: passive checks may take out at most half the group's targets",
			"group", g.name, "target", ex.t.id, "passive_5xx", g.cfg.HealthCheck.Passive5xx)
	}
	appCookies := len(h.Values("Set-Cookie"))
	g.respond(h, ex)
	if g.cfg.TargetHeader != "" {
		h.Set(g.cfg.TargetHeader, ex.t.id)
	}
	ex.setHSTS(h)
	g.countDecision(ex)
	if ex.issued {
		// A shared cache must not replay the token that pins this client.
		// A response that also sets the application's own cookies gets no
		// qualified directive: "store it without Set-Cookie" would be
		// tether's word, not the application's, about its cookies.
		switch {
		case g.sticky.mode == "header":
			h.Add("Cache-Control", `no-cache="`+g.sticky.header+`"`)
		case appCookies == 0:
			h.Add("Cache-Control", `no-cache="Set-Cookie"`)
		}
	}
}

// proxyError is the one place that turns a failed exchange into a status:
// 503 when strict stickiness refuses to move, 502 when no target answered,
// 504 on a timeout, nothing when the client went away (logged as 499).
func (g *group) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	g.answerError(w, r, exchangeFrom(r.Context()), err)
}

// answerError answers the failed exchange ex of r, as proxyError.
func (g *group) answerError(w http.ResponseWriter, r *http.Request, ex *exchange, err error) {
	if ex.body.stalled() {
		// The client stopped sending its body (and net/http may have
		// given up on its connection already): 408, as NGINX's
		// client_body_timeout answers, and the target is not blamed.
		ex.status = http.StatusRequestTimeout
		g.countDecision(ex)
		ex.lh.reject(w, r, http.StatusRequestTimeout, "body_timeout")
		return
	}
	if errors.As(err, new(*requestBodyError)) && r.Context().Err() == nil {
		// The client's body, not the target, failed: malformed chunks,
		// or a body cut short by a client still there to be told.
		ex.status = http.StatusBadRequest
		g.countDecision(ex)
		ex.lh.reject(w, r, http.StatusBadRequest, "request_body")
		return
	}
	kind, code := "other", http.StatusBadGateway
	switch {
	case errors.Is(err, errStrict):
		kind, code = "strict", http.StatusServiceUnavailable
	case connectFailure(err):
		kind = "connect"
	case errors.Is(err, context.Canceled) || r.Context().Err() != nil:
		kind, code = "canceled", 499
	case isTimeout(err):
		kind, code = "timeout", http.StatusGatewayTimeout
	}
	if kind != "connect" && kind != "strict" { // connect errors are counted where they happen
		g.srv.metrics.proxyErrors.WithLabelValues(g.name, ex.t.id, kind).Inc()
	}
	ex.status = code
	g.countDecision(ex)
	if code == 499 {
		return
	}
	g.srv.log.Debug("proxy error", "group", g.name, "target", ex.t.id, "kind", kind, "err", err)
	ex.setHSTS(w.Header())
	writeError(w, code)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}

// writeError answers with a short plain-text error page.
func writeError(w http.ResponseWriter, code int) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if code == http.StatusServiceUnavailable && h.Get("Retry-After") == "" { // a caller's own stands
		h.Set("Retry-After", "1")
	}
	body := strconv.Itoa(code) + " " + http.StatusText(code) + "\n"
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}
