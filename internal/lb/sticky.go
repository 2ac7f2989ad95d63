package lb

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"iter"
	"net/http"
	"strconv"
	"time"

	"github.com/tetherlb/tether/internal/affinity"
)

// Affinity outcomes and rebind causes, as counted in
// tether_affinity_decisions_total and shown in the access log.
const (
	outcomeNone    = "none" // stickiness off
	outcomeNew     = "new"
	outcomeKept    = "kept"
	outcomeRebound = "rebound"
	outcomeRefused = "refused" // on_failure strict: 503 rather than moving

	causeNone          = "none"
	causeUnhealthy     = "unhealthy"
	causeDraining      = "draining"
	causeExpired       = "expired"
	causeInvalid       = "invalid"
	causeUnknownTarget = "unknown_target"
	causeUnknownKey    = "unknown_key"
)

// decision is how a request's target was chosen.
type decision struct {
	outcome string
	cause   string
}

// String is the access log form: "kept", "new", "rebound:draining".
func (d decision) String() string {
	if d.outcome == outcomeRebound || d.outcome == outcomeRefused {
		return d.outcome + ":" + d.cause
	}
	return d.outcome
}

// binding is the affinity state of one exchange.
type binding struct {
	token   affinity.Token
	raw     string // the token the client sent, if it is still good
	issue   bool   // seal and send a fresh token with the response
	refresh bool   // kept, but the token is due for a sliding refresh or a re-seal
}

// errStrict is returned by choose when on_failure is strict and the bound
// target cannot serve.
var errStrict = errors.New("bound target unavailable and on_failure is strict")

// choose picks the target for r according to the group's stickiness, and
// says why.
func (g *group) choose(r *http.Request, ex *exchange) (*target, error) {
	now := ex.start
	switch g.sticky.mode {
	case "none":
		ex.dec = decision{outcomeNone, causeNone}
		return g.pick(r, ex.ci, now, nil), nil
	case "source_ip":
		return g.chooseSourceIP(r, ex)
	}
	raw, tok, stale, err := g.readToken(r, ex)
	if raw == "" {
		return g.fresh(r, ex, outcomeNew, causeNone), nil
	}
	if err == nil && tok.Group != g.name {
		// A token of another group that shares the cookie name: not ours to
		// judge. docs/affinity.md advises one cookie name per group.
		return g.fresh(r, ex, outcomeNew, causeNone), nil
	}
	if err != nil {
		return g.fresh(r, ex, outcomeRebound, tokenCause(err)), nil
	}
	t := g.byID[tok.Target]
	if t == nil {
		return g.fresh(r, ex, outcomeRebound, causeUnknownTarget), nil
	}
	if cause := g.boundUsable(t, now); cause != causeNone {
		if g.sticky.strict {
			ex.dec = decision{outcomeRefused, cause}
			return nil, errStrict
		}
		nt := g.fresh(r, ex, outcomeRebound, cause)
		ex.bind.token.Binding = tok.Binding // the same client, counted on its new target
		return nt, nil
	}
	ex.dec = decision{outcomeKept, causeNone}
	ex.bind = binding{token: tok, raw: raw}
	ex.bind.refresh = stale || g.sticky.mode != "app_cookie" && now.Sub(tok.IssuedAt) >= refreshAfter(g.sticky.duration)
	return t, nil
}

// tokenMemo remembers the affinity token a connection's last request
// carried, opened: a keep-alive client sends the same cookie with every
// request, and it is opened once per connection rather than per request.
// A memo holds only a token that opened without error, under the sealer
// it opened with.
type tokenMemo struct {
	sealer *affinity.Sealer
	raw    string
	tok    affinity.Token
	stale  bool

	putID     uint64    // the binding last recorded in the group's table
	putTarget string    // with its target
	putAt     time.Time // and when
}

// recentlyPut reports whether the connection recorded binding to target
// in the table less than a second ago, and else notes that it does now: a
// keep-alive client's binding is kept live without a table write per
// request. A nil memo never has.
func (m *tokenMemo) recentlyPut(binding uint64, target string, now time.Time) bool {
	if m == nil {
		return false
	}
	if m.putID == binding && m.putTarget == target && now.Sub(m.putAt) < time.Second && !now.Before(m.putAt) {
		return true
	}
	m.putID, m.putTarget, m.putAt = binding, target, now
	return false
}

