package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tetherlb/tether/internal/admin"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// startApp starts a load balancer with one group, app (lb_cookie
// stickiness, a 45 s deregistration delay), of targets a, b, … with the
// weights given.
func startApp(t *testing.T, weights ...int) (*ts.LB, []*ts.Target) {
	t.Helper()
	var targets []*ts.Target
	var y strings.Builder
	y.WriteString(`admin: {address: "off"}
listeners: [{name: web, address: 127.0.0.1:0, default_target_group: app}]
target_groups:
  - name: app
    deregistration_delay: 45s
    stickiness: {type: lb_cookie}
    targets:
`)
	for i, w := range weights {
		tg := ts.NewTarget(t, string(rune('a'+i)))
		targets = append(targets, tg)
		fmt.Fprintf(&y, "      - {id: %s, address: %q, weight: %d}\n", tg.ID, tg.Addr, w)
	}
	return ts.StartLB(t, y.String()), targets
}

func startAdmin(t *testing.T, reload func(context.Context) error) (*ts.LB, *httptest.Server, []*ts.Target) {
	t.Helper()
	l, targets := startApp(t, 1, 3)
	srv := httptest.NewServer(admin.Handler(admin.Options{LB: l, Registry: l.Registry(), Reload: reload}))
	t.Cleanup(srv.Close)
	return l, srv, targets
}

func call(t *testing.T, method, url string, hdr ...string) (int, map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var v map[string]any
	json.Unmarshal(body, &v)
	return resp.StatusCode, v, string(body)
}

func TestTargetGroupsAndDrain(t *testing.T) {
	l, srv, _ := startAdmin(t, nil)
	code, v, body := call(t, "GET", srv.URL+"/api/v1/target-groups")
	if code != 200 {
		t.Fatalf("GET target-groups: %d %s", code, body)
	}
	groups := v["target_groups"].([]any)
	g := groups[0].(map[string]any)
	if g["name"] != "app" || g["stickiness"] != "lb_cookie" {
		t.Errorf("group: %v", g)
	}
	tb := g["targets"].([]any)[1].(map[string]any)
	for _, k := range []string{"id", "address", "state", "weight", "in_flight", "requests", "responses_5xx", "bindings"} {
		if _, ok := tb[k]; !ok {
			t.Errorf("target lacks %q: %v", k, tb)
		}
	}
	if tb["weight"] != 3.0 {
		t.Errorf("weight %v, want 3", tb["weight"])
	}

	code, v, body = call(t, "POST", srv.URL+"/api/v1/target-groups/app/targets/b/drain")
	if code != http.StatusAccepted || v["drain_remaining_seconds"] != 45.0 {
		t.Fatalf("drain: %d %s", code, body)
	}
	if st := l.Snapshot()[0].Targets[1].State; st != "draining" {
		t.Errorf("state after drain %q", st)
	}
	if code, _, _ := call(t, "POST", srv.URL+"/api/v1/target-groups/app/targets/b/undrain"); code != 200 {
		t.Errorf("undrain: %d", code)
	}
	for _, tc := range []struct{ path, want string }{
		{"/api/v1/target-groups/nope/targets/b/drain", "no such target group"},
		{"/api/v1/target-groups/app/targets/nope/drain", "no such target"},
	} {
		code, _, body := call(t, "POST", srv.URL+tc.path)
		if code != 404 || !strings.Contains(body, tc.want) {
			t.Errorf("POST %s: %d %s", tc.path, code, body)
		}
	}
	if code, _, _ := call(t, "GET", srv.URL+"/api/v1/target-groups/app/targets/b/drain"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET on drain: %d, want 405", code)
	}
}

func TestCrossSiteBrowserPostRefused(t *testing.T) {
	l, srv, _ := startAdmin(t, nil)
	code, _, _ := call(t, "POST", srv.URL+"/api/v1/target-groups/app/targets/a/drain",
		"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if code != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", code)
	}
	if _, v, body := call(t, "POST", srv.URL+"/api/v1/reload", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); v["error"] == nil {
		t.Errorf("cross-site POST: body %q, want a JSON error as every admin answer", body)
	}
	if st := l.Snapshot()[0].Targets[0].State; st == "draining" {
		t.Error("a cross-site request drained a target")
	}
}

