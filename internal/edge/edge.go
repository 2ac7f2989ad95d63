// Package edge is tether's CDN-style cache: CloudFront's model of ordered
// behaviors, each with a cache policy (what is in the key, and the TTLs)
// and an origin request policy (what else is forwarded), in two modes:
// safe (the default: RFC 9111 with guardrails against session leaks, cache
// poisoning and web cache deception) and cloudfront (what CloudFront
// documents, leaks included, so that users can predict their own
// distribution). The behaviour is specified in docs/edge.md; every
// difference between the modes is listed there.
package edge

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/edge/cachestore"
	"github.com/tetherlb/tether/internal/lb"
	"github.com/tetherlb/tether/internal/trust"
)

// Edge serves one configured edge. It is safe for concurrent use.
type Edge struct {
	name       string
	cloudfront bool // mode cloudfront; false: safe
	origin     *url.URL
	originTLS  bool
	// transport reaches the origin. Its responses go to the client as
	// they are: redirects are not followed.
	transport http.RoundTripper
	// ctxTransport is transport when it takes a request's context apart
	// from the request (the load balancer's lean transport): the origin
	// request is then not copied to carry it. Else nil.
	ctxTransport contextTransport
	behaviors    []*behavior
	store        *cachestore.Store
	maxBytes     int64 // the store's bound, max_bytes
	// inflight counts the bytes of bodies being read into a copy to
	// store (see streamAndStore), kept under maxBytes/2 (across reloads,
	// like the flights).
	inflight    *atomic.Int64
	trusted     trust.Proxies // trusted_proxies
	maxObject   int64
	tenantBy    string // "", host or header
	tenantHdr   string
	infra       []string      // cookie names; a trailing * is a prefix
	sendTimeout time.Duration // the config's send_timeout (0: 60 s)
	sessions    []string
	debugKey    bool
	// debugSecret keys the HMACs of values shown in Cache-Status key=.
	debugSecret []byte
	clk         clock.Clock
	log         *slog.Logger
	access      *slog.Logger // one line per request; nil: none
	metrics     *edgeMetrics
	flights     *flights
}

// behavior is a compiled config.Behavior.
type behavior struct {
	id              string
	pattern         string
	allowed, cached map[string]bool
	cache           config.CachePolicy
	orp             config.OriginRequestPolicy
	keyHeaders      []string // canonical names, sorted
	fwdHeaders      []string // canonical names: keyed ∪ origin request
	minTTL          time.Duration
	defaultTTL      time.Duration
	maxTTL          time.Duration
	gzipKey, brKey  bool
	compress        bool
	staticTypes     []string
	cachingDisabled bool
}

// keys reports whether the behavior's cache key includes header h.
func (b *behavior) keys(h string) bool { return slices.Contains(b.keyHeaders, h) }

// Options are an Edge's dependencies.
type Options struct {
	// OriginURL is where misses go: the config's origin.url, or the
	// address of the origin listener ("http://127.0.0.1:8080"). Required.
	OriginURL string
	// Transport reaches the origin. Nil: a pooled transport of its own.
	Transport http.RoundTripper
	Clock     clock.Clock
	Logger    *slog.Logger
	// Access receives one JSON line per request (no query strings, no
	// cookies); nil: none.
	Access  *slog.Logger
	Metrics *Metrics

	// prev is the edge a reload replaces: its cache (when max_bytes is
	// unchanged), its transport (when the origin is) and its debug key
	// carry over.
	prev *Edge
}

