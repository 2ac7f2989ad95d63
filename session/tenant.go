package session

import (
	"net"
	"net/http"
	"strings"
)

// A TenantFunc returns the tenant a request belongs to, and false when the
// request names no tenant the app serves; the Manager then answers 421
// Misdirected Request without touching the store. Sessions are stored
// under their tenant and only ever found again under it, so a session of
// one tenant is never accepted for another.
type TenantFunc func(r *http.Request) (tenant string, ok bool)

// TenantByHost maps the request's host (without port, lowercased) to a
// tenant through hosts; an unmapped host has no tenant.
func TenantByHost(hosts map[string]string) TenantFunc {
	m := make(map[string]string, len(hosts))
	for h, t := range hosts {
		m[strings.ToLower(h)] = t
	}
	return func(r *http.Request) (string, bool) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		t, ok := m[strings.ToLower(host)]
		return t, ok
	}
}

// TenantByHeader takes the tenant from the request header name, as set by
// a gateway in front of the app (tether strips the header from clients
// when it sets it). When allowed is not empty, only its values are
// tenants; otherwise any value of 1 to 128 printable ASCII characters is.
func TenantByHeader(name string, allowed ...string) TenantFunc {
	set := map[string]bool{}
	for _, a := range allowed {
		set[a] = true
	}
	return func(r *http.Request) (string, bool) {
		v := r.Header.Values(name)
		if len(v) != 1 || !validTenant(v[0]) {
			return "", false
		}
		if len(set) > 0 && !set[v[0]] {
			return "", false
		}
		return v[0], true
	}
}

func validTenant(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
