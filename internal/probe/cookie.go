package probe

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Cookie is what one Set-Cookie header tells a browser, as the probe reads
// it: the attributes that decide where the cookie is sent, and what its
// name and value give away.
type Cookie struct {
	// Name is the cookie name ("" when the header has none).
	Name string `json:"name"`
	// Secure, HTTPOnly and Partitioned report the flag attributes.
	Secure      bool `json:"secure"`
	HTTPOnly    bool `json:"http_only"`
	Partitioned bool `json:"partitioned"`
	// SameSite is "Strict", "Lax" or "None"; "" when the attribute is
	// absent (browsers then treat the cookie as Lax), "invalid" for any
	// other value.
	SameSite string `json:"same_site"`
	// Path and Domain are the attributes as sent ("" when absent).
	Path   string `json:"path"`
	Domain string `json:"domain"`
	// MaxAge is the Max-Age attribute in seconds, 0 when it deletes the
	// cookie, nil when absent.
	MaxAge *int `json:"max_age_seconds"`
	// Expires is the Expires attribute in RFC 3339, or as sent when it does
	// not parse; "" when absent. A cookie with neither Max-Age nor Expires
	// lives until the browser closes.
	Expires string `json:"expires"`
	// Deletes is true when the header removes the cookie (Max-Age ≤ 0 or
	// Expires in the past).
	Deletes bool `json:"deletes"`
	// Affinity is true when the name looks like a session or affinity
	// cookie (SRV, SERVERID, JSESSIONID, …session…, …sticky…, …route…).
	Affinity bool `json:"looks_like_affinity"`
	// RevealsAddress is the network address (IP, IP:port or host:port)
	// that the value discloses, "" when none.
	RevealsAddress string `json:"reveals_address"`
	// AddressEncoding says how RevealsAddress was hidden in the value:
	// "plain", "url" (percent-encoded), "hex", "base64" or "bigip" (F5
	// BIG-IP's encoded IPv4 and port); "" when no address was found.
	AddressEncoding string `json:"address_encoding"`
	// Malformed is true when net/http (and so most clients) would reject
	// the header.
	Malformed bool `json:"malformed"`
}

// Warning codes. They are part of the JSON report and stable.
const (
	WarnSameSiteNoneInsecure = "samesite_none_without_secure"
	WarnAffinityNoHTTPOnly   = "affinity_cookie_without_httponly"
	WarnRevealsAddress       = "cookie_reveals_address"
	WarnMalformed            = "cookie_malformed"
	WarnNotSecureOnHTTPS     = "cookie_not_secure_on_https"
	WarnChurn                = "cookie_churn"
	WarnNoCookie             = "no_cookie"
	WarnTargetHeaderMissing  = "target_header_missing"
)

// Warning is one thing the probe found that a user should look at.
type Warning struct {
	// Code is one of the Warn* constants.
	Code string `json:"code"`
	// Cookie names the cookie concerned, "" when the warning is about the
	// whole probe.
	Cookie string `json:"cookie,omitempty"`
	// Message says what was found, why it matters and what to do.
	Message string `json:"message"`
}

