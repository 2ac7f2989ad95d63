package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/demo"
	"github.com/tetherlb/tether/internal/users"
	userfilestore "github.com/tetherlb/tether/internal/users/filestore"
	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/storeurl"
)

// demoColors tell the demo targets apart at a glance.
var demoColors = []string{"#4f6df5", "#e8590c", "#2b8a3e", "#ae3ec9", "#1098ad", "#f08c00", "#c2255c", "#5c940d", "#364fc7"}

type demoFlags struct {
	listen, admin, control string
	edge                   string
	tokens                 string
	targets, basePort      int
	stickiness             string
	store                  string
	accessLog              bool
}

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f demoFlags
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "load balancer `address`")
	fs.StringVar(&f.edge, "edge", "127.0.0.1:8000", "edge cache `address`, in front of the load balancer")
	fs.StringVar(&f.admin, "admin", "127.0.0.1:9901", "admin API `address`")
	fs.StringVar(&f.control, "control", "127.0.0.1:9900", "demo control API `address` (kill and revive targets)")
	fs.StringVar(&f.tokens, "tokens", "127.0.0.1:9903", "token service `address` (log in, get JWTs, call /orders with them)")
	fs.IntVar(&f.targets, "targets", 3, "number of demo targets (1..9)")
	fs.IntVar(&f.basePort, "target-port", 9001, "`port` of the first demo target; the others follow (0 = any free ports)")
	fs.StringVar(&f.stickiness, "stickiness", "lb_cookie", "stickiness `mode`: lb_cookie | app_cookie | source_ip | header | none")
	fs.StringVar(&f.store, "store", "memory", "session store `URL` the targets' shop shares: memory | file:PATH | redis://HOST:PORT | postgres://…")
	fs.BoolVar(&f.accessLog, "access-log", false, "print the JSON access log on stdout")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: tether demo [flags]

Start the load balancer on loopback in front of built-in demo targets: small
web pages that show which target served you and a visit counter kept in that
target's memory. Kill a target and watch your browser move once, to a healthy
target, and stay there. An edge cache (-edge) serves the same app: it keeps
the static file and passes the pages, with stickiness intact. The targets' shop (/shop) keeps a login and a cart
both in the target's memory and in a session store all targets share (-store):
kill the target and only the shared cart is still there. The token service
(-tokens) logs in the demo user and issues JWTs; /orders needs one, checked
by tether before a target is touched. Ctrl-C stops everything.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return helpExit(err)
	}
	if !noArgs(fs, stderr, "the demo takes flags only; see tether demo -h") {
		return 2
	}
	if f.targets < 1 || f.targets > len(demoColors) {
		fmt.Fprintf(stderr, "tether demo: -targets %d is out of range (allowed 1..%d)\n", f.targets, len(demoColors))
		return 2
	}
	return runDemo(f, stdout, stderr)
}

func runDemo(f demoFlags, stdout, stderr io.Writer) int {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	dir, err := os.MkdirTemp("", "tether-demo-")
	if err != nil {
		return exitErr(stderr, "demo", err)
	}
	defer os.RemoveAll(dir)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sessions, store, err := demoSessions(ctx, f.store, logger)
	if err != nil {
		return exitErr(stderr, "demo", err)
	}
	defer store.Close()

	lbURL := "http://" + f.listen
	var targets []*demo.Target
	defer func() {
		for _, t := range targets {
			t.Close()
		}
	}()
	for i := range f.targets {
		addr := "127.0.0.1:0"
		if f.basePort != 0 {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(f.basePort+i))
		}
		t := demo.NewTarget("app-"+strconv.Itoa(i+1), addr, demoColors[i], logger.With("demo_target", i+1))
		t.SetControlURL("http://" + f.control)
		t.SetSessions(sessions)
		if err := t.Start(); err != nil {
			return exitErr(stderr, "demo", fmt.Errorf("starting demo target on %s: %w (try -target-port 0)", addr, err))
		}
		targets = append(targets, t)
	}
	ctrlLn, err := net.Listen("tcp", f.control)
	if err != nil {
		return exitErr(stderr, "demo", fmt.Errorf("control API on %s: %w (set -control)", f.control, err))
	}
	ctrl := newDemoControl(ctrlLn, demo.NewControl(targets, lbURL))
	defer ctrl.Close()

	if err := addDemoUser(ctx, dir); err != nil {
		return exitErr(stderr, "demo", err)
	}
	cfg, err := demoConfig(f, targets, dir)
	if err != nil {
		return exitErr(stderr, "demo", err)
	}
	var access *slog.Logger
	if f.accessLog {
		access = slog.New(slog.NewJSONHandler(stdout, nil))
	}
	in, err := startInstance(ctx, "", cfg, logger, access)
	if err != nil {
		return exitErr(stderr, "demo", fmt.Errorf("%w\n(the demo's ports are set with -listen, -edge, -admin, -control, -tokens and -target-port)", err))
	}
	printDemoHelp(stdout, f, targets)
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nstopping: letting requests in flight finish…")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = in.close(sctx)
	fmt.Fprintln(stdout, "stopped.")
	return 0
}

