// Package lb is tether's L7 load balancer: listeners, routing rules, target
// groups with balancing algorithms, health, draining and sealed-token
// stickiness, built on net/http/httputil.ReverseProxy.
//
// The request path: listener (conn.go, handler.go) → router (router.go) →
// target group (group.go) → affinity (sticky.go) or balancer
// (balance/) → proxy and retry (proxy.go) → target.
package lb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/affinity"
	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/health"
	"github.com/tetherlb/tether/internal/keyring"
	"github.com/tetherlb/tether/internal/l4"
	"github.com/tetherlb/tether/session"
)

// Deps are what a Server needs from its surroundings. Nil fields get
// defaults: the real clock, a discarding logger, no access log, a new
// registry.
type Deps struct {
	Clock    clock.Clock
	Logger   *slog.Logger // process log
	Access   *slog.Logger // access log; nil = off
	Registry *prometheus.Registry
	// Sessions is the session Manager that rules with a session authorizer
	// use; nil when the config has no sessions block.
	Sessions *session.Manager
	// Tokens is tether's own token service, for JWT authorizers with
	// local: true; nil without a tokens block.
	Tokens TokenAuthority
}

// TokenAuthority is tether's token service as JWT authorizers see it. Its
// methods must be safe for concurrent use.
type TokenAuthority interface {
	// Issuer returns the iss of its tokens.
	Issuer() string
	// JWKS returns its current public JSON Web Key Set document.
	JWKS(ctx context.Context) ([]byte, error)
	// NotBefore returns the time before which every token issued to
	// subject by issuer is revoked (log out everywhere), or the zero time
	// when there is none. The error is for system failures only: the
	// authorizer then answers 503.
	NotBefore(ctx context.Context, issuer, subject string) (time.Time, error)
	// SessionRevoked reports whether a logout everywhere revoked subject's
	// login sid (the token's sid claim). It catches the tokens NotBefore
	// cannot tell from later ones: those issued in the logout's own second.
	SessionRevoked(issuer, subject, sid string) bool
}

// Server runs the listeners and target groups of a config. Reload swaps the
// config without dropping connections or moving bindings. Safe for
// concurrent use.
type Server struct {
	clk      clock.Clock
	base     *slog.Logger // the logger given in Deps
	log      *slog.Logger
	access   *slog.Logger
	registry *prometheus.Registry
	metrics  *metrics
	sessions *session.Manager // for session authorizers; nil without a sessions block
	tokens   TokenAuthority   // for jwt authorizers with local: true; nil without a tokens block

	transport *http.Transport      // plain-HTTP targets: h1's fallback (upgrades)
	h1        *h1Transport         // plain-HTTP targets
	upstreams map[string]*upstream // TLS bridging setups, by key
	buffers   *bufferPool

	gen       atomic.Pointer[generation]
	keys      atomic.Pointer[affinity.Sealer]
	reload    sync.Mutex // serialises Start, Reload and Close
	servers   map[string]*httpServer
	l4servers map[string]*l4Server
	stop      context.CancelFunc
	done      sync.WaitGroup

	closing  chan struct{}   // closed by Close: retiring servers shut down now
	closeCtx context.Context // the deadline of Close; set before closing is closed
	retiring sync.WaitGroup  // servers being retired (see retire)
	upgraded upgradedConns   // WebSocket and other upgraded client connections
}

// generation is everything built from one config.
type generation struct {
	cfg     *config.Config
	groups  map[string]*group
	order   []string // group names in config order
	routers map[string]*router

	l4groups  map[string]*l4.Group // tcp (TLS passthrough) groups
	verifiers verifiers            // of the jwt authorizers, shared by the rules that agree on one
}

