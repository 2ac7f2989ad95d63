package token

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxJWKSSize bounds a JWKS document, in bytes.
const maxJWKSSize = 1 << 20

// flight is one fetch of the key set; done is closed when it ends.
type flight struct {
	done chan struct{}
}

// startFetch starts a fetch of the key set, or joins the one in progress,
// and returns it. When limited, it starts none within MinRefreshInterval
// of the previous start (or after Close) and returns nil. Concurrent
// callers share one fetch (single flight).
func (v *Verifier) startFetch(limited bool) *flight {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.flight != nil {
		return v.flight
	}
	now := v.opts.Now()
	if v.closed || limited && !v.lastFetch.IsZero() && now.Sub(v.lastFetch) < v.opts.MinRefreshInterval {
		return nil
	}
	v.lastFetch = now
	f := &flight{done: make(chan struct{})}
	v.flight = f
	v.wg.Add(1)
	go v.runFetch(f, now)
	return f
}

// runFetch fetches and parses the key set, installs it if it has a usable
// key (else keeps the last good one), and schedules the next refresh.
func (v *Verifier) runFetch(f *flight, started time.Time) {
	defer v.wg.Done()
	ctx, cancel := context.WithTimeout(v.ctx, v.opts.FetchTimeout)
	defer cancel()
	doc, maxAge, err := v.fetchDoc(ctx)
	var set *keySet
	if err == nil {
		set, err = parseKeySet(doc, v.opts.Algorithms, v.keys.Load(), v.log)
	}
	next := started.Add(v.opts.RefreshInterval)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrJWKSUnavailable, err)
		if v.ctx.Err() == nil { // not a fetch cut short by Close
			v.log.Warn("jwks fetch failed; keeping the last key set", "error", err)
		}
		next = started.Add(v.opts.MinRefreshInterval)
	} else {
		if maxAge >= 0 {
			next = started.Add(min(max(maxAge, v.opts.MinRefreshInterval), MaxRefreshInterval))
		}
		v.keys.Store(set)
		v.log.Debug("jwks loaded", "keys", set.n, "next_refresh", next)
	}
	v.nextRefresh.Store(next.UnixNano())
	v.mu.Lock()
	v.flight = nil
	v.lastErr = err
	v.mu.Unlock()
	close(f.done)
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// fetchDoc returns a JWKS document and its Cache-Control max-age (-1 when
// there is none).
func (v *Verifier) fetchDoc(ctx context.Context) ([]byte, time.Duration, error) {
	if v.opts.JWKSFunc != nil {
		doc, err := v.opts.JWKSFunc(ctx)
		return doc, -1, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.opts.JWKSURL, nil)
	if err != nil {
		return nil, -1, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, -1, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, -1, fmt.Errorf("GET %s: %s (redirects are not followed)", v.opts.JWKSURL, resp.Status)
	}
	doc, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, -1, fmt.Errorf("GET %s: %w", v.opts.JWKSURL, err)
	}
	if len(doc) > maxJWKSSize {
		return nil, -1, fmt.Errorf("GET %s: document larger than %d bytes", v.opts.JWKSURL, maxJWKSSize)
	}
	return doc, cacheMaxAge(resp.Header), nil
}

// cacheMaxAge returns the max-age directive of the Cache-Control header
// (RFC 9111 §5.2.2.1), or -1 when there is none or it is invalid.
func cacheMaxAge(h http.Header) time.Duration {
	for _, line := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			if !strings.EqualFold(name, "max-age") {
				continue
			}
			n, err := strconv.ParseUint(strings.Trim(val, `"`), 10, 32)
			if err != nil {
				return -1
			}
			return time.Duration(n) * time.Second
		}
	}
	return -1
}

// refreshLoop fetches the key set when it is due, until Close. Verify also
// starts due refreshes, so a refresh happens on time whichever runs first.
func (v *Verifier) refreshLoop() {
	defer v.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		wait := time.Duration(v.nextRefresh.Load() - v.opts.Now().UnixNano())
		t.Reset(max(wait, time.Second))
		select {
		case <-v.ctx.Done():
			return
		case <-v.wake:
		case <-t.C:
			if v.refreshDue(v.opts.Now()) {
				v.startFetch(true)
			}
		}
	}
}

func (v *Verifier) refreshDue(now time.Time) bool {
	return now.UnixNano() >= v.nextRefresh.Load()
}

// keySet returns the current key set, waiting (within ctx) for the first
// fetch if none has succeeded yet.
func (v *Verifier) keySet(ctx context.Context) (*keySet, error) {
	if set := v.keys.Load(); set != nil {
		return set, nil
	}
	if err := wait(ctx, v.startFetch(true)); err != nil {
		return nil, err
	}
	if set := v.keys.Load(); set != nil {
		return set, nil
	}
	v.mu.Lock()
	err := v.lastErr
	v.mu.Unlock()
	if err == nil {
		err = ErrJWKSUnavailable
	}
	return nil, fmt.Errorf("%w (retried at most every %v)", err, v.opts.MinRefreshInterval)
}

// wait waits for f, if not nil, or for ctx to end.
func wait(ctx context.Context, f *flight) error {
	if f == nil {
		return nil
	}
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("token: waiting for the key set: %w", ctx.Err())
	}
}
