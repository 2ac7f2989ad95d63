package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tetherlb/tether/internal/config"
)

func cmdServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "tether.yaml", "config `file`")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: tether serve -c FILE

Run the listeners and target groups the config file declares. The process
log (JSON) goes to stderr, the access log to stdout (log.access).

Signals:
  SIGHUP           reload the config file and key ring; a bad config is
                   refused and the running one stays (also POST /api/v1/reload)
  SIGINT, SIGTERM  stop accepting, let requests in flight finish
                   (shutdown_timeout, default 30s), close WebSockets, exit 0

Flags:
`)
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
		fmt.Fprintln(stderr, "tether serve: not started; fix the config (tether check -c FILE shows the same list)")
		return 1
	}
	logger, access := newLoggers(cfg, stdout, stderr)
	for _, w := range cfg.Warnings() {
		logger.Warn("config warning", "warning", w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Catch SIGHUP before starting, so that an early reload signal is not
	// taken as the default "terminate".
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	in, err := startInstance(ctx, *file, cfg, logger, access)
	if err != nil {
		return exitErr(stderr, "serve", err)
	}
	logger.Info("tether started", "version", version, "config", *file)
	for {
		select {
		case <-hup:
			logger.Info("SIGHUP: reloading", "config", *file)
			_ = in.reload(ctx)
		case <-ctx.Done():
			grace := in.lb.Config().ShutdownTimeout.D()
			logger.Info("shutting down", "shutdown_timeout", grace.String())
			sctx, cancel := context.WithTimeout(context.Background(), grace)
			err := in.close(sctx)
			cancel()
			if err != nil {
				logger.Warn("shutdown cut requests short", "err", err)
			}
			return 0
		}
	}
}
