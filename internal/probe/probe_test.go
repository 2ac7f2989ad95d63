package probe_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/probe"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// startTether runs tether over three real targets t1..t3 with the given
// stickiness type and returns its URL.
func startTether(t *testing.T, stickiness string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("admin: {address: \"off\"}\nlisteners:\n  - {name: web, address: 127.0.0.1:0, default_target_group: app}\n")
	fmt.Fprintf(&b, "target_groups:\n  - name: app\n    target_header: X-Tether-Target\n    health_check: {enabled: false}\n    stickiness: {type: %s}\n    targets:\n", stickiness)
	for i := 1; i <= 3; i++ {
		tg := ts.NewTarget(t, fmt.Sprintf("t%d", i))
		fmt.Fprintf(&b, "      - {id: %s, address: %q}\n", tg.ID, tg.Addr)
	}
	return ts.StartLB(t, b.String()).URL + "/"
}

// haproxyConfig is HAProxy inserting its own affinity cookie, the way its
// documentation shows, over three real targets named s1..s3 in HAProxy.
func haproxyConfig(t *testing.T) string {
	t.Helper()
	cfg := `global
  maxconn 1000
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend web
  bind ` + ts.HAProxyAddr + `
  default_backend app
backend app
  balance roundrobin
  cookie SRV insert indirect nocache
  http-response set-header X-Served-By %s
`
	for i := 1; i <= 3; i++ {
		tg := ts.NewTarget(t, fmt.Sprintf("t%d", i))
		cfg += fmt.Sprintf("  server s%d %s cookie s%d\n", i, tg.Addr, i)
	}
	return cfg
}

