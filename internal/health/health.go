// Package health tracks the health of load-balancer targets.
//
// A [Status] is one target's state machine. It combines active checks, run by
// a [Checker] like the health checks of an AWS Application Load Balancer, with
// passive observation of proxied traffic, like HAProxy's "observe layer7" and
// NGINX's max_fails and fail_timeout. A [Status] also reports how far a
// recovered target is through slow start ([Status.Recovering]), which, as in
// HAProxy, applies only after a recovery and never at startup.
package health

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// State is the health state of a target.
type State int32

const (
	// Initial means no result has decided the target's health yet.
	Initial State = iota
	// Healthy means the target should receive traffic.
	Healthy
	// Unhealthy means the target should not receive traffic.
	Unhealthy
)

// String returns "initial", "healthy" or "unhealthy", the names the admin
// API uses.
func (s State) String() string {
	switch s {
	case Initial:
		return "initial"
	case Healthy:
		return "healthy"
	case Unhealthy:
		return "unhealthy"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Config describes how the health of the targets of one target group is
// decided. It is plain data; [Config.Validate] reports what is wrong with it.
type Config struct {
	// Enabled turns active checks on. When false, health is decided by
	// passive observation alone: targets start Healthy, and a target marked
	// Unhealthy by a passive report becomes Healthy again once Interval has
	// passed since the last such report.
	Enabled bool

	// Scheme is "http" (the default when empty) or "https": checks of
	// targets behind TLS bridging use TLS, verified with the system roots.
	Scheme string

	// Path is the request path, with an optional query, of an active check,
	// for example "/healthz". It must begin with "/".
	Path string

	// Interval is the time between the end of one active check and the
	// start of the next. In passive-only mode it is the cool-off after
	// which a passively marked target is trusted again. It must be positive.
	Interval time.Duration

	// Timeout bounds one active check, from dialling until the response
	// headers arrive. It must be positive when Enabled is set.
	Timeout time.Duration

	// HealthyThreshold is the number of consecutive successful checks that
	// make an Unhealthy target Healthy. Values below 1 are treated as 1.
	HealthyThreshold int

	// UnhealthyThreshold is the number of consecutive failed checks that
	// make a Healthy target Unhealthy. Values below 1 are treated as 1.
	UnhealthyThreshold int

	// SuccessCodes are the response status codes of a successful check.
	// The zero Codes matches nothing, so it must be set when Enabled is set.
	SuccessCodes Codes

	// Passive5xx is the number of consecutive proxied responses with a 5xx
	// status that mark a target Unhealthy at once. Zero turns this off.
	Passive5xx int
}

// Validate reports every problem with c at once, joined with [errors.Join],
// each naming the configuration key and the allowed values. It returns nil
// if c is usable. Settings that only active checks use are checked only
// when Enabled is set.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("health_check: %s: "+format, append([]any{key}, args...)...))
	}
	if c.Interval <= 0 {
		bad("interval", "must be a positive duration, got %v", c.Interval)
	}
	if c.Passive5xx < 0 {
		bad("passive_5xx", "must be 0 (off) or more, got %d", c.Passive5xx)
	}
	if !c.Enabled {
		return errors.Join(errs...)
	}
	if !strings.HasPrefix(c.Path, "/") {
		bad("path", "must begin with \"/\", got %q", c.Path)
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be a positive duration, got %v", c.Timeout)
	}
	if c.HealthyThreshold < 1 {
		bad("healthy_threshold", "must be 1 or more, got %d", c.HealthyThreshold)
	}
	if c.UnhealthyThreshold < 1 {
		bad("unhealthy_threshold", "must be 1 or more, got %d", c.UnhealthyThreshold)
	}
	if c.SuccessCodes == (Codes{}) {
		bad("success_codes", "must name at least one status code, like \"200\" or \"200-399\"")
	}
	return errors.Join(errs...)
}