// demoSessions opens the session store storeURL names (any URL
// storeurl.Open takes) and returns the Manager the shop of every demo target
// shares, and the store, which the caller closes. The session cookie works
// over plain http on loopback (InsecureDevCookies, cookie "sid"). The key,
// which signs only CSRF tokens, is random for each run: the pages issue
// fresh tokens, so a store that outlives the demo loses nothing by it.
func demoSessions(ctx context.Context, storeURL string, logger *slog.Logger) (*session.Manager, session.Store, error) {
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	store, err := storeurl.Open(octx, storeURL, storeurl.Options{Logger: logger})
	if err != nil {
		return nil, nil, fmt.Errorf("-store %s: %w", redactURL(storeURL), err)
	}
	secret := make([]byte, 32)
	rand.Read(secret) // never fails (crypto/rand panics instead)
	keys, err := session.StaticKey(secret)
	if err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("demo sessions: %w", err)
	}
	m, err := session.New(session.Config{InsecureDevCookies: true},
		session.Options{Store: store, Keys: keys, Logger: logger.With("component", "demo_sessions")})
	if err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("demo sessions: %w", err)
	}
	return m, store, nil
}

// redactURL returns a store URL fit to print: its password, if any, is
// replaced by "xxxxx".
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		scheme, _, _ := strings.Cut(s, ":")
		return scheme + ":…"
	}
	return u.Redacted()
}

// The demo's user of the token service.
const (
	demoUser     = "demo"
	demoPassword = "correct horse battery staple"
)

// addDemoUser creates the users file of the demo's token service, with
// one user.
func addDemoUser(ctx context.Context, dir string) error {
	us, err := userfilestore.Open(filepath.Join(dir, "users.json"), userfilestore.Options{})
	if err != nil {
		return err
	}
	defer us.Close()
	hash, err := users.HashPassword(demoPassword, users.DefaultParams())
	if err != nil {
		return err
	}
	_, err = us.Create(ctx, users.User{Username: demoUser, Name: "Demo User", TenantID: "demo", Roles: []string{"buyer"}, PasswordHash: hash})
	return err
}

// demoConfig is the config the demo runs: one listener, one sticky group,
// the token service, whose tokens /orders needs, and an edge in front of
// the listener that caches /static/ and passes everything else, with the
// cookies (the load balancer's affinity cookie among them) and the headers
// the pages and the shop's forms need.
func demoConfig(f demoFlags, targets []*demo.Target, dir string) (*config.Config, error) {
	y := fmt.Sprintf(`
admin: {address: %q}
keys: {file: %q}
log: {level: info, access: off}
tokens:
  address: %q
  users: {store: "file:users.json"}
  refresh: {store: memory}
  audiences: [demo-api]
  scopes: [orders:read]
listeners:
  - name: web
    address: %q
    default_target_group: app
    rules:
      - path: /orders
        target_group: app
        authorizer: {type: jwt, local: true, audiences: [demo-api], required_scopes: [orders:read], forward_claims: [scope]}
edges:
  - name: cdn
    address: %q
    origin: {listener: web}
    behaviors:
      - path: /static/*
        cache: {cookies: none, query: none}
      - path: "*"
        allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]
        cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 0s}
        origin_request: {cookies: all, query: all, headers: [Authorization, Origin, Referer, Sec-Fetch-Site, User-Agent, Accept, Accept-Language]}
target_groups:
  - name: app
    algorithm: least_outstanding_requests
    health_check: {path: /healthz, interval: 2s, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 2}
    deregistration_delay: 30s
    target_header: X-Tether-Target
    stickiness: {type: %s, duration: 1h, app_cookie_name: DEMOSESSION}
    targets:
`, f.admin, filepath.Join(dir, "keys.json"), f.tokens, f.listen, f.edge, f.stickiness)
	for _, t := range targets {
		y += fmt.Sprintf("      - {id: %s, address: %q}\n", t.ID(), t.Address())
	}
	cfg, err := config.Parse([]byte(y), dir)
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	return cfg, nil
}

