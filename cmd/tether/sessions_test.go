package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherlb/tether/internal/testsupport"
)

const testAPIKey = "0123456789abcdef0123456789abcdef-api-key"

// sessionsConfig runs the session gateway on /app/* over a real Redis, and
// the HTTP session API.
func sessionsConfig(listen, admin, api, redis string, target *testsupport.Target) string {
	return fmt.Sprintf(`
admin: {address: %q}
keys: {file: tether-keys.json}
log: {level: warn, access: off}
sessions:
  store: redis://%s
  insecure_dev_cookies: true
  api: {address: %q, api_key_file: api.key}
listeners:
  - name: web
    address: %q
    default_target_group: app
    rules:
      - path: /app/*
        target_group: app
        authorizer: {type: session, login_url: /login}
target_groups:
  - name: app
    targets:
      - {id: %s, address: %q}
`, admin, redis, api, listen, target.ID, target.Addr)
}

func apiCall(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func gatewayGet(t *testing.T, url, sid string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if sid != "" {
		req.Header.Set("Cookie", "sid="+sid)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestServeSessions(t *testing.T) {
	redis := testsupport.StartRedis(t)
	dir := t.TempDir()
	listen, admin, api := freeAddr(t), freeAddr(t), freeAddr(t)
	target := testsupport.NewTarget(t, "t1")
	if err := os.WriteFile(filepath.Join(dir, "api.key"), []byte(testAPIKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, dir, "tether.yaml", sessionsConfig(listen, admin, api, redis.Addr, target))
	s := startServe(t, file, listen, admin)

	code, created := apiCall(t, "POST", "http://"+api+"/api/v1/sessions", `{"user_id":"alice","data":{"cart":["apple"]}}`)
	id, _ := created["id"].(string)
	if code != 201 || id == "" {
		t.Fatalf("creating a session through the API: %d %v", code, created)
	}
	t.Run("the gateway lets the session through and names the user", func(t *testing.T) {
		if code := gatewayGet(t, "http://"+listen+"/app/orders", id); code != 200 {
			t.Fatalf("status %d, want 200", code)
		}
		if u := target.LastRequest().Header.Get("X-Tether-User"); u != "alice" {
			t.Errorf("target saw X-Tether-User %q, want alice", u)
		}
		if code := gatewayGet(t, "http://"+listen+"/app/orders", ""); code != 401 {
			t.Errorf("without a session: %d, want 401", code)
		}
	})
	t.Run("a Redis outage is a 503, not a logout, and passes", func(t *testing.T) {
		// A frozen server (a hung host, a partition) keeps its data, so the
		// session is there again when it comes back.
		redis.Pause()
		if code := gatewayGet(t, "http://"+listen+"/app/orders", id); code != 503 {
			t.Errorf("gateway with Redis down: %d, want 503", code)
		}
		if code, _ := apiCall(t, "GET", "http://"+api+"/api/v1/sessions/"+id, ""); code != 503 {
			t.Errorf("API with Redis down: %d, want 503", code)
		}
		redis.Resume()
		testsupport.WaitFor(t, "the gateway to reach Redis again", func() bool {
			return gatewayGet(t, "http://"+listen+"/app/orders", id) == 200
		})
	})
	t.Run("metrics", func(t *testing.T) {
		_, body := httpGet(t, "http://"+admin+"/metrics")
		for _, m := range []string{`tether_session_events_total{event="created",reason=""} 1`, `tether_authorizer_decisions_total{listener="web",result="allowed",type="session"}`, `tether_session_api_requests_total`} {
			if !strings.Contains(body, m) {
				t.Errorf("/metrics lacks %s", m)
			}
		}
	})
	if code := s.stop(t); code != 0 {
		t.Errorf("exit code %d; stderr:\n%s", code, s.stderr)
	}
	if strings.Contains(s.stderr.String(), id) {
		t.Error("the log contains a session ID")
	}
}

func TestServeRefusesReadableAPIKey(t *testing.T) {
	dir := t.TempDir()
	listen, admin, api := freeAddr(t), freeAddr(t), freeAddr(t)
	target := testsupport.NewTarget(t, "t1")
	if err := os.WriteFile(filepath.Join(dir, "api.key"), []byte(testAPIKey), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(sessionsConfig(listen, admin, api, "127.0.0.1:1", target), "redis://127.0.0.1:1", "memory", 1)
	file := writeFile(t, dir, "tether.yaml", cfg)
	code, _, stderr := runCLI(t, "serve", "-c", file)
	if code != 1 || !containsAll(stderr, []string{"api_key_file", "chmod 600"}) {
		t.Errorf("serve with a world-readable API key: exit %d, stderr %q; want 1 and a chmod hint", code, stderr)
	}
}
