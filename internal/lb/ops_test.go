package lb_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/config"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// TestSecureCookiesAndCORSTwin: on TLS the token cookies are Secure and the
// cross-site twin is SameSite=None; a trusted proxy's X-Forwarded-Proto
// https counts as TLS, an untrusted one's does not.
func TestSecureCookiesAndCORSTwin(t *testing.T) {
	targets := newTargets(t, 2)
	cert, key := ts.TLSFiles(t)
	y := groupYAML(targets, "    stickiness: {type: lb_cookie, cookie_domain: example.com}\n")
	y = strings.Replace(y, "address: 127.0.0.1:0, default_target_group: app,",
		fmt.Sprintf("address: 127.0.0.1:0, protocol: https, tls: {cert_file: %q, key_file: %q}, default_target_group: app,", cert, key), 1)
	l := ts.StartLB(t, y)
	waitHealthy(t, l, 2)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	url := "https://" + l.Addr("web").String() + "/"
	_, code, resp := get(t, c, url)
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	main, twin := setCookie(resp, "TETHER"), setCookie(resp, "TETHERCORS")
	for _, want := range []string{"Secure", "SameSite=Lax", "HttpOnly", "Domain=example.com"} {
		if !strings.Contains(main, want) {
			t.Errorf("TETHER cookie %q lacks %s", main, want)
		}
	}
	for _, want := range []string{"Secure", "SameSite=None", "HttpOnly"} {
		if !strings.Contains(twin, want) {
			t.Errorf("TETHERCORS cookie %q lacks %s", twin, want)
		}
	}
	// A credentialed cross-site request carries only the twin; it still sticks.
	val := strings.TrimPrefix(strings.Split(twin, ";")[0], "TETHERCORS=")
	first := resp.Header.Get("X-Tether-Target")
	for i := 0; i < 5; i++ {
		if id, _, _ := get(t, c, url, "Cookie", "TETHERCORS="+val); id != first {
			t.Fatalf("twin cookie: served by %s, want %s", id, first)
		}
	}
}

func TestForwardedProtoFromTrustedProxyOnly(t *testing.T) {
	targets := newTargets(t, 1)
	for _, tc := range []struct {
		trusted string
		secure  bool
	}{{"127.0.0.1", true}, {"10.0.0.0/8", false}} {
		y := strings.Replace(groupYAML(targets, "    stickiness: {type: lb_cookie}\n"), "[10.0.0.0/8]", "["+tc.trusted+"]", 1)
		l := ts.StartLB(t, y)
		_, _, resp := get(t, plainClient(), l.URL+"/", "X-Forwarded-Proto", "https")
		if got := strings.Contains(setCookie(resp, "TETHER"), "Secure"); got != tc.secure {
			t.Errorf("trusted=%s: Secure=%v, want %v", tc.trusted, got, tc.secure)
		}
		if got := setCookie(resp, "TETHERCORS") != ""; got != tc.secure {
			t.Errorf("trusted=%s: CORS twin=%v, want %v", tc.trusted, got, tc.secure)
		}
	}
}

