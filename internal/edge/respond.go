package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tetherlb/tether/internal/edge/cachestore"
	"github.com/tetherlb/tether/internal/edge/httpcache"
	"github.com/tetherlb/tether/internal/httpsyntax"
)

// forward sends x to the origin without a lookup and without storing, and
// relays the answer (the bypass of spec §2.6, and methods that are not
// cached). A 2xx or 3xx answer to an unsafe method invalidates the stored
// copies of its URI in safe mode (RFC 9111 §4.4).
func (e *Edge) forward(w http.ResponseWriter, x *exchange, fwd, detail string) {
	x.status.Fwd, x.status.Detail = fwd, detail
	e.metrics.bypassed(firstNonEmpty(detail, fwd))
	e.metrics.result(resultBypass)
	resp, err := e.fetch(x.r.Context(), x, nil)
	if err != nil {
		e.originFailed(w, x, err)
		return
	}
	defer e.closeOrigin(x, resp)
	if !cachedMethod(x.r.Method) && !e.cloudfront && resp.StatusCode >= 200 && resp.StatusCode < 400 {
		e.invalidateURI(x)
	}
	x.status.FwdStatus = resp.StatusCode
	e.relay(w, x, resp, nil)
}

// invalidateURI drops every stored variant of x's URI, in every behavior.
func (e *Edge) invalidateURI(x *exchange) {
	if n := e.store.InvalidateURI(x.requestURI()); n > 0 {
		e.metrics.invalidated.Add(float64(n))
	}
}

func rawQuery(q []pair) string { return joinPairs(q, "&") }

// fetchAndServe handles a miss: fetch, decide, store, deliver. It returns
// the stored object, or nil, for collapsed waiters.
func (e *Edge) fetchAndServe(w http.ResponseWriter, x *exchange, fl *flight, fwd, detail string) *cachestore.Object {
	x.status.Fwd, x.status.Detail = fwd, detail
	if detail == "hit-for-miss" {
		e.metrics.bypassed("hit-for-miss")
	}
	e.metrics.result(resultMiss)
	ctx := x.r.Context()
	if fl != nil {
		// The leader's fetch serves its waiters too: it must not stop
		// when the leader's own client goes away.
		ctx = context.WithoutCancel(ctx)
	}
	resp, err := e.fetch(ctx, x, nil)
	if err != nil {
		e.originFailed(w, x, err)
		return nil
	}
	defer e.closeOrigin(x, resp)
	x.status.FwdStatus = resp.StatusCode
	return e.storeAndRelay(w, x, resp)
}

// storeAndRelay reads a response that may be stored: up to max_object_bytes
// are buffered; a larger body streams through uncached.
func (e *Edge) storeAndRelay(w http.ResponseWriter, x *exchange, resp *http.Response) *cachestore.Object {
	now := e.clk.Now()
	vd := e.judge(x, resp, now)
	if vd.store && x.r.Method == http.MethodHead && !x.asGet {
		// A HEAD response (cloudfront mode asks the origin for a HEAD) has
		// no body to store for the GETs that share its key.
		vd.store, vd.reason = false, "head"
	}
	if !vd.store {
		e.settleStale(w, x, true)
		e.notStored(x, vd.reason)
		e.relay(w, x, resp, vd.viewerOnly)
		return nil
	}
	if resp.ContentLength > e.maxObject {
		e.settleStale(w, x, true)
		e.notStored(x, "too-large")
		e.relay(w, x, resp, vd.viewerOnly)
		return nil
	}
	body, obj, streamed, err := e.readStored(w, x, resp, vd, now)
	if streamed {
		return obj
	}
	if err != nil || int64(len(body)) > e.maxObject || resp.ContentLength >= 0 && int64(len(body)) != resp.ContentLength {
		reason := "too-large"
		if err != nil || int64(len(body)) <= e.maxObject {
			reason = "incomplete"
		}
		e.notStored(x, reason)
		if reason == "incomplete" {
			// Nothing went to the client yet: it gets the stale object
			// a revalidation was to replace, within stale-if-error (which
			// stays stored: this response never came whole), else a 502,
			// not a body cut short.
			e.metrics.originErrs.Inc()
			_, background := w.(discard)
			if stale := x.stale; stale != nil && !background && e.staleIfError(x, stale, e.clk.Now()) {
				x.stale = nil
				x.status.Detail = "stale-if-error"
				e.serveObject(w, x, stale, e.clk.Now(), resultStale)
				return nil
			}
			e.settleStale(w, x, false)
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			e.originFailed(w, x, fmt.Errorf("edge: reading the origin's response: %w", err))
			return nil
		}
		e.settleStale(w, x, true)
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		e.relay(w, x, resp, vd.viewerOnly)
		return nil
	}
	e.settleStale(w, x, true)
	vary, _ := httpcache.VaryHeaders(resp.Header) // the origin's, before a coding's Vary
	coding := e.storedCoding(x, resp.Header, body)
	if coding != "" {
		body = compressBody(body, coding) // once, here, rather than on every hit
	}
	obj = e.storeObject(x, resp, body, coding, vd, vary, now)
	if obj != nil && wantsConditional(x.r) && !requesterOnly(resp.Header, vd) && e.serveConditional(w, x, obj, 0, fromOrigin) {
		// As NGINX's cache: the origin was asked for the whole body,
		// and the client's range or precondition is answered from the
		// object just stored, as a hit's is.
		return obj
	}
	if coding != "" {
		codedFields(resp.Header) // for this client; the stored header keeps the origin's ETag
	}
	// The requester gets the origin's header as it came (fields a
	// qualified no-cache names are kept from the stored copy only).
	e.writeHeader(w, x, resp.StatusCode, resp.Header, vd.viewerOnly, int64(len(body)))
	e.writeBody(w, x, body, fromOrigin)
	return obj
}

