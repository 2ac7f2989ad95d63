package users

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/tetherlb/tether/internal/clock"
)

// Defaults for the zero fields of AuthOptions.
const (
	DefaultAccountFailures = 5
	DefaultIPFailures      = 20
	DefaultWindow          = 15 * time.Minute
	DefaultMaxLockout      = 4 * time.Hour
	DefaultMaxTracked      = 50_000
)

var (
	// ErrInvalidCredentials is wrapped by the error of a login with an
	// unknown username, a wrong password, or a disabled user: the caller
	// cannot tell which (the log can).
	ErrInvalidCredentials = errors.New("invalid username or password")
	// ErrRateLimited is matched by a *RateLimitError.
	ErrRateLimited = errors.New("too many failed logins")
)

// RateLimitError is the error of a login refused, without checking the
// password, because its username or address failed too often. It matches
// ErrRateLimited.
type RateLimitError struct {
	// Scope is what is locked: "account" (the username) or "ip" (the
	// address, or its /64 for IPv6).
	Scope string
	// RetryAfter is how long the lockout lasts, from the refused login.
	RetryAfter time.Duration
}

// Error says what is locked and for how long, to the second.
func (e *RateLimitError) Error() string {
	return fmt.Sprintf("login: %v for this %s; retry in %v", ErrRateLimited, e.Scope, e.RetryAfter.Round(time.Second))
}

// Is reports whether target is ErrRateLimited.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// AuthOptions configures an Authenticator. The zero value selects every
// default.
type AuthOptions struct {
	// Params are the argon2id parameters of new hashes: a user whose hash
	// was made with others is rehashed at these after a successful login,
	// and the dummy hash checked for unknown users is made with them.
	// Zero: DefaultParams().
	Params Params
	// AccountFailures is how many failed logins of one username (known or
	// not) within Window lock that username out. Default 5.
	AccountFailures int
	// IPFailures is how many failed logins from one IPv4 address, or one
	// IPv6 /64, within Window lock it out. Default 20.
	IPFailures int
	// Window is the sliding window failures are counted in, and the length
	// of a first lockout. Default 15 minutes.
	Window time.Duration
	// MaxLockout caps lockouts: each one that follows within a Window of
	// the previous one's end lasts twice as long as that one. Default 4
	// hours; it must not be shorter than Window.
	MaxLockout time.Duration
	// MaxTracked bounds how many usernames, and how many addresses, the
	// limits track: beyond it, the one whose last failure is oldest is
	// forgotten. Each tracked key costs some 100 to 500 bytes. Default
	// 50,000.
	MaxTracked int
	// Clock tells the time for the limits. Nil: the wall clock.
	Clock clock.Clock
	// Logger receives a line per failed login, naming its reason (unknown
	// user, wrong password, disabled, no password), and per lockout. Nil:
	// nothing is logged.
	Logger *slog.Logger
}

// Validate reports every problem with o at once, naming the field.
func (o AuthOptions) Validate() error {
	var errs []error
	if o.Params != (Params{}) {
		if err := o.Params.validate(); err != nil {
			errs = append(errs, fmt.Errorf("users: Params: %w", err))
		}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"AccountFailures", int64(o.AccountFailures)}, {"IPFailures", int64(o.IPFailures)},
		{"Window", int64(o.Window)}, {"MaxLockout", int64(o.MaxLockout)}, {"MaxTracked", int64(o.MaxTracked)},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("users: %s %d: want 0 (the default) or more", f.name, f.v))
		}
	}
	if o.Window > 0 && o.MaxLockout > 0 && o.MaxLockout < o.Window {
		errs = append(errs, fmt.Errorf("users: MaxLockout %v: want at least Window (%v)", o.MaxLockout, o.Window))
	}
	return errors.Join(errs...)
}

