package tokens

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests    *prometheus.CounterVec // endpoint, result
	issued      *prometheus.CounterVec // kind
	replays     prometheus.Counter
	revocations *prometheus.CounterVec // scope
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_tokens_requests_total",
			Help: "Requests to the token service by endpoint and result: ok, or the OAuth error code answered (invalid_request, invalid_grant, unsupported_grant_type, invalid_token, too_many_requests, temporarily_unavailable, not_found, method_not_allowed).",
		}, []string{"endpoint", "result"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_tokens_issued_total",
			Help: "Tokens issued by kind: access, id, refresh.",
		}, []string{"kind"}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tether_tokens_refresh_replays_total",
			Help: "Rotated-out refresh tokens presented again after the reuse grace; each revoked its whole family.",
		}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_tokens_revocations_total",
			Help: "Refresh token families revoked, by cause: revoke (RFC 7009), logout, logout_everywhere, replay, user (disabled or password changed).",
		}, []string{"cause"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.issued, m.replays, m.revocations)
	}
	return m
}
