package main

import (
	"bytes"
	"context"
	"html"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/demo"
	"github.com/tetherlb/tether/internal/testsupport"
	"github.com/tetherlb/tether/session"
)

// demoStack is `tether demo` running in the test process.
type demoStack struct {
	lbURL, controlURL string
	edgeURL           string // the edge cache in front of lbURL
	targets           []*demo.Target
	in                *instance
}

// startDemo starts what runDemo starts, on free loopback ports: n demo
// targets sharing the in-memory session store, the control API and the
// load balancer in front of the targets. Everything stops when the test
// ends.
func startDemo(t *testing.T, n int) *demoStack {
	t.Helper()
	return startDemoWithStore(t, n, "memory")
}

// startDemoWithStore is startDemo with the shop's sessions in the store
// that storeURL names, as -store sets it.
func startDemoWithStore(t *testing.T, n int, storeURL string) *demoStack {
	t.Helper()
	// Every address is a port the kernel picks, so parallel test packages
	// never collide; the control URL and the LB's origin are read back.
	f := demoFlags{
		listen: "127.0.0.1:0", admin: "127.0.0.1:0", control: "127.0.0.1:0", tokens: "127.0.0.1:0", edge: "127.0.0.1:0",
		targets: n, stickiness: "lb_cookie", store: storeURL,
	}
	logger := slog.New(slog.DiscardHandler)
	sessions, store, err := demoSessions(t.Context(), f.store, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ln, err := net.Listen("tcp", f.control)
	if err != nil {
		t.Fatal(err)
	}
	s := &demoStack{controlURL: "http://" + ln.Addr().String()}
	for i := range n {
		tg := demo.NewTarget("app-"+strconv.Itoa(i+1), "127.0.0.1:0", demoColors[i], logger)
		tg.SetControlURL(s.controlURL)
		tg.SetSessions(sessions)
		if err := tg.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tg.Close() })
		s.targets = append(s.targets, tg)
	}
	dir := t.TempDir()
	if err := addDemoUser(t.Context(), dir); err != nil {
		t.Fatal(err)
	}
	cfg, err := demoConfig(f, s.targets, dir)
	if err != nil {
		t.Fatal(err)
	}
	in, err := startInstance(context.Background(), "", cfg, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		in.close(ctx)
	})
	s.lbURL = "http://" + in.lb.Addr("web").String()
	s.edgeURL = in.edges.Refs()["cdn"].Status().URL
	ctrl := newDemoControl(ln, demo.NewControl(s.targets, s.lbURL))
	t.Cleanup(func() { ctrl.Close() })
	s.in = in
	return s
}

// kill kills a demo target through the control API, as the page's button
// or curl would.
func (s *demoStack) kill(t *testing.T, id string) {
	t.Helper()
	resp, err := http.Post(s.controlURL+"/targets/"+id+"/kill", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("kill %s: status %d, want 204", id, resp.StatusCode)
	}
}

var (
	servedByRE = regexp.MustCompile(`<h1>([^<]*)</h1>`)
	// A square of the live strip, as the page's draw() builds it.
	tickRE = regexp.MustCompile(`<div class="(tick(?: err)?)"[^>]*><span[^>]*></span>([^<]*)</div>`)
)

// demoPage is what a person sees on the demo page after its scripts ran.
type demoPage struct {
	servedBy string
	strip    []string // target of each square, oldest first; "" for a failed request
}

func parseDemoPage(t *testing.T, dom string) demoPage {
	t.Helper()
	m := servedByRE.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the page names no serving target (no <h1>); DOM:\n%s", dom)
	}
	p := demoPage{servedBy: html.UnescapeString(m[1])}
	for _, tm := range tickRE.FindAllStringSubmatch(dom, -1) {
		if tm[1] == "tick err" {
			p.strip = append(p.strip, "")
			continue
		}
		p.strip = append(p.strip, html.UnescapeString(tm[2]))
	}
	return p
}

// assertStuck checks that the page was served by a demo target and that
// every square of the live strip (at least min of them) names that target.
func assertStuck(t *testing.T, p demoPage, min int) {
	t.Helper()
	if !strings.HasPrefix(p.servedBy, "app-") {
		t.Fatalf("page served by %q, want a demo target", p.servedBy)
	}
	if len(p.strip) < min {
		t.Fatalf("live strip has %d squares, want at least %d (is /api/whoami polled?): %q", len(p.strip), min, p.strip)
	}
	for i, got := range p.strip {
		if got != p.servedBy {
			t.Errorf("live strip square %d answered by %q, want %q (the page's target): strip %q", i, got, p.servedBy, p.strip)
		}
	}
}

