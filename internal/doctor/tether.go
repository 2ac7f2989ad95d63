package doctor

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/tetherlb/tether/internal/config"
)

// FromConfig converts a loaded and validated tether config into the model:
// each edge becomes a distribution whose behaviors reach the target groups
// that the origin listener's rules route their paths to; source names the
// config file in the report.
func FromConfig(c *config.Config, source string) *Model {
	m := &Model{Source: source, Kind: KindTether}
	groups := map[string]*GroupFacts{}
	for i := range c.TargetGroups {
		g := &c.TargetGroups[i]
		gf := &GroupFacts{Name: itemKey("target_groups", i, g.Name), Sticky: tetherStickiness(g),
			StickinessType: g.Stickiness.Type, AppCookieName: g.Stickiness.AppCookieName, Algorithm: g.Algorithm}
		for _, t := range g.Targets {
			if t.Weight == nil || *t.Weight > 0 {
				gf.ActiveTargets++
			}
		}
		groups[g.Name] = gf
		m.Groups = append(m.Groups, gf)
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if l.Protocol == "tcp" {
			continue
		}
		lk := itemKey("listeners", i, l.Name)
		route := func(ref, group string) {
			if gf := groups[group]; gf != nil {
				gf.Routes = append(gf.Routes, Route{Ref: ref, Address: l.Address, Protocol: l.Protocol,
					TrustedProxies: len(l.TrustedProxies) > 0, Loopback: loopback(l.Address)})
			}
		}
		for j, r := range l.Rules {
			route(fmt.Sprintf("%s.rules[%d]", lk, j), r.TargetGroup)
		}
		route(lk+".default_target_group", l.DefaultTargetGroup)
	}
	if s := c.Sessions; s != nil {
		m.Sessions = &SessionFacts{Store: s.SessionStoreRedacted(), InsecureDevCookies: s.InsecureDevCookies}
	}
	for i := range c.Edges {
		m.Distributions = append(m.Distributions, edgeDistribution(c, i, groups))
	}
	return m
}

// tetherStickiness describes a group's stickiness, counting consistent
// hashing on a cookie or header as stickiness too.
func tetherStickiness(g *config.TargetGroup) Stickiness {
	s := g.Stickiness
	cn := s.CookieName
	out := Stickiness{Type: s.Type, Duration: s.Duration.D()}
	switch s.Type {
	case "lb_cookie":
		out.Cookies, out.Twin, out.LBCookies = []string{cn, cn + "CORS"}, cn+"CORS", []string{cn, cn + "CORS"}
	case "app_cookie":
		out.Cookies, out.LBCookies = []string{s.AppCookieName, cn + "APP"}, []string{cn + "APP"}
	case "header":
		out.Header = s.HeaderName
	case "source_ip":
		out.ByClientIP = true
	case "none":
		if g.Algorithm != "consistent_hash" {
			break
		}
		out.Type, out.Duration = "consistent_hash", 0
		switch src, name, _ := config.ParseHashKey(g.HashKey); src {
		case "cookie":
			out.Cookies = []string{name}
		case "header":
			out.Header = name
		case "source_ip":
			out.ByClientIP = true
		}
	}
	return out
}

