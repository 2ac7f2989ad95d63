package demo

import (
	"crypto/rand"
	"html"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/memstore"
)

// newSessions returns a Manager over a fresh in-memory store, configured as
// `tether demo` configures it.
func newSessions(t *testing.T) *session.Manager {
	t.Helper()
	store := memstore.New(memstore.Options{})
	t.Cleanup(func() { _ = store.Close() })
	keys, err := session.StaticKey([]byte(rand.Text() + rand.Text()))
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(session.Config{InsecureDevCookies: true}, session.Options{Store: store, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// startShop starts a target whose shop uses m (nil: no shared store).
func startShop(t *testing.T, id string, m *session.Manager) *Target {
	t.Helper()
	tg := NewTarget(id, "127.0.0.1:0", "#2a9d8f", nil)
	tg.SetSessions(m)
	tg.SetControlURL("http://127.0.0.1:9900")
	if err := tg.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = tg.Close() })
	return tg
}

// noRedirects makes c return a redirect instead of following it.
func noRedirects(c *http.Client) *http.Client {
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// cartState is one cart as the shop page shows it.
type cartState struct {
	User  string
	Items map[string]int
}

// shopPage is what a person reads on the shop page.
type shopPage struct {
	servedBy, csrf string
	memory, shared cartState
	hasShared      bool
	body           string
}

var (
	shopServedByRE = regexp.MustCompile(`<h1>([^<]*)</h1>`)
	shopCSRFRE     = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)
	shopCartRE     = regexp.MustCompile(`(?s)<section class="cart [a-z]+" id="cart-(memory|shared)" data-user="([^"]*)">(.*?)</section>`)
	shopItemRE     = regexp.MustCompile(`<li data-item="([^"]*)" data-qty="(\d+)">`)
)

func parseShop(t *testing.T, body string) shopPage {
	t.Helper()
	p := shopPage{body: body}
	m := shopServedByRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the shop names no serving target; page:\n%s", body)
	}
	p.servedBy = html.UnescapeString(m[1])
	if m := shopCSRFRE.FindStringSubmatch(body); m != nil {
		p.csrf = html.UnescapeString(m[1])
	}
	for _, cm := range shopCartRE.FindAllStringSubmatch(body, -1) {
		c := cartState{User: html.UnescapeString(cm[2]), Items: map[string]int{}}
		for _, im := range shopItemRE.FindAllStringSubmatch(cm[3], -1) {
			n, _ := strconv.Atoi(im[2])
			c.Items[im[1]] = n
		}
		if cm[1] == "memory" {
			p.memory = c
		} else {
			p.shared, p.hasShared = c, strings.Contains(cm[3], `class="who`)
		}
	}
	return p
}

// shopGet loads the shop of tg.
func shopGet(t *testing.T, c *http.Client, tg *Target) shopPage {
	t.Helper()
	resp, body := get(t, c, "http://"+tg.Address()+"/shop", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /shop: status %d: %s", resp.StatusCode, body)
	}
	return parseShop(t, body)
}

// shopPost submits a shop form to tg as a browser without Sec-Fetch-Site
// and Origin would: the CSRF token is all that proves it came from the
// page. It returns the response after redirects and its body.
func shopPost(t *testing.T, c *http.Client, tg *Target, path string, form url.Values, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+tg.Address()+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	maps.Copy(req.Header, header)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: read body: %v", path, err)
	}
	return resp, string(body)
}

// shopSubmit posts a form with the page's CSRF token and returns the shop
// page it redirects to.
func shopSubmit(t *testing.T, c *http.Client, tg *Target, p shopPage, path string, form url.Values) shopPage {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if p.csrf != "" {
		form.Set(session.CSRFTokenField, p.csrf)
	}
	resp, body := shopPost(t, c, tg, path, form, nil)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/shop" || resp.Request.Method != http.MethodGet {
		t.Fatalf("POST %s: ended with %d at %s %s, want 200 at GET /shop (303): %s",
			path, resp.StatusCode, resp.Request.Method, resp.Request.URL.Path, body)
	}
	return parseShop(t, body)
}

