package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	ts "github.com/tetherlb/tether/internal/testsupport"
)

// probeTether runs tether over three real targets with the given
// stickiness type and returns its URL.
func probeTether(t *testing.T, stickiness string) string {
	t.Helper()
	y := fmt.Sprintf("admin: {address: \"off\"}\nlisteners:\n  - {name: web, address: 127.0.0.1:0, default_target_group: app}\n"+
		"target_groups:\n  - name: app\n    target_header: X-Tether-Target\n    health_check: {enabled: false}\n    stickiness: {type: %s}\n    targets:\n", stickiness)
	for i := 1; i <= 3; i++ {
		tg := ts.NewTarget(t, fmt.Sprintf("t%d", i))
		y += fmt.Sprintf("      - {id: %s, address: %q}\n", tg.ID, tg.Addr)
	}
	return ts.StartLB(t, y).URL + "/"
}

// lastLine returns the last non-empty line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestProbeTetherLBCookie(t *testing.T) {
	url := probeTether(t, "lb_cookie")
	code, stdout, stderr := runCLI(t, "probe", url)
	if code != 0 {
		t.Errorf("exit code %d, want 0; stdout:\n%s", code, stdout)
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing (not a terminal, no -progress)", stderr)
	}
	for _, want := range []string{
		"sticky browsers  20 of 20 (100.0%)",
		"kept requests    400 of 400 (100.0%), 0 moves",
		"failures         none",
		"TETHER  set on 20 of 400 responses, to 20 browsers",
		"no Secure  HttpOnly  SameSite=Lax  Path=/",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	bars := regexp.MustCompile(`(?m)^  (t[123]) █+ +\d+ +\d+\.\d%  \(\d+ requests\)$`).FindAllStringSubmatch(stdout, -1)
	if len(bars) != 3 {
		t.Errorf("want a histogram bar for each of t1, t2, t3; got %q in:\n%s", bars, stdout)
	}
	if got := lastLine(stdout); got != "OK: all 20 browsers stayed on one target and none of 400 requests failed" {
		t.Errorf("last line = %q", got)
	}
}

func TestProbeTetherWithoutStickiness(t *testing.T) {
	url := probeTether(t, "none")
	// Five browsers, not a multiple of the three targets: were the probe's
	// requests to reach the balancer in the same order every round, six
	// would each meet the same target every time, sticky by accident.
	code, stdout, _ := runCLI(t, "probe", url, "-browsers", "5", "-requests", "6")
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if got := lastLine(stdout); !regexp.MustCompile(`^FAIL: [0-4] of 5 browsers stayed on one target \(\d+\.\d%\), \d+\.\d% kept$`).MatchString(got) {
		t.Errorf("last line = %q, want it to say stickiness is below 100%%", got)
	}
	if !strings.Contains(stdout, "no response set a cookie") {
		t.Errorf("no warning that no cookie was set:\n%s", stdout)
	}
}