// New builds a server from a validated config and the key ring. It opens
// no sockets; Start does.
func New(cfg *config.Config, ring *keyring.Ring, deps Deps) (*Server, error) {
	if deps.Clock == nil {
		deps.Clock = clock.Real{}
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	s := &Server{
		clk: deps.Clock, base: deps.Logger, log: deps.Logger.With("component", "lb"), access: deps.Access,
		registry: deps.Registry, metrics: newMetrics(deps.Registry),
		transport: newTransport(), buffers: &bufferPool{}, servers: map[string]*httpServer{},
		l4servers: map[string]*l4Server{},
		closing:   make(chan struct{}),
		sessions:  deps.Sessions,
		tokens:    deps.Tokens,
	}
	if needsSessions(cfg) && s.sessions == nil {
		return nil, errNoSessions
	}
	if err := s.checkTokens(cfg); err != nil {
		return nil, err
	}
	s.h1 = newH1Transport(s.transport, s.clk)
	sealer, err := affinity.NewSealer(ring)
	if err != nil {
		return nil, fmt.Errorf("loading key ring: %w", err)
	}
	s.keys.Store(sealer)
	ups, err := s.prepareUpstreams(cfg)
	if err != nil {
		return nil, err
	}
	vs, created, err := s.prepareVerifiers(cfg, nil)
	if err != nil {
		return nil, err
	}
	s.keepUpstreams(ups)
	gen := s.build(cfg, nil, ups, vs)
	if gen.l4groups, err = s.buildL4Groups(cfg, nil); err != nil {
		closeVerifiers(created)
		return nil, err
	}
	s.gen.Store(gen)
	return s, nil
}

func (s *Server) sealer() *affinity.Sealer { return s.keys.Load() }

// Registry returns the Prometheus registry the server's metrics live in.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Config returns the config in force.
func (s *Server) Config() *config.Config { return s.gen.Load().cfg }

// build makes a generation from cfg, reusing the target runtimes and
// binding tables of prev. Its jwt authorizers use the verifiers vs.
func (s *Server) build(cfg *config.Config, prev *generation, ups map[string]*upstream, vs verifiers) *generation {
	gen := &generation{cfg: cfg, groups: map[string]*group{}, routers: map[string]*router{}, verifiers: vs}
	now := s.clk.Now()
	for _, gc := range cfg.TargetGroups {
		if gc.Protocol == "tcp" {
			continue // built by buildL4Groups
		}
		var old *group
		if prev != nil {
			old = prev.groups[gc.Name]
		}
		g := s.buildGroup(gc, old, now, ups[gc.Name])
		gen.groups[gc.Name] = g
		gen.order = append(gen.order, gc.Name)
	}
	for _, lc := range cfg.Listeners {
		if lc.Protocol != "tcp" {
			gate := func(ac *config.Authorizer) authorizer { return s.newAuthorizer(lc.Name, ac, cfg, vs) }
			gen.routers[lc.Name] = newRouter(lc.Rules, gen.groups[lc.DefaultTargetGroup], gen.groups, gate)
		}
	}
	if prev != nil {
		gen.l4groups = prev.l4groups
	}
	return gen
}

// buildGroup makes the runtime of gc. Targets kept from old keep their
// runtime; targets that left the config start draining and stay until
// deregistration_delay ends.
func (s *Server) buildGroup(gc config.TargetGroup, old *group, now time.Time, up *upstream) *group {
	g := &group{name: gc.Name, cfg: gc, srv: s, byID: map[string]*target{}, sticky: newStickiness(gc.Stickiness)}
	g.hashSource, g.hashName, _ = config.ParseHashKey(gc.HashKey)
	hc := healthConfig(gc.HealthCheck, gc.Protocol)
	checkLog := s.base.With("group", gc.Name)
	for _, tc := range gc.Targets {
		var t *target
		if old != nil {
			t = old.byID[tc.ID]
		}
		if t == nil || t.address != tc.Address {
			if t != nil {
				t.stopChecks()
			}
			t = s.newTarget(gc.Name, tc)
		}
		t.weight.Store(int32(*tc.Weight))
		if t.removed.Swap(false) {
			t.undrain() // deregistered by an earlier reload, now back
		}
		t.slowStart.Store(int64(gc.SlowStart.D()))
		t.startChecks(hc, up, checkLog)
		g.targets = append(g.targets, t)
		g.byID[t.id] = t
	}
	members := g.balanceMembers()
	factor := *gc.BalanceFactor
	var err error
	if g.bal, err = newBalancer(gc.Algorithm, members, factor); err != nil {
		panic(err) // the config was validated: a bad algorithm here is a bug
	}
	if g.sticky.mode == "source_ip" {
		g.hashBal, _ = newBalancer("consistent_hash", members, factor)
	}
	if old != nil {
		for _, t := range old.targets {
			if _, kept := g.byID[t.id]; kept {
				continue
			}
			if !t.removed.Load() {
				t.removed.Store(true)
				t.drain(now, gc.DeregistrationDelay.D())
				s.log.Info("target deregistered, draining", "group", gc.Name, "target", t.id,
					"delay", gc.DeregistrationDelay.D().String())
			}
			if t.state(now) != StateDrained || t.outstanding.Load() > 0 {
				// Listed, and its series kept, until its drain has ended
				// and its last request with it: what still runs on it
				// stays in tether_requests_in_flight.
				g.targets = append(g.targets, t)
				g.byID[t.id] = t
			}
		}
		if old.table != nil && old.sticky.mode == g.sticky.mode && old.sticky.bindingWindow() == g.sticky.bindingWindow() {
			g.table = old.table
		}
	}
	if g.table == nil {
		g.table = affinity.NewTable(g.sticky.bindingWindow(), 0)
	}
	g.up = up
	g.proxy = g.newProxy(up.rt, s.buffers)
	return g
}

func (s *Server) newTarget(group string, tc config.Target) *target {
	t := &target{id: tc.ID, address: tc.Address, clk: s.clk}
	t.onHealth = func(from, to health.State) {
		// The checker logs transitions it causes, with the reason; this
		// also covers passive ones (failed connects, 5xx streaks).
		s.log.Debug("target health changed", "group", group, "target", t.id, "from", from.String(), "to", to.String())
		s.metrics.setState(group, t.id, t.state(s.clk.Now()))
	}
	return t
}

// Start opens the listeners and starts the background work (health checks
// already run from New). It returns once every listener accepts.
func (s *Server) Start(ctx context.Context) error {
	s.reload.Lock()
	defer s.reload.Unlock()
	ctx, s.stop = context.WithCancel(context.WithoutCancel(ctx))
	gen := s.gen.Load()
	plan, err := s.planListeners(gen.cfg)
	if err != nil {
		return err
	}
	s.applyListeners(gen.cfg, plan)
	if err := s.syncL4(gen.cfg, gen.l4groups, plan); err != nil {
		return err
	}
	plan.closeUnused()
	s.done.Add(1)
	go s.maintain(ctx)
	return nil
}

// Addr returns the bound address of the named listener, or nil.
func (s *Server) Addr(listener string) net.Addr {
	s.reload.Lock()
	defer s.reload.Unlock()
	if hs := s.servers[listener]; hs != nil {
		return hs.front.Addr()
	}
	if ls := s.l4servers[listener]; ls != nil {
		return ls.sock.raw.Addr()
	}
	return nil
}

// Reload swaps in cfg (already validated) and a re-read key ring. Target
// runtimes, bindings and open connections are kept; removed targets drain.
// Listeners whose address or TLS changed are restarted; the others go on.
func (s *Server) Reload(cfg *config.Config, ring *keyring.Ring) error {
	s.reload.Lock()
	defer s.reload.Unlock()
	if needsSessions(cfg) && s.sessions == nil {
		s.metrics.reloads.WithLabelValues("failure").Inc()
		return fmt.Errorf("reloading: %w", errNoSessions)
	}
	if err := s.checkTokens(cfg); err != nil {
		s.metrics.reloads.WithLabelValues("failure").Inc()
		return fmt.Errorf("reloading: %w", err)
	}
	sealer, err := affinity.NewSealer(ring)
	if err != nil {
		s.metrics.reloads.WithLabelValues("failure").Inc()
		return fmt.Errorf("reloading: key ring: %w", err)
	}
	// Sockets, certificates and CA files first: if they fail, nothing has
	// changed.
	ups, err := s.prepareUpstreams(cfg)
	if err != nil {
		s.metrics.reloads.WithLabelValues("failure").Inc()
		return fmt.Errorf("reloading: %w", err)
	}
	prev := s.gen.Load()
	// Verifiers are kept for authorizers that did not change, with their
	// key sets and caches; created holds the new ones, closed if the
	// reload fails from here.
	vs, created, err := s.prepareVerifiers(cfg, prev.verifiers)
	if err != nil {
		s.metrics.reloads.WithLabelValues("failure").Inc()
		return fmt.Errorf("reloading: %w", err)
	}
	plan, err := s.planListeners(cfg)
	if err != nil {
		closeVerifiers(created)
		s.metrics.reloads.WithLabelValues("failure").Inc()
		return fmt.Errorf("reloading: %w", err)
	}
	l4groups, err := s.buildL4Groups(cfg, prev.l4groups)
	if err != nil {
		plan.abort()
		closeVerifiers(created)
		s.metrics.reloads.WithLabelValues("failure").Inc()
		return fmt.Errorf("reloading: %w", err)
	}
	s.keepUpstreams(ups)
	next := s.build(cfg, prev, ups, vs)
	next.l4groups = l4groups
	s.keys.Store(sealer)
	s.gen.Store(next)
	s.applyListeners(cfg, plan)
	if err := s.syncL4(cfg, l4groups, plan); err != nil {
		s.log.Error("tcp listeners", "err", err)
	}
	plan.closeUnused()
	closeL4Groups(prev.l4groups)
	prev.verifiers.closeUnused(next.verifiers)
	for name, og := range prev.groups {
		if _, ok := next.groups[name]; !ok {
			for _, t := range og.targets {
				t.stopChecks()
				s.metrics.forget(name, t.id)
			}
		}
	}
	s.metrics.reloads.WithLabelValues("success").Inc()
	s.log.Info("configuration reloaded", "groups", len(next.groups), "listeners", len(cfg.Listeners))
	return nil
}

// ReloadRefused counts a reload that was refused before it reached the
// server, such as one with an invalid config file.
func (s *Server) ReloadRefused() { s.metrics.reloads.WithLabelValues("failure").Inc() }

// Close stops accepting, lets requests in flight finish until ctx ends,
// then closes what is left and stops health checks. WebSocket clients get
// a close frame (1001, going away) once the HTTP requests are done.
func (s *Server) Close(ctx context.Context) error {
	s.reload.Lock()
	defer s.reload.Unlock()
	select {
	case <-s.closing:
	default:
		s.closeCtx = ctx
		close(s.closing)
	}
	err := s.closeListeners(ctx)
	closeL4Groups(s.gen.Load().l4groups)
	s.upgraded.closeAll()
	s.retiring.Wait()
	if s.stop != nil {
		s.stop()
	}
	s.done.Wait()
	for _, g := range s.gen.Load().groups {
		for _, t := range g.targets {
			t.stopChecks()
		}
	}
	s.gen.Load().verifiers.closeUnused(nil)
	s.h1.CloseIdleConnections() // and its fallback's, s.transport
	for _, u := range s.upstreams {
		u.transport.CloseIdleConnections()
	}
	return err
}

// closeListeners stops every listener at once (each stops accepting
// immediately) and waits, until ctx ends, for their requests and
// connections in flight.
func (s *Server) closeListeners(ctx context.Context) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	fail := func(name string, err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, fmt.Errorf("closing listener %s: %w", name, err))
	}
	for name, hs := range s.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := hs.shutdown(ctx); err != nil {
				fail(name, err)
			}
		}()
		delete(s.servers, name)
	}
	for name, ls := range s.l4servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ls.ln.Shutdown(ctx); err != nil {
				fail(name, err)
			}
		}()
		delete(s.l4servers, name)
	}
	wg.Wait()
	return errors.Join(errs...)
}
