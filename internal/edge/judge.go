package edge

import (
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tetherlb/tether/internal/edge/cachestore"
	"github.com/tetherlb/tether/internal/edge/httpcache"
)

// verdict is what the edge does with an origin response.
type verdict struct {
	store  bool
	reason string // Cache-Status detail when not stored
	d      httpcache.Decision
	// viewerOnly are Set-Cookie lines for the requester that caused the
	// fetch only; nil when resp.Header is sent as it is.
	viewerOnly []string
}

// judge decides whether resp may be stored and for how long: httpcache's
// rules (spec §2.7 1–4, 6, 7, 9, 10 and §2.8), then the Set-Cookie rule
// (§2.9) and the static content-type guard (§2.7 8).
func (e *Edge) judge(x *exchange, resp *http.Response, now time.Time) verdict {
	mode := httpcache.Safe
	if e.cloudfront {
		mode = httpcache.CloudFront
	}
	d := httpcache.Evaluate(mode, httpcache.ResponseInfo{
		Status: resp.StatusCode, Header: resp.Header, RequestTime: x.start, ResponseTime: now,
		Authorization: x.taint.auth, CredentialTainted: x.taint.credential, InputTainted: x.taint.input,
		CookiesForwarded: x.b.forwardsCookies(),
	}, httpcache.TTLPolicy{Min: x.b.minTTL, Default: x.b.defaultTTL, Max: x.b.maxTTL}, now)
	vd := verdict{d: d, store: d.Store}
	if !d.Store && len(d.Reasons) > 0 {
		vd.reason = d.Reasons[0]
	}
	if e.cloudfront {
		if slices.Contains(d.OmitFields, "Set-Cookie") {
			vd.viewerOnly = e.viewerSetCookies(x, resp.Header)
		}
		return vd
	}
	_, other := httpcache.SplitSetCookie(resp.Header, e.isInfra)
	qualified := d.Directives.NoCacheField("Set-Cookie") || d.Directives.PrivateField("Set-Cookie")
	if vd.store && (len(other) > 0 || len(resp.Header["Set-Cookie2"]) > 0) && !qualified {
		// Set-Cookie2 (RFC 2965, obsolete) is a cookie too, to whatever
		// client still reads it.
		vd.store, vd.reason = false, "set-cookie"
	}
	if vd.store && !e.staticTypeOK(x.b, resp.Header) {
		vd.store, vd.reason = false, "content-type-mismatch"
	}
	// The requester gets its own Set-Cookie lines whether or not the
	// response is stored; the stored copy never holds one (storedHeader).
	vd.viewerOnly = e.viewerSetCookies(x, resp.Header)
	return vd
}

// storedHeader packs the header of a response to store: without the
// fields d omits (those a qualified no-cache or private names, the proxy
// fields), without hop-by-hop fields, those Connection names and
// CDN-Cache-Control, which are removed once, here, rather than on every
// hit, and in safe mode without Set-Cookie (or the obsolete Set-Cookie2).
func (e *Edge) storedHeader(h http.Header, d httpcache.Decision) cachestore.Header {
	var connection []string
	if !slices.Contains(d.OmitFields, "Connection") {
		connection = connectionNames(h)
	}
	return cachestore.PackHeader(h, func(name string) bool {
		return !isHop(name) && name != "Cdn-Cache-Control" && !((name == "Set-Cookie" || name == "Set-Cookie2") && !e.cloudfront) &&
			!slices.Contains(d.OmitFields, name) && !slices.Contains(connection, name)
	})
}

// viewerSetCookies returns the Set-Cookie lines of h that the requester of
// x gets (never nil). Safe mode passes the application's cookies, and the
// load balancer's only when the behavior forwarded them (see
// forwardedInfra). cloudfront mode passes all of them when the behavior
// forwards any cookie and none otherwise, as CloudFront does [doc].
func (e *Edge) viewerSetCookies(x *exchange, h http.Header) []string {
	out := []string{}
	if e.cloudfront {
		if x.b.forwardsCookies() {
			out = append(out, h.Values("Set-Cookie")...)
		}
		return out
	}
	infra, other := httpcache.SplitSetCookie(h, e.isInfra)
	return append(append(out, x.b.forwardedInfra(infra)...), other...)
}

