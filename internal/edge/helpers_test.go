package edge_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/edge"
	"github.com/tetherlb/tether/internal/lb"
)

var epoch = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// origin is a real HTTP server that plays the origin: it records every
// request it gets and answers with the handler a test sets.
type origin struct {
	*httptest.Server
	clk      *clock.Fake
	mu       sync.Mutex
	requests []*http.Request
	handler  http.HandlerFunc
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.requests = append(o.requests, r.Clone(r.Context()))
	h := o.handler
	o.mu.Unlock()
	// Dates come from the test's clock, as a real origin's come from the
	// real one.
	w.Header().Set("Date", o.clk.Now().Format(http.TimeFormat))
	h(w, r)
}

func (o *origin) set(h http.HandlerFunc) {
	o.mu.Lock()
	o.handler = h
	o.mu.Unlock()
}

func (o *origin) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.requests)
}

func (o *origin) last() *http.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.requests) == 0 {
		return nil
	}
	return o.requests[len(o.requests)-1]
}

// answer returns a handler that sends header lines (name: value) and body.
func answer(status int, body string, lines ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for _, l := range lines {
			k, v, _ := strings.Cut(l, ": ")
			w.Header().Add(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// env is an edge in front of an origin, on a fake clock.
type env struct {
	t      *testing.T
	edge   *edge.Edge
	origin *origin
	clk    *clock.Fake
	url    string
	reg    *prometheus.Registry
}

const baseConfig = `
listeners: [{name: web, address: 127.0.0.1:8080, default_target_group: app}]
target_groups: [{name: app, stickiness: {type: lb_cookie}, targets: [{id: a, address: 127.0.0.1:9001}]}]
`

// newEnv starts an edge whose YAML (one item of edges:, without name,
// address and origin) is edgeYAML.
func newEnv(t *testing.T, edgeYAML string) *env {
	t.Helper()
	return newEnvTimeout(t, edgeYAML, edge.OriginTimeout)
}

// newEnvTimeout is newEnv with the origin's read timeout d.
func newEnvTimeout(t *testing.T, edgeYAML string, d time.Duration) *env {
	t.Helper()
	// The origin is reached as tether serve reaches a plain http one: with
	// the load balancer's lean HTTP/1.1 transport.
	tr := lb.NewTransportTimeout(clock.Real{}, d)
	t.Cleanup(tr.CloseIdleConnections)
	return newEnvTransport(t, edgeYAML, tr)
}

// newEnvTransport is newEnv with the origin reached through tr.
func newEnvTransport(t *testing.T, edgeYAML string, tr http.RoundTripper) *env {
	t.Helper()
	clk := clock.NewFake(epoch)
	o := &origin{clk: clk, handler: answer(200, "hello", "Cache-Control: max-age=60")}
	o.Server = httptest.NewServer(o)
	t.Cleanup(o.Close)
	y := baseConfig + "edges:\n  - name: edge\n    address: 127.0.0.1:8000\n    origin: {url: " + o.URL + "}\n" + indent(edgeYAML, "    ")
	cfg, err := config.Parse([]byte(y), ".")
	if err != nil {
		t.Fatalf("config:\n%s\n%v", y, err)
	}
	reg := prometheus.NewRegistry()
	e, err := edge.New(cfg.Edges[0], edge.Options{OriginURL: o.URL, Transport: tr, Clock: clk, Metrics: edge.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, edge: e, origin: o, clk: clk, url: serveEdge(t, e), reg: reg}
}

// serveEdge serves e on a loopback port as tether does (edge.Serve: the
// lean loop in front of net/http) and returns its URL.
func serveEdge(t testing.TB, e *edge.Edge) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	shutdown := edge.Serve(ln, e)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}

func indent(s, by string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.Trim(s, "\n"), "\n") {
		b.WriteString(by + l + "\n")
	}
	return b.String()
}

// defaultBehavior is P0 of the spec: Min 0 / Default 86400 / Max 31536000,
// nothing keyed or forwarded.
const defaultBehavior = `
behaviors:
  - path: "*"
    cache: {min_ttl: 0s, default_ttl: 24h, max_ttl: 8760h}
`

// res is a response as a test sees it.
type res struct {
	status int
	body   string
	header http.Header
}

func (r res) cacheStatus() string { return r.header.Get("Cache-Status") }

// do sends method path with header lines (name: value).
func (e *env) do(method, path string, lines ...string) res {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, l := range lines {
		k, v, _ := strings.Cut(l, ": ")
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Add(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return res{resp.StatusCode, string(b), resp.Header}
}

func (e *env) get(path string, lines ...string) res {
	e.t.Helper()
	return e.do("GET", path, lines...)
}

// expect checks that Cache-Status has every fragment: a whole item of it
// ("hit", "stored", "fwd=uri-miss"; "hit" is not "hit-for-miss", nor
// "stored" "stored=?0"), the start of one when the fragment ends with "="
// ("ttl="), or, for a fragment with a space or ";" in it ("edge; hit"),
// that text anywhere.
func expect(t *testing.T, what string, r res, frags ...string) {
	t.Helper()
	for _, f := range frags {
		if !hasStatus(r.cacheStatus(), f) {
			t.Errorf("%s: Cache-Status %q lacks %q", what, r.cacheStatus(), f)
		}
	}
}

func expectNot(t *testing.T, what string, r res, frags ...string) {
	t.Helper()
	for _, f := range frags {
		if hasStatus(r.cacheStatus(), f) {
			t.Errorf("%s: Cache-Status %q has %q", what, r.cacheStatus(), f)
		}
	}
}

// hasStatus reports whether Cache-Status cs has frag, as expect reads it.
func hasStatus(cs, frag string) bool {
	if strings.ContainsAny(frag, " ;") {
		return strings.Contains(cs, frag)
	}
	for item := range strings.FieldsFuncSeq(cs, func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
		if item == frag || strings.HasSuffix(frag, "=") && strings.HasPrefix(item, frag) {
			return true
		}
	}
	return false
}

func fmtSeconds(d time.Duration) string { return fmt.Sprint(int(d / time.Second)) }

// edgesYAML is a config of a listener web, a group app (neither used) and
// the edges of block, a YAML list item or more, indented as under edges:.
func edgesYAML(block string) string {
	return `admin: {address: "off"}
listeners: [{name: web, address: 127.0.0.1:0, default_target_group: app}]
target_groups: [{name: app, targets: [{id: a, address: 127.0.0.1:1}]}]
edges:
` + block
}

// startEdges parses y and starts its edges as tether serve does, with o's
// fields where set (no listener of this process, a registry of its own,
// the real clock and a discarding logger otherwise), stopped at the end
// of the test.
func startEdges(t *testing.T, y string, o edge.StartOptions) *edge.Servers {
	t.Helper()
	cfg, err := config.Parse([]byte(y), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if o.Addr == nil {
		o.Addr = func(string) net.Addr { return nil }
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := edge.Start(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}