func TestDemoInBrowser(t *testing.T) {
	s := startDemo(t, 3)
	b := testsupport.NewBrowser(t)
	const budget = 5 * time.Second // the page polls /api/whoami once a second

	first := parseDemoPage(t, b.DumpDOM(s.lbURL+"/", budget))
	t.Logf("first load: served by %s, live strip %q", first.servedBy, first.strip)
	assertStuck(t, first, 3)

	s.kill(t, first.servedBy)
	second := parseDemoPage(t, b.DumpDOM(s.lbURL+"/", budget))
	if second.servedBy == first.servedBy {
		t.Fatalf("after killing %s the page is still served by it", first.servedBy)
	}
	t.Logf("after the kill: served by %s, live strip %q", second.servedBy, second.strip)
	assertStuck(t, second, 3)

	// One browser: bound once, moved once when its target died, kept
	// otherwise. This also shows the second load sent the first load's cookie.
	reg := s.in.lb.Registry()
	decisions := func(outcome string) float64 {
		return testsupport.Metric(t, reg, "tether_affinity_decisions_total", map[string]string{"outcome": outcome})
	}
	if n := decisions("new"); n != 1 {
		t.Errorf("%v new bindings, want 1 (the browser's cookie was not kept)", n)
	}
	if n := decisions("rebound"); n != 1 {
		t.Errorf("%v rebinds, want 1 (after the kill)", n)
	}

	b.Screenshot(s.lbURL+"/", "/tmp/tether-demo.png", 1280, 1000, budget)
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var (
	shopCSRFRE = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)
	shopCartRE = regexp.MustCompile(`(?s)<section class="cart [a-z]+" id="cart-(memory|shared)" data-user="([^"]*)">(.*?)</section>`)
	shopItemRE = regexp.MustCompile(`<li data-item="([^"]*)" data-qty="(\d+)">`)
)

// shopCart is one cart of the demo's shop page: who is logged in and what
// the cart holds, by item ID.
type shopCart struct {
	user  string
	items map[string]int
}

// shopPage is what a person reads on the demo's shop page.
type shopPage struct {
	servedBy, csrf string
	carts          map[string]shopCart // "memory" and "shared"
}

func parseShopPage(t *testing.T, body string) shopPage {
	t.Helper()
	m := servedByRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the shop names no serving target (no <h1>); page:\n%s", body)
	}
	p := shopPage{servedBy: html.UnescapeString(m[1]), carts: map[string]shopCart{}}
	if m := shopCSRFRE.FindStringSubmatch(body); m != nil {
		p.csrf = html.UnescapeString(m[1])
	}
	for _, cm := range shopCartRE.FindAllStringSubmatch(body, -1) {
		c := shopCart{user: html.UnescapeString(cm[2]), items: map[string]int{}}
		for _, im := range shopItemRE.FindAllStringSubmatch(cm[3], -1) {
			n, _ := strconv.Atoi(im[2])
			c.items[im[1]] = n
		}
		p.carts[cm[1]] = c
	}
	if len(p.carts) != 2 {
		t.Fatalf("the shop shows %d carts, want 2 (memory and shared); page:\n%s", len(p.carts), body)
	}
	return p
}

func assertShopCart(t *testing.T, where string, got, want shopCart) {
	t.Helper()
	if got.user != want.user || !maps.Equal(got.items, want.items) {
		t.Errorf("%s: logged in as %q with %v, want %q with %v", where, got.user, got.items, want.user, want.items)
	}
}

// shopBrowser is one person using the shop through the load balancer: a
// cookie jar, and forms posted with the page's CSRF token as a browser
// without Sec-Fetch-Site would.
type shopBrowser struct {
	t     *testing.T
	c     *http.Client
	lbURL string
}

func newShopBrowser(t *testing.T, lbURL string) *shopBrowser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &shopBrowser{t: t, c: &http.Client{Jar: jar, Transport: tr, Timeout: 10 * time.Second}, lbURL: lbURL}
}

// do sends req and returns the final response and its body.
func (b *shopBrowser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return resp, string(body)
}

// get loads the shop.
func (b *shopBrowser) get() shopPage {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodGet, b.lbURL+"/shop", nil)
	if err != nil {
		b.t.Fatal(err)
	}
	resp, body := b.do(req)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET /shop: status %d: %s", resp.StatusCode, body)
	}
	return parseShopPage(b.t, body)
}

