package doctor

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDoctorExitCode(t *testing.T) {
	tests := []struct {
		name  string
		model func(*testing.T) *Model
		code  int
	}{
		{"clean", cf(), 0},
		{"infos only", cf(path("*.jpg")), 0},
		{"a warning", cf(func(_ *Distribution, b *Behavior) { b.Origin.Restricted = false }), 1},
		{"an error", cf(func(_ *Distribution, b *Behavior) { b.Forward.Cookies = none }), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Run(tt.model(t)).ExitCode(); got != tt.code {
				t.Errorf("exit code %d, want %d", got, tt.code)
			}
		})
	}
}

func TestDoctorWriteText(t *testing.T) {
	m := cf(ttl(0, time.Minute, 24*time.Hour), path("*.jpg"), func(_ *Distribution, b *Behavior) { b.Origin.Restricted = false })(t)
	var buf bytes.Buffer
	if err := Run(m).WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	// Severity groups in order, each finding with its behavior, evidence
	// and a fix line, and the summary last.
	order := []string{"tether doctor: test: 1 distribution, 1 behavior", "errors (", "CF-STICKY-004  d.json CacheBehaviors[0] *.jpg",
		"evidence: ", "fix: ", "warnings (", "CF-ORIGIN-001  d.json", "infos (", "CF-PATH-003"}
	at := 0
	for _, s := range order {
		i := strings.Index(out[at:], s)
		if i < 0 {
			t.Fatalf("output lacks %q after byte %d:\n%s", s, at, out)
		}
		at += i
	}
	if last := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n"):]); !strings.HasSuffix(last, "info") && !strings.HasSuffix(last, "infos") {
		t.Errorf("last line %q is not the summary", last)
	}
	buf.Reset()
	if err := Run(cf()(t)).WriteText(&buf); err != nil || !strings.Contains(buf.String(), "no problems found") || !strings.Contains(buf.String(), "0 errors, 0 warnings, 0 infos") {
		t.Errorf("clean report:\n%s", buf.String())
	}
}

// TestDoctorWriteTextEscapes: a path pattern from the input with line
// breaks and a terminal escape cannot forge report lines or clear the
// screen: its control characters are printed escaped.
func TestDoctorWriteTextEscapes(t *testing.T) {
	forged := "/x\n\nerrors (0)\n\n0 errors, 0 warnings, 0 infos\n\x1b[2J*.jpg"
	m := cf(ttl(0, time.Minute, 24*time.Hour), path(forged), func(_ *Distribution, b *Behavior) { b.Origin.Restricted = false })(t)
	var buf bytes.Buffer
	if err := Run(m).WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "\x1b") || strings.Contains(out, "\n0 errors, 0 warnings") {
		t.Errorf("the pattern's control characters reached the report raw:\n%q", out)
	}
	if !strings.Contains(out, `/x\n\nerrors (0)\n\n0 errors, 0 warnings, 0 infos\n\x1b[2J*.jpg`) {
		t.Errorf("the pattern is not in the report, escaped:\n%s", out)
	}
}

func TestDoctorWriteJSON(t *testing.T) {
	rep := Run(cf(ttl(0, time.Minute, 24*time.Hour))(t))
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Source   string
		Findings []struct {
			Rule, Severity, Subject, Evidence, Why, Fix string
			Refs                                        []string
			Behavior                                    *struct {
				Distribution, Ref, Path string
				Index                   *int
			}
		}
		Summary struct{ Errors, Warnings, Infos, Behaviors int }
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.String())
	}
	if doc.Source != "test" || len(doc.Findings) != len(rep.Findings) || doc.Summary.Errors != rep.Summary.Errors || doc.Summary.Behaviors != 1 {
		t.Errorf("document = %+v", doc)
	}
	for _, f := range doc.Findings {
		if f.Rule == "" || f.Why == "" || f.Fix == "" || f.Evidence == "" || len(f.Refs) == 0 {
			t.Errorf("finding %+v lacks a field", f)
		}
		if f.Severity != "error" && f.Severity != "warn" && f.Severity != "info" {
			t.Errorf("severity %q", f.Severity)
		}
		if b := f.Behavior; b != nil && (b.Distribution != "d.json" || b.Path != "/app/*" || b.Index == nil) {
			t.Errorf("behavior = %+v", b)
		}
	}
	// An empty report still has a findings array, not null.
	buf.Reset()
	if err := Run(cf()(t)).WriteJSON(&buf); err != nil || !strings.Contains(buf.String(), `"findings": []`) {
		t.Errorf("clean JSON report:\n%s", buf.String())
	}
}

func TestDoctorWriteRules(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteRules(&buf); err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules() {
		if !strings.Contains(buf.String(), r.ID) {
			t.Errorf("rule table lacks %s", r.ID)
		}
	}
}
