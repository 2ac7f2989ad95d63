// Package demo provides the built-in demo targets of `tether demo`: small
// stateful web apps that make sticky sessions visible. Each Target keeps a
// visit counter per browser session in its own memory, so a request that
// lands on another target (or on a restarted one) visibly starts again at 1.
// Each also runs a small shop (/shop) that keeps a login and a cart twice:
// in its own memory, and in a session store shared by every target (see
// Target.SetSessions), so a person sees what a dead target takes with it.
// Control serves a tiny API that kills and revives targets, so a person can
// watch the load balancer fail over.
//
// The targets are meant for loopback demos, not for production traffic: they
// serve plain HTTP and their session cookie is not marked Secure.
package demo

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/session"
)

// ErrClosed is returned by Start and Revive after Close.
var ErrClosed = errors.New("demo: target closed")

// defaultColor is used when NewTarget is given something that is not a hex
// colour.
const defaultColor = "#4f6df5"

// maxSessions bounds the visit counters a target keeps in memory.
const maxSessions = 10000

// Target is one demo web app: a page that shows which target served you and a
// visit counter kept in this target's memory only (so losing stickiness
// visibly resets your count), and a shop that compares a cart kept in that
// memory with one kept in a shared session store.
//
// A Target moves between two states: serving (after Start or Revive) and dead
// (before Start, after Kill, after Close). Each time it starts serving it
// begins with an empty memory, like a restarted process. All methods are safe
// for concurrent use.
type Target struct {
	id     string
	color  string
	logger *slog.Logger
	// clock times /events and /slow; tests replace it before Start.
	clock clock.Clock
	// maxSessions caps the visit counters, and the logins and carts, that
	// one incarnation keeps in memory.
	maxSessions int

	mu         sync.Mutex
	address    string
	controlURL string
	sessions   *session.Manager // nil: the shop has no shared store
	srv        *http.Server     // nil while dead
	closed     bool
}

// NewTarget returns a Target named id that will listen on address, a
// host:port such as "127.0.0.1:9001" (port 0 picks a free port when the
// target starts). color is the target's accent colour as "#rgb" or "#rrggbb";
// any other value is replaced by a default blue. A nil logger discards logs.
// The target does not listen until Start.
func NewTarget(id, address, color string, logger *slog.Logger) *Target {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if !isHexColor(color) {
		color = defaultColor
	}
	return &Target{
		id:          id,
		color:       color,
		address:     address,
		logger:      logger.With("component", "demo", "target", id),
		clock:       clock.Real{},
		maxSessions: maxSessions,
	}
}

// ID returns the target's name, such as "app-1".
func (t *Target) ID() string { return t.id }

// Address returns the host:port the target listens on. After a Start with
// port 0 it reports the port actually chosen; Revive reuses that port.
func (t *Target) Address() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.address
}

// SetControlURL tells the target's page where the Control API is served, as
// a base URL such as "http://127.0.0.1:9900" (a trailing slash is ignored).
// The page's "Kill this target" and "Revive all" buttons call it; with an
// empty URL, the default, the buttons are disabled. It takes effect on the
// next page load and may be called at any time.
func (t *Target) SetControlURL(u string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.controlURL = strings.TrimRight(u, "/")
}

// SetSessions gives the target's shop a shared session store: m keeps a
// login and a cart that any target given the same m (or a Manager over the
// same Store) reads back, so they outlive this target. The shop's forms
// then go through m's LoadAndSave and CSRF middleware. With a nil m, the
// default, the shop keeps them only in this target's memory and says so.
// It takes effect the next time the target starts serving (Start or
// Revive); call it before Start.
func (t *Target) SetSessions(m *session.Manager) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sessions = m
}

func (t *Target) control() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.controlURL
}

// Start listens on the target's address and serves in the background. It
// returns an error if the target is already serving, if the address cannot
// be bound, or ErrClosed after Close.
func (t *Target) Start() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("demo: start %s: %w", t.id, ErrClosed)
	}
	if t.srv != nil {
		return fmt.Errorf("demo: start %s: already serving on %s", t.id, t.address)
	}
	return t.listenLocked("start")
}

// Kill stops the target the way a crash would: it closes the listener and
// every open connection at once, without waiting for requests in flight, so
// new connections are refused. The target's memory is lost. Killing a dead
// target does nothing.
func (t *Target) Kill() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.killLocked()
}

// Revive makes a dead target listen again on the same address with an empty
// memory, as a restarted process would: every session starts counting again
// at 1, and the shop's memory cart is empty (its shared cart is not). Reviving a serving target does nothing; reviving a target that was
// never started starts it. It returns ErrClosed after Close.
func (t *Target) Revive() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("demo: revive %s: %w", t.id, ErrClosed)
	}
	if t.srv != nil {
		return nil
	}
	return t.listenLocked("revive")
}

// Alive reports whether the target is serving.
func (t *Target) Alive() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.srv != nil
}

// Close stops the target for good, like Kill; afterwards Start and Revive
// return ErrClosed. Closing twice does nothing.
func (t *Target) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	return t.killLocked()
}

// listenLocked binds the address and serves a fresh incarnation of the app.
// t.mu must be held.
func (t *Target) listenLocked(op string) error {
	ln, err := net.Listen("tcp", t.address)
	if err != nil {
		return fmt.Errorf("demo: %s %s: %w", op, t.id, err)
	}
	t.address = ln.Addr().String()
	srv := &http.Server{
		Handler:           t.handler(newVisits(t.maxSessions), newShop(t, newAccounts(t.maxSessions), t.sessions)),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(t.logger.Handler(), slog.LevelDebug),
	}
	t.srv = srv
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.logger.Error("demo target stopped serving", "err", err)
		}
	}()
	t.logger.Info("demo target "+op, "address", t.address)
	return nil
}

// killLocked closes the serving incarnation, if any. t.mu must be held.
func (t *Target) killLocked() error {
	if t.srv == nil {
		return nil
	}
	err := t.srv.Close()
	t.srv = nil
	t.logger.Info("demo target killed", "address", t.address)
	if err != nil {
		return fmt.Errorf("demo: kill %s: %w", t.id, err)
	}
	return nil
}

// isHexColor reports whether s is "#rgb" or "#rrggbb".
func isHexColor(s string) bool {
	if len(s) != 4 && len(s) != 7 || s[0] != '#' {
		return false
	}
	for _, c := range s[1:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
