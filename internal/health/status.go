package health

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherlb/tether/internal/clock"
)

// minRecovering is the smallest share of traffic Recovering gives a target
// that has just recovered, so that it is tried at once rather than after a
// dead first moment.
const minRecovering = 0.01

// Status is the health state machine of one target. It takes active check
// results through ReportCheck and passive observations of proxied traffic
// through ReportConnectError and ReportResponse.
//
// With active checks enabled a Status starts Initial, and the first check
// decides at once: a target that is down at start is marked Unhealthy after
// one check, not after UnhealthyThreshold of them. After that, a Healthy
// target becomes Unhealthy after UnhealthyThreshold consecutive failed
// checks, and an Unhealthy one becomes Healthy after HealthyThreshold
// consecutive successful checks. A connection error, or a streak of
// Passive5xx responses with a 5xx status, marks a target Unhealthy at once
// and restarts the count of successful checks.
//
// In passive-only mode (Config.Enabled false) a Status starts Healthy, and a
// target marked Unhealthy by a passive report becomes Healthy again once
// Config.Interval has passed since the last such report, like NGINX's
// fail_timeout. The cool-off is evaluated lazily by State.
//
// A Status is safe for concurrent use. State and Recovering take no lock,
// except for the one call that ends a cool-off, and neither does a
// ReportResponse that does not complete a 5xx streak. A Status must not be
// copied after first use.
type Status struct {
	cfg      Config
	clk      clock.Clock
	onChange func(from, to State)

	state    atomic.Int32                // a State; written only with mu held
	since    atomic.Pointer[healthyMark] // nil until the first transition into Healthy
	coolOff  atomic.Int64                // Unix nanoseconds ending a passive cool-off; 0 if none; written only with mu held
	streak5x atomic.Int64                // consecutive 5xx responses

	// mu serializes transitions and guards the check counters.
	mu        sync.Mutex
	successes int // consecutive successful checks
	failures  int // consecutive failed checks
}

// healthyMark records the last transition into Healthy.
type healthyMark struct {
	at       time.Time
	recovery bool // the transition came from Unhealthy, so slow start applies
}

// change is a transition to report to onChange once mu is released.
type change struct{ from, to State }

// NewStatus returns the health state of a target checked as cfg describes.
// It reads the time from clk, or from the wall clock if clk is nil. If
// onChange is not nil it is called after every transition, with no lock
// held, from the goroutine that caused it; calls for transitions that race
// may arrive out of order, so a callback that needs the current state
// should read State.
func NewStatus(cfg Config, clk clock.Clock, onChange func(from, to State)) *Status {
	if clk == nil {
		clk = clock.Real{}
	}
	cfg.HealthyThreshold = max(cfg.HealthyThreshold, 1)
	cfg.UnhealthyThreshold = max(cfg.UnhealthyThreshold, 1)
	s := &Status{cfg: cfg, clk: clk, onChange: onChange}
	if !cfg.Enabled {
		s.state.Store(int32(Healthy))
	}
	return s
}

// State returns the target's current health. It takes no lock, and reads
// the clock only while a passive-only target is cooling off.
func (s *Status) State() State {
	st := State(s.state.Load())
	if st != Unhealthy || s.cfg.Enabled {
		return st
	}
	until := s.coolOff.Load()
	if until == 0 || s.clk.Now().UnixNano() < until {
		return st
	}
	return s.endCoolOff()
}

// endCoolOff makes a passive-only target Healthy if its cool-off is over,
// and returns its state.
func (s *Status) endCoolOff() State {
	s.mu.Lock()
	var ch change
	now := s.clk.Now()
	until := s.coolOff.Load()
	if State(s.state.Load()) == Unhealthy && until != 0 && now.UnixNano() >= until {
		s.coolOff.Store(0)
		ch = s.setLocked(Healthy, now)
	}
	st := State(s.state.Load())
	s.mu.Unlock()
	s.notify(ch)
	return st
}

// HealthySince returns the time of the last transition into Healthy, or the
// zero time if the target has never been Healthy. A passive-only target,
// which starts Healthy without a transition, reports the zero time until it
// recovers from a passive failure.
func (s *Status) HealthySince() time.Time {
	if m := s.since.Load(); m != nil {
		return m.at
	}
	return time.Time{}
}

