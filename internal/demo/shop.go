package demo

import (
	"errors"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/tetherlb/tether/session"
)

// The shop keeps a login and a cart twice, side by side, so that a person
// sees what survives a dead target: once in the serving target's memory,
// keyed by the DEMOSESSION cookie like the visit counter, and once in the
// session store every target shares, through the public session package.
// Every form updates both copies.

// cartKey is the session data key of the shared cart.
const cartKey = "demo.cart"

// maxQuantity caps how many of one item a cart holds.
const maxQuantity = 99

// maxUserName is the longest user name the login form takes, in characters.
const maxUserName = 32

// item is a product of the shop. Mark is the two letters on its badge.
type item struct{ ID, Name, Mark string }

// catalogue is what the shop sells, in display order. It is never modified.
var catalogue = []item{
	{ID: "tea", Name: "Green tea", Mark: "Te"},
	{ID: "coffee", Name: "Coffee beans", Mark: "Co"},
	{ID: "croissant", Name: "Croissant", Mark: "Cr"},
	{ID: "mug", Name: "Tether mug", Mark: "Mu"},
}

func inCatalogue(id string) bool {
	for _, it := range catalogue {
		if it.ID == id {
			return true
		}
	}
	return false
}

// cart maps an item ID to how many of the item the cart holds. It is
// stored in the shared session as a JSON object.
type cart map[string]int

// account is one browser session's login and cart. User is "" when the
// session is not logged in.
type account struct {
	User string
	Cart cart
}

// cartLine is one item of a cart as the page shows it.
type cartLine struct {
	item
	Qty int
}

// cartView is an account as the page shows it: the lines follow the
// catalogue, and what the catalogue does not sell is left out.
type cartView struct {
	User  string
	Lines []cartLine
	Count int
}

func (a account) view() cartView {
	v := cartView{User: a.User}
	for _, it := range catalogue {
		if n := min(a.Cart[it.ID], maxQuantity); n > 0 {
			v.Lines = append(v.Lines, cartLine{item: it, Qty: n})
			v.Count += n
		}
	}
	return v
}

// add returns c with one more of item id, up to maxQuantity; a nil c
// becomes a new cart.
func (c cart) add(id string) cart {
	if c == nil {
		c = cart{}
	}
	c[id] = min(max(c[id], 0)+1, maxQuantity)
	return c
}

// accounts are the logins and carts one incarnation of a target keeps in
// memory, per DEMOSESSION id. It is safe for concurrent use.
type accounts struct {
	mu  sync.Mutex
	max int
	m   map[string]account
}

func newAccounts(max int) *accounts {
	return &accounts{max: max, m: make(map[string]account)}
}

// get returns a copy of the account of session id; the zero account when
// there is none.
func (a *accounts) get(id string) account {
	a.mu.Lock()
	defer a.mu.Unlock()
	acc := a.m[id]
	acc.Cart = maps.Clone(acc.Cart)
	return acc
}

// update applies f to the account of session id, creating it if needed.
// When the map is full, an arbitrary other session is forgotten to make
// room.
func (a *accounts) update(id string, f func(*account)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	acc, ok := a.m[id]
	if !ok && len(a.m) >= a.max {
		for k := range a.m {
			delete(a.m, k)
			break
		}
	}
	f(&acc)
	a.m[id] = acc
}

// remove forgets the account of session id.
func (a *accounts) remove(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.m, id)
}

// shop serves the shop of one incarnation of a target.
type shop struct {
	t   *Target
	mem *accounts
	m   *session.Manager // nil: no shared store
}

func newShop(t *Target, mem *accounts, m *session.Manager) *shop {
	return &shop{t: t, mem: mem, m: m}
}

// routes registers the shop's endpoints on mux:
//
//	GET  /shop                  the page
//	POST /shop/login            form field user; logs in both copies
//	POST /shop/logout           logs out both copies and empties both carts
//	POST /shop/cart/add?item=ID adds one item to both carts
//	GET  /shop.js               the page's script (no inline script)
//
// Every POST answers 303 See Other to /shop. With a Manager, the page and
// the POSTs run inside its LoadAndSave, and the POSTs inside its CSRF
// middleware too; without one, [http.CrossOriginProtection] guards the
// POSTs.
func (s *shop) routes(mux *http.ServeMux) {
	page := http.Handler(http.HandlerFunc(s.page))
	post := http.NewCrossOriginProtection().Handler
	if s.m != nil {
		page = s.m.LoadAndSave(page)
		post = func(h http.Handler) http.Handler {
			return s.m.LoadAndSave(s.m.CSRF(h, session.CSRFOptions{}))
		}
	}
	mux.Handle("GET /shop", page)
	mux.Handle("POST /shop/login", post(http.HandlerFunc(s.login)))
	mux.Handle("POST /shop/logout", post(http.HandlerFunc(s.logout)))
	mux.Handle("POST /shop/cart/add", post(http.HandlerFunc(s.add)))
	mux.HandleFunc("GET /shop.js", serveAsset("shop.js", "text/javascript; charset=utf-8", "no-cache"))
}

