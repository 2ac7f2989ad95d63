package lb

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/l4"
)

// l4Server is one running tcp (TLS passthrough) listener.
type l4Server struct {
	cfg  config.Listener
	sock *socket
	ln   *l4.Listener
}

// l4GroupConfig maps a tcp target group's keys to the L4 engine's config.
func l4GroupConfig(gc config.TargetGroup) l4.GroupConfig {
	c := l4.GroupConfig{
		Name:                gc.Name,
		Algorithm:           gc.Algorithm,
		BalanceFactor:       *gc.BalanceFactor,
		Stickiness:          l4.StickinessConfig{Type: gc.Stickiness.Type, Duration: gc.Stickiness.Duration.D()},
		ProxyProtocol:       gc.ProxyProtocol,
		DeregistrationDelay: gc.DeregistrationDelay.D(),
		Health: l4.HealthConfig{
			Enabled:            *gc.HealthCheck.Enabled,
			Interval:           gc.HealthCheck.Interval.D(),
			Timeout:            gc.HealthCheck.Timeout.D(),
			HealthyThreshold:   gc.HealthCheck.HealthyThreshold,
			UnhealthyThreshold: gc.HealthCheck.UnhealthyThreshold,
		},
	}
	if gc.Algorithm != "consistent_hash" && gc.Stickiness.Type != "source_ip" {
		c.BalanceFactor = 0 // bounded loads apply to hashing only
	}
	for _, t := range gc.Targets {
		c.Targets = append(c.Targets, l4.TargetConfig{ID: t.ID, Address: t.Address, Weight: *t.Weight})
	}
	return c
}

// buildL4Groups starts the tcp groups of cfg, carrying health, drains and
// bindings over from prev (the running groups; nil at start). On error the
// groups it started are closed.
func (s *Server) buildL4Groups(cfg *config.Config, prev map[string]*l4.Group) (map[string]*l4.Group, error) {
	out := map[string]*l4.Group{}
	for _, gc := range cfg.TargetGroups {
		if gc.Protocol != "tcp" {
			continue
		}
		g, err := l4.NewGroupFrom(l4GroupConfig(gc), prev[gc.Name], s.clk, s.base.With("group", gc.Name))
		if err != nil {
			closeL4Groups(out)
			return nil, fmt.Errorf("target group %s: %w", gc.Name, err)
		}
		out[gc.Name] = g
	}
	return out, nil
}

func closeL4Groups(groups map[string]*l4.Group) {
	for _, g := range groups {
		g.Close()
	}
}

// l4Routes turns a tcp listener's rules into the engine's routes.
func l4Routes(lc config.Listener, groups map[string]*l4.Group) ([]l4.Route, *l4.Group) {
	var routes []l4.Route
	for _, r := range lc.Rules {
		routes = append(routes, l4.Route{SNI: r.SNI, Group: groups[r.TargetGroup]})
	}
	return routes, groups[lc.DefaultTargetGroup]
}

// syncL4 points the tcp listeners of cfg at groups: running listeners on
// the same address take the new routes and keep their socket; the others
// are started, and those that left are shut down. Sockets for new
// addresses were bound by planListeners.
func (s *Server) syncL4(cfg *config.Config, groups map[string]*l4.Group, plan *listenerPlan) error {
	keep := map[string]bool{}
	var errs []error
	for _, lc := range cfg.Listeners {
		if lc.Protocol != "tcp" {
			continue
		}
		keep[lc.Name] = true
		routes, def := l4Routes(lc, groups)
		if cur := s.l4servers[lc.Name]; cur != nil && cur.cfg.Address == lc.Address &&
			cur.cfg.ReadHeaderTimeout == lc.ReadHeaderTimeout && cur.cfg.IdleTimeout == lc.IdleTimeout {
			cur.cfg = lc
			errs = append(errs, cur.ln.SetRoutes(routes, def))
			continue
		}
		ln, err := l4.NewListener(routes, def, l4.ListenerOptions{
			Name: lc.Name, ReadHelloTimeout: lc.ReadHeaderTimeout.D(), IdleTimeout: lc.IdleTimeout.D(),
			Metrics: s.metrics.l4,
		}, s.log.With("listener", lc.Name))
		if err != nil {
			errs = append(errs, fmt.Errorf("listener %s: %w", lc.Name, err))
			continue
		}
		h := plan.l4socks[lc.Name]
		plan.l4used[lc.Name] = true
		if old := s.l4servers[lc.Name]; old != nil {
			s.retireL4(old)
		}
		s.l4servers[lc.Name] = &l4Server{cfg: lc, sock: h.s, ln: ln}
		go func() {
			if err := ln.Serve(h); err != nil && !errors.Is(err, l4.ErrListenerClosed) {
				s.log.Error("tcp listener stopped", "listener", lc.Name, "err", err)
			}
		}()
		s.log.Info("listening", "listener", lc.Name, "address", h.Addr().String(), "protocol", "tcp")
	}
	for name, old := range s.l4servers {
		if !keep[name] {
			s.retireL4(old)
			delete(s.l4servers, name)
		}
	}
	return errors.Join(errs...)
}

// retireL4 stops a tcp listener from accepting and gives its open
// connections five minutes (or until Close) to end.
func (s *Server) retireL4(old *l4Server) {
	s.retiring.Add(1)
	go func() {
		defer s.retiring.Done()
		ctx, cancel := s.retireContext()
		defer cancel()
		_ = old.ln.Shutdown(ctx)
	}()
}

// l4Metrics counts L4 connections and bytes in Prometheus.
type l4Metrics struct {
	conns *prometheus.CounterVec // group, target, outcome
	bytes *prometheus.CounterVec // group, target, direction
}

var _ l4.Metrics = (*l4Metrics)(nil)

func newL4Metrics(reg *prometheus.Registry) *l4Metrics {
	m := &l4Metrics{
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_l4_connections_total",
			Help: "TLS passthrough connections, by target group, target and outcome (connected, connect_error, no_target, no_route, bad_hello).",
		}, []string{"group", "target", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_l4_bytes_total", Help: "Bytes relayed by tcp listeners, by target group, target and direction (in: from clients, out: to clients).",
		}, []string{"group", "target", "direction"}),
	}
	reg.MustRegister(m.conns, m.bytes)
	return m
}

// Conn implements l4.Metrics.
func (m *l4Metrics) Conn(group, target, outcome string) {
	m.conns.WithLabelValues(group, target, outcome).Inc()
}

// Bytes implements l4.Metrics.
func (m *l4Metrics) Bytes(group, target string, in, out int64) {
	m.bytes.WithLabelValues(group, target, "in").Add(float64(in))
	m.bytes.WithLabelValues(group, target, "out").Add(float64(out))
}
