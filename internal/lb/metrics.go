package lb

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the load balancer's Prometheus series. Every decision that
// moves a client is a counter with a cause label.
type metrics struct {
	requests     *prometheus.CounterVec   // group, target, code
	duration     *prometheus.HistogramVec // group, target
	inFlight     *prometheus.GaugeVec     // group, target
	targetState  *prometheus.GaugeVec     // group, target, state (one-hot)
	decisions    *prometheus.CounterVec   // group, outcome, cause
	bindings     *prometheus.GaugeVec     // group, target
	skew         *prometheus.GaugeVec     // group
	failOpen     *prometheus.GaugeVec     // group
	failOpenReqs *prometheus.CounterVec   // group
	retries      *prometheus.CounterVec   // group, reason
	proxyErrors  *prometheus.CounterVec   // group, target, kind
	rejected     *prometheus.CounterVec   // listener, code, reason
	sendTimeouts *prometheus.CounterVec   // listener
	authorizer   *prometheus.CounterVec   // listener, type, result
	claimSkips   *prometheus.CounterVec   // listener, claim, reason
	tableFull    *prometheus.CounterVec   // group
	reloads      *prometheus.CounterVec   // result
	l4           *l4Metrics
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_requests_total", Help: "Requests answered, by target group, target and response status (target \"\" when no target could serve: a 503).",
		}, []string{"group", "target", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tether_request_duration_seconds", Help: "Time from request to the end of the response, by target group and target.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"group", "target"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tether_requests_in_flight", Help: "Requests being served now, by target group and target.",
		}, []string{"group", "target"}),
		targetState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tether_target_state", Help: "1 for the target's current state (initial, healthy, unhealthy, draining, drained), 0 for the others.",
		}, []string{"group", "target", "state"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_affinity_decisions_total",
			Help: "Affinity decisions: outcome new, kept, rebound, or refused (on_failure strict: 503 instead of moving); cause of a rebind or refusal: unhealthy, draining, expired, invalid, unknown_target, unknown_key (none otherwise).",
		}, []string{"group", "outcome", "cause"}),
		bindings: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tether_affinity_bindings", Help: "Clients bound to each target and seen within the binding window.",
		}, []string{"group", "target"}),
		skew: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tether_affinity_skew", Help: "Bindings of the busiest target in service divided by its weight's share of all bindings (1 = perfectly even).",
		}, []string{"group"}),
		failOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tether_fail_open", Help: "1 while no target of the group is healthy and tether routes to all of them (fail open).",
		}, []string{"group"}),
		failOpenReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_fail_open_requests_total", Help: "Requests routed while the group failed open.",
		}, []string{"group"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_retries_total", Help: "Requests retried on another target, by reason.",
		}, []string{"group", "reason"}),
		proxyErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_proxy_errors_total", Help: "Requests that got no response from a target, by kind: connect (could not connect), timeout, canceled (the client went away), other.",
		}, []string{"group", "target", "kind"}),
		authorizer: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_authorizer_decisions_total",
			Help: "Gateway decisions by listener, authorizer type (session, jwt) and result. session: allowed, unauthenticated, redirected, no_tenant, store_unavailable. " +
				"jwt: allowed, unauthenticated (no token), invalid_request, malformed, algorithm, header, type, unknown_key, signature, issuer, audience, expired, not_yet_valid, revoked, insufficient_scope, jwks_unavailable, store_unavailable, canceled.",
		}, []string{"listener", "type", "result"}),
		claimSkips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_authorizer_claims_skipped_total",
			Help: "Claims in forward_claims that a jwt authorizer did not forward, by listener, claim and reason (object: a JSON object or nested array; invalid: a string no header can hold).",
		}, []string{"listener", "claim", "reason"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_http_rejected_total", Help: "Malformed or hostile requests answered with a 4xx before routing, by listener, status and reason.",
		}, []string{"listener", "code", "reason"}),
		sendTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_http_send_timeouts_total", Help: "Client connections closed because the client took no byte of a response for the listener's send_timeout, by listener.",
		}, []string{"listener"}),
		tableFull: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_affinity_table_full_total", Help: "Bindings not remembered because the group's binding table was full.",
		}, []string{"group"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_config_reloads_total", Help: "Configuration reloads, by result (success, failure).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight, m.targetState, m.decisions, m.bindings,
		m.skew, m.failOpen, m.failOpenReqs, m.retries, m.proxyErrors, m.rejected, m.sendTimeouts, m.authorizer, m.claimSkips, m.tableFull, m.reloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.l4 = newL4Metrics(reg)
	return m
}

var allStates = []State{StateInitial, StateHealthy, StateUnhealthy, StateDraining, StateDrained}

// setState makes the one-hot state gauge of a target show s.
func (m *metrics) setState(group, target string, s State) {
	for _, st := range allStates {
		v := 0.0
		if st == s {
			v = 1
		}
		m.targetState.WithLabelValues(group, target, string(st)).Set(v)
	}
}

// forget drops the series of a target that left the config.
func (m *metrics) forget(group, target string) {
	l := prometheus.Labels{"group": group, "target": target}
	m.requests.DeletePartialMatch(l)
	m.duration.DeletePartialMatch(l)
	m.inFlight.DeletePartialMatch(l)
	m.targetState.DeletePartialMatch(l)
	m.bindings.DeletePartialMatch(l)
	m.proxyErrors.DeletePartialMatch(l)
}
