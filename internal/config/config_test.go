package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const minimal = `
listeners:
  - name: web
    address: 127.0.0.1:8080
    default_target_group: app
target_groups:
  - name: app
    targets:
      - {id: app-1, address: 127.0.0.1:9001}
`

func TestExampleConfigLoads(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "examples", "tether.yaml"))
	if err != nil {
		t.Fatalf("examples/tether.yaml: %v", err)
	}
	if got := c.TargetGroups[0].Stickiness.Type; got != "lb_cookie" {
		t.Errorf("stickiness type = %q, want lb_cookie", got)
	}
	if !filepath.IsAbs(c.Dir) {
		t.Errorf("Dir %q is not absolute", c.Dir)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal), "/etc/tether")
	if err != nil {
		t.Fatal(err)
	}
	g := c.TargetGroups[0]
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"admin.address", c.Admin.Address, DefaultAdminAddress},
		{"keys.file", c.Keys.File, DefaultKeysFile},
		{"protocol", c.Listeners[0].Protocol, "http"},
		{"send_timeout", c.Listeners[0].SendTimeout.D(), 60 * time.Second},
		{"algorithm", g.Algorithm, "round_robin"},
		{"balance_factor", *g.BalanceFactor, 1.25},
		{"deregistration_delay", g.DeregistrationDelay.D(), 300 * time.Second},
		{"weight", *g.Targets[0].Weight, 1},
		{"health enabled", *g.HealthCheck.Enabled, true},
		{"health interval", g.HealthCheck.Interval.D(), 10 * time.Second},
		{"passive_5xx", *g.HealthCheck.Passive5xx, 5},
		{"stickiness type", g.Stickiness.Type, "none"},
		{"stickiness duration", g.Stickiness.Duration.D(), 24 * time.Hour},
		{"cookie name", g.Stickiness.CookieName, "TETHER"},
		{"on_failure", g.Stickiness.OnFailure, "rebind"},
	}
	for _, tc := range checks {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestExplicitZeroesAreKept(t *testing.T) {
	src := strings.Replace(minimal, "    targets:", "    deregistration_delay: 0s\n    balance_factor: 0\n    health_check: {enabled: false, passive_5xx: 0}\n    targets:", 1)
	src = strings.Replace(src, "address: 127.0.0.1:9001}", "address: 127.0.0.1:9001, weight: 0}", 1)
	c, err := Parse([]byte(src), ".")
	if err != nil {
		t.Fatal(err)
	}
	g := c.TargetGroups[0]
	if g.DeregistrationDelay.D() != 0 || *g.BalanceFactor != 0 || *g.HealthCheck.Enabled || *g.HealthCheck.Passive5xx != 0 || *g.Targets[0].Weight != 0 {
		t.Errorf("explicit zero values were replaced by defaults: %+v", g)
	}
}

// TestProblems checks that each bad value is reported with its key path,
// the value and the allowed values, and that all problems come at once.
func TestProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings, one per expected problem
	}{
		{"unknown top-level key", minimal + "foo: 1\n", []string{`unknown key "foo" in the top level`}},
		{"typo suggests key", strings.Replace(minimal, "default_target_group", "default_targetgroup", 1),
			[]string{`unknown key "default_targetgroup" in a listener (allowed: address, body_timeout, default_target_group,`}},
		{"typo hint", strings.Replace(minimal, "default_target_group", "default_targetgroup", 1),
			[]string{`did you mean "default_target_group"?`}},
		{"a list for a mapping", strings.Replace(minimal, "    targets:", "    health_check: [a, b]\n    targets:", 1),
			[]string{"target_groups[0].health_check: a list cannot be used here: expected a mapping of keys (health_check)"}},
		{"a list for a string, in a flow mapping", strings.Replace(minimal, "    targets:", "    stickiness: {type: [lb_cookie]}\n    targets:", 1),
			[]string{"target_groups[0].stickiness.type: a list cannot be used here: expected a string"}},
		{"a string for a number, in a flow mapping of several scalars", strings.Replace(minimal, "    targets:", "    health_check: {path: /h, healthy_threshold: x, unhealthy_threshold: 2}\n    targets:", 1),
			[]string{`target_groups[0].health_check.healthy_threshold: "x" (a string) cannot be used here: expected a number`}},
		{"a long string for a number, in a flow mapping", strings.Replace(minimal, "    targets:", "    health_check: {path: /health/check/long, unhealthy_threshold: three-times}\n    targets:", 1),
			[]string{`target_groups[0].health_check.unhealthy_threshold: "three-t..." (a string) cannot be used here`}},
		{"a list for a duration", strings.Replace(minimal, "    targets:", "    slow_start: [30s]\n    targets:", 1),
			[]string{"target_groups[0].slow_start: a list cannot be used here: expected a duration"}},
		{"CIDR with host bits", strings.Replace(minimal, "    default_target_group: app\n", "    default_target_group: app\n    trusted_proxies: [1.2.3.4/8]\n", 1),
			[]string{`trusted_proxies[0]: "1.2.3.4/8" has address bits set past /8: it would mean all of 1.0.0.0/8`}},
		{"a mapping for a list", strings.Replace(minimal, "    default_target_group: app\n", "    default_target_group: app\n    rules: {path: /a}\n", 1),
			[]string{"a mapping cannot be used here: expected a list"}},
		{"bad duration", strings.Replace(minimal, "    targets:", "    slow_start: fast\n    targets:", 1),
			[]string{`"fast" is not a duration`}},
		{"send_timeout bounds", strings.Replace(minimal, "    default_target_group: app\n", "    default_target_group: app\n    send_timeout: 2h\n", 1),
			[]string{"listeners[0](web).send_timeout: 2h is out of range (allowed 1s..3600s)"}},
		{"stickiness bounds", strings.Replace(minimal, "    targets:", "    stickiness: {type: lb_cookie, duration: 200h}\n    targets:", 1),
			[]string{"target_groups[0](app).stickiness.duration: 200h is out of range (allowed 1s..168h)"}},
		{"all at once", strings.Replace(minimal, "    targets:", `    algorithm: fastest
    slow_start: 10s
    deregistration_delay: 2h
    balance_factor: 0.5
    health_check: {interval: 500ms, timeout: 2s, healthy_threshold: 11, success_codes: "200-abc"}
    stickiness: {type: magic, on_failure: panic}
    targets:`, 1), []string{
			`algorithm: "fastest" is not allowed (allowed: round_robin, least_outstanding_requests, weighted_random, consistent_hash)`,
			"slow_start: 10s is out of range (allowed 30s..900s)",
			"deregistration_delay: 2h is out of range (allowed 0..3600s)",
			"balance_factor: 0.5 is out of range",
			"health_check.interval: 500ms is out of range (allowed 1s..300s)",
			"health_check.timeout: 2s must be less than interval",
			"health_check.healthy_threshold: 11 is out of range (allowed 1..10)",
			`health_check.success_codes: "200-abc"`,
			`stickiness.type: "magic" is not allowed (allowed: none, lb_cookie, app_cookie, source_ip, header)`,
			`stickiness.on_failure: "panic" is not allowed (allowed: rebind, strict)`,
		}},
		{"weight bounds", strings.Replace(minimal, "9001}", "9001, weight: 1000}", 1),
			[]string{"targets[0](app-1).weight: 1000 is out of range (allowed 0..999)"}},
		{"unknown target group", strings.Replace(minimal, "default_target_group: app", "default_target_group: web\n    rules: [{path: /api/*, target_group: api}]", 1),
			[]string{`default_target_group: "web" names no target group (defined: app)`, `rules[0].target_group: "api" names no target group`}},
		{"bad rule patterns", strings.Replace(minimal, "default_target_group: app", "default_target_group: app\n    rules: [{host: 'a*.x.com', path: 'api/*', target_group: app}]", 1),
			[]string{`rules[0].host: "a*.x.com"`, `rules[0].path: "api/*"`}},
		{"duplicate ids", strings.Replace(minimal, "      - {id: app-1, address: 127.0.0.1:9001}", "      - {id: app-1, address: 127.0.0.1:9001}\n      - {id: app-1, address: 127.0.0.1:9002}", 1),
			[]string{`targets[1](app-1).id: "app-1" is used by another target`}},
		{"bad address", strings.Replace(minimal, "127.0.0.1:9001", "127.0.0.1", 1),
			[]string{`targets[0](app-1).address: "127.0.0.1" is not host:port`}},
		{"app_cookie needs name", strings.Replace(minimal, "    targets:", "    stickiness: {type: app_cookie}\n    targets:", 1),
			[]string{"stickiness.app_cookie_name: is required with type app_cookie"}},
		{"hash key", strings.Replace(minimal, "    targets:", "    algorithm: consistent_hash\n    hash_key: body\n    targets:", 1),
			[]string{`hash_key: "body" is not allowed (allowed: source_ip, header:NAME, cookie:NAME, query:NAME)`}},
		{"trusted proxies", strings.Replace(minimal, "default_target_group: app", "default_target_group: app\n    trusted_proxies: [10.0.0.0/8, nonsense]", 1),
			[]string{`trusted_proxies[1]: "nonsense" is not a CIDR`}},
		{"https needs tls", strings.Replace(minimal, "address: 127.0.0.1:8080", "address: 127.0.0.1:8080\n    protocol: https", 1),
			[]string{"tls: is required with protocol https"}},
		{"wrong type", strings.Replace(minimal, "  - name: app\n", "  - name: app\n    targets_extra: 1\n", 1),
			[]string{`unknown key "targets_extra" in a target group`}},
		{"app cookie named as tether's", strings.Replace(minimal, "    targets:", "    stickiness: {type: app_cookie, cookie_name: SID, app_cookie_name: SIDAPP}\n    targets:", 1),
			[]string{`stickiness.app_cookie_name: "SIDAPP" is also the name of a cookie of tether's own`}},
		{"token in the Cookie header", strings.Replace(minimal, "    targets:", "    stickiness: {type: header, header_name: Cookie}\n    targets:", 1),
			[]string{`stickiness.header_name: "Cookie" carries what the request or response already says there`}},
		{"target id in Content-Length", strings.Replace(minimal, "    targets:", "    target_header: content-length\n    targets:", 1),
			[]string{`target_header: "content-length" frames the message`}},
		{"token in Proxy-Authorization", strings.Replace(minimal, "    targets:", "    stickiness: {type: header, header_name: proxy-authorization}\n    targets:", 1),
			[]string{`stickiness.header_name: "proxy-authorization" carries what the request or response already says there`}},
		{"target id where the token goes", strings.Replace(minimal, "    targets:", "    target_header: x-sticky\n    stickiness: {type: header, header_name: X-Sticky}\n    targets:", 1),
			[]string{`target_header: "x-sticky" is also stickiness.header_name`}},
		{"target port 0", strings.Replace(minimal, "address: 127.0.0.1:9001", "address: localhost:0", 1),
			[]string{`targets[0](app-1).address: "localhost:0" has port 0`}},
		{"list expected", "listeners: web\n", []string{`listeners: "web" (a string) cannot be used here: expected a list`}},
		{"empty", "", []string{"config is empty"}},
		{"two documents", minimal + "---\n" + minimal, []string{"more than one YAML document"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { assertProblems(t, tc.yaml, tc.want) })
	}
}

