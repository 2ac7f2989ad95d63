package edge

// Status is an edge as the admin API shows it (GET /api/v1/edges): what it
// holds now and what it has served. The counters are those of the
// edge's Prometheus series, kept across reloads.
type Status struct {
	Name string `json:"name"`
	// URL is where the edge listens, as scheme://address.
	URL string `json:"url"`
	// Mode is safe or cloudfront.
	Mode string `json:"mode"`
	// Origin is where misses go, as a URL.
	Origin string `json:"origin"`
	// Tenant is where the edge's tenants come from: "host", "header" or
	// "" (one tenant).
	Tenant string `json:"tenant,omitempty"`
	// MaxBytes is the cache's bound (max_bytes); Bytes and Objects what it
	// holds; Evictions the objects dropped to stay within MaxBytes since
	// the cache was made (at start, or by a reload that changed
	// max_bytes).
	MaxBytes  int64  `json:"max_bytes"`
	Bytes     uint64 `json:"bytes"`
	Objects   int    `json:"objects"`
	Evictions uint64 `json:"evictions"`
	// Requests counts requests by result, as tether_edge_requests_total:
	// hit, stale, miss, revalidated, collapsed, bypass, rejected.
	Requests map[string]uint64 `json:"requests"`
	// ResponseBytes counts body bytes sent to clients by source (cache,
	// origin), as tether_edge_response_bytes_total.
	ResponseBytes map[string]uint64 `json:"response_bytes"`
}

// Status reports the edge's cache and counters. URL is left for the
// caller, which knows the listener.
func (e *Edge) Status() Status {
	st := e.store.Stats()
	mode := "safe"
	if e.cloudfront {
		mode = "cloudfront"
	}
	out := Status{Name: e.name, Mode: mode, Origin: e.origin.String(), Tenant: e.tenantBy, MaxBytes: e.maxBytes,
		Bytes: st.Bytes, Objects: st.Objects, Evictions: st.Evictions,
		Requests: make(map[string]uint64, numResults), ResponseBytes: make(map[string]uint64, numSources)}
	c := e.metrics.counts
	for r := range c.results {
		out.Requests[resultNames[r]] = c.results[r].Load()
	}
	for src := range c.sent {
		out.ResponseBytes[sourceNames[src]] = c.sent[src].Load()
	}
	return out
}
