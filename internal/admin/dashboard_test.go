package admin_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/admin"
	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/edge"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// startWithEdge starts a load balancer in front of targets a, b and c
// (lb_cookie stickiness), an edge cache "cdn" in front of it, and the
// admin API over both.
func startWithEdge(t *testing.T) (*ts.LB, *httptest.Server, string) {
	t.Helper()
	l, _ := startApp(t, 1, 1, 1)
	cfg, err := config.Parse([]byte(`admin: {address: "off"}
listeners: [{name: web, address: 127.0.0.1:1, default_target_group: app}]
target_groups: [{name: app, targets: [{id: a, address: 127.0.0.1:1}]}]
edges:
  - name: cdn
    address: 127.0.0.1:0
    origin: {url: `+l.URL+`}
    max_bytes: 64MiB
    behaviors:
      - path: "*"
        cache: {min_ttl: 60s, default_ttl: 60s, max_ttl: 60s}
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	edges, err := edge.Start(cfg, edge.StartOptions{Addr: func(string) net.Addr { return nil }, Registerer: prometheus.NewRegistry(),
		Clock: clock.Real{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { edges.Close(context.Background()) })
	refs := map[string]admin.Edge{}
	for name, ref := range edges.Refs() {
		refs[name] = ref
	}
	srv := httptest.NewServer(admin.Handler(admin.Options{LB: l, Registry: l.Registry(), Edges: refs}))
	t.Cleanup(srv.Close)
	return l, srv, refs["cdn"].Status().URL
}

// TestEdgesStatus: GET /api/v1/edges reports what the edge holds and how
// its requests ended.
func TestEdgesStatus(t *testing.T) {
	_, srv, cdn := startWithEdge(t)
	for range 3 {
		resp, err := http.Get(cdn + "/page")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	code, v, body := call(t, "GET", srv.URL+"/api/v1/edges")
	if code != 200 {
		t.Fatalf("GET /api/v1/edges: %d %s", code, body)
	}
	edges := v["edges"].([]any)
	if len(edges) != 1 {
		t.Fatalf("%d edges, want 1: %s", len(edges), body)
	}
	e := edges[0].(map[string]any)
	req := e["requests"].(map[string]any)
	if e["name"] != "cdn" || e["url"] != cdn || e["mode"] != "safe" || e["max_bytes"] != float64(64<<20) ||
		e["objects"] != 1.0 || e["bytes"].(float64) <= 0 || req["miss"] != 1.0 || req["hit"] != 2.0 {
		t.Errorf("edge status after a miss and two hits:\n%s", body)
	}
}

// TestDashboardInChromium: the dashboard, loaded in headless Chromium,
// shows every target with its state, the affinity skew and the edge's hit
// ratio from the admin API, and follows a drain.
func TestDashboardInChromium(t *testing.T) {
	l, srv, cdn := startWithEdge(t)
	for range 6 { // six browsers: two bindings per target
		get := ts.Client(t)
		for range 2 {
			resp, err := get.Get(l.URL + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	l.Sweep()
	resp, err := http.Get(l.URL + "/status?code=503") // a target's 5xx
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	failed := func() (n int) {
		for _, tg := range l.Snapshot()[0].Targets {
			n += int(tg.Responses5xx)
		}
		return n
	}
	// The balancer counts the response once it has sent it: the client
	// may read it first.
	ts.WaitFor(t, "one 5xx counted over the targets", func() bool { return failed() >= 1 })
	if n := failed(); n != 1 {
		t.Errorf("responses_5xx over the targets = %d after one 503, want 1", n)
	}
	for range 4 { // a miss, then three hits: 75%
		resp, err := http.Get(cdn + "/static/app.css")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	dom := ts.DumpDOM(t, srv.URL+"/dashboard/", 3*time.Second)
	for _, want := range []string{
		`data-group="app"`, `data-skew="1.00"`, "too few bindings to judge", // 6 bindings over 3 targets
		`data-target="a" data-state="healthy"`, `data-target="b" data-state="healthy"`, `data-target="c" data-state="healthy"`,
		`data-edge="cdn"`, `data-hit-ratio="0.750"`, ">75%<", "3 / 3", "live ·", `data-5xx="1"`, "1 since start",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the dashboard lacks %s; DOM:\n%s", want, dom)
		}
	}
	if strings.Contains(dom, "Cannot reach the admin API") {
		t.Errorf("the dashboard could not read the admin API:\n%s", dom)
	}

	// Press b's Drain button, as a person would (confirming the dialog).
	dom = ts.DumpDOM(t, clickPage(t, srv, "b", "Drain"), 3*time.Second)
	if st := l.Snapshot()[0].Targets[1].State; st != "draining" {
		t.Fatalf("after pressing Drain, b is %s; want draining", st)
	}
	row := regexp.MustCompile(`<tr data-target="b" data-state="draining"[^>]*>.*?</tr>`).FindString(dom)
	if row == "" || !strings.Contains(row, "draining · 4") || !strings.Contains(row, ">Undrain<") {
		t.Errorf("target b after its drain: %q; want its row draining, with the time left and an Undrain button", row)
	}
	ts.DumpDOM(t, clickPage(t, srv, "b", "Undrain"), 3*time.Second)
	if st := l.Snapshot()[0].Targets[1].State; st != "healthy" {
		t.Errorf("after pressing Undrain, b is %s; want healthy", st)
	}
}

// clickPage serves, beside the dashboard (so that its script, style sheet
// and API calls are same-origin), a copy of the dashboard's page whose
// extra script presses the button labelled label in target's row once the
// dashboard has drawn it, and accepts the confirmation. It returns the
// copy's URL.
func clickPage(t *testing.T, srv *httptest.Server, target, label string) string {
	t.Helper()
	code, _, page := call(t, "GET", srv.URL+"/dashboard/")
	if code != 200 {
		t.Fatalf("GET /dashboard/: %d", code)
	}
	press := fmt.Sprintf(`<script>
window.confirm = () => true;
const press = setInterval(() => {
  const b = [...document.querySelectorAll('tr[data-target=%q] button')].find(b => b.textContent === %q);
  if (b) { clearInterval(press); b.click(); }
}, 50);
</script></body>`, target, label)
	page = strings.Replace(page, "</body>", press, 1)
	api := srv.Config.Handler
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.HandleFunc("GET /dashboard/press.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	})
	pressed := httptest.NewServer(mux)
	t.Cleanup(pressed.Close)
	return pressed.URL + "/dashboard/press.html"
}

// TestDashboardServing: a browser at the admin root goes to the dashboard;
// API clients still get the endpoint list; the page has a strict content
// security policy.
func TestDashboardServing(t *testing.T) {
	_, srv, _ := startAdmin(t, nil)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/dashboard/" {
		t.Errorf("a browser at /: %d to %q, want 302 to /dashboard/", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, v, _ := call(t, "GET", srv.URL+"/"); code != 200 || !strings.Contains(fmt.Sprint(v["endpoints"]), "GET /dashboard/") {
		t.Errorf("an API client at /: %d %v", code, v)
	}
	for path, ctype := range map[string]string{"/dashboard/": "text/html", "/dashboard/app.js": "text/javascript", "/dashboard/style.css": "text/css"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) ||
			!strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("GET %s: %d %q, CSP %q", path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"))
		}
	}
}

// TestDashboardKeepsFocus: the page redraws every second; a keyboard user
// on a Drain button stays on it across the redraws instead of being sent
// back to the page's start.
func TestDashboardKeepsFocus(t *testing.T) {
	_, srv, _ := startWithEdge(t)
	code, _, page := call(t, "GET", srv.URL+"/dashboard/")
	if code != 200 {
		t.Fatalf("GET /dashboard/: %d", code)
	}
	// Focus b's Drain button once drawn; 2.5 s (two redraws) later, write
	// down what has the focus.
	page = strings.Replace(page, "</body>", `<script>
const focusB = setInterval(() => {
  const b = document.querySelector('tr[data-target="b"] button');
  if (!b) return;
  clearInterval(focusB);
  b.focus();
  setTimeout(() => { document.body.dataset.focusAfter = (document.activeElement.dataset || {}).focus || document.activeElement.tagName; }, 2500);
}, 50);
</script></body>`, 1)
	mux := http.NewServeMux()
	mux.Handle("/", srv.Config.Handler)
	mux.HandleFunc("GET /dashboard/focus.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	})
	focused := httptest.NewServer(mux)
	defer focused.Close()
	dom := ts.DumpDOM(t, focused.URL+"/dashboard/focus.html", 5*time.Second)
	if !strings.Contains(dom, `data-focus-after="action app b"`) {
		m := regexp.MustCompile(`data-focus-after="[^"]*"`).FindString(dom)
		t.Errorf("after two redraws the focus is on %q, want b's Drain button (action app b)", m)
	}
}
