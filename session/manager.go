package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options are a Manager's dependencies.
type Options struct {
	// Store keeps the sessions. Required.
	Store Store
	// Keys signs CSRF tokens and keys the session hashes in logs. Required;
	// see LoadKeyRing and StaticKey.
	Keys Keys
	// Tenant resolves each request's tenant. Nil: one tenant, "".
	Tenant TenantFunc
	// ClientIP returns the client address for binding signals and the
	// session inventory. Nil: the connection's peer address.
	ClientIP ClientIPFunc
	// Logger receives one line per session event. Nil: discard.
	Logger *slog.Logger
	// Registerer gets the session metrics. Nil: not exported.
	Registerer prometheus.Registerer
	// OnEvent, when set, is called with every event after it is logged.
	OnEvent func(Event)
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// StoreTimeout bounds every store call. Default 2s.
	StoreTimeout time.Duration
}

// ErrStoreUnavailable is returned (wrapped) when the store could not be
// reached; the middleware answers 503 with Retry-After, never a new
// session that would log the user out.
var ErrStoreUnavailable = errors.New("session: store unavailable")

// ErrTenantMismatch is returned by Authenticate when the tenant it is given
// is not the tenant the request was resolved to.
var ErrTenantMismatch = errors.New("session: tenant does not match the request's tenant")

// A Manager loads and saves sessions for HTTP handlers. Create one with
// New, wrap handlers with LoadAndSave, and read and write the session
// through the Manager's methods with the request's context. A Manager is
// safe for concurrent use.
type Manager struct {
	cfg      Config
	store    Store
	tenant   TenantFunc
	clientIP ClientIPFunc
	log      *slog.Logger
	metrics  *metrics
	onEvent  func(Event)
	now      func() time.Time
	timeout  time.Duration
	// multiTenant is set when Options.Tenant was given.
	multiTenant bool
	keys        atomic.Pointer[keySet]
	cookieKey   contextKey
}

type contextKey struct{ m *Manager }

// New returns a Manager for cfg, which it validates.
func New(cfg Config, opts Options) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Store == nil || opts.Keys == nil {
		return nil, errors.New("session: New needs Options.Store and Options.Keys")
	}
	m := &Manager{
		cfg:      cfg.withDefaults(),
		store:    opts.Store,
		tenant:   opts.Tenant,
		clientIP: opts.ClientIP,
		log:      opts.Logger,
		metrics:  newMetrics(opts.Registerer),
		onEvent:  opts.OnEvent,
		now:      opts.Now,
		timeout:  opts.StoreTimeout,
	}
	m.SetKeys(opts.Keys)
	m.cookieKey = contextKey{m}
	m.multiTenant = m.tenant != nil
	if m.tenant == nil {
		m.tenant = func(*http.Request) (string, bool) { return "", true }
	}
	if m.clientIP == nil {
		m.clientIP = remoteIP
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.timeout <= 0 {
		m.timeout = 2 * time.Second
	}
	return m, nil
}

// keySet is the subkeys of the Manager's current key ring.
type keySet struct{ csrf, hash subkeys }

// SetKeys replaces the Manager's keys, after a key ring rotation: values
// signed under keys still in the ring keep verifying; new ones are signed
// with the new active key. Safe to call while requests are served.
func (m *Manager) SetKeys(k Keys) {
	m.keys.Store(&keySet{csrf: deriveSubkeys(k, purposeCSRF), hash: deriveSubkeys(k, purposeHash)})
}

// TenantOf resolves the tenant of r as LoadAndSave does; false means r
// names no tenant the Manager serves.
func (m *Manager) TenantOf(r *http.Request) (string, bool) { return m.tenant(r) }

// Config returns the Manager's configuration with defaults filled in.
func (m *Manager) Config() Config { return m.cfg }

// rawIDSize is the number of random bytes in a session ID: 256 bits.
const rawIDSize = 32

