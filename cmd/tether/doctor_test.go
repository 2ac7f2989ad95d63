package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherlb/tether/internal/doctor"
)

func TestDoctorUsage(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "help", args: []string{"doctor", "--help"}, code: 0, stderr: "Usage: tether doctor -c FILE"},
		{name: "help lists the rules", args: []string{"doctor", "-h"}, code: 0, stderr: "error  stickiness cookie not forwarded"},
		{name: "help explains exit codes", args: []string{"doctor", "-h"}, code: 0, stderr: "Exit codes: 0 clean (infos alone are clean), 1 warnings, 2 errors"},
		{name: "no input", args: []string{"doctor"}, code: 2, stderr: "give -c FILE (a tether config) or --aws DIR"},
		{name: "both inputs", args: []string{"doctor", "-c", "a.yaml", "--aws", "dir"}, code: 2, stderr: "not both"},
		{name: "bad format", args: []string{"doctor", "-c", "a.yaml", "--format", "xml"}, code: 2, stderr: `--format "xml" is not allowed (allowed: text, json)`},
		{name: "stray argument", args: []string{"doctor", "-c", "a.yaml", "extra"}, code: 2, stderr: `unexpected argument "extra"`},
		{name: "rule table", args: []string{"doctor", "--rules"}, code: 0, stdout: "ID                 SEVERITY  INPUT"},
		{name: "rules lint nothing", args: []string{"doctor", "--rules", "-c", "a.yaml"}, code: 2, stderr: "--rules prints the rule table and lints nothing"},
		{name: "top-level usage names doctor", args: []string{"help"}, code: 0, stdout: "tether doctor -c FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			if !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stdout = %q\nstderr = %q\nwant %q / %q", stdout, stderr, tt.stdout, tt.stderr)
			}
		})
	}
	_, stdout, _ := runCLI(t, "doctor", "--rules")
	for _, r := range doctor.Rules() {
		if !strings.Contains(stdout, r.ID) {
			t.Errorf("--rules lacks %s", r.ID)
		}
	}
	code, stdout, _ := runCLI(t, "doctor", "--rules", "--format", "json")
	var rules []struct{ ID, Severity, Input, Why, Fix, TetherFix string }
	if err := json.Unmarshal([]byte(stdout), &rules); code != 0 || err != nil || len(rules) != len(doctor.Rules()) {
		t.Fatalf("--rules --format json: exit %d, %d rules, %v:\n%s", code, len(rules), err, stdout)
	}
	for i, r := range doctor.Rules() {
		if got := rules[i]; got.ID != r.ID || got.Severity != string(r.Severity) || got.Why != r.Why || got.Fix == "" || got.Input == "" {
			t.Errorf("--rules --format json: rule %d is %+v, want %s", i, got, r.ID)
		}
	}
}

// doctorWarnOnly is valid and only warns: two targets, no stickiness, no
// session store (TETHER-SESS-001).
const doctorWarnOnly = `
listeners:
  - {name: web, address: 127.0.0.1:8080, default_target_group: app}
target_groups:
  - name: app
    targets:
      - {id: app-1, address: 127.0.0.1:9001}
      - {id: app-2, address: 127.0.0.1:9002}
`

func TestDoctorConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{name: "good example", args: []string{"-c", examplePath("doctor", "good.yaml")}, code: 0, stdout: []string{"no problems found", "0 errors, 0 warnings, 0 infos"}},
		{name: "warnings only", args: []string{"-c", writeFile(t, dir, "warn.yaml", doctorWarnOnly)}, code: 1,
			stdout: []string{"TETHER-SESS-001  target_groups[0](app)", "fix: ", "0 errors, 1 warning, 0 infos"}},
		{name: "broken example", args: []string{"-c", examplePath("doctor", "broken.yaml")}, code: 2,
			stdout: []string{"CF-STICKY-004  edges[0](cdn) behaviors[1] /account/*", "TETHER-AUTH-001", "TETHER-COOKIE-001", "TETHER-STICKY-002", "TETHER-SESS-002", "CF-ERR-001"}},
		{name: "invalid config", args: []string{"-c", writeFile(t, dir, "bad.yaml", minimalConfig+"edges:\n  - {name: cdn}\n")}, code: 2,
			stderr: "edges[0](cdn).address: is required"},
		{name: "missing file", args: []string{"-c", filepath.Join(dir, "nope.yaml")}, code: 2, stderr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"doctor"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr = %q, want %q", stderr, tt.stderr)
			}
		})
	}
}