// openToken opens raw with the current sealer, or takes it from the
// exchange's memo when the same sealer opened the same token before and it
// has not expired since.
func (g *group) openToken(raw string, ex *exchange) (affinity.Token, bool, error) {
	s, m := g.srv.sealer(), ex.memo
	if m != nil && m.sealer == s && m.raw == raw && ex.start.Before(m.tok.ExpiresAt) {
		return m.tok, m.stale, nil
	}
	tok, stale, err := s.Open(raw, ex.start)
	if err == nil && m != nil {
		m.sealer, m.raw, m.tok, m.stale = s, raw, tok, stale
	}
	return tok, stale, err
}

// boundUsable says whether a bound target may keep serving its clients:
// healthy (or the group fails open) and not past its drain deadline. A
// draining target keeps its bound clients until deregistration_delay ends,
// unless it becomes unhealthy first.
func (g *group) boundUsable(t *target, now time.Time) string {
	if t.state(now) == StateDrained {
		return causeDraining
	}
	if !t.healthy() && !g.failingOpen() {
		return causeUnhealthy
	}
	return causeNone
}

// fresh binds the client to a newly chosen target.
func (g *group) fresh(r *http.Request, ex *exchange, outcome, cause string) *target {
	ex.dec = decision{outcome, cause}
	t := g.pick(r, ex.ci, ex.start, nil)
	if t == nil {
		return nil
	}
	ex.bind = binding{issue: g.sticky.mode != "app_cookie" || outcome == outcomeRebound,
		token: affinity.Token{Binding: newBindingID()}}
	return t
}

func tokenCause(err error) string {
	switch {
	case errors.Is(err, affinity.ErrExpired):
		return causeExpired
	case errors.Is(err, affinity.ErrUnknownKey):
		return causeUnknownKey
	default:
		return causeInvalid
	}
}

// refreshAfter is how old a kept token may get before the sliding expiry
// re-issues it: a tenth of the duration, at most a minute, so a busy client
// does not get a Set-Cookie on every response.
func refreshAfter(d time.Duration) time.Duration { return min(d/10, time.Minute) }

// readToken finds r's affinity token and opens it. With several (two
// cookies of one name that differ in domain or path, or the cookie and its
// cross-site twin), the first that opens as this group's wins, so that a
// stale one sent first does not rebind the client on every request; when
// none does, the first is returned, with its error, for the decision's
// cause. raw is "" when r carries none.
func (g *group) readToken(r *http.Request, ex *exchange) (raw string, tok affinity.Token, stale bool, err error) {
	for v := range g.tokens(r) {
		t, s, e := g.openToken(v, ex)
		if e == nil && t.Group == g.name {
			return v, t, s, nil
		}
		if raw == "" {
			raw, tok, stale, err = v, t, s, e
		}
	}
	return raw, tok, stale, err
}

// tokens yields the affinity tokens r carries for the group's mode, in
// the order readToken tries them.
func (g *group) tokens(r *http.Request) iter.Seq[string] {
	return func(yield func(string) bool) {
		var names [2]string
		switch g.sticky.mode {
		case "lb_cookie":
			names = [2]string{g.sticky.cookie, g.sticky.corsCookie}
		case "app_cookie":
			names[0] = g.sticky.appCookie
		case "header":
			if v := r.Header.Get(g.sticky.header); v != "" {
				yield(v) // one too long is refused by Open, counted invalid
			}
			return
		}
		for _, name := range names {
			if name == "" {
				continue
			}
			for v := range affinity.CookieValues(r.Header, name) {
				if v != "" && !yield(v) {
					return
				}
			}
		}
	}
}

