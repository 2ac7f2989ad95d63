package probe_test

import (
	"encoding/base64"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/probe"
)

// now is the time the cookie tests read Set-Cookie headers at.
var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func TestAnalyzeSetCookieAttributes(t *testing.T) {
	maxAge := func(n int) *int { return &n }
	tests := []struct {
		name string
		line string
		want probe.Cookie
	}{
		{name: "tether", line: "TETHER=v1.aGVsbG8; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax",
			want: probe.Cookie{Name: "TETHER", HTTPOnly: true, SameSite: "Lax", Path: "/", MaxAge: maxAge(86400), Affinity: true}},
		{name: "haproxy insert", line: "SRV=s1; path=/",
			want: probe.Cookie{Name: "SRV", Path: "/", Affinity: true}},
		{name: "every attribute", line: "__Host-sid=x; Secure; HttpOnly; SameSite=Strict; Path=/; Domain=example.com; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Partitioned",
			want: probe.Cookie{Name: "__Host-sid", Secure: true, HTTPOnly: true, SameSite: "Strict", Path: "/", Domain: "example.com",
				Expires: "2037-10-21T07:28:00Z", Partitioned: true, Affinity: true}},
		{name: "unknown samesite", line: "theme=dark; SameSite=Sometimes", want: probe.Cookie{Name: "theme", SameSite: "invalid"}},
		{name: "deletion by max-age", line: "JSESSIONID=; Max-Age=0", want: probe.Cookie{Name: "JSESSIONID", MaxAge: maxAge(0), Deletes: true, Affinity: true}},
		{name: "deletion by expires", line: "JSESSIONID=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
			want: probe.Cookie{Name: "JSESSIONID", Expires: "1970-01-01T00:00:00Z", Deletes: true, Affinity: true}},
		{name: "unparsable expires kept as sent", line: "a=b; Expires=soon", want: probe.Cookie{Name: "a", Expires: "soon"}},
		{name: "no name", line: "=x", want: probe.Cookie{Malformed: true}},
		{name: "no equals sign", line: "garbage", want: probe.Cookie{Name: "garbage", Malformed: true}},
		{name: "bad value", line: `a=b\c; Path=/`, want: probe.Cookie{Name: "a", Malformed: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := probe.AnalyzeSetCookie(tt.line, now)
			if !equalCookie(got, tt.want) {
				t.Errorf("AnalyzeSetCookie(%q)\n got %+v (max-age %v)\nwant %+v (max-age %v)", tt.line, got, deref(got.MaxAge), tt.want, deref(tt.want.MaxAge))
			}
		})
	}
}

