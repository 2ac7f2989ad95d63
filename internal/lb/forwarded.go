package lb

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/tetherlb/tether/internal/trust"
)

// clientInfo is what tether knows about who sent a request; trustList is
// a listener's trusted_proxies (see package trust).
type (
	clientInfo = trust.Client
	trustList  = trust.Proxies
)

// setForwarded writes X-Forwarded-For/-Proto/-Port/-Host and Forwarded
// (RFC 7239) on the outbound request. Copies sent by the client are kept
// and appended to only when the peer is trusted; otherwise they are
// replaced. ReverseProxy has already removed the inbound copies from out.
func setForwarded(out, in *http.Request, ci clientInfo, port string) {
	peer := ci.Peer.String()
	h := out.Header
	if ci.Trusted {
		if prior := strings.Join(in.Header.Values("X-Forwarded-For"), ", "); prior != "" {
			h["X-Forwarded-For"] = []string{prior + ", " + peer}
		} else {
			h["X-Forwarded-For"] = []string{peer}
		}
	} else {
		h["X-Forwarded-For"] = []string{peer}
	}
	h["X-Forwarded-Proto"] = []string{ci.Proto}
	fport, fhost := port, in.Host
	if ci.Trusted {
		if p := in.Header.Get("X-Forwarded-Port"); p != "" {
			fport = p
		}
		if v := in.Header.Get("X-Forwarded-Host"); v != "" {
			fhost = v
		}
	}
	h["X-Forwarded-Port"] = []string{fport}
	h["X-Forwarded-Host"] = []string{fhost}
	elem := "for=" + forwardedNode(ci.Peer) + ";host=" + quoteIfNeeded(in.Host) + ";proto=" + schemeOf(in)
	if prior := strings.Join(in.Header.Values("Forwarded"), ", "); ci.Trusted && prior != "" {
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
