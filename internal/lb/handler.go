package lb

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/httpsyntax"
)

// listenerHandler serves one listener: it rejects malformed requests,
// routes, proxies and logs.
type listenerHandler struct {
	srv         *Server
	name        string
	port        string
	tl          trustList
	hsts        string        // Strict-Transport-Security value on https listeners, or ""
	bodyTimeout time.Duration // body_timeout
}

func (lh *listenerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := lh.srv
	c := connFrom(r.Context())
	c.restoreTLS(r)
	if c != nil {
		defer c.nextRequest()
		if c.smuggled(r) {
			reason := "content_length_and_transfer_encoding"
			if !r.ProtoAtLeast(1, 1) {
				reason = "transfer_encoding_http10"
			}
			lh.reject(w, r, http.StatusBadRequest, reason)
			return
		}
	}
	if reason := httpsyntax.RequestProblem(r); reason != "" {
		// HTTP/2 requests Go's server lets through, and CONNECT on any
		// version: a reverse proxy opens no tunnels (501).
		code := http.StatusBadRequest
		if reason == "connect" {
			code = http.StatusNotImplemented
		}
		lh.reject(w, r, code, reason)
		return
	}
	if r.RequestURI == "*" {
		// OPTIONS * (RequestProblem lets no other method have it) asks
		// about the server itself: the listener answers it, as net/http
		// would, but with the listener's Strict-Transport-Security.
		lh.setHSTS(w.Header())
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	gen := s.gen.Load()
	rt := gen.routers[lh.name]
	if rt == nil { // the listener left the config and is shutting down
		lh.setHSTS(w.Header())
		writeError(w, http.StatusServiceUnavailable)
		return
	}
	g, gate := rt.match(hostOnly(r.Host), r.URL.Path)
	if gate != nil {
		// A refusal (401, 403, a redirect to the login page) is an
		// answer of this listener's too; a request let through gets
		// the header with its target's response, unless the target
		// sends its own.
		lh.setHSTS(w.Header())
		if !gate.authorize(w, r, lh) {
			return
		}
		w.Header().Del("Strict-Transport-Security")
	}
	ex := &exchange{g: g, ci: lh.tl.Identify(r), port: lh.port, start: s.clk.Now(), lh: lh, body: watchBody(w, r, lh.bodyTimeout)}
	lrw := &loggingWriter{ResponseWriter: w, upgraded: &s.upgraded,
		websocket: strings.EqualFold(r.Header.Get("Upgrade"), "websocket")}
	// Deferred, as the response may end in a panic (see group.serve):
	// a response cut short has its log line too.
	defer func() { s.logAccess(r, lh.name, ex, lrw.code, lrw.bytes) }()
	g.serve(lrw, r, ex)
}

// setHSTS adds the listener's Strict-Transport-Security header to h, on
// https listeners that have one.
func (lh *listenerHandler) setHSTS(h http.Header) {
	if lh.hsts != "" {
		h.Set("Strict-Transport-Security", lh.hsts)
	}
}

// reject answers a malformed request with a 4xx (with the listener's
// HSTS header), closes the connection and counts it.
func (lh *listenerHandler) reject(w http.ResponseWriter, r *http.Request, code int, reason string) {
	lh.setHSTS(w.Header())
	lh.srv.metrics.rejected.WithLabelValues(lh.name, itoa(code), reason).Inc()
	lh.srv.log.Debug("request rejected", "listener", lh.name, "reason", reason, "client", r.RemoteAddr)
	if r.ProtoMajor == 1 {
		// The connection's framing may be lost. On HTTP/2 the stream
		// alone ends: Connection: close would end every other stream
		// of the connection too (Go's server sends GOAWAY for it).
		w.Header().Set("Connection", "close")
	}
	writeError(w, code)
}

// serve proxies one request to the group's chosen target.
func (g *group) serve(w http.ResponseWriter, r *http.Request, ex *exchange) {
	t, err := g.choose(r, ex)
	if err != nil || t == nil {
		g.noTarget(w, ex)
		return
	}
	inflight := g.begin(ex, t)
	// Deferred: ReverseProxy panics with http.ErrAbortHandler to cut a
	// response whose target stopped mid-body, and the exchange still
	// ends (it leaves tether_requests_in_flight). The break is counted as
	// the front path counts it, unless the client is the one gone.
	defer func() {
		v := recover()
		if v == http.ErrAbortHandler && r.Context().Err() == nil {
			g.srv.metrics.proxyErrors.WithLabelValues(g.name, ex.t.id, "body").Inc()
		}
		g.end(ex, inflight)
		if v != nil {
			panic(v) // on its way to net/http, which ends the connection
		}
	}()
	g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, ex)))
}

// noTarget answers a request for which no target could be chosen.
func (g *group) noTarget(w http.ResponseWriter, ex *exchange) {
	ex.status = http.StatusServiceUnavailable
	g.countDecision(ex)
	g.srv.metrics.requests.WithLabelValues(g.name, "", "503").Inc()
	ex.setHSTS(w.Header())
	writeError(w, http.StatusServiceUnavailable)
}

