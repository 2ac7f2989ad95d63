package lb

import (
	"net/http"
	"net/http/httputil"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/affinity"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/health"
	"github.com/tetherlb/tether/internal/lb/balance"
)

// group is the runtime of one target group for one config generation. The
// targets it holds outlive it: a reload builds a new group around the same
// target runtimes, so health, counters, drains and bindings carry over.
type group struct {
	name string
	cfg  config.TargetGroup
	srv  *Server

	targets []*target          // configured targets, then deregistered ones still draining
	byID    map[string]*target // every target in targets
	bal     balance.Balancer   // over the configured targets
	hashBal balance.Balancer   // source_ip stickiness: consistent hash with bounded loads

	hashSource, hashName string // consistent_hash key
	sticky               stickiness
	table                *affinity.Table // source_ip bindings, or live binding ids for metrics

	up    *upstream
	proxy *httputil.ReverseProxy
	kept  atomic.Pointer[prometheus.Counter] // decisions{outcome="kept"}, once looked up
}

// stickiness is a group's affinity policy, resolved from config.
type stickiness struct {
	mode          string // none, lb_cookie, app_cookie, source_ip, header
	duration      time.Duration
	cookie        string // lb_cookie name
	corsCookie    string // cross-site twin
	appCookie     string // tether's app_cookie binding cookie
	appCookieName string // the application's cookie
	header        string
	domain        string
	strict        bool
}

func newStickiness(s config.Stickiness) stickiness {
	return stickiness{
		mode:          s.Type,
		duration:      s.Duration.D(),
		cookie:        s.CookieName,
		corsCookie:    s.CookieName + "CORS",
		appCookie:     s.CookieName + "APP",
		appCookieName: s.AppCookieName,
		header:        s.HeaderName,
		domain:        s.CookieDomain,
		strict:        s.OnFailure == "strict",
	}
}

// bindingWindow is how long a client stays counted as bound after its last
// request, for the bindings gauge: the stickiness duration, at most 10 minutes.
func (st stickiness) bindingWindow() time.Duration {
	if st.mode == "source_ip" {
		return st.duration
	}
	return min(st.duration, 10*time.Minute)
}

// healthConfig turns the group's health_check keys into a health.Config.
func healthConfig(h config.HealthCheck, protocol string) health.Config {
	codes, _ := health.ParseCodes(h.SuccessCodes) // validated by config
	return health.Config{
		Enabled:            *h.Enabled,
		Scheme:             protocol,
		Path:               h.Path,
		Interval:           h.Interval.D(),
		Timeout:            h.Timeout.D(),
		HealthyThreshold:   h.HealthyThreshold,
		UnhealthyThreshold: h.UnhealthyThreshold,
		SuccessCodes:       codes,
		Passive5xx:         *h.Passive5xx,
	}
}

// eligible reports whether t may take new clients: not draining, healthy
// (unless the group fails open) and with weight.
func (g *group) eligible(t *target, now time.Time, failOpen bool) bool {
	if t.removed.Load() || t.drainEnd.Load() != 0 {
		return false
	}
	return failOpen || t.healthy()
}

// failingOpen reports whether no configured target is healthy, in which
// case, as AWS ALB does, tether routes to all of them rather than to none.
func (g *group) failingOpen() bool {
	for _, t := range g.targets {
		if !t.removed.Load() && t.drainEnd.Load() == 0 && t.healthy() {
			return false
		}
	}
	return true
}

// mayEjectPassively reports whether a streak of 5xx responses may take
// one more target out of service: passive checks (which any client can
// drive, by asking for a page that fails) may leave at most half the
// group's targets unhealthy, and always one, as Envoy's outlier
// detection caps its ejections. Connection failures and active checks
// are not capped.
func (g *group) mayEjectPassively() bool {
	n, out := 0, 0
	for _, t := range g.targets {
		if t.removed.Load() {
			continue
		}
		n++
		if !t.healthy() {
			out++
		}
	}
	return out+1 <= max(1, n/2)
}

// pick chooses a target for a new client, never one of avoid.
func (g *group) pick(r *http.Request, ci clientInfo, now time.Time, avoid *target) *target {
	failOpen := g.failingOpen()
	if failOpen {
		g.srv.metrics.failOpenReqs.WithLabelValues(g.name).Inc()
	}
	ok := func(b balance.Backend) bool {
		t := b.(*target)
		return t != avoid && g.eligible(t, now, failOpen)
	}
	var (
		b     balance.Backend
		found bool
	)
	if g.sticky.mode == "source_ip" {
		b, found = g.hashBal.Pick(ci.Addr.String(), ok)
	} else {
		b, found = g.bal.Pick(g.hashKey(r, ci), ok)
	}
	if !found {
		return nil
	}
	return b.(*target)
}

// hashKey extracts the consistent_hash key of r ("" = none: round robin).
func (g *group) hashKey(r *http.Request, ci clientInfo) string {
	if g.cfg.Algorithm != "consistent_hash" {
		return ""
	}
	switch g.hashSource {
	case "source_ip":
		return ci.Addr.String()
	case "header":
		return r.Header.Get(g.hashName)
	case "cookie":
		return affinity.CookieValue(r.Header, g.hashName)
	case "query":
		return r.URL.Query().Get(g.hashName)
	}
	return ""
}
