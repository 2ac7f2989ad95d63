package demo

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/clock"
)

// startTarget starts a target on a free loopback port. A nil clk keeps the
// real clock.
func startTarget(t *testing.T, id string, clk clock.Clock) *Target {
	t.Helper()
	tg := NewTarget(id, "127.0.0.1:0", "#2a9d8f", nil)
	if clk != nil {
		tg.clock = clk
	}
	if err := tg.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = tg.Close() })
	return tg
}

// newClient returns a client with its own cookie jar and connection pool.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Jar: jar, Transport: tr, Timeout: 5 * time.Second}
}

func get(t *testing.T, c *http.Client, url, cookie string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp, string(body)
}

func whoami(t *testing.T, c *http.Client, tg *Target, cookie string) (whoamiResponse, *http.Response) {
	t.Helper()
	resp, body := get(t, c, "http://"+tg.Address()+"/api/whoami", cookie)
	var w whoamiResponse
	if err := json.Unmarshal([]byte(body), &w); err != nil {
		t.Fatalf("whoami: %v in %q", err, body)
	}
	return w, resp
}

func issuedCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	return nil
}

// waitTimer blocks until some goroutine waits on the fake clock.
func waitTimer(t *testing.T, fc *clock.Fake) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for fc.Waiters() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no goroutine armed a timer")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPage(t *testing.T) {
	tests := []struct {
		name, id, wantID, notWant string
	}{
		{name: "plain id", id: "app-1", wantID: "app-1"},
		{name: "markup in id is escaped", id: "<b>app</b>", wantID: "&lt;b&gt;app&lt;/b&gt;", notWant: "<b>app</b>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := startTarget(t, tt.id, nil)
			tg.SetControlURL("http://127.0.0.1:9900/")
			resp, body := get(t, newClient(t), "http://"+tg.Address()+"/", "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q, want text/html", ct)
			}
			c := issuedCookie(resp)
			if c == nil {
				t.Fatal("no DEMOSESSION cookie issued")
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
				t.Errorf("cookie = %+v, want HttpOnly, SameSite=Lax, Path=/", c)
			}
			for _, want := range []string{"<h1>" + tt.wantID + "</h1>", "#2a9d8f",
				"Visits in this session on this target:</span> <b id=\"visits\">1</b>",
				c.Value[:8], `127.0.0.1:9900"`, "Kill this target", "Revive all"} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if strings.Contains(body, c.Value) {
				t.Error("page shows the whole session id")
			}
			if tt.notWant != "" && strings.Contains(body, tt.notWant) {
				t.Errorf("page contains unescaped %q", tt.notWant)
			}
		})
	}
}

func TestVisitsPerSession(t *testing.T) {
	tg := startTarget(t, "app-1", nil)
	unknown := make([]byte, 16)
	_, _ = rand.Read(unknown)
	tests := []struct {
		name       string
		cookie     string
		wantVisits []int
		wantIssued bool
	}{
		{name: "new session counts from 1", wantVisits: []int{1, 2, 3}, wantIssued: true},
		{name: "unknown session starts at 1", cookie: base64.RawURLEncoding.EncodeToString(unknown), wantVisits: []int{1, 2}},
		{name: "malformed cookie gets a new session", cookie: "not-a-session", wantVisits: []int{1, 2}, wantIssued: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t)
			c.Jar = nil
			cookie, issued := tt.cookie, false
			for i, want := range tt.wantVisits {
				w, resp := whoami(t, c, tg, cookie)
				if nc := issuedCookie(resp); nc != nil {
					issued, cookie = true, nc.Value
				}
				if w.Visits != want || w.Target != "app-1" || w.Session != cookie[:8] || w.Color != "#2a9d8f" {
					t.Errorf("request %d: whoami = %+v, want visits %d, session %q", i, w, want, cookie[:8])
				}
				if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", cc)
				}
			}
			if issued != tt.wantIssued {
				t.Errorf("cookie issued = %v, want %v", issued, tt.wantIssued)
			}
		})
	}
}

func TestPageAndWhoamiShareTheCounter(t *testing.T) {
	tg := startTarget(t, "app-1", nil)
	c := newClient(t)
	get(t, c, "http://"+tg.Address()+"/", "")
	if w, _ := whoami(t, c, tg, ""); w.Visits != 2 {
		t.Errorf("visits after page and whoami = %d, want 2", w.Visits)
	}
}

func TestVisitsMapIsBounded(t *testing.T) {
	v := newVisits(2)
	for _, id := range []string{"a", "b", "c", "c"} {
		v.add(id)
	}
	if len(v.n) != 2 {
		t.Errorf("sessions kept = %d, want 2", len(v.n))
	}
	if v.n["c"] != 2 {
		t.Errorf("visits of c = %d, want 2", v.n["c"])
	}
}