// AnalyzeSetCookie reads one Set-Cookie header value as a browser would at
// time now and reports its attributes and what is wrong with it: SameSite=None
// without Secure (browsers reject the cookie), a session or affinity cookie
// that scripts can read (no HttpOnly), a value that discloses a network
// address, a header clients reject. It is a pure function of its inputs and
// never fails; hostile input yields a Cookie with Malformed set.
func AnalyzeSetCookie(line string, now time.Time) (Cookie, []Warning) {
	hc, err := http.ParseSetCookie(line)
	if err != nil {
		name, _, _ := strings.Cut(strings.TrimSpace(line), "=")
		name = strings.TrimSpace(strings.SplitN(name, ";", 2)[0])
		if !isPrintable(name) || len(name) > 256 {
			name = ""
		}
		c := Cookie{Name: name, Malformed: true}
		return c, []Warning{{Code: WarnMalformed, Cookie: name, Message: fmt.Sprintf(
			"cookie %s: the Set-Cookie header does not parse (%v); clients drop it, so it cannot keep anyone on a target",
			quoteName(name), err)}}
	}
	c := Cookie{
		Name:        hc.Name,
		Secure:      hc.Secure,
		HTTPOnly:    hc.HttpOnly,
		Partitioned: hc.Partitioned,
		SameSite:    sameSite(hc),
		Path:        hc.Path,
		Domain:      hc.Domain,
		Affinity:    looksLikeAffinity(hc.Name),
	}
	if hc.MaxAge != 0 {
		secs := max(hc.MaxAge, 0)
		c.MaxAge = &secs
	}
	switch {
	case !hc.Expires.IsZero():
		c.Expires = hc.Expires.Format(time.RFC3339)
	case hc.RawExpires != "":
		c.Expires = hc.RawExpires
	}
	c.Deletes = hc.MaxAge < 0 || hc.MaxAge == 0 && !hc.Expires.IsZero() && hc.Expires.Before(now)
	if !c.Deletes {
		c.RevealsAddress, c.AddressEncoding = revealedAddress(hc.Value)
	}
	return c, cookieWarnings(c)
}

// cookieWarnings returns what is wrong with one parsed cookie.
func cookieWarnings(c Cookie) []Warning {
	var ws []Warning
	name := quoteName(c.Name)
	if c.SameSite == "None" && !c.Secure {
		ws = append(ws, Warning{WarnSameSiteNoneInsecure, c.Name, fmt.Sprintf(
			"cookie %s has SameSite=None without Secure: browsers reject it, so browsers never send it back; add Secure (and serve HTTPS)", name)})
	}
	if c.Deletes {
		return ws
	}
	if c.Affinity && !c.HTTPOnly {
		ws = append(ws, Warning{WarnAffinityNoHTTPOnly, c.Name, fmt.Sprintf(
			"cookie %s looks like a session or affinity cookie but lacks HttpOnly: any script on the page (and any XSS) can read it; add HttpOnly (HAProxy: `cookie NAME insert indirect nocache httponly`)", name)})
	}
	if c.RevealsAddress != "" {
		how := ""
		if c.AddressEncoding != "plain" {
			how = " (" + c.AddressEncoding + "-encoded)"
		}
		ws = append(ws, Warning{WarnRevealsAddress, c.Name, fmt.Sprintf(
			"cookie %s reveals the address %s%s: every visitor can read your internal network layout from it; name targets by an opaque id or a keyed hash instead", name, c.RevealsAddress, how)})
	}
	return ws
}

func sameSite(c *http.Cookie) string {
	switch c.SameSite {
	case http.SameSiteStrictMode:
		return "Strict"
	case http.SameSiteLaxMode:
		return "Lax"
	case http.SameSiteNoneMode:
		return "None"
	case http.SameSiteDefaultMode:
		return "invalid"
	}
	return ""
}

func quoteName(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return name
}

// affinityNames are cookie names that load balancers and application
// servers use for affinity or sessions, compared case-insensitively.
var affinityNames = map[string]bool{
	"srv": true, "serverid": true, "server": true, "route": true, "routeid": true, "sid": true,
	"jsessionid": true, "phpsessid": true, "asp.net_sessionid": true, "aspsessionid": true,
	"connect.sid": true, "laravel_session": true, "sessionid": true, "_session_id": true,
	"awsalb": true, "awsalbcors": true, "awselb": true, "awsalbapp": true, "gclb": true,
	"ingresscookie": true,
}

// affinityParts are name fragments that mark a session or affinity cookie.
var affinityParts = []string{"sess", "sticky", "affinity", "persist", "route", "backend",
	"upstream", "bigip", "traefik", "tether", "srv_id", "serverid", "lb_"}

// looksLikeAffinity reports whether a cookie name suggests a session or
// load balancer affinity cookie.
func looksLikeAffinity(name string) bool {
	n := strings.ToLower(name)
	if affinityNames[n] {
		return true
	}
	if strings.HasSuffix(n, "_sid") || strings.HasSuffix(n, ".sid") || strings.HasSuffix(n, "-sid") {
		return true
	}
	for _, p := range affinityParts {
		if strings.Contains(n, p) {
			return true
		}
	}
	return false
}