// TestDNSRebindingRefused: on a loopback admin API, a page whose DNS name
// was rebound to 127.0.0.1 sends same-origin requests (Origin and Host
// its own name), which cross-origin protection lets through; they are
// refused by Host, with a JSON error, while requests to an IP address or
// localhost are served. An admin API on another address is reached by
// name on purpose and takes any Host.
func TestDNSRebindingRefused(t *testing.T) {
	l, targets := startApp(t, 1, 3)
	do := func(srv *httptest.Server, host, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+path, nil)
		req.Host = host
		req.Header.Set("Origin", "http://"+host)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	loop := httptest.NewServer(admin.Handler(admin.Options{LB: l, Registry: l.Registry(), Loopback: true}))
	defer loop.Close()
	port := loop.Listener.Addr().(*net.TCPAddr).Port
	drain := "/api/v1/target-groups/app/targets/" + targets[0].ID + "/drain"
	if code, body := do(loop, fmt.Sprintf("evil.example:%d", port), drain); code != http.StatusForbidden || !strings.Contains(body, `"error"`) || !strings.Contains(body, "DNS rebinding") {
		t.Errorf("a rebound name: %d %s, want 403 with a JSON error", code, body)
	}
	if st := l.Snapshot()[0].Targets[0].State; st == "draining" {
		t.Fatal("a rebound page drained a target")
	}
	for _, host := range []string{fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("localhost:%d", port), fmt.Sprintf("[::1]:%d", port), fmt.Sprintf("admin.localhost:%d", port)} {
		if code, body := do(loop, host, "/api/v1/target-groups/app/targets/"+targets[0].ID+"/undrain"); code != http.StatusOK {
			t.Errorf("Host %s: %d %s, want 200", host, code, body)
		}
	}
	open := httptest.NewServer(admin.Handler(admin.Options{LB: l, Registry: l.Registry()}))
	defer open.Close()
	if code, body := do(open, "tether-admin.internal", "/api/v1/target-groups/app/targets/"+targets[0].ID+"/undrain"); code != http.StatusOK {
		t.Errorf("a named host on a non-loopback admin API: %d %s, want 200", code, body)
	}
	for addr, want := range map[string]bool{"127.0.0.1:9901": true, "localhost:9901": true, "[::1]:9901": true, "0.0.0.0:9901": false, "10.0.0.5:9901": false, ":9901": false} {
		if got := admin.IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestMetricsAndHealthz(t *testing.T) {
	l, srv, _ := startAdmin(t, nil)
	if code, v, _ := call(t, "GET", srv.URL+"/healthz"); code != 200 || v["status"] != "ok" {
		t.Errorf("healthz: %d %v", code, v)
	}
	resp, err := http.Get(l.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ts.WaitFor(t, "request counted", func() bool {
		_, _, body := call(t, "GET", srv.URL+"/metrics")
		return strings.Contains(body, `tether_requests_total{code="200",group="app"`)
	})
	_, _, body := call(t, "GET", srv.URL+"/metrics")
	for _, name := range []string{"tether_affinity_decisions_total", "tether_request_duration_seconds_bucket", "tether_requests_in_flight", "go_goroutines"} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// Unknown endpoints and methods get the API's JSON error, not the plain
// text of Go's ServeMux, and are never cached.
func TestUnroutedAnswersAreJSON(t *testing.T) {
	_, srv, _ := startAdmin(t, nil)
	for _, tc := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"GET", "/api/v1/nope", 404, ""},
		{"DELETE", "/api/v1/reload", 405, "POST"},
		{"GET", "/api/v1/target-groups/app/targets/a/drain", 405, "POST"},
		{"GET", "/dashboard/nope", 404, ""},
		{"GET", "/dashboard/app.js/x", 404, ""},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]string
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if resp.StatusCode != tc.code || err != nil || v["error"] == "" || resp.Header.Get("Content-Type") != "application/json" ||
			resp.Header.Get("Cache-Control") != "no-store" || !strings.Contains(resp.Header.Get("Allow"), tc.allow) {
			t.Errorf("%s %s: %d %v (%v), headers %v; want %d with a JSON error", tc.method, tc.path, resp.StatusCode, v, err, resp.Header, tc.code)
		}
	}
}

func TestReload(t *testing.T) {
	var fail error
	calls := 0
	_, srv, _ := startAdmin(t, func(context.Context) error { calls++; return fail })
	if code, _, _ := call(t, "POST", srv.URL+"/api/v1/reload"); code != 200 || calls != 1 {
		t.Errorf("reload: %d, calls %d", code, calls)
	}
	fail = errors.Join(errors.New("listeners[0].address: is required"), errors.New("target_groups: at least one"))
	code, v, _ := call(t, "POST", srv.URL+"/api/v1/reload")
	if code != http.StatusUnprocessableEntity || len(v["problems"].([]any)) != 2 {
		t.Errorf("bad reload: %d %v", code, v)
	}
}

func TestPprof(t *testing.T) {
	_, srv, _ := startAdmin(t, nil)
	code, _, body := call(t, "GET", srv.URL+"/debug/pprof/goroutine?debug=1")
	if code != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("goroutine profile: %d %.80s", code, body)
	}
}
