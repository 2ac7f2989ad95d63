package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const edgeYAML = `
edges:
  - name: cdn
    address: 127.0.0.1:8000
    origin: {listener: web}
    mode: safe
    max_bytes: 256MiB
    tenant: {by: host}
    behaviors:
      - path: /static/*
        cache: {cookies: none, headers: [], query: none, min_ttl: 0s, default_ttl: 24h, max_ttl: 8760h}
        origin_request: {cookies: none, headers: [], query: all}
      - path: "*"
        cache: {cookies: none, query: all, min_ttl: 0s, default_ttl: 0s, max_ttl: 5m}
        origin_request: {cookies: all, headers: [Authorization], query: all}
`

func TestEdgeConfigFromTheIssue(t *testing.T) {
	y := strings.Replace(minimal, "    targets:", "    stickiness: {type: lb_cookie}\n    targets:", 1) + edgeYAML
	c, err := Parse([]byte(y), ".")
	if err != nil {
		t.Fatal(err)
	}
	e := c.Edges[0]
	if e.MaxBytes != 256<<20 || e.MaxObjectBytes != 8<<20 || e.Mode != "safe" || e.Tenant.By != "host" || e.SendTimeout.D() != time.Minute {
		t.Errorf("edge = %+v", e)
	}
	if !slices.Contains(e.InfraCookies, "TETHER") || !slices.Contains(e.InfraCookies, "TETHERCORS") || !slices.Contains(e.InfraCookies, "AWSALB") {
		t.Errorf("infra cookies %v lack the group's stickiness cookies or AWSALB", e.InfraCookies)
	}
	b := e.Behaviors[1]
	if b.OriginRequest.Cookies.Behavior != "all" || b.Cache.Query.Behavior != "all" || b.Cache.MaxTTL.D() != 5*time.Minute || !slices.Equal(b.AllowedMethods, []string{"GET", "HEAD"}) {
		t.Errorf("default behavior = %+v", b)
	}
	if !e.Behaviors[0].OriginRequest.Query.Selects("page") || e.Behaviors[0].Cache.Cookies.Selects("TETHER") {
		t.Error("NameSet.Selects is wrong")
	}
}

func TestNameSetForms(t *testing.T) {
	y := minimal + strings.Replace(edgeYAML, "cookies: none, headers: [], query: none", "cookies: {whitelist: [theme, lang]}, headers: [Accept-Language], query: {all_except: [utm_source]}", 1)
	c, err := Parse([]byte(y), ".")
	if err != nil {
		t.Fatal(err)
	}
	cp := c.Edges[0].Behaviors[0].Cache
	if cp.Cookies.Behavior != "whitelist" || !cp.Cookies.Selects("lang") || cp.Cookies.Selects("Lang") {
		t.Errorf("cookies = %+v", cp.Cookies)
	}
	if cp.Query.Behavior != "all_except" || cp.Query.Selects("utm_source") || !cp.Query.Selects("q") {
		t.Errorf("query = %+v", cp.Query)
	}
}

