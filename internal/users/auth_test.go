package users_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/testsupport"
	"github.com/tetherlb/tether/internal/users"
	"github.com/tetherlb/tether/internal/users/filestore"
)

// cheap are argon2id parameters that make a hash take microseconds; the
// OWASP ones run in TestLoginOWASPParameters only.
var cheap = users.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

const password = "correct horse battery staple"

var (
	ip1 = netip.MustParseAddr("192.0.2.1")
	ip2 = netip.MustParseAddr("192.0.2.2")
)

// authFixture is an Authenticator over a real file store, on a fake
// clock, that records the hashes it checks and what it logs.
type authFixture struct {
	store  users.Store
	auth   *users.Authenticator
	clock  *clock.Fake
	log    *testsupport.SyncBuffer
	mu     sync.Mutex
	hashes []string // the hashes checked, in order
}

func newAuth(t *testing.T, opts users.AuthOptions) *authFixture {
	t.Helper()
	s, err := filestore.Open(filepath.Join(t.TempDir(), "users.json"), filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &authFixture{store: s, clock: clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)), log: &testsupport.SyncBuffer{}}
	if opts.Params == (users.Params{}) {
		opts.Params = cheap
	}
	opts.Clock, opts.Logger = f.clock, slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if f.auth, err = users.NewAuthenticator(s, opts); err != nil {
		t.Fatal(err)
	}
	users.WatchVerify(f.auth, func(h string) {
		f.mu.Lock()
		f.hashes = append(f.hashes, h)
		f.mu.Unlock()
	})
	return f
}

// add creates a user with password hashed at p.
func (f *authFixture) add(t *testing.T, u users.User, p users.Params) users.User {
	t.Helper()
	h, err := users.HashPassword(password, p)
	if err != nil {
		t.Fatal(err)
	}
	u.PasswordHash = h
	u, err = f.store.Create(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// checked returns the hashes checked since the last call.
func (f *authFixture) checked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.hashes
	f.hashes = nil
	return h
}

func (f *authFixture) login(username, pw string, ip netip.Addr) (users.User, error) {
	return f.auth.Login(context.Background(), username, pw, ip)
}

func TestLogin(t *testing.T) {
	f := newAuth(t, users.AuthOptions{})
	alice := f.add(t, users.User{Username: "Alice", TenantID: "acme", Roles: []string{"admin"}}, cheap)
	got, err := f.login(" alice ", password, ip1)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if got.ID != alice.ID || got.TenantID != "acme" {
		t.Fatalf("Login returned %+v, want alice", got)
	}
	if h := f.checked(); len(h) != 1 || h[0] != alice.PasswordHash {
		t.Fatalf("checked %d hashes, want alice's only", len(h))
	}
}

// TestLoginFailuresLookAlike checks that an unknown user, a wrong password
// and a disabled user fail with one error, each after checking one hash
// (the dummy one for the unknown user), and are told apart in the log only.
func TestLoginFailuresLookAlike(t *testing.T) {
	f := newAuth(t, users.AuthOptions{})
	bob := f.add(t, users.User{Username: "bob"}, cheap)
	carol := f.add(t, users.User{Username: "carol"}, cheap)
	if _, _, err := f.store.SetDisabled(context.Background(), carol.ID, true); err != nil {
		t.Fatal(err)
	}
	noPassword, err := f.store.Create(context.Background(), users.User{Username: "dave"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, username, password, hash, reason string
	}{
		{"unknown user", "mallory", password, users.DummyHash(f.auth), "unknown user"},
		{"wrong password", "bob", "wrong horse battery staple", bob.PasswordHash, "wrong password"},
		{"disabled user, right password", "carol", password, carol.PasswordHash, "disabled"},
		{"user without a password", noPassword.Username, password, users.DummyHash(f.auth), "no password"},
		{"invalid username", "bad\x00name", password, users.DummyHash(f.auth), "invalid username"},
		{"password too long", "bob", strings.Repeat("p", users.MaxPasswordLen+1), users.DummyHash(f.auth), "password too long"},
	}
	var msgs []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logged := len(f.log.String())
			u, err := f.login(tt.username, tt.password, ip1)
			if !errors.Is(err, users.ErrInvalidCredentials) || u.ID != "" {
				t.Fatalf("Login = %+v, %v; want ErrInvalidCredentials", u, err)
			}
			msgs = append(msgs, err.Error())
			if h := f.checked(); len(h) != 1 || h[0] != tt.hash {
				t.Fatalf("checked hashes %q, want exactly %q", h, tt.hash)
			}
			log := f.log.String()[logged:]
			if !strings.Contains(log, `reason="`+tt.reason+`"`) && !strings.Contains(log, "reason="+tt.reason+" ") {
				t.Fatalf("the log does not give the reason %q:\n%s", tt.reason, f.log)
			}
			// An unknown name may be a password typed into the wrong
			// field: the log has a digest of it, never the name.
			if tt.reason == "unknown user" && (strings.Contains(log, tt.username) || !strings.Contains(log, "username=sha256:")) {
				t.Errorf("an unknown username is logged as typed:\n%s", log)
			}
		})
	}
	for _, m := range msgs[1:] {
		if m != msgs[0] {
			t.Fatalf("failures differ: %q and %q", msgs[0], m)
		}
	}
}