func (o AuthOptions) withDefaults() AuthOptions {
	if o.Params == (Params{}) {
		o.Params = DefaultParams()
	}
	if o.AccountFailures == 0 {
		o.AccountFailures = DefaultAccountFailures
	}
	if o.IPFailures == 0 {
		o.IPFailures = DefaultIPFailures
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.MaxLockout == 0 {
		o.MaxLockout = max(DefaultMaxLockout, o.Window)
	}
	if o.MaxTracked == 0 {
		o.MaxTracked = DefaultMaxTracked
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Authenticator checks logins against a Store, limiting failed attempts
// per username and per address. It is safe for concurrent use. The limits
// live in memory, per Authenticator: replicas each count their own.
//
// Every login that reaches the store checks one argon2id hash, whether or
// not the user exists (an unknown user's is checked against a dummy hash),
// so that the time a failure takes does not tell an attacker which
// usernames exist.
//
// A lockout keyed on the username can be used to lock a user out on
// purpose; the per-address limit slows that down, and the lockout ends on
// its own. A successful login clears its username's failures.
type Authenticator struct {
	store    Store
	params   Params
	dummy    string // a hash of a random password, at params
	accounts *limiter
	ips      *limiter
	clock    clock.Clock
	log      *slog.Logger

	// verify checks a password against a hash; tests wrap it to count
	// the checks.
	verify func(encoded, password string) (bool, error)
}

// NewAuthenticator returns an Authenticator over store. It makes the dummy
// hash, at opts.Params, which takes as long as one login.
func NewAuthenticator(store Store, opts AuthOptions) (*Authenticator, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	dummy, err := HashPassword(NewID(), opts.Params)
	if err != nil {
		return nil, fmt.Errorf("users: new authenticator: %w", err)
	}
	return &Authenticator{
		store:    store,
		params:   opts.Params,
		dummy:    dummy,
		accounts: newLimiter(opts.AccountFailures, opts.Window, opts.MaxLockout, opts.MaxTracked),
		ips:      newLimiter(opts.IPFailures, opts.Window, opts.MaxLockout, opts.MaxTracked),
		clock:    opts.Clock,
		log:      opts.Logger.With("component", "users"),
		verify:   VerifyPassword,
	}, nil
}

// Login returns the user that username and password identify, logging in
// from ip (the zero netip.Addr when unknown: then only the per-username
// limit applies).
//
// It fails with an error wrapping ErrInvalidCredentials for an unknown
// username, a wrong password or a disabled user, and with a
// *RateLimitError, without checking the password, while the username or
// the address is locked out or has as many attempts in flight as it has
// failures left. Other errors are the store's. After a successful login, a
// hash made with other parameters than the Authenticator's is replaced
// with one made with them (a failure to store it is logged, not returned).
func (a *Authenticator) Login(ctx context.Context, username, password string, ip netip.Addr) (User, error) {
	account := UsernameKey(username)
	if CheckUsername(account) != nil {
		account = "" // no user has it; only the address is counted
	}
	addr := ipKey(ip)
	if err := a.acquire(account, addr); err != nil {
		return User{}, err
	}
	u, reason, err := a.check(ctx, account, password)
	a.release(account, addr, reason != "")
	switch {
	case err != nil:
		return User{}, fmt.Errorf("login: %w", err)
	case reason != "":
		name := account
		if u.ID == "" && account != "" {
			// No such user: what was typed may be a password typed into
			// the wrong field, so only a digest of it is logged (the same
			// for the same name, to follow one guess across lines).
			sum := sha256.Sum256([]byte(account))
			name = "sha256:" + hex.EncodeToString(sum[:8])
		}
		a.log.Info("login failed", "reason", reason, "username", name, "user_id", u.ID, "ip", addr)
		return User{}, fmt.Errorf("login: %w", ErrInvalidCredentials)
	}
	a.accounts.reset(account)
	return a.rehash(ctx, u, password), nil
}

// acquire starts an attempt for the address and the username (either may
// be empty: not counted), or returns a *RateLimitError.
func (a *Authenticator) acquire(account, addr string) error {
	now := a.clock.Now()
	if addr != "" {
		if d := a.ips.acquire(addr, now); d > 0 {
			return &RateLimitError{Scope: "ip", RetryAfter: d}
		}
	}
	if account != "" {
		if d := a.accounts.acquire(account, now); d > 0 {
			if addr != "" {
				a.ips.release(addr, now, false)
			}
			return &RateLimitError{Scope: "account", RetryAfter: d}
		}
	}
	return nil
}

// release ends the attempt acquire started, counting a failure if it
// failed, and logs the lockouts that follow.
func (a *Authenticator) release(account, addr string, failed bool) {
	now := a.clock.Now()
	if addr != "" {
		if d := a.ips.release(addr, now, failed); d > 0 {
			a.log.Warn("too many failed logins: address locked out", "ip", addr, "for", d)
		}
	}
	if account != "" {
		if d := a.accounts.release(account, now, failed); d > 0 {
			a.log.Warn("too many failed logins: username locked out", "username", account, "for", d)
		}
	}
}

// check looks the user up and checks the password, always checking one
// hash: the dummy one when there is no such user or no password. It
// returns the user and, if the login fails, why. An error is the store's;
// then no hash is checked.
func (a *Authenticator) check(ctx context.Context, account, password string) (u User, reason string, err error) {
	switch {
	case account == "":
		reason = "invalid username"
	case len(password) > MaxPasswordLen:
		reason = "password too long"
	default:
		var found bool
		if u, found, err = a.store.GetByUsername(ctx, account); err != nil {
			return User{}, "", err
		}
		switch {
		case !found:
			reason = "unknown user"
		case u.PasswordHash == "":
			reason = "no password"
		}
	}
	if reason != "" {
		a.verify(a.dummy, password)
		return u, reason, nil
	}
	ok, err := a.verify(u.PasswordHash, password)
	switch {
	case err != nil:
		return u, "unreadable password hash", nil
	case !ok:
		return u, "wrong password", nil
	case u.Disabled:
		return u, "disabled", nil
	}
	return u, "", nil
}

// rehash stores a hash of password at the Authenticator's parameters if
// u's hash was made with others, and returns u as stored. A concurrent
// change of u (a new password) wins: the rehash is dropped.
func (a *Authenticator) rehash(ctx context.Context, u User, password string) User {
	if !NeedsRehash(u.PasswordHash, a.params) {
		return u
	}
	h, err := HashPassword(password, a.params)
	if err != nil {
		a.log.Warn("rehashing a password", "user_id", u.ID, "err", err)
		return u
	}
	next := u.Clone()
	next.PasswordHash = h
	stored, ok, err := a.store.Update(ctx, next)
	switch {
	case err != nil && !errors.Is(err, ErrConflict):
		a.log.Warn("storing a rehashed password", "user_id", u.ID, "err", err)
	case ok:
		a.log.Debug("rehashed a password with new parameters", "user_id", u.ID)
		return stored
	}
	return u
}

// ipKey returns the key the per-address limit counts ip under: the
// address for IPv4 (and IPv4-mapped IPv6), its /64 for IPv6, since one
// host commonly holds a whole /64; "" for the zero Addr.
func ipKey(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	switch {
	case !ip.IsValid():
		return ""
	case ip.Is6():
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