func TestProbeHAProxy(t *testing.T) {
	cfg := "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n" +
		"frontend web\n  bind " + ts.HAProxyAddr + "\n  default_backend app\n" +
		"backend app\n  balance roundrobin\n  cookie SRV insert indirect nocache\n  http-response set-header X-Served-By %s\n"
	for i := 1; i <= 3; i++ {
		cfg += fmt.Sprintf("  server s%d %s cookie s%d\n", i, ts.NewTarget(t, fmt.Sprintf("t%d", i)).Addr, i)
	}
	addr := ts.StartHAProxy(t, cfg)
	code, stdout, _ := runCLI(t, "probe", "http://"+addr+"/", "--target-header", "X-Served-By")
	if code != 0 {
		t.Errorf("exit code %d, want 0; stdout:\n%s", code, stdout)
	}
	for _, want := range []string{
		"sticky browsers  20 of 20 (100.0%)",
		"SRV  set on 20 of 400 responses",
		"no Secure  no HttpOnly",
		"! cookie SRV looks like a session or affinity cookie but lacks HttpOnly",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	for _, s := range []string{"s1", "s2", "s3"} {
		if !regexp.MustCompile(`(?m)^  ` + s + ` █+`).MatchString(stdout) {
			t.Errorf("no histogram bar for HAProxy server %s:\n%s", s, stdout)
		}
	}
}

func TestProbeJSON(t *testing.T) {
	url := probeTether(t, "lb_cookie")
	code, stdout, stderr := runCLI(t, "probe", url, "--json", "-browsers", "3", "-requests", "4")
	if code != 0 || stderr != "" {
		t.Fatalf("exit code %d, stderr %q; want 0 and nothing", code, stderr)
	}
	// The field names are a contract (docs/probe.md): decode by name.
	var rep struct {
		OK         bool   `json:"ok"`
		Verdict    string `json:"verdict"`
		Requests   int    `json:"requests"`
		Stickiness struct {
			StickyBrowsers int     `json:"sticky_browsers"`
			BrowserRate    float64 `json:"browser_rate"`
			KeptRequests   int     `json:"kept_requests"`
		} `json:"stickiness"`
		Targets []struct {
			ID       string `json:"id"`
			Browsers int    `json:"browsers"`
		} `json:"targets"`
		PerBrowser []struct {
			Sticky bool     `json:"sticky"`
			Path   []string `json:"path"`
		} `json:"per_browser"`
		Cookies []struct {
			Name     string `json:"name"`
			HTTPOnly bool   `json:"http_only"`
			SameSite string `json:"same_site"`
			MaxAge   *int   `json:"max_age_seconds"`
		} `json:"cookies"`
		Latency map[string]float64 `json:"latency_ms"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if !rep.OK || rep.Requests != 12 || rep.Stickiness.StickyBrowsers != 3 || rep.Stickiness.BrowserRate != 1 || rep.Stickiness.KeptRequests != 12 {
		t.Errorf("report = %+v", rep)
	}
	if len(rep.Targets) != 3 || len(rep.PerBrowser) != 3 || !rep.PerBrowser[0].Sticky || len(rep.PerBrowser[0].Path) != 1 {
		t.Errorf("targets %+v, per_browser %+v", rep.Targets, rep.PerBrowser)
	}
	if len(rep.Cookies) != 1 || rep.Cookies[0].Name != "TETHER" || !rep.Cookies[0].HTTPOnly || rep.Cookies[0].SameSite != "Lax" || rep.Cookies[0].MaxAge == nil {
		t.Errorf("cookies = %+v", rep.Cookies)
	}
	if _, ok := rep.Latency["p99"]; !ok || !strings.Contains(stdout, `"warnings": []`) {
		t.Errorf("latency_ms %v: want p99, and warnings an empty list:\n%s", rep.Latency, stdout)
	}
}

func TestProbeProgress(t *testing.T) {
	tg := ts.NewTarget(t, "app-1")
	code, stdout, stderr := runCLI(t, "probe", "-progress", "-target-header", "X-Served-By", "-browsers", "2", "-requests", "3", "http://"+tg.Addr+"/")
	if code != 0 {
		t.Errorf("exit code %d, want 0 (one target: every browser sticky); stdout:\n%s", code, stdout)
	}
	if !strings.Contains(stderr, "probing [") || !strings.Contains(stderr, "6/6 requests") {
		t.Errorf("stderr = %q, want a progress bar reaching 6/6", stderr)
	}
	if strings.Contains(stdout, "probing [") {
		t.Errorf("progress bar on stdout:\n%s", stdout)
	}
}

func TestProbeUsageErrors(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{name: "no url", args: nil, stderr: "want one URL, got 0"},
		{name: "two urls", args: []string{"http://a/", "http://b/"}, stderr: "want one URL, got 2"},
		{name: "not http", args: []string{"ftp://example.com/"}, stderr: `scheme "ftp" (want http or https)`},
		{name: "no scheme", args: []string{"example.com"}, stderr: `"example.com" is not absolute (want http:// or https:// in front)`},
		{name: "zero browsers", args: []string{"http://a/", "-browsers", "0"}, stderr: "browsers: 0 is out of range (allowed 1..10000)"},
		{name: "every problem", args: []string{"ftp://a/", "-requests", "-1", "-timeout", "-1s"}, stderr: "requests: -1 is out of range"},
		{name: "bad header", args: []string{"http://a/", "-H", "no colon"}, stderr: "want 'Name: value'"},
		{name: "unknown flag", args: []string{"http://a/", "-frobnicate"}, stderr: "flag provided but not defined: -frobnicate"},
		{name: "help", args: []string{"-h"}, stderr: "http-response set-header X-Served-By %s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"probe"}, tt.args...)...)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.stderr)
			}
		})
	}
}
