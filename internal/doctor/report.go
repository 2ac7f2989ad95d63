package doctor

import (
	"cmp"
	"slices"
)

// Severity is how bad a finding is: error, warn or info.
type Severity string

// Severities, from worst.
const (
	SevError Severity = "error"
	SevWarn  Severity = "warn"
	SevInfo  Severity = "info"
)

func (s Severity) rank() int {
	switch s {
	case SevError:
		return 0
	case SevWarn:
		return 1
	}
	return 2
}

// Finding is one rule that fired on one behavior, group or setting.
type Finding struct {
	// Rule is the rule's ID, such as CF-STICKY-004.
	Rule string `json:"rule"`
	// Severity is error, warn or info.
	Severity Severity `json:"severity"`
	// Subject names what the finding is about: a behavior
	// ("distribution.json CacheBehaviors[0] /api/*"), a target group or a
	// setting.
	Subject string `json:"subject"`
	// Behavior locates the behavior, when the finding is about one.
	Behavior *BehaviorRef `json:"behavior,omitempty"`
	// Evidence says what in the input made the rule fire.
	Evidence string `json:"evidence"`
	// Why is the rule's one-line reason.
	Why string `json:"why"`
	// Fix is what to change.
	Fix string `json:"fix"`
	// Refs are documents that back the rule.
	Refs []string `json:"refs,omitempty"`

	dist, index int // sort keys: distribution and behavior order
}

// BehaviorRef locates a behavior.
type BehaviorRef struct {
	// Distribution is the export's file name or edges[i](name).
	Distribution string `json:"distribution"`
	// Ref is CacheBehaviors[i], DefaultCacheBehavior or
	// edges[i](name).behaviors[j].
	Ref string `json:"ref"`
	// Index is the position in evaluation order, from 0.
	Index int `json:"index"`
	// Path is the path pattern; "*" for the default behavior.
	Path string `json:"path"`
	// Default marks the default behavior.
	Default bool `json:"default,omitempty"`
}

// Report is the result of running every rule on a model.
type Report struct {
	// Source is the input: a config file or an export directory.
	Source string `json:"source"`
	// Input is the kind of input: "tether" or "aws".
	Input string `json:"input"`
	// Findings, worst first; within a severity by distribution, behavior
	// position and rule ID, then the findings about groups and settings.
	Findings []Finding `json:"findings"`
	// Summary counts findings by severity and what was checked.
	Summary Summary `json:"summary"`
	// InputErrors, when there are any, say why the input could not be
	// used (an invalid config, an unreadable or unrecognised file, an
	// ambiguous pairing); no rule ran, and the exit code is 2.
	InputErrors []string `json:"input_errors,omitempty"`
}

// Unusable is the report on an input that could not be used: no
// findings, and problems as InputErrors.
func Unusable(source, input string, problems []string) *Report {
	return &Report{Source: source, Input: input, Findings: []Finding{}, InputErrors: problems}
}

// Summary counts a report's findings.
type Summary struct {
	Errors        int `json:"errors"`
	Warnings      int `json:"warnings"`
	Infos         int `json:"infos"`
	Distributions int `json:"distributions"`
	Behaviors     int `json:"behaviors"`
	Rules         int `json:"rules"`
}

// ExitCode is 2 when there is an error, 1 when there is a warning, and 0
// otherwise (infos alone are clean).
func (r *Report) ExitCode() int {
	switch {
	case len(r.InputErrors) > 0:
		return 2
	case r.Summary.Errors > 0:
		return 2
	case r.Summary.Warnings > 0:
		return 1
	}
	return 0
}

// Has reports whether rule id fired.
func (r *Report) Has(id string) bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Rule == id })
}

// Run runs every rule that applies to the model's input and returns the
// report. It does no I/O.
func Run(m *Model) *Report {
	rep := &Report{Source: m.Source, Input: m.Kind, Findings: []Finding{}}
	rules := Rules()
	for i := range rules {
		r := &rules[i]
		if r.Input != "" && r.Input != m.Kind {
			continue
		}
		rep.Summary.Rules++
		view := m
		if r.SafeMitigated {
			view = m.withoutSafe()
		}
		r.check(view, func(h hit) { rep.Findings = append(rep.Findings, r.finding(m, h)) })
	}
	slices.SortStableFunc(rep.Findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Severity.rank(), b.Severity.rank()),
			cmp.Compare(a.dist, b.dist), cmp.Compare(a.index, b.index), cmp.Compare(a.Rule, b.Rule))
	})
	for _, f := range rep.Findings {
		switch f.Severity {
		case SevError:
			rep.Summary.Errors++
		case SevWarn:
			rep.Summary.Warnings++
		default:
			rep.Summary.Infos++
		}
	}
	rep.Summary.Distributions = len(m.Distributions)
	for _, d := range m.Distributions {
		rep.Summary.Behaviors += len(d.Behaviors)
	}
	return rep
}

// withoutSafe returns a shallow copy of m without tether edges in safe
// mode, for the rules whose problem safe mode's guardrails prevent.
func (m *Model) withoutSafe() *Model {
	v := *m
	v.Distributions = slices.DeleteFunc(slices.Clone(m.Distributions), (*Distribution).Safe)
	return &v
}

// finding builds the finding of rule r for hit h.
func (r *Rule) finding(m *Model, h hit) Finding {
	f := Finding{Rule: r.ID, Severity: r.Severity, Subject: h.subject, Evidence: h.evidence,
		Why: r.Why, Fix: r.Fix, Refs: r.Refs, dist: len(m.Distributions), index: -1}
	if m.Kind == KindTether && r.TetherFix != "" {
		f.Fix = r.TetherFix
	}
	if h.b != nil {
		f.Subject = h.d.Name + " " + h.b.Ref + " " + h.b.Path
		f.Behavior = &BehaviorRef{Distribution: h.d.Name, Ref: h.b.Ref, Index: h.b.Index, Path: h.b.Path, Default: h.b.Default}
		f.dist, f.index = slices.Index(m.Distributions, h.d), h.b.Index
	} else if h.d != nil {
		f.Subject = h.d.Name
		f.dist = slices.Index(m.Distributions, h.d)
	}
	return f
}