// submit posts a form of page p (with its CSRF token) and returns the shop
// page it redirects to.
func (b *shopBrowser) submit(p shopPage, path string, form url.Values) shopPage {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set(session.CSRFTokenField, p.csrf)
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodPost, b.lbURL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := b.do(req)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/shop" {
		b.t.Fatalf("POST %s: ended with %d at %s, want 200 at /shop: %s", path, resp.StatusCode, resp.Request.URL.Path, body)
	}
	return parseShopPage(b.t, body)
}

func TestDemoSharedSessionsSurviveAKill(t *testing.T) {
	tests := []struct {
		name  string
		store func(t *testing.T) string // the -store URL
	}{
		{name: "memory", store: func(*testing.T) string { return "memory" }},
		{name: "file", store: func(t *testing.T) string { return "file:" + filepath.Join(t.TempDir(), "sessions.db") }},
		{name: "redis", store: func(t *testing.T) string { return "redis://" + testsupport.StartRedis(t).Addr }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startDemoWithStore(t, 3, tt.store(t))
			b := newShopBrowser(t, s.lbURL)

			p := b.get()
			first := p.servedBy
			p = b.submit(p, "/shop/login", url.Values{"user": {"grace"}})
			p = b.submit(p, "/shop/cart/add?item=coffee", nil)
			p = b.submit(p, "/shop/cart/add?item=croissant", nil)
			if p.servedBy != first {
				t.Fatalf("the shop moved from %s to %s without a kill", first, p.servedBy)
			}
			want := shopCart{user: "grace", items: map[string]int{"coffee": 1, "croissant": 1}}
			assertShopCart(t, "memory cart on "+first, p.carts["memory"], want)
			assertShopCart(t, "shared cart on "+first, p.carts["shared"], want)

			s.kill(t, first)
			p = b.get()
			second := p.servedBy
			if second == first || !strings.HasPrefix(second, "app-") {
				t.Fatalf("after killing %s the shop is served by %q, want another demo target", first, second)
			}
			assertShopCart(t, "memory cart on "+second, p.carts["memory"], shopCart{items: map[string]int{}})
			assertShopCart(t, "shared cart on "+second, p.carts["shared"], want)

			// The user goes on shopping on the new target, still logged in.
			p = b.submit(p, "/shop/cart/add?item=coffee", nil)
			if p.servedBy != second {
				t.Errorf("after the move the shop is served by %s, then %s: not sticky", second, p.servedBy)
			}
			assertShopCart(t, "shared cart after one more item", p.carts["shared"],
				shopCart{user: "grace", items: map[string]int{"coffee": 2, "croissant": 1}})
		})
	}
}

