package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// EventType names a session lifecycle event.
type EventType string

// The session events. Each is logged as one slog line at Info level
// (theft_detected and binding_mismatch at Warn) and counted in
// tether_session_events_total{event, reason}.
const (
	EventCreated         EventType = "created"
	EventRenewed         EventType = "renewed"
	EventAuthenticated   EventType = "authenticated"
	EventExpired         EventType = "expired"
	EventRevoked         EventType = "revoked"
	EventTheftDetected   EventType = "theft_detected"
	EventBindingMismatch EventType = "binding_mismatch"
	EventCorrupt         EventType = "corrupt"
	// EventRejected is a session cookie that was malformed or named no
	// stored session; the request gets a fresh anonymous session.
	EventRejected EventType = "rejected"
)

// Event is one session lifecycle event. It never holds a session ID: only
// Hash, a keyed hash of the stored ID, which identifies the session in
// logs without letting anyone who reads them resume it.
type Event struct {
	Type   EventType
	Reason string // why: idle, absolute, logout, user, admin, renew, ip, user_agent, …
	Tenant string
	UserID string
	Hash   string
}

// metrics are the Manager's Prometheus collectors.
type metrics struct {
	events *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{events: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_session_events_total",
		Help: "Session lifecycle events by event (created, renewed, authenticated, expired, revoked, theft_detected, binding_mismatch, corrupt, rejected) and reason.",
	}, []string{"event", "reason"})}
	if reg != nil {
		if err := reg.Register(m.events); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				m.events = are.ExistingCollector.(*prometheus.CounterVec)
			}
		}
	}
	return m
}

// emit logs, counts and hands on one event.
func (m *Manager) emit(e Event) {
	m.metrics.events.WithLabelValues(string(e.Type), e.Reason).Inc()
	level := slog.LevelInfo
	if e.Type == EventTheftDetected || e.Type == EventBindingMismatch || e.Type == EventCorrupt {
		level = slog.LevelWarn
	}
	m.log.LogAttrs(nil, level, "session "+string(e.Type),
		slog.String("event", string(e.Type)), slog.String("reason", e.Reason),
		slog.String("tenant", e.Tenant), slog.String("user", e.UserID), slog.String("session", e.Hash))
	if m.onEvent != nil {
		m.onEvent(e)
	}
}

// hash returns the keyed hash that stands for a stored ID in logs, events
// and the X-Tether-Session header: 16 bytes of HMAC-SHA256 under the
// active key, hex. A log reader cannot turn it back into the stored ID,
// let alone the browser's ID.
func (m *Manager) hash(id string) string {
	if id == "" {
		return ""
	}
	k := m.keys.Load().hash
	mac := hmac.New(sha256.New, k.byID[k.active])
	mac.Write([]byte(id))
	return hex.EncodeToString(mac.Sum(nil)[:16])
}
