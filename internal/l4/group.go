package l4

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherlb/tether/internal/affinity"
	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/health"
	"github.com/tetherlb/tether/internal/lb/balance"
)

// sweepEvery is how often the source_ip binding table drops the bindings
// that have expired.
const sweepEvery = 30 * time.Second

// ErrUnknownTarget is returned by Drain and Undrain for an id that is not
// in the group.
var ErrUnknownTarget = errors.New("no such target")

// State is a target's state as Snapshot reports it.
type State string

// Target states. Initial, Healthy and Unhealthy come from health checks;
// Draining and Drained from Drain.
const (
	StateInitial   State = "initial"   // no check has decided yet; takes connections
	StateHealthy   State = "healthy"   // takes connections
	StateUnhealthy State = "unhealthy" // takes none while another target is healthy
	StateDraining  State = "draining"  // takes only clients bound to it, until the delay ends
	StateDrained   State = "drained"   // takes no connection
)

// TargetStatus is one target as Snapshot reports it.
type TargetStatus struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	State   State  `json:"state"`
	Weight  int    `json:"weight"`
	// Active is the number of connections open, or being opened, to the
	// target.
	Active int64 `json:"active_connections"`
	// Total is the number of connections opened to the target since the
	// group was made.
	Total uint64 `json:"total_connections"`
}

// Group is a target group of an L4 listener: its targets, their health,
// the balancer that spreads connections over them and the source_ip
// binding table. One Group may serve any number of Listeners. It is safe
// for concurrent use.
//
// Like AWS NLB, a Group fails open: while none of its targets that are not
// draining is healthy, connections go to all of them rather than to none.
type Group struct {
	cfg     GroupConfig
	clk     clock.Clock
	log     *slog.Logger
	targets []*target
	byID    map[string]*target
	bal     balance.Balancer // the configured algorithm
	hashBal balance.Balancer // source_ip: consistent hash with bounded loads
	table   *affinity.Table  // source_ip bindings; nil without stickiness

	stop      context.CancelFunc
	done      sync.WaitGroup
	closeOnce sync.Once
}

// target is the runtime of one configured target.
type target struct {
	id      string
	address string
	weight  int
	st      *health.Status

	active   atomic.Int64  // connections open or being opened
	total    atomic.Uint64 // connections opened
	drainEnd atomic.Int64  // Unix nanoseconds when draining ends; 0 = not draining
	// removed marks a target that left the config in a reload: it drains
	// until its deadline, then the next reload drops it.
	removed bool
}

var _ balance.Backend = (*target)(nil)

// ID implements balance.Backend.
func (t *target) ID() string { return t.id }

// Weight implements balance.Backend.
func (t *target) Weight() int { return t.weight }

// EffectiveWeight implements balance.Backend. L4 targets have no slow
// start, so it is the weight.
func (t *target) EffectiveWeight() float64 { return float64(t.weight) }

// Outstanding implements balance.Backend: the open connections.
func (t *target) Outstanding() int64 { return t.active.Load() }

func (t *target) healthy() bool  { return t.st.State() != health.Unhealthy }
func (t *target) draining() bool { return t.drainEnd.Load() != 0 }

func (t *target) state(now time.Time) State {
	if end := t.drainEnd.Load(); end != 0 {
		if now.UnixNano() >= end {
			return StateDrained
		}
		return StateDraining
	}
	switch t.st.State() {
	case health.Healthy:
		return StateHealthy
	case health.Unhealthy:
		return StateUnhealthy
	}
	return StateInitial
}

// NewGroup returns the group cfg describes, with the defaults of its zero
// fields filled in, and starts its health checks, if enabled, and the
// sweeping of its binding table, if it has one; Close stops them. It
// reports the errors of cfg.Validate. A nil clk means the wall clock; it
// times check intervals, stickiness and draining, while network timeouts
// always run on the wall clock. A nil logger discards.
func NewGroup(cfg GroupConfig, clk clock.Clock, logger *slog.Logger) (*Group, error) {
	return NewGroupFrom(cfg, nil, clk, logger)
}

