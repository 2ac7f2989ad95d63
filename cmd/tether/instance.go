package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/admin"
	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/edge"
	"github.com/tetherlb/tether/internal/keyring"
	"github.com/tetherlb/tether/internal/lb"
	"github.com/tetherlb/tether/internal/sessionsvc"
	"github.com/tetherlb/tether/internal/tokensvc"
)

// instance is a running tether: the load balancer and its admin API.
type instance struct {
	cfgPath string         // "" for an in-memory config (demo): reload re-reads only the key ring
	mu      sync.Mutex     // serialises reloads (SIGHUP and the admin API)
	cfg     *config.Config // the config in force; guarded by mu
	log     *slog.Logger
	lb      *lb.Server
	sess    *sessionsvc.Service // nil without a sessions block
	toks    *tokensvc.Service   // nil without a tokens block
	edges   *edge.Servers
	admin   *http.Server
	adminLn net.Listener
}

// newLoggers builds the process logger (JSON on stderr) and the access log.
func newLoggers(cfg *config.Config, stdout, stderr io.Writer) (*slog.Logger, *slog.Logger) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	var access *slog.Logger
	switch cfg.Log.Access {
	case "stdout":
		access = slog.New(slog.NewJSONHandler(stdout, nil)).With("log", "access")
	case "stderr":
		access = slog.New(slog.NewJSONHandler(stderr, nil)).With("log", "access")
	}
	return logger, access
}

// keyFile is where the key ring of cfg lives.
func keyFile(cfg *config.Config) string { return cfg.File(cfg.Keys.File) }

// startInstance loads the key ring (creating it when absent), starts the
// load balancer and the admin API.
func startInstance(ctx context.Context, cfgPath string, cfg *config.Config, logger, access *slog.Logger) (*instance, error) {
	ring, created, err := keyring.LoadOrCreate(keyFile(cfg), time.Now())
	if err != nil {
		return nil, fmt.Errorf("key ring: %w", err)
	}
	if created && cfg.Tokens != nil && cfg.Tokens.Signing.Alg == "RS256" {
		// RS256 signs with an RSA key stored in the ring.
		if ring, err = ring.WithActiveRSA(); err == nil {
			err = ring.Save(keyFile(cfg))
		}
		if err != nil {
			return nil, fmt.Errorf("key ring: add an RSA signing key: %w", err)
		}
	}
	if created {
		logger.Info("created a new key ring", "file", keyFile(cfg), "hint", "copy it to every replica that must honour the same tokens")
	}
	reg := prometheus.NewRegistry()
	deps := lb.Deps{Clock: clock.Real{}, Logger: logger, Access: access, Registry: reg}
	var sess *sessionsvc.Service
	if cfg.Sessions != nil {
		if sess, err = sessionsvc.Start(ctx, cfg.Sessions, cfg.Dir, ring, reg, logger); err != nil {
			return nil, err
		}
		deps.Sessions = sess.Manager
	}
	var toks *tokensvc.Service
	if cfg.Tokens != nil {
		o := tokensvc.Options{Dir: cfg.Dir, Ring: ring, Registerer: reg, Logger: logger}
		if sess != nil {
			o.SharedStore, o.SharedStoreURL = sess.Store(), cfg.Sessions.Store
		}
		if toks, err = tokensvc.Start(ctx, cfg.Tokens, o); err != nil {
			if sess != nil {
				_ = sess.Close(context.Background())
			}
			return nil, err
		}
		deps.Tokens = toks
	}
	closeSessions := func() {
		if toks != nil {
			_ = toks.Close(context.Background())
		}
		if sess != nil {
			_ = sess.Close(context.Background())
		}
	}
	srv, err := lb.New(cfg, ring, deps)
	if err != nil {
		closeSessions()
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		closeSessions()
		return nil, err
	}
	in := &instance{cfgPath: cfgPath, cfg: cfg, log: logger, lb: srv, sess: sess, toks: toks}
	edgeTransport := func() http.RoundTripper { return lb.NewTransportTimeout(clock.Real{}, edge.OriginTimeout) }
	if in.edges, err = edge.Start(cfg, edge.StartOptions{Addr: srv.Addr, NewTransport: edgeTransport,
		Registerer: reg, Clock: clock.Real{}, Logger: logger, Access: access}); err != nil {
		_ = srv.Close(context.Background())
		closeSessions()
		return nil, err
	}
	if cfg.Admin.Address != "off" {
		ln, err := net.Listen("tcp", cfg.Admin.Address)
		if err != nil {
			_ = srv.Close(context.Background())
			_ = in.edges.Close(context.Background())
			closeSessions()
			return nil, fmt.Errorf("admin listener: %w (is another process using %s? set admin.address)", err, cfg.Admin.Address)
		}
		in.adminLn = ln
		in.admin = &http.Server{
			Handler: admin.Handler(admin.Options{LB: srv, Registry: reg, Reload: in.reload, Logger: logger, Edges: adminEdges(in.edges),
				Loopback: admin.IsLoopback(cfg.Admin.Address)}),
			ReadHeaderTimeout: 10 * time.Second,
		}
		go func() {
			if err := in.admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("admin listener stopped", "err", err)
			}
		}()
		logger.Info("admin API listening", "address", ln.Addr().String(), "dashboard", "http://"+ln.Addr().String()+"/dashboard/")
	}
	return in, nil
}