func assertCart(t *testing.T, where string, got, want cartState) {
	t.Helper()
	if got.User != want.User || !maps.Equal(got.Items, want.Items) {
		t.Errorf("%s: logged in as %q with %v, want %q with %v", where, got.User, got.Items, want.User, want.Items)
	}
}

func TestShopSharedCartSurvivesTheTarget(t *testing.T) {
	tests := []struct {
		name string
		// next kills tg and returns the target the browser's next request
		// reaches.
		next func(t *testing.T, tg *Target, m *session.Manager) *Target
	}{
		{name: "the same target, revived", next: func(t *testing.T, tg *Target, _ *session.Manager) *Target {
			if err := tg.Kill(); err != nil {
				t.Fatal(err)
			}
			if err := tg.Revive(); err != nil {
				t.Fatal(err)
			}
			return tg
		}},
		{name: "another target sharing the store", next: func(t *testing.T, tg *Target, m *session.Manager) *Target {
			if err := tg.Kill(); err != nil {
				t.Fatal(err)
			}
			return startShop(t, "app-2", m)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newSessions(t)
			app1 := startShop(t, "app-1", m)
			c := newClient(t) // one browser: the jar sends its cookies to every 127.0.0.1 port

			p := shopGet(t, c, app1)
			anonymous := cartState{Items: map[string]int{}}
			assertCart(t, "new memory cart", p.memory, anonymous)
			assertCart(t, "new shared cart", p.shared, anonymous)

			p = shopSubmit(t, c, app1, p, "/shop/login", url.Values{"user": {"ada"}})
			for _, item := range []string{"tea", "mug", "tea"} {
				p = shopSubmit(t, c, app1, p, "/shop/cart/add?item="+item, nil)
			}
			before := cartState{User: "ada", Items: map[string]int{"tea": 2, "mug": 1}}
			assertCart(t, "memory cart on app-1", p.memory, before)
			assertCart(t, "shared cart on app-1", p.shared, before)

			next := tt.next(t, app1, m)
			p = shopGet(t, c, next)
			if p.servedBy != next.ID() {
				t.Fatalf("page served by %q, want %q", p.servedBy, next.ID())
			}
			assertCart(t, "memory cart after the kill", p.memory, anonymous)
			assertCart(t, "shared cart after the kill", p.shared, before)

			// The session goes on: its CSRF token still works, and both
			// carts grow from where they are.
			p = shopSubmit(t, c, next, p, "/shop/cart/add?item=coffee", nil)
			assertCart(t, "memory cart after one more item", p.memory, cartState{Items: map[string]int{"coffee": 1}})
			assertCart(t, "shared cart after one more item", p.shared,
				cartState{User: "ada", Items: map[string]int{"tea": 2, "mug": 1, "coffee": 1}})

			p = shopSubmit(t, c, next, p, "/shop/logout", nil)
			assertCart(t, "memory cart after logout", p.memory, anonymous)
			assertCart(t, "shared cart after logout", p.shared, anonymous)
		})
	}
}

