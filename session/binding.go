package session

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
)

// A ClientIPFunc returns the address of the client that sent r. The
// default is the peer address of the connection (r.RemoteAddr); behind a
// proxy, supply one that reads the proxy's header.
type ClientIPFunc func(r *http.Request) netip.Addr

func remoteIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// ipPrefix is the binding signal for an address: its /24 for IPv4 and /48
// for IPv6, wide enough that a client keeping its network keeps its
// prefix.
func ipPrefix(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	bits := 24
	if a.Is6() {
		bits = 48
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

func uaHash(ua string) string {
	sum := sha256.Sum256([]byte(ua))
	return hex.EncodeToString(sum[:8])
}

// maxUserAgent is how much of a User-Agent a session keeps for ListUser.
const maxUserAgent = 256

// bind records the client signals of r in rec: the IP prefix and a hash of
// the User-Agent always, and for a logged-in session also the address and
// User-Agent themselves, for the inventory ListUser shows. Anonymous
// sessions keep only the signals, which keeps them small.
func (m *Manager) bind(rec *record, r *http.Request) {
	ip := m.clientIP(r)
	rec.IPPrefix = ipPrefix(ip)
	ua := r.UserAgent()
	rec.UAHash = uaHash(ua)
	rec.IP, rec.UserAgent = "", ""
	if rec.UserID == "" {
		return
	}
	if ip.IsValid() {
		rec.IP = ip.String()
	}
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	rec.UserAgent = ua
}

// bindClient records the signals of c that it has in rec, as bind records
// a request's.
func (m *Manager) bindClient(rec *record, c Client) {
	if c.IP.IsValid() {
		ip := c.IP.Unmap()
		rec.IPPrefix = ipPrefix(ip)
		if rec.UserID != "" {
			rec.IP = ip.String()
		}
	}
	if c.UserAgent != "" {
		rec.UAHash = uaHash(c.UserAgent)
		if rec.UserID != "" {
			rec.UserAgent = c.UserAgent[:min(len(c.UserAgent), maxUserAgent)]
		}
	}
}

// clientOf returns the signals of the client that sent r.
func (m *Manager) clientOf(r *http.Request) Client {
	return Client{IP: m.clientIP(r), UserAgent: r.UserAgent()}
}

// bindingMismatch returns which signal of c differs from those recorded at
// creation ("ip" or "user_agent"), or "".
func bindingMismatch(rec *record, c Client) string {
	if rec.IPPrefix != "" && ipPrefix(c.IP.Unmap()) != rec.IPPrefix {
		return "ip"
	}
	if rec.UAHash != "" && uaHash(c.UserAgent) != rec.UAHash {
		return "user_agent"
	}
	return ""
}
