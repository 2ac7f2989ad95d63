package testsupport

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// haproxyPaths are where the Debian package haproxy installs the binary;
// /usr/sbin is often missing from a non-root PATH.
var haproxyPaths = []string{"/usr/sbin/haproxy", "/usr/bin/haproxy"}

// HAProxyAddr is the placeholder that StartHAProxy replaces, in the config
// text, with the loopback address HAProxy is to listen on.
const HAProxyAddr = "{{addr}}"

// HAProxy returns the path of the haproxy binary. A missing HAProxy fails
// the test rather than skipping it: scripts/test-deps.sh (run by
// `make test`) installs it.
func HAProxy(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	for _, p := range haproxyPaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("haproxy is not installed: run `make test` (scripts/test-deps.sh installs it)")
	return ""
}

// StartHAProxy runs a real HAProxy (`haproxy -f cfg -db`, in the
// foreground) with the config cfgText, in which every HAProxyAddr
// ("{{addr}}", for a bind line) is replaced by a free loopback address. It
// returns that address once HAProxy accepts connections on it, and stops
// HAProxy when the test ends.
func StartHAProxy(t testing.TB, cfgText string) (addr string) {
	t.Helper()
	bin := HAProxy(t)
	addr = DeadAddress(t) // a free port; HAProxy takes it a moment later
	file := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(cfgText, HAProxyAddr, addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out SyncBuffer
	cmd := exec.Command(bin, "-f", file, "-db")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting haproxy: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("haproxy exited before answering (%v); config:\n%s\noutput:\n%s", err, cfgText, out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy did not answer on %s within 10s; output:\n%s", addr, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
