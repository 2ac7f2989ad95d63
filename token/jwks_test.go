package token_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/testsupport"
	"github.com/tetherlb/tether/token"
)

// verified verifies raw and fails the test on error.
func verified(t *testing.T, v *token.Verifier, raw string) *token.Claims {
	t.Helper()
	c, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return c
}

func TestJWKSRotationConcurrent(t *testing.T) {
	k := keys()
	s := newSetup(t, nil, k.ec1)
	verified(t, s.v, sign(t, k.ec1, jose.ES256, claims(start)))
	if got := s.srv.hits.Load(); got != 1 {
		t.Fatalf("initial fetches = %d, want 1", got)
	}
	// The issuer rotates ec-2 in, and tokens naming it arrive at once.
	s.srv.setKeys(t, k.ec1, k.ec2)
	s.clock.Advance(token.DefaultMinRefreshInterval)
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	s.srv.set(func(s *jwksServer) { s.gate, s.entered = gate, entered })
	raw := sign(t, k.ec2, jose.ES256, claims(s.clock.Now()))
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			_, err := s.v.Verify(context.Background(), raw)
			errs <- err
		})
	}
	<-entered // the refresh is in flight; callers queue on it
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Verify after rotation: %v", err)
		}
	}
	if got := s.srv.hits.Load(); got != 2 {
		t.Errorf("fetches = %d, want 2: the initial one and one refresh for the new kid", got)
	}
}

func TestJWKSRefreshRateLimited(t *testing.T) {
	k := keys()
	s := newSetup(t, nil, k.ec1)
	verified(t, s.v, sign(t, k.ec1, jose.ES256, claims(start)))
	random := func(i int) string {
		return sign(t, testKey{kid: fmt.Sprintf("random-%d", i), priv: k.ec1.priv}, jose.ES256, claims(s.clock.Now()))
	}
	// Within MinRefreshInterval of the initial fetch: no fetch at all.
	for i := range 20 {
		_, err := s.v.Verify(context.Background(), random(i))
		checkErr(t, err, token.ErrUnknownKey)
	}
	if got := s.srv.hits.Load(); got != 1 {
		t.Fatalf("fetches = %d, want 1", got)
	}
	// Each further interval allows exactly one.
	for round := int64(2); round <= 3; round++ {
		s.clock.Advance(token.DefaultMinRefreshInterval)
		for i := range 20 {
			_, err := s.v.Verify(context.Background(), random(i))
			checkErr(t, err, token.ErrUnknownKey)
		}
		if got := s.srv.hits.Load(); got != round {
			t.Fatalf("after %d intervals: fetches = %d, want %d", round-1, got, round)
		}
		s.clock.Advance(token.DefaultMinRefreshInterval - time.Second)
		_, err := s.v.Verify(context.Background(), random(99))
		checkErr(t, err, token.ErrUnknownKey)
		if got := s.srv.hits.Load(); got != round {
			t.Fatalf("1s before the next interval: fetches = %d, want %d", got, round)
		}
		s.clock.Advance(time.Second)
	}
}

func TestJWKSEndpointDownKeepsLastSet(t *testing.T) {
	k := keys()
	s := newSetup(t, nil, k.ec1)
	verified(t, s.v, sign(t, k.ec1, jose.ES256, claims(start)))
	s.srv.Close() // a dead endpoint is a closed listener
	s.clock.Advance(token.DefaultRefreshInterval + time.Second)
	now := s.clock.Now()
	// The due refresh starts, fails, and the known key still verifies.
	verified(t, s.v, sign(t, k.ec1, jose.ES256, with(claims(now), "jti", "a")))
	token.WaitFetch(s.v)
	verified(t, s.v, sign(t, k.ec1, jose.ES256, with(claims(now), "jti", "b")))
	// A failed fetch is retried after MinRefreshInterval, not RefreshInterval.
	if got, want := token.NextRefresh(s.v), now.Add(token.DefaultMinRefreshInterval); !got.Equal(want) {
		t.Errorf("after a failure, next refresh = %v, want %v", got, want)
	}
	s.clock.Advance(token.DefaultMinRefreshInterval)
	_, err := s.v.Verify(context.Background(), sign(t, k.ec2, jose.ES256, claims(s.clock.Now())))
	checkErr(t, err, token.ErrUnknownKey)
	verified(t, s.v, sign(t, k.ec1, jose.ES256, with(claims(s.clock.Now()), "jti", "c")))
}

