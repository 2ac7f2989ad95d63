package token_test

import (
	"context"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tetherlb/tether/token"
)

func TestCacheSkipsSignatureOnRepeat(t *testing.T) {
	k := keys()
	s := newSetup(t, nil, k.rsa1)
	raw := sign(t, k.rsa1, jose.RS256, claims(start))
	first := verified(t, s.v, raw)
	for range 5 {
		if c := verified(t, s.v, raw); c != first {
			t.Fatal("a repeated token was not served from the cache")
		}
	}
	if got := token.SignatureChecks(s.v); got != 1 {
		t.Errorf("signature checks = %d, want 1", got)
	}
}

func TestCacheDisabled(t *testing.T) {
	k := keys()
	s := newSetup(t, func(o *token.Options) { o.CacheSize = -1 }, k.ec1)
	raw := sign(t, k.ec1, jose.ES256, claims(start))
	verified(t, s.v, raw)
	verified(t, s.v, raw)
	if got := token.SignatureChecks(s.v); got != 2 {
		t.Errorf("signature checks = %d, want 2", got)
	}
}

func TestCacheExpiresAtExp(t *testing.T) {
	k := keys()
	s := newSetup(t, nil, k.ec1)
	raw := sign(t, k.ec1, jose.ES256, claims(start)) // exp = start+10m
	verified(t, s.v, raw)
	s.clock.Advance(10*time.Minute - time.Second)
	verified(t, s.v, raw)
	if got := token.SignatureChecks(s.v); got != 1 {
		t.Fatalf("before exp: signature checks = %d, want 1", got)
	}
	// At exp the entry is gone: the token is verified afresh and, within
	// the leeway, accepted (and not cached again).
	s.clock.Advance(time.Second)
	verified(t, s.v, raw)
	verified(t, s.v, raw)
	if got := token.SignatureChecks(s.v); got != 3 {
		t.Fatalf("at exp: signature checks = %d, want 3", got)
	}
	s.clock.Advance(token.DefaultLeeway)
	_, err := s.v.Verify(context.Background(), raw)
	checkErr(t, err, token.ErrExpired)
}

func TestCacheNeverStoresFailures(t *testing.T) {
	k := keys()
	s := newSetup(t, nil, k.ec1)
	raw := sign(t, k.ec1, jose.ES256, with(claims(start), "aud", "other"))
	for range 2 {
		_, err := s.v.Verify(context.Background(), raw)
		checkErr(t, err, token.ErrAudience)
	}
	if got := token.SignatureChecks(s.v); got != 2 {
		t.Errorf("signature checks = %d, want 2", got)
	}
	if n := token.CacheLen(s.v); n != 0 {
		t.Errorf("cache holds %d entries after failures", n)
	}
}

func TestCacheHonoursNotBeforeSetLater(t *testing.T) {
	k := keys()
	var mu sync.Mutex
	var notBefore time.Time
	s := newSetup(t, func(o *token.Options) {
		o.NotBefore = func(context.Context, string, string) (time.Time, error) {
			mu.Lock()
			defer mu.Unlock()
			return notBefore, nil
		}
	}, k.ec1)
	raw := sign(t, k.ec1, jose.ES256, claims(start))
	verified(t, s.v, raw)
	// The user logs out everywhere.
	s.clock.Advance(time.Minute)
	mu.Lock()
	notBefore = s.clock.Now()
	mu.Unlock()
	_, err := s.v.Verify(context.Background(), raw)
	checkErr(t, err, token.ErrRevoked)
	if got := token.SignatureChecks(s.v); got != 1 {
		t.Errorf("signature checks = %d, want 1: the refusal came from the cache", got)
	}
	// A token issued after it is fine.
	verified(t, s.v, sign(t, k.ec1, jose.ES256, claims(s.clock.Now())))
}

func TestCacheDropsTokensOfRemovedKeys(t *testing.T) {
	k := keys()
	s := newSetup(t, nil, k.ec1, k.ec2)
	long := func(key testKey) string {
		return sign(t, key, jose.ES256, with(claims(start), "exp", start.Add(time.Hour).Unix()))
	}
	kept, dropped := long(k.ec1), long(k.ec2)
	verified(t, s.v, kept)
	verified(t, s.v, dropped)
	// ec-2 is withdrawn (say, compromised); the periodic refresh sees it.
	s.srv.setKeys(t, k.ec1)
	s.clock.Advance(token.DefaultRefreshInterval)
	verified(t, s.v, kept) // starts the refresh
	token.WaitFetch(s.v)
	_, err := s.v.Verify(context.Background(), dropped)
	checkErr(t, err, token.ErrUnknownKey)
	checks := token.SignatureChecks(s.v)
	verified(t, s.v, kept)
	if got := token.SignatureChecks(s.v); got != checks {
		t.Error("a refresh that kept a key dropped its cached tokens")
	}
}

func TestCacheBounded(t *testing.T) {
	k := keys()
	s := newSetup(t, func(o *token.Options) { o.CacheSize = 3 }, k.ed1)
	var raws []string
	for i := range 5 {
		raw := sign(t, k.ed1, jose.EdDSA, with(claims(start), "jti", string(rune('a'+i))))
		raws = append(raws, raw)
		verified(t, s.v, raw)
	}
	if n := token.CacheLen(s.v); n != 3 {
		t.Errorf("cache holds %d entries, want 3", n)
	}
	before := token.SignatureChecks(s.v)
	verified(t, s.v, raws[4]) // recent: cached
	verified(t, s.v, raws[0]) // oldest: evicted
	if got := token.SignatureChecks(s.v) - before; got != 1 {
		t.Errorf("signature checks = %d, want 1 (only the evicted token)", got)
	}
}

func TestCacheConcurrent(t *testing.T) {
	k := keys()
	s := newSetup(t, func(o *token.Options) { o.CacheSize = 100 }, k.ed1)
	raws := make([]string, 20)
	for i := range raws {
		raws[i] = sign(t, k.ed1, jose.EdDSA, with(claims(start), "jti", string(rune('a'+i))))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8*len(raws))
	for g := range 8 {
		wg.Go(func() {
			for i := range raws {
				_, err := s.v.Verify(context.Background(), raws[(i+g)%len(raws)])
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
