package tokens_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	sessionpg "github.com/tetherlb/tether/session/pgstore"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/testsupport"
	userpg "github.com/tetherlb/tether/internal/users/pgstore"
)

// The token service on PostgreSQL alone: the user pool and the refresh
// store in one real server, as `users: {store: postgres://…}` and
// `refresh: {store: postgres://…}` run it.
func TestOnPostgreSQL(t *testing.T) {
	pg := testsupport.StartPostgres(t)
	dsn := pg.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The users' timestamps follow the harness's fake clock, as the file
	// store's do, so that a password is never "changed" after a login.
	us, err := userpg.Open(ctx, dsn, userpg.Options{Clock: clock.NewFake(start)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { us.Close() })
	rs, err := sessionpg.Open(ctx, dsn, sessionpg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	h := newHarness(t, withUsers(us), withRefresh(rs))

	login := h.login("")
	r := h.refreshWith(login.str("refresh_token"))
	if r.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	h.clk.Advance(10 * time.Second)
	if r := h.refreshWith(login.str("refresh_token")); r.status != http.StatusBadRequest {
		t.Fatalf("replay: %d, want 400", r.status)
	}
	if r := h.refreshWith(r.str("refresh_token")); r.status != http.StatusBadRequest {
		t.Errorf("the family survived a replay in PostgreSQL: %d", r.status)
	}
	fresh := h.login("")
	h.clk.Advance(time.Second)
	if r := h.postJSON("/api/v1/logout", `{"everywhere":true}`, "Authorization", "Bearer "+fresh.str("access_token")); r.status != http.StatusOK {
		t.Fatalf("logout everywhere: %d %s", r.status, r.raw)
	}
	if r := h.refreshWith(fresh.str("refresh_token")); r.status != http.StatusBadRequest {
		t.Errorf("refresh after logout everywhere: %d", r.status)
	}
	// A second replica on the same database sees the logout in the store.
	b := newHarness(t, withUsers(us), withRefresh(rs))
	sid := claimsOf(t, fresh.str("access_token"))["sid"].(string)
	testsupport.WaitFor(t, "replica b to read the logout from PostgreSQL", func() bool {
		return b.svc.SessionRevoked(b.url, h.alice.ID, sid)
	})
}
