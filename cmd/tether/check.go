package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tetherlb/tether/internal/certs"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/sessionsvc"
)

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "tether.yaml", "config `file` to validate")
	files := fs.Bool("files", true, "also read the files the config names (certificates, keys, CA bundles, the session API key), as serve does; -files=false lints a config where they are not deployed")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: tether check -c FILE\n\nValidate a config file without starting anything. Every problem is printed,\none per line, naming the key, the bad value and what is allowed; the exit\ncode is 1 if there is any. The files the config names (certificates and\nkeys, CA bundles, the session API key) are read as serve reads them.\n\nFlags:\n")
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
	if *files {
		if probs := checkFiles(cfg); len(probs) > 0 { // what serve would stop on
			printProblems(stderr, *file, errors.Join(probs...))
			return 1
		}
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

// checkFiles reads the files cfg names and that tether serve needs at
// start (certificates and their keys, CA bundles, the session API's key),
// as serve reads them, and returns a problem for each that would stop it.
// Files tether creates on first use (keys.file, file: stores) are not
// checked.
func checkFiles(cfg *config.Config) []error {
	var probs []error
	tlsFiles := func(key string, t *config.TLS) {
		if t == nil {
			return
		}
		if _, err := certs.Load(key+".tls", t, cfg.Dir); err != nil {
			probs = append(probs, err)
		}
	}
	for i, l := range cfg.Listeners {
		tlsFiles(fmt.Sprintf("listeners[%d](%s)", i, l.Name), l.TLS)
	}
	for i, e := range cfg.Edges {
		tlsFiles(fmt.Sprintf("edges[%d](%s)", i, e.Name), e.TLS)
	}
	for i, g := range cfg.TargetGroups {
		if g.TLS == nil || g.TLS.CAFile == "" {
			continue
		}
		key := fmt.Sprintf("target_groups[%d](%s).tls.ca_file", i, g.Name)
		pem, err := os.ReadFile(cfg.File(g.TLS.CAFile))
		switch {
		case err != nil:
			probs = append(probs, fmt.Errorf("%s: %v", key, err))
		case !x509.NewCertPool().AppendCertsFromPEM(pem):
			probs = append(probs, fmt.Errorf("%s: %s holds no PEM certificate", key, g.TLS.CAFile))
		}
	}
	if s := cfg.Sessions; s != nil && s.API != nil {
		if _, err := sessionsvc.ReadAPIKey(cfg.File(s.API.APIKeyFile)); err != nil {
			probs = append(probs, fmt.Errorf("sessions.api.api_key_file: %v", err))
		}
	}
	return probs
}
