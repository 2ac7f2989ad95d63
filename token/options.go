package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults and limits of Options.
const (
	// DefaultType is the access-token type of RFC 9068 §2.1.
	DefaultType               = "at+jwt"
	DefaultLeeway             = 30 * time.Second
	MaxLeeway                 = 60 * time.Second
	DefaultRefreshInterval    = 15 * time.Minute
	DefaultMinRefreshInterval = 30 * time.Second
	// MaxRefreshInterval caps RefreshInterval and a JWKS response's
	// Cache-Control max-age.
	MaxRefreshInterval  = 24 * time.Hour
	DefaultFetchTimeout = 10 * time.Second
	DefaultCacheSize    = 10000
	// MaxTokenSize is the largest token Verify parses, in bytes.
	MaxTokenSize = 8 << 10
)

// defaultAlgorithms is the allowlist used when Options.Algorithms is empty.
var defaultAlgorithms = []string{"RS256", "ES256", "EdDSA"}

// supportedAlgorithms are the asymmetric JWS algorithms (RFC 7518 §3.1,
// RFC 8037) that Options.Algorithms may name.
var supportedAlgorithms = []string{
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "EdDSA",
}

// NotBeforeFunc returns the time before which every token issued to
// subject by issuer is revoked: typically the moment the user logged out
// everywhere, changed their password or was disabled. It returns the zero
// time when the subject has no such time. The error is for system failures
// only; Verify then fails closed, returning it wrapped. It must be safe for
// concurrent use, and should be fast: it runs on every Verify, cached or not.
type NotBeforeFunc func(ctx context.Context, issuer, subject string) (time.Time, error)

// Options configure a Verifier. Issuer, Audiences and exactly one of
// JWKSURL and JWKSFunc are required; every other zero field takes its
// default.
type Options struct {
	// Issuer is the only accepted iss, compared byte for byte. Required.
	Issuer string
	// Audiences is the allowlist of aud values: a token is accepted when its
	// aud (a string or an array) contains at least one of them. Required.
	Audiences []string
	// Algorithms is the allowlist of header alg values. Default RS256,
	// ES256 and EdDSA. Allowed: RS256, RS384,
	// RS512, PS256, PS384, PS512, ES256, ES384, ES512 and EdDSA. "none" and
	// the HMAC algorithms (HS256, HS384, HS512) are refused: the verifier
	// only holds public keys, so a symmetric alg could only mean key
	// confusion (RFC 8725 §2.1).
	Algorithms []string
	// JWKSURL is where the JSON Web Key Set (RFC 7517 §5) is fetched. It
	// must be https, or http to a loopback host (127.0.0.0/8, ::1,
	// localhost). The key set is fetched when the Verifier is created,
	// every RefreshInterval, and when a token names an unknown kid.
	JWKSURL string
	// JWKSFunc returns a JWKS document, in place of fetching JWKSURL: use
	// it for keys the process already holds (tether's own token service,
	// or a static set). It is called whenever a fetch would be, so a
	// function that reads a rotating key ring picks up new keys.
	JWKSFunc func(ctx context.Context) ([]byte, error)
	// Type is the expected typ header (RFC 8725 §3.11), compared
	// case-insensitively, with or without the "application/" prefix
	// (RFC 7515 §4.1.9). Default "at+jwt" (RFC 9068). A token without typ
	// is refused.
	Type string
	// Leeway is the clock skew allowed on exp, nbf and iat. Default 30s;
	// at most 60s.
	Leeway time.Duration
	// RefreshInterval is how often the key set is fetched again when the
	// JWKS response has no Cache-Control max-age. Default 15m; between
	// MinRefreshInterval and 24h. A max-age is honoured, clamped to
	// [MinRefreshInterval, 24h].
	RefreshInterval time.Duration
	// MinRefreshInterval is the least time between two fetches of the key
	// set: a token with an unknown kid triggers a fetch only if the last
	// one started at least this long ago. Default 30s; at least 1s.
	MinRefreshInterval time.Duration
	// FetchTimeout bounds each fetch of the key set. Default 10s.
	FetchTimeout time.Duration
	// HTTPClient fetches JWKSURL. Default: a client that follows no
	// redirects.
	HTTPClient *http.Client
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// NotBefore, if set, is consulted after every successful verification,
	// including cache hits: a token whose iat is before the returned time is
	// refused with ErrRevoked.
	NotBefore NotBeforeFunc
	// CacheSize bounds the cache of verified tokens, in entries. Default
	// 10000; negative disables the cache.
	CacheSize int
	// Logger receives key-set events (fetch failures, skipped keys). Default:
	// discard. Tokens are never logged.
	Logger *slog.Logger
}

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	if len(o.Algorithms) == 0 {
		o.Algorithms = defaultAlgorithms
	}
	if o.Type == "" {
		o.Type = DefaultType
	}
	if o.Leeway == 0 {
		o.Leeway = DefaultLeeway
	}
	if o.RefreshInterval == 0 {
		o.RefreshInterval = DefaultRefreshInterval
	}
	if o.MinRefreshInterval == 0 {
		o.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if o.FetchTimeout == 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Validate reports every problem of o (after defaults) at once, naming the
// field. It contacts nothing.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("token: "+format, args...))
	}
	if o.Issuer == "" {
		add("Issuer is required: the exact iss of accepted tokens")
	}
	if len(o.Audiences) == 0 || slices.Contains(o.Audiences, "") {
		add("Audiences %q: want one or more non-empty aud values", o.Audiences)
	}
	for _, a := range o.Algorithms {
		switch {
		case strings.EqualFold(a, "none") || strings.HasPrefix(strings.ToUpper(a), "HS"):
			add("Algorithms: %q is refused: the verifier takes only public keys; allowed: %s", a, strings.Join(supportedAlgorithms, ", "))
		case !slices.Contains(supportedAlgorithms, a):
			add("Algorithms: %q is not supported; allowed: %s", a, strings.Join(supportedAlgorithms, ", "))
		}
	}
	switch {
	case o.JWKSURL == "" && o.JWKSFunc == nil:
		add("one of JWKSURL and JWKSFunc is required")
	case o.JWKSURL != "" && o.JWKSFunc != nil:
		add("JWKSURL and JWKSFunc are both set; set one")
	case o.JWKSURL != "":
		if err := checkJWKSURL(o.JWKSURL); err != nil {
			add("JWKSURL %q: %v", o.JWKSURL, err)
		}
	}
	if o.Leeway < 0 || o.Leeway > MaxLeeway {
		add("Leeway %v: want between 0 (default %v) and %v", o.Leeway, DefaultLeeway, MaxLeeway)
	}
	if o.MinRefreshInterval < time.Second {
		add("MinRefreshInterval %v: want 1s or more (default %v)", o.MinRefreshInterval, DefaultMinRefreshInterval)
	}
	if o.RefreshInterval < o.MinRefreshInterval || o.RefreshInterval > MaxRefreshInterval {
		add("RefreshInterval %v: want between MinRefreshInterval (%v) and %v", o.RefreshInterval, o.MinRefreshInterval, MaxRefreshInterval)
	}
	if o.FetchTimeout < 0 {
		add("FetchTimeout %v: want 0 (default %v) or more", o.FetchTimeout, DefaultFetchTimeout)
	}
	return errors.Join(errs...)
}

// checkJWKSURL accepts https URLs, and http URLs to a loopback host.
func checkJWKSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Host == "" {
		return errors.New("want an absolute https URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("http is allowed only to a loopback host; use https")
	}
	return fmt.Errorf("scheme %q: want https (or http to a loopback host)", u.Scheme)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