func TestDemoShopRefusesCrossSitePosts(t *testing.T) {
	s := startDemo(t, 2)
	b := newShopBrowser(t, s.lbURL)
	p := b.get()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.lbURL+"/shop/cart/add?item=tea",
		strings.NewReader(url.Values{session.CSRFTokenField: {p.csrf}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, body := b.do(req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: status %d, want 403: %s", resp.StatusCode, body)
	}
	if got := b.get().carts["shared"]; len(got.items) != 0 {
		t.Errorf("shared cart after a refused POST = %v, want empty", got.items)
	}
}

func TestDemoShopInBrowser(t *testing.T) {
	s := startDemo(t, 2)
	p := parseShopPage(t, testsupport.NewBrowser(t).DumpDOM(s.lbURL+"/shop", time.Second))
	if !strings.HasPrefix(p.servedBy, "app-") {
		t.Errorf("shop served by %q, want a demo target", p.servedBy)
	}
	empty := shopCart{items: map[string]int{}}
	assertShopCart(t, "memory cart", p.carts["memory"], empty)
	assertShopCart(t, "shared cart", p.carts["shared"], empty)
	if p.csrf == "" {
		t.Error("the shop's forms carry no CSRF token")
	}
}

func TestDemoBadStore(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := cmdDemo([]string{"-store", "ftp://demo:hunter2@example.com/sessions", "-targets", "1",
		"-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-control", "127.0.0.1:0", "-target-port", "0"}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	msg := stderr.String()
	if !strings.Contains(msg, "-store ftp://demo:xxxxx@example.com/sessions") || !strings.Contains(msg, "is not a session store") {
		t.Errorf("stderr = %q, want it to name the redacted URL and say it is not a session store", msg)
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("stderr shows the password: %q", msg)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "memory", in: "memory", want: "memory"},
		{name: "absolute file", in: "file:/tmp/demo.db", want: "file:/tmp/demo.db"},
		{name: "relative file", in: "file:demo.db", want: "file:demo.db"},
		{name: "redis without password", in: "redis://127.0.0.1:6379", want: "redis://127.0.0.1:6379"},
		{name: "redis with password", in: "redis://:s3cret@127.0.0.1:6379/2", want: "redis://:xxxxx@127.0.0.1:6379/2"},
		{name: "unparsable", in: "postgres://u:s3cret@[::1/db", want: "postgres:…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactURL(tt.in); got != tt.want {
				t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestDemoTokens walks the demo's API path as its help text does: log in
// as the demo user, call /orders with the access token (the target learns
// who it is), without it (401, no target touched), and after logging out
// everywhere (401 at once).
func TestDemoTokens(t *testing.T) {
	s := startDemo(t, 2)
	tokensURL := "http://" + s.in.toks.Addr().String()
	code, login := postTokens(t, tokensURL+"/api/v1/login", "application/json",
		`{"username":"`+demoUser+`","password":"`+demoPassword+`"}`, "")
	at, _ := login["access_token"].(string)
	if code != 200 || at == "" {
		t.Fatalf("demo login: %d %v", code, login)
	}
	req, _ := http.NewRequest("GET", s.lbURL+"/orders", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"tenant":"demo"`) || !strings.Contains(string(body), `"scope":"orders:read"`) {
		t.Fatalf("/orders with the token: %d %s", resp.StatusCode, body)
	}
	if code, _ := apiGet(t, s.lbURL+"/orders", ""); code != 401 {
		t.Errorf("/orders without a token: %d, want 401", code)
	}
	if code, _ := postTokens(t, tokensURL+"/api/v1/logout", "application/json", `{"everywhere":true}`, at); code != 200 {
		t.Fatalf("logout everywhere: %d", code)
	}
	if code, _ := apiGet(t, s.lbURL+"/orders", at); code != 401 {
		t.Errorf("/orders after logout everywhere: %d, want 401", code)
	}
}

// The demo's edge cache keeps the static file and passes the pages: a
// browser stays on one target through it, and the shop's login and forms
// work through it as they do on the load balancer.
func TestDemoEdge(t *testing.T) {
	s := startDemo(t, 3)
	get := func(c *http.Client, path string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(s.edgeURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	first, logo := get(http.DefaultClient, "/static/tether.svg")
	second, again := get(http.DefaultClient, "/static/tether.svg")
	if first.StatusCode != 200 || !strings.Contains(first.Header.Get("Cache-Status"), "stored") ||
		!strings.HasPrefix(second.Header.Get("Cache-Status"), "cdn; hit") || again != logo || !strings.HasPrefix(logo, "<svg") {
		t.Errorf("static file: %d, Cache-Status %q then %q; want stored, then a hit with the same body",
			first.StatusCode, first.Header.Get("Cache-Status"), second.Header.Get("Cache-Status"))
	}

	browser := testsupport.Client(t)
	var served []string
	for range 4 {
		resp, _ := get(browser, "/")
		served = append(served, resp.Header.Get("X-Tether-Target"))
		if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, "fwd=bypass") {
			t.Errorf("page: Cache-Status %q, want it passed (fwd=bypass)", cs)
		}
	}
	for _, id := range served {
		if id != served[0] || !strings.HasPrefix(id, "app-") {
			t.Fatalf("one browser through the edge was served by %v, want one target", served)
		}
	}

	b := newShopBrowser(t, s.edgeURL)
	p := b.get()
	p = b.submit(p, "/shop/login", url.Values{"user": {"ada"}})
	p = b.submit(p, "/shop/cart/add?item=coffee", nil)
	assertShopCart(t, "shared cart through the edge", p.carts["shared"], shopCart{user: "ada", items: map[string]int{"coffee": 1}})
}

// The banner's kill, revive and drain examples name targets this run has:
// with -targets 1, there is no app-2 to drain.
func TestDemoHelpNamesRealTargets(t *testing.T) {
	one := []*demo.Target{demo.NewTarget("app-1", "127.0.0.1:9001", "#000", slog.New(slog.DiscardHandler))}
	var out strings.Builder
	printDemoHelp(&out, demoFlags{listen: "127.0.0.1:8080", control: "127.0.0.1:8081"}, one)
	if strings.Contains(out.String(), "app-2") || !strings.Contains(out.String(), "targets/app-1/drain") {
		t.Errorf("the banner of a one-target demo names app-2 or drains no app-1:\n%s", out.String())
	}
}
