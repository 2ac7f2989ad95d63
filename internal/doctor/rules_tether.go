package doctor

import (
	"fmt"
	"net"
	"slices"
	"strings"
)

func tetherRules() []Rule {
	return []Rule{{
		ID: "TETHER-SESS-001", Severity: SevWarn, Input: KindTether,
		Title: "in-memory sessions behind a non-sticky group",
		Why:   "Nothing keeps a user on one target and there is no shared session store: a session a target keeps in its memory is lost whenever the next request lands on another target.",
		Fix:   "Set stickiness (type: lb_cookie or app_cookie), or keep sessions in a shared store (a sessions: block with an authorizer, or the session package with redisstore in the app). Ignore this if the targets keep no session state.",
		Refs:  []string{refAffinity, refSessions},
		check: nonStickyStateful,
	}, {
		ID: "TETHER-SESS-002", Severity: SevWarn, Input: KindTether,
		Title: "session store in process memory",
		Why:   "sessions.store is memory: sessions live in this tether process only, are lost on restart and are not shared with another tether replica.",
		Fix:   "Use a shared, persistent store: redis://, postgres:// or file:PATH.",
		Refs:  []string{refSessions},
		check: memoryStore,
	}, {
		ID: "TETHER-COOKIE-001", Severity: SevWarn, Input: KindTether,
		Title: "affinity cookies without Secure; no SameSite=None twin",
		Why:   "A cookie-sticky group is reached over plain HTTP on a non-loopback address: its affinity cookies go without Secure, and the cross-site twin (SameSite=None, which browsers accept only with Secure) is never issued, so cross-site requests lose stickiness.",
		Fix:   "Terminate TLS on the listener (protocol: https), or list the TLS proxy in front of it in trusted_proxies so that tether sees X-Forwarded-Proto: https.",
		Refs:  []string{refAffinity},
		check: insecureAffinityCookies,
	}, {
		ID: "TETHER-COOKIE-002", Severity: SevError, Input: KindTether,
		Title: "insecure dev cookies through a public edge",
		Why:   "sessions.insecure_dev_cookies drops Secure and the __Host- prefix from session cookies, and an edge on a non-loopback address carries them in clear text to and from other machines.",
		Fix:   "Remove insecure_dev_cookies, or bind the edge to loopback.",
		Refs:  []string{refSessions},
		check: devCookiesOnEdge,
	}, {
		ID: "TETHER-STICKY-001", Severity: SevWarn, Input: KindTether,
		Title: "app_cookie_name without app_cookie stickiness",
		Why:   "stickiness.app_cookie_name is set but stickiness.type is not app_cookie, so it is ignored and the application's cookie binds nobody.",
		Fix:   "Set stickiness.type: app_cookie, or remove app_cookie_name.",
		Refs:  []string{refAffinity},
		check: strayAppCookie,
	}, {
		ID: "TETHER-STICKY-002", Severity: SevWarn, Input: KindTether,
		Title: "client-address affinity behind an edge",
		Why:   "Affinity by client address behind an edge whose origin listener does not trust it: every request comes from the edge's address, so all clients land on one target.",
		Fix:   "List the edge's address in the origin listener's trusted_proxies, or use lb_cookie stickiness.",
		Refs:  []string{refAffinity},
		check: sourceIPBehindEdge,
	}, {
		ID: "TETHER-AUTH-001", Severity: SevError, Input: KindTether,
		Title: "session cookie not forwarded to an authorizer",
		Why:   "The behavior reaches a session authorizer but does not forward the session cookie: every request arrives without a session and is sent to the login page.",
		Fix:   "Forward sessions.cookie_name in origin_request.cookies on this behavior, with caching off.",
		Refs:  []string{refSessions},
		check: eachBehavior(sessionCookieDropped),
	}, {
		ID: "TETHER-EDGE-001", Severity: SevWarn, Input: KindTether,
		Title: "affinity cookie missing from infra_cookies",
		Why:   "The edge's infra_cookies does not name an affinity cookie of a group behind it: safe mode treats it as an application cookie, never stores responses that set it, and does not keep it out of the stored copy.",
		Fix:   "Add the cookie to the edge's infra_cookies (cookie_name, cookie_name + CORS, cookie_name + APP), or remove infra_cookies to get the defaults.",
		Refs:  []string{refSpec},
		check: affinityNotInfra,
	}, {
		ID: "TETHER-EDGE-002", Severity: SevWarn, Input: KindTether,
		Title: "session cookie missing from session_cookies",
		Why:   "The edge's session_cookies does not name the session cookie of an authorizer behind it: safe mode does not treat requests that carry it as credentialed.",
		Fix:   "Add sessions.cookie_name to the edge's session_cookies, or remove session_cookies to get the default.",
		Refs:  []string{refSpec},
		check: sessionNotCredential,
	}}
}

func nonStickyStateful(m *Model, report func(hit)) {
	if m.Sessions != nil {
		return
	}
	for _, g := range m.Groups {
		if g.StickinessType != "none" || g.Algorithm == "consistent_hash" || g.ActiveTargets < 2 || len(g.Routes) == 0 {
			continue
		}
		report(hit{subject: g.Name, evidence: fmt.Sprintf("%d targets take new clients, stickiness none, algorithm %s, reached by %s; the config has no sessions: block",
			g.ActiveTargets, g.Algorithm, g.Routes[0].Ref)})
	}
}

