// Package trust decides who sent a request: the TCP peer, or, when the
// peer is one of the proxies a config's trusted_proxies lists, the client
// those proxies name in X-Forwarded-For, with the scheme they give in
// X-Forwarded-Proto. Forwarding headers from any other peer are never
// believed. Listeners, edges and the token service share it.
package trust

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/tetherlb/tether/internal/config"
)

// Proxies is a trusted_proxies list.
type Proxies []netip.Prefix

// Parse reads trusted_proxies entries: CIDRs or single IPs.
func Parse(cidrs []string) (Proxies, error) {
	ps := make(Proxies, 0, len(cidrs))
	for _, c := range cidrs {
		p, err := config.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies: %q: %w", c, err)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// Contains reports whether a is one of the proxies.
func (ps Proxies) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client is what is known about who sent a request.
type Client struct {
	Peer    netip.Addr // the TCP peer; invalid when RemoteAddr does not parse
	Trusted bool       // the peer is a trusted proxy
	Addr    netip.Addr // the client: the peer, or from X-Forwarded-For via trusted proxies
	Proto   string     // http or https, as the client used it
}

// Secure reports whether the client used HTTPS.
func (c Client) Secure() bool { return c.Proto == "https" }

// Identify works out the client of r. X-Forwarded-For and
// X-Forwarded-Proto are believed only from a trusted peer; the client is
// the right-most address in X-Forwarded-For that is not itself a trusted
// proxy.
func (ps Proxies) Identify(r *http.Request) Client {
	var c Client
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		c.Peer = ap.Addr().Unmap()
	}
	c.Addr = c.Peer
	c.Proto = "http"
	if r.TLS != nil {
		c.Proto = "https"
	}
	c.Trusted = c.Peer.IsValid() && ps.Contains(c.Peer)
	if c.Trusted {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			c.Addr = ps.rightmostUntrusted(xff, c.Peer)
		}
		if p := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto"))); p == "https" || p == "http" {
			c.Proto = p
		}
	}
	return c
}

func (ps Proxies) rightmostUntrusted(xff []string, peer netip.Addr) netip.Addr {
	last := peer
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return last // garbage: stop at the last address we could trust
			}
			a = a.Unmap()
			if !ps.Contains(a) {
				return a
			}
			last = a
		}
	}
	return last
}