// shopData is what shop.html renders. html/template escapes every field.
type shopData struct {
	ID, Color, Address string
	Session            string
	Time               string
	// KillURL is the control API's kill endpoint for this target; "" when
	// no control API is configured.
	KillURL string
	// Killed names the target the page's kill button killed, when that is
	// not the target now serving the page.
	Killed string
	Items  []item
	Memory cartView
	// Shared is the shared copy; nil without a Manager.
	Shared *cartView
	// CSRF is the session's synchronizer token; "" without a Manager.
	CSRF string
}

func (s *shop) page(w http.ResponseWriter, r *http.Request) {
	id := appSession(w, r)
	control := s.t.control()
	data := shopData{
		ID:      s.t.id,
		Color:   s.t.color,
		Address: s.t.Address(),
		Session: short(id),
		Time:    s.t.clock.Now().Format("15:04:05 MST"),
		Items:   catalogue,
		Memory:  s.mem.get(id).view(),
	}
	if killed := r.URL.Query().Get("killed"); validTargetID(killed) && killed != s.t.id {
		data.Killed = killed
	}
	if control != "" {
		data.KillURL = control + "/targets/" + url.PathEscape(s.t.id) + "/kill"
	}
	if s.m != nil {
		ctx := r.Context()
		c, _ := session.Get[cart](ctx, s.m, cartKey)
		v := account{User: s.m.UserID(ctx), Cart: c}.view()
		data.Shared = &v
		data.CSRF = s.m.CSRFToken(r)
	}
	s.t.render(w, "shop.html", data, shopCSP(control))
}

func (s *shop) login(w http.ResponseWriter, r *http.Request) {
	name, ok := userName(r.PostFormValue("user"))
	if !ok {
		http.Error(w, "user name: 1 to 32 letters, digits, spaces, '.', '-' or '_'", http.StatusBadRequest)
		return
	}
	s.mem.update(appSession(w, r), func(a *account) { a.User = name })
	if s.m != nil {
		// Authenticate gives the session a new ID (no fixation) and keeps
		// its cart.
		if err := s.m.Authenticate(r.Context(), name, "", "demo"); err != nil {
			s.fail(w, "log in", err)
			return
		}
	}
	http.Redirect(w, r, "/shop", http.StatusSeeOther)
}

func (s *shop) logout(w http.ResponseWriter, r *http.Request) {
	s.mem.remove(appSession(w, r))
	if s.m != nil {
		if err := s.m.Destroy(r.Context()); err != nil {
			s.fail(w, "log out", err)
			return
		}
	}
	http.Redirect(w, r, "/shop", http.StatusSeeOther)
}

func (s *shop) add(w http.ResponseWriter, r *http.Request) {
	it := r.URL.Query().Get("item")
	if !inCatalogue(it) {
		http.Error(w, "unknown item", http.StatusBadRequest)
		return
	}
	s.mem.update(appSession(w, r), func(a *account) { a.Cart = a.Cart.add(it) })
	if s.m != nil {
		ctx := r.Context()
		c, _ := session.Get[cart](ctx, s.m, cartKey)
		if err := s.m.Put(ctx, cartKey, c.add(it)); err != nil {
			s.fail(w, "add to cart", err)
			return
		}
	}
	http.Redirect(w, r, "/shop", http.StatusSeeOther)
}

// fail answers a session error: 503 when the store could not be reached,
// 500 otherwise.
func (s *shop) fail(w http.ResponseWriter, op string, err error) {
	s.t.logger.Error("demo shop: "+op, "err", err)
	if errors.Is(err, session.ErrStoreUnavailable) {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
		return
	}
	http.Error(w, "internal error", http.StatusInternalServerError)
}

// userName returns s without surrounding spaces, and whether it is a user
// name the login form takes: 1 to maxUserName letters, digits, spaces,
// '.', '-' or '_'.
func userName(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > maxUserName {
		return "", false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(" .-_", r) {
			return "", false
		}
	}
	return s, true
}

// validTargetID reports whether s looks like a target ID (such as "app-1"),
// the only thing the page echoes from its ?killed= parameter.
func validTargetID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', strings.ContainsRune(".-_", r):
		default:
			return false
		}
	}
	return true
}

// shopCSP is the Content-Security-Policy of the shop page: no inline
// script, and scripts, fetches and forms only towards the page's own origin
// and the control API (for the kill button).
func shopCSP(control string) string {
	connect, forms := "'none'", "'self'"
	if o := originOf(control); o != "" {
		connect, forms = o, forms+" "+o
	}
	return "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src " + connect +
		"; form-action " + forms + "; base-uri 'none'; frame-ancestors 'none'"
}

// originOf returns the origin ("http://host:port") of an http or https URL,
// or "" for anything else.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
