package edge

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tetherlb/tether/internal/edge/cachestore"
	"github.com/tetherlb/tether/internal/edge/httpcache"
	"github.com/tetherlb/tether/internal/httpsyntax"
	"github.com/tetherlb/tether/internal/lb"
)

// taint says which forwarded inputs the cache key does not hold (spec
// §2.5): a response may depend on them, so in safe mode it is shared only
// when the origin says so explicitly.
type taint struct {
	credential bool // an unkeyed Authorization, credential header or session cookie is forwarded
	input      bool // another unkeyed cookie, header or query parameter is forwarded
	auth       bool // the request carries Authorization at all
}

// exchange is one request through the edge.
type exchange struct {
	r      *http.Request
	b      *behavior
	v      view
	s      selection
	tenant string
	key    string            // the primary key; "" before the lookup
	keyAt  keyAt             // where the tenant, host and path are in key
	uri    cachestore.URI    // the URI objects under key are stored for
	digest [sha256.Size]byte // of key, for the hit-for-miss memo; see keyDigest
	hasDig bool
	taint  taint
	// variants is set when the lookup found variants under key, whether
	// or not one matched.
	variants bool
	start    time.Time
	status   httpcache.StatusParams
	gzip     bool // the body is being gzipped by the edge
	br       bool // the body is being compressed with brotli by the edge
	noGzip   bool // the body streams through as is
	// out is the origin request's parts while they are on loan from
	// originPool: from originRequest to closeOrigin.
	out *originParts
	// asGet is set when x is a HEAD that the origin is asked for as a GET
	// (see fetch).
	asGet bool
	// cut is set when the origin's body failed after the response's head
	// went to the client: ServeHTTP then aborts the connection.
	cut bool
	// stale is the stored object a revalidation's new response is to
	// replace: it stays stored until that response has come whole (or
	// turned out not to be stored), and is served in its place, within
	// stale-if-error, when it does not (see replaceStale).
	stale *cachestore.Object
	// flight is the flight x leads, until it lands (see landFlight).
	flight *flight
	// gen is the store's invalidation generation when the origin was
	// asked (see cachestore.Store.Generation): the object made from the
	// answer carries it, so that an invalidation meanwhile fences it out.
	gen uint64
}

// requestURI returns the URI x's responses are stored for: its tenant,
// host, raw path and the query its behavior keys.
func (x *exchange) requestURI() cachestore.URI {
	return cachestore.URI{Tenant: x.tenant, Host: x.v.host, Path: x.v.rawPath, Query: rawQuery(x.s.keyQuery)}
}

// ref returns what finds x's objects in the store.
func (x *exchange) ref() cachestore.Ref { return cachestore.Ref{Key: x.key, URI: x.uri} }

// keyDigest returns the SHA-256 of x's key, which names the key in the
// hit-for-miss memo; it is computed once, on a miss.
func (x *exchange) keyDigest() [sha256.Size]byte {
	if !x.hasDig {
		var buf [256]byte // most keys: hashed without an allocation
		if len(x.key) <= len(buf) {
			x.digest = sha256.Sum256(buf[:copy(buf[:], x.key)])
		} else {
			x.digest = sha256.Sum256([]byte(x.key))
		}
		x.hasDig = true
	}
	return x.digest
}

// ServeHTTP runs the request pipeline of spec §2.2, and writes the access
// log line.
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := exchanges.Get().(*exchange)
	*x = exchange{r: r, start: e.clk.Now()}
	e.serveLogged(w, x)
	cut := x.cut
	*x = exchange{}  // the pool keeps no request, and through it no connection, alive
	exchanges.Put(x) // not after a panic: whatever still held x is left alone
	if cut {
		// As net/http's ReverseProxy: the connection ends without the
		// body's end (a chunked body's last chunk), so that the client
		// sees the response cut short, not complete.
		panic(http.ErrAbortHandler)
	}
}

// exchanges recycles exchanges (700 bytes each, one per request, hits
// included). Nothing keeps an exchange once ServeHTTP has returned: the
// background revalidation works on a copy, and a flight, which waiters
// read after their leader has returned, is an allocation of its own.
var exchanges = sync.Pool{New: func() any { return new(exchange) }}

// serveLogged runs the pipeline and writes the access log line.
func (e *Edge) serveLogged(w http.ResponseWriter, x *exchange) {
	if e.access != nil {
		aw := &accessWriter{ResponseWriter: w}
		defer e.logAccess(x, aw)
		w = aw
	}
	e.serve(w, x)
}

// maxRequestTarget bounds the request target (path and query) the edge
// takes, as CloudFront's 8,192-byte URL and NGINX's default
// large_client_header_buffers (8k) do: a longer one gets 414 before its
// query is parsed, so that no request costs thousands of parameters to
// parse, sort and key.
const maxRequestTarget = 8 << 10

