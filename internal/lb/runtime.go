package lb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tetherlb/tether/internal/lb/balance"
)

// sweepEvery is how often bindings are counted, drains finished and state
// gauges refreshed.
const sweepEvery = 5 * time.Second

// maintain runs the periodic sweep until ctx ends.
func (s *Server) maintain(ctx context.Context) {
	defer s.done.Done()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("maintenance panicked", "panic", fmt.Sprint(r))
		}
	}()
	for {
		s.Sweep()
		s.watchCerts()
		select {
		case <-ctx.Done():
			return
		case <-s.clk.After(sweepEvery):
		}
	}
}

// Sweep counts live bindings per target, computes the skew gauge, updates
// state gauges and drops deregistered targets whose drain has ended. It
// runs every few seconds; tests call it directly.
func (s *Server) Sweep() {
	gen := s.gen.Load()
	now := s.clk.Now()
	m := s.metrics
	prune := false
	for _, g := range gen.groups {
		counts := g.table.Sweep(now)
		var skew skewOf
		for _, t := range g.targets {
			n := counts[t.id]
			t.bindings.Store(int64(n))
			m.bindings.WithLabelValues(g.name, t.id).Set(float64(n))
			st := t.state(now)
			m.setState(g.name, t.id, st)
			skew.add(st, t.Weight(), int64(n))
			if st == StateDrained && t.removed.Load() && t.outstanding.Load() == 0 {
				t.stopChecks()
				m.forget(g.name, t.id)
				prune = true
			}
		}
		m.skew.WithLabelValues(g.name).Set(skew.value())
		fo := 0.0
		if g.failingOpen() {
			fo = 1
		}
		m.failOpen.WithLabelValues(g.name).Set(fo)
	}
	// Deregistered targets whose drain has ended leave their group: rebuild
	// the generation from the same config. Skip if a reload or Close holds
	// the lock; the next sweep tries again.
	if prune && s.reload.TryLock() {
		defer s.reload.Unlock()
		if cur := s.gen.Load(); cur == gen {
			ups := map[string]*upstream{}
			for name, g := range cur.groups {
				ups[name] = g.up
			}
			s.gen.Store(s.build(cur.cfg, cur, ups, cur.verifiers))
		}
	}
}

// TargetStatus is one target as the admin API shows it.
type TargetStatus struct {
	ID             string  `json:"id"`
	Address        string  `json:"address"`
	State          State   `json:"state"`
	Weight         int     `json:"weight"`
	Effective      float64 `json:"effective_weight"`
	InFlight       int64   `json:"in_flight"`
	Requests       uint64  `json:"requests"`
	Responses5xx   uint64  `json:"responses_5xx"`
	Bindings       int64   `json:"bindings"`
	DrainRemaining float64 `json:"drain_remaining_seconds,omitempty"`
	Deregistered   bool    `json:"deregistered,omitempty"`
}

// GroupStatus is one target group as the admin API shows it.
type GroupStatus struct {
	Name       string `json:"name"`
	Algorithm  string `json:"algorithm"`
	Stickiness string `json:"stickiness"`
	FailOpen   bool   `json:"fail_open"`
	// Skew is the tether_affinity_skew gauge: the bindings of the busiest
	// target in service over its weight's share of them (1 is even; 0
	// with no bindings).
	Skew    float64        `json:"affinity_skew"`
	Targets []TargetStatus `json:"targets"`
}

// skewOf sums the bindings and weights of a group's targets in service
// (healthy or initial, weight above 0) for the affinity skew.
type skewOf struct{ sum, weights, most float64 }

func (k *skewOf) add(st State, weight int, bindings int64) {
	if (st == StateHealthy || st == StateInitial) && weight > 0 {
		k.sum += float64(bindings)
		k.weights += float64(weight)
		k.most = max(k.most, float64(bindings)/float64(weight)) // bindings per unit of weight
	}
}

// value is the busiest target's bindings over its weight's share of them
// all: with equal weights, the busiest target's bindings over the mean. 1
// is even; 0 with no bindings. A target of weight 2 with twice the
// bindings of one of weight 1 is even.
func (k skewOf) value() float64 {
	if k.sum == 0 {
		return 0
	}
	return k.most / (k.sum / k.weights)
}

