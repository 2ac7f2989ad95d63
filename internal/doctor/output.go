package doctor

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// WriteText writes the report for people: a header, one block per finding
// grouped by severity (the behavior or subject, why, evidence and fix), and
// a summary line.
func (r *Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	dist := "distribution"
	if r.Input == KindTether {
		dist = "edge"
	}
	ew.printf("tether doctor: %s: %s, %s, %s\n", printable(r.Source), plural(r.Summary.Distributions, dist),
		plural(r.Summary.Behaviors, "behavior"), plural(r.Summary.Rules, "rule"))
	for _, sev := range []Severity{SevError, SevWarn, SevInfo} {
		var fs []Finding
		for _, f := range r.Findings {
			if f.Severity == sev {
				fs = append(fs, f)
			}
		}
		if len(fs) == 0 {
			continue
		}
		ew.printf("\n%s (%d)\n", heading(sev), len(fs))
		for _, f := range fs {
			ew.printf("\n  %s  %s\n", f.Rule, printable(f.Subject))
			ew.printf("    %s\n", printable(f.Why))
			ew.printf("    evidence: %s\n", printable(f.Evidence))
			ew.printf("    fix: %s\n", printable(f.Fix))
		}
	}
	if len(r.Findings) == 0 {
		ew.printf("\nno problems found\n")
	}
	s := r.Summary
	ew.printf("\n%s, %s, %s\n", plural(s.Errors, "error"), plural(s.Warnings, "warning"), plural(s.Infos, "info"))
	return ew.err
}

// printable returns s with its control characters escaped as Go does in
// strings (\n, \x1b, \u0085): names taken from the input, such as path
// patterns and cookie names, cannot then add lines to the report or
// drive the terminal. JSON escapes them by itself.
func printable(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// WriteJSON writes the report as an indented JSON document:
// {"source", "findings": [...], "summary": {errors, warnings, infos, …}}.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteRules writes the rule table: ID, severity, the inputs it applies
// to, and its one-line why.
func WriteRules(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\tSEVERITY\tINPUT\tWHY\n")
	for _, r := range Rules() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.Severity, r.inputs(), r.Why)
	}
	return tw.Flush()
}

// WriteRulesJSON writes the rules as a JSON list: id, severity, input,
// title, why, fix (for AWS), tether_fix and refs.
func WriteRulesJSON(w io.Writer) error {
	type rule struct {
		ID        string   `json:"id"`
		Severity  Severity `json:"severity"`
		Input     string   `json:"input"`
		Title     string   `json:"title"`
		Why       string   `json:"why"`
		Fix       string   `json:"fix"`
		TetherFix string   `json:"tether_fix"`
		Refs      []string `json:"refs"`
	}
	out := []rule{}
	for _, r := range Rules() {
		out = append(out, rule{ID: r.ID, Severity: r.Severity, Input: r.inputs(), Title: strings.TrimSpace(r.Title), Why: r.Why,
			Fix: r.Fix, TetherFix: cmp.Or(r.TetherFix, r.Fix), Refs: r.Refs})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// inputs names what a rule applies to, as the rule table says it.
func (r Rule) inputs() string {
	switch {
	case r.Input != "":
		return r.Input
	case r.SafeMitigated:
		return "aws, cloudfront-mode edges"
	}
	return "both"
}

func heading(s Severity) string {
	switch s {
	case SevError:
		return "errors"
	case SevWarn:
		return "warnings"
	}
	return "infos"
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// fmtDur formats a TTL as people write it: 0s, 30s, 5m, 24h, 8760h.
func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

// errWriter keeps the first write error so the printing code stays flat.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
