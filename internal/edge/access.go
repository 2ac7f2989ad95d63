package edge

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"github.com/tetherlb/tether/internal/httpsyntax"
)

// accessWriter records the status and body bytes of a response for the
// access log.
type accessWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (a *accessWriter) WriteHeader(code int) {
	if a.code == 0 {
		a.code = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *accessWriter) Write(b []byte) (int, error) {
	if a.code == 0 {
		a.code = http.StatusOK
	}
	n, err := a.ResponseWriter.Write(b)
	a.bytes += int64(n)
	return n, err
}

// WriteHeadLines passes a head written as lines on (see headLineWriter),
// when the writer below takes them.
func (a *accessWriter) WriteHeadLines(code int, length int64, lines []byte) bool {
	hw, ok := a.ResponseWriter.(headLineWriter)
	if !ok || !hw.WriteHeadLines(code, length, lines) {
		return false
	}
	if a.code == 0 {
		a.code = code
	}
	return true
}

// Flush keeps streamed responses streaming through the recorder.
func (a *accessWriter) Flush() {
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the writer below.
func (a *accessWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// logAccess writes one JSON line for x: never the query string, cookies or
// any header value, which may hold tokens.
func (e *Edge) logAccess(x *exchange, a *accessWriter) {
	client, _, err := net.SplitHostPort(x.r.RemoteAddr)
	if err != nil {
		client = x.r.RemoteAddr
	}
	attrs := []slog.Attr{
		slog.String("edge", e.name),
		slog.String("client", client),
		slog.String("method", x.r.Method),
		slog.String("host", x.v.host),
		slog.String("path", httpsyntax.LogPath(x.v.rawPath)),
		slog.Int("status", a.code),
		slog.Int64("bytes", a.bytes),
		slog.Float64("duration_ms", float64(e.clk.Now().Sub(x.start).Microseconds())/1000),
		slog.String("cache", e.statusMember(x)),
	}
	if x.tenant != "" {
		attrs = append(attrs, slog.String("tenant", x.tenant))
	}
	e.access.LogAttrs(context.Background(), slog.LevelInfo, "edge request", attrs...)
}