// Snapshot returns the groups and targets, in config order. For tcp
// groups, in_flight is the open connections and requests the connections
// made.
func (s *Server) Snapshot() []GroupStatus {
	gen := s.gen.Load()
	now := s.clk.Now()
	out := make([]GroupStatus, 0, len(gen.cfg.TargetGroups))
	for _, gc := range gen.cfg.TargetGroups {
		if lg := gen.l4groups[gc.Name]; lg != nil {
			gs := GroupStatus{Name: gc.Name, Algorithm: gc.Algorithm, Stickiness: gc.Stickiness.Type}
			for _, ts := range lg.Snapshot() {
				gs.Targets = append(gs.Targets, TargetStatus{ID: ts.ID, Address: ts.Address, State: State(ts.State),
					Weight: ts.Weight, Effective: float64(ts.Weight), InFlight: ts.Active, Requests: ts.Total})
			}
			out = append(out, gs)
			continue
		}
		g := gen.groups[gc.Name]
		gs := GroupStatus{Name: g.name, Algorithm: g.cfg.Algorithm, Stickiness: g.sticky.mode, FailOpen: g.failingOpen()}
		var skew skewOf
		for _, t := range g.targets {
			ts := TargetStatus{
				ID: t.id, Address: t.address, State: t.state(now), Weight: t.Weight(),
				Effective: t.EffectiveWeight(), InFlight: t.outstanding.Load(), Requests: t.requests.Load(),
				Responses5xx: t.failed.Load(), Bindings: t.bindings.Load(), DrainRemaining: t.drainRemaining(now).Seconds(),
				Deregistered: t.removed.Load(),
			}
			skew.add(ts.State, ts.Weight, ts.Bindings)
			gs.Targets = append(gs.Targets, ts)
		}
		gs.Skew = skew.value()
		out = append(out, gs)
	}
	return out
}

// Errors of the admin operations, matched with errors.Is.
var (
	ErrUnknownGroup  = errors.New("no such target group")
	ErrUnknownTarget = errors.New("no such target")
)

// Drain starts deregistration of a target: it gets no new clients, and the
// clients bound to it are served until the group's deregistration_delay
// ends; then they are rebound. It returns the time left.
func (s *Server) Drain(group, id string) (time.Duration, error) {
	if lg := s.gen.Load().l4groups[group]; lg != nil {
		if err := lg.Drain(id, -1); err != nil {
			return 0, fmt.Errorf("%q in group %q: %w", id, group, ErrUnknownTarget)
		}
		return s.Config().TargetGroups[s.groupIndex(group)].DeregistrationDelay.D(), nil
	}
	t, g, err := s.find(group, id)
	if err != nil {
		return 0, err
	}
	now := s.clk.Now()
	t.drain(now, g.cfg.DeregistrationDelay.D())
	s.log.Info("target draining", "group", group, "target", id, "delay", g.cfg.DeregistrationDelay.D().String())
	s.metrics.setState(group, id, t.state(now))
	return t.drainRemaining(now), nil
}

// Undrain puts a draining (or drained) target back into service.
func (s *Server) Undrain(group, id string) error {
	if lg := s.gen.Load().l4groups[group]; lg != nil {
		if err := lg.Undrain(id); err != nil {
			return fmt.Errorf("%q in group %q: %w", id, group, ErrUnknownTarget)
		}
		return nil
	}
	t, _, err := s.find(group, id)
	if err != nil {
		return err
	}
	if t.removed.Load() {
		return fmt.Errorf("target %s left the config: add it back and reload: %w", id, ErrUnknownTarget)
	}
	t.undrain()
	s.log.Info("target back in service", "group", group, "target", id)
	s.metrics.setState(group, id, t.state(s.clk.Now()))
	return nil
}

func (s *Server) groupIndex(name string) int {
	for i, g := range s.Config().TargetGroups {
		if g.Name == name {
			return i
		}
	}
	return -1
}

func (s *Server) find(group, id string) (*target, *group, error) {
	g := s.gen.Load().groups[group]
	if g == nil {
		return nil, nil, fmt.Errorf("%q: %w", group, ErrUnknownGroup)
	}
	t := g.byID[id]
	if t == nil {
		return nil, nil, fmt.Errorf("%q in group %q: %w", id, group, ErrUnknownTarget)
	}
	return t, g, nil
}

// balanceMembers lists the configured (not deregistered) targets.
func (g *group) balanceMembers() []balance.Backend {
	members := make([]balance.Backend, 0, len(g.targets))
	for _, t := range g.targets {
		members = append(members, t)
	}
	return members
}

func newBalancer(alg string, members []balance.Backend, factor float64) (balance.Balancer, error) {
	if alg != "consistent_hash" {
		factor = 0
	}
	return balance.New(alg, members, balance.Options{BalanceFactor: factor})
}
