// Package tokens is tether's token service: password login against the
// user pool (internal/users), JWT access tokens (RFC 9068) and ID tokens
// signed with keys from the key ring, opaque refresh tokens that rotate on
// every use with replay detection (RFC 9700 §4.14), revocation (RFC 7009),
// logout of one device or everywhere, and the JWKS and discovery documents
// that verifiers (the token package, tether's JWT authorizer, any JOSE
// library) read.
//
// The endpoints, served by Service.Handler on the tokens.address listener:
//
//	POST /api/v1/login                      JSON {username, password, audience?, scope?}
//	POST /oauth2/token                      form grant_type=refresh_token&refresh_token=…[&scope=…]
//	POST /oauth2/revoke                     form token=…[&token_type_hint=…]
//	POST /api/v1/logout                     Authorization: Bearer ACCESS; JSON {everywhere?}
//	GET  /.well-known/jwks.json
//	GET  /.well-known/openid-configuration
//
// Errors are OAuth-style JSON ({"error": …, "error_description": …}).
// A token is never issued without its refresh record: a store that cannot
// be written answers 503.
package tokens

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/keyring"
	"github.com/tetherlb/tether/internal/trust"
	"github.com/tetherlb/tether/internal/users"
	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/token"
)

// ClientID is the client_id claim of tether's access tokens (RFC 9068
// §2.2): logins are made by tether's own login endpoint, not by a
// registered OAuth client.
const ClientID = "tether"

