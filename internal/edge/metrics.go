package edge

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the edges' Prometheus collectors, shared by every edge of a
// process; each series has an edge label.
type Metrics struct {
	requests    *prometheus.CounterVec // edge, result
	bypass      *prometheus.CounterVec // edge, reason
	notStored   *prometheus.CounterVec // edge, reason
	evictions   *prometheus.CounterVec
	collapsed   *prometheus.CounterVec
	invalidated *prometheus.CounterVec
	originErrs  *prometheus.CounterVec
	bytesOut    *prometheus.CounterVec // edge, source (cache|origin)

	mu    sync.Mutex
	edges map[string]*Edge
	size  *prometheus.Desc
	objs  *prometheus.Desc
}

// NewMetrics makes the edge metrics and registers them with reg (nil: not
// exported).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, append([]string{"edge"}, labels...))
	}
	m := &Metrics{
		requests:    vec("tether_edge_requests_total", "Edge requests by result: hit, stale (served stale), miss, revalidated, collapsed, bypass, error.", "result"),
		bypass:      vec("tether_edge_bypass_total", "Requests forwarded without a cache lookup, by reason (method, caching-disabled, ambiguous-path, duplicate-param, hit-for-miss, …).", "reason"),
		notStored:   vec("tether_edge_not_stored_total", "Origin responses not stored, by reason (set-cookie, private, no-store, credential, unkeyed-input, content-type-mismatch, status, vary-star, zero-ttl, too-large, admission).", "reason"),
		evictions:   vec("tether_edge_evictions_total", "Objects evicted to stay within max_bytes."),
		collapsed:   vec("tether_edge_collapsed_total", "Requests that waited for another request's origin fetch instead of their own."),
		invalidated: vec("tether_edge_invalidated_total", "Objects dropped by invalidations (API and unsafe methods)."),
		originErrs:  vec("tether_edge_origin_errors_total", "Origin fetches that failed (connection errors and timeouts)."),
		bytesOut:    vec("tether_edge_response_bytes_total", "Response body bytes sent to clients, by source (cache or origin).", "source"),
		edges:       map[string]*Edge{},
		size:        prometheus.NewDesc("tether_edge_cache_bytes", "Bytes held by the edge cache.", []string{"edge"}, nil),
		objs:        prometheus.NewDesc("tether_edge_cache_objects", "Objects held by the edge cache.", []string{"edge"}, nil),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.bypass, m.notStored, m.evictions, m.collapsed, m.invalidated, m.originErrs, m.bytesOut, m)
	}
	return m
}

// Describe implements prometheus.Collector for the cache size gauges.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.size
	ch <- m.objs
}

// Collect implements prometheus.Collector for the cache size gauges.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
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
	// results are the request counters by result, looked up once: the
	// hit path should not pay for a label lookup.
	results map[string]prometheus.Counter
	sentBy  map[string]prometheus.Counter
	// bypassBy and notStoredBy cache the counters by reason as they are
	// first used (reason → prometheus.Counter): a pass counts one per
	// request.
	bypassBy, notStoredBy sync.Map
}

func (m *Metrics) forEdge(name string) *edgeMetrics {
	em := &edgeMetrics{m: m, name: name,
		evictions: m.evictions.WithLabelValues(name), collapsed: m.collapsed.WithLabelValues(name),
		invalidated: m.invalidated.WithLabelValues(name), originErrs: m.originErrs.WithLabelValues(name),
		results: map[string]prometheus.Counter{}, sentBy: map[string]prometheus.Counter{}}
	for _, r := range []string{"hit", "stale", "miss", "revalidated", "collapsed", "bypass", "rejected"} {
		em.results[r] = m.requests.WithLabelValues(name, r)
	}
	for _, src := range []string{"cache", "origin"} {
		em.sentBy[src] = m.bytesOut.WithLabelValues(name, src)
	}
	return em
}

func (em *edgeMetrics) result(r string) {
	if c, ok := em.results[r]; ok {
		c.Inc()
		return
	}
	em.m.requests.WithLabelValues(em.name, r).Inc()
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
func (em *edgeMetrics) sent(source string, n int64) {
	em.sentBy[source].Add(float64(n))
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