// serve is the pipeline proper.
func (e *Edge) serve(w http.ResponseWriter, x *exchange) {
	r := x.r
	if lb.Smuggled(r) {
		// Content-Length and Transfer-Encoding: refused, as the load
		// balancer's listeners, HAProxy and AWS ALB do, and the
		// connection closed (RFC 9112 §6.3).
		w.Header().Set("Connection", "close")
		e.reject(w, x, http.StatusBadRequest, "smuggling")
		return
	}
	if p := httpsyntax.RequestProblem(r); p != "" && p != "connect" {
		// What Go's HTTP/2 server lets through and its HTTP/1.1 server
		// refuses (a CONNECT is refused below, as a method not allowed).
		e.reject(w, x, http.StatusBadRequest, "malformed")
		return
	}
	if len(r.RequestURI) > maxRequestTarget {
		e.reject(w, x, http.StatusRequestURITooLong, "uri-too-long")
		return
	}
	x.v = parseView(r)
	var ok bool
	if x.tenant, ok = e.tenant(r, &x.v); !ok {
		e.reject(w, x, http.StatusBadRequest, "tenant")
		return
	}
	x.b = e.match(x.v.rawPath)
	if !x.b.allowed[r.Method] {
		e.reject(w, x, http.StatusForbidden, "method-not-allowed")
		return
	}
	// A body of unknown length counts too: HTTP/2 sends one without a
	// content-length as DATA frames after the HEADERS (ContentLength -1).
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && (r.ContentLength != 0 || len(r.TransferEncoding) > 0) {
		e.reject(w, x, http.StatusForbidden, "body")
		return
	}
	x.s = x.b.selectInputs(r, &x.v)
	x.taint = e.taintOf(x)
	if !x.b.cached[r.Method] {
		e.forward(w, x, "method", "")
		return
	}
	if reason := e.bypassReason(x); reason != "" {
		e.forward(w, x, "bypass", reason)
		return
	}
	x.key, x.keyAt = e.cacheKey(x.b, r, &x.v, &x.s, x.tenant)
	x.uri = x.requestURI()
	now := x.start // the request's arrival: a lookup takes microseconds
	var m variantMatcher
	obj, found := e.store.Get(x.ref(), func(o *cachestore.Object) bool {
		x.variants = true
		return m.matches(e, x, o)
	})
	if found && x.taint.credential && !e.cloudfront && !obj.SharedExplicit {
		found = false // a credential the key does not hold: only explicitly shared objects serve it
	}
	switch {
	case found && obj.Fresh(now):
		e.serveHit(w, x, obj, now)
	case found && obj.WithinStaleWhileRevalidate(now):
		e.serveStaleWhileRevalidate(w, x, obj, now)
	case found:
		e.revalidate(w, x, obj)
	case e.flights.hitForMiss(x, now):
		e.fetchAndServe(w, x, nil, e.lookupMissKind(x), "hit-for-miss")
	default:
		e.collapse(w, x)
	}
}

// missKind is the Cache-Status fwd of a miss: vary-miss when the key holds
// variants for other requests, uri-miss otherwise. It looks without
// counting: the request's own lookup counted it in the frequency sketch.
func (e *Edge) missKind(x *exchange) string {
	if e.store.Contains(x.ref()) {
		return "vary-miss"
	}
	return "uri-miss"
}

// lookupMissKind is missKind right after x's lookup, which spares the
// second look when the lookup saw no variant under the key (most misses).
func (e *Edge) lookupMissKind(x *exchange) string {
	if x.variants {
		return e.missKind(x)
	}
	return "uri-miss"
}

// bypassReason returns why x must skip the cache (spec §2.6), or "".
func (e *Edge) bypassReason(x *exchange) string {
	switch {
	case x.b.cachingDisabled:
		return "caching-disabled"
	case e.cloudfront:
		return ""
	case x.v.ambiguous:
		return "ambiguous-path"
	case x.s.duplicate:
		return "duplicate-param"
	}
	return ""
}

// taintOf computes which forwarded inputs are not keyed.
func (e *Edge) taintOf(x *exchange) taint {
	var t taint
	t.auth = x.r.Header.Get("Authorization") != ""
	keyedCookie := map[string]bool{}
	for _, c := range x.s.keyCookies {
		keyedCookie[c.name] = true
	}
	for _, c := range x.s.fwdCookies {
		if keyedCookie[c.name] {
			continue
		}
		if matchesAny(e.sessions, c.name) {
			t.credential = true
		} else if !e.isInfra(c.name) {
			// Load-balancer cookies choose a target, not the content.
			t.input = true
		}
	}
	if len(x.s.fwdQuery) > len(x.s.keyQuery) {
		t.input = true
	}
	for _, h := range x.b.fwdHeaders {
		// The tenant is always in the key; the edge's own headers are
		// never the client's, and hop-by-hop ones never reach the origin.
		if x.b.keys(h) || h == "Host" || h == e.tenantHdr || neverForwarded(h) || isHop(h) || x.r.Header.Get(h) == "" {
			continue
		}
		if h == "Authorization" {
			t.credential = true
		} else {
			t.input = true
		}
	}
	return t
}