// storeObject stores body, the whole body of resp, compressed with coding
// ("" for as it came), as x's object. It returns the object, or nil when
// the store refused it (the reason counted), and lands the flight x leads
// with it (see landFlight). The header stored is resp's,
// with the coding's Content-Encoding and the body's length when there is
// a coding (which a HEAD is answered with too).
func (e *Edge) storeObject(x *exchange, resp *http.Response, body []byte, coding string, vd verdict, vary []string, now time.Time) *cachestore.Object {
	if coding != "" {
		resp.Header["Content-Encoding"] = []string{coding}
		resp.Header["Content-Length"] = []string{strconv.Itoa(len(body))}
	} else if compressible(x.b, resp.Header, int64(len(body))) {
		varyCoding(resp.Header) // stored as it came, but compressed for others
	}
	if coding == "" {
		e.acceptRanges(resp)
	}
	if cap(body)-len(body) > len(body)/8 {
		body = bytes.Clone(body) // kept for long: without the room it was read or compressed into
	}
	obj := e.newObject(x, resp, body, vd, vary, now)
	obj.Coding = coding
	obj.Direct = coding == "" && directHeader(resp.Header, len(body))
	if err := e.store.Add(obj); err != nil {
		e.notStored(x, notStoredReason(err))
		return nil
	}
	if x.variants {
		// The lookup saw other variants: those stored under another
		// Vary are the origin's old selection, and this response, the
		// most recent, must win for every request it matches (RFC 9111
		// §4.1). An old Vary: Accept-Language variant would otherwise
		// outlive a new response without Vary.
		e.store.DeleteVariants(obj, func(o *cachestore.Object) bool { return !slices.Equal(o.VaryHeaders, vary) })
	}
	x.status.Stored = httpcache.Yes
	x.status.TTL, x.status.HasTTL = vd.d.TTL, true
	e.flights.clearHitForMiss(x)
	e.landFlight(x, obj)
	return obj
}

// acceptRanges adds Accept-Ranges: bytes to resp, a 200 stored as it came
// (or about to be): the edge answers a range of its body from the store
// (as NGINX's cache does), whatever the origin does, and says so; not
// over the origin's own field, nor in cloudfront mode, which passes the
// origin's fields.
func (e *Edge) acceptRanges(resp *http.Response) {
	if !e.cloudfront && resp.StatusCode == http.StatusOK && len(resp.Header["Accept-Ranges"]) == 0 {
		resp.Header["Accept-Ranges"] = acceptRangesBytes
	}
}

// requesterOnly reports whether the requester of a response gets fields
// the stored copy lacks: Set-Cookie lines (vd.viewerOnly), or fields a
// qualified no-cache or private names. An answer from the stored object
// would lose them.
func requesterOnly(h http.Header, vd verdict) bool {
	if len(vd.viewerOnly) > 0 {
		return true
	}
	for _, f := range vd.d.OmitFields {
		if _, ok := h[f]; ok && f != "Set-Cookie" && !strings.HasPrefix(f, "Proxy-") {
			return true
		}
	}
	return false
}

