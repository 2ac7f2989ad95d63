package lb

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/token"
)

// The token verifiers of the jwt authorizers. A verifier holds a key set
// (refreshed in the background) and the cache of verified tokens, so it
// lives across reloads: rules whose authorizers agree on what a valid
// token is (issuer, audiences, algorithms, key source) share one, and a
// reload keeps it while some rule still needs it. Required scopes and
// forwarded claims are the gate's business and may change freely.

// verifierKey is what a verifier is built from.
type verifierKey struct {
	issuer     string
	audiences  string // joined with "\n", which no audience holds
	algorithms string
	jwksURL    string
	local      bool
}

func newVerifierKey(ac *config.Authorizer, cfg *config.Config) verifierKey {
	return verifierKey{
		issuer:     ac.JWTIssuer(cfg),
		audiences:  strings.Join(ac.Audiences, "\n"),
		algorithms: strings.Join(ac.Algorithms, "\n"),
		jwksURL:    ac.JWKSURL,
		local:      ac.Local,
	}
}

// verifiers are the verifiers of one generation.
type verifiers map[verifierKey]*token.Verifier

// errNoTokens is returned by New and Reload for a config with a jwt
// authorizer that has local: true when the Server was given no
// TokenAuthority.
var errNoTokens = errors.New("a rule has a jwt authorizer with local: true but tether's token service is not running (add a tokens: block)")

// checkTokens refuses a config whose local jwt authorizers the server
// cannot serve: no token service, or one issuing under another iss.
func (s *Server) checkTokens(cfg *config.Config) error {
	for _, l := range cfg.Listeners {
		for _, r := range l.Rules {
			ac := r.Authorizer
			if ac == nil || ac.Type != "jwt" || !ac.Local {
				continue
			}
			if s.tokens == nil {
				return errNoTokens
			}
			if want, got := ac.JWTIssuer(cfg), s.tokens.Issuer(); want != got {
				return fmt.Errorf("listener %s: a jwt authorizer with local: true accepts issuer %q, but the token service issues %q", l.Name, want, got)
			}
		}
	}
	return nil
}

// prepareVerifiers returns the verifiers cfg's jwt authorizers need,
// taking those of cur that still fit and creating the others (returned in
// created too, for the caller to close if it gives up). New verifiers
// start fetching their key sets in the background; nothing waits for
// them. On error, the ones created so far are closed.
func (s *Server) prepareVerifiers(cfg *config.Config, cur verifiers) (vs verifiers, created []*token.Verifier, err error) {
	vs = verifiers{}
	for _, l := range cfg.Listeners {
		for _, r := range l.Rules {
			ac := r.Authorizer
			if ac == nil || ac.Type != "jwt" {
				continue
			}
			k := newVerifierKey(ac, cfg)
			if vs[k] != nil {
				continue
			}
			if v := cur[k]; v != nil {
				vs[k] = v
				continue
			}
			v, err := token.New(s.verifierOptions(k, ac))
			if err != nil {
				closeVerifiers(created)
				return nil, nil, fmt.Errorf("listener %s: jwt authorizer: %w", l.Name, err)
			}
			vs[k] = v
			created = append(created, v)
		}
	}
	return vs, created, nil
}

// verifierOptions are the token.Options of the verifier for k. A local
// authorizer reads the token service's keys in process; it, and any
// authorizer of the token service's issuer, honours the service's per-user
// not-before.
func (s *Server) verifierOptions(k verifierKey, ac *config.Authorizer) token.Options {
	o := token.Options{
		Issuer:     k.issuer,
		Audiences:  ac.Audiences,
		Algorithms: ac.Algorithms,
		JWKSURL:    ac.JWKSURL,
		Now:        s.clk.Now,
		Logger:     s.base.With("authorizer", "jwt"),
	}
	if s.tokens != nil && (ac.Local || k.issuer == s.tokens.Issuer()) {
		o.NotBefore = s.tokens.NotBefore
	}
	if ac.Local {
		// In process, a read of the key set costs next to nothing: read
		// it often, so that a key that left the token service's JWKS
		// (retired after a rotation) stops verifying within seconds, not
		// at the 15-minute refresh a fetched JWKS gets.
		o.JWKSFunc = s.tokens.JWKS
		o.RefreshInterval, o.MinRefreshInterval = localKeysRefresh, time.Second
	}
	return o
}

// localKeysRefresh is how often a local authorizer reads the token
// service's key set again.
const localKeysRefresh = 10 * time.Second

// closeUnused closes the verifiers of vs that keep does not hold. A
// request still using one finishes with its last key set.
func (vs verifiers) closeUnused(keep verifiers) {
	for k, v := range vs {
		if keep[k] != v {
			v.Close()
		}
	}
}

func closeVerifiers(list []*token.Verifier) {
	for _, v := range list {
		v.Close()
	}
}