func TestKillAndRevive(t *testing.T) {
	tg := startTarget(t, "app-1", clock.NewFake(time.Unix(0, 0)))
	addr := tg.Address()
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("Address() = %q, want the real port", addr)
	}
	c := newClient(t)
	whoami(t, c, tg, "")
	if w, _ := whoami(t, c, tg, ""); w.Visits != 2 {
		t.Fatalf("visits before kill = %d, want 2", w.Visits)
	}

	// A long-lived stream shows that Kill also closes open connections.
	stream, err := c.Get("http://" + addr + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if _, err := bufio.NewReader(stream.Body).ReadString('\n'); err != nil {
		t.Fatalf("read first event: %v", err)
	}

	if err := tg.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if tg.Alive() {
		t.Error("Alive() = true after Kill")
	}
	if _, err := io.ReadAll(stream.Body); err == nil {
		t.Error("open stream ended cleanly after Kill, want it cut")
	}
	if conn, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		if conn != nil {
			conn.Close()
		}
		t.Fatalf("dial after Kill: err = %v, want connection refused", err)
	}
	if err := tg.Kill(); err != nil {
		t.Errorf("second Kill: %v", err)
	}

	if err := tg.Revive(); err != nil {
		t.Fatalf("Revive: %v", err)
	}
	if got := tg.Address(); got != addr || !tg.Alive() {
		t.Fatalf("after Revive: address %q alive %v, want %q alive", got, tg.Alive(), addr)
	}
	if w, _ := whoami(t, c, tg, ""); w.Visits != 1 {
		t.Errorf("visits after revive = %d, want 1 (memory lost)", w.Visits)
	}
	if err := tg.Revive(); err != nil {
		t.Errorf("Revive of a live target: %v", err)
	}
}

func TestLifecycleErrors(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(*Target)
		op      func(*Target) error
		wantErr error // nil: no error; errAny: any error
	}{
		{name: "start twice", prepare: func(tg *Target) { _ = tg.Start() }, op: (*Target).Start, wantErr: errAny},
		{name: "revive before start starts", op: (*Target).Revive},
		{name: "kill before start", op: (*Target).Kill},
		{name: "start after close", prepare: func(tg *Target) { _ = tg.Close() }, op: (*Target).Start, wantErr: ErrClosed},
		{name: "revive after close", prepare: func(tg *Target) { _ = tg.Close() }, op: (*Target).Revive, wantErr: ErrClosed},
		{name: "close twice", prepare: func(tg *Target) { _ = tg.Close() }, op: (*Target).Close},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := NewTarget("app-1", "127.0.0.1:0", "red", nil)
			t.Cleanup(func() { _ = tg.Close() })
			if tt.prepare != nil {
				tt.prepare(tg)
			}
			err := tt.op(tg)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("err = %v, want nil", err)
			case tt.wantErr == errAny && err == nil:
				t.Error("err = nil, want an error")
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestEndpoints(t *testing.T) {
	tg := startTarget(t, "app-1", nil)
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantBody           string
	}{
		{name: "healthz", method: "GET", path: "/healthz", wantStatus: 200, wantBody: "ok"},
		{name: "unknown path", method: "GET", path: "/nope", wantStatus: 404},
		{name: "post to page", method: "POST", path: "/", wantStatus: 404},
		{name: "slow with bad ms", method: "GET", path: "/slow?ms=soon", wantStatus: 400},
		{name: "slow with negative ms", method: "GET", path: "/slow?ms=-1", wantStatus: 400},
	}
	c := newClient(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, "http://"+tg.Address()+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Errorf("body = %q, want %q", body, tt.wantBody)
			}
		})
	}
}

func TestSlow(t *testing.T) {
	tests := []struct {
		name, query string
		advance     time.Duration
		wantBody    string
	}{
		{name: "explicit delay", query: "?ms=50", advance: 50 * time.Millisecond, wantBody: "app-1 answered after 50 ms\n"},
		{name: "delay is capped", query: "?ms=999999999999", advance: 10 * time.Second, wantBody: "app-1 answered after 10000 ms\n"},
		{name: "default delay", advance: time.Second, wantBody: "app-1 answered after 1000 ms\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := clock.NewFake(time.Unix(0, 0))
			tg := startTarget(t, "app-1", fc)
			done := make(chan string, 1)
			c := newClient(t)
			go func() {
				resp, err := c.Get("http://" + tg.Address() + "/slow" + tt.query)
				if err != nil {
					done <- err.Error()
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				done <- string(b)
			}()
			waitTimer(t, fc)
			fc.Advance(tt.advance)
			if got := <-done; got != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
		})
	}
}

func TestEventsStreamFlushed(t *testing.T) {
	fc := clock.NewFake(time.Unix(0, 0))
	tg := startTarget(t, "app-1", fc)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+tg.Address()+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	br := bufio.NewReader(resp.Body)
	for n, want := range []string{`data: {"target":"app-1","n":1}`, `data: {"target":"app-1","n":2}`} {
		if n > 0 {
			waitTimer(t, fc)
			fc.Advance(time.Second)
		}
		// An event is its lines up to a blank line; unflushed events would
		// block here until the context times out.
		var event []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("event %d: %v", n+1, err)
			}
			if line = strings.TrimRight(line, "\n"); line == "" {
				break
			}
			event = append(event, line)
		}
		if !reflect.DeepEqual(event[len(event)-1:], []string{want}) {
			t.Errorf("event %d = %q, want it to end with %q", n+1, event, want)
		}
	}
}