func edgeDistribution(c *config.Config, i int, groups map[string]*GroupFacts) *Distribution {
	e := &c.Edges[i]
	d := &Distribution{Name: itemKey("edges", i, e.Name), Mode: e.Mode, InfraCookies: e.InfraCookies,
		SessionCookies: e.SessionCookies, EdgeAddress: e.Address, DefaultErrorCaching: e.Mode == "cloudfront"}
	var origin *Origin
	var listener *config.Listener
	for j := range c.Listeners {
		if c.Listeners[j].Name == e.Origin.Listener && e.Origin.Listener != "" {
			listener = &c.Listeners[j]
		}
	}
	switch {
	case listener != nil:
		origin = &Origin{ID: "listener " + listener.Name, Domain: listener.Address, Dynamic: true, LoadBalancer: true,
			Restricted: loopback(listener.Address), ClientIPVisible: len(listener.TrustedProxies) > 0, Listener: listener.Name,
			RestrictedWhy: fmt.Sprintf("listener %s listens on %s, not on loopback, so clients can reach it without the edge", listener.Name, listener.Address)}
	default:
		origin = &Origin{ID: e.Origin.URL, Domain: strings.TrimPrefix(strings.TrimPrefix(e.Origin.URL, "https://"), "http://"), Dynamic: true}
	}
	for j := range e.Behaviors {
		b := &e.Behaviors[j]
		nb := &Behavior{Ref: fmt.Sprintf("behaviors[%d]", j), Index: j, Path: b.Path, Default: j == len(e.Behaviors)-1,
			AllowedMethods: upper(b.AllowedMethods), CachedMethods: upper(b.CachedMethods),
			StaticContentTypes: b.StaticContentTypes, Origin: origin}
		nb.Cache = CachePolicy{Name: "cache", MinTTL: b.Cache.MinTTL.D(), DefaultTTL: b.Cache.DefaultTTL.D(), MaxTTL: b.Cache.MaxTTL.D(),
			Cookies: nameSet(b.Cache.Cookies), Headers: headerList(b.Cache.Headers), Query: nameSet(b.Cache.Query)}
		nb.Forward = OriginRequestPolicy{Name: "origin_request", Cookies: nameSet(b.OriginRequest.Cookies),
			Headers: headerList(b.OriginRequest.Headers), Query: nameSet(b.OriginRequest.Query)}
		if listener != nil {
			nb.Backends = listenerBackends(c, listener, b.Path, paths(d.Behaviors), groups)
		}
		d.Behaviors = append(d.Behaviors, nb)
	}
	return d
}

// listenerBackends returns the groups the listener's rules may send the
// requests of a behavior with pattern path to, in rule order, ending at
// the first rule that takes them all (or the default group). Rules whose
// paths the earlier behaviors take are skipped.
func listenerBackends(c *config.Config, l *config.Listener, path string, earlier []string, groups map[string]*GroupFacts) []*Backend {
	var out []*Backend
	add := func(group string, a *config.Authorizer, route string) {
		gf := groups[group]
		if gf == nil {
			return
		}
		be := &Backend{Name: gf.Name, Sticky: gf.Sticky}
		switch {
		case a != nil && a.Type == "session" && c.Sessions != nil:
			be.Auth = &Auth{Kind: "session authorizer", Route: route, SessionCookie: c.Sessions.CookieName, SessionTimeout: c.Sessions.IdleTimeout.D()}
		case a != nil && a.Type == "jwt":
			// Bearer tokens in Authorization: no cookie, no session.
			be.Auth = &Auth{Kind: "JWT authorizer", Route: route}
		}
		for _, o := range out {
			if o.Name == be.Name && (o.Auth == nil) == (be.Auth == nil) {
				return
			}
		}
		out = append(out, be)
	}
	for j, r := range l.Rules {
		if !reaches(path, r.Path, earlier) {
			continue
		}
		add(r.TargetGroup, r.Authorizer, fmt.Sprintf("listener %s rules[%d] %s", l.Name, j, cmp.Or(r.Path, r.Host)))
		if r.Host == "" && routeCovers(path, r.Path) {
			return out
		}
	}
	add(l.DefaultTargetGroup, nil, "")
	return out
}

func nameSet(s config.NameSet) NameSet {
	b := s.Behavior
	if b == config.NamesAllExcept {
		b = SetAllExcept
	}
	return NameSet{Behavior: b, Names: s.Names}
}

func headerList(h []string) HeaderSet {
	if len(h) == 0 {
		return HeaderSet{Behavior: SetNone}
	}
	return HeaderSet{Behavior: SetWhitelist, Names: h}
}

// itemKey names a list item as config's problems do: list[i](name).
func itemKey(list string, i int, name string) string {
	if name == "" {
		return fmt.Sprintf("%s[%d]", list, i)
	}
	return fmt.Sprintf("%s[%d](%s)", list, i, name)
}
