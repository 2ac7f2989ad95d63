package edge_test

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/edge"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// stickyEdge starts three targets behind tether's load balancer with
// lb_cookie stickiness, and an edge in front of it whose static behavior
// caches without cookies and whose default behavior caches nothing and
// forwards the affinity cookies: the setup docs/edge.md recommends.
func stickyEdge(t *testing.T) (edgeURL string, targets []*ts.Target) {
	t.Helper()
	addrs := map[string]string{}
	for i := 1; i <= 3; i++ {
		tg := ts.NewTarget(t, fmt.Sprintf("t%d", i))
		targets = append(targets, tg)
		addrs[tg.ID] = tg.Addr
	}
	return stickyEdgeAt(t, addrs), targets
}

// stickyEdgeAt is stickyEdge in front of the targets at addrs, by id.
func stickyEdgeAt(t *testing.T, addrs map[string]string) (edgeURL string) {
	t.Helper()
	y := `admin: {address: "off"}
listeners: [{name: web, address: 127.0.0.1:0, default_target_group: app}]
target_groups:
  - name: app
    stickiness: {type: lb_cookie}
    targets:
`
	for _, id := range slices.Sorted(maps.Keys(addrs)) {
		y += fmt.Sprintf("      - {id: %s, address: %q}\n", id, addrs[id])
	}
	l := ts.StartLB(t, y)
	ey := y + `
edges:
  - name: cdn
    address: 127.0.0.1:1
    origin: {listener: web}
    behaviors:
      - path: /static/*
        cache: {default_ttl: 1h}
      - path: "*"
        cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 0s}
        origin_request: {cookies: {whitelist: [TETHER, TETHERCORS]}, query: all}
`
	cfg, err := config.Parse([]byte(ey), ".")
	if err != nil {
		t.Fatal(err)
	}
	e, err := edge.New(cfg.Edges[0], edge.Options{OriginURL: l.URL, Clock: clock.Real{}, Metrics: edge.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	return serveEdge(t, e)
}

func browserGet(t *testing.T, c *http.Client, url string) (string, *http.Response) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp
}

// TestAffinityThroughTheEdge: a browser stays on one target through the
// edge, and a cached response never hands the load balancer's cookie to
// other browsers.
func TestAffinityThroughTheEdge(t *testing.T) {
	url, _ := stickyEdge(t)
	seen := map[string]bool{}
	for b := range 12 {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		first, _ := browserGet(t, c, url+"/app")
		for range 5 {
			if got, _ := browserGet(t, c, url+"/app"); got != first {
				t.Fatalf("browser %d moved from %s to %s through the edge", b, first, got)
			}
		}
		seen[first] = true
		_, resp := browserGet(t, c, url+"/static/logo.png")
		if got, _ := browserGet(t, c, url+"/app"); got != first {
			t.Fatalf("browser %d moved from %s to %s after fetching a static file", b, first, got)
		}
		if b > 0 {
			if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
				t.Fatalf("browser %d got Set-Cookie %q from a cached response (%s)", b, sc, resp.Header.Get("Cache-Status"))
			}
			if !strings.Contains(resp.Header.Get("Cache-Status"), "hit") {
				t.Errorf("browser %d: static file not served from cache: %s", b, resp.Header.Get("Cache-Status"))
			}
		}
	}
	if len(seen) < 2 {
		t.Errorf("12 browsers all landed on %v: the edge pinned them to one target", seen)
	}
}

// TestCrossTenantIncident replays the source documents' incident (a cache
// key without the tenant) against a deliberately naive origin that answers
// with the tenant's employee list and tells every cache to share it: the
// edge keeps tenants apart in both modes, because the tenant is always in
// the key.
func TestCrossTenantIncident(t *testing.T) {
	for _, mode := range []string{"safe", "cloudfront"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, "mode: "+mode+`
tenant: {by: header, header: X-Tenant}
behaviors:
  - path: "*"
    origin_request: {headers: [X-Tenant]}
`)
			e.origin.set(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "public, max-age=3600") // "employee_list" cached for everyone
				fmt.Fprintf(w, "employees of %s", r.Header.Get("X-Tenant"))
			})
			if r := e.get("/employees", "X-Tenant: acme-corp"); r.body != "employees of acme-corp" {
				t.Fatalf("acme-corp got %q", r.body)
			}
			r := e.get("/employees", "X-Tenant: betaco")
			if strings.Contains(r.body, "acme") {
				t.Fatalf("betaco got acme-corp's employees: %q (%s)", r.body, r.cacheStatus())
			}
			expect(t, "acme again", e.get("/employees", "X-Tenant: acme-corp"), "hit")
			if r := e.get("/employees"); r.status != http.StatusBadRequest {
				t.Errorf("a request without a tenant: %d, want 400", r.status)
			}
			// Two tenants, on two lines or one: no single tenant.
			if r := e.get("/employees", "X-Tenant: acme-corp, betaco"); r.status != http.StatusBadRequest {
				t.Errorf("a request with a list of tenants: %d, want 400", r.status)
			}
		})
	}
}
