package lb_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/config"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// slowTarget answers /slow after release is closed.
func slowTarget(t *testing.T, release chan struct{}) *ts.Target {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", "slow")
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, "done")
	})}
	tg := ts.NewTarget(t, "slow")
	tg.Kill()
	ln := listenOn(t, tg.Addr)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return tg
}

// TestCloseLetsRequestsFinish: on shutdown a request in flight completes.
func TestCloseLetsRequestsFinish(t *testing.T) {
	release := make(chan struct{})
	tg := slowTarget(t, release)
	l := ts.StartLB(t, groupYAML([]*ts.Target{tg}, ""))
	got := make(chan string, 1)
	go func() {
		resp, err := plainClient().Get(l.URL + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	ts.WaitFor(t, "request in flight", func() bool { return l.Snapshot()[0].Targets[0].InFlight == 1 })
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		closed <- l.Close(ctx)
	}()
	// Close stops accepting at once, then waits for the request.
	ts.WaitFor(t, "new connections refused while Close waits", func() bool {
		resp, err := plainClient().Get(l.URL + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err != nil
	})
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a request was in flight", err)
	default:
	}
	close(release)
	if body := <-got; body != "done" {
		t.Fatalf("in-flight request got %q, want it to finish", body)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestReloadUnderLoad: reloads that replace the listener's server (new
// trusted_proxies on the same address) while clients keep requesting, on
// kept-alive connections and on a new connection per request: no request
// fails, none is reset, and no binding moves.
func TestReloadUnderLoad(t *testing.T) {
	for _, keepAlive := range []bool{true, false} {
		t.Run(fmt.Sprintf("keepalive=%v", keepAlive), func(t *testing.T) { reloadUnderLoad(t, keepAlive) })
	}
}

func reloadUnderLoad(t *testing.T, keepAlive bool) {
	targets := newTargets(t, 3)
	port := freePort(t)
	mk := func(trusted string) string {
		y := groupYAML(targets, "    stickiness: {type: lb_cookie}\n")
		return replaceOnce(y, "address: 127.0.0.1:0, default_target_group: app, trusted_proxies: [10.0.0.0/8]",
			"address: \"127.0.0.1:"+itoa(port)+"\", default_target_group: app, trusted_proxies: ["+trusted+"]")
	}
	l := ts.StartLB(t, mk("10.0.0.0/8"))
	waitHealthy(t, l, 3)
	var failures, moves atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ts.Client(t)
			c.Transport = &http.Transport{DisableKeepAlives: !keepAlive}
			first := ""
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(l.URL + "/")
				if err != nil {
					if failures.Add(1) == 1 {
						t.Logf("first failure: %v", err)
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				id := resp.Header.Get("X-Tether-Target")
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
				if first == "" {
					first = id
				} else if id != first {
					moves.Add(1)
				}
			}
		}()
	}
	for i, trusted := range []string{"127.0.0.1", "10.0.0.0/8", "192.0.2.0/24", "127.0.0.1", "10.0.0.0/8"} {
		time.Sleep(30 * time.Millisecond)
		cfg, err := config.Parse([]byte(mk(trusted)), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Reload(cfg, l.Ring); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	time.Sleep(30 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failures.Load() != 0 || moves.Load() != 0 {
		t.Errorf("during reloads: %d failed requests, %d moved bindings; want 0 and 0", failures.Load(), moves.Load())
	}
}

// TestFailoverUnderConcurrentLoad: many clients, their target dies while
// all of them are requesting: no idempotent request fails, and each client
// bound to the dead target moves exactly once.
func TestFailoverUnderConcurrentLoad(t *testing.T) {
	targets := newTargets(t, 3)
	l := ts.StartLB(t, groupYAML(targets, "    stickiness: {type: lb_cookie}\n"))
	waitHealthy(t, l, 3)
	const clients = 12
	type result struct {
		failures int
		path     []string
	}
	results := make([]result, clients)
	var warmedUp sync.WaitGroup // each client has made 5 requests
	warmedUp.Add(clients)
	killed := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := ts.Client(t)
			afterKill := 0
			for n := 0; n < 500 && afterKill < 10; n++ {
				if n == 5 {
					warmedUp.Done()
				}
				select {
				case <-killed:
					afterKill++
				default:
				}
				resp, err := c.Get(l.URL + "/")
				if err != nil || resp.StatusCode != 200 {
					results[i].failures++
					if err == nil {
						resp.Body.Close()
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				id := resp.Header.Get("X-Tether-Target")
				if p := results[i].path; len(p) == 0 || p[len(p)-1] != id {
					results[i].path = append(results[i].path, id)
				}
			}
		}(i)
	}
	warmedUp.Wait()
	targets[0].Kill()
	close(killed)
	wg.Wait()
	for i, r := range results {
		if r.failures != 0 {
			t.Errorf("client %d: %d failed requests", i, r.failures)
		}
		switch {
		case len(r.path) == 1 && r.path[0] != "t1":
		case len(r.path) == 2 && r.path[0] == "t1" && r.path[1] != "t1":
		default:
			t.Errorf("client %d went %v; want to stay, or move once off the dead t1", i, r.path)
		}
	}
}

func replaceOnce(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("replaceOnce: " + old + " not found")
	}
	return strings.Replace(s, old, new, 1)
}

// TestShutdownSendsWebSocketClose: on shutdown a WebSocket client gets a
// close frame with status 1001 (going away), then the connection closes.
func TestShutdownSendsWebSocketClose(t *testing.T) {
	targets := newTargets(t, 1)
	l := ts.StartLB(t, groupYAML(targets, ""))
	c, br, _ := dialWebSocket(t, l.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	frame := make([]byte, 4)
	if _, err := io.ReadFull(br, frame); err != nil {
		t.Fatalf("reading the close frame: %v", err)
	}
	if frame[0] != 0x88 || frame[1] != 2 || int(frame[2])<<8|int(frame[3]) != 1001 {
		t.Errorf("got % x, want a close frame with status 1001", frame)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the close frame: %v, want EOF", err)
	}
}

// TestCloseSaysWhenItCuts: a request still in flight when Close's context
// ends is cut, and Close says so (serve logs "shutdown cut requests
// short"), on the front's path (a GET) and on Go's server's (a POST with
// a body).
func TestCloseSaysWhenItCuts(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			tg := slowTarget(t, release)
			l := ts.StartLB(t, groupYAML([]*ts.Target{tg}, ""))
			go func() {
				req, _ := http.NewRequest(method, l.URL+"/slow", strings.NewReader(strings.Repeat("b", len(method)-3)))
				if resp, err := plainClient().Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
			ts.WaitFor(t, "request in flight", func() bool { return l.Snapshot()[0].Targets[0].InFlight == 1 })
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if err := l.Close(ctx); err == nil {
				t.Error("Close cut a request in flight and returned nil")
			}
		})
	}
}

// TestRemovedTargetKeepsItsRequests: a target removed by a reload leaves
// the group once its drain has ended and its last request has: a request
// still running on it stays in tether_requests_in_flight and the target
// stays listed, then both go.
func TestRemovedTargetKeepsItsRequests(t *testing.T) {
	release := make(chan struct{})
	slow := slowTarget(t, release)
	other := newTargets(t, 1)
	extra := "    deregistration_delay: 2s\n    stickiness: {type: none}\n"
	l := ts.StartLB(t, groupYAML([]*ts.Target{slow}, extra))
	done := make(chan string, 1)
	go func() {
		_, code, _ := get(t, plainClient(), l.URL+"/slow")
		done <- fmt.Sprint(code)
	}()
	ts.WaitFor(t, "request in flight", func() bool { return l.Snapshot()[0].Targets[0].InFlight == 1 })
	cfg, err := config.Parse([]byte(groupYAML(other, extra)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(cfg, l.Ring); err != nil {
		t.Fatal(err)
	}
	l.Clock.Advance(3 * time.Second) // past the drain
	l.Sweep()
	listed := func() bool {
		for _, st := range l.Snapshot()[0].Targets {
			if st.ID == "slow" {
				return true
			}
		}
		return false
	}
	if !listed() {
		t.Error("the removed target left while a request still ran on it")
	}
	if n := ts.Metric(t, l.Registry(), "tether_requests_in_flight", map[string]string{"target": "slow"}); n != 1 {
		t.Errorf("tether_requests_in_flight{target=slow} = %v while its request runs; want 1", n)
	}
	close(release)
	if code := <-done; code != "200" {
		t.Fatalf("the request on the removed target got %s, want 200", code)
	}
	ts.WaitFor(t, "the removed target gone after its last request", func() bool {
		l.Sweep()
		return !listed()
	})
}
