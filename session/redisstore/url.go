package redisstore

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// mode is how a URL reaches Redis.
type mode int

const (
	modeStandalone mode = iota
	modeSentinel
	modeCluster
)

// allowedSchemes lists the schemes Open accepts, for error messages.
const allowedSchemes = "redis, rediss, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster"

// endpoint is a parsed URL.
type endpoint struct {
	scheme       string // lowercase
	mode         mode
	tls          bool
	addrs        []string // host:port, at least one
	username     string
	password     string
	db           int    // standalone and Sentinel
	master       string // Sentinel's master name
	sentinelAuth bool   // send username and password to the Sentinels too
}

// String returns the URL without user name and password, for errors.
func (ep endpoint) String() string {
	s := ep.scheme + "://" + strings.Join(ep.addrs, ",")
	if ep.mode == modeSentinel {
		s += "/" + ep.master
	}
	return s
}

// parseURL parses a URL Open accepts (see Open). It reports every problem
// it finds, naming what is wrong and what is allowed, and never includes
// the user name or the password: the user information is everything
// before the last '@', so it never spills into the parts that errors
// quote.
func parseURL(raw string) (endpoint, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return endpoint{}, fmt.Errorf(`url: missing "://"; want a URL such as redis://host:6379 (scheme %s)`, allowedSchemes)
	}
	ep := endpoint{scheme: strings.ToLower(scheme)}
	if !ep.parseScheme() {
		if !isSchemeText(scheme) {
			return endpoint{}, fmt.Errorf("url: the scheme is not one of %s", allowedSchemes)
		}
		return endpoint{}, fmt.Errorf("url: scheme %q is not one of %s", scheme, allowedSchemes)
	}
	var errs []error
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		errs = append(errs, ep.parseUserinfo(rest[:i]))
		rest = rest[i+1:]
	}
	if strings.Contains(rest, "#") {
		errs = append(errs, errors.New("url: a fragment (#…) is not allowed"))
		rest, _, _ = strings.Cut(rest, "#")
	}
	rest, query, _ := strings.Cut(rest, "?")
	hosts, path, _ := strings.Cut(rest, "/")
	errs = append(errs, ep.parseAddrs(hosts), ep.parsePath(path), ep.parseQuery(query))
	if err := errors.Join(errs...); err != nil {
		return endpoint{}, err
	}
	return ep, nil
}

// parseScheme sets mode and tls from scheme, and reports whether it is
// one Open accepts.
func (ep *endpoint) parseScheme() bool {
	base, kind, _ := strings.Cut(ep.scheme, "+")
	switch base {
	case "redis":
	case "rediss":
		ep.tls = true
	default:
		return false
	}
	switch kind {
	case "":
		ep.mode = modeStandalone
		return !strings.Contains(ep.scheme, "+")
	case "sentinel":
		ep.mode = modeSentinel
	case "cluster":
		ep.mode = modeCluster
	default:
		return false
	}
	return true
}

