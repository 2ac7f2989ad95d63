package health

import (
	"math"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/clock"
)

// start is the fake clocks' starting time.
func start() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

// recorder collects onChange calls. When checkLock is set, it also checks
// that each call is made with no lock held and after the state has changed;
// that check only holds when no other goroutine uses the Status.
type recorder struct {
	t         testing.TB
	st        *Status
	checkLock bool
	mu        sync.Mutex
	changes   []change
}

func (r *recorder) onChange(from, to State) {
	if r.checkLock {
		if !r.st.mu.TryLock() {
			r.t.Error("onChange called with the status lock held")
		} else {
			r.st.mu.Unlock()
		}
		if got := State(r.st.state.Load()); got != to {
			r.t.Errorf("onChange(%v, %v) called while the state is %v", from, to, got)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, change{from, to})
}

func (r *recorder) got() []change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.changes)
}

// newRecordedStatus returns a Status on a fake clock with its onChange
// calls recorded.
func newRecordedStatus(t testing.TB, cfg Config) (*Status, *clock.Fake, *recorder) {
	t.Helper()
	clk := clock.NewFake(start())
	r := &recorder{t: t, checkLock: true}
	r.st = NewStatus(cfg, clk, r.onChange)
	return r.st, clk, r
}

type step struct {
	name string
	do   func(s *Status, clk *clock.Fake)
	want State
}

func ok(want State) step {
	return step{"check ok", func(s *Status, _ *clock.Fake) { s.ReportCheck(true) }, want}
}

func fail(want State) step {
	return step{"check fail", func(s *Status, _ *clock.Fake) { s.ReportCheck(false) }, want}
}

func connErr(want State) step {
	return step{"connect error", func(s *Status, _ *clock.Fake) { s.ReportConnectError() }, want}
}

func resp(code int, want State) step {
	return step{"response " + strconv.Itoa(code), func(s *Status, _ *clock.Fake) { s.ReportResponse(code, nil) }, want}
}

func advance(d time.Duration, want State) step {
	return step{"advance " + d.String(), func(_ *Status, clk *clock.Fake) { clk.Advance(d) }, want}
}