// begin counts the exchange as in flight to t.
func (g *group) begin(ex *exchange, t *target) prometheus.Gauge {
	ex.t = t
	t.outstanding.Add(1)
	inflight := g.seriesOf(t).inFlight
	inflight.Inc()
	return inflight
}

// end counts the exchange as done; a retry may have moved it to another
// target than the one begin counted.
func (g *group) end(ex *exchange, inflight prometheus.Gauge) {
	t := ex.t
	t.outstanding.Add(-1)
	inflight.Dec()
	t.requests.Add(1)
	if ex.status >= 500 {
		t.failed.Add(1)
	}
	ts := g.seriesOf(t)
	if ex.status == http.StatusOK {
		ts.ok.Inc()
	} else {
		g.srv.metrics.requests.WithLabelValues(g.name, t.id, itoa(ex.status)).Inc()
	}
	ts.duration.Observe(g.srv.clk.Now().Sub(ex.start).Seconds())
}

// countDecision counts the affinity decision of an exchange once, before
// its response goes out.
func (g *group) countDecision(ex *exchange) {
	if ex.counted {
		return
	}
	ex.counted = true
	if ex.dec.outcome == outcomeNone || ex.dec.outcome == "" {
		return
	}
	if ex.dec.outcome == outcomeKept {
		g.keptSeries().Inc() // the common case, looked up once
	} else {
		g.srv.metrics.decisions.WithLabelValues(g.name, ex.dec.outcome, ex.dec.cause).Inc()
	}
	if ex.dec.outcome == outcomeRebound && g.srv.log.Enabled(context.Background(), slog.LevelDebug) {
		target := ""
		if ex.t != nil {
			target = ex.t.id
		}
		g.srv.log.Debug("client rebound", "group", g.name, "cause", ex.dec.cause, "target", target,
			"client", ex.ci.Addr.String())
	}
}

// keptSeries is the decisions series of kept bindings in g.
func (g *group) keptSeries() prometheus.Counter {
	if c := g.kept.Load(); c != nil {
		return *c
	}
	c := g.srv.metrics.decisions.WithLabelValues(g.name, outcomeKept, causeNone)
	g.kept.Store(&c)
	return c
}

// loggingWriter records the status and size of a response. It unwraps for
// http.ResponseController, so flushing and WebSocket hijacking pass through.
type loggingWriter struct {
	http.ResponseWriter
	code  int
	bytes int64

	upgraded  *upgradedConns // where a hijacked connection is tracked
	websocket bool           // the request asked to upgrade to WebSocket
}

func (lw *loggingWriter) WriteHeader(code int) {
	if lw.code == 0 || lw.code < 200 {
		lw.code = code
	}
	if code >= 200 {
		noSniff(lw.Header())
	}
	lw.ResponseWriter.WriteHeader(code)
}

func (lw *loggingWriter) Write(p []byte) (int, error) {
	if lw.code == 0 {
		lw.code = http.StatusOK
		noSniff(lw.Header())
	}
	n, err := lw.ResponseWriter.Write(p)
	lw.bytes += int64(n)
	return n, err
}

// noSniff keeps net/http from adding a Content-Type sniffed from the body
// to a response whose target sent none: the key present with no value
// writes nothing. A sniffed text/html would make an upload served with
// nosniff and no type renderable HTML (RFC 9110 §8.3 leaves sniffing to
// the recipient), and the front's own relay adds none either.
func noSniff(h http.Header) {
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
}

func (lw *loggingWriter) Flush() {
	if f, ok := lw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (lw *loggingWriter) Unwrap() http.ResponseWriter { return lw.ResponseWriter }

// logAccess writes one JSON access log line. It never logs tokens, cookies
// or query strings; the binding is a random id, not a secret.
func (s *Server) logAccess(r *http.Request, listener string, ex *exchange, written int, bytes int64) {
	if s.access == nil {
		return
	}
	code := ex.status
	if written != 0 && code != 499 {
		code = written
	}
	target := ""
	if ex.t != nil {
		target = ex.t.id
	}
	attrs := []slog.Attr{
		slog.String("listener", listener),
		slog.String("client", ex.ci.Addr.String()),
		slog.String("method", r.Method),
		slog.String("host", r.Host),
		slog.String("path", httpsyntax.LogPath(r.URL.EscapedPath())), // as sent: masked decoded, a %2F in a value would end it early
		slog.String("proto", r.Proto),
		slog.Int("status", code),
		slog.Int64("bytes", bytes),
		slog.Float64("duration_ms", float64(s.clk.Now().Sub(ex.start).Microseconds())/1000),
		slog.String("group", ex.g.name),
		slog.String("target", target),
		slog.String("affinity", ex.dec.String()),
	}
	if ex.issued {
		attrs = append(attrs, slog.Bool("token_issued", true))
	}
	if ex.retry != "" {
		attrs = append(attrs, slog.String("retry", ex.retry))
	}
	s.access.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
}

func itoa(code int) string {
	if code >= 100 && code < 600 {
		return statusStrings[code-100]
	}
	return "000"
}

// statusStrings holds the status codes as label values, to spare an
// allocation per request. It is never written after init.
var statusStrings = func() (s [500]string) {
	for i := range s {
		s[i] = strconv.Itoa(i + 100)
	}
	return s
}()
