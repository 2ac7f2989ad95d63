package lb

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientInfo is what tether knows about who sent a request.
type clientInfo struct {
	peer    netip.Addr // the TCP peer
	trusted bool       // the peer is in trusted_proxies
	client  netip.Addr // the original client: the peer, or from X-Forwarded-For via trusted proxies
	proto   string     // http or https, as the client used it
	secure  bool       // proto is https: cookies get Secure
}

// trustList is a listener's trusted_proxies.
type trustList []netip.Prefix

func (tl trustList) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range tl {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// identify works out the client of r. X-Forwarded-For and
// X-Forwarded-Proto are believed only from trusted peers; the client is the
// right-most address in X-Forwarded-For that is not itself a trusted proxy.
func (tl trustList) identify(r *http.Request) clientInfo {
	var ci clientInfo
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		ci.peer = ap.Addr().Unmap()
	}
	ci.client = ci.peer
	ci.proto = "http"
	if r.TLS != nil {
		ci.proto = "https"
	}
	ci.trusted = ci.peer.IsValid() && tl.contains(ci.peer)
	if ci.trusted {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			ci.client = rightmostUntrusted(xff, tl, ci.peer)
		}
		if p := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto"))); p == "https" || p == "http" {
			ci.proto = p
		}
	}
	ci.secure = ci.proto == "https"
	return ci
}

func rightmostUntrusted(xff []string, tl trustList, peer netip.Addr) netip.Addr {
	last := peer
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return last // garbage: stop at the last address we could trust
			}
			a = a.Unmap()
			if !tl.contains(a) {
				return a
			}
			last = a
		}
	}
	return last
}

// setForwarded writes X-Forwarded-For/-Proto/-Port/-Host and Forwarded
// (RFC 7239) on the outbound request. Copies sent by the client are kept
// and appended to only when the peer is trusted; otherwise they are
// replaced. ReverseProxy has already removed the inbound copies from out.
func setForwarded(out, in *http.Request, ci clientInfo, port string) {
	peer := ci.peer.String()
	h := out.Header
	if ci.trusted {
		if prior := strings.Join(in.Header.Values("X-Forwarded-For"), ", "); prior != "" {
			h["X-Forwarded-For"] = []string{prior + ", " + peer}
		} else {
			h["X-Forwarded-For"] = []string{peer}
		}
	} else {
		h["X-Forwarded-For"] = []string{peer}
	}
	h["X-Forwarded-Proto"] = []string{ci.proto}
	fport, fhost := port, in.Host
	if ci.trusted {
		if p := in.Header.Get("X-Forwarded-Port"); p != "" {
			fport = p
		}
		if v := in.Header.Get("X-Forwarded-Host"); v != "" {
			fhost = v
		}
	}
	h["X-Forwarded-Port"] = []string{fport}
	h["X-Forwarded-Host"] = []string{fhost}
	elem := "for=" + forwardedNode(ci.peer) + ";host=" + quoteIfNeeded(in.Host) + ";proto=" + schemeOf(in)
	if prior := strings.Join(in.Header.Values("Forwarded"), ", "); ci.trusted && prior != "" {
		elem = prior + ", " + elem
	}
	h["Forwarded"] = []string{elem}
}

func schemeOf(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// forwardedNode formats an address as an RFC 7239 node: IPv6 addresses are
// bracketed and quoted.
func forwardedNode(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is6() {
		return `"[` + a.String() + `]"`
	}
	return a.String()
}

// quoteIfNeeded quotes v unless it is an RFC 7230 token.
func quoteIfNeeded(v string) string {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return quote(v)
		}
	}
	return v
}

// quote makes v an RFC 7230 quoted-string.
func quote(v string) string {
	var b strings.Builder
	b.Grow(len(v) + 2)
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
	return b.String()
}

// listenerPort returns the port of a listener address.
func listenerPort(addr net.Addr) string {
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return ""
	}
	return port
}