// Recovering returns the share of its full weight, in (0, 1], that a target
// should get at now during a slow start of the given window. It returns 1
// unless the target is Healthy after a recovery from Unhealthy that began
// less than window before now; then it grows linearly from 0.01 to 1 over
// the window. As in HAProxy's slowstart, a target that became Healthy at
// its first check is not slowed down; a window of zero or less turns slow
// start off.
func (s *Status) Recovering(now time.Time, window time.Duration) float64 {
	if window <= 0 {
		return 1
	}
	m := s.since.Load()
	if m == nil || !m.recovery || s.State() != Healthy {
		return 1
	}
	elapsed := now.Sub(m.at)
	if elapsed >= window {
		return 1
	}
	return max(minRecovering, float64(elapsed)/float64(window))
}

// ReportCheck records the result of an active check.
func (s *Status) ReportCheck(ok bool) {
	s.mu.Lock()
	var ch change
	switch cur := State(s.state.Load()); {
	case cur == Initial:
		s.successes, s.failures = 0, 0
		if ok {
			ch = s.setLocked(Healthy, s.clk.Now())
		} else {
			ch = s.setLocked(Unhealthy, s.clk.Now())
		}
	case ok:
		s.failures = 0
		s.successes++
		if cur == Unhealthy && s.successes >= s.cfg.HealthyThreshold {
			s.coolOff.Store(0)
			ch = s.setLocked(Healthy, s.clk.Now())
		}
	default:
		s.successes = 0
		s.failures++
		if cur == Healthy && s.failures >= s.cfg.UnhealthyThreshold {
			ch = s.setLocked(Unhealthy, s.clk.Now())
		}
	}
	s.mu.Unlock()
	s.notify(ch)
}

// ReportConnectError records that a proxied request could not connect to
// the target. It marks the target Unhealthy at once.
func (s *Status) ReportConnectError() {
	s.passiveFailure()
}

// ReportResponse records the status code of a proxied response. When
// Config.Passive5xx is positive, that many consecutive responses with a 5xx
// status mark the target Unhealthy at once, if mayEject (when not nil)
// allows it; any other status ends the streak. It takes no lock unless it
// completes a streak, and reports whether it completed one that mayEject
// refused.
func (s *Status) ReportResponse(code int, mayEject func() bool) (refused bool) {
	limit := int64(s.cfg.Passive5xx)
	if limit <= 0 {
		return false
	}
	if code < 500 || code > 599 {
		if s.streak5x.Load() != 0 {
			s.streak5x.Store(0)
		}
		return false
	}
	if s.streak5x.Add(1) < limit {
		return false
	}
	s.streak5x.Store(0)
	if mayEject != nil && s.State() != Unhealthy && !mayEject() {
		return true
	}
	s.passiveFailure()
	return false
}

// passiveFailure marks the target Unhealthy, restarts the count of
// successful checks and, in passive-only mode, restarts the cool-off.
func (s *Status) passiveFailure() {
	s.mu.Lock()
	now := s.clk.Now()
	s.successes, s.failures = 0, 0
	if !s.cfg.Enabled {
		s.coolOff.Store(max(now.Add(s.cfg.Interval).UnixNano(), 1))
	}
	ch := s.setLocked(Unhealthy, now)
	s.mu.Unlock()
	s.notify(ch)
}

// setLocked moves the state to to at now and returns the change to report,
// which is empty if the state was already to. s.mu must be held.
func (s *Status) setLocked(to State, now time.Time) change {
	from := State(s.state.Load())
	if from == to {
		return change{}
	}
	if to == Healthy {
		s.since.Store(&healthyMark{at: now, recovery: from == Unhealthy})
	}
	s.state.Store(int32(to))
	return change{from: from, to: to}
}

// notify calls onChange for ch if ch is a transition.
func (s *Status) notify(ch change) {
	if ch.from != ch.to && s.onChange != nil {
		s.onChange(ch.from, ch.to)
	}
}
