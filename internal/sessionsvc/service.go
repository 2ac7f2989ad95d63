// Package sessionsvc runs tether's sessions block: it opens the session
// store, makes the session Manager that the session gateway uses, and
// serves the HTTP session API.
package sessionsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/sessionapi"
	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/storeurl"
)

// Service is a running sessions block.
type Service struct {
	// Manager loads and saves sessions; the load balancer's session
	// gateway uses it.
	Manager *session.Manager
	store   session.Store
	api     *http.Server
	apiLn   net.Listener
	log     *slog.Logger
}

// Start opens the store of cfg (relative paths resolve against dir), makes
// the Manager with keys, and starts the API listener when cfg.API is set.
func Start(ctx context.Context, cfg *config.Sessions, dir string, keys session.Keys, reg prometheus.Registerer, log *slog.Logger) (*Service, error) {
	log = log.With("component", "sessions")
	store, err := storeurl.Open(ctx, cfg.Store, storeurl.Options{Dir: dir, MaxSessions: cfg.MaxSessions, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("sessions.store %s: %w", cfg.SessionStoreRedacted(), err)
	}
	m, err := session.New(session.Config{
		CookieName:         cfg.CookieName,
		IdleTimeout:        cfg.IdleTimeout.D(),
		AbsoluteTimeout:    cfg.AbsoluteTimeout.D(),
		RememberLifetime:   cfg.RememberLifetime.D(),
		InsecureDevCookies: cfg.InsecureDevCookies,
		Binding:            session.BindingPolicy(cfg.Binding),
	}, session.Options{Store: store, Keys: keys, Tenant: tenantFunc(cfg.Tenants), Logger: log, Registerer: reg})
	if err != nil {
		store.Close()
		return nil, err
	}
	s := &Service{Manager: m, store: store, log: log}
	if cfg.API != nil {
		if err := s.startAPI(cfg.API, dir, reg); err != nil {
			store.Close()
			return nil, err
		}
	}
	log.Info("session store open", "store", cfg.SessionStoreRedacted())
	return s, nil
}

func tenantFunc(t *config.SessionTenants) session.TenantFunc {
	switch {
	case t == nil:
		return nil
	case t.By == "host":
		return session.TenantByHost(t.Map)
	}
	var allowed []string
	for v := range t.Map {
		allowed = append(allowed, v)
	}
	return session.TenantByHeader(t.Header, allowed...)
}

func (s *Service) startAPI(cfg *config.SessionAPI, dir string, reg prometheus.Registerer) error {
	key, err := ReadAPIKey(config.Resolve(dir, cfg.APIKeyFile))
	if err != nil {
		return fmt.Errorf("sessions.api.api_key_file: %w", err)
	}
	h, err := sessionapi.Handler(sessionapi.Options{Manager: s.Manager, Key: key, Logger: s.log, Registerer: reg})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return fmt.Errorf("sessions.api.address: %w (is another process using %s?)", err, cfg.Address)
	}
	s.apiLn = ln
	s.api = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	go func() {
		if err := s.api.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("session API listener stopped", "err", err)
		}
	}()
	s.log.Info("session API listening", "address", ln.Addr().String())
	return nil
}

// Store returns the open session store, which the token service shares
// when its refresh store has the same URL.
func (s *Service) Store() session.Store { return s.store }

// APIAddr returns the API listener's address, or nil without an API.
func (s *Service) APIAddr() net.Addr {
	if s.apiLn == nil {
		return nil
	}
	return s.apiLn.Addr()
}

// ReadAPIKey reads the session API's bearer key: the file's content without surrounding
// whitespace, at least 32 bytes, in a file no other user can read.
func ReadAPIKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w (create it with: head -c 32 /dev/urandom | base64 > %s; chmod 600 %s)", err, path, path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o; other users could read the API key (run: chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key := []byte(strings.TrimSpace(string(b)))
	if len(key) < 32 {
		return nil, fmt.Errorf("%s holds %d characters; the API key must have at least 32 (for example: head -c 32 /dev/urandom | base64)", path, len(key))
	}
	return key, nil
}

// Close stops the API (requests in flight finish until ctx ends) and
// closes the store.
func (s *Service) Close(ctx context.Context) error {
	var errs []error
	if s.api != nil {
		errs = append(errs, s.api.Shutdown(ctx))
	}
	errs = append(errs, s.store.Close())
	return errors.Join(errs...)
}