// collapse fetches on a miss, or waits for the request already fetching
// the same key (spec §2.12).
func (e *Edge) collapse(w http.ResponseWriter, x *exchange) {
	if e.cloudfront && !e.collapsible(x.b) {
		e.fetchAndServe(w, x, nil, e.lookupMissKind(x), "")
		return
	}
	fl, leader := e.flights.join(x.key)
	if leader {
		x.flight = fl
		e.landFlight(x, e.fetchAndServe(w, x, fl, e.lookupMissKind(x), ""))
		return
	}
	e.metrics.collapsed.Inc()
	select {
	case <-fl.done:
	case <-x.r.Context().Done():
		return
	case <-e.clk.After(collapseTimeout):
		x.status.Collapsed = httpcache.No
		e.fetchAndServe(w, x, nil, e.missKind(x), "")
		return
	}
	if fl.obj != nil && e.variantMatch(x)(fl.obj) && (!x.taint.credential || e.cloudfront || fl.obj.SharedExplicit) {
		x.status.Fwd, x.status.FwdStatus, x.status.Collapsed = "uri-miss", fl.obj.Status, httpcache.Yes
		e.serveObject(w, x, fl.obj, e.clk.Now(), resultCollapsed)
		return
	}
	x.status.Collapsed = httpcache.No
	e.fetchAndServe(w, x, nil, e.missKind(x), "")
}

// landFlight lands the flight x leads, if it has not landed yet, with
// obj, the object stored for its key (or nil). The pipeline lands it as
// soon as it knows (storeObject, notStored), before the response goes to
// the leader's client: a client that reads slowly keeps its own response
// waiting, not the requests collapsed behind it.
func (e *Edge) landFlight(x *exchange, obj *cachestore.Object) {
	if fl := x.flight; fl != nil {
		x.flight = nil
		e.flights.land(x.key, fl, obj)
	}
}

// collapsible reports whether CloudFront would collapse requests of b: not
// when the behavior forwards cookies or caches nothing [doc].
func (e *Edge) collapsible(b *behavior) bool {
	return b.cache.Cookies.Behavior == "none" && b.orp.Cookies.Behavior == "none" && !b.cachingDisabled
}

// fetch sends x to the origin, as a conditional request when stale has
// validators (and, in cloudfront mode, the behavior forwards no cookies).
//
// In safe mode, a HEAD that may fill the cache (it has a key: a miss or a
// revalidation, not a bypass) goes to the origin as a GET, as NGINX's
// proxy_cache_convert_head and Varnish do: the body is stored for the GETs
// that share its key, and the client gets the head alone.
func (e *Edge) fetch(ctx context.Context, x *exchange, stale *cachestore.Object) (*http.Response, error) {
	x.gen = e.store.Generation()
	x.asGet = x.key != "" && x.r.Method == http.MethodHead && !e.cloudfront
	out := e.originRequest(ctx, x)
	if stale != nil && (!e.cloudfront || e.collapsible(x.b)) {
		if etag := stale.Header.Get("ETag"); etag != "" {
			setValidator(x, out, "If-None-Match", etag)
		}
		if lm := stale.Header.Get("Last-Modified"); lm != "" {
			setValidator(x, out, "If-Modified-Since", lm)
		}
	}
	var resp *http.Response
	var err error
	if e.ctxTransport != nil {
		var h http.Header // the recycled map for the response's header, when the request is recycled too
		if x.out != nil {
			h = x.out.respHeader
		}
		if x.out != nil {
			resp, err = e.ctxTransport.RoundTripFields(ctx, out, x.out.fields, h)
		} else {
			resp, err = e.ctxTransport.RoundTripHeader(ctx, out, h)
		}
	} else {
		resp, err = e.transport.RoundTrip(out)
		if err == nil {
			// Go's client keeps a field name that ends in white space
			// ("Set-Cookie : a=b") as it came, where the rules would not
			// see it (the load balancer's transport refuses it itself).
			if name, ok := httpsyntax.FieldNamesOK(resp.Header); !ok {
				resp.Body.Close()
				resp, err = nil, fmt.Errorf("malformed header field name %q in the response", name)
			} else if resp.StatusCode == http.StatusSwitchingProtocols {
				// The edge never asks to upgrade (Upgrade is hop-by-hop).
				resp.Body.Close()
				resp, err = nil, errors.New("101 Switching Protocols to a request without Upgrade")
			}
		}
	}
	if err != nil {
		x.out = nil // not recycled: the collector takes it
		if ctx.Err() == nil && !errors.As(err, new(*clientBodyError)) {
			e.metrics.originErrs.Inc() // not a client that left, or sent a bad body
		}
		// Worded as net/http's Client words it, but without the query,
		// which may hold a token: the error is logged.
		u := *out.URL
		u.RawQuery = ""
		err = &url.Error{Op: out.Method[:1] + strings.ToLower(out.Method[1:]), URL: u.String(), Err: err}
		return nil, fmt.Errorf("edge: reaching the origin: %w", err)
	}
	if resp.Body == nil {
		resp.Body = http.NoBody
	}
	return resp, nil
}
