package session

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
)

// LoadAndSave is the middleware that gives next a session. It loads the
// session named by the request's cookie (or starts an anonymous one, which
// is stored only once something is put into it), and saves what next
// changed just before the response's headers are written, setting or
// clearing the cookie as needed.
//
// It answers 421 without calling next when the request has no tenant the
// Manager serves, and 503 with Retry-After when the store cannot be
// reached, so that an outage never looks like a logout.
func (m *Manager) LoadAndSave(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, status, err := m.load(r)
		if err != nil {
			m.fail(w, status, err)
			return
		}
		ctx := context.WithValue(r.Context(), m.cookieKey, st)
		ctx = context.WithValue(ctx, requestKey{}, r)
		sw := &saveWriter{ResponseWriter: w, m: m, st: st, ctx: ctx}
		next.ServeHTTP(sw, r.WithContext(ctx))
		sw.save()
	})
}

func (m *Manager) fail(w http.ResponseWriter, status int, err error) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
		m.log.Warn("session store unavailable", "err", err)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(status)+": "+err.Error(), status)
}

// load returns the request's session state, or a status and error to
// answer with.
func (m *Manager) load(r *http.Request) (*state, int, error) {
	tenant, ok := m.tenant(r)
	if !ok {
		return nil, http.StatusMisdirectedRequest, errors.New("session: this host or tenant is not served here")
	}
	st := &state{tenant: tenant}
	if c, err := r.Cookie(m.cfg.CookieName); err == nil {
		if !validRawID(c.Value) {
			m.emit(Event{Type: EventRejected, Reason: "malformed", Tenant: tenant})
		} else {
			id := storeID(c.Value)
			rec, version, found, err := m.get(r.Context(), tenant, id)
			if err != nil {
				return nil, http.StatusServiceUnavailable, err
			}
			if found {
				st.rawID, st.id, st.rec, st.version = c.Value, id, rec, version
				if err := m.checkBinding(r.Context(), m.clientOf(r), st); err != nil {
					return nil, http.StatusServiceUnavailable, err
				}
				if st.version > 0 {
					return st, 0, nil
				}
			} else {
				// Strict mode: an ID the store does not know is never
				// adopted; the browser gets a new one when needed.
				m.emit(Event{Type: EventRejected, Reason: "unknown", Tenant: tenant, Hash: m.hash(id)})
				st.cookie = cookieClear
			}
		}
	}
	st.rec = m.newRecord(tenant, r, m.now())
	if err := m.restoreRemembered(r, st); err != nil {
		return nil, http.StatusServiceUnavailable, err
	}
	return st, 0, nil
}

// checkBinding compares the client c with the signals recorded at
// creation and applies the binding policy: with revoke, a mismatch ends
// the session, and st is left without one.
func (m *Manager) checkBinding(ctx context.Context, c Client, st *state) error {
	signal := bindingMismatch(st.rec, c)
	if signal == "" {
		return nil
	}
	m.emit(Event{Type: EventBindingMismatch, Reason: signal, Tenant: st.tenant, UserID: st.rec.UserID, Hash: m.hash(st.id)})
	if m.cfg.Binding != BindingRevoke {
		return nil
	}
	sctx, cancel := m.storeCtx(ctx)
	defer cancel()
	if err := m.store.Delete(sctx, st.tenant, st.id); err != nil {
		return errors.Join(ErrStoreUnavailable, err)
	}
	m.emit(Event{Type: EventRevoked, Reason: "binding_" + signal, Tenant: st.tenant, UserID: st.rec.UserID, Hash: m.hash(st.id)})
	st.rawID, st.id, st.version, st.cookie = "", "", 0, cookieClear
	return nil
}

// saveWriter saves the session before the first byte of the response.
type saveWriter struct {
	http.ResponseWriter
	m      *Manager
	st     *state
	ctx    context.Context
	saved  bool
	failed bool
}

// save commits the session and writes its cookies; it runs once, before
// the headers. When the commit fails the response becomes a 503 and what
// the handler writes afterwards is dropped.
func (w *saveWriter) save() {
	if w.saved {
		return
	}
	w.saved = true
	if err := w.m.commit(w.ctx, w.st); err != nil {
		w.failed = true
		h := w.ResponseWriter.Header()
		for k := range h {
			delete(h, k)
		}
		w.m.fail(w.ResponseWriter, http.StatusServiceUnavailable, err)
		return
	}
	w.m.writeCookies(w.ResponseWriter.Header(), w.st)
}

func (w *saveWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.save()
	if !w.failed {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *saveWriter) Write(b []byte) (int, error) {
	w.save()
	if w.failed {
		return 0, ErrStoreUnavailable
	}
	return w.ResponseWriter.Write(b)
}

// Flush saves the session, then flushes, so that streaming handlers work.
func (w *saveWriter) Flush() {
	w.save()
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.failed {
		f.Flush()
	}
}

// Hijack saves the session before handing the connection over (a
// WebSocket upgrade).
func (w *saveWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.save()
	if w.failed {
		return nil, nil, ErrStoreUnavailable
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *saveWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeCookies adds the Set-Cookie headers st needs, and Cache-Control:
// no-store whenever one carries a session ID.
func (m *Manager) writeCookies(h http.Header, st *state) {
	st.mu.Lock()
	defer st.mu.Unlock()
	wrote := false
	switch {
	case st.cookie == cookieSet && st.rawID != "":
		h.Add("Set-Cookie", m.cookie(m.cfg.CookieName, st.rawID, 0).String())
		wrote = true
	case st.cookie == cookieClear || st.cookie == cookieSet:
		h.Add("Set-Cookie", m.cookie(m.cfg.CookieName, "", -1).String())
		wrote = true
	}
	if st.remember != nil {
		h.Add("Set-Cookie", st.remember.String())
		wrote = true
	}
	if wrote {
		h.Set("Cache-Control", "no-store")
	}
}

// cookie returns a session-layer cookie with the secure attributes:
// HttpOnly, Secure (unless InsecureDevCookies), SameSite, Path=/ and no
// Domain. maxAge 0 makes it a browser-session cookie; -1 deletes it.
func (m *Manager) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   !m.cfg.InsecureDevCookies,
		SameSite: m.cfg.SameSite,
	}
}