func run(t *testing.T, cfg probe.Config) *probe.Report {
	t.Helper()
	rep, err := probe.Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func cookie(r *probe.Report, name string) (probe.CookieSeen, bool) {
	for _, c := range r.Cookies {
		if c.Name == name {
			return c, true
		}
	}
	return probe.CookieSeen{}, false
}

func warning(r *probe.Report, code, cookie string) (probe.Warning, bool) {
	for _, w := range r.Warnings {
		if w.Code == code && w.Cookie == cookie {
			return w, true
		}
	}
	return probe.Warning{}, false
}

func targetIDs(r *probe.Report) []string {
	var ids []string
	for _, tg := range r.Targets {
		ids = append(ids, tg.ID)
	}
	return ids
}

func TestTetherLBCookieIsSticky(t *testing.T) {
	url := startTether(t, "lb_cookie")
	rep := run(t, probe.Config{URL: url})
	st := rep.Stickiness
	if !rep.OK || st.StickyBrowsers != 20 || st.KeptRequests != 400 || st.Moves != 0 {
		t.Errorf("stickiness = %+v, ok %v; want 20 of 20 browsers, 400 of 400 requests; verdict %q", st, rep.OK, rep.Verdict)
	}
	if got := strings.Join(targetIDs(rep), ","); got != "t1,t2,t3" {
		t.Errorf("targets = %s, want t1,t2,t3", got)
	}
	for _, tg := range rep.Targets {
		if tg.Browsers == 0 {
			t.Errorf("target %s took no browser: %+v", tg.ID, rep.Targets)
		}
	}
	c, ok := cookie(rep, "TETHER")
	if !ok {
		t.Fatalf("cookie TETHER not reported; cookies %+v", rep.Cookies)
	}
	if !c.HTTPOnly || c.SameSite != "Lax" || !c.Affinity || c.RevealsAddress != "" || c.Browsers != 20 {
		t.Errorf("TETHER = %+v, want HttpOnly, SameSite=Lax, an affinity cookie given to 20 browsers, no address", c)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings %+v, want none", rep.Warnings)
	}
	if rep.Failures.Total != 0 || rep.Statuses["200"] != 400 {
		t.Errorf("failures %+v, statuses %v; want none, 400 × 200", rep.Failures, rep.Statuses)
	}
}

func TestTetherWithoutStickinessMovesBrowsers(t *testing.T) {
	url := startTether(t, "none")
	rep := run(t, probe.Config{URL: url, Browsers: 10, Requests: 10})
	st := rep.Stickiness
	if rep.OK || st.StickyBrowsers == st.Browsers || st.Moves == 0 || st.RequestRate >= 1 {
		t.Errorf("stickiness = %+v, ok %v; want moves and a rate below 100%%", st, rep.OK)
	}
	if !strings.HasPrefix(rep.Verdict, "FAIL: ") || !strings.Contains(rep.Verdict, "browsers stayed on one target") {
		t.Errorf("verdict = %q", rep.Verdict)
	}
	if _, ok := warning(rep, probe.WarnNoCookie, ""); !ok {
		t.Errorf("no %s warning; warnings %+v", probe.WarnNoCookie, rep.Warnings)
	}
}

func TestHAProxyCookieInsert(t *testing.T) {
	addr := ts.StartHAProxy(t, haproxyConfig(t))
	rep := run(t, probe.Config{URL: "http://" + addr + "/", TargetHeader: "X-Served-By"})
	if !rep.OK || rep.Stickiness.StickyBrowsers != 20 {
		t.Errorf("stickiness = %+v; want every browser sticky; verdict %q", rep.Stickiness, rep.Verdict)
	}
	if got := strings.Join(targetIDs(rep), ","); got != "s1,s2,s3" {
		t.Errorf("targets = %s, want HAProxy's server names s1,s2,s3", got)
	}
	c, ok := cookie(rep, "SRV")
	if !ok || c.HTTPOnly || !c.Affinity || c.SetCount != 20 {
		t.Errorf("SRV = %+v (found %v); want an affinity cookie without HttpOnly, set once per browser", c, ok)
	}
	if _, ok := warning(rep, probe.WarnAffinityNoHTTPOnly, "SRV"); !ok {
		t.Errorf("no HttpOnly warning for SRV; warnings %+v", rep.Warnings)
	}
	if _, ok := warning(rep, probe.WarnChurn, "SRV"); ok {
		t.Errorf("SRV reported as churning; HAProxy sets it once")
	}
}

func TestTargetHeaderMissing(t *testing.T) {
	tg := ts.NewTarget(t, "app-1") // names itself in X-Served-By, not X-Tether-Target
	rep := run(t, probe.Config{URL: "http://" + tg.Addr + "/", Browsers: 2, Requests: 3})
	if rep.OK || rep.Stickiness.Unidentified != 6 || rep.Stickiness.StickyBrowsers != 0 {
		t.Errorf("stickiness = %+v, ok %v; want 6 unidentified responses, not ok", rep.Stickiness, rep.OK)
	}
	w, ok := warning(rep, probe.WarnTargetHeaderMissing, "")
	if !ok || !strings.Contains(w.Message, "--target-header") {
		t.Errorf("warning %+v (found %v), want one naming --target-header", w, ok)
	}
	if !strings.Contains(rep.Verdict, "--target-header") {
		t.Errorf("verdict %q does not name --target-header", rep.Verdict)
	}
}

func TestFailures(t *testing.T) {
	tg := ts.NewTarget(t, "app-1")
	tests := []struct {
		name      string
		url       string
		transport int
		server    int
		errorKind string
		status    string
	}{
		{name: "status 503", url: "http://" + tg.Addr + "/status?code=503", server: 4, status: "503"},
		{name: "connection refused", url: "http://" + ts.DeadAddress(t) + "/", transport: 4, errorKind: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := run(t, probe.Config{URL: tt.url, Browsers: 2, Requests: 2, TargetHeader: "X-Served-By"})
			f := rep.Failures
			if rep.OK || f.Total != tt.transport+tt.server || f.Transport != tt.transport || f.ServerError != tt.server {
				t.Errorf("failures = %+v, ok %v; want %d transport, %d server errors", f, rep.OK, tt.transport, tt.server)
			}
			if tt.errorKind != "" && f.Errors[tt.errorKind] != tt.transport {
				t.Errorf("errors = %v, want %d × %q", f.Errors, tt.transport, tt.errorKind)
			}
			if tt.status != "" && rep.Statuses[tt.status] != 4 {
				t.Errorf("statuses = %v, want 4 × %s", rep.Statuses, tt.status)
			}
			if !strings.Contains(rep.Verdict, "failed") {
				t.Errorf("verdict %q does not say requests failed", rep.Verdict)
			}
		})
	}
}

// A server that sets a new session cookie on every response, SameSite=None
// without Secure: the two mistakes that break stickiness in browsers.
func TestCookieChurnAndSameSiteNone(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", "only")
		w.Header().Add("Set-Cookie", "route="+strconv.FormatInt(n.Add(1), 10)+"; Path=/other; HttpOnly; SameSite=None")
	}))
	t.Cleanup(srv.Close)
	rep := run(t, probe.Config{URL: srv.URL, Browsers: 3, Requests: 4, TargetHeader: "X-Served-By"})
	w, ok := warning(rep, probe.WarnChurn, "route")
	if !ok || !strings.Contains(w.Message, "new value each time") {
		t.Errorf("churn warning %+v (found %v), want one about new values", w, ok)
	}
	if _, ok := warning(rep, probe.WarnSameSiteNoneInsecure, "route"); !ok {
		t.Errorf("no SameSite=None warning; warnings %+v", rep.Warnings)
	}
	if c, _ := cookie(rep, "route"); c.SetCount != 12 || c.DistinctValues != 12 || c.Browsers != 3 {
		t.Errorf("route = %+v, want set 12 times with 12 values to 3 browsers", c)
	}
}

