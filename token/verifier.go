package token

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
)

// Verifier verifies signed JWT access tokens from one issuer against the
// issuer's key set. It is safe for concurrent use.
type Verifier struct {
	opts  Options
	algs  []jose.SignatureAlgorithm
	log   *slog.Logger
	cache *cache
	// headers memoizes the checks of headers seen on verified tokens.
	headers headerMemo

	keys        atomic.Pointer[keySet] // nil until the first fetch succeeds
	nextRefresh atomic.Int64           // when the key set is due, in Unix ns
	wake        chan struct{}          // tells refreshLoop that nextRefresh moved

	mu        sync.Mutex // guards the fields below
	flight    *flight
	lastFetch time.Time
	lastErr   error
	closed    bool

	ctx    context.Context // canceled by Close; parent of every fetch
	cancel context.CancelFunc
	wg     sync.WaitGroup

	sigChecks atomic.Int64 // signature verifications, for tests
}

// New returns a Verifier for opts, after Options.Validate. It starts
// fetching the key set in the background and returns without waiting: the
// first Verify waits for that fetch. Call Close to stop refreshing.
func New(opts Options) (*Verifier, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	o.Algorithms = slices.Clone(o.Algorithms)
	o.Audiences = slices.Clone(o.Audiences)
	v := &Verifier{
		opts:  o,
		log:   o.Logger.With("component", "token", "issuer", o.Issuer),
		cache: newCache(o.CacheSize),
		wake:  make(chan struct{}, 1),
	}
	for _, a := range o.Algorithms {
		v.algs = append(v.algs, jose.SignatureAlgorithm(a))
	}
	v.ctx, v.cancel = context.WithCancel(context.Background())
	v.nextRefresh.Store(math.MaxInt64)
	v.startFetch(false)
	v.wg.Add(1)
	go v.refreshLoop()
	return v, nil
}

// Close stops the background refresh and waits for a fetch in progress to
// end. Verify keeps working afterwards with the last key set, but never
// fetches again. Close may be called more than once.
func (v *Verifier) Close() {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	v.cancel()
	v.wg.Wait()
}

// Verify checks raw, a JWT in JWS Compact Serialization, and returns its
// claims. In order, it refuses: inputs over MaxTokenSize, other
// serializations and JWE (ErrMalformed); an alg that is "none", symmetric
// or not allowed (ErrAlgorithm); the header parameters jwk, jku, x5u, x5c,
// crit, b64, zip, enc and cty (ErrHeader); a missing or unexpected typ
// (ErrType); a kid missing from the key set after one rate-limited
// refresh (ErrUnknownKey); a key whose type or JWK alg does not fit the
// alg (ErrAlgorithm); a bad signature (ErrSignature); then, trusting the
// claims only from here, a wrong iss (ErrIssuer) or aud (ErrAudience), a
// missing sub or exp (ErrMalformed), an exp past (ErrExpired), an nbf or
// iat ahead (ErrNotYetValid), each with Options.Leeway; and last a token
// issued before the subject's Options.NotBefore (ErrRevoked).
//
// A token that verified is cached until its exp: verifying it again costs
// a hash and a map lookup, plus the NotBefore call, which is never cached.
// A cached token stops verifying as soon as a refresh of the key set drops
// the key that signed it. ctx bounds the waits for a key-set fetch and is
// passed to NotBefore.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	now := v.opts.Now()
	if v.refreshDue(now) {
		v.startFetch(true)
	}
	if len(raw) > MaxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes; at most %d are accepted", ErrMalformed, len(raw), MaxTokenSize)
	}
	var sum uint64
	if v.cache != nil {
		sum = v.cache.key(raw)
		if e := v.cache.get(sum, raw, now); e != nil && v.keys.Load().has(e.key) {
			if err := v.checkNotBefore(ctx, e.claims); err != nil {
				return nil, err
			}
			return e.claims, nil
		}
	}
	c, k, err := v.verify(ctx, raw, now)
	if err != nil {
		return nil, err
	}
	if err := v.checkNotBefore(ctx, c); err != nil {
		return nil, err
	}
	if now.Before(c.Expiry) {
		v.cache.put(sum, &cacheEntry{raw: strings.Clone(raw), claims: c, key: k, expires: c.Expiry})
	}
	return c, nil
}

