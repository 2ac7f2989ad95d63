package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tetherlb/tether/internal/testsupport"
)

func TestServeEdge(t *testing.T) {
	dir := t.TempDir()
	listen, admin, edgeAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	target := testsupport.NewTarget(t, "t1")
	cfg := serveConfig(listen, admin, target) + fmt.Sprintf(`
edges:
  - name: cdn
    address: %q
    origin: {listener: web}
    behaviors:
      - path: /static/*
        cache: {default_ttl: 1h}
      - path: "*"
        cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 0s}
`, edgeAddr)
	file := writeFile(t, dir, "tether.yaml", cfg)
	s := startServe(t, file, listen, admin)

	status := func(path string) string {
		resp, err := http.Get("http://" + edgeAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Cache-Status")
	}
	if cs := status("/static/app.js"); !strings.Contains(cs, "fwd=uri-miss") || !strings.Contains(cs, "stored") {
		t.Fatalf("first request: Cache-Status %q", cs)
	}
	if cs := status("/static/app.js"); !strings.Contains(cs, "cdn; hit") {
		t.Fatalf("second request: Cache-Status %q, want a hit", cs)
	}
	if cs := status("/account"); !strings.Contains(cs, "fwd=bypass") {
		t.Errorf("dynamic path: Cache-Status %q, want a bypass", cs)
	}
	req, _ := http.NewRequest("POST", "http://"+admin+"/api/v1/edges/cdn/invalidations", strings.NewReader(`{"paths": ["/static/*"]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("invalidation: %d", resp.StatusCode)
	}
	if cs := status("/static/app.js"); !strings.Contains(cs, "fwd=uri-miss") {
		t.Errorf("after the invalidation: Cache-Status %q, want a miss", cs)
	}
	for body, want := range map[string]int{`{"paths": ["/a b"]}`: 400, `{"paths": []}`: 400, `{"path": ["/x"]}`: 400,
		`{"paths": ["/x"]} junk`: 400, `{"paths": ["/x"]} {"paths": ["/*"]}`: 400, `{"paths": ["/x"]}` + "\n": 201,
		// Names as spelt, once each: encoding/json alone takes "Paths"
		// and lets a second "paths" replace the first.
		`{"Paths": ["/x"]}`: 400, `{"paths": ["/x"], "paths": ["/*"]}`: 400,
		// This edge has no tenants: a tenant names none of its objects.
		`{"paths": ["/x"], "tenant": "acme"}`: 400} {
		req, _ := http.NewRequest("POST", "http://"+admin+"/api/v1/edges/cdn/invalidations", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("invalidation %s: %d, want %d", body, resp.StatusCode, want)
		}
	}
	if resp, err := http.Post("http://"+admin+"/api/v1/edges/nope/invalidations", "application/json", strings.NewReader(`{"paths":["/x"]}`)); err != nil || resp.StatusCode != 404 {
		t.Errorf("invalidation of an unknown edge: %v %v, want 404", resp.StatusCode, err)
	}
	_, metrics := httpGet(t, "http://"+admin+"/metrics")
	for _, m := range []string{`tether_edge_requests_total{edge="cdn",result="hit"} 1`, `tether_edge_invalidated_total{edge="cdn"} 1`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	// A reload applies a changed behavior to the running edge: /account
	// becomes cacheable, and /static/app.js, stored before, stays a hit.
	status("/static/app.js")
	writeFile(t, dir, "tether.yaml", strings.Replace(cfg, "cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 0s}", "cache: {min_ttl: 0s, default_ttl: 1h, max_ttl: 8760h}", 1))
	if code, body := s.reload(t); code != 200 {
		t.Fatalf("reload: %d %v", code, body)
	}
	if cs := status("/static/app.js"); !strings.Contains(cs, "cdn; hit") {
		t.Errorf("after the reload: Cache-Status %q, want a hit from the kept cache", cs)
	}
	status("/account")
	if cs := status("/account"); !strings.Contains(cs, "cdn; hit") {
		t.Errorf("after the reload /account: Cache-Status %q, want a hit under the new behavior", cs)
	}
	// Invalidations reach the reloaded edge.
	req, _ = http.NewRequest("POST", "http://"+admin+"/api/v1/edges/cdn/invalidations", strings.NewReader(`{"paths": ["/account"]}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("invalidation after the reload: %v", err)
	}
	if cs := status("/account"); !strings.Contains(cs, "fwd=uri-miss") {
		t.Errorf("after invalidating the reloaded edge: Cache-Status %q, want a miss", cs)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