// readBody reads up to limit+1 bytes of resp's body, in one allocation
// when its length is known. On an error it returns the bytes read before
// it.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= limit {
		// make, not bytes.Buffer.Grow: Grow clears the whole array first
		// (bytes.growSlice's append of a make), where make clears only
		// memory the heap has used before; memory fresh from the system,
		// which a growing cache keeps taking, is zero already (1,500
		// bytes allocated and filled in 401 ns against Grow's 445).
		buf := make([]byte, n)
		got, err := io.ReadFull(resp.Body, buf)
		return buf[:got], err
	}
	return io.ReadAll(io.LimitReader(resp.Body, limit+1))
}

// notStored records why a response was not stored; the key becomes
// hit-for-miss so that later requests are not collapsed behind it, unless
// the response was only fenced out by an invalidation, answered a HEAD,
// or found the in-flight copies' memory full (a moment's shortage): the
// next fetch is stored as usual. The flight x leads lands without an
// object: its waiters fetch for themselves.
func (e *Edge) notStored(x *exchange, reason string) {
	x.status.Stored, x.status.Detail = httpcache.No, firstNonEmpty(x.status.Detail, reason)
	e.metrics.notStored(reason)
	if x.key != "" && reason != "invalidated" && reason != "head" && reason != "memory" {
		e.flights.markHitForMiss(x, e.clk.Now())
	}
	e.landFlight(x, nil)
}

// notStoredReason is the not-stored reason for an error of Store.Add.
func notStoredReason(err error) string {
	switch {
	case errors.Is(err, cachestore.ErrInvalidated):
		return "invalidated"
	case errors.Is(err, cachestore.ErrTooLarge):
		return "too-large"
	}
	return "admission"
}

// serveHit answers from a fresh stored object.
func (e *Edge) serveHit(w http.ResponseWriter, x *exchange, obj *cachestore.Object, now time.Time) {
	x.status.Hit = true
	e.serveObject(w, x, obj, now, resultHit)
}

// serveObject writes a stored object with Age and Cache-Status.
func (e *Edge) serveObject(w http.ResponseWriter, x *exchange, obj *cachestore.Object, now time.Time, res result) {
	e.metrics.result(res)
	age := obj.CurrentAge(now)
	if x.status.Hit {
		x.status.TTL, x.status.HasTTL = obj.TTL(now), true
	}
	if wantsConditional(x.r) && e.serveConditional(w, x, obj, age, fromCache) {
		return
	}
	e.writeObjectHeader(w, x, obj, age)
	e.writeBody(w, x, obj.Body, fromCache)
}

// serveStaleWhileRevalidate answers with a stale object at once and
// refreshes it in the background, once per key.
func (e *Edge) serveStaleWhileRevalidate(w http.ResponseWriter, x *exchange, obj *cachestore.Object, now time.Time) {
	x.status.Hit, x.status.Detail = true, "stale-while-revalidate"
	e.serveObject(w, x, obj, now, resultStale)
	fl, leader := e.flights.join(x.key)
	if !leader {
		return
	}
	bg := *x
	bg.r = x.r.Clone(context.WithoutCancel(x.r.Context()))
	go func() {
		var stored *cachestore.Object
		defer func() { e.flights.land(bg.key, fl, stored) }()
		resp, err := e.fetch(bg.r.Context(), &bg, obj)
		if err != nil {
			return
		}
		defer e.closeOrigin(&bg, resp)
		stored, _ = e.refresh(&bg, obj, resp)
	}()
}

