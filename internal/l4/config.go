package l4

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/tetherlb/tether/internal/lb/balance"
)

// Defaults for the zero values of GroupConfig and ListenerOptions.
const (
	DefaultConnectTimeout     = 5 * time.Second
	DefaultStickiness         = 24 * time.Hour
	DefaultHealthInterval     = 10 * time.Second
	DefaultHealthTimeout      = 5 * time.Second
	DefaultHealthyThreshold   = 3
	DefaultUnhealthyThreshold = 2
	DefaultReadHelloTimeout   = 5 * time.Second
	DefaultIdleTimeout        = 350 * time.Second
)

// Stickiness types.
const (
	StickinessNone     = "none"
	StickinessSourceIP = "source_ip"
)

// GroupConfig describes a target group of TLS (or other TCP) servers. It is
// plain data; Validate reports what is wrong with it, and NewGroup fills in
// the defaults of zero fields.
type GroupConfig struct {
	// Name identifies the group in logs and metrics. Required.
	Name string
	// Targets are the servers of the group. At least one is required.
	Targets []TargetConfig
	// Algorithm picks a target for a new connection: round_robin,
	// least_outstanding_requests (fewest open connections), weighted_random
	// or consistent_hash (on the client IP address). Default round_robin.
	Algorithm string
	// BalanceFactor bounds the load of consistent_hash and of source_ip
	// stickiness: no target is given a connection that takes it past
	// BalanceFactor times its weighted share of the open connections. 0
	// (the default here; config's default is 1.25) turns it off; otherwise
	// it must be greater than 1.
	BalanceFactor float64
	// Stickiness binds a client IP address to a target.
	Stickiness StickinessConfig
	// Health configures TCP-connect health checks.
	Health HealthConfig
	// ProxyProtocol, if set, sends each target a PROXY protocol version 2
	// header with the client's address before any client byte.
	ProxyProtocol bool
	// DeregistrationDelay is how long a draining target keeps serving the
	// clients bound to it by source_ip stickiness, when Group.Drain is
	// given a negative delay. 0 means none: a drained target takes no
	// connection at all. Connections already open are never cut by
	// draining. The zero value is 0: config defaults it to 300s.
	DeregistrationDelay time.Duration
	// ConnectTimeout bounds a connection attempt to a target. Default 5s.
	ConnectTimeout time.Duration
	// TableCap is the most client addresses the source_ip binding table
	// remembers. Default affinity.DefaultTableCap.
	TableCap int
}

// TargetConfig is one server.
type TargetConfig struct {
	// ID names the target in metrics, logs and Snapshot, and places it on
	// the consistent-hash ring. Required, unique in its group.
	ID string
	// Address is the target's host:port. Required.
	Address string
	// Weight is the target's share of new connections, 0 to 999; 0 takes
	// no new connections. The zero value is 0: config defaults it to 1.
	Weight int
}

// StickinessConfig binds clients to targets by their IP address, like
// Kubernetes' sessionAffinity ClientIP.
type StickinessConfig struct {
	// Type is none or source_ip. Default none. With source_ip a new client
	// address is placed by consistent hashing with bounded loads on the
	// address, and the binding is remembered while it is used.
	Type string
	// Duration is how long a source_ip binding lasts after its last
	// connection opened or closed. Default 24h.
	Duration time.Duration
}

// HealthConfig configures TCP-connect health checks: a target is healthy
// if a TCP connection to its address opens within Timeout. A connection
// attempt for a client that fails marks the target unhealthy at once, with
// or without active checks.
type HealthConfig struct {
	// Enabled turns active checks on. Without them a target marked
	// unhealthy by a failed connection is tried again after Interval.
	Enabled bool
	// Interval is the time between the end of one check and the start of
	// the next, and the passive cool-off without active checks. Default 10s.
	Interval time.Duration
	// Timeout bounds one check. Default 5s; must be less than Interval.
	Timeout time.Duration
	// HealthyThreshold is the number of consecutive good checks that make
	// an unhealthy target healthy. Default 3.
	HealthyThreshold int
	// UnhealthyThreshold is the number of consecutive failed checks that
	// make a healthy target unhealthy. Default 2.
	UnhealthyThreshold int
}

