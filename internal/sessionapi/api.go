// Package sessionapi is tether's HTTP session API: apps written in any
// language create, read, change, renew and end sessions in tether's shared
// store over HTTP, with the same rules as the Go session package (the
// same expiry, compare-and-swap merges and tenant namespaces).
//
// Every request needs Authorization: Bearer KEY. Bodies are JSON objects
// with no unknown fields, at most MaxBody bytes. Errors are JSON
// {"error": "…"} with a 4xx status, or 503 with Retry-After when the
// store is unreachable.
package sessionapi

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/apimux"
	"github.com/tetherlb/tether/internal/jsonstrict"
	"github.com/tetherlb/tether/session"
)

// MaxBody is the largest request body the API reads.
const MaxBody = 64 << 10

// maxKeyLen bounds data keys and user IDs.
const maxKeyLen = 128

// Options configure the API handler.
type Options struct {
	// Manager does the work. Required.
	Manager *session.Manager
	// Key is the bearer key clients must send. Required, ≥ 32 bytes.
	Key []byte
	// Logger logs refused requests (never keys or session IDs). Nil: discard.
	Logger *slog.Logger
	// Registerer gets tether_session_api_requests_total. Nil: none.
	Registerer prometheus.Registerer
}

type api struct {
	m        *session.Manager
	key      []byte
	log      *slog.Logger
	requests *prometheus.CounterVec
}

// Handler returns the API's handler.
func Handler(o Options) (http.Handler, error) {
	if o.Manager == nil || len(o.Key) < 32 {
		return nil, errors.New("sessionapi: needs a Manager and a key of at least 32 bytes")
	}
	a := &api{m: o.Manager, key: o.Key, log: o.Logger}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_session_api_requests_total",
		Help: "HTTP session API requests by route and status code.",
	}, []string{"route", "code"})
	if o.Registerer != nil {
		if err := o.Registerer.Register(a.requests); err != nil {
			return nil, fmt.Errorf("sessionapi: %w", err)
		}
	}
	mux := http.NewServeMux()
	a.route(mux, "POST /api/v1/sessions", a.create)
	a.route(mux, "GET /api/v1/sessions/{id}", a.get)
	a.route(mux, "PATCH /api/v1/sessions/{id}", a.patch)
	a.route(mux, "POST /api/v1/sessions/{id}/renew", a.renew)
	a.route(mux, "DELETE /api/v1/sessions/{id}", a.destroy)
	a.route(mux, "GET /api/v1/users/{user}/sessions", a.listUser)
	a.route(mux, "DELETE /api/v1/users/{user}/sessions", a.revokeUser)
	a.route(mux, "DELETE /api/v1/users/{user}/sessions/{hash}", a.revokeUserSession)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if apimux.Routed(mux, r) {
			mux.ServeHTTP(w, r)
			return
		}
		// No route: the mux answers 404 or 405, to authorized clients
		// only, as JSON like every other answer of the API.
		rec := &statusRecorder{ResponseWriter: w}
		if a.authorized(rec, r) {
			apimux.ServeUnrouted(mux, rec, r, "docs/sessions.md for the API")
		}
		a.requests.WithLabelValues("other", strconv.Itoa(rec.code)).Inc()
	}), nil
}

// route registers h under pattern, behind the key check and the counter.
// Every handler gets the request's tenant (the tenant_id query parameter)
// and returns a status and a JSON body, or an error for errorStatus.
func (a *api) route(mux *http.ServeMux, pattern string, h func(r *http.Request, tenant string) (int, any, error)) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		defer func() { a.requests.WithLabelValues(pattern, strconv.Itoa(rec.code)).Inc() }()
		if !a.authorized(rec, r) {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		status, body, err := 0, any(nil), error(nil)
		if t, terr := tenant(r); terr != nil {
			err = terr
		} else {
			status, body, err = h(r, t)
		}
		if err != nil {
			status, msg := errorStatus(err)
			if status == http.StatusServiceUnavailable {
				rec.Header().Set("Retry-After", "5")
				a.log.Warn("session API: store unavailable", "route", pattern, "err", err)
			}
			writeError(rec, status, msg)
			return
		}
		if body == nil {
			rec.WriteHeader(status)
			return
		}
		writeJSON(rec, status, body)
	})
}

// authorized checks the bearer key in constant time.
func (a *api) authorized(w http.ResponseWriter, r *http.Request) bool {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) > len(prefix) && subtle.ConstantTimeCompare([]byte(h[len(prefix):]), a.key) == 1 && h[:len(prefix)] == prefix {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="tether-sessions"`)
	writeError(w, http.StatusUnauthorized, "missing or wrong API key (send Authorization: Bearer KEY)")
	return false
}

// badRequest is an error that maps to 400 (or another 4xx) with its text.
type badRequest struct {
	status int
	msg    string
}

func (e badRequest) Error() string { return e.msg }

func bad(format string, args ...any) error {
	return badRequest{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// errorStatus maps an error to the status and message a client sees.
func errorStatus(err error) (int, string) {
	var br badRequest
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &br):
		return br.status, br.msg
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", MaxBody)
	case errors.Is(err, session.ErrNotFound):
		return http.StatusNotFound, "no such session (unknown, expired or ended)"
	case errors.Is(err, session.ErrStoreUnavailable):
		return http.StatusServiceUnavailable, "the session store is unavailable; retry later"
	}
	return http.StatusServiceUnavailable, "the session store could not complete the request; retry later"
}

// decode reads a JSON object into v, refusing unknown fields, trailing data
// and bodies over MaxBody.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return bad("request body: %v", err)
	}
	if !utf8.Valid(body) {
		// encoding/json would turn each bad byte into U+FFFD, so that two
		// different keys could become one, and store the raw bytes of
		// string values that a later GET answers with as invalid JSON.
		return bad("request body: not valid UTF-8")
	}
	if err := jsonstrict.Decode(body, v); err != nil {
		return bad("request body: %v", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client went away
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// timeJSON is how times appear in responses: RFC 3339 in UTC.
func timeJSON(t time.Time) string { return t.UTC().Format(time.RFC3339) }
