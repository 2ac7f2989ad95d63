package health

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// checkConfig is an active configuration whose timeout never fires on
// loopback unless a test shortens it.
func checkConfig(t testing.TB) Config {
	return Config{
		Enabled: true, Path: "/healthz", Interval: 5 * time.Second, Timeout: 5 * time.Second,
		HealthyThreshold: 3, UnhealthyThreshold: 2, SuccessCodes: mustCodes(t, "200-299"),
	}
}

// upstream is a real HTTP target whose status code tests can change.
type upstream struct {
	*httptest.Server
	status atomic.Int32
	hits   atomic.Int32
	mu     sync.Mutex
	last   *http.Request // the last request, for its method, URL and headers
}

// newUpstream starts an upstream answering with status, or, if status is
// negative, answering nothing until the request is cancelled.
func newUpstream(t testing.TB, status int) *upstream {
	t.Helper()
	u := &upstream{}
	u.status.Store(int32(status))
	u.Server = httptest.NewServer(http.HandlerFunc(u.serveHTTP))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) serveHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.last = r.Clone(context.Background())
	u.mu.Unlock()
	u.hits.Add(1)
	status := int(u.status.Load())
	if status < 0 {
		<-r.Context().Done()
		return
	}
	if status >= 300 && status < 400 {
		w.Header().Set("Location", "/elsewhere")
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(strings.Repeat("ok", 10000))) // more than Checker drains
}

func (u *upstream) addr() string { return u.Listener.Addr().String() }

func (u *upstream) lastRequest() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

// deadAddress returns the address of a listener that has been closed.
func deadAddress(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// harness runs a Checker against one address on a fake clock.
type harness struct {
	t      testing.TB
	cfg    Config
	st     *Status
	rec    *recorder
	clk    interface{ Advance(time.Duration) }
	armed  func() int
	cancel context.CancelFunc
	done   chan struct{}
}

// startChecker runs a Checker for address until the test ends, and waits
// for its first check to be reported.
func startChecker(t testing.TB, cfg Config, address string, logger *slog.Logger) *harness {
	t.Helper()
	st, clk, rec := newRecordedStatus(t, cfg)
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(t.Context())
	h := &harness{t: t, cfg: cfg, st: st, rec: rec, clk: clk, armed: clk.Waiters, cancel: cancel, done: make(chan struct{})}
	checker := NewChecker(cfg, nil, clk, logger)
	go func() {
		defer close(h.done)
		checker.Run(ctx, address, st)
	}()
	t.Cleanup(func() {
		cancel()
		<-h.done
	})
	h.waitArmed()
	return h
}

// waitArmed waits until Run has reported a check and waits for the next.
func (h *harness) waitArmed() {
	h.t.Helper()
	waitFor(h.t, "the checker to wait for its next check", func() bool { return h.armed() == 1 })
}

// next lets one interval pass and waits for the check that follows.
func (h *harness) next() State {
	h.t.Helper()
	h.clk.Advance(h.cfg.Interval)
	h.waitArmed()
	return h.st.State()
}

// waitFor polls cond until it holds, failing the test after ten seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCheckerFirstCheckDecides(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		address func(t testing.TB) string
		codes   string
		timeout time.Duration
		want    State
	}{
		{name: "healthy", address: serving(200), want: Healthy},
		{name: "server error", address: serving(500), want: Unhealthy},
		{name: "status not in codes", address: serving(204), codes: "200", want: Unhealthy},
		{name: "dead upstream", address: deadAddress, want: Unhealthy},
		{name: "slower than timeout", address: serving(-1), timeout: 50 * time.Millisecond, want: Unhealthy},
		{name: "redirect is not followed", address: serving(302), codes: "200", want: Unhealthy},
		{name: "redirect in codes", address: serving(302), codes: "200-399", want: Healthy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := checkConfig(t)
			if tt.codes != "" {
				cfg.SuccessCodes = mustCodes(t, tt.codes)
			}
			if tt.timeout != 0 {
				cfg.Timeout = tt.timeout
			}
			h := startChecker(t, cfg, tt.address(t), nil)
			if got := h.st.State(); got != tt.want {
				t.Fatalf("State() after the first check = %v, want %v", got, tt.want)
			}
			if got, want := h.rec.got(), []change{{Initial, tt.want}}; len(got) != 1 || got[0] != want[0] {
				t.Errorf("onChange calls = %v, want %v", got, want)
			}
		})
	}
}

// serving returns an address func for a fresh upstream answering status.
func serving(status int) func(t testing.TB) string {
	return func(t testing.TB) string { return newUpstream(t, status).addr() }
}

