package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/testsupport"
)

// serveConfig is a config for `tether serve` with one listener and one
// group of targets, no stickiness (so requests go round robin), the key ring
// next to the config file.
func serveConfig(listen, admin string, targets ...*testsupport.Target) string {
	y := fmt.Sprintf(`
admin: {address: %q}
keys: {file: tether-keys.json}
log: {level: warn, access: off}
listeners:
  - {name: web, address: %q, default_target_group: app}
target_groups:
  - name: app
    health_check: {path: /healthz}
    targets:
`, admin, listen)
	for _, tg := range targets {
		y += fmt.Sprintf("      - {id: %s, address: %q}\n", tg.ID, tg.Addr)
	}
	return y
}

// served is a `tether serve` running in the test process.
type served struct {
	listen, admin  string
	stdout, stderr *testsupport.SyncBuffer
	done           chan int // receives run's exit code
	signaled       bool     // stop sent SIGINT
}

// startServe runs `tether serve -c file` in the background and waits until
// its admin API answers, which also means its signal handlers are set.
func startServe(t *testing.T, file, listen, admin string) *served {
	t.Helper()
	s := &served{listen: listen, admin: admin, stdout: &testsupport.SyncBuffer{}, stderr: &testsupport.SyncBuffer{}, done: make(chan int, 1)}
	go func() { s.done <- run([]string{"serve", "-c", file}, s.stdout, s.stderr) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case code := <-s.done:
			t.Fatalf("tether serve exited with %d before its admin API answered; stderr:\n%s", code, s.stderr)
		default:
		}
		if code, _ := httpGet(t, "http://"+admin+"/healthz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			// serve may still be starting, before its SIGINT handler is set:
			// a signal now could kill the test binary, so leave it running.
			t.Fatalf("tether serve: admin API on %s did not answer; stderr:\n%s", admin, s.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop sends SIGINT, as Ctrl-C would, and returns run's exit code. The
// signal goes to the whole test process, which it would kill if serve's
// handler were not set: stop is only called once the admin API answered,
// and it signals at most once.
func (s *served) stop(t *testing.T) int {
	t.Helper()
	if s.signaled {
		return -1
	}
	s.signaled = true
	select {
	case code := <-s.done:
		t.Errorf("tether serve exited with %d before it was stopped; stderr:\n%s", code, s.stderr)
		return code
	default:
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-s.done:
		return code
	case <-time.After(10 * time.Second):
		t.Fatalf("tether serve did not stop within 10s of SIGINT; stderr:\n%s", s.stderr)
		return -1
	}
}

// httpGet returns the status and body of a GET, or 0 when there was no
// response.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// reload asks the admin API to re-read the config and returns the status
// and the decoded JSON answer.
func (s *served) reload(t *testing.T) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post("http://"+s.admin+"/api/v1/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("reload answer is not JSON: %v", err)
	}
	return resp.StatusCode, body
}

// targetIDs returns the ids of the targets of group app, as the admin API
// lists them.
func (s *served) targetIDs(t *testing.T) []string {
	t.Helper()
	code, body := httpGet(t, "http://"+s.admin+"/api/v1/target-groups")
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/target-groups: status %d", code)
	}
	var v struct {
		Groups []struct {
			Name    string `json:"name"`
			Targets []struct {
				ID string `json:"id"`
			} `json:"targets"`
		} `json:"target_groups"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("GET /api/v1/target-groups: %v\n%s", err, body)
	}
	var ids []string
	for _, g := range v.Groups {
		if g.Name == "app" {
			for _, tg := range g.Targets {
				ids = append(ids, tg.ID)
			}
		}
	}
	return ids
}

// answeredBy sends n requests through the load balancer and returns which
// targets answered them.
func (s *served) answeredBy(t *testing.T, n int) map[string]int {
	t.Helper()
	by := map[string]int{}
	for range n {
		code, body := httpGet(t, "http://"+s.listen+"/")
		if code != http.StatusOK {
			t.Fatalf("GET / through the load balancer: status %d, body %q", code, body)
		}
		by[body]++
	}
	return by
}

func TestServe(t *testing.T) {
	dir := t.TempDir()
	listen, admin := freeAddr(t), freeAddr(t)
	t1, t2 := testsupport.NewTarget(t, "t1"), testsupport.NewTarget(t, "t2")
	file := writeFile(t, dir, "tether.yaml", serveConfig(listen, admin, t1))
	keys := filepath.Join(dir, "tether-keys.json")

	s := startServe(t, file, listen, admin)

	t.Run("creates the key ring with mode 0600", func(t *testing.T) {
		assertMode(t, keys, 0o600)
		assertKeys(t, keys, 1)
	})

	t.Run("proxies to the target", func(t *testing.T) {
		if by := s.answeredBy(t, 3); by["t1"] != 3 {
			t.Errorf("answered by %v, want t1 only", by)
		}
	})

	t.Run("reload adds a target", func(t *testing.T) {
		writeFile(t, dir, "tether.yaml", serveConfig(listen, admin, t1, t2))
		if code, body := s.reload(t); code != http.StatusOK {
			t.Fatalf("POST /api/v1/reload: status %d, want 200: %v", code, body)
		}
		if ids := s.targetIDs(t); strings.Join(ids, ",") != "t1,t2" {
			t.Errorf("group app lists targets %q, want t1,t2", ids)
		}
		if by := s.answeredBy(t, 4); by["t1"] == 0 || by["t2"] == 0 {
			t.Errorf("answered by %v, want both t1 and t2", by)
		}
	})

	t.Run("reload refuses a bad config and keeps serving", func(t *testing.T) {
		writeFile(t, dir, "tether.yaml", serveConfig(listen, admin, t1, t2)+"      - {id: t3, address: 127.0.0.1:1, weight: 1000}\n")
		code, body := s.reload(t)
		if code != http.StatusUnprocessableEntity {
			t.Fatalf("POST /api/v1/reload: status %d, want 422: %v", code, body)
		}
		probs, _ := body["problems"].([]any)
		if len(probs) != 1 || !containsAll(fmt.Sprint(probs[0]), []string{"target_groups[0](app).targets[2](t3).weight", "allowed 0..999"}) {
			t.Errorf("problems = %q, want the weight of t3", body["problems"])
		}
		if ids := s.targetIDs(t); strings.Join(ids, ",") != "t1,t2" {
			t.Errorf("group app lists targets %q, want t1,t2 (the running config)", ids)
		}
		if by := s.answeredBy(t, 4); by["t1"] == 0 || by["t2"] == 0 {
			t.Errorf("answered by %v, want both t1 and t2", by)
		}
	})

	t.Run("SIGHUP reloads the file", func(t *testing.T) {
		writeFile(t, dir, "tether.yaml", serveConfig(listen, admin, t2))
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		testsupport.WaitFor(t, "the SIGHUP reload", func() bool {
			return strings.Join(s.targetIDs(t), ",") == "t2,t1" || strings.Join(s.targetIDs(t), ",") == "t2"
		})
		// t1 left the config: it drains; new clients only reach t2.
		if by := s.answeredBy(t, 4); by["t2"] != 4 {
			t.Errorf("after SIGHUP answered by %v, want t2 only", by)
		}
	})

	t.Run("SIGINT stops it with exit code 0", func(t *testing.T) {
		if code := s.stop(t); code != 0 {
			t.Errorf("exit code %d, want 0; stderr:\n%s", code, s.stderr)
		}
		if code, _ := httpGet(t, "http://"+listen+"/"); code != 0 {
			t.Errorf("the listener still answers after shutdown (status %d)", code)
		}
	})
}

func TestServeKeepsExistingKeyRing(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "tether-keys.json")
	if code, _, stderr := runCLI(t, "keys", "generate", "-o", keys); code != 0 {
		t.Fatalf("keys generate: exit code %d; stderr:\n%s", code, stderr)
	}
	before, err := os.ReadFile(keys)
	if err != nil {
		t.Fatal(err)
	}
	listen, admin := freeAddr(t), freeAddr(t)
	file := writeFile(t, dir, "tether.yaml", serveConfig(listen, admin, testsupport.NewTarget(t, "t1")))
	s := startServe(t, file, listen, admin)
	if code := s.stop(t); code != 0 {
		t.Errorf("exit code %d, want 0; stderr:\n%s", code, s.stderr)
	}
	after, err := os.ReadFile(keys)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Error("serve changed an existing key ring file")
	}
}

func TestServeRefusesReadableKeyRing(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "tether-keys.json")
	if code, _, stderr := runCLI(t, "keys", "generate", "-o", keys); code != 0 {
		t.Fatalf("keys generate: exit code %d; stderr:\n%s", code, stderr)
	}
	if err := os.Chmod(keys, 0o644); err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, dir, "tether.yaml", serveConfig(freeAddr(t), freeAddr(t), testsupport.NewTarget(t, "t1")))
	code, _, stderr := runCLI(t, "serve", "-c", file)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !containsAll(stderr, []string{"tether serve:", "mode 0644", "run: chmod 600 " + keys}) {
		t.Errorf("stderr does not tell the user to chmod 600 the key ring:\n%s", stderr)
	}
}