// NewGroupFrom is NewGroup for a reload: targets of old with the same id,
// address and health settings keep their health state and drain deadline,
// and the source_ip bindings are kept when the stickiness is unchanged, so
// a reload moves nobody. Targets of old that are not in cfg drain for the
// deregistration delay (see leftTargets). old may be nil; the caller
// closes it afterwards.
func NewGroupFrom(cfg GroupConfig, old *Group, clk clock.Clock, logger *slog.Logger) (*Group, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if clk == nil {
		clk = clock.Real{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := &Group{cfg: cfg, clk: clk, byID: map[string]*target{},
		log: logger.With("component", "l4.group", "group", cfg.Name)}
	hc := health.Config{
		Enabled:            cfg.Health.Enabled,
		Interval:           cfg.Health.Interval,
		Timeout:            cfg.Health.Timeout,
		HealthyThreshold:   cfg.Health.HealthyThreshold,
		UnhealthyThreshold: cfg.Health.UnhealthyThreshold,
	}
	sameHealth := old != nil && old.cfg.Health == cfg.Health
	members := make([]balance.Backend, 0, len(cfg.Targets))
	for _, tc := range cfg.Targets {
		t := &target{id: tc.ID, address: tc.Address, weight: tc.Weight}
		if prev := g.previous(old, tc); prev != nil && sameHealth {
			t.st = prev.st
			t.drainEnd.Store(prev.drainEnd.Load())
		} else {
			t.st = health.NewStatus(hc, clk, g.logTransition(t))
		}
		g.targets = append(g.targets, t)
		g.byID[t.id] = t
		members = append(members, t)
	}
	for _, t := range g.leftTargets(old, sameHealth, hc) {
		g.targets = append(g.targets, t)
		g.byID[t.id] = t
		members = append(members, t)
	}
	factor := cfg.BalanceFactor
	if cfg.Algorithm != "consistent_hash" {
		factor = 0
	}
	var err error
	if g.bal, err = balance.New(cfg.Algorithm, members, balance.Options{BalanceFactor: factor}); err != nil {
		return nil, fmt.Errorf("l4 group %q: %w", cfg.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.stop = cancel
	if cfg.Stickiness.Type == StickinessSourceIP {
		opts := balance.Options{BalanceFactor: cfg.BalanceFactor}
		if g.hashBal, err = balance.New("consistent_hash", members, opts); err != nil {
			cancel()
			return nil, fmt.Errorf("l4 group %q: %w", cfg.Name, err)
		}
		if old != nil && old.table != nil && old.cfg.Stickiness == cfg.Stickiness && old.cfg.TableCap == cfg.TableCap {
			g.table = old.table
		} else {
			g.table = affinity.NewTable(cfg.Stickiness.Duration, cfg.TableCap)
		}
		g.done.Add(1)
		go g.sweep(ctx)
	}
	if cfg.Health.Enabled {
		for _, t := range g.targets {
			g.done.Add(1)
			go g.runChecks(ctx, t)
		}
	}
	return g, nil
}

// leftTargets returns the targets of old that are not in the new config and
// have not finished draining, as draining targets of g: like a target
// deregistered from an NLB target group, one that leaves the config takes
// no new clients, keeps the clients bound to it until the deregistration
// delay ends, and keeps its open connections however long they last.
func (g *Group) leftTargets(old *Group, sameHealth bool, hc health.Config) []*target {
	if old == nil {
		return nil
	}
	now := g.clk.Now()
	var out []*target
	for _, ot := range old.targets {
		if g.byID[ot.id] != nil || ot.state(now) == StateDrained {
			continue
		}
		t := &target{id: ot.id, address: ot.address, weight: ot.weight, removed: true}
		if sameHealth {
			t.st = ot.st
		} else {
			t.st = health.NewStatus(hc, g.clk, g.logTransition(t))
		}
		end := ot.drainEnd.Load()
		if end == 0 {
			end = max(now.Add(g.cfg.DeregistrationDelay).UnixNano(), 1)
			g.log.Info("target left the config; draining", "target", t.id, "delay", g.cfg.DeregistrationDelay.String())
		}
		t.drainEnd.Store(end)
		out = append(out, t)
	}
	return out
}

// previous returns old's target with tc's id and address, or nil.
func (g *Group) previous(old *Group, tc TargetConfig) *target {
	if old == nil {
		return nil
	}
	if t := old.byID[tc.ID]; t != nil && t.address == tc.Address {
		return t
	}
	return nil
}

// Name returns the group's name.
func (g *Group) Name() string { return g.cfg.Name }

// Close stops the group's health checks and table sweeps and waits for
// them to end. Connections through the group are not affected; a closed
// group still serves, with the health it last knew. Close is idempotent.
func (g *Group) Close() {
	g.closeOnce.Do(func() {
		g.stop()
		g.done.Wait()
	})
}

// Drain starts the deregistration of target id: it takes no new clients,
// while connections already open continue, however long they last. With
// source_ip stickiness, the clients bound to it keep being sent to it
// until delay has passed (0 = at once; negative = the group's
// DeregistrationDelay), as long as it stays healthy; then they are bound
// elsewhere. Draining an already draining target keeps the earlier
// deadline. It returns ErrUnknownTarget for an id not in the group.
func (g *Group) Drain(id string, delay time.Duration) error {
	t := g.byID[id]
	if t == nil {
		return fmt.Errorf("drain %q in l4 group %q: %w", id, g.cfg.Name, ErrUnknownTarget)
	}
	if delay < 0 {
		delay = g.cfg.DeregistrationDelay
	}
	end := max(g.clk.Now().Add(delay).UnixNano(), 1)
	if t.drainEnd.CompareAndSwap(0, end) {
		g.log.Info("target draining", "target", id, "delay", delay.String())
	}
	return nil
}

// Undrain puts a draining or drained target back into service. It returns
// ErrUnknownTarget for an id not in the group.
func (g *Group) Undrain(id string) error {
	t := g.byID[id]
	if t == nil || t.removed {
		return fmt.Errorf("undrain %q in l4 group %q: %w (a target that left the config drains until it is gone)", id, g.cfg.Name, ErrUnknownTarget)
	}
	if t.drainEnd.Swap(0) != 0 {
		g.log.Info("target back in service", "target", id)
	}
	return nil
}

// Snapshot returns the state and connection counts of the targets, in
// configuration order.
func (g *Group) Snapshot() []TargetStatus {
	now := g.clk.Now()
	out := make([]TargetStatus, 0, len(g.targets))
	for _, t := range g.targets {
		out = append(out, TargetStatus{ID: t.id, Address: t.address, State: t.state(now),
			Weight: t.weight, Active: t.active.Load(), Total: t.total.Load()})
	}
	return out
}

// choose returns the target for a new connection from the client at IP
// address key, never avoid, and counts the connection as active on it; the
// caller must call release. It returns nil if no target can take it.
//
// With source_ip stickiness a remembered binding is kept while its target
// is healthy (or the group fails open) and not drained; otherwise the
// client is placed by consistent hashing with bounded loads on key and the
// binding remembered. Without it, the configured algorithm chooses, with
// key as the consistent_hash key.
func (g *Group) choose(key string, avoid *target) *target {
	now := g.clk.Now()
	if g.table != nil {
		if id, ok, _ := g.table.Get(key, now); ok {
			if t := g.byID[id]; t != nil && t != avoid && g.boundUsable(t, now) {
				g.table.Put(key, id, now)
				t.active.Add(1)
				return t
			}
		}
	}
	failOpen := g.failingOpen()
	eligible := func(b balance.Backend) bool {
		t := b.(*target)
		return t != avoid && !t.draining() && (failOpen || t.healthy())
	}
	bal, hashKey := g.bal, ""
	switch {
	case g.table != nil:
		bal, hashKey = g.hashBal, key
	case g.cfg.Algorithm == "consistent_hash":
		hashKey = key
	}
	b, ok := bal.Pick(hashKey, eligible)
	if !ok {
		return nil
	}
	t := b.(*target)
	t.active.Add(1)
	if g.table != nil && !g.table.Put(key, t.id, now) {
		g.log.Debug("source_ip binding table full: client not remembered", "client", key)
	}
	return t
}

// release ends a connection counted by choose. If the client is still
// bound to t, the binding's idle time starts again from now.
func (g *Group) release(key string, t *target) {
	t.active.Add(-1)
	if g.table == nil {
		return
	}
	now := g.clk.Now()
	if id, ok, _ := g.table.Get(key, now); ok && id == t.id {
		g.table.Put(key, id, now)
	}
}

// boundUsable reports whether a bound client may stay on t: t is not past
// its drain deadline, and it is healthy or the group fails open.
func (g *Group) boundUsable(t *target, now time.Time) bool {
	return t.state(now) != StateDrained && (t.healthy() || g.failingOpen())
}

// failingOpen reports whether no target that is not draining is healthy.
func (g *Group) failingOpen() bool {
	for _, t := range g.targets {
		if !t.draining() && t.healthy() {
			return false
		}
	}
	return true
}

// dial connects to t within the group's connect timeout.
func (g *Group) dial(ctx context.Context, t *target) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", t.address)
	if err != nil {
		return nil, fmt.Errorf("connect to target %s: %w", t.id, err)
	}
	return c, nil
}

// sweep drops expired bindings every sweepEvery until ctx ends.
func (g *Group) sweep(ctx context.Context) {
	defer g.done.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.clk.After(sweepEvery):
			g.table.Sweep(g.clk.Now())
		}
	}
}

// logTransition returns the health callback that logs t's transitions.
func (g *Group) logTransition(t *target) func(from, to health.State) {
	return func(from, to health.State) {
		log := g.log.Info
		if to == health.Unhealthy {
			log = g.log.Warn
		}
		log("target is "+to.String(), "target", t.id, "address", t.address, "from", from.String())
	}
}
