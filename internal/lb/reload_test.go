package lb_test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/tetherlb/tether/internal/config"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// fixedPortYAML is a config with a listener on a fixed free port, so that a
// reload can change its settings on the same address.
func fixedPortYAML(t *testing.T, port int, trusted string, tg *ts.Target) string {
	return fmt.Sprintf(`admin: {address: "off"}
listeners:
  - {name: web, address: "127.0.0.1:%d", default_target_group: app, trusted_proxies: [%s]}
target_groups:
  - {name: app, target_header: X-Tether-Target, health_check: {path: /healthz}, targets: [{id: %s, address: %q}]}
`, port, trusted, tg.ID, tg.Addr)
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestReloadChangesListenerOnSameAddress: new socket settings on the same
// address take effect without a restart and without refusing connections.
func TestReloadChangesListenerOnSameAddress(t *testing.T) {
	a := ts.NewTarget(t, "a")
	port := freePort(t)
	l := ts.StartLB(t, fixedPortYAML(t, port, "10.0.0.0/8", a))
	c := plainClient()
	get(t, c, l.URL+"/", "X-Forwarded-For", "203.0.113.5")
	if r := a.LastRequest(); r.Header.Get("X-Forwarded-For") != "127.0.0.1" {
		t.Fatalf("untrusted: X-Forwarded-For %q; request %s %s %v", r.Header.Get("X-Forwarded-For"), r.Method, r.URL, r.Header)
	}
	cfg, err := config.Parse([]byte(fixedPortYAML(t, port, "127.0.0.1", a)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(cfg, l.Ring); err != nil {
		t.Fatalf("reload with new trusted_proxies on the same address: %v", err)
	}
	ts.WaitFor(t, "the new listener to trust 127.0.0.1", func() bool {
		get(t, plainClient(), l.URL+"/", "X-Forwarded-For", "203.0.113.5")
		return a.LastRequest().Header.Get("X-Forwarded-For") == "203.0.113.5, 127.0.0.1"
	})
}

// TestFailedReloadChangesNothing: a reload whose listener cannot bind is
// refused whole: routing, targets and keys stay as they were.
func TestFailedReloadChangesNothing(t *testing.T) {
	a, b := ts.NewTarget(t, "a"), ts.NewTarget(t, "b")
	l := ts.StartLB(t, groupYAML([]*ts.Target{a}, ""))
	busy, err := net.Listen("tcp", "127.0.0.1:0") // another process's port
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	y := groupYAML([]*ts.Target{b}, "") + fmt.Sprintf("  - {name: spare, targets: [{id: x, address: %q}]}\n", b.Addr)
	y = strings.Replace(y, "listeners:\n", fmt.Sprintf("listeners:\n  - {name: second, address: %q, default_target_group: app}\n", busy.Addr().String()), 1)
	cfg, err := config.Parse([]byte(y), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(cfg, l.Ring); err == nil {
		t.Fatal("reload onto a busy port succeeded")
	}
	for i := 0; i < 3; i++ {
		if id, _, _ := get(t, plainClient(), l.URL+"/"); id != "a" {
			t.Fatalf("after a failed reload served by %q, want the old config's a", id)
		}
	}
	if n := ts.Metric(t, l.Registry(), "tether_config_reloads_total", map[string]string{"result": "failure"}); n != 1 {
		t.Errorf("reload failures = %v, want 1", n)
	}
	if len(l.Snapshot()) != 1 {
		t.Errorf("the failed reload's groups are visible: %+v", l.Snapshot())
	}
}

// TestPortHeldByAnotherProcess: SO_REUSEPORT must not let tether share a
// port silently with someone else.
func TestPortHeldByAnotherProcess(t *testing.T) {
	a := ts.NewTarget(t, "a")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	cfg, err := config.Parse([]byte(fixedPortYAML(t, port, "10.0.0.0/8", a)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := ts.StartLB(t, groupYAML([]*ts.Target{a}, ""))
	if err := l.Reload(cfg, l.Ring); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("binding a port held by another socket: %v, want address already in use", err)
	}
}