// maxDecode bounds the values the probe tries to decode; addresses are
// short.
const maxDecode = 512

// revealedAddress returns the network address a cookie value discloses and
// how it was encoded: as is or percent-encoded (Traefik 1.x put the target
// URL in the cookie), as F5 BIG-IP's "IP.port.0000", or as hex or base64 of
// the text. Hashes (NGINX Plus's md5, Traefik's and Caddy's hashes) and
// random tokens decode to no text and are not flagged.
func revealedAddress(value string) (addr, encoding string) {
	v := strings.Trim(strings.TrimSpace(value), `"`)
	if v == "" || len(v) > maxDecode {
		return "", ""
	}
	if u, err := url.QueryUnescape(v); err == nil && u != v && strings.Contains(v, "%") {
		if a := addressIn(u); a != "" {
			return a, "url"
		}
	}
	if a := addressIn(v); a != "" {
		return a, "plain"
	}
	if a := bigIP(v); a != "" {
		return a, "bigip"
	}
	if len(v)%2 == 0 {
		if b, err := hex.DecodeString(v); err == nil {
			if a := addressInBytes(b); a != "" {
				return a, "hex"
			}
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			if a := addressInBytes(b); a != "" {
				return a, "base64"
			}
		}
	}
	return "", ""
}

// addressInBytes looks for an address in decoded bytes, but only when they
// are printable text: 4 or 16 random bytes always "are" an IP address, so
// raw binary is never read as one.
func addressInBytes(b []byte) string {
	if !isPrintable(string(b)) {
		return ""
	}
	return addressIn(string(b))
}

var (
	// hostPort is a DNS name with at least one dot (or localhost) and a port.
	hostPort = regexp.MustCompile(`^(?i)((?:[a-z0-9-]+\.)+[a-z0-9-]+|localhost):([0-9]{1,5})$`)
	// embeddedIPv4 is a dotted quad, optionally with a port, not part of a
	// longer run of digits and dots.
	embeddedIPv4 = regexp.MustCompile(`(?:^|[^0-9.])((?:[0-9]{1,3}\.){3}[0-9]{1,3})(:[0-9]{1,5})?(?:$|[^0-9.])`)
	// bigIPValue is F5 BIG-IP's persistence cookie: the IPv4 address as a
	// little-endian integer, the port byte-swapped, then ".0000".
	bigIPValue = regexp.MustCompile(`^([0-9]{1,10})\.([0-9]{1,5})\.0000$`)
)

// addressIn returns the address that the text s is or contains: an IP
// literal, IP:port, [IPv6]:port, host.name:port, a URL, or a dotted-quad
// IPv4 (with its port) inside other text.
func addressIn(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone("").String()
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.String()
	}
	if m := hostPort.FindStringSubmatch(s); m != nil && validPort(m[2]) {
		return s
	}
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			if a := addressIn(u.Host); a != "" {
				return a
			}
			if a := addressIn(u.Hostname()); a != "" {
				return a
			}
		}
	}
	for _, m := range embeddedIPv4.FindAllStringSubmatch(s, -1) {
		a, err := netip.ParseAddr(m[1])
		if err != nil {
			continue
		}
		if m[2] != "" && validPort(m[2][1:]) {
			return a.String() + m[2]
		}
		return a.String()
	}
	return ""
}

// bigIP decodes F5 BIG-IP's "1677787402.36895.0000" (192.168.1.100:8080).
func bigIP(v string) string {
	m := bigIPValue.FindStringSubmatch(v)
	if m == nil {
		return ""
	}
	ip, err1 := strconv.ParseUint(m[1], 10, 32)
	port, err2 := strconv.ParseUint(m[2], 10, 16)
	if err1 != nil || err2 != nil {
		return ""
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(ip))
	p := uint16(port)<<8 | uint16(port)>>8
	return netip.AddrPortFrom(netip.AddrFrom4(b), p).String()
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

// isPrintable reports whether s is non-empty printable ASCII.
func isPrintable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
