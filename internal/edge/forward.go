package edge

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// hopHeaders are never copied between client and origin (RFC 9110 §7.6.1).
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// originRequest builds the request to the origin (spec §2.5). It is
// constructed from the selected inputs, never copied and stripped: the
// query is re-serialised from the parsed pairs, cookies go in one sorted
// Cookie header, and only the selected headers are copied. Inbound
// X-Forwarded-* and Forwarded are never forwarded; the edge sets its own.
func (e *Edge) originRequest(ctx context.Context, r *http.Request, b *behavior, v *view, s *selection) *http.Request {
	// The path goes out exactly as the client sent it: Path and a RawPath
	// that is its valid encoding make net/http write RawPath.
	u := &url.URL{Scheme: e.origin.Scheme, Host: e.origin.Host, RawPath: v.rawPath}
	if p, err := url.PathUnescape(v.rawPath); err == nil {
		u.Path = p
	} else {
		// net/http's server refuses a request target with a bad escape,
		// so this is not reached; keep the raw bytes all the same.
		u.Opaque = v.rawPath
	}
	u.RawQuery = joinPairs(s.fwdQuery, "&")
	out, _ := http.NewRequestWithContext(ctx, r.Method, e.origin.String(), nil)
	out.URL = u
	out.Header = make(http.Header)
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
		if neverForwarded(h) {
			continue
		}
		if vals, ok := r.Header[h]; ok {
			out.Header[h] = append([]string(nil), vals...)
		}
	}
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	if len(s.fwdCookies) > 0 {
		out.Header.Set("Cookie", joinPairs(s.fwdCookies, "; "))
	}
	if s.acceptEncoding != "" {
		out.Header.Set("Accept-Encoding", s.acceptEncoding)
	} else {
		out.Header.Set("Accept-Encoding", "identity")
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		out.Header.Set("X-Forwarded-For", host)
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	out.Header.Set("X-Forwarded-Proto", proto)
	out.Header.Set("Via", "1.1 tether-edge")
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
