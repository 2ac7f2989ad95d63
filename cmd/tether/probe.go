package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"

	"github.com/tetherlb/tether/internal/probe"
)

const probeUsage = `Usage: tether probe URL [flags]

Measure how well a live URL keeps browsers on one target, behind any load
balancer (tether, HAProxy, NGINX, Traefik, a cloud load balancer). The probe
plays -browsers browsers, each with its own cookie jar and connections, and
sends -requests requests from each, one after the other. It reads which
target served each response from a header (-target-header) and reports:

  - per browser: stayed on one target (sticky), or how many times it moved
  - stickiness: sticky browsers / browsers, and kept requests / requests
  - the spread of browsers over targets, as a histogram
  - failures (no response, status >= 500), every status, latency p50/p99
  - the cookies it was given (Secure, HttpOnly, SameSite, Path, Domain,
    Max-Age/Expires, Partitioned), with warnings: SameSite=None without
    Secure, an affinity cookie without HttpOnly, a value that reveals an
    address, a cookie set again on every response, no cookie at all

Exit code: 0 when every browser stayed on one target and no request failed;
1 otherwise (the last line says why); 2 for a usage error.

The responses must name their target. tether does with target_header
(X-Tether-Target, the default here). For another load balancer, make it (or
your app) add a header and pass its name with -target-header. NGINX:
  add_header X-Served-By $upstream_addr always;

Probing HAProxy: with cookie stickiness, its backend section reads
  backend app
    cookie SRV insert indirect nocache httponly
    http-response set-header X-Served-By %s
    server s1 10.0.1.11:8080 cookie s1
    server s2 10.0.1.12:8080 cookie s2
and the probe is
  tether probe http://haproxy.example.com/ -target-header X-Served-By

All simulated browsers share this machine's address: stickiness by source
IP always looks perfect from here. Redirects are not followed: each response
counts as it is.

Examples:
  tether probe http://127.0.0.1:8080/
  tether probe https://shop.example.com/cart -browsers 50 -requests 10 -H 'Cookie: consent=1'
  tether probe https://127.0.0.1:8443/ -insecure -json > probe.json

Flags (also accepted after the URL, with one dash or two):
`

func cmdProbe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		io.WriteString(stderr, probeUsage)
		fs.PrintDefaults()
	}
	cfg, asJSON, showProgress := probeFlags(fs)
	urls, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(urls) != 1 {
		fmt.Fprintf(stderr, "tether probe: want one URL, got %d\n\nRun 'tether probe -h' for help.\n", len(urls))
		return 2
	}
	cfg.URL = urls[0]
	if cfg.Concurrency == 0 {
		cfg.Concurrency = cfg.Browsers
	}
	if err := cfg.Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "tether probe: %s\n", line)
		}
		fmt.Fprintf(stderr, "\nRun 'tether probe -h' for help.\n")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var bar *progressBar
	if *showProgress || isTerminal(stderr) {
		bar = &progressBar{w: stderr}
	}
	rep, err := probe.Run(ctx, *cfg, bar.update)
	bar.clear()
	if rep == nil {
		return exitErr(stderr, "probe", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return exitErr(stderr, "probe", err)
		}
	} else {
		rep.WriteText(stdout)
	}
	if !rep.OK {
		return 1
	}
	return 0
}

// probeFlags defines the flags of tether probe on fs and returns where
// their values land.
func probeFlags(fs *flag.FlagSet) (cfg *probe.Config, asJSON, showProgress *bool) {
	cfg = &probe.Config{Header: http.Header{}}
	fs.IntVar(&cfg.Browsers, "browsers", probe.DefaultBrowsers, "number of simulated browsers, each with its own cookie jar (1..10000)")
	fs.IntVar(&cfg.Requests, "requests", probe.DefaultRequests, "requests per browser, sent one after the other (1..10000)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 0, "browsers sending at the same time (default: -browsers)")
	fs.StringVar(&cfg.Method, "method", "GET", "request `METHOD` (requests carry no body)")
	fs.Var(headerFlag(cfg.Header), "H", "extra request header `'Name: value'` (repeatable; 'Host: name' sets the Host)")
	fs.DurationVar(&cfg.Timeout, "timeout", probe.DefaultTimeout, "timeout of each request")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "accept any TLS certificate (self-signed)")
	fs.StringVar(&cfg.TargetHeader, "target-header", probe.DefaultTargetHeader, "`NAME` of the response header that names the serving target")
	asJSON = fs.Bool("json", false, "print the report as JSON on stdout (fields: docs/probe.md)")
	showProgress = fs.Bool("progress", false, "draw a progress bar on stderr even when it is not a terminal")
	return cfg, asJSON, showProgress
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, which it returns.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// headerFlag collects repeated -H 'Name: value' flags into a header.
type headerFlag http.Header

func (h headerFlag) String() string { return "" }

func (h headerFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
		return errors.New("want 'Name: value'")
	}
	http.Header(h).Add(name, strings.TrimSpace(value))
	return nil
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressBar draws "probing [████░░░░] 120/400 requests" on one line,
// redrawing only when the bar moves. A nil *progressBar draws nothing.
type progressBar struct {
	w     io.Writer
	last  int // permille drawn
	drawn bool
}

const progressWidth = 30

func (p *progressBar) update(done, total int) {
	if p == nil {
		return
	}
	permille := done * 1000 / max(total, 1)
	if p.drawn && permille == p.last && done != total {
		return
	}
	p.last, p.drawn = permille, true
	n := done * progressWidth / max(total, 1)
	fmt.Fprintf(p.w, "\rprobing [%s%s] %d/%d requests", strings.Repeat("█", n), strings.Repeat("░", progressWidth-n), done, total)
}

// clear erases the bar so the report starts on a clean line.
func (p *progressBar) clear() {
	if p != nil && p.drawn {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", progressWidth+40))
	}
}