func TestAnalyzeSetCookieWarnings(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name     string
		line     string
		warnings []string // codes, in order
		address  string   // want RevealsAddress
		encoding string
	}{
		{name: "tether", line: "TETHER=djEuQ2hhQ2hhMjAtUG9seTEzMDUtc2VhbGVkLXRva2Vu; Path=/; HttpOnly; SameSite=Lax"},
		{name: "samesite none without secure", line: "TETHERCORS=x; HttpOnly; SameSite=None", warnings: []string{probe.WarnSameSiteNoneInsecure}},
		{name: "samesite none with secure", line: "TETHERCORS=x; HttpOnly; Secure; SameSite=None"},
		{name: "haproxy cookie without httponly", line: "SRV=s1; path=/", warnings: []string{probe.WarnAffinityNoHTTPOnly}},
		{name: "jsessionid without httponly", line: "JSESSIONID=ABC123.node1; Path=/", warnings: []string{probe.WarnAffinityNoHTTPOnly}},
		{name: "aws alb", line: "AWSALB=c2VhbGVkYmxvYg; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Path=/", warnings: []string{probe.WarnAffinityNoHTTPOnly}},
		{name: "ordinary cookie needs no httponly", line: "theme=dark; Path=/"},
		{name: "deleting a session cookie is fine", line: "PHPSESSID=; Max-Age=0"},
		{name: "ip:port", line: "backend=10.0.0.5:8080; HttpOnly", warnings: []string{probe.WarnRevealsAddress}, address: "10.0.0.5:8080", encoding: "plain"},
		{name: "bare IPv4", line: "node=192.168.1.20", warnings: []string{probe.WarnRevealsAddress}, address: "192.168.1.20", encoding: "plain"},
		{name: "IPv6", line: "node=fd00::12", warnings: []string{probe.WarnRevealsAddress}, address: "fd00::12", encoding: "plain"},
		{name: "[IPv6]:port", line: `node="[fd00::12]:8443"`, warnings: []string{probe.WarnRevealsAddress}, address: "[fd00::12]:8443", encoding: "plain"},
		{name: "host:port", line: "node=app-3.internal:8080", warnings: []string{probe.WarnRevealsAddress}, address: "app-3.internal:8080", encoding: "plain"},
		{name: "traefik 1.x url", line: "_TRAEFIK_BACKEND=http://10.0.0.7:80; HttpOnly", warnings: []string{probe.WarnRevealsAddress}, address: "10.0.0.7:80", encoding: "plain"},
		{name: "percent-encoded url", line: "_TRAEFIK_BACKEND=http%3A%2F%2F10.0.0.7%3A80; HttpOnly", warnings: []string{probe.WarnRevealsAddress}, address: "10.0.0.7:80", encoding: "url"},
		{name: "address inside other text", line: "lbinfo=pool-a|10.1.2.3:9000|x", warnings: []string{probe.WarnRevealsAddress}, address: "10.1.2.3:9000", encoding: "plain"},
		{name: "base64 of ip:port", line: "backend=" + b64([]byte("10.0.0.5:8080")) + "; HttpOnly", warnings: []string{probe.WarnRevealsAddress}, address: "10.0.0.5:8080", encoding: "base64"},
		{name: "unpadded url base64", line: "backend=" + base64.RawURLEncoding.EncodeToString([]byte("http://[fd00::1]:81")) + "; HttpOnly",
			warnings: []string{probe.WarnRevealsAddress}, address: "[fd00::1]:81", encoding: "base64"},
		{name: "hex of ip:port", line: "backend=" + hex.EncodeToString([]byte("172.16.0.9:3000")) + "; HttpOnly", warnings: []string{probe.WarnRevealsAddress}, address: "172.16.0.9:3000", encoding: "hex"},
		{name: "f5 big-ip", line: "BIGipServerpool_web=1677787402.36895.0000; path=/; Httponly", warnings: []string{probe.WarnRevealsAddress}, address: "10.1.1.100:8080", encoding: "bigip"},
		{name: "nginx plus md5 is not an address", line: "srv_id=7a8b3c4d5e6f708192a3b4c5d6e7f809; HttpOnly"},
		{name: "md5 of ip:port is not an address", line: "srv_id=0b7b1fb1a0e87e5c2e8d2fd47e35a5bd; HttpOnly"},
		{name: "traefik fnv hash is not an address", line: "_cfe2c=c7ff2ea1a8f1b3d4; HttpOnly"},
		{name: "version numbers are not ports", line: "app_version=v2:3"},
		{name: "several problems", line: "SERVERID=10.0.0.5:80; SameSite=None", warnings: []string{probe.WarnSameSiteNoneInsecure, probe.WarnAffinityNoHTTPOnly, probe.WarnRevealsAddress},
			address: "10.0.0.5:80", encoding: "plain"},
		{name: "malformed", line: "a b=c", warnings: []string{probe.WarnMalformed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ws := probe.AnalyzeSetCookie(tt.line, now)
			var codes []string
			for _, w := range ws {
				codes = append(codes, w.Code)
				if w.Message == "" || (w.Cookie != c.Name) {
					t.Errorf("warning %+v: want a message and the cookie name %q", w, c.Name)
				}
			}
			if !slices.Equal(codes, tt.warnings) {
				t.Errorf("warnings = %q, want %q", codes, tt.warnings)
			}
			if c.RevealsAddress != tt.address || c.AddressEncoding != tt.encoding {
				t.Errorf("reveals %q (%q), want %q (%q)", c.RevealsAddress, c.AddressEncoding, tt.address, tt.encoding)
			}
		})
	}
}

func equalCookie(a, b probe.Cookie) bool {
	if deref(a.MaxAge) != deref(b.MaxAge) || (a.MaxAge == nil) != (b.MaxAge == nil) {
		return false
	}
	a.MaxAge, b.MaxAge = nil, nil
	return a == b
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}