func TestShopCSRF(t *testing.T) {
	m := newSessions(t)
	tg := startShop(t, "app-1", m)
	c := newClient(t)
	token := shopGet(t, c, tg).csrf
	if token == "" {
		t.Fatal("the shop's forms carry no csrf_token")
	}
	noRedirects(c)

	tests := []struct {
		name       string
		header     http.Header
		token      string
		wantStatus int
	}{
		{name: "cross-site, even with the token", header: http.Header{"Sec-Fetch-Site": {"cross-site"}}, token: token, wantStatus: http.StatusForbidden},
		{name: "same-site", header: http.Header{"Sec-Fetch-Site": {"same-site"}}, wantStatus: http.StatusForbidden},
		{name: "foreign Origin", header: http.Header{"Origin": {"https://evil.example"}}, wantStatus: http.StatusForbidden},
		{name: "no header, no token", wantStatus: http.StatusForbidden},
		{name: "no header, forged token", token: "static.AAAA", wantStatus: http.StatusForbidden},
		{name: "same-origin", header: http.Header{"Sec-Fetch-Site": {"same-origin"}}, wantStatus: http.StatusSeeOther},
		{name: "no header, the page's token", token: token, wantStatus: http.StatusSeeOther},
	}
	added := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{}
			if tt.token != "" {
				form.Set(session.CSRFTokenField, tt.token)
			}
			resp, body := shopPost(t, c, tg, "/shop/cart/add?item=tea", form, tt.header)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if resp.StatusCode == http.StatusSeeOther {
				added++
			}
		})
	}
	// A refused request changed neither cart.
	p := shopGet(t, c, tg)
	want := cartState{Items: map[string]int{"tea": added}}
	assertCart(t, "memory cart", p.memory, want)
	assertCart(t, "shared cart", p.shared, want)
}

func TestShopWithoutSharedStore(t *testing.T) {
	tg := startShop(t, "app-1", nil)
	c := newClient(t)
	p := shopGet(t, c, tg)
	if p.hasShared || p.csrf != "" {
		t.Errorf("page shows a shared cart (%v) or a CSRF token (%q) without a Manager", p.hasShared, p.csrf)
	}
	if !strings.Contains(p.body, "This target has no shared session store") {
		t.Error("page does not say the target has no shared store")
	}
	p = shopSubmit(t, c, tg, p, "/shop/login", url.Values{"user": {"ada"}})
	p = shopSubmit(t, c, tg, p, "/shop/cart/add?item=croissant", nil)
	assertCart(t, "memory cart", p.memory, cartState{User: "ada", Items: map[string]int{"croissant": 1}})

	// Without a session there is no token, but cross-origin POSTs are
	// still refused.
	resp, _ := shopPost(t, noRedirects(c), tg, "/shop/logout", nil, http.Header{"Sec-Fetch-Site": {"cross-site"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site logout: status = %d, want 403", resp.StatusCode)
	}
}

func TestShopLogin(t *testing.T) {
	tests := []struct {
		name, user string
		wantStatus int
		wantUser   string
	}{
		{name: "plain", user: "ada", wantStatus: 200, wantUser: "ada"},
		{name: "spaces trimmed", user: "  Ada Lovelace ", wantStatus: 200, wantUser: "Ada Lovelace"},
		{name: "letters of any script", user: "Élodie_林", wantStatus: 200, wantUser: "Élodie_林"},
		{name: "empty", user: "   ", wantStatus: 400},
		{name: "too long", user: strings.Repeat("a", maxUserName+1), wantStatus: 400},
		{name: "markup", user: "<b>ada</b>", wantStatus: 400},
	}
	m := newSessions(t)
	tg := startShop(t, "app-1", m)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t)
			p := shopGet(t, c, tg)
			resp, body := shopPost(t, c, tg, "/shop/login",
				url.Values{"user": {tt.user}, session.CSRFTokenField: {p.csrf}}, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus != http.StatusOK {
				return
			}
			p = parseShop(t, body)
			if p.memory.User != tt.wantUser || p.shared.User != tt.wantUser {
				t.Errorf("logged in as %q (memory) and %q (shared), want %q", p.memory.User, p.shared.User, tt.wantUser)
			}
			if !strings.Contains(body, "Logged in as <strong>"+html.EscapeString(tt.wantUser)+"</strong>") {
				t.Errorf("page does not greet %q", tt.wantUser)
			}
		})
	}
}

