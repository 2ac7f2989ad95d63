package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/tetherlb/tether/internal/config"
)

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "tether.yaml", "config `file` to validate")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: tether check -c FILE\n\nValidate a config file without starting anything. Every problem is printed,\none per line, naming the key, the bad value and what is allowed; the exit\ncode is 1 if there is any.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return helpExit(err)
	}
	if !noArgs(fs, stderr, "give the config file with -c FILE") {
		return 2
	}
	cfg, err := config.Load(*file)
	if err != nil {
		printProblems(stderr, *file, err)
		return 1
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	groups, targets := len(cfg.TargetGroups), 0
	for _, g := range cfg.TargetGroups {
		targets += len(g.Targets)
	}
	fmt.Fprintf(stdout, "%s: ok (%s, %s, %s)\n", *file, plural(len(cfg.Listeners), "listener"),
		plural(groups, "target group"), plural(targets, "target"))
	return 0
}

// printProblems prints each problem of a config error on its own line.
func printProblems(w io.Writer, file string, err error) {
	probs := config.Problems(err)
	noun := "problems"
	if len(probs) == 1 {
		noun = "problem"
	}
	fmt.Fprintf(w, "%s: %d %s:\n", file, len(probs), noun)
	for _, p := range probs {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}

// plural formats n with its noun: "1 target", "3 targets".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
