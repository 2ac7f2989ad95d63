package l4_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/l4"
)

// threeTargets starts targets t1..t3, all with a certificate for
// s.example.com.
func threeTargets(t *testing.T) []*tlsTarget {
	var out []*tlsTarget
	for i := 1; i <= 3; i++ {
		out = append(out, newTLSTarget(t, fmt.Sprintf("t%d", i), "s.example.com"))
	}
	return out
}

// TestSourceAffinity checks that a client address keeps its target and
// that different addresses spread over the targets. Clients bind to
// 127.0.0.2 and up, which Linux routes over loopback.
func TestSourceAffinity(t *testing.T) {
	targets := threeTargets(t)
	tests := []struct {
		name string
		cfg  l4.GroupConfig
	}{
		{"source_ip stickiness", l4.GroupConfig{Stickiness: l4.StickinessConfig{Type: l4.StickinessSourceIP, Duration: time.Hour}, BalanceFactor: 1.25}},
		{"consistent_hash", l4.GroupConfig{Algorithm: "consistent_hash"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Name, cfg.Targets = "g", targetConfigs(targets...)
			g := newGroup(t, cfg, nil)
			addr, _ := startListener(t, nil, g, l4.ListenerOptions{})

			local := client{lbAddr: addr, from: "127.0.0.1"}
			first := local.mustGet(t, "s.example.com")
			for range 19 {
				if got := local.mustGet(t, "s.example.com"); got != first {
					t.Fatalf("127.0.0.1 went to %s after %s", got, first)
				}
			}
			seen := map[string]int{}
			for i := 2; i < 32; i++ {
				c := client{lbAddr: addr, from: fmt.Sprintf("127.0.0.%d", i)}
				got := c.mustGet(t, "s.example.com")
				if again := c.mustGet(t, "s.example.com"); again != got {
					t.Errorf("%s went to %s, then %s", c.from, got, again)
				}
				seen[got]++
			}
			if len(seen) < 3 {
				t.Errorf("30 client addresses went to %v; want all 3 targets used", seen)
			}
			var total uint64
			for _, s := range g.Snapshot() {
				total += s.Total
			}
			if total != 80 {
				t.Errorf("snapshot counts %d connections, want 80", total)
			}
		})
	}
}

// TestActiveHealthChecks marks a target whose listener closed unhealthy
// after UnhealthyThreshold failed TCP connects, timed by a fake clock, and
// sends it nothing more.
func TestActiveHealthChecks(t *testing.T) {
	live := newTLSTarget(t, "live", "s.example.com")
	dying := newTLSTarget(t, "dying", "s.example.com")
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	g := newGroup(t, l4.GroupConfig{
		Name:    "g",
		Targets: targetConfigs(live, dying),
		Health: l4.HealthConfig{Enabled: true, Interval: 10 * time.Second, Timeout: time.Second,
			HealthyThreshold: 1, UnhealthyThreshold: 2},
	}, clk)
	m := newRecorder()
	addr, _ := startListener(t, nil, g, l4.ListenerOptions{Metrics: m})

	waitFor(t, "the first checks", func() bool {
		return status(t, g, "live").State == l4.StateHealthy && status(t, g, "dying").State == l4.StateHealthy
	})
	dying.srv.Close()
	for i := range 2 {
		waitFor(t, "both checkers to wait", func() bool { return clk.Waiters() == 2 })
		if s := status(t, g, "dying").State; s != l4.StateHealthy {
			t.Fatalf("after %d failed checks the target is %s; want healthy until the threshold", i, s)
		}
		clk.Advance(10 * time.Second)
	}
	waitFor(t, "the dead target to be unhealthy", func() bool { return status(t, g, "dying").State == l4.StateUnhealthy })

	c := client{lbAddr: addr}
	for range 10 {
		if got := c.mustGet(t, "s.example.com"); got != "live" {
			t.Fatalf("served by %q, want live", got)
		}
	}
	if s := status(t, g, "dying"); s.Total != 0 {
		t.Errorf("the unhealthy target got %d connections", s.Total)
	}
	if n := m.count("g/dying/" + l4.OutcomeConnectError); n != 0 {
		t.Errorf("the unhealthy target was dialled %d times", n)
	}
}

