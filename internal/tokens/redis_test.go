package tokens_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/testsupport"
	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/redisstore"
	"github.com/tetherlb/tether/token"
)

// openRedis opens a refresh store on a real Redis, as a replica would.
func openRedis(t *testing.T, r *testsupport.Redis) session.Store {
	t.Helper()
	s, err := redisstore.Open(context.Background(), "redis://"+r.Addr, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Two replicas share a Redis and a key ring: a refresh token issued by one
// is rotated by the other, a replay is caught whichever replica sees it,
// and a logout everywhere at one stops the access tokens at the other.
func TestReplicasShareRedis(t *testing.T) {
	redis := testsupport.StartRedis(t)
	ring := rsaRing(t)
	a := newHarness(t, withRing(ring), withRefresh(openRedis(t, redis)))
	b := newHarness(t, withRing(ring), withRefresh(openRedis(t, redis)), withUsers(a.users))

	login := a.login("")
	r := b.refreshWith(login.str("refresh_token"))
	if r.status != http.StatusOK {
		t.Fatalf("refresh at b of a login at a: %d %s", r.status, r.raw)
	}
	// The access token b issued verifies against a's JWKS and b's: the
	// same key ring. (b's issuer is its own URL in this test.)
	if _, err := a.verifier("at+jwt").Verify(context.Background(), login.str("access_token")); err != nil {
		t.Fatal(err)
	}
	vb2, err := token.New(token.Options{Issuer: a.url, Audiences: []string{"api"}, JWKSURL: b.url + "/.well-known/jwks.json",
		Now: a.clk.Now, CacheSize: -1,
		// In production the replicas share one issuer; here each has its
		// own URL, so ask b about the subject under its own.
		NotBefore: func(ctx context.Context, _, sub string) (time.Time, error) { return b.svc.NotBefore(ctx, b.url, sub) }})
	if err != nil {
		t.Fatal(err)
	}
	defer vb2.Close()
	if _, err := vb2.Verify(context.Background(), login.str("access_token")); err != nil {
		t.Fatalf("a's token against b's JWKS: %v", err)
	}

	// Replaying the first refresh token is caught in Redis.
	a.clk.Advance(10 * time.Second)
	if r2 := a.refreshWith(login.str("refresh_token")); r2.status != http.StatusBadRequest {
		t.Fatalf("replay: %d", r2.status)
	}
	if r3 := a.refreshWith(r.str("refresh_token")); r3.status != http.StatusBadRequest {
		t.Errorf("the family survived a replay in Redis: %d", r3.status)
	}

	// Logout everywhere at a; b's authorizer sees it within the poll
	// interval (2s).
	fresh := a.login("")
	a.clk.Advance(time.Second)
	if r := a.postJSON("/api/v1/logout", `{"everywhere":true}`, "Authorization", "Bearer "+fresh.str("access_token")); r.status != http.StatusOK {
		t.Fatalf("logout everywhere: %d %s", r.status, r.raw)
	}
	b.clk.Advance(time.Second)
	testsupport.WaitFor(t, "replica b refuses the tokens of a user who logged out everywhere at a", func() bool {
		_, err := vb2.Verify(context.Background(), fresh.str("access_token"))
		return errors.Is(err, token.ErrRevoked)
	})
}

// A refresh store that cannot be reached gets 503 with Retry-After, and no
// token is issued without its refresh record.
func TestRefreshStoreDown(t *testing.T) {
	redis := testsupport.StartRedis(t)
	h := newHarness(t, withRefresh(openRedis(t, redis)))
	rt := h.login("").str("refresh_token")
	redis.Stop()
	for name, r := range map[string]response{
		"login":   h.postJSON("/api/v1/login", `{"username":"alice","password":"`+password+`"}`),
		"refresh": h.refreshWith(rt),
	} {
		if r.status != http.StatusServiceUnavailable || r.str("error") != "temporarily_unavailable" || r.header.Get("Retry-After") == "" {
			t.Errorf("%s with Redis down: %d %s (Retry-After %q), want 503 with Retry-After", name, r.status, r.raw, r.header.Get("Retry-After"))
		}
		if r.str("access_token") != "" || r.str("refresh_token") != "" {
			t.Errorf("%s with Redis down issued tokens", name)
		}
	}
	redis.Start()
	testsupport.WaitFor(t, "logins work again once Redis is back", func() bool {
		r := h.postJSON("/api/v1/login", `{"username":"alice","password":"`+password+`"}`)
		return r.status == http.StatusOK
	})
}