// revalidate handles a stale object outside stale-while-revalidate. One
// request per key revalidates; the others wait for it, as misses do, and
// take the object it refreshed, or revalidate themselves when it did not
// refresh one they may use (spec §2.10, §2.12).
func (e *Edge) revalidate(w http.ResponseWriter, x *exchange, obj *cachestore.Object) {
	if e.cloudfront && !e.collapsible(x.b) {
		e.revalidateAlone(w, x, obj, false)
		return
	}
	fl, leader := e.flights.join(x.key)
	if leader {
		x.flight = fl
		e.landFlight(x, e.revalidateAlone(w, x, obj, true))
		return
	}
	e.metrics.collapsed.Inc()
	select {
	case <-fl.done:
		now := e.clk.Now()
		if o := fl.obj; o != nil && o.Fresh(now) && e.variantMatch(x)(o) && (!x.taint.credential || e.cloudfront || o.SharedExplicit) {
			x.status.Fwd, x.status.FwdStatus, x.status.Collapsed = "stale", o.Status, httpcache.Yes
			x.status.TTL, x.status.HasTTL = o.TTL(now), true
			e.serveObject(w, x, o, now, resultCollapsed)
			return
		}
		if fl.failed && e.staleIfError(x, obj, now) {
			// The origin just failed this very revalidation: within
			// stale-if-error the waiter takes the stale object, as
			// NGINX's proxy_cache_use_stale updating error does,
			// instead of every waiter asking a failing origin again.
			x.status.Fwd, x.status.Collapsed, x.status.Detail = "stale", httpcache.Yes, "stale-if-error"
			e.serveObject(w, x, obj, now, resultStale)
			return
		}
	case <-x.r.Context().Done():
		return
	case <-e.clk.After(collapseTimeout):
	}
	x.status.Collapsed = httpcache.No
	e.revalidateAlone(w, x, obj, false)
}

// revalidateAlone revalidates obj with a conditional fetch: 304 refreshes
// it; an error within stale-if-error serves it stale. It returns the
// object now stored for x's key, if any; for a leader (lead), the fetch
// goes on when the leader's own client goes away, since others wait for it.
func (e *Edge) revalidateAlone(w http.ResponseWriter, x *exchange, obj *cachestore.Object, lead bool) *cachestore.Object {
	x.status.Fwd = "stale"
	ctx := x.r.Context()
	if lead {
		ctx = context.WithoutCancel(ctx)
	}
	resp, err := e.fetch(ctx, x, obj)
	if err == nil && resp.StatusCode == http.StatusNotModified && otherRepresentation(obj, resp.Header) {
		// A 304 whose strong validator is not the stored one's updates
		// nothing (RFC 9111 §4.3.4), and this client asked for the body:
		// ask again, unconditionally.
		e.closeOrigin(x, resp)
		resp, err = e.fetch(ctx, x, nil)
	}
	now := e.clk.Now()
	if err == nil && resp.StatusCode >= 500 && obj.Status >= 400 {
		// The stale object is an error page itself (CloudFront's error
		// caching, or an error the origin marked fresh): the new error
		// is a response like any other, stored by the same rules, so
		// that an outage is cached again for its TTL rather than every
		// request asking the failing origin once the first copy expired.
		defer e.closeOrigin(x, resp)
		x.status.FwdStatus = resp.StatusCode
		x.stale = obj
		return e.storeAndRelay(w, x, resp)
	}
	if err != nil || resp.StatusCode >= 500 {
		if x.flight != nil {
			x.flight.failed = true // before landFlight closes done
		}
		e.landFlight(x, nil) // nothing refreshed: the waiters decide for themselves
		if e.staleIfError(x, obj, now) {
			if err == nil {
				x.status.FwdStatus = resp.StatusCode
				e.closeOrigin(x, resp)
			}
			x.status.Detail = "stale-if-error"
			e.serveObject(w, x, obj, now, resultStale)
			return nil
		}
		if _, background := w.(discard); !background {
			e.metrics.result(resultMiss) // answered from the origin, if with an error
		}
		if err != nil {
			e.originFailed(w, x, err)
			return nil
		}
		// The origin's error goes to this client, and the stale object
		// stays for the next request that may take it stale.
		defer e.closeOrigin(x, resp)
		x.status.FwdStatus, x.status.Stored = resp.StatusCode, httpcache.No
		x.status.Detail = firstNonEmpty(x.status.Detail, httpcache.ReasonStatus)
		e.relay(w, x, resp, nil)
		return nil
	}
	defer e.closeOrigin(x, resp)
	x.status.FwdStatus = resp.StatusCode
	if resp.StatusCode == http.StatusNotModified {
		refreshed, served := e.refresh(x, obj, resp)
		e.landFlight(x, refreshed)
		if refreshed != nil {
			e.metrics.result(resultRevalidated)
			x.status.TTL, x.status.HasTTL = refreshed.TTL(now), true
		} else {
			// Still valid, says the origin, but no longer storable, or
			// invalidated while it was asked (refresh said why): serve
			// the body with the 304's headers this once (a client that
			// sent no condition must never get a 304), counted as a
			// miss, not a refresh.
			e.metrics.result(resultMiss)
			x.status.Stored = httpcache.No
		}
		if cookies := e.viewerSetCookies(x, resp.Header); len(cookies) > 0 && !e.cloudfront {
			// The 304's own Set-Cookie lines (the load balancer's
			// affinity cookie, the application's) go to this requester
			// alone, as a 200's would; they are never stored.
			out := w.Header()
			vals := fillObjectHeader(out, served, headerValues(w), 3)
			out["Set-Cookie"] = cookies
			e.finishHeader(w, x, out, served.Status, int64(len(served.Body)), 0, vals)
		} else {
			e.writeObjectHeader(w, x, served, 0)
		}
		e.writeBody(w, x, served.Body, fromCache)
		return refreshed
	}
	x.stale = obj
	return e.storeAndRelay(w, x, resp)
}