// forwardedInfra keeps the load-balancer Set-Cookie lines whose cookie the
// behavior forwards. The load balancer issues its cookie afresh when it
// does not see one; passed on from a behavior that does not forward it
// (a static path, say), that new cookie would replace the browser's own
// and move it to another target. Only a load balancer that saw the
// browser's cookie may refresh it.
func (b *behavior) forwardedInfra(lines []string) []string {
	var out []string
	for _, line := range lines {
		name, _, _ := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if b.cache.Cookies.Selects(name) || b.orp.Cookies.Selects(name) {
			out = append(out, line)
		}
	}
	return out
}

// forwardsCookies reports whether b sends any cookie to the origin.
func (b *behavior) forwardsCookies() bool {
	return b.cache.Cookies.Behavior != "none" || b.orp.Cookies.Behavior != "none"
}

// staticTypeOK is the web cache deception guard: a behavior with
// static_content_types stores only those media types.
func (e *Edge) staticTypeOK(b *behavior, h http.Header) bool {
	if len(b.staticTypes) == 0 {
		return true
	}
	if len(h["Content-Type"]) != 1 {
		return false // two types: clients differ on which one wins
	}
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return false
	}
	return slices.ContainsFunc(b.staticTypes, func(want string) bool {
		if prefix, ok := strings.CutSuffix(want, "/*"); ok {
			return strings.HasPrefix(mt, prefix+"/")
		}
		return mt == strings.ToLower(want)
	})
}

// newObject makes the stored object of a response, whose Vary field
// nominated vary. Its tenant, host and path are cut from its key, so that
// it keeps no string of the request.
func (e *Edge) newObject(x *exchange, resp *http.Response, body []byte, vd verdict, vary []string, now time.Time) *cachestore.Object {
	k, at := x.key, x.keyAt
	return &cachestore.Object{
		Key: k, Variant: e.variantKey(x, vary), VaryHeaders: vary,
		Tenant: k[at.tenant : at.tenant+len(x.tenant)], Host: k[at.host : at.host+len(x.v.host)],
		Path: k[at.path : at.path+len(x.v.rawPath)], Query: x.uri.Query,
		Status: resp.StatusCode, Header: e.storedHeader(resp.Header, vd.d), Body: body, Stored: now, Generation: x.gen, InitialAge: vd.d.Age,
		FreshFor: vd.d.TTL, StaleWhileRevalidate: vd.d.SWR, StaleIfError: vd.d.SIE, SharedExplicit: vd.d.SharedExplicit,
	}
}

// refresh applies a revalidation response to the stale object obj: a 304
// updates its headers and freshness (RFC 9111 §4.3.4); another response
// replaces it when storable. It returns the object now stored, or nil,
// and, for a 304, the object as the 304 updated it, to answer the request
// with: the updated headers go to the client even when the object could
// not be kept (a 304 that made it private or no-store), so that a cache
// after the edge learns it too.
func (e *Edge) refresh(x *exchange, obj *cachestore.Object, resp *http.Response) (stored, served *cachestore.Object) {
	now := e.clk.Now()
	if resp.StatusCode != http.StatusNotModified {
		if resp.StatusCode >= 500 {
			return nil, nil // keep the stale object for its windows
		}
		x.stale = obj
		return e.storeAndRelay(discard{}, x, resp), nil
	}
	merged := obj.Header.Clone()
	for k, v := range resp.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Content-Encoding", "Transfer-Encoding", "Set-Cookie", "Content-Type":
			continue
		}
		merged[k] = v
	}
	vd := e.judge(x, &http.Response{StatusCode: obj.Status, Header: merged}, now)
	fresh := *obj
	fresh.Direct = fresh.Coding == "" && directHeader(merged, len(fresh.Body))
	if !vd.store {
		e.store.DeleteObject(obj) // that variant alone: the others stay
		e.notStored(x, vd.reason)
		fresh.Header = e.storedHeader(merged, httpcache.Decision{}) // for this requester only
		return nil, &fresh
	}
	fresh.Header, fresh.Stored, fresh.Generation = e.storedHeader(merged, vd.d), now, x.gen
	fresh.InitialAge, fresh.FreshFor = vd.d.Age, vd.d.TTL
	fresh.StaleWhileRevalidate, fresh.StaleIfError, fresh.SharedExplicit = vd.d.SWR, vd.d.SIE, vd.d.SharedExplicit
	if err := e.store.Add(&fresh); err != nil {
		e.notStored(x, notStoredReason(err)) // invalidated while it was asked, say
		return nil, &fresh
	}
	return &fresh, &fresh
}

// discard is a ResponseWriter for background revalidations.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