func TestAccountLockout(t *testing.T) {
	f := newAuth(t, users.AuthOptions{AccountFailures: 3, Window: 15 * time.Minute})
	f.add(t, users.User{Username: "alice"}, cheap)
	for range 3 {
		if _, err := f.login("alice", "wrong password!", ip1); !errors.Is(err, users.ErrInvalidCredentials) {
			t.Fatalf("Login = %v, want ErrInvalidCredentials", err)
		}
		f.clock.Advance(time.Minute)
	}
	f.checked()
	// Locked: even the right password is refused, from any address,
	// without a hash being checked.
	_, err := f.login("ALICE", password, ip2)
	rl, ok := errors.AsType[*users.RateLimitError](err)
	if !ok || !errors.Is(err, users.ErrRateLimited) || rl.Scope != "account" || rl.RetryAfter != 14*time.Minute {
		t.Fatalf("Login while locked = %v; want a RateLimitError for the account, retry after 14m", err)
	}
	if h := f.checked(); len(h) != 0 {
		t.Fatalf("a locked-out login checked %d hashes", len(h))
	}
	f.clock.Advance(14 * time.Minute)
	if _, err := f.login("alice", password, ip2); err != nil {
		t.Fatalf("Login after the lockout: %v", err)
	}
	// The success cleared the failures: two more do not lock.
	for range 2 {
		f.login("alice", "wrong password!", ip1)
	}
	if _, err := f.login("alice", password, ip1); err != nil {
		t.Fatalf("Login after a success and two failures: %v", err)
	}
	if !strings.Contains(f.log.String(), "username locked out") {
		t.Fatalf("the lockout was not logged:\n%s", f.log)
	}
}

// TestLockoutHoldsUnderConcurrency checks that many wrong passwords sent
// at once are not all checked before the first of them fails: attempts in
// flight use up the failures left.
func TestLockoutHoldsUnderConcurrency(t *testing.T) {
	f := newAuth(t, users.AuthOptions{AccountFailures: 3})
	f.add(t, users.User{Username: "alice"}, cheap)
	inFlight, release := make(chan struct{}, 10), make(chan struct{})
	users.WatchVerify(f.auth, func(string) {
		inFlight <- struct{}{}
		<-release
	})
	results := make(chan error, 10)
	for i := range 10 {
		go func() {
			_, err := f.login("alice", "guess number "+string(rune('0'+i)), netip.Addr{})
			results <- err
		}()
	}
	checking, limited := 0, 0
	timeout := time.After(10 * time.Second)
	for checking < 3 || limited < 7 {
		select {
		case <-inFlight:
			checking++
		case err := <-results:
			if !errors.Is(err, users.ErrRateLimited) {
				t.Fatalf("a login returned %v while 3 were being checked; want ErrRateLimited", err)
			}
			limited++
		case <-timeout:
			t.Fatalf("after 10s: %d passwords being checked, %d logins refused; want 3 and 7", checking, limited)
		}
	}
	close(release)
	for range 3 {
		if err := <-results; !errors.Is(err, users.ErrInvalidCredentials) {
			t.Fatalf("a checked guess returned %v, want ErrInvalidCredentials", err)
		}
	}
	if _, err := f.login("alice", password, netip.Addr{}); !errors.Is(err, users.ErrRateLimited) {
		t.Fatalf("after 3 failures the account is not locked: %v", err)
	}
}

// TestUnknownUsernameLocksToo checks that the lockout does not tell which
// usernames exist.
func TestUnknownUsernameLocksToo(t *testing.T) {
	f := newAuth(t, users.AuthOptions{AccountFailures: 2})
	for range 2 {
		f.login("nobody", password, ip1)
	}
	if _, err := f.login("nobody", password, ip2); !errors.Is(err, users.ErrRateLimited) {
		t.Fatalf("Login of an unknown username after 2 failures = %v, want ErrRateLimited", err)
	}
}

