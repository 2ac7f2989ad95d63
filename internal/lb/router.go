package lb

import (
	"path"
	"strings"

	"github.com/tetherlb/tether/internal/config"
)

// router maps a request's host and path to a target group: the first rule
// that matches wins, then the default group.
type router struct {
	rules []rule
	def   *group
}

type rule struct {
	host     string // lowercased; "" = any
	wildcard bool   // host is a suffix such as ".example.com"
	path     string // "" = any
	prefix   bool   // path is a prefix: "/api" matches /api and /api/...
	group    *group
	gate     authorizer // the rule's authorizer, or nil
}

func newRouter(rules []config.Rule, def *group, groups map[string]*group, gate func(*config.Authorizer) authorizer) *router {
	rt := &router{def: def}
	for _, r := range rules {
		ru := rule{group: groups[r.TargetGroup], gate: gate(r.Authorizer)}
		if h := strings.ToLower(r.Host); strings.HasPrefix(h, "*.") {
			ru.host, ru.wildcard = h[1:], true
		} else {
			ru.host = h
		}
		if p, ok := strings.CutSuffix(r.Path, "/*"); ok {
			ru.path, ru.prefix = p, true
		} else {
			ru.path = r.Path
		}
		rt.rules = append(rt.rules, ru)
	}
	return rt
}

// match returns the group for host (without port, any case) and path, and
// the matching rule's authorizer (nil for none).
func (rt *router) match(host, p string) (*group, authorizer) {
	if len(rt.rules) == 0 {
		return rt.def, nil
	}
	host = strings.ToLower(host)
	p = cleanPath(p)
	for i := range rt.rules {
		r := &rt.rules[i]
		if r.host != "" {
			if r.wildcard {
				if !strings.HasSuffix(host, r.host) || len(host) == len(r.host) {
					continue
				}
			} else if host != r.host {
				continue
			}
		}
		if r.path != "" || r.prefix {
			if r.prefix {
				if p != r.path && !strings.HasPrefix(p, r.path+"/") {
					continue
				}
			} else if p != r.path {
				continue
			}
		}
		return r.group, r.gate
	}
	return rt.def, nil
}

// cleanPath resolves "." and ".." segments and repeated slashes so that
// /api/../admin cannot dodge a rule; a trailing slash is kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if !strings.Contains(p, "/.") && !strings.Contains(p, "//") {
		return p
	}
	c := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// hostOnly strips the port from a Host header value, and the trailing
// dot of a fully qualified name: "example.com." is the host
// "example.com", for rules as for NGINX's server names and the edge's
// keys (a rule that the dot walked around could skip its authorizer, and
// an edge in front would store one group's answer for another's).
func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), ".")
}