func TestStatusTransitions(t *testing.T) {
	t.Parallel()
	active := Config{Enabled: true, Interval: 10 * time.Second, HealthyThreshold: 3, UnhealthyThreshold: 2, Passive5xx: 3}
	passive := Config{Interval: 10 * time.Second, Passive5xx: 3}
	const (
		I = Initial
		H = Healthy
		U = Unhealthy
	)
	tests := []struct {
		name    string
		cfg     Config
		steps   []step
		changes []change
	}{
		{name: "starts initial", cfg: active, steps: []step{resp(200, I)}},
		{name: "first check ok decides", cfg: active, steps: []step{ok(H)}, changes: []change{{I, H}}},
		{name: "first check failure decides", cfg: active, steps: []step{fail(U)}, changes: []change{{I, U}}},
		{
			name: "unhealthy threshold", cfg: active,
			steps:   []step{ok(H), fail(H), fail(U), fail(U)},
			changes: []change{{I, H}, {H, U}},
		},
		{
			name: "success breaks a failure streak", cfg: active,
			steps:   []step{ok(H), fail(H), ok(H), fail(H), fail(U)},
			changes: []change{{I, H}, {H, U}},
		},
		{
			name: "healthy threshold", cfg: active,
			steps:   []step{fail(U), ok(U), ok(U), ok(H), ok(H)},
			changes: []change{{I, U}, {U, H}},
		},
		{
			name: "failure breaks a success streak", cfg: active,
			steps:   []step{fail(U), ok(U), ok(U), fail(U), ok(U), ok(U), ok(H)},
			changes: []change{{I, U}, {U, H}},
		},
		{
			name:  "thresholds below one act as one",
			cfg:   Config{Enabled: true, Interval: time.Second},
			steps: []step{ok(H), fail(U), ok(H)}, changes: []change{{I, H}, {H, U}, {U, H}},
		},
		{name: "connect error from initial", cfg: active, steps: []step{connErr(U)}, changes: []change{{I, U}}},
		{
			name: "connect error at once", cfg: active,
			steps:   []step{ok(H), connErr(U), connErr(U)},
			changes: []change{{I, H}, {H, U}},
		},
		{
			name: "connect error restarts the success count", cfg: active,
			steps:   []step{fail(U), ok(U), ok(U), connErr(U), ok(U), ok(U), ok(H)},
			changes: []change{{I, U}, {U, H}},
		},
		{
			name: "5xx streak", cfg: active,
			steps:   []step{ok(H), resp(500, H), resp(502, H), resp(503, U)},
			changes: []change{{I, H}, {H, U}},
		},
		{
			name: "non-5xx resets the streak", cfg: active,
			steps:   []step{ok(H), resp(500, H), resp(500, H), resp(404, H), resp(500, H), resp(599, H), resp(500, U)},
			changes: []change{{I, H}, {H, U}},
		},
		{
			name: "5xx streak restarts the success count", cfg: active,
			steps:   []step{fail(U), ok(U), ok(U), resp(500, U), resp(500, U), resp(500, U), ok(U), ok(U), ok(H)},
			changes: []change{{I, U}, {U, H}},
		},
		{
			name:    "5xx observation off",
			cfg:     Config{Enabled: true, Interval: time.Second},
			steps:   []step{ok(H), resp(500, H), resp(500, H), resp(500, H), resp(500, H)},
			changes: []change{{I, H}},
		},
		{
			name: "active mode has no cool-off", cfg: active,
			steps:   []step{ok(H), connErr(U), advance(time.Hour, U)},
			changes: []change{{I, H}, {H, U}},
		},
		{name: "passive only starts healthy", cfg: passive, steps: []step{resp(200, H), advance(time.Hour, H)}},
		{
			name: "passive only cool-off", cfg: passive,
			steps:   []step{connErr(U), advance(9*time.Second, U), advance(time.Second, H), advance(time.Hour, H)},
			changes: []change{{H, U}, {U, H}},
		},
		{
			name: "passive failure restarts the cool-off", cfg: passive,
			steps:   []step{connErr(U), advance(6*time.Second, U), connErr(U), advance(6*time.Second, U), advance(4*time.Second, H)},
			changes: []change{{H, U}, {U, H}},
		},
		{
			name: "passive only 5xx streak", cfg: passive,
			steps:   []step{resp(500, H), resp(500, H), resp(500, U), advance(10*time.Second, H), resp(500, H)},
			changes: []change{{H, U}, {U, H}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, clk, r := newRecordedStatus(t, tt.cfg)
			for i, st := range tt.steps {
				st.do(s, clk)
				if got := s.State(); got != st.want {
					t.Fatalf("step %d (%s): State() = %v, want %v", i, st.name, got, st.want)
				}
			}
			if got := r.got(); !slices.Equal(got, tt.changes) {
				t.Errorf("onChange calls = %v, want %v", got, tt.changes)
			}
		})
	}
}