// chooseSourceIP binds by client address: a remembered binding while it is
// not idle longer than the duration, else consistent hashing with bounded
// loads on the address.
func (g *group) chooseSourceIP(r *http.Request, ex *exchange) (*target, error) {
	now := ex.start
	key := ex.ci.Addr.String()
	id, ok, expired := g.table.Get(key, now)
	outcome, cause := outcomeNew, causeNone
	if expired {
		outcome, cause = outcomeRebound, causeExpired
	}
	if ok {
		t := g.byID[id]
		switch {
		case t == nil:
			outcome, cause = outcomeRebound, causeUnknownTarget
		default:
			if c := g.boundUsable(t, now); c != causeNone {
				outcome, cause = outcomeRebound, c
				if g.sticky.strict {
					ex.dec = decision{outcomeRefused, cause}
					return nil, errStrict
				}
			} else {
				ex.dec = decision{outcomeKept, causeNone}
				g.table.Put(key, t.id, now)
				return t, nil
			}
		}
	}
	ex.dec = decision{outcome, cause}
	t := g.pick(r, ex.ci, now, nil)
	if t != nil && !g.table.Put(key, t.id, now) {
		g.srv.metrics.tableFull.WithLabelValues(g.name).Inc()
	}
	return t, nil
}

// rebindAfterFailure records that the exchange moved from a target that
// could not be reached to t.
func (g *group) rebindAfterFailure(ex *exchange, t *target) {
	if ex.dec.outcome == outcomeKept {
		ex.dec = decision{outcomeRebound, causeUnhealthy}
	}
	switch g.sticky.mode {
	case "none":
	case "source_ip":
		g.table.Put(ex.ci.Addr.String(), t.id, ex.start)
	default:
		if ex.bind.token.Binding == 0 {
			ex.bind.token.Binding = newBindingID()
		}
		ex.bind.issue = true
	}
}

// respond adds the affinity token to a target's response and counts the
// binding.
func (g *group) respond(h http.Header, ex *exchange) {
	st := &g.sticky
	if st.mode == "none" || st.mode == "source_ip" {
		return
	}
	now := ex.start
	b := &ex.bind
	issue := b.issue || b.refresh
	if st.mode == "app_cookie" {
		set, deleted := affinity.AppCookieSet(h, st.appCookieName, now)
		switch {
		case deleted:
			affinity.SetCookie(h, st.appCookie, "", time.Time{}, now, g.cookieOptions(ex, "Lax"))
			return
		case set:
			issue = true
		}
	}
	if b.token.Binding != 0 && (issue || b.raw != "") && !ex.memo.recentlyPut(b.token.Binding, ex.t.id, now) {
		g.table.Put(strconv.FormatUint(b.token.Binding, 16), ex.t.id, now)
	}
	if !issue {
		if st.mode == "header" && b.raw != "" {
			h.Set(st.header, b.raw)
		}
		return
	}
	tok := affinity.Token{Group: g.name, Target: ex.t.id, Binding: b.token.Binding,
		IssuedAt: now, ExpiresAt: now.Add(st.duration)}
	if tok.Binding == 0 {
		tok.Binding = newBindingID()
	}
	v, err := g.srv.sealer().Seal(tok)
	if err != nil {
		g.srv.log.Error("sealing affinity token", "group", g.name, "err", err)
		return
	}
	switch st.mode {
	case "lb_cookie":
		affinity.SetCookie(h, st.cookie, v, tok.ExpiresAt, now, g.cookieOptions(ex, "Lax"))
		if ex.ci.Secure() {
			// The cross-site twin rides credentialed cross-origin requests,
			// which browsers send only with SameSite=None; Secure.
			affinity.SetCookie(h, st.corsCookie, v, tok.ExpiresAt, now, g.cookieOptions(ex, "None"))
		}
	case "app_cookie":
		affinity.SetCookie(h, st.appCookie, v, tok.ExpiresAt, now, g.cookieOptions(ex, "Lax"))
	case "header":
		h.Set(st.header, v)
	}
	ex.issued = true
}

func (g *group) cookieOptions(ex *exchange, sameSite string) affinity.CookieOptions {
	return affinity.CookieOptions{Domain: g.sticky.domain, Secure: ex.ci.Secure(), SameSite: sameSite}
}

// newBindingID returns a random non-zero binding id.
func newBindingID() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		if id := binary.LittleEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}