// Options are what a Service is made of.
type Options struct {
	// Config is the tokens block, with defaults applied. Required.
	Config *config.Tokens
	// Ring is the key ring the signing keys come from. Required.
	Ring *keyring.Ring
	// Users is the user pool. Required.
	Users users.Store
	// Refresh keeps refresh token families and not-before records.
	// Required.
	Refresh session.Store
	// Params are the argon2id parameters of the Authenticator. Zero:
	// users.DefaultParams().
	Params users.Params
	// Clock defaults to the real clock.
	Clock clock.Clock
	// Registerer receives the metrics. Nil: not registered.
	Registerer prometheus.Registerer
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Service is a running token service. Its methods are safe for concurrent
// use.
type Service struct {
	issuer    string
	audiences []string
	scopes    []string
	ttl       time.Duration
	alg       string
	clk       clock.Clock
	log       *slog.Logger
	auth      *users.Authenticator
	users     users.Store
	fam       *families
	nbf       *notBefore
	verifier  *token.Verifier
	trusted   trust.Proxies
	metrics   *metrics
	stop      context.CancelFunc
	done      chan struct{}

	keys      atomic.Pointer[keySet]
	mu        sync.Mutex           // guards retiredAt and jwksDoc
	retiredAt map[string]time.Time // kid → when this process stopped signing with it
	jwksDoc   *jwksCache
}

type jwksCache struct {
	keys  *keySet
	built time.Time
	body  []byte
	etag  string
}

// New starts a Service: it makes the signing keys, the Authenticator (which
// hashes a dummy password, as long as one login) and the not-before poller.
func New(o Options) (*Service, error) {
	cfg := o.Config
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	log := o.Logger.With("component", "tokens")
	ks, err := newKeySet(o.Ring, cfg.Signing.Alg)
	if err != nil {
		return nil, fmt.Errorf("tokens.signing: %w", err)
	}
	auth, err := users.NewAuthenticator(o.Users, users.AuthOptions{
		Params: o.Params, AccountFailures: cfg.Login.AccountFailures, IPFailures: cfg.Login.IPFailures,
		Window: cfg.Login.Window.D(), Clock: o.Clock, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	trusted, err := trust.Parse(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("tokens.%w", err)
	}
	grace := time.Duration(0)
	if cfg.Refresh.ReuseGrace != nil {
		grace = cfg.Refresh.ReuseGrace.D()
	}
	s := &Service{
		issuer: cfg.Issuer, audiences: cfg.Audiences, scopes: cfg.Scopes, ttl: cfg.AccessTTL.D(), alg: cfg.Signing.Alg,
		clk: o.Clock, log: log, auth: auth, users: o.Users, trusted: trusted,
		fam:       &families{store: o.Refresh, idle: cfg.Refresh.IdleTTL.D(), absolute: cfg.Refresh.AbsoluteTTL.D(), grace: grace},
		nbf:       &notBefore{store: o.Refresh, ttl: cfg.AccessTTL.D() + maxLeeway, log: log, users: map[string]nbfEntry{}},
		metrics:   newMetrics(o.Registerer),
		retiredAt: map[string]time.Time{},
		done:      make(chan struct{}),
	}
	s.keys.Store(ks)
	if s.verifier, err = token.New(token.Options{
		Issuer: s.issuer, Audiences: s.audiences, Algorithms: []string{s.alg},
		JWKSFunc: s.JWKS, NotBefore: s.NotBefore, Now: o.Clock.Now, Logger: log,
		// The key set is this process's own: read it every 10 s, so that a
		// key a reload dropped (keys rotate -drop-old) stops verifying
		// at logout within seconds, as at a local JWT authorizer.
		RefreshInterval: 10 * time.Second, MinRefreshInterval: time.Second,
	}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	if err := s.nbf.poll(ctx); err != nil {
		log.Warn("cannot read logouts from the refresh store yet", "err", err)
	}
	go func() {
		defer close(s.done)
		s.nbf.run(ctx, o.Clock.Now)
	}()
	return s, nil
}

// Close stops the poller and the verifier. It does not close the stores.
func (s *Service) Close() {
	s.stop()
	<-s.done
	s.verifier.Close()
}

// Issuer returns the iss of the service's tokens.
func (s *Service) Issuer() string { return s.issuer }

// SetRing switches to the signing keys of ring (after a key rotation and
// a reload). Keys that leave the active position stay in the JWKS until
// the tokens they signed have expired. A ring whose active key cannot sign
// (RS256 without an RSA key) is refused and the old keys stay.
func (s *Service) SetRing(ring *keyring.Ring) error {
	ks, err := newKeySet(ring, s.alg)
	if err != nil {
		return fmt.Errorf("tokens.signing: %w", err)
	}
	s.mu.Lock()
	old := s.keys.Load()
	if old.active().kid != ks.active().kid {
		s.retiredAt[old.active().kid] = s.clk.Now()
		s.log.Info("token signing key rotated", "kid", ks.active().kid, "previous", old.active().kid)
	}
	s.keys.Store(ks)
	s.jwksDoc = nil
	s.mu.Unlock()
	return nil
}

// jwksMaxAge is how long verifiers may cache the JWKS (Cache-Control
// max-age), and how often the served document is rebuilt to drop expired
// keys. A verifier that meets a new kid fetches again at once.
const jwksMaxAge = 5 * time.Minute

// JWKS returns the public JSON Web Key Set.
func (s *Service) JWKS(context.Context) ([]byte, error) {
	c, err := s.jwks()
	if err != nil {
		return nil, err
	}
	return c.body, nil
}

func (s *Service) jwks() (*jwksCache, error) {
	now := s.clk.Now()
	ks := s.keys.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.jwksDoc; c != nil && c.keys == ks && now.Sub(c.built) < time.Minute {
		return c, nil
	}
	body, err := ks.jwks(now, s.ttl+maxLeeway, s.retiredAt)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	s.jwksDoc = &jwksCache{keys: ks, built: now, body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	return s.jwksDoc, nil
}

// SessionRevoked reports whether a logout everywhere revoked the login
// (refresh family) sid of subject. It catches the access tokens that
// NotBefore cannot: those issued in the same second as the logout, before
// it. Like NotBefore, it reads memory.
func (s *Service) SessionRevoked(issuer, subject, sid string) bool {
	return issuer == s.issuer && s.nbf.revokedSID(subject, sid, s.clk.Now())
}

// accessRevoked reports whether an access token this service issued was
// revoked since: its login (sid) revoked, or issued before the user's
// not-before. The authorizer checks the same through SessionRevoked and
// NotBefore.
func (s *Service) accessRevoked(c *token.Claims) bool {
	now := s.clk.Now()
	if c.SessionID != "" && s.nbf.revokedSID(c.Subject, c.SessionID, now) {
		return true
	}
	nb := s.nbf.get(c.Subject, now)
	return !nb.IsZero() && c.IssuedAt.Before(nb)
}

// NotBefore returns the time before which the access tokens issuer gave
// subject are revoked (the user's last logout everywhere), or the zero
// time. It never fails: it reads memory that the poller keeps current.
func (s *Service) NotBefore(_ context.Context, issuer, subject string) (time.Time, error) {
	if issuer != s.issuer {
		return time.Time{}, nil
	}
	return s.nbf.get(subject, s.clk.Now()), nil
}
