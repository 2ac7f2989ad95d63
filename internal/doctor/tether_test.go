package doctor

import (
	"slices"
	"strings"
	"testing"

	"github.com/tetherlb/tether/internal/config"
)

// tetherBase is a valid config: one loopback listener in front of a
// two-target lb_cookie group.
const tetherBase = `
listeners:
  - name: web
    address: 127.0.0.1:8080
    default_target_group: app
target_groups:
  - name: app
    stickiness: {type: lb_cookie}
    targets:
      - {id: app-1, address: 127.0.0.1:9001}
      - {id: app-2, address: 127.0.0.1:9002}
`

// tetherEdge is a safe-mode edge whose one behavior forwards the affinity
// cookies and the session cookie, uncached.
const tetherEdge = `
edges:
  - name: cdn
    address: 127.0.0.1:8000
    origin: {listener: web}
    behaviors:
      - path: "*"
        allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]
        cache: {default_ttl: 0s, max_ttl: 0s}
        origin_request: {cookies: {whitelist: [TETHER, TETHERCORS, __Host-sid]}, query: all}
`

// tetherAuth puts the app group behind a session authorizer.
const tetherAuth = `
sessions: {store: "redis://127.0.0.1:6379"}
`

// yamlModel returns a builder of the model of a config made of parts,
// with each replacement (old, new, old, new…) applied once.
func yamlModel(parts string, repl ...string) func(t *testing.T) *Model {
	return func(t *testing.T) *Model {
		t.Helper()
		y := parts
		for i := 0; i+1 < len(repl); i += 2 {
			if !strings.Contains(y, repl[i]) {
				t.Fatalf("test config lacks %q", repl[i])
			}
			y = strings.Replace(y, repl[i], repl[i+1], 1)
		}
		c, err := config.Parse([]byte(y), t.TempDir())
		if err != nil {
			t.Fatalf("test config is invalid: %v\n%s", err, y)
		}
		return FromConfig(c, "test.yaml")
	}
}

const authRule = "    default_target_group: app\n    rules:\n      - {path: /*, target_group: app, authorizer: {type: session, login_url: /login}}\n"

// jwtRule puts the app group behind a JWT authorizer (bearer tokens).
const jwtRule = "    default_target_group: app\n    rules:\n      - {path: /*, target_group: app, authorizer: {type: jwt, issuer: https://auth.example.com, audiences: [api], jwks_url: https://auth.example.com/.well-known/jwks.json}}\n"

func tetherCases() []ruleCase {
	withEdge := tetherBase + tetherEdge
	withAuth := withEdge + tetherAuth
	return []ruleCase{
		{rule: "TETHER-SESS-001", name: "non-sticky, no session store",
			trigger: yamlModel(tetherBase, "{type: lb_cookie}", "{type: none}"),
			clean:   yamlModel(tetherBase)},
		{rule: "TETHER-SESS-001", name: "a shared session store",
			trigger: yamlModel(tetherBase, "{type: lb_cookie}", "{type: none}"),
			clean:   yamlModel(tetherBase+tetherAuth, "{type: lb_cookie}", "{type: none}")},
		{rule: "TETHER-SESS-002", name: "memory store",
			trigger: yamlModel(tetherBase + "sessions: {store: memory}\n"),
			clean:   yamlModel(tetherBase + tetherAuth)},
		{rule: "TETHER-COOKIE-001", name: "public plain HTTP",
			trigger: yamlModel(tetherBase, "127.0.0.1:8080", "0.0.0.0:8080"),
			clean:   yamlModel(tetherBase, "127.0.0.1:8080", "0.0.0.0:8080\n    trusted_proxies: [10.0.0.0/8]")},
		{rule: "TETHER-COOKIE-002", name: "dev cookies through a public edge",
			trigger: yamlModel(withEdge+"sessions: {store: memory, insecure_dev_cookies: true}\n", "127.0.0.1:8000", "0.0.0.0:8000"),
			clean:   yamlModel(withEdge + "sessions: {store: memory, insecure_dev_cookies: true}\n")},
		{rule: "TETHER-STICKY-001", name: "stray app_cookie_name",
			trigger: yamlModel(tetherBase, "{type: lb_cookie}", "{type: lb_cookie, app_cookie_name: JSESSIONID}"),
			clean:   yamlModel(tetherBase, "{type: lb_cookie}", "{type: app_cookie, app_cookie_name: JSESSIONID}")},
		{rule: "TETHER-STICKY-002", name: "source_ip behind an edge",
			trigger: yamlModel(withEdge, "{type: lb_cookie}", "{type: source_ip}"),
			clean:   yamlModel(withEdge, "{type: lb_cookie}", "{type: source_ip}", "127.0.0.1:8080", "127.0.0.1:8080\n    trusted_proxies: [127.0.0.1/32]")},
		{rule: "TETHER-STICKY-002", name: "consistent hash on source_ip",
			trigger: yamlModel(withEdge, "{type: lb_cookie}", "{type: none}\n    algorithm: consistent_hash"),
			clean:   yamlModel(withEdge, "{type: lb_cookie}", "{type: none}\n    algorithm: consistent_hash\n    hash_key: header:X-Tenant")},
		{rule: "TETHER-AUTH-001", name: "session cookie not forwarded",
			trigger: yamlModel(withAuth, "    default_target_group: app\n", authRule, ", __Host-sid]", "]"),
			clean:   yamlModel(withAuth, "    default_target_group: app\n", authRule)},
		{rule: "TETHER-EDGE-001", name: "infra_cookies without the affinity cookie",
			trigger: yamlModel(withEdge, "    origin: {listener: web}\n", "    origin: {listener: web}\n    infra_cookies: [AWSALB]\n"),
			clean:   yamlModel(withEdge)},
		{rule: "TETHER-EDGE-002", name: "session_cookies without the session cookie",
			trigger: yamlModel(withAuth, "    default_target_group: app\n", authRule, "    origin: {listener: web}\n", "    origin: {listener: web}\n    session_cookies: [sid]\n"),
			clean:   yamlModel(withAuth, "    default_target_group: app\n", authRule)},
	}
}