func TestHeadersAndMethodReachTheTarget(t *testing.T) {
	tg := ts.NewTarget(t, "app-1")
	h := http.Header{}
	h.Add("X-Probe", "yes")
	h.Add("Host", "shop.example.com")
	run(t, probe.Config{URL: "http://" + tg.Addr + "/", Browsers: 1, Requests: 1, Method: "HEAD", Header: h, TargetHeader: "X-Served-By"})
	last := tg.LastRequest()
	if last == nil || last.Method != "HEAD" || last.Host != "shop.example.com" || last.Header.Get("X-Probe") != "yes" {
		t.Errorf("target got %+v; want HEAD to host shop.example.com with X-Probe: yes", last)
	}
}

func TestInsecureAcceptsSelfSignedCertificates(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", "tls-1")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	rep := run(t, probe.Config{URL: srv.URL, Browsers: 1, Requests: 2, TargetHeader: "X-Served-By"})
	if rep.Failures.Transport != 2 || rep.Failures.Errors["TLS certificate not trusted (use -insecure for a self-signed one)"] != 2 {
		t.Errorf("without -insecure: failures %+v, want 2 untrusted-certificate errors", rep.Failures)
	}
	rep = run(t, probe.Config{URL: srv.URL, Browsers: 1, Requests: 2, TargetHeader: "X-Served-By", Insecure: true})
	if !rep.OK {
		t.Errorf("with -insecure: %s", rep.Verdict)
	}
}

func TestProgressAndInterrupt(t *testing.T) {
	tg := ts.NewTarget(t, "app-1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls []int
	rep, err := probe.Run(ctx, probe.Config{URL: "http://" + tg.Addr + "/", Browsers: 4, Requests: 50, Concurrency: 1, TargetHeader: "X-Served-By"},
		func(done, total int) {
			if total != 200 {
				t.Errorf("total = %d, want 200", total)
			}
			calls = append(calls, done)
			if done == 30 {
				cancel()
			}
		})
	if !errors.Is(err, context.Canceled) || rep == nil || !rep.Interrupted {
		t.Fatalf("Run = %v, %v; want the partial report and context.Canceled", rep, err)
	}
	if rep.Requests != 30 || len(calls) != 30 || calls[29] != 30 {
		t.Errorf("requests %d, progress calls %d; want 30 of each, counting up", rep.Requests, len(calls))
	}
	if rep.OK || !strings.Contains(rep.Verdict, "interrupted after 30 of 200 requests") {
		t.Errorf("verdict %q", rep.Verdict)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  probe.Config
		want []string // fragments of the error; none = valid
	}{
		{name: "defaults", cfg: probe.Config{URL: "http://127.0.0.1:8080/"}},
		{name: "https", cfg: probe.Config{URL: "https://example.com/app?x=1", Browsers: 1, Requests: 1}},
		{name: "no url", cfg: probe.Config{}, want: []string{"url: missing"}},
		{name: "relative url", cfg: probe.Config{URL: "/app"}, want: []string{`"/app" is not absolute`}},
		{name: "ftp", cfg: probe.Config{URL: "ftp://example.com/"}, want: []string{`scheme "ftp"`}},
		{name: "no host", cfg: probe.Config{URL: "http:///x"}, want: []string{"has no host"}},
		{name: "bad escape", cfg: probe.Config{URL: "http://a/%zz"}, want: []string{"does not parse"}},
		{name: "every problem at once", cfg: probe.Config{URL: "http://a/", Browsers: -1, Requests: 20000, Concurrency: -3, Method: "GE T", Timeout: -time.Second, TargetHeader: "a b"},
			want: []string{"browsers: -1 is out of range (allowed 1..10000)", "requests: 20000", "concurrency: -3", `method: "GE T"`, "timeout: -1s", `target-header: "a b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.WithDefaults().Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to contain %q", err, w)
				}
			}
		})
	}
}

// With many browsers the text report lists only those that did not stay.
func TestWriteTextListsOnlyMovedBrowsersWhenMany(t *testing.T) {
	tg := ts.NewTarget(t, "app-1")
	rep := run(t, probe.Config{URL: "http://" + tg.Addr + "/", Browsers: 35, Requests: 2, TargetHeader: "X-Served-By"})
	var b strings.Builder
	rep.WriteText(&b)
	out := b.String()
	for _, want := range []string{
		"browsers that did not stay on one target\n  none\n  (35 sticky browsers not listed; --json lists every browser)\n",
		"  app-1 " + strings.Repeat("█", 30) + "  35 100.0%  (70 requests)\n",
		"cookies\n  none set\n",
		"! no response set a cookie",
		"\nOK: all 35 browsers stayed on one target and none of 70 requests failed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	if len(rep.PerBrowser) != 35 {
		t.Errorf("per_browser has %d entries, want 35", len(rep.PerBrowser))
	}
}