// TestReloadKeepsBindings: a reload that adds a target moves nobody; a
// reload that removes the bound target drains it for the delay.
func TestReloadKeepsBindings(t *testing.T) {
	targets := newTargets(t, 4)
	extra := "    deregistration_delay: 30s\n    stickiness: {type: lb_cookie}\n"
	l := ts.StartLB(t, groupYAML(targets[:3], extra))
	waitHealthy(t, l, 3)
	clients := make([]*http.Client, 12)
	bound := make([]string, 12)
	for i := range clients {
		clients[i] = ts.Client(t)
		bound[i], _, _ = get(t, clients[i], l.URL+"/")
	}
	reload := func(tg []*ts.Target) {
		t.Helper()
		cfg, err := config.Parse([]byte(groupYAML(tg, extra)), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Reload(cfg, l.Ring); err != nil {
			t.Fatal(err)
		}
	}
	reload(targets) // add t4
	for i, c := range clients {
		if id, _, _ := get(t, c, l.URL+"/"); id != bound[i] {
			t.Fatalf("client %d moved from %s to %s after a reload that only added a target", i, bound[i], id)
		}
	}
	// Remove t1: its clients stay for the deregistration delay, then move.
	reload(targets[1:])
	for i, c := range clients {
		if id, code, _ := get(t, c, l.URL+"/"); id != bound[i] || code != 200 {
			t.Fatalf("client %d: %s (%d) while its removed target drains, want %s", i, id, code, bound[i])
		}
	}
	for i := 0; i < 8; i++ {
		if id, _, _ := get(t, ts.Client(t), l.URL+"/"); id == "t1" {
			t.Fatal("a new client reached the removed target")
		}
	}
	l.Clock.Advance(31 * time.Second)
	for i, c := range clients {
		id, code, _ := get(t, c, l.URL+"/")
		if code != 200 || id == "t1" || (bound[i] != "t1" && id != bound[i]) {
			t.Fatalf("after the delay client %d (was %s) got %s (%d)", i, bound[i], id, code)
		}
	}
	l.Sweep()
	for _, st := range l.Snapshot()[0].Targets {
		if st.ID == "t1" {
			t.Errorf("removed target still listed after its drain: %+v", st)
		}
	}
	reload(targets) // t1 comes back: in service, not draining
	if st := l.Snapshot()[0].Targets[0]; st.ID != "t1" || st.State == "draining" || st.State == "drained" {
		t.Errorf("re-added target: %+v", st)
	}
}

func TestSlowStart(t *testing.T) {
	targets := newTargets(t, 2)
	l := ts.StartLB(t, groupYAML(targets, "    slow_start: 100s\n"))
	waitHealthy(t, l, 2)
	weight := func() float64 { return l.Snapshot()[0].Targets[0].Effective }
	if w := weight(); w != 1 {
		t.Fatalf("at start effective weight %v, want 1 (no slow start at startup)", w)
	}
	targets[0].HealthStatus.Store(500)
	// The next check fails. The checker may still be recording its last
	// result when the clock first moves, so the clock moves until it has.
	l.AdvanceUntil(t, time.Second, "t1 unhealthy", func() bool { return l.Snapshot()[0].Targets[0].State == "unhealthy" })
	targets[0].HealthStatus.Store(0)
	// Slow start begins at the step that found t1 healthy; a step the
	// checker missed comes before it, and so does not count.
	l.AdvanceUntil(t, time.Second, "t1 healthy", func() bool { return l.Snapshot()[0].Targets[0].State == "healthy" })
	w0 := weight()
	l.Clock.Advance(50 * time.Second)
	w50 := weight()
	l.Clock.Advance(60 * time.Second)
	w110 := weight()
	if w0 > 0.05 || w50 < 0.45 || w50 > 0.55 || w110 != 1 {
		t.Errorf("slow start weights %.2f, %.2f, %.2f; want ~0, ~0.5, 1", w0, w50, w110)
	}
}

func TestDeadAtStartIsUnhealthyNotFatal(t *testing.T) {
	live := ts.NewTarget(t, "live")
	dead := &ts.Target{ID: "dead", Addr: ts.DeadAddress(t)}
	l := ts.StartLB(t, groupYAML([]*ts.Target{dead, live}, ""))
	ts.WaitFor(t, "dead target unhealthy", func() bool { return l.Snapshot()[0].Targets[0].State == "unhealthy" })
	for i := 0; i < 4; i++ {
		if id, code, _ := get(t, plainClient(), l.URL+"/"); id != "live" || code != 200 {
			t.Fatalf("got %s %d", id, code)
		}
	}
}

// TestBindingsAndSkew: the bindings gauge counts bound clients per target
// and the skew gauge is max/mean.
func TestBindingsAndSkew(t *testing.T) {
	targets := newTargets(t, 3)
	l := ts.StartLB(t, groupYAML(targets, "    stickiness: {type: lb_cookie}\n"))
	waitHealthy(t, l, 3)
	for i := 0; i < 30; i++ {
		c := ts.Client(t)
		get(t, c, l.URL+"/")
		get(t, c, l.URL+"/")
	}
	l.Sweep()
	total := 0.0
	for _, tg := range targets {
		n := ts.Metric(t, l.Registry(), "tether_affinity_bindings", map[string]string{"target": tg.ID})
		if n != 10 {
			t.Errorf("bindings{%s} = %v, want 10 (round robin over 30 clients)", tg.ID, n)
		}
		total += n
	}
	if skew := ts.Metric(t, l.Registry(), "tether_affinity_skew", map[string]string{"group": "app"}); skew != 1 {
		t.Errorf("skew = %v, want 1", skew)
	}
	if skew := l.Snapshot()[0].Skew; skew != 1 {
		t.Errorf("admin snapshot affinity_skew = %v, want 1, as the gauge", skew)
	}
	var snapTotal int64
	for _, st := range l.Snapshot()[0].Targets {
		snapTotal += st.Bindings
	}
	if float64(snapTotal) != total {
		t.Errorf("admin snapshot bindings %d, metrics %v", snapTotal, total)
	}
}

func TestAccessLog(t *testing.T) {
	targets := newTargets(t, 2)
	var buf ts.SyncBuffer
	l := ts.StartLB(t, groupYAML(targets, "    stickiness: {type: lb_cookie}\n"), ts.WithAccessLog(&buf))
	waitHealthy(t, l, 2)
	c := ts.Client(t)
	get(t, c, l.URL+"/secret-path?token=abc")
	get(t, c, l.URL+"/")
	get(t, c, l.URL+"/cart;jsessionid=S3SS10N/items") // a servlet container's session ID in a path parameter
	ts.WaitFor(t, "three log lines", func() bool { return strings.Count(buf.String(), "\n") >= 3 })
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var first, second map[string]any
	json.Unmarshal([]byte(lines[0]), &first)
	json.Unmarshal([]byte(lines[1]), &second)
	if first["affinity"] != "new" || second["affinity"] != "kept" || first["status"] != 200.0 || first["target"] == "" {
		t.Errorf("access log lines: %v / %v", first, second)
	}
	if strings.Contains(buf.String(), "token=abc") || strings.Contains(buf.String(), "TETHER=") || strings.Contains(buf.String(), "S3SS10N") {
		t.Errorf("access log leaks a query string, a path parameter or a token: %s", buf.String())
	}
	if !strings.Contains(lines[2], `"path":"/cart;jsessionid=…/items"`) {
		t.Errorf("access log line %s; want the path with the parameter's value left out", lines[2])
	}
}

// TestSkewWeighsTargets: a target of weight 2 holding twice the bindings
// of one of weight 1 is even (skew 1), not "2× the mean".
func TestSkewWeighsTargets(t *testing.T) {
	targets := newTargets(t, 2)
	yaml := strings.Replace(groupYAML(targets, "    stickiness: {type: lb_cookie}\n"),
		fmt.Sprintf("{id: %s, address: %q}", targets[0].ID, targets[0].Addr),
		fmt.Sprintf("{id: %s, address: %q, weight: 2}", targets[0].ID, targets[0].Addr), 1)
	l := ts.StartLB(t, yaml)
	waitHealthy(t, l, 2)
	for range 30 {
		get(t, ts.Client(t), l.URL+"/")
	}
	l.Sweep()
	heavy := ts.Metric(t, l.Registry(), "tether_affinity_bindings", map[string]string{"target": targets[0].ID})
	if heavy != 20 {
		t.Fatalf("bindings of the weight-2 target = %v, want 20 of 30", heavy)
	}
	if skew := ts.Metric(t, l.Registry(), "tether_affinity_skew", map[string]string{"group": "app"}); skew != 1 {
		t.Errorf("skew = %v with bindings 20:10 on weights 2:1, want 1", skew)
	}
}
