// Command sessions benchmarks tether's session package beside
// github.com/alexedwards/scs/v2, in one process and one run: simulated
// clients, each with its own session, send requests back to back through
// each manager's real net/http middleware, on memory and on one Redis
// that both share. See bench/README.md ("Sessions: tether vs scs").
//
//	cd bench/sessions && go run . [-clients 64] [-duration 10s] [-rounds 3]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// options are the command's flags.
type options struct {
	// Clients is the number of concurrent simulated clients, each with its
	// own session. Default 64.
	Clients int
	// Duration is the measured time of one run. Default 10s.
	Duration time.Duration
	// Warmup is the unmeasured time just before it. Default 2s.
	Warmup time.Duration
	// Rounds is the number of interleaved rounds; the contenders' order
	// rotates every round and the report shows medians. Default 3.
	Rounds int
	// Only lists the contenders to run, comma-separated. Default: see
	// defaultContenders; "all" runs every contender.
	Only string
	// Redis is the address (host:port, loopback) of a Redis to use
	// instead of starting one. Every run FLUSHALLs it. Default: start
	// RedisServer on a free 127.0.0.1 port.
	Redis string
	// RedisServer is the redis-server binary to start. Default
	// "redis-server" on PATH.
	RedisServer string
	// HTTP serves the handlers on a loopback HTTP server instead of
	// calling them in process.
	HTTP bool
	// Payload is the size in bytes of a string put in every session when
	// it is created, besides the counter. Default 0.
	Payload int
	// CPUProfile is a directory: each contender's round-1 run writes a CPU
	// profile there, NAME.pprof. Default "": no profile.
	CPUProfile string
	// Probe is the number of one-at-a-time requests that count Redis round
	// trips per Redis contender. Default 2000; 0 skips the probe.
	Probe int
	// MemSessions is the number of sessions the memory-per-session
	// measurement creates per memory contender. Default 50000; 0 skips it.
	MemSessions int
	// MaxOther is how many cores other processes may use during a run
	// before it is discarded and measured again. Default 0.25.
	MaxOther float64
	// Retries bounds how often one run is measured again. Default 2.
	Retries int
	// QuietWait bounds the wait for an idle machine before each run.
	// Default 30s.
	QuietWait time.Duration
	// Out is a file the report is also written to. Default "": stdout only.
	Out string
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("sessions", flag.ContinueOnError)
	fs.IntVar(&o.Clients, "clients", 64, "concurrent simulated clients, each with its own session")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured time per run")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "unmeasured time before each run")
	fs.IntVar(&o.Rounds, "rounds", 3, "interleaved rounds (order rotated); the report shows medians")
	fs.StringVar(&o.Only, "only", defaultContenders, `contenders to run, comma-separated, or "all"`)
	fs.StringVar(&o.Redis, "redis", "", "host:port of a Redis to use (it is FLUSHALLed) instead of starting one")
	fs.StringVar(&o.RedisServer, "redis-server", "redis-server", "redis-server binary to start")
	fs.BoolVar(&o.HTTP, "http", false, "serve on a loopback HTTP server instead of calling the handler in process")
	fs.IntVar(&o.Payload, "payload", 0, "bytes of extra data put in every session at creation")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "directory for a CPU profile of each contender's round-1 run (NAME.pprof)")
	fs.IntVar(&o.Probe, "probe", 2000, "one-at-a-time requests per Redis contender that count round trips (0: skip)")
	fs.IntVar(&o.MemSessions, "mem-sessions", 50000, "sessions for the memory-per-session figure (0: skip)")
	fs.Float64Var(&o.MaxOther, "max-other", 0.25, "cores other processes may use before a run is measured again")
	fs.IntVar(&o.Retries, "retries", 2, "how often a disturbed run is measured again")
	fs.DurationVar(&o.QuietWait, "quiet-wait", 30*time.Second, "longest wait for an idle machine before a run")
	fs.StringVar(&o.Out, "out", "", "also write the report to this file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return o, o.Validate()
}

