package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/doctor"
)

const doctorUsage = `Usage: tether doctor -c FILE [--format text|json]
       tether doctor --aws DIR [--format text|json]
       tether doctor --rules [--format text|json]

Lint a CDN edge in front of a sticky load balancer before it loses
stickiness or hands one user's response or cookie to another: cookies
that must reach the load balancer, cookies and headers forwarded but not
keyed, TTLs against stickiness and session lifetimes, behavior order, error
caching, and tether's own cookie, session and affinity settings.

Inputs (one of):
  -c FILE    a tether config: its edges and their behaviors, the listener
             rules and target groups behind each edge, and the sessions
             block. A config that fails validation is reported as
             'tether check' reports it, with exit code 2.
  --aws DIR  real AWS exports, one JSON file each, as the AWS CLI prints
             them; each is recognised by its content, not its name:
               aws cloudfront get-distribution-config --id ID > DIR/site.json
               aws cloudfront get-cache-policy --id ID > DIR/cache-ID.json
               aws cloudfront get-origin-request-policy --id ID > DIR/orp-ID.json
               aws elbv2 describe-target-group-attributes --target-group-arn ARN > DIR/ORIGIN-ID.json
               aws elbv2 describe-rules --listener-arn ARN > DIR/ORIGIN-ID.rules.json
             Managed policies (CachingDisabled, CachingOptimized, AllViewer…)
             need no file. A target group or rules file pairs with the origin
             whose Id is its name (ORIGIN-ID.json, ORIGIN-ID.anything.json);
             otherwise a single file of its kind pairs with every origin on
             *.elb.amazonaws.com. A file of any other shape is an error.

Formats (--format):
  text  (default) findings grouped by severity, errors first; each names the
        behavior (or group, or setting), why it matters, the evidence and
        a "fix:" line; a summary line ends the report
  json  {"source", "input", "findings": [{"rule", "severity", "subject",
        "behavior": {"distribution", "ref", "index", "path", "default"},
        "evidence", "why", "fix", "refs"}], "summary": {"errors",
        "warnings", "infos", "distributions", "behaviors", "rules"}};
        for an input doctor cannot use, no findings and "input_errors":
        ["…"] (the same problems go to stderr)

Exit codes: 0 clean (infos alone are clean), 1 warnings, 2 errors, an
unusable input or a usage error.

Rules ('tether doctor --rules' prints why each matters; docs/doctor.md has
every rule with its fix):
`

func cmdDoctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "tether config `file` to lint")
	dir := fs.String("aws", "", "`directory` of AWS CLI JSON exports to lint")
	format := fs.String("format", "text", "report `format`: text or json")
	rules := fs.Bool("rules", false, "print the rule table (ID, severity, input, why) and exit")
	fs.Usage = func() {
		io.WriteString(stderr, doctorUsage)
		writeRuleList(stderr)
		io.WriteString(stderr, "\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return helpExit(err)
	}
	switch {
	case *rules && (*file != "" || *dir != ""):
		return doctorUsageError(stderr, "--rules prints the rule table and lints nothing: drop -c or --aws")
	case *format != "text" && *format != "json":
		return doctorUsageError(stderr, fmt.Sprintf("--format %q is not allowed (allowed: text, json)", *format))
	case *rules:
		write := doctor.WriteRules
		if *format == "json" {
			write = doctor.WriteRulesJSON
		}
		if err := write(stdout); err != nil {
			fmt.Fprintf(stderr, "tether doctor: %v\n", err)
			return 2
		}
		return 0
	case fs.NArg() > 0:
		return doctorUsageError(stderr, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	case *file != "" && *dir != "":
		return doctorUsageError(stderr, "give -c FILE or --aws DIR, not both")
	case *file == "" && *dir == "":
		return doctorUsageError(stderr, "give -c FILE (a tether config) or --aws DIR (AWS exports)")
	}
	// An input that cannot be used is said on stderr; with --format json,
	// stdout has a report too, with the problems as input_errors, so that
	// a script reading it always gets one document.
	unusable := func(source, input string, err error) int {
		if *format == "json" {
			doctor.Unusable(source, input, config.Problems(err)).WriteJSON(stdout)
		}
		return 2
	}
	var m *doctor.Model
	if *file != "" {
		cfg, err := config.Load(*file)
		if err != nil {
			printProblems(stderr, *file, err)
			return unusable(*file, doctor.KindTether, err)
		}
		m = doctor.FromConfig(cfg, *file)
	} else {
		var err error
		if m, err = doctor.LoadAWS(*dir); err != nil {
			for _, p := range config.Problems(err) {
				fmt.Fprintf(stderr, "tether doctor: %s\n", p)
			}
			return unusable(*dir, doctor.KindAWS, err)
		}
	}
	rep := doctor.Run(m)
	write := rep.WriteText
	if *format == "json" {
		write = rep.WriteJSON
	}
	if err := write(stdout); err != nil {
		fmt.Fprintf(stderr, "tether doctor: %v\n", err)
		return 2
	}
	return rep.ExitCode()
}

func doctorUsageError(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "tether doctor: %s\n\nRun 'tether doctor -h' for help.\n", msg)
	return 2
}

// writeRuleList writes each rule's ID, severity and title, for the help.
func writeRuleList(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range doctor.Rules() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.ID, r.Severity, strings.TrimSpace(r.Title))
	}
	tw.Flush()
}