// TestTetherTranslations checks the CloudFront rules that a tether config
// feeds, including the modes.
func TestDoctorTetherTranslations(t *testing.T) {
	cached := "cache: {default_ttl: 0s, max_ttl: 0s}"
	tests := []struct {
		name   string
		model  func(*testing.T) *Model
		want   string
		absent bool
	}{
		{"cloudfront mode: cached behavior forwards the affinity cookie",
			yamlModel(tetherBase+tetherEdge, cached, "cache: {default_ttl: 5m, max_ttl: 5m}", "    origin: {listener: web}\n", "    origin: {listener: web}\n    mode: cloudfront\n"),
			"CF-STICKY-004", false},
		{"safe mode: the edge never replays it",
			yamlModel(tetherBase+tetherEdge, cached, "cache: {default_ttl: 5m, max_ttl: 5m}"), "CF-STICKY-004", true},
		{"twin not forwarded", yamlModel(tetherBase+tetherEdge, "TETHERCORS, ", ""), "CF-STICKY-002", false},
		{"consistent hash on a cookie the edge drops",
			yamlModel(tetherBase+tetherEdge, "{type: lb_cookie}", "{type: none}\n    algorithm: consistent_hash\n    hash_key: cookie:cart"), "CF-STICKY-001", false},
		{"header stickiness without the header",
			yamlModel(tetherBase+tetherEdge, "{type: lb_cookie}", "{type: header}"), "CF-STICKY-001", false},
		{"header stickiness with the header",
			yamlModel(tetherBase+tetherEdge, "{type: lb_cookie}", "{type: header}", "query: all}", "query: all, headers: [X-Tether-Affinity]}"), "CF-STICKY-001", true},
		{"app_cookie needs both cookies",
			yamlModel(tetherBase+tetherEdge, "{type: lb_cookie}", "{type: app_cookie, app_cookie_name: JSESSIONID}", "TETHER, TETHERCORS", "JSESSIONID"), "CF-STICKY-003", false},
		{"origin listener on a public address", yamlModel(tetherBase+tetherEdge, "127.0.0.1:8080", "10.0.0.5:8080"), "CF-ORIGIN-001", false},
		{"cached behavior in front of a JWT authorizer",
			yamlModel(tetherBase+tetherEdge, "    default_target_group: app\n", jwtRule, cached, "cache: {default_ttl: 5m, max_ttl: 5m}",
				"    origin: {listener: web}\n", "    origin: {listener: web}\n    mode: cloudfront\n"), "CF-AUTH-001", false},
		{"uncached behavior in front of a JWT authorizer", yamlModel(tetherBase+tetherEdge, "    default_target_group: app\n", jwtRule), "CF-AUTH-001", true},
		{"a JWT authorizer reads no session cookie",
			yamlModel(tetherBase+tetherEdge, "    default_target_group: app\n", jwtRule, ", __Host-sid]", "]"), "TETHER-AUTH-001", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Run(tt.model(t))
			if rep.Has(tt.want) == tt.absent {
				t.Errorf("%s fired: %v, want %v; findings %v", tt.want, rep.Has(tt.want), !tt.absent, ids(rep))
			}
		})
	}
}

// TestTetherBackends checks which groups each behavior reaches through the
// origin listener's rules, and that behaviors listed earlier take their
// paths away from later ones.
func TestDoctorTetherBackends(t *testing.T) {
	y := tetherBase + `  - name: api
    targets:
      - {id: api-1, address: 127.0.0.1:9011}
` + tetherEdge + tetherAuth
	m := yamlModel(y,
		"    default_target_group: app\n", "    default_target_group: app\n    rules:\n      - {path: /api/*, target_group: api}\n      - {path: /account/*, target_group: app, authorizer: {type: session, login_url: /login}}\n",
		`      - path: "*"`, "      - path: /api/v1/*\n      - path: /account/*\n      - path: \"*.css\"\n      - path: \"*\"")(t)
	got := map[string][]string{}
	for _, b := range m.Distributions[0].Behaviors {
		for _, be := range b.Backends {
			got[b.Path] = append(got[b.Path], strings.TrimPrefix(be.Name, "target_groups")+map[bool]string{true: "+auth"}[be.Auth != nil])
		}
	}
	want := map[string][]string{
		"/api/v1/*":  {"[1](api)"},
		"/account/*": {"[0](app)+auth"},
		"*.css":      {"[1](api)", "[0](app)"}, // /account/x.css goes to /account/* first
		"*":          {"[1](api)", "[0](app)"},
	}
	for p, w := range want {
		if !slices.Equal(got[p], w) {
			t.Errorf("%s reaches %v, want %v", p, got[p], w)
		}
	}
}