// otherRepresentation reports whether h, the header of a 304, names by
// its strong ETag a representation other than obj (RFC 9111 §4.3.4: then
// it must not update obj). A weak or absent ETag leaves obj selected.
func otherRepresentation(obj *cachestore.Object, h http.Header) bool {
	etag := h.Get("ETag")
	if etag == "" || strings.HasPrefix(etag, "W/") {
		return false
	}
	return obj.Header.Get("ETag") != etag
}

// settleStale ends a revalidation that got a new response
// (exchange.stale): the stale object is dropped when drop says so (the
// new response is final: stored, or not to be stored), and stays stored
// for its windows when the new response failed. The request counts as a
// miss, unless it is a background refresh, counted when it was served.
func (e *Edge) settleStale(w http.ResponseWriter, x *exchange, drop bool) {
	stale := x.stale
	if stale == nil {
		return
	}
	x.stale = nil
	if drop {
		e.store.DeleteObject(stale) // that variant alone: the others stay
	}
	if _, background := w.(discard); !background {
		e.metrics.result(resultMiss)
	}
}

// staleIfError reports whether obj may be served after an origin error:
// within its stale-if-error window (which httpcache makes unbounded in
// cloudfront mode, as CloudFront serves expired objects on errors [doc]),
// narrowed by the request's own stale-if-error if it sent one (RFC 5861
// §4: the smaller of the two).
func (e *Edge) staleIfError(x *exchange, obj *cachestore.Object, now time.Time) bool {
	if !obj.WithinStaleIfError(now) {
		return false
	}
	if d, ok := httpcache.RequestStaleIfError(x.r.Header); ok {
		return obj.Staleness(now) <= d
	}
	return true
}

// originFailed answers when the origin could not be reached: 504 for a
// timeout, 502 otherwise. Error pages are never stored. The failure is
// counted in tether_edge_origin_errors_total.
func (e *Edge) originFailed(w http.ResponseWriter, x *exchange, err error) {
	code := http.StatusBadGateway
	if ctxErr := x.r.Context().Err(); ctxErr != nil {
		return // the client went away
	}
	switch {
	case errors.As(err, new(*clientBodyError)):
		// The client's body would not read (malformed chunks, cut
		// short): its fault, answered as NGINX answers it.
		code, x.status.Detail = http.StatusBadRequest, "request-body"
		w.Header().Set("Connection", "close")
	case isTimeout(err):
		code = http.StatusGatewayTimeout
	}
	if code != http.StatusBadRequest {
		x.status.Detail = firstNonEmpty(x.status.Detail, "origin-unreachable")
		e.log.Warn("origin unreachable", "err", err, "path", httpsyntax.LogPath(x.v.rawPath))
	}
	w.Header().Set("Cache-Status", e.statusMember(x))
	w.Header().Set("Cache-Control", "no-store")
	e.setXCache(w.Header(), x, code)
	http.Error(w, http.StatusText(code), code)
}

// reject answers a request the edge refuses itself.
func (e *Edge) reject(w http.ResponseWriter, x *exchange, code int, detail string) {
	x.status.Fwd, x.status.Detail = "bypass", detail
	e.metrics.bypassed(detail)
	e.metrics.result(resultRejected)
	w.Header().Set("Cache-Status", e.statusMember(x))
	w.Header().Set("Cache-Control", "no-store")
	e.setXCache(w.Header(), x, code)
	http.Error(w, http.StatusText(code), code)
}

// malformed counts a request refused before it reached the edge: a head
// net/http could not parse, answered (code) by net/http itself.
func (e *Edge) malformed(code int) {
	e.metrics.bypassed("malformed")
	e.metrics.result(resultRejected)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
