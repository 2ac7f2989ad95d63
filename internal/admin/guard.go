package admin

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// hostGuard refuses, on an admin API that listens on a loopback address,
// requests whose Host is a DNS name other than localhost: DNS rebinding.
// A web page on evil.example whose name then resolves to 127.0.0.1 is
// same-origin with itself, so the browser sends its requests with Origin
// and Host evil.example, and cross-origin protection lets them through to
// reload, drain and read the API. Requests to an IP address, to
// localhost (and *.localhost, which RFC 6761 keeps on loopback), and to
// nothing else are the loopback ones. An admin API on another address is
// reached by name on purpose (a scraper's service name) and is left alone:
// keep it on a network only operators reach.
func hostGuard(loopback bool, next http.Handler) http.Handler {
	if !loopback {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "host " + r.Host + " is not allowed: the admin API on a loopback address answers requests to an IP address or localhost only (DNS rebinding protection); use http://127.0.0.1:PORT/"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host value names an IP address or
// localhost.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// IsLoopback reports whether addr, an admin.address such as
// 127.0.0.1:9901 or localhost:9901, listens on loopback only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
