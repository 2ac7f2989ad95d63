package edge_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/edge"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// A reload swaps in new behaviors at once and keeps what the cache holds;
// what it cannot change on a running edge it says, and the edge keeps
// running as it was.
func TestReloadSwapsBehaviorsAndKeepsTheCache(t *testing.T) {
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "object "+r.URL.Path)
	}))
	defer origin.Close()
	addr := ts.DeadAddress(t)
	edgeYAML := func(ttl, maxBytes, address string) string {
		return `admin: {address: "off"}
listeners: [{name: web, address: 127.0.0.1:0, default_target_group: app}]
target_groups: [{name: app, targets: [{id: a, address: 127.0.0.1:1}]}]
edges:
  - name: cdn
    address: ` + address + `
    max_bytes: ` + maxBytes + `
    origin: {url: ` + origin.URL + `}
    behaviors:
      - path: "*"
        cache: {min_ttl: 0s, default_ttl: ` + ttl + `, max_ttl: 8760h}
`
	}
	parse := func(y string) *config.Config {
		cfg, err := config.Parse([]byte(y), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	s, err := edge.Start(parse(edgeYAML("1h", "64MiB", addr)), edge.StartOptions{Addr: func(string) net.Addr { return nil },
		Registerer: prometheus.NewRegistry(), Clock: clock.Real{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("Cache-Status")
	}
	get("/a")
	if cs := get("/a"); !isHit(cs) {
		t.Fatalf("before the reload /a is not a hit: %s", cs)
	}

	// The default TTL drops to 0: new objects are no longer stored, and /a,
	// stored before, is still served from the cache.
	running, notes := s.Reload(parse(edgeYAML("0s", "64MiB", addr)))
	if len(notes) != 0 || len(running) != 1 || running[0].Behaviors[0].Cache.DefaultTTL.D() != 0 {
		t.Fatalf("reload: running %+v, notes %q", running, notes)
	}
	if cs := get("/a"); !isHit(cs) {
		t.Errorf("after the reload the cache was lost: /a is %s", cs)
	}
	get("/b")
	if cs := get("/b"); isHit(cs) {
		t.Errorf("after the reload to default_ttl 0s, /b was stored: %s", cs)
	}
	// Invalidations through Refs reach the running edge.
	if n := s.Refs()["cdn"].Invalidate("", []string{"/a"}); n != 1 {
		t.Errorf("invalidation after the reload removed %d objects, want 1", n)
	}

	// A new max_bytes starts a new cache; a new address waits for a restart.
	get("/c")
	s.Reload(parse(edgeYAML("1h", "64MiB", addr)))
	get("/c")
	_, notes = s.Reload(parse(edgeYAML("1h", "32MiB", addr)))
	if len(notes) != 0 {
		t.Errorf("notes: %q", notes)
	}
	if cs := get("/c"); isHit(cs) {
		t.Errorf("after max_bytes changed, /c came from the old cache: %s", cs)
	}
	running, notes = s.Reload(parse(edgeYAML("1h", "32MiB", "127.0.0.1:1")))
	if len(notes) != 1 || !strings.Contains(notes[0], "restart tether") || running[0].Address != addr {
		t.Errorf("an address change: running %s, notes %q; want the old address and a note", running[0].Address, notes)
	}
	if cs := get("/c"); cs == "" {
		t.Error("the edge stopped answering after a refused address change")
	}
	withSendTimeout := strings.Replace(edgeYAML("1h", "32MiB", addr), "    max_bytes:", "    send_timeout: 5s\n    max_bytes:", 1)
	running, notes = s.Reload(parse(withSendTimeout))
	if len(notes) != 1 || !strings.Contains(notes[0], "send_timeout needs a restart") || running[0].SendTimeout.D() != time.Minute {
		t.Errorf("a send_timeout change: running with %s, notes %q; want the old 1m0s and a note", running[0].SendTimeout.D(), notes)
	}
}

// TestReloadFreesTheReplacedEdge: an edge a reload replaced, and the cache
// it had when max_bytes changed, can be collected; nothing of the running
// listener holds on to it.
func TestReloadFreesTheReplacedEdge(t *testing.T) {
	y := func(maxBytes string) *config.Config {
		cfg, err := config.Parse([]byte(`admin: {address: "off"}
listeners: [{name: web, address: 127.0.0.1:0, default_target_group: app}]
target_groups: [{name: app, targets: [{id: a, address: 127.0.0.1:1}]}]
edges:
  - name: cdn
    address: 127.0.0.1:0
    max_bytes: `+maxBytes+`
    origin: {url: http://127.0.0.1:1}
    behaviors: [{path: "*"}]
`), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	s, err := edge.Start(y("32MiB"), edge.StartOptions{Addr: func(string) net.Addr { return nil },
		Registerer: prometheus.NewRegistry(), Clock: clock.Real{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	first := s.Running("cdn")
	for _, mb := range []string{"64MiB", "32MiB"} {
		if _, notes := s.Reload(y(mb)); len(notes) != 0 {
			t.Fatalf("reload to max_bytes %s: %q", mb, notes)
		}
	}
	for range 5 {
		runtime.GC()
		if first.Value() == nil {
			return
		}
	}
	t.Error("the edge replaced by the reload (and its cache) is still reachable")
}

// TestReloadKeepsCollapsing: a request for a key whose fetch began before
// a reload waits for that fetch, as it would have without the reload,
// rather than send the origin a second one.
func TestReloadKeepsCollapsing(t *testing.T) {
	var fetches atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "slow page")
	}))
	defer origin.Close()
	y := func(debugKey bool) *config.Config {
		cfg, err := config.Parse([]byte(`admin: {address: "off"}
listeners: [{name: web, address: 127.0.0.1:0, default_target_group: app}]
target_groups: [{name: app, targets: [{id: a, address: 127.0.0.1:1}]}]
edges:
  - name: cdn
    address: 127.0.0.1:0
    debug_key: `+strconv.FormatBool(debugKey)+`
    origin: {url: `+origin.URL+`}
    behaviors: [{path: "*", cache: {min_ttl: 0s, default_ttl: 1h, max_ttl: 8760h}}]
`), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	reg := prometheus.NewRegistry()
	s, err := edge.Start(y(false), edge.StartOptions{Addr: func(string) net.Addr { return nil },
		Registerer: reg, Clock: clock.Real{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	url := s.Refs()["cdn"].Status().URL + "/slow"
	done := make(chan string, 2)
	get := func() {
		resp, err := http.Get(url)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}
	go get()
	ts.WaitFor(t, "the first fetch at the origin", func() bool { return fetches.Load() == 1 })
	if _, notes := s.Reload(y(true)); len(notes) != 0 {
		t.Fatalf("reload: %q", notes)
	}
	go get()
	ts.WaitFor(t, "the second request on the new edge, collapsed or at the origin", func() bool {
		return ts.Metric(t, reg, "tether_edge_collapsed_total", nil) == 1 || fetches.Load() == 2
	})
	once.Do(func() { close(release) })
	for range 2 {
		if b := <-done; b != "slow page" {
			t.Errorf("got %q", b)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("the origin got %d fetches of one key across the reload, want 1", n)
	}
}

// isHit reports whether a Cache-Status says the edge answered from its
// cache.
func isHit(cacheStatus string) bool {
	for _, p := range strings.Split(cacheStatus, ";") {
		if strings.TrimSpace(p) == "hit" {
			return true
		}
	}
	return false
}

// TestReloadFollowsOriginListener: when a reload moves the listener an
// edge sends its misses to, and nothing of the edge itself changes, the
// edge follows the listener to its new address.
func TestReloadFollowsOriginListener(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "moved") }))
	defer origin.Close()
	listener := ts.DeadAddress(t) // nothing listens there: the old address
	addrs := map[string]string{"web": listener}
	addr := ts.DeadAddress(t)
	y := edgesYAML(`  - name: cdn
    address: ` + addr + `
    origin: {listener: web}
    behaviors:
      - path: "*"
        cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 0s}
`)
	cfg, err := config.Parse([]byte(y), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(name string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", addrs[name])
		if err != nil {
			return nil
		}
		return a
	}
	s := startEdges(t, y, edge.StartOptions{Addr: lookup})
	get := func() int {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/x")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != http.StatusBadGateway {
		t.Fatalf("before the move: %d, want 502 (nothing at the old address)", code)
	}
	addrs["web"] = strings.TrimPrefix(origin.URL, "http://") // the listener moved
	if _, notes := s.Reload(cfg); len(notes) != 0 {
		t.Fatalf("reload: notes %q", notes)
	}
	if code := get(); code != http.StatusOK {
		t.Errorf("after the listener moved: %d, want 200 from its new address", code)
	}
}