// reload re-reads the config file and the key ring and applies them. A bad
// config is refused and the running one stays.
func (in *instance) reload(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	cfg := in.cfg
	edgesChanged := false
	if in.cfgPath != "" {
		next, err := config.Load(in.cfgPath)
		if err != nil {
			for _, p := range config.Problems(err) {
				in.log.Error("reload refused: config problem", "problem", p)
			}
			in.lb.ReloadRefused()
			return err
		}
		if next.Admin.Address != in.cfg.Admin.Address {
			in.log.Warn("admin.address changed; restart tether to move the admin API", "running", in.cfg.Admin.Address)
		}
		edgesChanged = !reflect.DeepEqual(next.Edges, in.cfg.Edges)
		if !reflect.DeepEqual(next.Sessions, in.cfg.Sessions) {
			in.log.Warn("the sessions block changed; restart tether to apply it (the running store and API stay as they are)")
			next.Sessions = in.cfg.Sessions
		}
		if !reflect.DeepEqual(next.Tokens, in.cfg.Tokens) {
			in.log.Warn("the tokens block changed; restart tether to apply it (the running token service stays as it is)")
			next.Tokens = in.cfg.Tokens
		}
		cfg = next
	}
	ring, err := keyring.Load(keyFile(cfg))
	if err != nil {
		in.log.Error("reload refused: key ring", "err", err)
		in.lb.ReloadRefused()
		return fmt.Errorf("key ring: %w", err)
	}
	if in.toks != nil {
		// First, so that a ring whose active key cannot sign refuses the
		// whole reload.
		if err := in.toks.SetRing(ring); err != nil {
			in.log.Error("reload refused: key ring", "err", err)
			in.lb.ReloadRefused()
			return fmt.Errorf("key ring: %w", err)
		}
	}
	if err := in.lb.Reload(cfg, ring); err != nil {
		in.log.Error("reload failed", "err", err)
		return err
	}
	if edgesChanged {
		// After the listeners, whose addresses the edges' origins may name.
		running, notes := in.edges.Reload(cfg)
		for _, n := range notes {
			in.log.Warn("reload: " + n)
		}
		cfg.Edges = running
	}
	if in.sess != nil {
		in.sess.Manager.SetKeys(ring)
	}
	in.cfg = cfg
	return nil
}

// close shuts down gracefully: listeners stop accepting, requests in flight
// get until ctx ends to finish.
func (in *instance) close(ctx context.Context) error {
	var errs []error
	if in.admin != nil {
		errs = append(errs, in.admin.Shutdown(ctx))
	}
	errs = append(errs, in.edges.Close(ctx))
	errs = append(errs, in.lb.Close(ctx))
	if in.toks != nil {
		errs = append(errs, in.toks.Close(ctx))
	}
	if in.sess != nil {
		errs = append(errs, in.sess.Close(ctx))
	}
	return errors.Join(errs...)
}

// adminEdges lists the edges for the admin API: their status and invalidations.
func adminEdges(s *edge.Servers) map[string]admin.Edge {
	out := map[string]admin.Edge{}
	for name, ref := range s.Refs() {
		out[name] = ref
	}
	return out
}

func exitErr(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "tether %s: %v\n", cmd, err)
	return 1
}
