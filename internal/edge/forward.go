package edge

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
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
//
// A request without a body to a transport that takes written header lines
// (contextTransport.RoundTripFields) comes from originPool with its fields
// written into x.out.fields and an empty header map; any other has its
// fields in its header map.
func (e *Edge) originRequest(ctx context.Context, x *exchange) *http.Request {
	r := x.r
	var parts *originParts
	if e.ctxTransport != nil && cachedMethod(r.Method) {
		parts = originPool.Get().(*originParts)
		x.out = parts // back to the pool in closeOrigin
	} else {
		parts = &originParts{header: make(http.Header, 8)}
	}
	u := &parts.url
	out := &parts.req
	method := r.Method
	if x.asGet {
		method = http.MethodGet
	}
	*out = http.Request{Method: method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: parts.header}
	if e.ctxTransport == nil {
		out = out.WithContext(ctx) // else fetch gives the transport ctx
	}
	// The path goes out as keyed (as the client sent it, when validly
	// escaped; see parseView): Path and a RawPath that is its valid
	// encoding make net/http write RawPath.
	u.Scheme, u.Host, u.RawPath = e.origin.Scheme, e.origin.Host, x.v.rawPath
	if p, err := url.PathUnescape(x.v.rawPath); err == nil {
		u.Path = p
	} else {
		// net/http's server refuses a request target with a bad escape,
		// so this is not reached; keep the raw bytes all the same.
		u.Opaque = x.v.rawPath
	}
	u.RawQuery = joinPairs(x.s.fwdQuery, "&")
	out.Host = e.origin.Host
	if b := x.b; slices.Contains(b.fwdHeaders, "Host") {
		// The host as keyed (lower case, without the default port or a
		// trailing dot), never as sent: an origin that routes "a.example."
		// apart from "a.example" would otherwise give one key two answers.
		out.Host = x.v.host
	}
	if x.out != nil {
		f := parts.fields[:0]
		ua := false
		e.originFields(x, func(name, value string) {
			ua = ua || name == "User-Agent"
			f = appendFieldLine(f, name, value)
		})
		if !ua {
			// What net/http's transport sends when the request has none.
			f = appendFieldLine(f, "User-Agent", "Go-http-client/1.1")
		}
		parts.fields = f
	} else {
		e.originFields(x, func(name, value string) { out.Header[name] = append(out.Header[name], value) })
	}
	switch {
	case cachedMethod(r.Method):
		out.Body, out.ContentLength = http.NoBody, 0
	case r.Body == nil || r.Body == http.NoBody:
		// Kept as it is: a transport sends Content-Length: 0 for NoBody,
		// where a wrapped one reads as a body of unknown length.
		out.Body, out.ContentLength = r.Body, r.ContentLength
	default:
		out.Body, out.ContentLength = &clientBody{r.Body}, r.ContentLength
	}
	return out
}

// clientBody is a request body on its way to the origin. A read that
// fails for the client's fault (a malformed chunked body, one cut short)
// fails with a clientBodyError, so that the client gets a 400 and the
// origin is not blamed.
type clientBody struct{ io.ReadCloser }

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = &clientBodyError{err}
	}
	return n, err
}

// clientBodyError is the client's request body failing to read.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "reading the request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

// originFields calls add with each header field of x's origin request but
// Host, in the order they are sent.
func (e *Edge) originFields(x *exchange, add func(name, value string)) {
	r, b, s := x.r, x.b, &x.s
	for _, h := range b.fwdHeaders {
		if h == "Host" || neverForwarded(h) || isHop(h) {
			continue
		}
		if h == "Authorization" && e.cloudfront && !b.keys(h) {
			continue // CloudFront forwards Authorization only when it is keyed
		}
		for _, v := range r.Header[h] {
			add(h, v)
		}
	}
	if len(s.fwdCookies) > 0 {
		add("Cookie", joinPairs(s.fwdCookies, "; "))
	}
	if s.acceptEncoding != "" {
		add("Accept-Encoding", s.acceptEncoding)
	} else {
		add("Accept-Encoding", "identity")
	}
	// From a proxy the config trusts, pass on what it says of the client.
	ci := e.trusted.Identify(r)
	if ci.Peer.IsValid() {
		xff := peerString(r.RemoteAddr, ci.Peer)
		if prior := strings.Join(r.Header.Values("X-Forwarded-For"), ", "); ci.Trusted && prior != "" {
			xff = prior + ", " + xff
		}
		add("X-Forwarded-For", xff)
	}
	if ci.Secure() {
		add("X-Forwarded-Proto", "https")
	} else {
		add("X-Forwarded-Proto", "http")
	}
	add("Via", "1.1 tether-edge")
	if !cachedMethod(r.Method) && !slices.Contains(b.fwdHeaders, "Content-Type") {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			add("Content-Type", ct)
		}
	}
}

// appendFieldLine appends the header line "name: value" to b.
func appendFieldLine(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

// setValidator adds the conditional field name (If-None-Match or
// If-Modified-Since) with value to out, the request originRequest built
// for x: as a line when its fields are written out, else to its header.
func setValidator(x *exchange, out *http.Request, name, value string) {
	if x.out != nil {
		x.out.fields = appendFieldLine(x.out.fields, name, value)
		return
	}
	out.Header.Set(name, value)
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
// apart), its URL, its header map and its header lines.
type originParts struct {
	req    http.Request
	url    url.URL
	header http.Header
	// fields are the request's header lines (RoundTripFields); the array
	// is kept from one request to the next.
	fields []byte
	// respHeader is the map the response's header is read into when the
	// parts are recycled (contextTransport.RoundTripHeader).
	respHeader http.Header
}

// maxRecycledFields bounds the fields a recycled header map may have held:
// a map that grew larger, for an unusual request or response, is left to
// the collector rather than kept that large in the pool.
const maxRecycledFields = 32

// maxRecycledFieldBytes bounds, likewise, the header lines' array a
// recycled request keeps.
const maxRecycledFieldBytes = 4 << 10

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
		if len(p.header) > maxRecycledFields || len(p.respHeader) > maxRecycledFields || cap(p.fields) > maxRecycledFieldBytes {
			return
		}
		resp.Request, resp.Header = nil, nil
		clear(p.header)
		clear(p.respHeader)
		p.req = http.Request{}
		p.fields = p.fields[:0]
		originPool.Put(p)
	}
}

// contextTransport is a transport that takes a request's context apart
// from the request and says when it is done with a request, as
// lb.Transport does.
type contextTransport interface {
	RoundTripHeader(ctx context.Context, req *http.Request, h http.Header) (*http.Response, error)
	RoundTripFields(ctx context.Context, req *http.Request, fields []byte, h http.Header) (*http.Response, error)
	Releases(req *http.Request) bool
}

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
