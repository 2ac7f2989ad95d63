package lb

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/health"
	"github.com/tetherlb/tether/internal/lb/balance"
)

// State is a target's state as the admin API reports it.
type State string

// Target states. Initial, Healthy and Unhealthy come from health checks;
// Draining and Drained from deregistration.
const (
	StateInitial   State = "initial"
	StateHealthy   State = "healthy"
	StateUnhealthy State = "unhealthy"
	StateDraining  State = "draining" // serves bound clients until the delay ends
	StateDrained   State = "drained"  // the delay has ended: serves nobody
)

// target is the runtime of one configured target. It lives across reloads
// as long as its group keeps a target with the same id, so health, counters
// and drain state survive a reload. All methods are safe for concurrent use.
type target struct {
	id      string
	address string
	weight  atomic.Int32 // 0..999; a reload may change it
	clk     clock.Clock

	st        atomic.Pointer[health.Status] // replaced when the health config changes
	onHealth  func(from, to health.State)
	slowStart atomic.Int64 // time.Duration

	outstanding atomic.Int64
	requests    atomic.Uint64
	failed      atomic.Uint64                // responses with a 5xx status, the target's or tether's 502/504 for it
	series      atomic.Pointer[targetSeries] // its per-request metric series, once looked up
	bindings    atomic.Int64                 // live bindings, refreshed by the group's sweep

	// drainAt is the unix-nano time when draining began and drainEnd when
	// it ends; 0 = not draining.
	drainAt  atomic.Int64
	drainEnd atomic.Int64
	removed  atomic.Bool // deregistered by a reload: dropped once drained

	stopCheck context.CancelFunc
	healthCfg health.Config
	healthKey string // the upstream setup the checks use
	checkMu   sync.Mutex
}

var _ balance.Backend = (*target)(nil)

// targetSeries are the metric series every request to a target touches,
// looked up once rather than by label values per request. A target's
// series are dropped (metrics.forget) only once it has left its group for
// good.
type targetSeries struct {
	inFlight prometheus.Gauge
	duration prometheus.Observer
	ok       prometheus.Counter // requests answered 200
}

// seriesOf returns t's series in group g.
func (g *group) seriesOf(t *target) *targetSeries {
	if ts := t.series.Load(); ts != nil {
		return ts
	}
	m := g.srv.metrics
	ts := &targetSeries{
		inFlight: m.inFlight.WithLabelValues(g.name, t.id),
		duration: m.duration.WithLabelValues(g.name, t.id),
		ok:       m.requests.WithLabelValues(g.name, t.id, "200"),
	}
	t.series.Store(ts)
	return ts
}

// ID implements balance.Backend.
func (t *target) ID() string { return t.id }

// Weight implements balance.Backend.
func (t *target) Weight() int { return int(t.weight.Load()) }

// Outstanding implements balance.Backend.
func (t *target) Outstanding() int64 { return t.outstanding.Load() }

// EffectiveWeight implements balance.Backend: the weight scaled by slow
// start after a recovery.
func (t *target) EffectiveWeight() float64 {
	w := float64(t.weight.Load())
	if ss := time.Duration(t.slowStart.Load()); ss > 0 && w > 0 {
		w *= t.status().Recovering(t.clk.Now(), ss)
	}
	return w
}

// state reports the target's state at now.
func (t *target) state(now time.Time) State {
	if end := t.drainEnd.Load(); end != 0 {
		if now.UnixNano() >= end {
			return StateDrained
		}
		return StateDraining
	}
	switch t.status().State() {
	case health.Healthy:
		return StateHealthy
	case health.Unhealthy:
		return StateUnhealthy
	default:
		return StateInitial
	}
}

// drain starts deregistration: no new clients; bound clients are served
// until delay has passed. Draining an already draining target keeps the
// earlier deadline.
func (t *target) drain(now time.Time, delay time.Duration) {
	if t.drainEnd.CompareAndSwap(0, now.Add(delay).UnixNano()) {
		t.drainAt.Store(now.UnixNano())
	}
}

// undrain cancels deregistration.
func (t *target) undrain() {
	t.drainEnd.Store(0)
	t.drainAt.Store(0)
}

// drainRemaining returns the time left before a draining target is drained.
func (t *target) drainRemaining(now time.Time) time.Duration {
	end := t.drainEnd.Load()
	if end == 0 {
		return 0
	}
	return max(0, time.Duration(end-now.UnixNano()))
}

// healthy reports whether health checks let the target take traffic.
// Initial counts: the first check runs at once, and a failed connection
// marks the target unhealthy on the spot.
func (t *target) healthy() bool { return t.status().State() != health.Unhealthy }

// status returns the target's health state machine.
func (t *target) status() *health.Status { return t.st.Load() }

// startChecks (re)starts health checking as cfg says. When cfg differs
// from the running config, the target's health is judged afresh under the
// new thresholds: the first active check decides at once, as at start.
func (t *target) startChecks(cfg health.Config, up *upstream, logger *slog.Logger) {
	t.checkMu.Lock()
	defer t.checkMu.Unlock()
	if t.st.Load() != nil && cfg == t.healthCfg && up.key == t.healthKey {
		return
	}
	t.healthKey = up.key
	if t.stopCheck != nil {
		t.stopCheck()
		t.stopCheck = nil
	}
	t.healthCfg = cfg
	t.st.Store(health.NewStatus(cfg, t.clk, t.onHealth))
	if !cfg.Enabled {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.stopCheck = cancel
	checker := health.NewChecker(cfg, up.health, t.clk, logger.With("target", t.id))
	go checker.Run(ctx, t.address, t.status())
}

// stopChecks stops active health checks.
func (t *target) stopChecks() {
	t.checkMu.Lock()
	defer t.checkMu.Unlock()
	if t.stopCheck != nil {
		t.stopCheck()
		t.stopCheck = nil
	}
}