// verify does the work of Verify for a token not in the cache, except the
// not-before check, and returns the key that verified the signature.
func (v *Verifier) verify(ctx context.Context, raw string, now time.Time) (*Claims, *verifyKey, error) {
	h, p, s, err := splitCompact(raw)
	if err != nil {
		return nil, nil, err
	}
	hd, memoized := v.headers.get(h)
	if !memoized {
		if hd, err = v.parseHeader(h); err != nil {
			return nil, nil, err
		}
	}
	if p == "" || s == "" {
		return nil, nil, fmt.Errorf("%w: empty payload or signature", ErrMalformed)
	}
	// parseHeader has checked alg against the allowlist, and key returns
	// only a key that fits it.
	k, err := v.key(ctx, hd)
	if err != nil {
		return nil, nil, err
	}
	sig, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	v.sigChecks.Add(1)
	if err := verifySignature(hd.alg, k.pub, raw[:len(h)+1+len(p)], sig); err != nil {
		if errors.Is(err, errBadSignature) {
			return nil, nil, fmt.Errorf("%w: with key %s (%s)", ErrSignature, quote(k.kid), hd.alg)
		}
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	if !memoized {
		v.headers.add(h, hd)
	}
	if !utf8.Valid(payload) {
		return nil, nil, fmt.Errorf("%w: claims are not UTF-8", ErrMalformed)
	}
	m, err := decodeObject(payload)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: claims are not a JSON object: %v", ErrMalformed, err)
	}
	c, err := newClaims(m)
	if err != nil {
		return nil, nil, err
	}
	if err := v.check(c, now); err != nil {
		return nil, nil, err
	}
	return c, k, nil
}

// key returns the key for hd. An unknown kid triggers one refresh of the
// key set (shared with concurrent callers, at most one per
// MinRefreshInterval) and a second look.
func (v *Verifier) key(ctx context.Context, hd header) (*verifyKey, error) {
	set, err := v.keySet(ctx)
	if err != nil {
		return nil, err
	}
	k, err := set.find(hd.kid, hd.hasKID, hd.alg)
	if !errors.Is(err, ErrUnknownKey) || !hd.hasKID {
		return k, err
	}
	f := v.startFetch(true)
	if err := wait(ctx, f); err != nil {
		return nil, err
	}
	k, err = v.keys.Load().find(hd.kid, hd.hasKID, hd.alg)
	if err != nil && f == nil {
		err = fmt.Errorf("%w (the key set was fetched less than %v ago)", err, v.opts.MinRefreshInterval)
	}
	return k, err
}

// checkNotBefore refuses c if it was issued before its subject's
// not-before time. iat has one-second resolution in most tokens, so a
// token issued in the same second as the not-before, just after it, is
// refused too: failing that way is the safe side.
func (v *Verifier) checkNotBefore(ctx context.Context, c *Claims) error {
	if v.opts.NotBefore == nil {
		return nil
	}
	nb, err := v.opts.NotBefore(ctx, c.Issuer, c.Subject)
	switch {
	case err != nil:
		return fmt.Errorf("token: not-before lookup: %w", err)
	case nb.IsZero():
		return nil
	case c.IssuedAt.IsZero():
		return fmt.Errorf("%w: the subject has a not-before time and the token has no iat", ErrRevoked)
	case c.IssuedAt.Before(nb):
		return fmt.Errorf("%w: issued at %s, before the subject's not-before %s", ErrRevoked,
			c.IssuedAt.Format(time.RFC3339), nb.UTC().Format(time.RFC3339Nano))
	}
	return nil
}