// Validate reports every problem of o at once.
func (o options) Validate() error {
	var errs []error
	if o.Clients < 1 || o.Clients > 10000 {
		errs = append(errs, fmt.Errorf("-clients %d: want 1 to 10000", o.Clients))
	}
	if o.Duration < 100*time.Millisecond || o.Warmup < 0 {
		errs = append(errs, fmt.Errorf("-duration %v, -warmup %v: want at least 100ms and 0", o.Duration, o.Warmup))
	}
	if o.Rounds < 1 || o.Probe < 0 || o.MemSessions < 0 || o.Payload < 0 || o.Retries < 0 {
		errs = append(errs, errors.New("-rounds must be at least 1; -probe, -mem-sessions, -payload and -retries at least 0"))
	}
	if _, err := selectContenders(o.Only); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// selectContenders returns the contenders only names, in the default
// order.
func selectContenders(only string) ([]*contender, error) {
	all := allContenders()
	if only == "all" {
		return all, nil
	}
	want := strings.Split(only, ",")
	var out []*contender
	for _, c := range all {
		if slices.Contains(want, c.name) {
			out = append(out, c)
		}
	}
	for _, name := range want {
		if !slices.ContainsFunc(all, func(c *contender) bool { return c.name == name }) {
			var names []string
			for _, c := range all {
				names = append(names, c.name)
			}
			return nil, fmt.Errorf("-only: unknown contender %q (known: %s, all)", name, strings.Join(names, ", "))
		}
	}
	return out, nil
}

// bench is one run of the benchmark.
type bench struct {
	opts       options
	log        *slog.Logger
	contenders []*contender
	redisAddr  string
	redisPID   int         // 0 unless this command started redis-server
	admin      *redisAdmin // nil when no contender uses Redis
	machine    machine
}

func (b *bench) env(c *contender, counter *connCounter) *env {
	e := &env{ctx: context.Background(), redisAddr: b.redisAddr, clients: b.opts.Clients, work: c.work, counter: counter}
	if b.opts.Payload > 0 {
		e.payload = strings.Repeat("p", b.opts.Payload)
	}
	return e
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sessions:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, log); err != nil {
		log.Error("benchmark failed", "err", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, opts options, log *slog.Logger) error {
	cs, _ := selectContenders(opts.Only)
	b := &bench{opts: opts, log: log, contenders: cs}
	if slices.ContainsFunc(cs, (*contender).usesRedis) {
		closeRedis, err := b.openRedis(ctx)
		if err != nil {
			return err
		}
		defer closeRedis()
	}
	b.machine = readMachine(b.admin)
	if opts.CPUProfile != "" {
		if err := os.MkdirAll(opts.CPUProfile, 0o755); err != nil {
			return err
		}
	}
	rep, err := b.measureAll(ctx)
	if err != nil {
		return err
	}
	text := rep.markdown()
	fmt.Print(text)
	if opts.Out != "" {
		if err := os.WriteFile(opts.Out, []byte(text), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		log.Info("report written", "file", opts.Out)
	}
	return nil
}

// openRedis starts redis-server (or uses -redis) and opens the admin
// connection, and returns what closes them and stops the server.
func (b *bench) openRedis(ctx context.Context) (func(), error) {
	stopServer := func() {}
	b.redisAddr = b.opts.Redis
	if b.redisAddr == "" {
		bin, err := exec.LookPath(b.opts.RedisServer)
		if err != nil {
			return nil, fmt.Errorf("redis-server not found (install it, or pass -redis host:port): %w", err)
		}
		dir, err := os.MkdirTemp("", "tether-bench-sessions-")
		if err != nil {
			return nil, err
		}
		srv, err := startRedis(ctx, bin, dir)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		b.log.Info("started redis-server", "addr", srv.addr, "pid", srv.cmd.Process.Pid)
		b.redisAddr, b.redisPID = srv.addr, srv.cmd.Process.Pid
		stopServer = func() { srv.Stop(); os.RemoveAll(dir) }
	}
	adm, err := dialAdmin(b.redisAddr)
	if err != nil {
		stopServer()
		return nil, err
	}
	b.admin = adm
	return func() { adm.Close(); stopServer() }, nil
}
