package sessionapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/sessionapi"
	"github.com/tetherlb/tether/internal/testsupport"
	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/memstore"
)

var apiKey = strings.Repeat("s3cret-", 6)

// flakyStore fails every call while down is set.
type flakyStore struct {
	session.Store
	down atomic.Bool
}

func (s *flakyStore) Get(ctx context.Context, tenant, id string) (session.Entry, bool, error) {
	if s.down.Load() {
		return session.Entry{}, false, errors.New("dial tcp: connection refused")
	}
	return s.Store.Get(ctx, tenant, id)
}

func (s *flakyStore) Create(ctx context.Context, e session.Entry) (bool, error) {
	if s.down.Load() {
		return false, errors.New("dial tcp: connection refused")
	}
	return s.Store.Create(ctx, e)
}

type apiEnv struct {
	t     *testing.T
	url   string
	store *flakyStore
	reg   *prometheus.Registry
}

func newAPI(t testing.TB) *apiEnv {
	ms := memstore.New(memstore.Options{})
	t.Cleanup(func() { ms.Close() })
	store := &flakyStore{Store: ms}
	keys, _ := session.StaticKey(bytes.Repeat([]byte{1}, 32))
	m, err := session.New(session.Config{}, session.Options{Store: store, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := sessionapi.Handler(sessionapi.Options{Manager: m, Key: []byte(apiKey), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &apiEnv{url: srv.URL, store: store, reg: reg}
}

// do sends a request with the API key and decodes a JSON answer into out.
func (e *apiEnv) do(t *testing.T, method, path, body string, out any) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: answer %q is not JSON: %v", method, path, b, err)
		}
	}
	return resp
}

func (e *apiEnv) create(t *testing.T, body string) string {
	t.Helper()
	var out map[string]string
	if resp := e.do(t, "POST", "/api/v1/sessions", body, &out); resp.StatusCode != 201 {
		t.Fatalf("create = %d %v", resp.StatusCode, out)
	}
	return out["id"]
}

type sessionJSON struct {
	UserID    string         `json:"user_id"`
	TenantID  string         `json:"tenant_id"`
	Data      map[string]any `json:"data"`
	CreatedAt string         `json:"created_at"`
	ExpiresAt string         `json:"expires_at"`
}

func TestLifecycle(t *testing.T) {
	e := newAPI(t)
	var created map[string]string
	resp := e.do(t, "POST", "/api/v1/sessions", `{"user_id":"alice","tenant_id":"acme","data":{"cart":["apple"]}}`, &created)
	if resp.StatusCode != 201 || len(created["id"]) != 43 || created["expires_at"] == "" || created["idle_expires_at"] == "" {
		t.Fatalf("create = %d %v; want 201 with id, idle_expires_at, expires_at", resp.StatusCode, created)
	}
	id := created["id"]
	var got sessionJSON
	if resp := e.do(t, "GET", "/api/v1/sessions/"+id+"?tenant_id=acme", "", &got); resp.StatusCode != 200 {
		t.Fatalf("get = %d", resp.StatusCode)
	}
	if got.UserID != "alice" || got.TenantID != "acme" || fmt.Sprint(got.Data["cart"]) != "[apple]" || got.CreatedAt == "" {
		t.Errorf("get = %+v", got)
	}
	// Another tenant does not see it.
	if resp := e.do(t, "GET", "/api/v1/sessions/"+id+"?tenant_id=betaco", "", nil); resp.StatusCode != 404 {
		t.Errorf("get from another tenant = %d, want 404", resp.StatusCode)
	}

	got = sessionJSON{}
	resp = e.do(t, "PATCH", "/api/v1/sessions/"+id+"?tenant_id=acme", `{"data":{"theme":"dark","cart":null}}`, &got)
	if resp.StatusCode != 200 || got.Data["theme"] != "dark" || got.Data["cart"] != nil {
		t.Errorf("patch = %d %+v; want theme set and cart removed", resp.StatusCode, got.Data)
	}

	var renewed map[string]string
	e.do(t, "POST", "/api/v1/sessions/"+id+"/renew?tenant_id=acme", "", &renewed)
	if renewed["id"] == "" || renewed["id"] == id {
		t.Fatalf("renew = %v", renewed)
	}
	if resp := e.do(t, "GET", "/api/v1/sessions/"+id+"?tenant_id=acme", "", nil); resp.StatusCode != 404 {
		t.Errorf("the old ID after renew = %d, want 404", resp.StatusCode)
	}
	e.do(t, "GET", "/api/v1/sessions/"+renewed["id"]+"?tenant_id=acme", "", &got)
	if got.Data["theme"] != "dark" {
		t.Errorf("renew lost the data: %+v", got.Data)
	}
	if resp := e.do(t, "DELETE", "/api/v1/sessions/"+renewed["id"]+"?tenant_id=acme", "", nil); resp.StatusCode != 204 {
		t.Errorf("delete = %d, want 204", resp.StatusCode)
	}
	if resp := e.do(t, "GET", "/api/v1/sessions/"+renewed["id"]+"?tenant_id=acme", "", nil); resp.StatusCode != 404 {
		t.Errorf("get after delete = %d, want 404", resp.StatusCode)
	}
}

func TestConcurrentPatchesMerge(t *testing.T) {
	e := newAPI(t)
	id := e.create(t, `{"user_id":"alice"}`)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp := e.do(t, "PATCH", "/api/v1/sessions/"+id, fmt.Sprintf(`{"data":{"k%d":%d}}`, i, i), nil); resp.StatusCode != 200 {
				t.Errorf("patch %d = %d", i, resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	var got sessionJSON
	e.do(t, "GET", "/api/v1/sessions/"+id, "", &got)
	if len(got.Data) != 20 {
		t.Errorf("after 20 concurrent patches of different keys the session holds %d keys, want 20", len(got.Data))
	}
}

func TestUserSessions(t *testing.T) {
	e := newAPI(t)
	keep := e.create(t, `{"user_id":"alice"}`)
	e.create(t, `{"user_id":"alice"}`)
	e.create(t, `{"user_id":"alice"}`)
	e.create(t, `{"user_id":"bob"}`)
	var list struct{ Sessions []map[string]any }
	e.do(t, "GET", "/api/v1/users/alice/sessions", "", &list)
	if len(list.Sessions) != 3 {
		t.Fatalf("alice has %d sessions listed, want 3", len(list.Sessions))
	}
	for _, s := range list.Sessions {
		if s["id"] == keep {
			t.Error("the list reveals session IDs")
		}
	}
	var revoked map[string]int
	e.do(t, "DELETE", "/api/v1/users/alice/sessions?except="+keep, "", &revoked)
	if revoked["revoked"] != 2 {
		t.Errorf("revoked %v, want 2", revoked)
	}
	if resp := e.do(t, "GET", "/api/v1/sessions/"+keep, "", nil); resp.StatusCode != 200 {
		t.Errorf("the excepted session = %d, want 200", resp.StatusCode)
	}
	e.do(t, "GET", "/api/v1/users/bob/sessions", "", &list)
	if len(list.Sessions) != 1 {
		t.Errorf("revoking alice's sessions touched bob's: %d left", len(list.Sessions))
	}
}

// An account page lists a user's devices and signs one out by the hash the
// list gives: the app never holds the other sessions' IDs. The browser's
// address and User-Agent, given at creation, are in the list.
func TestRevokeOneSession(t *testing.T) {
	e := newAPI(t)
	phone := e.create(t, `{"user_id":"alice","ip":"203.0.113.7","user_agent":"Mozilla/5.0 (phone)"}`)
	laptop := e.create(t, `{"user_id":"alice","ip":"2001:db8::1","user_agent":"Mozilla/5.0 (laptop)"}`)
	bobs := e.create(t, `{"user_id":"bob"}`)
	var list struct{ Sessions []map[string]any }
	e.do(t, "GET", "/api/v1/users/alice/sessions", "", &list)
	var phoneHash string
	for _, s := range list.Sessions {
		if s["user_agent"] == "Mozilla/5.0 (phone)" {
			phoneHash, _ = s["id"].(string)
			if s["ip"] != "203.0.113.7" {
				t.Errorf("the phone's session lists ip %v, want 203.0.113.7", s["ip"])
			}
		}
	}
	if phoneHash == "" {
		t.Fatalf("no session lists the phone's User-Agent: %v", list.Sessions)
	}
	var bobList struct{ Sessions []map[string]any }
	e.do(t, "GET", "/api/v1/users/bob/sessions", "", &bobList)
	bobHash, _ := bobList.Sessions[0]["id"].(string)
	var out map[string]any
	if resp := e.do(t, "DELETE", "/api/v1/users/alice/sessions/"+bobHash, "", &out); resp.StatusCode != 404 {
		t.Errorf("alice's route with bob's session hash = %d %v, want 404", resp.StatusCode, out)
	}
	if resp := e.do(t, "DELETE", "/api/v1/users/alice/sessions/"+phoneHash, "", nil); resp.StatusCode != 204 {
		t.Fatalf("DELETE by hash = %d, want 204", resp.StatusCode)
	}
	if resp := e.do(t, "GET", "/api/v1/sessions/"+phone, "", nil); resp.StatusCode != 404 {
		t.Errorf("the signed-out session = %d, want 404", resp.StatusCode)
	}
	for _, id := range []string{laptop, bobs} {
		if resp := e.do(t, "GET", "/api/v1/sessions/"+id, "", nil); resp.StatusCode != 200 {
			t.Errorf("another session = %d after one was signed out, want 200", resp.StatusCode)
		}
	}
	if resp := e.do(t, "DELETE", "/api/v1/users/alice/sessions/"+phoneHash, "", &out); resp.StatusCode != 404 {
		t.Errorf("the same hash again = %d %v, want 404", resp.StatusCode, out)
	}
}

func TestBadRequests(t *testing.T) {
	e := newAPI(t)
	id := e.create(t, `{"user_id":"alice"}`)
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"unknown field", "POST", "/api/v1/sessions", `{"user":"alice"}`, 400},
		{"not JSON", "POST", "/api/v1/sessions", `user=alice`, 400},
		{"trailing data", "POST", "/api/v1/sessions", `{} {}`, 400},
		{"duplicate field", "POST", "/api/v1/sessions", `{"user_id":"alice","user_id":"bob"}`, 400},
		{"field in another case", "POST", "/api/v1/sessions", `{"User_ID":"alice"}`, 400},
		{"oversized body", "POST", "/api/v1/sessions", `{"data":{"x":"` + strings.Repeat("a", sessionapi.MaxBody) + `"}}`, 413},
		{"control character in key", "POST", "/api/v1/sessions", `{"data":{"a\u0000b":1}}`, 400},
		// encoding/json would make both bad keys U+FFFD and keep the raw
		// byte of the value, which a later GET answers with as invalid JSON.
		{"invalid UTF-8", "POST", "/api/v1/sessions", "{\"user_id\":\"u8\",\"data\":{\"\xff\":1,\"k\":\"\xfe\"}}", 400},
		{"overlong user", "POST", "/api/v1/sessions", `{"user_id":"` + strings.Repeat("u", 200) + `"}`, 400},
		{"null on create", "POST", "/api/v1/sessions", `{"data":{"a":null}}`, 400},
		{"empty patch", "PATCH", "/api/v1/sessions/" + id, `{"data":{}}`, 400},
		{"malformed ID", "GET", "/api/v1/sessions/not-an-id", ``, 404},
		{"unknown ID", "GET", "/api/v1/sessions/" + strings.Repeat("A", 43), ``, 404},
		{"bad except", "DELETE", "/api/v1/users/alice/sessions?except=nope", ``, 400},
		{"not a session hash", "DELETE", "/api/v1/users/alice/sessions/" + id, ``, 400},
		{"not an IP address", "POST", "/api/v1/sessions", `{"user_id":"a","ip":"203.0.113.300"}`, 400},
		{"IP with a zone", "POST", "/api/v1/sessions", `{"user_id":"a","ip":"fe80::1%eth0"}`, 400},
		{"control character in user_agent", "POST", "/api/v1/sessions", `{"user_id":"a","user_agent":"a\u0007b"}`, 400},
		{"overlong user_agent", "POST", "/api/v1/sessions", `{"user_id":"a","user_agent":"` + strings.Repeat("u", 9000) + `"}`, 400},
		{"unknown endpoint", "GET", "/api/v2/sessions", ``, 404},
		{"wrong method", "PUT", "/api/v1/sessions/" + id, `{}`, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out map[string]any
			resp := e.do(t, tt.method, tt.path, tt.body, &out) // every answer is JSON, the mux's 404 and 405 too
			if resp.StatusCode != tt.want {
				t.Fatalf("%s %s = %d %v, want %d", tt.method, tt.path, resp.StatusCode, out, tt.want)
			}
			if out != nil && out["error"] == nil {
				t.Errorf("no JSON error in %v", out)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	e := newAPI(t)
	for name, h := range map[string]string{"none": "", "wrong": "Bearer " + strings.Repeat("x", 42), "basic": "Basic " + apiKey, "prefix": "Bearer " + apiKey[:20]} {
		req, _ := http.NewRequest("POST", e.url+"/api/v1/sessions", strings.NewReader(`{}`))
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s key: %d, WWW-Authenticate %q; want 401 with a Bearer challenge", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if n := testsupport.Metric(t, e.reg, "tether_session_api_requests_total", map[string]string{"code": "401"}); n != 4 {
		t.Errorf("401s counted %v, want 4", n)
	}
}

func TestStoreDown(t *testing.T) {
	e := newAPI(t)
	id := e.create(t, `{"user_id":"alice"}`)
	e.store.down.Store(true)
	var out map[string]any
	resp := e.do(t, "GET", "/api/v1/sessions/"+id, "", &out)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || out["error"] == nil {
		t.Errorf("with the store down: %d, Retry-After %q, %v; want 503 with Retry-After and a JSON error", resp.StatusCode, resp.Header.Get("Retry-After"), out)
	}
	e.store.down.Store(false)
	if resp := e.do(t, "GET", "/api/v1/sessions/"+id, "", nil); resp.StatusCode != 200 {
		t.Errorf("after the outage: %d, want 200: the session must survive", resp.StatusCode)
	}
}
