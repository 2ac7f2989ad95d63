package testsupport

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/keyring"
	"github.com/tetherlb/tether/internal/lb"
	"github.com/tetherlb/tether/session"
)

// Epoch is the start time of fake clocks in tests.
var Epoch = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// LB is a running load balancer for a test.
type LB struct {
	*lb.Server
	Clock *clock.Fake
	Ring  *keyring.Ring
	URL   string // http://address of the first listener
}

// Option changes how StartLB starts the load balancer.
type Option func(*lb.Deps)

// WithAccessLog sends the JSON access log to w.
func WithAccessLog(w io.Writer) Option {
	return func(d *lb.Deps) { d.Access = slog.New(slog.NewJSONHandler(w, nil)) }
}

// StartLB parses yaml (a full config; listeners may use port 0), starts the
// load balancer on a fake clock with a fresh key ring, and stops it when
// the test ends.
func StartLB(t testing.TB, yaml string, opts ...Option) *LB {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), t.TempDir())
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	clk := clock.NewFake(Epoch)
	ring, err := keyring.Generate(clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	deps := lb.Deps{Clock: clk}
	for _, o := range opts {
		o(&deps)
	}
	srv, err := lb.New(cfg, ring, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
	l := &LB{Server: srv, Clock: clk, Ring: ring}
	l.URL = "http://" + srv.Addr(cfg.Listeners[0].Name).String()
	return l
}

// Client returns an HTTP client with its own cookie jar, like one browser.
func Client(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: false, MaxIdleConnsPerHost: 4}}
}

// WaitFor polls cond until it holds or 5 seconds pass.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// AdvanceUntil moves the fake clock on by step until cond holds, for at
// most 5 seconds of real time, and returns how many steps it took. After
// each step it polls cond for up to 250 ms. A goroutine that has not yet
// armed its next timer when the clock moves (a health checker still
// recording its last result, say) misses that step, so a test that needs a
// timer to fire advances until it has, rather than once.
func (l *LB) AdvanceUntil(t testing.TB, step time.Duration, what string, cond func() bool) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for steps := 1; ; steps++ {
		l.Clock.Advance(step)
		for wait := time.Now().Add(250 * time.Millisecond); time.Now().Before(wait); time.Sleep(2 * time.Millisecond) {
			if cond() {
				return steps
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// WithSessions gives the load balancer a session Manager for rules with a
// session authorizer.
func WithSessions(m *session.Manager) Option {
	return func(d *lb.Deps) { d.Sessions = m }
}