func TestIPLockout(t *testing.T) {
	f := newAuth(t, users.AuthOptions{IPFailures: 4})
	f.add(t, users.User{Username: "alice"}, cheap)
	v6 := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	// Four usernames, once each, from one /64.
	for i, ip := range []netip.Addr{v6("2001:db8::1"), v6("2001:db8::2"), v6("2001:db8::ffff:1"), v6("2001:db8:0:0:1::9")} {
		f.login("user"+string(rune('a'+i)), password, ip)
	}
	_, err := f.login("alice", password, v6("2001:db8::42"))
	if rl, ok := errors.AsType[*users.RateLimitError](err); !ok || rl.Scope != "ip" {
		t.Fatalf("Login from the locked /64 = %v, want a RateLimitError for the ip", err)
	}
	if _, err := f.login("alice", password, v6("2001:db8:0:1::1")); err != nil {
		t.Fatalf("Login from the next /64: %v", err)
	}
	if _, err := f.login("alice", password, ip1); err != nil {
		t.Fatalf("Login from an IPv4 address: %v", err)
	}
	// Without an address only the username counts.
	for i := range 6 {
		f.login("user"+string(rune('a'+i)), password, netip.Addr{})
	}
	if _, err := f.login("alice", password, netip.Addr{}); err != nil {
		t.Fatalf("Login without an address after failures without one: %v", err)
	}
}

func TestTrackedKeysBounded(t *testing.T) {
	f := newAuth(t, users.AuthOptions{MaxTracked: 10})
	for i := range 50 {
		ip := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		f.login(strings.Repeat("x", i+1), password, ip)
	}
	if accounts, ips := users.Tracked(f.auth); accounts > 10 || ips > 10 {
		t.Fatalf("tracking %d usernames and %d addresses, want at most 10 each", accounts, ips)
	}
}

// TestRehash checks that a hash made with other parameters is replaced
// after a successful login, without counting as a password change.
func TestRehash(t *testing.T) {
	newer := cheap
	newer.Iterations = 2
	f := newAuth(t, users.AuthOptions{Params: newer})
	old := f.add(t, users.User{Username: "alice"}, cheap)
	f.clock.Advance(time.Hour)
	u, err := f.login("alice", password, ip1)
	if err != nil {
		t.Fatal(err)
	}
	stored, _, _ := f.store.Get(context.Background(), old.ID)
	if stored.PasswordHash == old.PasswordHash || users.NeedsRehash(stored.PasswordHash, newer) || u.PasswordHash != stored.PasswordHash {
		t.Fatalf("after the login the stored hash is %q (returned %q); want one made with %+v", stored.PasswordHash, u.PasswordHash, newer)
	}
	if !stored.PasswordChangedAt.Equal(old.PasswordChangedAt) {
		t.Fatalf("the rehash moved PasswordChangedAt from %v to %v", old.PasswordChangedAt, stored.PasswordChangedAt)
	}
	if _, err := f.login("alice", password, ip1); err != nil {
		t.Fatalf("Login with the rehashed password: %v", err)
	}
	if h := f.checked(); len(h) != 2 || h[1] != stored.PasswordHash {
		t.Fatalf("checked %d hashes; the second login should check the new hash", len(h))
	}
}

// TestLoginOWASPParameters logs in at the default parameters: no rehash,
// one hash checked per login, known user or not.
func TestLoginOWASPParameters(t *testing.T) {
	f := newAuth(t, users.AuthOptions{Params: users.DefaultParams()})
	alice := f.add(t, users.User{Username: "alice"}, users.DefaultParams())
	if _, err := f.login("alice", password, ip1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.login("nobody", password, ip1); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Fatalf("Login of an unknown user = %v", err)
	}
	h := f.checked()
	if len(h) != 2 || h[0] != alice.PasswordHash || !strings.HasPrefix(h[1], "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("checked %q; want alice's hash, then a dummy at OWASP's parameters", h)
	}
	if stored, _, _ := f.store.Get(context.Background(), alice.ID); stored.Version != 1 {
		t.Fatalf("a hash at the current parameters was rewritten (version %d)", stored.Version)
	}
}

func TestAuthOptionsValidate(t *testing.T) {
	err := users.AuthOptions{AccountFailures: -1, Window: time.Hour, MaxLockout: time.Minute,
		Params: users.Params{Memory: 1}}.Validate()
	for _, want := range []string{"AccountFailures -1", "MaxLockout 1m0s", "Params"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v; want a problem with %q", err, want)
		}
	}
	if err := (users.AuthOptions{}).Validate(); err != nil {
		t.Errorf("Validate of the zero options: %v", err)
	}
}