// New builds the edge cfg describes.
func New(cfg config.Edge, o Options) (*Edge, error) {
	u, err := url.Parse(o.OriginURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("edge %s: origin %q is not a URL", cfg.Name, o.OriginURL)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Transport == nil && o.prev != nil && o.prev.origin.String() == u.String() {
		o.Transport = o.prev.transport
	}
	if o.Transport == nil {
		o.Transport = newTransport()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	e := &Edge{
		name: cfg.Name, cloudfront: cfg.Mode == "cloudfront", origin: u, originTLS: u.Scheme == "https",
		transport: o.Transport,
		maxObject: int64(cfg.MaxObjectBytes), sendTimeout: cfg.SendTimeout.D(), infra: cfg.InfraCookies, sessions: cfg.SessionCookies,
		debugKey: cfg.DebugKey, clk: o.Clock, log: o.Logger.With("component", "edge", "edge", cfg.Name), access: o.Access,
		flights: newFlights(), debugSecret: make([]byte, 32),
	}
	rand.Read(e.debugSecret)
	e.ctxTransport, _ = o.Transport.(contextTransport)
	e.metrics = o.Metrics.forEdge(cfg.Name)
	o.Metrics.track(e)
	e.maxBytes = int64(cfg.MaxBytes)
	if p := o.prev; p != nil {
		e.debugSecret = p.debugSecret
		// Requests in flight on the old edge keep collapsing the new
		// one's: a reload does not send every key being fetched to the
		// origin again.
		e.flights = p.flights
		e.flights.forgetHitForMiss()
		e.inflight = p.inflight
		if p.maxBytes == e.maxBytes {
			// Objects stored under behaviors that changed keep their old
			// keys, which no request makes any more: they age out.
			e.store = p.store
		}
	}
	if e.inflight == nil {
		e.inflight = new(atomic.Int64)
	}
	if e.store == nil {
		evictions := e.metrics.evictions // not e: the store outlives it across reloads
		e.store = cachestore.New(cachestore.Options{MaxBytes: e.maxBytes, Clock: o.Clock,
			OnEvict: func(*cachestore.Object) { evictions.Inc() }})
	}
	if e.trusted, err = trust.Parse(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("edge %s: %w", cfg.Name, err)
	}
	if cfg.Tenant != nil {
		e.tenantBy, e.tenantHdr = cfg.Tenant.By, http.CanonicalHeaderKey(cfg.Tenant.Header)
	}
	for i, bc := range cfg.Behaviors {
		e.behaviors = append(e.behaviors, compileBehavior(i, bc))
	}
	return e, nil
}

func compileBehavior(i int, bc config.Behavior) *behavior {
	b := &behavior{
		id: itoa(i) + ":" + bc.Path, pattern: bc.Path, allowed: map[string]bool{}, cached: map[string]bool{},
		cache: bc.Cache, orp: bc.OriginRequest,
		minTTL: bc.Cache.MinTTL.D(), defaultTTL: bc.Cache.DefaultTTL.D(), maxTTL: bc.Cache.MaxTTL.D(),
		gzipKey: *bc.Cache.Gzip, brKey: *bc.Cache.Brotli, compress: bc.Compress, staticTypes: bc.StaticContentTypes,
	}
	for _, m := range bc.AllowedMethods {
		b.allowed[strings.ToUpper(m)] = true
	}
	for _, m := range bc.CachedMethods {
		b.cached[strings.ToUpper(m)] = true
	}
	for _, h := range bc.Cache.Headers {
		// A header never taken from the client (Proxy-Authorization,
		// X-Forwarded-For, the hop-by-hop ones) is not keyed either:
		// listing it has no effect, as the docs say, rather than one
		// object per proxy credential or client address.
		if c := http.CanonicalHeaderKey(h); !neverForwarded(c) && !isHop(c) {
			b.keyHeaders = append(b.keyHeaders, c)
		}
	}
	slices.Sort(b.keyHeaders)
	b.fwdHeaders = slices.Clone(b.keyHeaders)
	for _, h := range bc.OriginRequest.Headers {
		if c := http.CanonicalHeaderKey(h); !slices.Contains(b.fwdHeaders, c) {
			b.fwdHeaders = append(b.fwdHeaders, c)
		}
	}
	b.cachingDisabled = b.minTTL == 0 && b.defaultTTL == 0 && b.maxTTL == 0
	return b
}

// match returns the first behavior whose pattern matches rawPath; the last
// behavior is the default "*", so there always is one.
func (e *Edge) match(rawPath string) *behavior {
	for _, b := range e.behaviors {
		if matchPattern(b.pattern, rawPath) {
			return b
		}
	}
	return e.behaviors[len(e.behaviors)-1]
}

// tenant returns the request's tenant: "" without tenancy, the host with
// by: host, the header's single value with by: header (false when it is
// missing or repeated).
func (e *Edge) tenant(r *http.Request, v *view) (string, bool) {
	switch e.tenantBy {
	case "host":
		return v.host, v.host != ""
	case "header":
		// One value: two lines, or one line with a comma (the same list,
		// RFC 9110 §5.3), name no single tenant.
		vals := r.Header.Values(e.tenantHdr)
		if len(vals) != 1 || vals[0] == "" || len(vals[0]) > 256 || strings.ContainsRune(vals[0], ',') {
			return "", false
		}
		return vals[0], true
	}
	return "", true
}

// isInfra reports whether a cookie name is a load-balancer cookie.
func (e *Edge) isInfra(name string) bool {
	return matchesAny(e.infra, name)
}

func matchesAny(names []string, name string) bool {
	for _, n := range names {
		if p, ok := strings.CutSuffix(n, "*"); ok {
			if strings.HasPrefix(name, p) {
				return true
			}
		} else if n == name {
			return true
		}
	}
	return false
}

// Invalidate drops the stored objects whose path matches one of patterns
// (CloudFront invalidation paths such as /images/* or /index.html), in
// tenant ("" for every tenant), and returns how many it dropped.
func (e *Edge) Invalidate(tenant string, patterns []string) int {
	if e.tenantBy == "host" {
		tenant = normalizeHost(tenant, false) // as requests' hosts are
	}
	n := e.store.Invalidate(tenant, patterns)
	e.metrics.invalidated.Add(float64(n))
	return n
}

// Name returns the edge's name.
func (e *Edge) Name() string { return e.name }

// OriginTimeout is how long the edge waits for the origin's response head,
// and, with the load balancer's transport (lb.NewTransportTimeout, which
// tether serve uses for plain http origins), between two reads of its
// body: a silent origin then gets the client a 504, or a body cut short,
// rather than a wait without end (NGINX's proxy_read_timeout is 60s too;
// CloudFront's origin response timeout is 30s by default).
const OriginTimeout = 60 * time.Second

func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DisableCompression = true
	t.MaxIdleConnsPerHost = 256
	t.ResponseHeaderTimeout = OriginTimeout
	t.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerStream: lb.UpstreamH2StreamWindow} // see there
	return t
}