// isSchemeText reports whether s is made of the characters of a URL scheme
// (RFC 3986, section 3.1), and so safe to quote: it cannot be a password.
func isSchemeText(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// parseUserinfo sets username and password from "user[:password]",
// percent-decoded.
func (ep *endpoint) parseUserinfo(s string) error {
	user, pass, hasPass := strings.Cut(s, ":")
	var errs []error
	var err error
	if ep.username, err = url.PathUnescape(user); err != nil {
		errs = append(errs, errors.New("url: the user name has an invalid %-escape; write a literal % as %25"))
	}
	if hasPass {
		if ep.password, err = url.PathUnescape(pass); err != nil {
			errs = append(errs, errors.New("url: the password has an invalid %-escape; write a literal % as %25"))
		}
	}
	return errors.Join(errs...)
}

// parseAddrs sets addrs from comma-separated host[:port] addresses.
func (ep *endpoint) parseAddrs(s string) error {
	if s == "" {
		return errors.New("url: no address; want host:port after //")
	}
	port := "6379"
	if ep.mode == modeSentinel {
		port = "26379"
	}
	list := strings.Split(s, ",")
	if ep.mode == modeStandalone && len(list) > 1 {
		return fmt.Errorf("url: %s takes one address, not %d; use redis+sentinel or redis+cluster for several", ep.scheme, len(list))
	}
	var errs []error
	for i, a := range list {
		addr, err := parseAddr(a, port)
		if err != nil {
			errs = append(errs, fmt.Errorf("url: address %d: %w", i+1, err))
			continue
		}
		ep.addrs = append(ep.addrs, addr)
	}
	return errors.Join(errs...)
}

// parseAddr returns a as host:port, with port added when a has none.
func parseAddr(a, port string) (string, error) {
	if a == "" {
		return "", errors.New("empty; separate addresses by single commas")
	}
	host := a
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return "", fmt.Errorf("%q: missing ']' after the IPv6 address", a)
		}
		host = a[1:end]
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil || strings.Contains(host, ".") {
			return "", fmt.Errorf("%q: %q in brackets is not an IPv6 address", a, host)
		}
		if after := a[end+1:]; after != "" {
			p, ok := strings.CutPrefix(after, ":")
			if !ok {
				return "", fmt.Errorf("%q: want [IPv6 address]:port", a)
			}
			port = p
		}
	} else if h, p, ok := strings.Cut(a, ":"); ok {
		if strings.Contains(p, ":") {
			return "", fmt.Errorf("%q: write an IPv6 address in brackets, as [::1]:6379", a)
		}
		host, port = h, p
		if host == "" {
			return "", fmt.Errorf("%q: no host before the port", a)
		}
		if !isHostname(host) {
			return "", fmt.Errorf("host %q: want a name or IPv4 address of letters, digits, '-', '.' and '_'", host)
		}
	} else if !isHostname(host) {
		return "", fmt.Errorf("host %q: want a name or IPv4 address of letters, digits, '-', '.' and '_'", host)
	}
	n, ok := parseDigits(port, 65535)
	if !ok || n == 0 {
		return "", fmt.Errorf("%q: port %q is not a number from 1 to 65535", a, port)
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

// isHostname reports whether s is a plausible host name or IPv4 address.
func isHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// parseDigits parses s, one to ten ASCII digits, as a number up to limit.
func parseDigits(s string, limit int) (int, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= limit
}

// maxDB is the largest database number a URL may name; Redis has 16 by
// default and refuses SELECT past its own configured number.
const maxDB = 1 << 20

// parsePath reads the path after the addresses: a database number for
// Redis, the master name for Sentinel, nothing for a Cluster.
func (ep *endpoint) parsePath(p string) error {
	switch ep.mode {
	case modeCluster:
		if p != "" {
			return fmt.Errorf("url: %s takes no path: a Cluster has only database 0", ep.scheme)
		}
	case modeSentinel:
		name, err := url.PathUnescape(p)
		switch {
		case err != nil:
			return errors.New("url: the master name has an invalid %-escape")
		case name == "":
			return fmt.Errorf("url: missing the master name; want %s://host:port,host:port/MASTERNAME", ep.scheme)
		case strings.ContainsAny(name, "/ \t\r\n"):
			return fmt.Errorf("url: master name %q: want one name without '/' or spaces; choose the database with ?db=N", name)
		}
		ep.master = name
	default:
		if p == "" {
			return nil
		}
		n, ok := parseDigits(p, maxDB)
		if !ok {
			return fmt.Errorf("url: database %q: want a number from 0 to %d, as redis://host:port/0", p, maxDB)
		}
		ep.db = n
	}
	return nil
}

// parseQuery reads the query, which only Sentinel URLs have: db=N and
// sentinel_auth=true|false.
func (ep *endpoint) parseQuery(q string) error {
	if q == "" {
		return nil
	}
	if ep.mode != modeSentinel {
		return fmt.Errorf("url: %s takes no query parameters", ep.scheme)
	}
	var errs []error
	seen := map[string]bool{}
	for _, kv := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if seen[k] {
			errs = append(errs, fmt.Errorf("url: query parameter %q is given twice", k))
			continue
		}
		seen[k] = true
		switch k {
		case "db":
			n, ok := parseDigits(v, maxDB)
			if !ok {
				errs = append(errs, fmt.Errorf("url: db=%q: want a number from 0 to %d", v, maxDB))
			}
			ep.db = n
		case "sentinel_auth":
			switch v {
			case "true":
				ep.sentinelAuth = true
			case "false":
			default:
				errs = append(errs, fmt.Errorf("url: sentinel_auth=%q: want true or false", v))
			}
		default:
			errs = append(errs, fmt.Errorf("url: unknown query parameter %q; %s takes db and sentinel_auth", k, ep.scheme))
		}
	}
	return errors.Join(errs...)
}