// TestConnectFailureRetried sends a client whose first target refuses the
// connection to another target; the refusing target is marked unhealthy.
func TestConnectFailureRetried(t *testing.T) {
	live := newTLSTarget(t, "live", "s.example.com")
	dead := &tlsTarget{id: "dead", addr: deadAddr(t)}
	tests := []struct {
		name    string
		targets []*tlsTarget
		want    string // "" = the client's handshake fails
	}{
		{"another target", []*tlsTarget{dead, live}, "live"},
		{"no other target", []*tlsTarget{dead}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
			g := newGroup(t, l4.GroupConfig{Name: "g", Targets: targetConfigs(tc.targets...),
				Health: l4.HealthConfig{Interval: time.Minute}}, clk)
			m := newRecorder()
			addr, _ := startListener(t, nil, g, l4.ListenerOptions{Metrics: m})
			c := client{lbAddr: addr}
			for range 5 {
				res, err := c.get(t, "s.example.com")
				if tc.want == "" {
					if err == nil {
						t.Fatalf("served by %q; want the connection closed", res.body)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if res.body != tc.want {
					t.Fatalf("served by %q, want %q", res.body, tc.want)
				}
			}
			if s := status(t, g, "dead"); s.State != l4.StateUnhealthy || s.Total != 0 || s.Active != 0 {
				t.Errorf("dead target: %+v; want unhealthy with no connections", s)
			}
			if tc.want != "" {
				// Once unhealthy it is not tried again within the cool-off.
				if n := m.count("g/dead/" + l4.OutcomeConnectError); n != 1 {
					t.Errorf("dead target dialled %d times, want 1 (%s)", n, m)
				}
			} else if n := m.count("g//" + l4.OutcomeNoTarget); n != 5 {
				t.Errorf("no_target counted %d times, want 5 (%s)", n, m)
			}
		})
	}
}

// keptConn is a TLS connection through the proxy that makes several HTTP
// requests.
type keptConn struct {
	conn *tls.Conn
	br   *bufio.Reader
}

func dialKept(t *testing.T, addr string) *keptConn {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "s.example.com", RootCAs: theCA(t).pool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &keptConn{conn: conn, br: bufio.NewReader(conn)}
}

// get makes one request on the connection and returns the target's id.
func (k *keptConn) get(t *testing.T) string {
	t.Helper()
	k.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(k.conn, "GET / HTTP/1.1\r\nHost: s.example.com\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDrain keeps an open connection to a draining target working while
// new connections go elsewhere.
func TestDrain(t *testing.T) {
	targets := threeTargets(t)[:2]
	g := newGroup(t, l4.GroupConfig{Name: "g", Targets: targetConfigs(targets...)}, nil)
	addr, _ := startListener(t, nil, g, l4.ListenerOptions{})

	kept := dialKept(t, addr)
	drained := kept.get(t)
	if err := g.Drain(drained, time.Minute); err != nil {
		t.Fatal(err)
	}
	if s := status(t, g, drained); s.State != l4.StateDraining || s.Active != 1 {
		t.Errorf("drained target: %+v; want draining with 1 connection", s)
	}
	c := client{lbAddr: addr}
	for range 6 {
		if got := c.mustGet(t, "s.example.com"); got == drained {
			t.Fatalf("a new connection went to the draining target %s", got)
		}
	}
	if got := kept.get(t); got != drained {
		t.Errorf("the open connection now reaches %s, want %s", got, drained)
	}
	kept.conn.Close()
	waitFor(t, "the connection to end", func() bool { return status(t, g, drained).Active == 0 })

	if err := g.Undrain(drained); err != nil {
		t.Fatal(err)
	}
	if s := status(t, g, drained).State; s != l4.StateHealthy {
		t.Errorf("after Undrain the target is %s", s)
	}
	if err := g.Drain("nope", 0); !errors.Is(err, l4.ErrUnknownTarget) {
		t.Errorf("Drain of an unknown id: %v, want ErrUnknownTarget", err)
	}
}

// TestDrainKeepsSourceBindings sends a client bound to a draining target
// there until the deregistration delay ends, then elsewhere.
func TestDrainKeepsSourceBindings(t *testing.T) {
	targets := threeTargets(t)
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	g := newGroup(t, l4.GroupConfig{Name: "g", Targets: targetConfigs(targets...), DeregistrationDelay: 5 * time.Minute,
		Stickiness: l4.StickinessConfig{Type: l4.StickinessSourceIP, Duration: time.Hour}}, clk)
	addr, _ := startListener(t, nil, g, l4.ListenerOptions{})
	bound := client{lbAddr: addr, from: "127.0.0.9"}
	home := bound.mustGet(t, "s.example.com")
	if err := g.Drain(home, -1); err != nil { // the group's deregistration delay
		t.Fatal(err)
	}
	if got := bound.mustGet(t, "s.example.com"); got != home {
		t.Errorf("during the delay the bound client went to %s, want %s", got, home)
	}
	for i := 10; i < 20; i++ {
		c := client{lbAddr: addr, from: fmt.Sprintf("127.0.0.%d", i)}
		if got := c.mustGet(t, "s.example.com"); got == home {
			t.Fatalf("new client %s went to the draining target", c.from)
		}
	}
	clk.Advance(5*time.Minute - time.Second)
	if s := status(t, g, home).State; s != l4.StateDraining {
		t.Errorf("a second before the delay ends the target is %s, want draining", s)
	}
	clk.Advance(time.Second)
	if s := status(t, g, home).State; s != l4.StateDrained {
		t.Errorf("after the delay the target is %s, want drained", s)
	}
	moved := bound.mustGet(t, "s.example.com")
	if moved == home {
		t.Fatalf("after the delay the bound client still went to %s", home)
	}
	if got := bound.mustGet(t, "s.example.com"); got != moved {
		t.Errorf("the rebound client went to %s, then %s", moved, got)
	}
}

func TestGroupConfigValidate(t *testing.T) {
	ok := []l4.TargetConfig{{ID: "a", Address: "127.0.0.1:1", Weight: 1}}
	tests := []struct {
		name string
		cfg  l4.GroupConfig
		want []string // substrings of the error; none = valid
	}{
		{"minimal", l4.GroupConfig{Name: "g", Targets: ok}, nil},
		{"everything wrong", l4.GroupConfig{
			Targets:             []l4.TargetConfig{{ID: "a", Address: "nope", Weight: 1000}, {ID: "a", Address: "x:1"}, {}},
			Algorithm:           "fastest",
			BalanceFactor:       0.5,
			Stickiness:          l4.StickinessConfig{Type: "lb_cookie"},
			Health:              l4.HealthConfig{Enabled: true, Interval: time.Second, Timeout: 2 * time.Second},
			DeregistrationDelay: -1,
		}, []string{"name: required", "targets[0].address", "targets[0].weight", "targets[1].id: duplicate",
			"targets[2].id: required", "algorithm", "balance_factor", "stickiness.type", "health_check.timeout",
			"deregistration_delay"}},
		{"no targets", l4.GroupConfig{Name: "g"}, []string{"at least one target"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if _, err := l4.NewGroup(tc.cfg, nil, nil); err == nil {
				t.Error("NewGroup accepted it")
			}
		})
	}
}

// TestReloadDrainsRemovedTarget: a target that leaves the config in a
// reload keeps its bound clients until the deregistration delay ends, takes
// no new ones, and is gone after the next reload.
func TestReloadDrainsRemovedTarget(t *testing.T) {
	targets := threeTargets(t)
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := l4.GroupConfig{Name: "g", Targets: targetConfigs(targets...), DeregistrationDelay: 5 * time.Minute,
		Stickiness: l4.StickinessConfig{Type: l4.StickinessSourceIP, Duration: time.Hour}}
	old := newGroup(t, cfg, clk)
	addr, ln := startListener(t, nil, old, l4.ListenerOptions{})
	bound := client{lbAddr: addr, from: "127.0.0.9"}
	home := bound.mustGet(t, "s.example.com")

	var kept []*tlsTarget
	for _, tg := range targets {
		if tg.id != home {
			kept = append(kept, tg)
		}
	}
	next := cfg
	next.Targets = targetConfigs(kept...)
	g, err := l4.NewGroupFrom(next, old, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	old.Close()
	ln.SetRoutes(nil, g)

	if s := status(t, g, home).State; s != l4.StateDraining {
		t.Fatalf("the removed target is %s, want draining", s)
	}
	if got := bound.mustGet(t, "s.example.com"); got != home {
		t.Errorf("right after the reload the bound client went to %s, want %s (its target drains)", got, home)
	}
	for i := 10; i < 20; i++ {
		c := client{lbAddr: addr, from: fmt.Sprintf("127.0.0.%d", i)}
		if got := c.mustGet(t, "s.example.com"); got == home {
			t.Fatalf("new client %s went to the removed target", c.from)
		}
	}
	if err := g.Undrain(home); !errors.Is(err, l4.ErrUnknownTarget) {
		t.Errorf("Undrain of a removed target = %v, want ErrUnknownTarget", err)
	}
	clk.Advance(5 * time.Minute)
	if moved := bound.mustGet(t, "s.example.com"); moved == home {
		t.Errorf("after the delay the bound client still went to the removed target")
	}
	again, err := l4.NewGroupFrom(next, g, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(again.Close)
	for _, s := range again.Snapshot() {
		if s.ID == home {
			t.Errorf("the drained, removed target is still listed after the next reload: %+v", s)
		}
	}
}