func TestJWKSUnavailableFromStart(t *testing.T) {
	k := keys()
	s := newServerSetup(t, k.ec1)
	s.srv.status = http.StatusServiceUnavailable
	s.start(t, nil)
	raw := sign(t, k.ec1, jose.ES256, claims(start))
	_, err := s.v.Verify(context.Background(), raw)
	checkErr(t, err, token.ErrJWKSUnavailable)
	_, err = s.v.Verify(context.Background(), raw)
	checkErr(t, err, token.ErrJWKSUnavailable)
	if got := s.srv.hits.Load(); got != 1 {
		t.Errorf("fetches = %d, want 1: a retry within MinRefreshInterval must not fetch", got)
	}
	// The endpoint recovers; the next interval brings the keys.
	s.srv.set(func(s *jwksServer) { s.status = http.StatusOK })
	s.clock.Advance(token.DefaultMinRefreshInterval)
	verified(t, s.v, raw)
}

func TestJWKSCacheControl(t *testing.T) {
	k := keys()
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", token.DefaultRefreshInterval},
		{"public, max-age=120", 120 * time.Second},
		{"max-age=5", token.DefaultMinRefreshInterval},
		{"max-age=0, must-revalidate", token.DefaultMinRefreshInterval},
		{"max-age=9999999", token.MaxRefreshInterval},
		{"no-cache", token.DefaultRefreshInterval},
		{"max-age=soon", token.DefaultRefreshInterval},
		{`Max-Age="600"`, 600 * time.Second},
	} {
		t.Run(tc.header, func(t *testing.T) {
			srv := newJWKSServer(t, k.ec1)
			srv.cacheControl = tc.header
			v, err := token.New(token.Options{Issuer: issuer, Audiences: []string{audience}, JWKSURL: srv.url(), Now: func() time.Time { return start }})
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			verified(t, v, sign(t, k.ec1, jose.ES256, claims(start)))
			if got := token.NextRefresh(v); !got.Equal(start.Add(tc.want)) {
				t.Errorf("next refresh in %v, want %v", got.Sub(start), tc.want)
			}
		})
	}
}

func TestJWKSMaxAgeDrivesRefresh(t *testing.T) {
	k := keys()
	s := newServerSetup(t, k.ec1)
	s.srv.cacheControl = "max-age=120"
	s.start(t, nil)
	raw := sign(t, k.ec1, jose.ES256, with(claims(start), "exp", start.Add(time.Hour).Unix()))
	verified(t, s.v, raw)
	s.clock.Advance(119 * time.Second)
	verified(t, s.v, raw)
	token.WaitFetch(s.v)
	if got := s.srv.hits.Load(); got != 1 {
		t.Fatalf("fetches before max-age ran out = %d, want 1", got)
	}
	s.clock.Advance(time.Second)
	verified(t, s.v, raw)
	token.WaitFetch(s.v)
	if got := s.srv.hits.Load(); got != 2 {
		t.Fatalf("fetches once max-age ran out = %d, want 2", got)
	}
	if got := token.NextRefresh(s.v); !got.Equal(start.Add(240 * time.Second)) {
		t.Errorf("next refresh %v after the start, want 240s", got.Sub(start))
	}
}