func memoryStore(m *Model, report func(hit)) {
	if m.Sessions != nil && m.Sessions.Store == "memory" {
		report(hit{subject: "sessions.store", evidence: "sessions.store: memory"})
	}
}

func insecureAffinityCookies(m *Model, report func(hit)) {
	for _, g := range m.Groups {
		if g.StickinessType != "lb_cookie" && g.StickinessType != "app_cookie" {
			continue
		}
		for _, r := range g.Routes {
			if r.Protocol == "http" && !r.Loopback && !r.TrustedProxies {
				report(hit{subject: g.Name, evidence: fmt.Sprintf("%s stickiness (%s) reached by %s, plain HTTP on %s without trusted_proxies",
					g.StickinessType, strings.Join(g.Sticky.LBCookies, ", "), r.Ref, r.Address)})
				break
			}
		}
	}
}

func devCookiesOnEdge(m *Model, report func(hit)) {
	if m.Sessions == nil || !m.Sessions.InsecureDevCookies {
		return
	}
	for _, d := range m.Distributions {
		if d.EdgeAddress != "" && !loopback(d.EdgeAddress) {
			report(hit{d: d, evidence: fmt.Sprintf("sessions.insecure_dev_cookies: true and %s listens on %s", d.Name, d.EdgeAddress)})
		}
	}
}

func strayAppCookie(m *Model, report func(hit)) {
	for _, g := range m.Groups {
		if g.AppCookieName != "" && g.StickinessType != "app_cookie" {
			report(hit{subject: g.Name, evidence: fmt.Sprintf("app_cookie_name: %s with stickiness.type: %s", g.AppCookieName, g.StickinessType)})
		}
	}
}

func sourceIPBehindEdge(m *Model, report func(hit)) {
	for _, d := range m.Distributions {
		var seen []string
		for _, b := range d.Behaviors {
			if b.Origin == nil || b.Origin.ClientIPVisible || b.Origin.Listener == "" {
				continue
			}
			for _, be := range b.Backends {
				if be.Sticky.ByClientIP && !slices.Contains(seen, be.Name) {
					seen = append(seen, be.Name)
					report(hit{d: d, evidence: fmt.Sprintf("%s binds by client address (%s); origin listener %s has no trusted_proxies",
						be.Name, be.Sticky.Type, b.Origin.Listener)})
				}
			}
		}
	}
}

func sessionCookieDropped(d *Distribution, b *Behavior) (string, bool) {
	for _, be := range b.Backends {
		if a := be.Auth; a != nil && a.SessionCookie != "" && !b.forwardsCookie(a.SessionCookie) {
			return fmt.Sprintf("%s sits behind %s, which reads cookie %s; %s", be.Name, a, a.SessionCookie, cookiePolicies(b)), true
		}
	}
	return "", false
}

func affinityNotInfra(m *Model, report func(hit)) {
	for _, d := range m.Distributions {
		if !d.Safe() {
			continue // cloudfront mode treats no cookie specially
		}
		var missing []string
		for _, b := range d.Behaviors {
			for _, be := range b.Backends {
				for _, c := range be.Sticky.LBCookies {
					if !matchesAny(d.InfraCookies, c) && !slices.Contains(missing, c) {
						missing = append(missing, c)
					}
				}
			}
		}
		if len(missing) > 0 {
			report(hit{d: d, evidence: fmt.Sprintf("infra_cookies [%s] lacks %s", strings.Join(d.InfraCookies, ", "), strings.Join(missing, ", "))})
		}
	}
}

func sessionNotCredential(m *Model, report func(hit)) {
	for _, d := range m.Distributions {
		if !d.Safe() {
			continue
		}
		for _, b := range d.Behaviors {
			if i := slices.IndexFunc(b.Backends, func(be *Backend) bool { return be.Auth != nil && be.Auth.SessionCookie != "" }); i >= 0 {
				a := b.Backends[i].Auth
				if !matchesAny(d.SessionCookies, a.SessionCookie) {
					report(hit{d: d, evidence: fmt.Sprintf("session_cookies [%s] lacks %s, read by %s in front of %s",
						strings.Join(d.SessionCookies, ", "), a.SessionCookie, a, b.Backends[i].Name)})
					break
				}
			}
		}
	}
}

func inputRules() []Rule {
	return []Rule{{
		ID: "DOCTOR-INPUT-001", Severity: SevInfo, Input: KindAWS,
		Title: "load-balancer origin without target group attributes",
		Why:   "An origin looks like a load balancer but no target group attributes pair with it, so the stickiness rules did not run for it.",
		Fix:   "Export them: aws elbv2 describe-target-group-attributes --target-group-arn ARN > DIR/ORIGIN-ID.json (the file named after the origin's Id).",
		Refs:  []string{refSpec},
		check: func(m *Model, report func(hit)) { notes(m.Unpaired, report) },
	}, {
		ID: "DOCTOR-INPUT-002", Severity: SevWarn, Input: KindAWS,
		Title: "export paired with no origin",
		Why:   "An export pairs with no origin, so the rules it feeds did not run.",
		Fix:   "Name the file after the Id of the origin it belongs to: ORIGIN-ID.json or ORIGIN-ID.anything.json.",
		Refs:  []string{refSpec},
		check: func(m *Model, report func(hit)) { notes(m.Unused, report) },
	}}
}

func notes(ns []Note, report func(hit)) {
	for _, n := range ns {
		report(hit{subject: n.Subject, evidence: n.Text})
	}
}

// loopback reports whether host:port binds a loopback address.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}
