package session_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/testsupport"
	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/memstore"
)

var start = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// recordingStore wraps a store: it remembers every entry written, and
// fails every call while down is set.
type recordingStore struct {
	session.Store
	down    atomic.Bool
	mu      sync.Mutex
	written []session.Entry
}

var errDown = errors.New("connection refused")

func (s *recordingStore) record(e session.Entry) {
	s.mu.Lock()
	s.written = append(s.written, e)
	s.mu.Unlock()
}

func (s *recordingStore) Get(ctx context.Context, tenant, id string) (session.Entry, bool, error) {
	if s.down.Load() {
		return session.Entry{}, false, errDown
	}
	return s.Store.Get(ctx, tenant, id)
}

func (s *recordingStore) Create(ctx context.Context, e session.Entry) (bool, error) {
	if s.down.Load() {
		return false, errDown
	}
	s.record(e)
	return s.Store.Create(ctx, e)
}

func (s *recordingStore) Update(ctx context.Context, e session.Entry) (bool, error) {
	if s.down.Load() {
		return false, errDown
	}
	s.record(e)
	return s.Store.Update(ctx, e)
}

func (s *recordingStore) Delete(ctx context.Context, tenant, id string) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.Delete(ctx, tenant, id)
}

// env is a Manager behind a TLS test server with the handlers in routes.
type env struct {
	t      *testing.T
	m      *session.Manager
	store  *recordingStore
	clock  *clock.Fake
	reg    *prometheus.Registry
	logs   *testsupport.SyncBuffer
	srv    *httptest.Server
	events chan session.Event
}

type envOption func(*session.Config, *session.Options)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, clock: clock.NewFake(start), reg: prometheus.NewRegistry(), logs: &testsupport.SyncBuffer{}, events: make(chan session.Event, 1000)}
	ms := memstore.New(memstore.Options{Clock: e.clock})
	t.Cleanup(func() { ms.Close() })
	e.store = &recordingStore{Store: ms}
	keys, err := session.StaticKey([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := session.Config{}
	o := session.Options{
		Store: e.store, Keys: keys, Now: e.clock.Now, Registerer: e.reg,
		Logger:  slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnEvent: func(ev session.Event) { e.events <- ev },
	}
	for _, opt := range opts {
		opt(&cfg, &o)
	}
	if e.m, err = session.New(cfg, o); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewTLSServer(e.m.LoadAndSave(e.routes()))
	t.Cleanup(e.srv.Close)
	return e
}

// routes are the test app: each path exercises one Manager method.
func (e *env) routes() http.Handler {
	mux := http.NewServeMux()
	m := e.m
	mux.HandleFunc("GET /put", func(w http.ResponseWriter, r *http.Request) {
		for k, v := range r.URL.Query() {
			m.Put(r.Context(), k, v[0])
		}
	})
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		v, ok := session.Get[string](r.Context(), m, r.URL.Query().Get("k"))
		if !ok {
			v = "<none>"
		}
		io.WriteString(w, v)
	})
	mux.HandleFunc("GET /remove", func(w http.ResponseWriter, r *http.Request) {
		m.Remove(r.Context(), r.URL.Query().Get("k"))
	})
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if err := m.Authenticate(r.Context(), q.Get("user"), q.Get("tenant"), "password"); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		if q.Get("remember") != "" {
			if err := m.RememberMe(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		}
	})
	mux.HandleFunc("GET /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Destroy(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /renew", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Renew(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(m.Status(r.Context()))
	})
	mux.HandleFunc("GET /sessions", func(w http.ResponseWriter, r *http.Request) {
		list, err := m.ListUser(r.Context(), m.UserID(r.Context()))
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(list)
	})
	mux.HandleFunc("GET /revoke-others", func(w http.ResponseWriter, r *http.Request) {
		n, err := m.RevokeUser(r.Context(), m.UserID(r.Context()), m.Status(r.Context()).Hash)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(n)
	})
	mux.HandleFunc("GET /csrf-token", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, m.CSRFToken(r))
	})
	mux.Handle("POST /transfer", m.CSRF(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "transferred")
	}), session.CSRFOptions{TrustedOrigins: []string{"https://trusted.example"}}))
	return mux
}

// browser returns a client with its own cookie jar, like one browser.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := e.srv.Client()
	return &http.Client{Transport: c.Transport, Jar: jar}
}

// get fetches path with c and returns the response and its body.
func (e *env) get(c *http.Client, path string) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// body fetches path and returns the body, failing on a status other than 200.
func (e *env) body(c *http.Client, path string) string {
	e.t.Helper()
	resp, b := e.get(c, path)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s = %d %s", path, resp.StatusCode, b)
	}
	return b
}

// sid returns the session cookie c holds, or "".
func (e *env) sid(c *http.Client, name string) string {
	u, _ := url.Parse(e.srv.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// withCookie returns a client (no jar) that sends one cookie.
func (e *env) withCookie(name, value string) *http.Client {
	c := e.browser()
	u, _ := url.Parse(e.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/", Secure: true}})
	return c
}

// drain returns the events emitted so far.
func (e *env) drain() []session.Event {
	var out []session.Event
	for {
		select {
		case ev := <-e.events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func hasEvent(evs []session.Event, typ session.EventType, reason string) bool {
	for _, ev := range evs {
		if ev.Type == typ && (reason == "" || strings.HasPrefix(ev.Reason, reason)) {
			return true
		}
	}
	return false
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
