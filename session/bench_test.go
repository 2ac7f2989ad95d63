package session_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/memstore"
)

func benchManager(b *testing.B, store session.Store) *session.Manager {
	keys, _ := session.StaticKey([]byte(strings.Repeat("b", 32)))
	m, err := session.New(session.Config{}, session.Options{Store: store, Keys: keys})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// counterHandler loads the session, reads a counter and writes it back: a
// load and a save per request.
func counterHandler(m *session.Manager) http.Handler {
	return m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := session.Get[int](r.Context(), m, "n")
		m.Put(r.Context(), "n", n+1)
	}))
}

// newSessionCookie makes one session through h and returns its cookie.
func newSessionCookie(b *testing.B, h http.Handler) *http.Cookie {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "https://app/", nil))
	cs := rec.Result().Cookies()
	if len(cs) != 1 {
		b.Fatalf("no session cookie: %v", rec.Result().Header)
	}
	return cs[0]
}

// BenchmarkLoadSave is a load and a save of one session per request on the
// memory store, through the middleware (no network).
func BenchmarkLoadSave(b *testing.B) {
	ms := memstore.New(memstore.Options{})
	defer ms.Close()
	h := counterHandler(benchManager(b, ms))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := newSessionCookie(b, h)
		for pb.Next() {
			req := httptest.NewRequest("GET", "https://app/", nil)
			req.AddCookie(c)
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
	})
}

// BenchmarkLoadUnchanged reads a session without changing it: one store
// Get, no write.
func BenchmarkLoadUnchanged(b *testing.B) {
	ms := memstore.New(memstore.Options{})
	defer ms.Close()
	m := benchManager(b, ms)
	h := m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.Get[int](r.Context(), m, "n")
	}))
	c := newSessionCookie(b, counterHandler(m))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "https://app/", nil)
			req.AddCookie(c)
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
	})
}

// BenchmarkMemoryPerSession stores 50,000 browser sessions holding a
// 100-byte value through the Manager into the memory store and reports
// the heap they take beyond that value: the store's own overhead plus the
// session's metadata (timestamps, binding signals).
func BenchmarkMemoryPerSession(b *testing.B) {
	const n = 50_000
	value := strings.Repeat("x", 100-2) // a JSON string of 100 bytes
	for range b.N {
		ms := memstore.New(memstore.Options{})
		m := benchManager(b, ms)
		h := m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m.Put(r.Context(), "v", value)
		}))
		req := httptest.NewRequest("GET", "https://app/", nil)
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36")
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range n {
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n-100, "B-overhead/session")
		runtime.KeepAlive(m)
		ms.Close()
	}
}