func TestStatusRecovering(t *testing.T) {
	t.Parallel()
	const window = 10 * time.Second
	active := Config{Enabled: true, Interval: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 1}
	passive := Config{Interval: 5 * time.Second}
	tests := []struct {
		name string
		cfg  Config
		// prepare brings the status to the state under test and returns the
		// time its HealthySince should report.
		prepare func(s *Status, clk *clock.Fake) time.Time
		at      time.Duration // after the returned time
		window  time.Duration
		want    float64
	}{
		{name: "healthy at startup", cfg: active, prepare: healthyAtStart, at: time.Second, window: window, want: 1},
		{name: "recovered, at once", cfg: active, prepare: recovered, at: 0, window: window, want: minRecovering},
		{name: "recovered, a quarter in", cfg: active, prepare: recovered, at: window / 4, window: window, want: 0.25},
		{name: "recovered, half way", cfg: active, prepare: recovered, at: window / 2, window: window, want: 0.5},
		{name: "recovered, window over", cfg: active, prepare: recovered, at: window, window: window, want: 1},
		{name: "recovered, long after", cfg: active, prepare: recovered, at: time.Hour, window: window, want: 1},
		{name: "recovered, slow start off", cfg: active, prepare: recovered, at: time.Second, window: 0, want: 1},
		{name: "unhealthy", cfg: active, prepare: unhealthyAgain, at: time.Second, window: window, want: 1},
		{name: "passive only at startup", cfg: passive, prepare: func(*Status, *clock.Fake) time.Time { return time.Time{} }, at: 0, window: window, want: 1},
		{name: "passive only recovered", cfg: passive, prepare: cooledOff, at: window / 2, window: window, want: 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewFake(start())
			s := NewStatus(tt.cfg, clk, nil)
			since := tt.prepare(s, clk)
			if got := s.HealthySince(); !got.Equal(since) {
				t.Fatalf("HealthySince() = %v, want %v", got, since)
			}
			base := since
			if base.IsZero() {
				base = clk.Now()
			}
			got := s.Recovering(base.Add(tt.at), tt.window)
			if math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Recovering(+%v, %v) = %v, want %v", tt.at, tt.window, got, tt.want)
			}
		})
	}
}

// healthyAtStart passes the first check.
func healthyAtStart(s *Status, clk *clock.Fake) time.Time {
	s.ReportCheck(true)
	return clk.Now()
}

// recovered fails the first check and passes two more a minute later.
func recovered(s *Status, clk *clock.Fake) time.Time {
	s.ReportCheck(false)
	clk.Advance(time.Minute)
	s.ReportCheck(true)
	s.ReportCheck(true)
	return clk.Now()
}

// unhealthyAgain recovers, then fails again.
func unhealthyAgain(s *Status, clk *clock.Fake) time.Time {
	since := recovered(s, clk)
	s.ReportCheck(false)
	return since
}

// cooledOff marks a passive-only target down and waits out its cool-off.
func cooledOff(s *Status, clk *clock.Fake) time.Time {
	s.ReportConnectError()
	clk.Advance(5 * time.Second)
	s.State()
	return clk.Now()
}

// TestStatusConcurrent reports from many goroutines at once; run with -race.
// Whatever the interleaving, every transition is reported exactly once.
func TestStatusConcurrent(t *testing.T) {
	t.Parallel()
	s, clk, r := newRecordedStatus(t, Config{Interval: time.Millisecond, Passive5xx: 2})
	r.checkLock = false
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				switch (g + i) % 5 {
				case 0:
					s.ReportCheck(i%3 != 0)
				case 1:
					s.ReportConnectError()
				case 2:
					if i%2 == 0 {
						s.ReportResponse(500, nil)
					} else {
						s.ReportResponse(200, nil)
					}
				case 3:
					clk.Advance(time.Millisecond)
				default:
					s.Recovering(clk.Now(), time.Second)
				}
				_ = s.State()
			}
		})
	}
	wg.Wait()
	changes := r.got()
	if len(changes) == 0 {
		t.Fatal("no transitions happened; the test exercises nothing")
	}
	net := map[State]int{}
	for _, c := range changes {
		if c.from == c.to {
			t.Fatalf("onChange(%v, %v) is not a transition", c.from, c.to)
		}
		net[c.to]++
		net[c.from]--
	}
	final := s.State()
	for _, st := range []State{Initial, Healthy, Unhealthy} {
		want := 0
		if st == final {
			want++
		}
		if st == Healthy { // a passive-only status starts Healthy
			want--
		}
		if net[st] != want {
			t.Errorf("transitions into minus out of %v = %d, want %d (final state %v)", st, net[st], want, final)
		}
	}
}

func TestStateString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		state State
		want  string
	}{
		{name: "initial", state: Initial, want: "initial"},
		{name: "healthy", state: Healthy, want: "healthy"},
		{name: "unhealthy", state: Unhealthy, want: "unhealthy"},
		{name: "unknown", state: 7, want: "State(7)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.state.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