// Validate reports every problem with c at once, joined with errors.Join,
// each naming the key and the allowed values. Zero values stand for the
// documented defaults and are valid.
func (c GroupConfig) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("l4 group %q: %s: "+format, append([]any{c.Name, key}, args...)...))
	}
	if c.Name == "" {
		bad("name", "required")
	}
	if len(c.Targets) == 0 {
		bad("targets", "at least one target is required")
	}
	c.validateTargets(bad)
	if c.Algorithm != "" && !slices.Contains(balance.Algorithms(), c.Algorithm) {
		bad("algorithm", "want one of %s, got %q", strings.Join(balance.Algorithms(), ", "), c.Algorithm)
	}
	if f := c.BalanceFactor; f != 0 && (math.IsNaN(f) || f <= 1 || math.IsInf(f, 0)) {
		bad("balance_factor", "want 0 (off) or a number greater than 1, got %v", f)
	}
	switch c.Stickiness.Type {
	case "", StickinessNone, StickinessSourceIP:
	default:
		bad("stickiness.type", "want none or source_ip, got %q", c.Stickiness.Type)
	}
	if c.Stickiness.Duration < 0 {
		bad("stickiness.duration", "want a positive duration, got %v", c.Stickiness.Duration)
	}
	c.Health.validate(bad)
	if c.DeregistrationDelay < 0 {
		bad("deregistration_delay", "want 0 or more, got %v", c.DeregistrationDelay)
	}
	if c.ConnectTimeout < 0 {
		bad("connect_timeout", "want a positive duration, got %v", c.ConnectTimeout)
	}
	if c.TableCap < 0 {
		bad("table_cap", "want 0 (default) or more, got %d", c.TableCap)
	}
	return errors.Join(errs...)
}

// validateTargets reports the problems of c.Targets to bad.
func (c GroupConfig) validateTargets(bad func(key, format string, args ...any)) {
	seen := map[string]bool{}
	for i, t := range c.Targets {
		key := fmt.Sprintf("targets[%d]", i)
		switch {
		case t.ID == "":
			bad(key+".id", "required")
		case seen[t.ID]:
			bad(key+".id", "duplicate id %q", t.ID)
		}
		seen[t.ID] = true
		if _, port, err := net.SplitHostPort(t.Address); err != nil || port == "" {
			bad(key+".address", "want host:port, got %q", t.Address)
		}
		if t.Weight < 0 || t.Weight > 999 {
			bad(key+".weight", "want 0 to 999, got %d", t.Weight)
		}
	}
}

// validate reports the problems of h to bad.
func (h HealthConfig) validate(bad func(key, format string, args ...any)) {
	if h.Interval < 0 || h.Timeout < 0 {
		bad("health_check", "want positive interval and timeout, got %v and %v", h.Interval, h.Timeout)
	} else if h.Enabled && cmp.Or(h.Timeout, DefaultHealthTimeout) >= cmp.Or(h.Interval, DefaultHealthInterval) {
		bad("health_check.timeout", "must be less than the interval, got %v and %v",
			cmp.Or(h.Timeout, DefaultHealthTimeout), cmp.Or(h.Interval, DefaultHealthInterval))
	}
	if h.HealthyThreshold < 0 || h.UnhealthyThreshold < 0 {
		bad("health_check", "want thresholds of 1 or more, got %d and %d", h.HealthyThreshold, h.UnhealthyThreshold)
	}
}

// withDefaults returns c with its zero fields set to their defaults.
func (c GroupConfig) withDefaults() GroupConfig {
	c.Algorithm = cmp.Or(c.Algorithm, "round_robin")
	c.Stickiness.Type = cmp.Or(c.Stickiness.Type, StickinessNone)
	c.Stickiness.Duration = cmp.Or(c.Stickiness.Duration, DefaultStickiness)
	c.Health.Interval = cmp.Or(c.Health.Interval, DefaultHealthInterval)
	c.Health.Timeout = cmp.Or(c.Health.Timeout, DefaultHealthTimeout)
	c.Health.HealthyThreshold = cmp.Or(c.Health.HealthyThreshold, DefaultHealthyThreshold)
	c.Health.UnhealthyThreshold = cmp.Or(c.Health.UnhealthyThreshold, DefaultUnhealthyThreshold)
	c.ConnectTimeout = cmp.Or(c.ConnectTimeout, DefaultConnectTimeout)
	return c
}

// ListenerOptions tunes a Listener. The zero value is ready to use.
type ListenerOptions struct {
	// Name identifies the listener in logs.
	Name string
	// ReadHelloTimeout bounds the time from accepting a connection to
	// having read its whole ClientHello. Default 5s.
	ReadHelloTimeout time.Duration
	// IdleTimeout closes a proxied connection on which no byte has moved
	// in either direction for this long. Default 350s, as AWS NLB's TCP
	// idle timeout; negative turns it off.
	IdleTimeout time.Duration
	// Metrics, if not nil, is told about every connection.
	Metrics Metrics
}