func TestShopEndpoints(t *testing.T) {
	tg := startShop(t, "app-1", newSessions(t))
	c := noRedirects(newClient(t))
	token := shopGet(t, c, tg).csrf
	tests := []struct {
		name, method, path string
		wantStatus         int
	}{
		{name: "unknown item", method: "POST", path: "/shop/cart/add?item=caviar", wantStatus: 400},
		{name: "no item", method: "POST", path: "/shop/cart/add", wantStatus: 400},
		{name: "add with GET", method: "GET", path: "/shop/cart/add?item=tea", wantStatus: 404},
		{name: "trailing slash", method: "GET", path: "/shop/", wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, "http://"+tg.Address()+tt.path,
				strings.NewReader(url.Values{session.CSRFTokenField: {token}}.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
		})
	}
}

func TestShopPage(t *testing.T) {
	tg := startShop(t, "app-1", newSessions(t))
	c := newClient(t)
	tests := []struct {
		name, query      string
		want, notWant    []string
		wantKilledBanner bool
	}{
		{name: "plain", want: []string{"<h1>app-1</h1>", "In this target's memory", "In the shared session store",
			`action="http://127.0.0.1:9900/targets/app-1/kill"`, `<script src="/shop.js"></script>`}},
		{name: "after a kill", query: "?killed=app-2", wantKilledBanner: true,
			want: []string{"<strong>app-2</strong> was killed"}},
		{name: "killed names this target", query: "?killed=app-1"},
		{name: "killed is not a target id", query: "?killed=" + url.QueryEscape("<b>x</b>"), notWant: []string{"&lt;b&gt;x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, c, "http://"+tg.Address()+"/shop"+tt.query, "")
			if got := strings.Contains(body, `id="moved"`); got != tt.wantKilledBanner {
				t.Errorf("kill banner shown = %v, want %v", got, tt.wantKilledBanner)
			}
			for _, s := range tt.want {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, s := range tt.notWant {
				if strings.Contains(body, s) {
					t.Errorf("page contains %q", s)
				}
			}
			csp := resp.Header.Get("Content-Security-Policy")
			for _, s := range []string{"script-src 'self'", "connect-src http://127.0.0.1:9900", "form-action 'self' http://127.0.0.1:9900"} {
				if !strings.Contains(csp, s) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, s)
				}
			}
			if strings.Contains(body, "<script>") {
				t.Error("page has an inline script, which its CSP blocks")
			}
		})
	}

	resp, body := get(t, c, "http://"+tg.Address()+"/shop.js", "")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/javascript") ||
		!strings.Contains(body, `getElementById("kill")`) {
		t.Errorf("GET /shop.js: status %d, Content-Type %q", resp.StatusCode, ct)
	}
}

func TestShopCSP(t *testing.T) {
	tests := []struct{ name, control, want string }{
		{name: "control API", control: "http://127.0.0.1:9900",
			want: "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src http://127.0.0.1:9900; form-action 'self' http://127.0.0.1:9900; base-uri 'none'; frame-ancestors 'none'"},
		{name: "no control API", control: "",
			want: "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"},
		{name: "not an http URL", control: "javascript:alert(1)",
			want: "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shopCSP(tt.control); got != tt.want {
				t.Errorf("shopCSP(%q) =\n%s\nwant\n%s", tt.control, got, tt.want)
			}
		})
	}
}

func TestAccountsAreBounded(t *testing.T) {
	a := newAccounts(2)
	for _, id := range []string{"a", "b", "c", "c"} {
		a.update(id, func(acc *account) { acc.Cart = acc.Cart.add("tea") })
	}
	if len(a.m) != 2 {
		t.Errorf("sessions kept = %d, want 2", len(a.m))
	}
	if got := a.get("c").Cart["tea"]; got != 2 {
		t.Errorf("tea in c's cart = %d, want 2", got)
	}
}

func TestCartQuantityIsCapped(t *testing.T) {
	var c cart
	for range maxQuantity + 5 {
		c = c.add("tea")
	}
	if v := (account{Cart: c}).view(); v.Count != maxQuantity {
		t.Errorf("count = %d, want %d", v.Count, maxQuantity)
	}
}