func TestDoctorAWS(t *testing.T) {
	code, stdout, stderr := runCLI(t, "doctor", "--aws", examplePath("aws", "broken"))
	if code != 2 {
		t.Errorf("broken exports: exit %d, want 2; stderr %s", code, stderr)
	}
	for _, id := range []string{"CF-STICKY-001", "CF-STICKY-002", "CF-STICKY-004", "CF-STICKY-005", "CF-TTL-001", "CF-KEY-001", "CF-KEY-002", "CF-AUTH-001", "CF-PATH-001", "CF-ERR-001"} {
		if !strings.Contains(stdout, id) {
			t.Errorf("broken exports: report lacks %s", id)
		}
	}
	if code, stdout, _ := runCLI(t, "doctor", "--aws", examplePath("aws", "good")); code != 0 || !strings.Contains(stdout, "no problems found") {
		t.Errorf("good exports: exit %d:\n%s", code, stdout)
	}
	dir := t.TempDir()
	writeFile(t, dir, "vpc.json", `{"Vpcs":[]}`)
	code, _, stderr = runCLI(t, "doctor", "--aws", dir)
	if code != 2 || !strings.Contains(stderr, "vpc.json: not a recognised AWS export") || !strings.Contains(stderr, "aws cloudfront get-distribution-config") {
		t.Errorf("unknown export: exit %d, stderr %q", code, stderr)
	}
}

func TestDoctorJSON(t *testing.T) {
	for _, args := range [][]string{{"--aws", examplePath("aws", "broken")}, {"-c", examplePath("doctor", "broken.yaml")}} {
		code, stdout, stderr := runCLI(t, append([]string{"doctor", "--format", "json"}, args...)...)
		if code != 2 {
			t.Errorf("%v: exit %d; stderr %s", args, code, stderr)
		}
		var doc struct {
			Findings []struct {
				Rule, Severity, Fix string
				Behavior            *struct{ Path string }
			}
			Summary struct{ Errors, Warnings, Infos int }
		}
		if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
			t.Fatalf("%v: not JSON: %v\n%s", args, err, stdout)
		}
		if doc.Summary.Errors == 0 || len(doc.Findings) != doc.Summary.Errors+doc.Summary.Warnings+doc.Summary.Infos {
			t.Errorf("%v: summary %+v for %d findings", args, doc.Summary, len(doc.Findings))
		}
		if f := doc.Findings[0]; f.Severity != "error" || f.Fix == "" || f.Behavior == nil {
			t.Errorf("%v: first finding %+v, want an error about a behavior", args, f)
		}
	}
}

// TestDoctorJSONUnusableInput: with --format json, an input doctor
// cannot use still gives one JSON document on stdout, with the problems
// as input_errors and no findings, and exit code 2.
func TestDoctorJSONUnusableInput(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "vpc.json", `{"Vpcs":[]}`)
	writeFile(t, dir, "bad.yaml", "listeners: [{name: web}]\n")
	for _, tc := range []struct {
		args  []string
		input string
		want  string
	}{
		{[]string{"--aws", dir}, "aws", "vpc.json: not a recognised AWS export"},
		{[]string{"-c", filepath.Join(dir, "bad.yaml")}, "tether", "listeners[0](web).address: is required"},
	} {
		code, stdout, stderr := runCLI(t, append([]string{"doctor", "--format", "json"}, tc.args...)...)
		var doc struct {
			Source, Input string
			Findings      []any
			InputErrors   []string `json:"input_errors"`
		}
		if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
			t.Fatalf("%v: stdout is not JSON: %v\n%s", tc.args, err, stdout)
		}
		if code != 2 || doc.Input != tc.input || doc.Findings == nil || len(doc.Findings) != 0 ||
			len(doc.InputErrors) == 0 || !strings.Contains(strings.Join(doc.InputErrors, "\n"), tc.want) {
			t.Errorf("%v: exit %d, document %+v; want 2, input %s, findings [], input_errors with %q", tc.args, code, doc, tc.input, tc.want)
		}
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, stderr, tc.want)
		}
	}
}

// examplePath returns the path of a file under examples/.
func examplePath(parts ...string) string {
	return filepath.Join(append([]string{"..", "..", "examples"}, parts...)...)
}