// assertProblems checks that Parse refuses yaml with at least one problem
// mentioning each of want.
func assertProblems(t *testing.T, yaml string, want []string) {
	t.Helper()
	_, err := Parse([]byte(yaml), ".")
	if err == nil {
		t.Fatal("Parse accepted a bad config")
	}
	probs := Problems(err)
	for _, w := range want {
		if !containsAny(probs, w) {
			t.Errorf("no problem mentions %q; got:\n%s", w, strings.Join(probs, "\n"))
		}
	}
	if len(probs) < len(want) {
		t.Errorf("got %d problems, want at least %d:\n%s", len(probs), len(want), strings.Join(probs, "\n"))
	}
}

func containsAny(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("err = %v, want a not-exist error", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestParseHashKey(t *testing.T) {
	tests := []struct {
		in, source, name string
		ok               bool
	}{
		{"source_ip", "source_ip", "", true},
		{"header:X-Tenant", "header", "X-Tenant", true},
		{"cookie:sid", "cookie", "sid", true},
		{"query:user", "query", "user", true},
		{"header:", "", "", false},
		{"path:x", "", "", false},
		{"header:a b", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			s, n, ok := ParseHashKey(tc.in)
			if s != tc.source || n != tc.name || ok != tc.ok {
				t.Errorf("ParseHashKey(%q) = %q, %q, %v; want %q, %q, %v", tc.in, s, n, ok, tc.source, tc.name, tc.ok)
			}
		})
	}
}

func TestTLSKeys(t *testing.T) {
	https := strings.Replace(minimal, "address: 127.0.0.1:8080", "address: 127.0.0.1:8443\n    protocol: https\n    tls: TLSBLOCK", 1)
	tests := []struct {
		name, tls string
		want      []string // problems; none = valid
	}{
		{"one certificate", "{cert_file: c.pem, key_file: k.pem}", nil},
		{"several, HSTS", "{cert_file: c.pem, key_file: k.pem, certificates: [{cert_file: a.pem, key_file: a.key}], min_version: \"1.3\", hsts: {max_age: 8760h, include_subdomains: true, preload: true}}", nil},
		{"certificates only", "{certificates: [{cert_file: a.pem, key_file: a.key}]}", nil},
		{"no certificate", "{min_version: \"1.2\"}", []string{"tls: needs a certificate"}},
		{"key missing", "{cert_file: c.pem}", []string{"tls.key_file: is required with cert_file"}},
		{"bad version", "{cert_file: c.pem, key_file: k.pem, min_version: \"1.1\"}", []string{`tls.min_version: "1.1" is not allowed (allowed: 1.2, 1.3)`}},
		{"preload too short", "{cert_file: c.pem, key_file: k.pem, hsts: {max_age: 1h, preload: true}}", []string{"tls.hsts.preload: needs include_subdomains"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(strings.Replace(https, "TLSBLOCK", tc.tls, 1)), ".")
			probs := Problems(err)
			if len(tc.want) == 0 && err != nil {
				t.Fatalf("valid tls block refused: %v", err)
			}
			for _, w := range tc.want {
				if !containsAny(probs, w) {
					t.Errorf("no problem mentions %q; got %v", w, probs)
				}
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	src := strings.Replace(minimal, "    targets:", "    protocol: https\n    tls: {insecure_skip_verify: true}\n    targets:", 1)
	c, err := Parse([]byte(src), ".")
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "insecure_skip_verify") {
		t.Errorf("warnings %v, want one about insecure_skip_verify", w)
	}
	bad := strings.Replace(minimal, "  - name: app\n    targets:", "  - name: app\n    tls: {ca_file: ca.pem}\n    targets:", 1)
	if _, err := Parse([]byte(bad), "."); err == nil || !strings.Contains(err.Error(), "tls: is set but protocol is http") {
		t.Errorf("upstream tls on an http group: %v", err)
	}
}

// TestEveryExampleLoads keeps the files in examples/ valid.
func TestEveryExampleLoads(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestLoadRefusesSpecialFiles: a config path naming a FIFO, a device or
// a directory gets an error at once, never a wait for a writer or an
// endless read.
func TestLoadRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "tether.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, kind string }{{fifo, "named pipe"}, {"/dev/zero", "device"}, {dir, "directory"}} {
		done := make(chan error, 1)
		go func() { _, err := Load(tc.path); done <- err }()
		select {
		case err := <-done:
			if want := tc.path + " is not a regular file (it is a " + tc.kind + ")"; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Load(%s): err = %v, want %q", tc.path, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Load(%s) still waits after 10 s", tc.path)
		}
	}
}
