package edge

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the edges' Prometheus collectors, shared by every edge of a
// process; each series has an edge label.
type Metrics struct {
	bypass      *prometheus.CounterVec // edge, reason
	notStored   *prometheus.CounterVec // edge, reason
	evictions   *prometheus.CounterVec
	collapsed   *prometheus.CounterVec
	invalidated *prometheus.CounterVec
	originErrs  *prometheus.CounterVec
	sendTOs     *prometheus.CounterVec

	mu    sync.Mutex
	edges map[string]*Edge
	// counts are the per-request counters of every edge name seen, kept
	// across reloads as a CounterVec's series are; Collect exports them.
	counts   map[string]*edgeCounts
	requests *prometheus.Desc // edge, result
	bytesOut *prometheus.Desc // edge, source (cache|origin)
	size     *prometheus.Desc
	objs     *prometheus.Desc
}

// result is what became of a request: the result label of
// tether_edge_requests_total.
type result uint8

const (
	resultHit result = iota
	resultStale
	resultMiss
	resultRevalidated
	resultCollapsed
	resultBypass
	resultRejected
	numResults
)

var resultNames = [numResults]string{"hit", "stale", "miss", "revalidated", "collapsed", "bypass", "rejected"}

// source is where a response body came from: the source label of
// tether_edge_response_bytes_total.
type source uint8

const (
	fromCache source = iota
	fromOrigin
	numSources
)

var sourceNames = [numSources]string{"cache", "origin"}

// edgeCounts are one edge's counters of every request, indexed by
// result and source: counting takes no label or map lookup.
type edgeCounts struct {
	results [numResults]atomic.Uint64
	sent    [numSources]atomic.Uint64
}

// NewMetrics makes the edge metrics and registers them with reg (nil: not
// exported).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, append([]string{"edge"}, labels...))
	}
	m := &Metrics{
		bypass:      vec("tether_edge_bypass_total", "Requests forwarded without a cache lookup, by reason (method, caching-disabled, ambiguous-path, duplicate-param, hit-for-miss, …).", "reason"),
		notStored:   vec("tether_edge_not_stored_total", "Origin responses not stored, by reason (status, no-store, private, no-cache, vary-star, credential, unkeyed-input, zero-ttl, set-cookie, content-type-mismatch, too-large, memory, incomplete, admission, invalidated, head).", "reason"),
		evictions:   vec("tether_edge_evictions_total", "Objects evicted to stay within max_bytes, and variants of a key dropped for newer ones past the 32 a key keeps."),
		collapsed:   vec("tether_edge_collapsed_total", "Requests that waited for another request's origin fetch instead of their own."),
		invalidated: vec("tether_edge_invalidated_total", "Objects dropped by invalidations (API and unsafe methods)."),
		originErrs:  vec("tether_edge_origin_errors_total", "Origin fetches that failed (connection errors, timeouts, and bodies cut short before the edge sent anything)."),
		sendTOs:     vec("tether_edge_send_timeouts_total", "Client connections closed because the client took no byte of a response for the edge's send_timeout."),
		edges:       map[string]*Edge{},
		counts:      map[string]*edgeCounts{},
		requests: prometheus.NewDesc("tether_edge_requests_total",
			"Edge requests by result: hit, stale (served stale), miss, revalidated, collapsed, bypass, rejected.", []string{"edge", "result"}, nil),
		bytesOut: prometheus.NewDesc("tether_edge_response_bytes_total",
			"Response body bytes sent to clients, by source (cache or origin).", []string{"edge", "source"}, nil),
		size: prometheus.NewDesc("tether_edge_cache_bytes", "Bytes held by the edge cache.", []string{"edge"}, nil),
		objs: prometheus.NewDesc("tether_edge_cache_objects", "Objects held by the edge cache.", []string{"edge"}, nil),
	}
	if reg != nil {
		reg.MustRegister(m.bypass, m.notStored, m.evictions, m.collapsed, m.invalidated, m.originErrs, m.sendTOs, m)
	}
	return m
}

// Describe implements prometheus.Collector for the request and byte
// counters and the cache size gauges.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.requests
	ch <- m.bytesOut
	ch <- m.size
	ch <- m.objs
}

// Collect implements prometheus.Collector for the request and byte
// counters and the cache size gauges.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, c := range m.counts {
		for r := range c.results {
			ch <- prometheus.MustNewConstMetric(m.requests, prometheus.CounterValue, float64(c.results[r].Load()), name, resultNames[r])
		}
		for src := range c.sent {
			ch <- prometheus.MustNewConstMetric(m.bytesOut, prometheus.CounterValue, float64(c.sent[src].Load()), name, sourceNames[src])
		}
	}
	for name, e := range m.edges {
		st := e.store.Stats()
		ch <- prometheus.MustNewConstMetric(m.size, prometheus.GaugeValue, float64(st.Bytes), name)
		ch <- prometheus.MustNewConstMetric(m.objs, prometheus.GaugeValue, float64(st.Objects), name)
	}
}

// edgeMetrics are the series of one edge.
type edgeMetrics struct {
	m                                             *Metrics
	name                                          string
	evictions, collapsed, invalidated, originErrs prometheus.Counter
	sendTimeouts                                  prometheus.Counter
	counts                                        *edgeCounts
	// bypassBy and notStoredBy cache the counters by reason as they are
	// first used (reason → prometheus.Counter): a pass counts one per
	// request.
	bypassBy, notStoredBy sync.Map
}

func (m *Metrics) forEdge(name string) *edgeMetrics {
	m.mu.Lock()
	c := m.counts[name]
	if c == nil {
		c = new(edgeCounts)
		m.counts[name] = c
	}
	m.mu.Unlock()
	return &edgeMetrics{m: m, name: name, counts: c,
		evictions: m.evictions.WithLabelValues(name), collapsed: m.collapsed.WithLabelValues(name),
		invalidated: m.invalidated.WithLabelValues(name), originErrs: m.originErrs.WithLabelValues(name),
		sendTimeouts: m.sendTOs.WithLabelValues(name)}
}

// result counts a request by its result.
func (em *edgeMetrics) result(r result) {
	em.counts.results[r].Add(1)
}

func (em *edgeMetrics) bypassed(reason string) {
	cached(&em.bypassBy, em.m.bypass, em.name, reason).Inc()
}
func (em *edgeMetrics) notStored(reason string) {
	cached(&em.notStoredBy, em.m.notStored, em.name, reason).Inc()
}

// cached returns vec's counter for edge and reason, from cache when it
// was looked up before.
func cached(cache *sync.Map, vec *prometheus.CounterVec, edge, reason string) prometheus.Counter {
	if c, ok := cache.Load(reason); ok {
		return c.(prometheus.Counter)
	}
	c := vec.WithLabelValues(edge, reason)
	cache.Store(reason, c)
	return c
}

// sent counts n body bytes sent from src.
func (em *edgeMetrics) sent(src source, n int64) {
	em.counts.sent[src].Add(uint64(max(n, 0)))
}

// track adds e to the size gauges; untrack removes it.
func (m *Metrics) track(e *Edge) {
	m.mu.Lock()
	m.edges[e.name] = e
	m.mu.Unlock()
}

func (m *Metrics) untrack(e *Edge) {
	m.mu.Lock()
	delete(m.edges, e.name)
	m.mu.Unlock()
}
