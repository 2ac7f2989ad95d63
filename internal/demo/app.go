package demo

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// sessionCookie names the app's own session cookie. It is unrelated to the
// load balancer's TETHER cookie and to the shared store's session cookie:
// it identifies the browser session whose visits, and whose memory cart, a
// target keeps.
const sessionCookie = "DEMOSESSION"

// maxSlow caps the delay of /slow.
const maxSlow = 10 * time.Second

// assets are the pages and the script the targets serve.
//
//go:embed *.html shop.js tether.svg
var assets embed.FS

// pages holds page.html, shop.html and the base.css they share. It is
// parsed once and never modified after package init.
var pages = template.Must(template.ParseFS(assets, "*.html"))

// visits counts visits per session id in one incarnation of a target.
type visits struct {
	mu  sync.Mutex
	max int
	n   map[string]int
}

func newVisits(max int) *visits {
	return &visits{max: max, n: make(map[string]int)}
}

// add counts one visit of session id and returns the session's total. When
// the map is full, an arbitrary other session is forgotten to make room.
func (v *visits) add(id string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.n[id]; !ok && len(v.n) >= v.max {
		for k := range v.n {
			delete(v.n, k)
			break
		}
	}
	v.n[id]++
	return v.n[id]
}

// handler returns the HTTP handler of one incarnation of the target, which
// counts visits in v and serves the shop s.
func (t *Target) handler(v *visits, s *shop) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { t.page(w, r, v) })
	mux.HandleFunc("GET /api/whoami", func(w http.ResponseWriter, r *http.Request) { t.whoami(w, r, v) })
	mux.HandleFunc("GET /orders", t.orders)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok"))
	})
	// The demo's one static file, the same on every target and cacheable
	// for five minutes: what the edge in front of the load balancer keeps
	// (tether demo runs one).
	mux.HandleFunc("GET /static/tether.svg", serveAsset("tether.svg", "image/svg+xml", "public, max-age=300"))
	mux.HandleFunc("GET /events", t.events)
	mux.HandleFunc("GET /slow", t.slow)
	s.routes(mux)
	mux.HandleFunc("/", http.NotFound)
	return mux
}

// appSession returns the request's DEMOSESSION id, issuing a new one when the
// cookie is absent or malformed.
func appSession(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if b, err := base64.RawURLEncoding.DecodeString(c.Value); err == nil && len(b) == 16 {
			return c.Value
		}
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	id := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    id,
		Path:     "/",
		MaxAge:   3600, // as long as the demo's stickiness, so a browser restart keeps both
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
	return id
}

// short returns the first 8 characters of a session id, enough to tell
// sessions apart on screen without revealing the whole cookie.
func short(id string) string { return id[:8] }

// pageData is what page.html renders. html/template escapes every field.
type pageData struct {
	ID, Color, Address string
	Visits             int
	Session            string
	Time               string
	ControlURL         string
}

func (t *Target) page(w http.ResponseWriter, r *http.Request, v *visits) {
	id := appSession(w, r)
	data := pageData{
		ID:         t.id,
		Color:      t.color,
		Address:    t.Address(),
		Visits:     v.add(id),
		Session:    short(id),
		Time:       t.clock.Now().Format("15:04:05 MST"),
		ControlURL: t.control(),
	}
	t.render(w, "page.html", data, "")
}

// render writes the page template name, executed with data, as an HTML
// response that caches must not keep. A non-empty csp becomes the
// response's Content-Security-Policy.
func (t *Target) render(w http.ResponseWriter, name string, data any, csp string) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		t.logger.Error("render demo page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if csp != "" {
		h.Set("Content-Security-Policy", csp)
	}
	_, _ = buf.WriteTo(w)
}

// serveAsset returns the handler of the embedded file name, sent with
// contentType and cacheControl.
func serveAsset(name, contentType, cacheControl string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		b, err := assets.ReadFile(name)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Cache-Control", cacheControl)
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(b)
	}
}

// whoamiResponse is the JSON body of /api/whoami.
type whoamiResponse struct {
	Target  string `json:"target"`
	Visits  int    `json:"visits"`
	Session string `json:"session"`
	Color   string `json:"color"`
}

func (t *Target) whoami(w http.ResponseWriter, r *http.Request, v *visits) {
	id := appSession(w, r)
	writeJSON(w, whoamiResponse{Target: t.id, Visits: v.add(id), Session: short(id), Color: t.color})
}

// orders is the demo's API: tether's JWT authorizer lets only requests
// with a valid access token through, and says in headers whose they are.
func (t *Target) orders(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, struct {
		Target string   `json:"target"`
		User   string   `json:"user"`
		Tenant string   `json:"tenant"`
		Scope  string   `json:"scope"`
		Orders []string `json:"orders"`
	}{t.id, r.Header.Get("X-Tether-User"), r.Header.Get("X-Tether-Tenant"), r.Header.Get("X-Tether-Claim-Scope"),
		[]string{"order-1001", "order-1002"}})
}

// events streams one Server-Sent Event per second until the client goes
// away or the target is killed.
func (t *Target) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	for n := 1; ; n++ {
		data, err := json.Marshal(struct {
			Target string `json:"target"`
			N      int    `json:"n"`
		}{t.id, n})
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "id: %d\nevent: tick\ndata: %s\n\n", n, data); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.clock.After(time.Second):
		}
	}
}

// slow answers after ms milliseconds (default 1000, at most 10000), or
// earlier if the client goes away.
func (t *Target) slow(w http.ResponseWriter, r *http.Request) {
	d := time.Second
	if s := r.URL.Query().Get("ms"); s != "" {
		ms, err := strconv.Atoi(s)
		if err != nil || ms < 0 {
			http.Error(w, "ms must be a whole number of milliseconds", http.StatusBadRequest)
			return
		}
		d = time.Duration(min(ms, int(maxSlow/time.Millisecond))) * time.Millisecond
	}
	select {
	case <-r.Context().Done():
		return
	case <-t.clock.After(d):
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "%s answered after %d ms\n", t.id, d.Milliseconds())
}

// writeJSON writes v as a JSON response that caches must not keep.
func writeJSON(w http.ResponseWriter, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
