package edge

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
)

// originRequest builds the request to the origin (spec §2.5). It is
// constructed from the selected inputs, never copied and stripped: the
// query is re-serialised from the parsed pairs, cookies go in one sorted
// Cookie header, and only the selected headers are copied. Inbound
// X-Forwarded-* and Forwarded are never forwarded; the edge sets its own.
// Its context is ctx, unless the transport takes the context apart from
// the request (ctxTransport): fetch then hands ctx to it.
func (e *Edge) originRequest(ctx context.Context, x *exchange) *http.Request {
	r, b, v, s := x.r, x.b, &x.v, &x.s
	var parts *originParts
	if e.ctxTransport != nil && cachedMethod(r.Method) {
		parts = originPool.Get().(*originParts)
		x.out = parts // back to the pool in closeOrigin
	} else {
		parts = &originParts{header: make(http.Header, 8)}
	}
	u := &parts.url
	out := &parts.req
	*out = http.Request{Method: r.Method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: parts.header}
	if e.ctxTransport == nil {
		out = out.WithContext(ctx) // else fetch gives the transport ctx
	}
	// The path goes out exactly as the client sent it: Path and a RawPath
	// that is its valid encoding make net/http write RawPath.
	u.Scheme, u.Host, u.RawPath = e.origin.Scheme, e.origin.Host, v.rawPath
	if p, err := url.PathUnescape(v.rawPath); err == nil {
		u.Path = p
	} else {
		// net/http's server refuses a request target with a bad escape,
		// so this is not reached; keep the raw bytes all the same.
		u.Opaque = v.rawPath
	}
	u.RawQuery = joinPairs(s.fwdQuery, "&")
	out.Host = e.origin.Host
	for _, h := range b.fwdHeaders {
		switch h {
		case "Host":
			out.Host = r.Host
			continue
		case "Authorization":
			if e.cloudfront && !b.keys(h) {
				continue // CloudFront forwards Authorization only when it is keyed
			}
		}
		if neverForwarded(h) || isHop(h) {
			continue
		}
		if vals, ok := r.Header[h]; ok {
			out.Header[h] = append([]string(nil), vals...)
		}
	}
	// The header's own values, cut from one array; each slice is capped so
	// that appending to it copies.
	vals := parts.vals[:0]
	set := func(name, value string) {
		vals = append(vals, value)
		out.Header[name] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if len(s.fwdCookies) > 0 {
		set("Cookie", joinPairs(s.fwdCookies, "; "))
	}
	if s.acceptEncoding != "" {
		set("Accept-Encoding", s.acceptEncoding)
	} else {
		out.Header["Accept-Encoding"] = identity
	}
	// From a proxy the config trusts, pass on what it says of the client.
	ci := e.trusted.Identify(r)
	out.Header["X-Forwarded-Proto"] = protoHTTP
	if ci.Secure() {
		out.Header["X-Forwarded-Proto"] = protoHTTPS
	}
	if ci.Peer.IsValid() {
		xff := peerString(r.RemoteAddr, ci.Peer)
		if prior := strings.Join(r.Header.Values("X-Forwarded-For"), ", "); ci.Trusted && prior != "" {
			xff = prior + ", " + xff
		}
		set("X-Forwarded-For", xff)
	}
	out.Header["Via"] = via
	if cachedMethod(r.Method) {
		out.Body, out.ContentLength = http.NoBody, 0
	} else {
		out.Body, out.ContentLength = r.Body, r.ContentLength
		if ct := r.Header.Get("Content-Type"); ct != "" {
			out.Header.Set("Content-Type", ct)
		}
	}
	return out
}

// peerString returns peer, the address of remoteAddr ("ip:port"), as
// text: for IPv4, the part of remoteAddr before the port, which is already
// that text (net/http writes it so, and netip parses no other spelling),
// saving an allocation per request; else peer.String().
func peerString(remoteAddr string, peer netip.Addr) string {
	if i := strings.LastIndexByte(remoteAddr, ':'); i > 0 && peer.Is4() && remoteAddr[0] != '[' {
		return remoteAddr[:i]
	}
	return peer.String()
}

// originParts are the parts of an origin request that originRequest
// allocates together: the request (when the transport takes its context
// apart), its URL, its header and the array of the values it sets itself.
type originParts struct {
	req    http.Request
	url    url.URL
	header http.Header
	vals   [3]string
	// respHeader is the map the response's header is read into when the
	// parts are recycled (contextTransport.RoundTripHeader).
	respHeader http.Header
}

// maxRecycledFields bounds the fields a recycled header map may have held:
// a map that grew larger, for an unusual request or response, is left to
// the collector rather than kept that large in the pool.
const maxRecycledFields = 32

// originPool recycles the origin requests of cached methods when the
// transport says it is done with them (lb.Transport.Releases): a miss
// then allocates no request, URL or header map of its own, which matters
// because every byte a miss allocates costs the collector a share of
// marking the whole cache.
var originPool = sync.Pool{New: func() any {
	return &originParts{header: make(http.Header, 8), respHeader: make(http.Header, 8)}
}}

// closeOrigin closes resp's body and, when x's origin request came from
// originPool and the transport is done with it, puts it back.
func (e *Edge) closeOrigin(x *exchange, resp *http.Response) {
	resp.Body.Close()
	if p := x.out; p != nil {
		x.out = nil
		if !e.ctxTransport.Releases(&p.req) {
			return // net/http's transport sent it: left to the collector
		}
		if len(p.header) > maxRecycledFields || len(p.respHeader) > maxRecycledFields {
			return
		}
		resp.Request, resp.Header = nil, nil
		clear(p.header)
		clear(p.respHeader)
		p.req = http.Request{}
		p.vals = [3]string{}
		originPool.Put(p)
	}
}

// contextTransport is a transport that takes a request's context apart
// from the request and says when it is done with a request, as
// lb.Transport does.
type contextTransport interface {
	RoundTripHeader(ctx context.Context, req *http.Request, h http.Header) (*http.Response, error)
	Releases(req *http.Request) bool
}

// Values of the origin request's header that never change, shared by every
// request: a transport reads a request's header and never changes it, and
// the slices are full, so that appending to one copies it.
var (
	identity   = []string{"identity"}
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
	via        = []string{"1.1 tether-edge"}
)

// isHop reports whether h, a canonical name, is a hop-by-hop field, never
// copied between client and origin (RFC 9110 §7.6.1).
func isHop(h string) bool {
	switch h {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// neverForwarded reports whether the edge sets header h itself (Cookie,
// Accept-Encoding, the forwarding headers) or never sends it
// (Proxy-Authorization), whatever the policies list.
func neverForwarded(h string) bool {
	switch h {
	case "Cookie", "Accept-Encoding", "Proxy-Authorization", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "Via":
		return true
	}
	return false
}

// joinPairs serialises pairs as name=value joined by sep.
func joinPairs(pairs []pair, sep string) string {
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

func cachedMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}