// newRawID returns a new session ID: 32 bytes from crypto/rand, base64url
// without padding (43 characters).
func newRawID() string {
	b := make([]byte, rawIDSize)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validRawID reports whether s has the shape of an ID newRawID makes;
// anything else is never looked up.
func validRawID(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(rawIDSize) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// state is one request's view of its session.
type state struct {
	mu      sync.Mutex
	tenant  string
	rawID   string // the browser's ID; "" while the session is not stored
	id      string // storeID(rawID)
	rec     *record
	version uint64 // stored version; 0: not stored yet
	// changes are the data keys this request set (non-nil) or removed
	// (nil), replayed onto a fresh copy when another request wrote first.
	changes map[string]json.RawMessage
	// mutations are changes to the session's own fields (such as its
	// remember-me token), replayed like changes.
	mutations []func(*record)
	// dirty is set when the session must be written: changes, mutations,
	// or a session restored from a remember-me token.
	dirty bool
	// cookie says what the response must do with the session cookie.
	cookie    cookieAction
	remember  *http.Cookie // a remember-me cookie to set or clear
	committed bool
}

type cookieAction int

const (
	cookieKeep cookieAction = iota
	cookieSet
	cookieClear
)

func (m *Manager) state(ctx context.Context) *state {
	st, _ := ctx.Value(m.cookieKey).(*state)
	if st == nil {
		panic("session: no session in the context; wrap the handler with Manager.LoadAndSave")
	}
	return st
}

func (m *Manager) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.timeout)
}

// expiryMargin is how long a store keeps a record past the session's end.
// The Manager enforces the end itself, by its own clock; the margin lets
// it tell an expired session (an expired event) from an unknown ID (a
// rejected one).
const expiryMargin = time.Minute

func (m *Manager) entry(tenant, id string, rec *record, version uint64) Entry {
	return Entry{Tenant: tenant, ID: id, UserID: rec.UserID, Version: version, Expires: rec.expires().Add(expiryMargin), Value: rec.encode()}
}

// newRecord starts an anonymous session for r at now.
func (m *Manager) newRecord(tenant string, r *http.Request, now time.Time) *record {
	rec := &record{
		Tenant:   tenant,
		Created:  now,
		LastSeen: now,
		Deadline: now.Add(m.cfg.AbsoluteTimeout),
		Idle:     m.cfg.IdleTimeout,
	}
	if r != nil {
		m.bind(rec, r)
	}
	return rec
}

// get loads the live session stored under id in tenant. A corrupt record
// counts as absent (and is counted); a record past its deadline by the
// Manager's clock is deleted and reported expired.
func (m *Manager) get(ctx context.Context, tenant, id string) (*record, uint64, bool, error) {
	sctx, cancel := m.storeCtx(ctx)
	defer cancel()
	e, ok, err := m.store.Get(sctx, tenant, id)
	if errors.Is(err, ErrCorrupt) {
		m.emit(Event{Type: EventCorrupt, Reason: "store", Tenant: tenant, Hash: m.hash(id)})
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("%w: %v", ErrStoreUnavailable, err)
	}
	if !ok {
		return nil, 0, false, nil
	}
	rec, err := decodeRecord(e.Value)
	if err != nil {
		m.emit(Event{Type: EventCorrupt, Reason: "record", Tenant: tenant, Hash: m.hash(id)})
		return nil, 0, false, nil
	}
	if rec.Tenant != tenant && !m.singleTenant() {
		// The store namespaces by tenant, so this means a store that
		// does not; refuse rather than cross tenants.
		m.emit(Event{Type: EventRevoked, Reason: "tenant_mismatch", Tenant: tenant, Hash: m.hash(id)})
		return nil, 0, false, nil
	}
	now := m.now()
	if reason := expiredReason(rec, now); reason != "" {
		dctx, cancel := m.storeCtx(ctx)
		defer cancel()
		m.store.Delete(dctx, tenant, id) //nolint:errcheck // the store expires it anyway
		m.emit(Event{Type: EventExpired, Reason: reason, Tenant: tenant, UserID: rec.UserID, Hash: m.hash(id)})
		return nil, 0, false, nil
	}
	return rec, e.Version, true, nil
}

// singleTenant reports whether the Manager has no TenantFunc: then every
// session is stored under the tenant "" and the tenant given to
// Authenticate is only recorded.
func (m *Manager) singleTenant() bool { return !m.multiTenant }

func expiredReason(rec *record, now time.Time) string {
	switch {
	case !now.Before(rec.Deadline):
		return "absolute"
	case !now.Before(rec.LastSeen.Add(rec.Idle)):
		return "idle"
	}
	return ""
}
