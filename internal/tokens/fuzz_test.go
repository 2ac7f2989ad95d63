package tokens_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzEndpoints sends arbitrary bodies to every endpoint: the answer is
// never a 5xx and an error is always OAuth-style JSON.
func FuzzEndpoints(f *testing.F) {
	for _, seed := range []struct{ path, ctype, body, auth string }{
		{"/api/v1/login", "application/json", `{"username":"alice","password":"` + password + `"}`, ""},
		{"/api/v1/login", "application/json", `{"username":"alice","password":"x","audience":"api","scope":"orders:read"}`, ""},
		{"/api/v1/login", "application/json; charset=utf-8", `{"username":"\u0000","password":[]}`, ""},
		{"/oauth2/token", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=" + strings.Repeat("A", 64), ""},
		{"/oauth2/token", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=%FF%FE&scope=a+b", ""},
		{"/oauth2/revoke", "application/x-www-form-urlencoded", "token=" + strings.Repeat("_", 64) + "&token_type_hint=access_token", ""},
		{"/oauth2/revoke", "application/x-www-form-urlencoded", "token=eyJhbGciOiJub25lIn0.e30.", ""},
		{"/api/v1/logout", "application/json", `{"everywhere":true}`, "Bearer eyJhbGciOiJub25lIn0.e30."},
		{"/api/v1/logout", "", "", "Bearer " + strings.Repeat("a.", 3000)},
	} {
		f.Add(seed.path, seed.ctype, seed.body, seed.auth)
	}
	h := newHarness(f)
	handler := h.svc.Handler()
	f.Fuzz(func(t *testing.T, path, ctype, body, auth string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(http.MethodPost, "http://tokens"+path, strings.NewReader(body))
		if err != nil {
			return // not a request a server could receive
		}
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", auth)
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST %s (%q): %d %s", path, ctype, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e struct {
				Error string `json:"error"`
			}
			if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == "" {
				t.Fatalf("POST %s: %d with a body that is not an OAuth error: %q", path, rec.Code, rec.Body)
			}
		}
	})
}