func TestCheckerRequest(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, 200)
	cfg := checkConfig(t)
	cfg.Path = "/status/ready?deep=1"
	startChecker(t, cfg, u.addr(), nil)
	r := u.lastRequest()
	if r == nil {
		t.Fatal("the upstream saw no request")
	}
	checks := []struct{ what, got, want string }{
		{"method", r.Method, http.MethodGet},
		{"path", r.URL.Path, "/status/ready"},
		{"query", r.URL.RawQuery, "deep=1"},
		{"Host", r.Host, u.addr()},
		{"User-Agent", r.UserAgent(), "tether-health/1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
}

func TestCheckerUnhealthyThreshold(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, 200)
	h := startChecker(t, checkConfig(t), u.addr(), nil)
	u.status.Store(500)
	if got := h.next(); got != Healthy {
		t.Fatalf("after one failed check State() = %v, want healthy (threshold 2)", got)
	}
	if got := h.next(); got != Unhealthy {
		t.Fatalf("after two failed checks State() = %v, want unhealthy", got)
	}
	want := []change{{Initial, Healthy}, {Healthy, Unhealthy}}
	if got := h.rec.got(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("onChange calls = %v, want %v", got, want)
	}
	if got := u.hits.Load(); got != 3 {
		t.Errorf("upstream saw %d checks, want 3", got)
	}
}

func TestCheckerComesBack(t *testing.T) {
	t.Parallel()
	addr := deadAddress(t)
	h := startChecker(t, checkConfig(t), addr, nil)
	if got := h.st.State(); got != Unhealthy {
		t.Fatalf("State() with a dead upstream = %v, want unhealthy", got)
	}

	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again on the dead upstream's address: %v", err)
	}
	u := &upstream{Server: &httptest.Server{Listener: l, Config: &http.Server{}}}
	u.Config.Handler = http.HandlerFunc(u.serveHTTP)
	u.status.Store(200)
	u.Start()
	t.Cleanup(u.Close)

	for i := 1; i < h.cfg.HealthyThreshold; i++ {
		if got := h.next(); got != Unhealthy {
			t.Fatalf("after %d good checks State() = %v, want unhealthy (threshold %d)", i, got, h.cfg.HealthyThreshold)
		}
	}
	if got := h.next(); got != Healthy {
		t.Fatalf("after %d good checks State() = %v, want healthy", h.cfg.HealthyThreshold, got)
	}
	if got := h.st.Recovering(h.st.HealthySince().Add(time.Second), 10*time.Second); got >= 1 {
		t.Errorf("Recovering just after recovery = %v, want a slow start below 1", got)
	}
}

func TestCheckerStops(t *testing.T) {
	t.Parallel()
	t.Run("while waiting", func(t *testing.T) {
		t.Parallel()
		h := startChecker(t, checkConfig(t), newUpstream(t, 200).addr(), nil)
		h.cancel()
		waitFor(t, "Run to return", func() bool { return isClosed(h.done) })
	})
	t.Run("during a check", func(t *testing.T) {
		t.Parallel()
		u := newUpstream(t, -1)
		cfg := checkConfig(t)
		cfg.Timeout = time.Hour
		st := NewStatus(cfg, nil, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			NewChecker(cfg, nil, nil, nil).Run(ctx, u.addr(), st)
		}()
		waitFor(t, "the check to reach the upstream", func() bool { return u.hits.Load() == 1 })
		cancel()
		waitFor(t, "Run to return", func() bool { return isClosed(done) })
		if got := st.State(); got != Initial {
			t.Errorf("State() after a cancelled check = %v, want initial (not reported)", got)
		}
	})
	t.Run("before start", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		st := NewStatus(checkConfig(t), nil, nil)
		NewChecker(checkConfig(t), nil, nil, nil).Run(ctx, newUpstream(t, 200).addr(), st)
		if got := st.State(); got != Initial {
			t.Errorf("State() = %v, want initial", got)
		}
	})
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// syncBuffer is a bytes.Buffer safe for the checker and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCheckerRecoversFromPanic(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, 200)
	var logs syncBuffer
	cfg := checkConfig(t)
	h := startChecker(t, cfg, u.addr(), slog.New(slog.NewTextHandler(&logs, nil)))
	// Replace the recorder's callback with one that panics on the next
	// transition; the harness goroutine is waiting, so this does not race.
	h.st.onChange = func(from, to State) { panic("callback exploded") }
	u.status.Store(500)
	h.next()
	if got := h.next(); got != Unhealthy {
		t.Fatalf("State() = %v, want unhealthy", got)
	}
	out := logs.String()
	for _, want := range []string{"health check panicked", "callback exploded", "component=health.active", "stack="} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if got := h.next(); got != Unhealthy {
		t.Fatalf("State() = %v, want unhealthy", got)
	}
	if got := u.hits.Load(); got != 4 {
		t.Errorf("upstream saw %d checks, want 4: checks must go on after a panic", got)
	}
}

func TestNewCheckerPanicsOnBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "no interval", cfg: Config{Enabled: true, Timeout: time.Second}},
		{name: "no timeout", cfg: Config{Enabled: true, Interval: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Error("NewChecker did not panic")
				}
			}()
			NewChecker(tt.cfg, nil, nil, nil)
		})
	}
}
