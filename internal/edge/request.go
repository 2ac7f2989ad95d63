package edge

import (
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/tetherlb/tether/internal/httpsyntax"
)

// pair is one query parameter or cookie as the client sent it: raw bytes,
// never decoded, so that what is keyed and what is forwarded are the same.
type pair struct{ name, value string }

// view is the parsed request the cache works on (spec §2.2 step 1).
type view struct {
	host    string // normalizeHost's: lowercase, no default port or trailing dot
	rawPath string // escaped path as the origin gets it: as sent, when validly escaped
	query   []pair // in request order; duplicates kept
	cookies []pair // from every Cookie field; only name=value pairs
	// ambiguous is set for a path or query that different parsers read
	// differently (encoded slashes, dot segments, ';'); safe mode bypasses
	// the cache for it.
	ambiguous bool
}

func parseView(r *http.Request) view {
	v := view{host: normalizeHost(r.Host, r.TLS != nil)}
	// The path is keyed as it goes to the origin: as sent when that is a
	// valid encoding of it, else as net/http escapes it (a raw non-ASCII
	// byte becomes %XX), so that "/\xc3\xa9" and "/%C3%A9", one resource
	// at the origin, are one object, which the pattern "/%C3%A9" names.
	// Ambiguity is judged on the bytes as sent: a raw '#' or '\\'.
	v.rawPath = r.URL.EscapedPath()
	sent := v.rawPath
	if r.URL.RawPath != "" {
		sent = r.URL.RawPath
	}
	v.ambiguous = ambiguousPath(sent)
	if q := r.URL.RawQuery; q != "" {
		if strings.Contains(q, ";") {
			v.ambiguous = true
		}
		for _, seg := range strings.Split(q, "&") {
			if seg == "" {
				continue
			}
			name, value, _ := strings.Cut(seg, "=")
			v.query = append(v.query, pair{name, value})
		}
	}
	v.cookies = parseCookies(r.Header["Cookie"])
	return v
}

// normalizeHost lowercases host, writes its port as a number (":0080" is
// ":80", "example.com:" has none), removes the scheme's default port and
// the one trailing dot of a fully qualified name ("example.com." is
// example.com, as NGINX's $host has it).
func normalizeHost(host string, tls bool) string {
	host = strings.ToLower(host)
	h, port, hasPort := host, "", false
	if strings.IndexByte(host, ':') >= 0 { // SplitHostPort's error allocates
		if hh, p, err := net.SplitHostPort(host); err == nil {
			h, port, hasPort = hh, p, true
		}
	}
	if hasPort && !canonicalPort(port) {
		if n, err := strconv.ParseUint(port, 10, 16); err == nil {
			port = strconv.FormatUint(n, 10) // ":0080" is ":80"
		} // an empty port ("example.com:") is no port (RFC 3986 §3.2.3)
	}
	if port == "80" && !tls || port == "443" && tls {
		port = ""
	}
	if t := strings.TrimSuffix(h, "."); t != "" && !strings.HasSuffix(t, ".") {
		h = t // a fully qualified name's one trailing dot
	}
	switch {
	case !hasPort:
		return h
	case len(h)+1+len(port) == len(host) && port != "" && !strings.Contains(h, ":"):
		return host // unchanged, as most hosts are: no new string
	case strings.Contains(h, ":"):
		h = "[" + h + "]"
	}
	if port == "" {
		return h
	}
	return h + ":" + port
}

// canonicalPort reports whether port is a number as it would be written:
// digits, without a leading zero (or "0" itself).
func canonicalPort(port string) bool {
	if port == "" || len(port) > 5 || port[0] == '0' && len(port) > 1 {
		return false
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
	}
	return true
}

// ambiguousPath reports a raw path that servers and caches may resolve
// differently (spec §2.6 B5): encoded slashes, backslashes or NULs, ';',
// "//", dot segments, plain or encoded, and a raw '#' (a fragment, which
// no request target may hold: the origin gets it as %23).
func ambiguousPath(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case ';', '\\', '#':
			return true
		case '/':
			if i+1 < len(p) && p[i+1] == '/' {
				return true
			}
		case '%':
			if i+2 < len(p) {
				switch p[i+1 : i+3] {
				case "2f", "2F", "5c", "5C", "00", "2e", "2E":
					return true
				}
			}
		}
	}
	return p == "/." || p == "/.." || strings.Contains(p, "/./") || strings.Contains(p, "/../") ||
		strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..")
}

// parseCookies reads name=value pairs from every Cookie field (HTTP/2 may
// split one header into several), keeping raw values. A piece without '='
// or with an empty or invalid name is dropped, as CloudFront does.
func parseCookies(fields []string) []pair {
	var out []pair
	for _, f := range fields {
		for piece := range strings.SplitSeq(f, ";") {
			piece = strings.TrimSpace(piece)
			name, value, ok := strings.Cut(piece, "=")
			name = strings.TrimSpace(name)
			if !ok || !httpsyntax.IsToken(name) {
				continue
			}
			out = append(out, pair{name, strings.TrimSpace(value)})
		}
	}
	return out
}