func printDemoHelp(w io.Writer, f demoFlags, targets []*demo.Target) {
	// The examples name real targets of this run (-targets may be 1).
	first, last := targets[0].ID(), targets[len(targets)-1].ID()
	fmt.Fprintf(w, `
tether demo is running (stickiness: %s, %d targets, session store: %s).

  Open the app:      http://%s/
  Through the edge:  http://%s/  (the same app behind the edge cache)
  Dashboard:         http://%s/dashboard/  (targets, health, affinity and the edge, live)
  Targets, as JSON:  curl -s http://%s/api/v1/target-groups
  Metrics:           curl -s http://%s/metrics | grep tether_affinity

Watch failover:
  1. Open http://%s/ and reload a few times: same target, the counter grows.
  2. Kill your target: press "Kill this target" on the page, or, with the
     target the page names (%s here),
       curl -X POST http://%s/targets/%s/kill
     Your next request moves once to a healthy target and stays there
     (the counter restarts: that state lived in the dead target's memory).
  3. Revive it:      curl -X POST http://%s/targets/%s/revive
  4. Drain one:      curl -X POST http://%s/api/v1/target-groups/app/targets/%s/drain
     Clients bound to %s keep it for 30s; new clients never get it.

Shared sessions:
  1. Open http://%s/shop, log in with any name, add a few items.
     Each goes into two carts: one in your target's memory, one in the
     session store that all targets share.
  2. Press "Kill this target" on the shop page. The shop reloads from
     another target: the memory cart is gone and you are logged out there;
     the shared cart is intact and you are still logged in.
     (-store redis://127.0.0.1:6379 or -store file:demo-sessions.db keeps
     the shared sessions outside this process.)

The edge cache (docs/edge.md):
  1. Fetch the static file twice; the second comes from the cache:
       curl -s -o /dev/null -D - http://%s/static/tether.svg | grep Cache-Status
     "cdn; fwd=uri-miss; fwd-status=200; stored; ttl=…", then "cdn; hit; ttl=…"
  2. Pages pass through it (Cache-Status "cdn; fwd=bypass; …"), affinity
     cookie and all: reload http://%s/ and you stay on one target.

Tokens (the API path; browsers use the session above):
  1. Log in:   curl -s -X POST http://%s/api/v1/login -H 'Content-Type: application/json' \
                 -d '{"username":"%s","password":"%s"}'
  2. Call the API with the access_token it returns:
               curl -s http://%s/orders -H "Authorization: Bearer ACCESS_TOKEN"
     Without it: 401, and no target is touched.
  3. Log out everywhere, and the same token is refused at once:
               curl -s -X POST http://%s/api/v1/logout -H "Authorization: Bearer ACCESS_TOKEN" \
                 -H 'Content-Type: application/json' -d '{"everywhere":true}'
  More: docs/tokens.md.

Targets: `, f.stickiness, len(targets), redactURL(f.store), f.listen, f.edge, f.admin, f.admin, f.admin, f.listen, first, f.control, first, f.control, first, f.admin, last, last, f.listen,
		f.edge, f.edge, f.tokens, demoUser, demoPassword, f.listen, f.tokens)
	for i, t := range targets {
		if i > 0 {
			fmt.Fprint(w, ", ")
		}
		fmt.Fprintf(w, "%s at %s", t.ID(), t.Address())
	}
	fmt.Fprint(w, "\nPress Ctrl-C to stop.\n")
}
