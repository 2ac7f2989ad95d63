package main

import (
	"context"
	"html"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/demo"
	"github.com/tetherlb/tether/internal/testsupport"
)

// demoStack is `tether demo` running in the test process.
type demoStack struct {
	lbURL, controlURL string
	targets           []*demo.Target
	in                *instance
}

// startDemo starts what runDemo starts, on free loopback ports: n demo
// targets, the control API and the load balancer in front of the targets.
// Everything stops when the test ends.
func startDemo(t *testing.T, n int) *demoStack {
	t.Helper()
	// Every address is a port the kernel picks, so parallel test packages
	// never collide; the control URL and the LB's origin are read back.
	f := demoFlags{
		listen: "127.0.0.1:0", admin: "127.0.0.1:0", control: "127.0.0.1:0",
		targets: n, stickiness: "lb_cookie",
	}
	logger := slog.New(slog.DiscardHandler)
	ln, err := net.Listen("tcp", f.control)
	if err != nil {
		t.Fatal(err)
	}
	s := &demoStack{controlURL: "http://" + ln.Addr().String()}
	for i := range n {
		tg := demo.NewTarget("app-"+strconv.Itoa(i+1), "127.0.0.1:0", demoColors[i], logger)
		tg.SetControlURL(s.controlURL)
		if err := tg.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tg.Close() })
		s.targets = append(s.targets, tg)
	}
	cfg, err := demoConfig(f, s.targets, t.TempDir())
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