func TestJWKSInvalidKeysSkipped(t *testing.T) {
	k := keys()
	doc := fmt.Sprintf(`{"keys":[
		%s,
		{"kty":"oct","kid":"sym","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"},
		%s,
		%s,
		{"kty":"RSA","kid":"garbage","n":"!!","e":"AQAB"},
		{"kty":"EC","kid":"offcurve","crv":"P-256","x":"AQ","y":"AQ"},
		"not an object",
		%s
	]}`,
		mustJSON(t, k.rsaWeak.public()),
		mustJSON(t, jose.JSONWebKey{Key: k.ec2.priv, KeyID: "private"}),
		mustJSON(t, jose.JSONWebKey{Key: k.rsa2.priv.Public(), KeyID: "enc", Use: "enc"}),
		mustJSON(t, k.ec1.public()))
	s := newServerSetup(t)
	s.srv.setDoc([]byte(doc))
	var logs testsupport.SyncBuffer
	s.start(t, func(o *token.Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	verified(t, s.v, sign(t, k.ec1, jose.ES256, claims(start)))
	if n := strings.Count(logs.String(), "jwks key skipped"); n != 7 {
		t.Errorf("%d skipped keys logged, want 7:\n%s", n, logs.String())
	}
	for _, tc := range []struct {
		name string
		key  testKey
	}{
		{"RSA 1024", k.rsaWeak},
		{"private key", testKey{kid: "private", alg: jose.ES256, priv: k.ec2.priv}},
		{"use enc", testKey{kid: "enc", alg: jose.RS256, priv: k.rsa2.priv}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.v.Verify(context.Background(), sign(t, tc.key, tc.key.alg, claims(start)))
			checkErr(t, err, token.ErrUnknownKey)
		})
	}
}

func TestJWKSWithoutUsableKeysKeepsLastSet(t *testing.T) {
	k := keys()
	s := newSetup(t, nil, k.ec1)
	verified(t, s.v, sign(t, k.ec1, jose.ES256, claims(start)))
	s.srv.setKeys(t, k.rsaWeak)
	s.clock.Advance(token.DefaultRefreshInterval)
	verified(t, s.v, sign(t, k.ec1, jose.ES256, with(claims(s.clock.Now()), "jti", "a")))
	token.WaitFetch(s.v)
	verified(t, s.v, sign(t, k.ec1, jose.ES256, with(claims(s.clock.Now()), "jti", "b")))
}

func TestJWKSRedirectNotFollowed(t *testing.T) {
	k := keys()
	target := newJWKSServer(t, k.ec1)
	redirect := httptest.NewServer(http.RedirectHandler(target.url(), http.StatusFound))
	defer redirect.Close()
	v, err := token.New(token.Options{Issuer: issuer, Audiences: []string{audience}, JWKSURL: redirect.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	_, err = v.Verify(context.Background(), sign(t, k.ec1, jose.ES256, claims(time.Now())))
	checkErr(t, err, token.ErrJWKSUnavailable)
	if target.hits.Load() != 0 {
		t.Error("the redirect was followed")
	}
}

func TestJWKSWaitHonoursContext(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, k.ec1)
	gate := make(chan struct{})
	srv.gate = gate
	defer close(gate)
	v, err := token.New(token.Options{Issuer: issuer, Audiences: []string{audience}, JWKSURL: srv.url()})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = v.Verify(ctx, sign(t, k.ec1, jose.ES256, claims(time.Now())))
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, token.ErrJWKSUnavailable) {
		t.Fatalf("err = %v, want the context's error only", err)
	}
}

func TestJWKSFunc(t *testing.T) {
	k := keys()
	var mu sync.Mutex
	published := []testKey{k.ed1}
	calls := 0
	clk := clock.NewFake(start)
	v, err := token.New(token.Options{
		Issuer: issuer, Audiences: []string{audience}, Now: clk.Now,
		JWKSFunc: func(ctx context.Context) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			pubs := make([]jose.JSONWebKey, len(published))
			for i, pk := range published {
				pubs[i] = pk.public()
			}
			return jwksDoc(t, pubs...), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	verified(t, v, sign(t, k.ed1, jose.EdDSA, claims(start)))
	// The process's key ring rotates: the function publishes the new key.
	mu.Lock()
	published = append(published, k.ec2)
	mu.Unlock()
	clk.Advance(token.DefaultMinRefreshInterval)
	verified(t, v, sign(t, k.ec2, jose.ES256, claims(clk.Now())))
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Errorf("calls = %d, want 2", calls)
	}
}

func TestCloseStopsFetching(t *testing.T) {
	k := keys()
	s := newSetup(t, nil, k.ec1)
	verified(t, s.v, sign(t, k.ec1, jose.ES256, claims(start)))
	s.v.Close()
	s.v.Close()
	s.clock.Advance(time.Hour)
	_, err := s.v.Verify(context.Background(), sign(t, k.ec2, jose.ES256, claims(s.clock.Now())))
	checkErr(t, err, token.ErrUnknownKey)
	verified(t, s.v, sign(t, k.ec1, jose.ES256, claims(s.clock.Now())))
	if got := s.srv.hits.Load(); got != 1 {
		t.Errorf("fetches after Close: %d, want only the initial 1", got-1)
	}
}
