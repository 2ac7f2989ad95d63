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

// bindingMismatch returns which signal of r differs from those recorded at
// creation ("ip" or "user_agent"), or "".
func (m *Manager) bindingMismatch(rec *record, r *http.Request) string {
	if rec.IPPrefix != "" && ipPrefix(m.clientIP(r)) != rec.IPPrefix {
		return "ip"
	}
	if rec.UAHash != "" && uaHash(r.UserAgent()) != rec.UAHash {
		return "user_agent"
	}
	return ""
}
