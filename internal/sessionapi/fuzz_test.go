package sessionapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tetherlb/tether/internal/sessionapi"
	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/memstore"
)

// FuzzAPI sends arbitrary methods, paths and bodies with a valid key: the
// API must answer every one with a status below 500 and never panic.
func FuzzAPI(f *testing.F) {
	for _, s := range []struct{ method, path, body string }{
		{"POST", "/api/v1/sessions", `{"user_id":"a","tenant_id":"t","data":{"k":1}}`},
		{"PATCH", "/api/v1/sessions/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", `{"data":{"k":null}}`},
		{"GET", "/api/v1/users/%00/sessions?tenant_id=%ff", ``},
		{"DELETE", "/api/v1/users/a/sessions?except=x&except=y", ``},
		{"POST", "/api/v1/sessions", `{"data":{"":1}}`},
		{"POST", "/api/v1/sessions", `[1,2,3]`},
	} {
		f.Add(s.method, s.path, s.body)
	}
	ms := memstore.New(memstore.Options{})
	defer ms.Close()
	keys, _ := session.StaticKey([]byte(strings.Repeat("k", 32)))
	m, err := session.New(session.Config{}, session.Options{Store: ms, Keys: keys})
	if err != nil {
		f.Fatal(err)
	}
	h, err := sessionapi.Handler(sessionapi.Options{Manager: m, Key: []byte(apiKey)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		req, err := http.NewRequest(method, "http://api"+path, strings.NewReader(body))
		if err != nil || req.URL.Path == "" || req.URL.Path[0] != '/' {
			return
		}
		req.Header.Set("Authorization", "Bearer "+apiKey)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q = %d %s", method, path, body, rec.Code, rec.Body)
		}
	})
}