func TestEdgeProblems(t *testing.T) {
	sub := func(old, new string) string { return minimal + strings.Replace(edgeYAML, old, new, 1) }
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown origin listener", sub("{listener: web}", "{listener: api}"), []string{`edges[0](cdn).origin.listener: "api" names no http or https listener`}},
		{"both origins", sub("{listener: web}", "{listener: web, url: 'http://127.0.0.1:9000'}"), []string{"origin: set listener or url, not both"}},
		{"origin url with path", sub("{listener: web}", "{url: 'http://127.0.0.1:9000/app'}"), []string{`origin.url: "http://127.0.0.1:9000/app" is not an origin URL`}},
		{"mode", sub("mode: safe", "mode: fastly"), []string{`mode: "fastly" is not allowed (allowed: safe, cloudfront)`}},
		{"tls without a certificate", sub("mode: safe", "mode: safe\n    tls: {min_version: '1.1'}"), []string{
			"edges[0](cdn).tls: needs a certificate", `edges[0](cdn).tls.min_version: "1.1" is not allowed`}},
		{"trusted proxies", sub("mode: safe", "mode: safe\n    trusted_proxies: [10.0.0.0/8, nonsense]"), []string{
			`edges[0](cdn).trusted_proxies[1]: "nonsense" is not a CIDR or IP address`}},
		{"tls with hsts", sub("mode: safe", "mode: safe\n    tls: {cert_file: c.pem, key_file: k.pem, hsts: {max_age: 1h}}"), []string{
			"edges[0](cdn).tls.hsts: is for listeners"}},
		{"size", sub("256MiB", "lots"), []string{`"lots" is not a size`}},
		{"size range", sub("256MiB", "100KiB"), []string{"max_bytes: 102400 bytes is out of range"}},
		{"send timeout range", sub("mode: safe", "mode: safe\n    send_timeout: 500ms"), []string{"edges[0](cdn).send_timeout: 500ms is out of range (allowed 1s..3600s)"}},
		{"ttl order", sub("min_ttl: 0s, default_ttl: 24h", "min_ttl: 48h, default_ttl: 24h"), []string{"min_ttl (48h) ≤ default_ttl (24h) ≤ max_ttl (8760h) does not hold"}},
		{"default last", sub(`      - path: "*"`, `      - path: /api/*`), []string{`the last behavior must be the default, path "*"`}},
		{"star first", minimal + strings.Replace(edgeYAML, "path: /static/*", "path: '*'", 1), []string{`"*" matches everything`}},
		{"cookie names set", sub("cookies: none, headers: [], query: none", "cookies: some"), []string{"write none, all, {whitelist: [name, …]} or {all_except: [name, …]}"}},
		{"empty whitelist", sub("query: none, min_ttl", "query: {whitelist: []}, min_ttl"), []string{"whitelist needs at least one name"}},
		{"case twins", sub("cookies: none, headers: []", "cookies: {whitelist: [Theme, theme]}, headers: []"), []string{`"Theme" and "theme" differ only in case`}},
		{"header star", sub("headers: [Authorization]", "headers: ['*']"), []string{`"*" is not allowed: list the headers`}},
		{"methods", sub("    behaviors:\n      - path: /static/*\n", "    behaviors:\n      - path: /static/*\n        allowed_methods: [GET, POST]\n"), []string{"allowed_methods: [GET POST] is not allowed"}},
		{"methods twice", sub("    behaviors:\n      - path: /static/*\n", "    behaviors:\n      - path: /static/*\n        allowed_methods: [GET, get]\n"), []string{"allowed_methods: [GET get] is not allowed"}},
		{"cached options not allowed", sub("    behaviors:\n      - path: /static/*\n", "    behaviors:\n      - path: /static/*\n        cached_methods: [GET, HEAD, OPTIONS]\n"), []string{"caches OPTIONS, which allowed_methods does not allow"}},
		{"address taken", sub("127.0.0.1:8000", "127.0.0.1:8080"), []string{`edges[0](cdn).address: "127.0.0.1:8080" is already used by listener web`}},
		{"tenant header", sub("{by: host}", "{by: header}"), []string{`tenant.header: "" is not a header name`}},
		// Go's server takes Host out of the header map: it never matches.
		{"tenant from Host", sub("{by: host}", "{by: header, header: host}"), []string{`tenant.header: "host": use tenant: {by: host} for the host`}},
		// The tenant goes to the access log and the debug key.
		{"tenant from Cookie", sub("{by: host}", "{by: header, header: Cookie}"), []string{`tenant.header: "Cookie" carries credentials`}},
		{"tenant from Authorization", sub("{by: host}", "{by: header, header: authorization}"), []string{`tenant.header: "authorization" carries credentials`}},
		{"tenant from framing", sub("{by: host}", "{by: header, header: Transfer-Encoding}"), []string{`tenant.header: "Transfer-Encoding" frames or routes the request`}},
		{"content types", sub("    behaviors:\n      - path: /static/*\n", "    behaviors:\n      - path: /static/*\n        static_content_types: [css]\n"), []string{`static_content_types[0]: "css" is not a media type`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { assertProblems(t, tc.yaml, tc.want) })
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "512": 512, "1KB": 1000, "1KiB": 1024, "256MiB": 256 << 20, "2GiB": 2 << 30, "3 MB": 3e6, "7B": 7} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1MiB", "1TiB", "MiB", "1.5GiB", "99999999999999999999"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", bad)
		}
	}
}

// Port 0 (any free port, as tests and the demo ask) is no address clash:
// an edge and a listener may both ask for it.
func TestEdgeAndListenerOnPortZero(t *testing.T) {
	y := strings.Replace(minimal, "127.0.0.1:8080", "127.0.0.1:0", 1) + strings.Replace(edgeYAML, "127.0.0.1:8000", "127.0.0.1:0", 1)
	if _, err := Parse([]byte(y), t.TempDir()); err != nil {
		t.Fatalf("listener and edge on port 0: %v", err)
	}
}
