// Package tokensvc runs tether's tokens block: it opens the user pool and
// the refresh store, makes the token service and serves it on its own
// address.
package tokensvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/keyring"
	"github.com/tetherlb/tether/internal/tokens"
	"github.com/tetherlb/tether/internal/users"
	userstoreurl "github.com/tetherlb/tether/internal/users/storeurl"
	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/storeurl"
)

// Service is a running tokens block.
type Service struct {
	*tokens.Service
	users       users.Store
	refresh     session.Store
	ownsRefresh bool
	srv         *http.Server
	ln          net.Listener
	log         *slog.Logger
}

// Options are what Start needs besides the config.
type Options struct {
	// Dir resolves relative store paths (the config file's directory).
	Dir string
	// Ring is the key ring the signing keys come from.
	Ring *keyring.Ring
	// SharedStore is the sessions block's open store, used as the refresh
	// store when tokens.refresh.store names the same URL (a file store
	// cannot be opened twice). Nil: none.
	SharedStore    session.Store
	SharedStoreURL string
	Registerer     prometheus.Registerer
	Logger         *slog.Logger
}

// Start opens the stores of cfg, makes the token service and starts its
// listener.
func Start(ctx context.Context, cfg *config.Tokens, o Options) (*Service, error) {
	log := o.Logger.With("component", "tokens")
	us, err := userstoreurl.Open(ctx, cfg.Users.Store, userstoreurl.Options{Dir: o.Dir})
	if err != nil {
		return nil, fmt.Errorf("tokens.users.store: %w", err)
	}
	s := &Service{users: us, log: log}
	if o.SharedStore != nil && cfg.Refresh.Store == o.SharedStoreURL {
		s.refresh = o.SharedStore
	} else {
		if s.refresh, err = storeurl.Open(ctx, cfg.Refresh.Store, storeurl.Options{Dir: o.Dir, Logger: log}); err != nil {
			us.Close()
			return nil, fmt.Errorf("tokens.refresh.store %s: %w", cfg.RefreshStoreRedacted(), err)
		}
		s.ownsRefresh = true
	}
	if s.Service, err = tokens.New(tokens.Options{Config: cfg, Ring: o.Ring, Users: us, Refresh: s.refresh,
		Registerer: o.Registerer, Logger: o.Logger}); err != nil {
		s.closeStores()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		s.Service.Close()
		s.closeStores()
		return nil, fmt.Errorf("tokens.address: %w (is another process using %s?)", err, cfg.Address)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("token service listener stopped", "err", err)
		}
	}()
	log.Info("token service listening", "address", ln.Addr().String(), "issuer", cfg.Issuer,
		"alg", cfg.Signing.Alg, "refresh_store", cfg.RefreshStoreRedacted())
	return s, nil
}

// Addr returns the listener's address.
func (s *Service) Addr() net.Addr { return s.ln.Addr() }

func (s *Service) closeStores() {
	s.users.Close()
	if s.ownsRefresh {
		s.refresh.Close()
	}
}

// Close stops the listener (requests in flight finish until ctx ends),
// the service and the stores it opened.
func (s *Service) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.Service.Close()
	s.closeStores()
	return err
}
