package lb_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/config"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// namedTLSTarget is an HTTPS target with a self-signed certificate for name.
func namedTLSTarget(t *testing.T, id, name string) *ts.Target {
	cf, kf := ts.TLSFilesFor(t, name)
	cert, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, id)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &ts.Target{ID: id, Addr: srv.Listener.Addr().String()}
}

func passthroughYAML(a, b *ts.Target, bRule string) string {
	return fmt.Sprintf(`admin: {address: "off"}
listeners:
  - name: tls
    address: 127.0.0.1:0
    protocol: tcp
    rules:
      - {sni: a.example, target_group: a}
      - {sni: %q, target_group: b}
target_groups:
  - {name: a, protocol: tcp, stickiness: {type: source_ip}, health_check: {interval: 1s, timeout: 500ms}, targets: [{id: a1, address: %q}]}
  - {name: b, protocol: tcp, proxy_protocol: false, targets: [{id: b1, address: %q}]}
`, bRule, a.Addr, b.Addr)
}

// fetchThrough opens a TLS connection with sni through tether and returns
// the certificate name the target presented and the body it answered.
func fetchThrough(t *testing.T, addr, sni string) (cn, body string, err error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, ServerName: sni},
		DisableKeepAlives: true,
	}}
	req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
	resp, err := c.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.TLS.PeerCertificates[0].Subject.CommonName, string(b), nil
}

func TestTLSPassthrough(t *testing.T) {
	a := namedTLSTarget(t, "a1", "a.example")
	b := namedTLSTarget(t, "b1", "b.example")
	l := ts.StartLB(t, passthroughYAML(a, b, "*.b.example"))
	addr := l.Addr("tls")
	if addr == nil {
		t.Fatal("tcp listener has no address")
	}
	tests := []struct{ sni, cn, body string }{
		{"a.example", "a.example", "a1"},
		{"www.b.example", "b.example", "b1"},
	}
	for _, tc := range tests {
		cn, body, err := fetchThrough(t, addr.String(), tc.sni)
		if err != nil {
			t.Fatalf("SNI %s: %v", tc.sni, err)
		}
		if cn != tc.cn || body != tc.body {
			t.Errorf("SNI %s: certificate %s, body %q; want the target's own %s and %q", tc.sni, cn, body, tc.cn, tc.body)
		}
	}
	if _, _, err := fetchThrough(t, addr.String(), "unknown.example"); err == nil {
		t.Error("an unknown SNI without a default group was served")
	}
	// A reload changes routing and keeps the socket.
	cfg, err := config.Parse([]byte(passthroughYAML(a, b, "c.example")), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(cfg, l.Ring); err != nil {
		t.Fatal(err)
	}
	if got := l.Addr("tls"); got == nil || got.String() != addr.String() {
		t.Fatalf("tcp listener moved from %v to %v on reload", addr, got)
	}
	if _, body, err := fetchThrough(t, addr.String(), "c.example"); err != nil || body != "b1" {
		t.Errorf("after reload, SNI c.example: %q %v", body, err)
	}
	if _, _, err := fetchThrough(t, addr.String(), "www.b.example"); err == nil {
		t.Error("after reload the removed route still works")
	}
	// The admin view and drain reach tcp groups too.
	if st := l.Snapshot(); len(st) != 2 || st[0].Name != "a" || st[0].Targets[0].ID != "a1" {
		t.Errorf("snapshot %+v", st)
	}
	if _, err := l.Drain("b", "b1"); err != nil {
		t.Errorf("drain of a tcp target: %v", err)
	}
}

func TestPassthroughConfigRules(t *testing.T) {
	bad := `listeners:
  - {name: tls, address: 127.0.0.1:0, protocol: tcp, rules: [{host: a.example, target_group: web}], default_target_group: web}
target_groups:
  - {name: web, stickiness: {type: lb_cookie}, targets: [{id: w, address: "127.0.0.1:1"}]}
  - {name: raw, protocol: tcp, stickiness: {type: lb_cookie}, target_header: X-T, targets: [{id: r, address: "127.0.0.1:2"}]}
`
	_, err := config.Parse([]byte(bad), ".")
	for _, want := range []string{
		"a tcp listener routes by sni only",
		`"web" has protocol http; a tcp listener relays connections to protocol: tcp groups`,
		`stickiness.type: "lb_cookie" cannot work at L4`,
		"target_header: cannot be set on a tcp group",
	} {
		if err == nil || !containsLine(config.Problems(err), want) {
			t.Errorf("no problem mentions %q; got %v", want, config.Problems(err))
		}
	}
}

func containsLine(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// TestListenerSwitchesToPassthrough: a reload that turns an http listener
// into a tcp one on the same address retires the HTTP server; the socket
// now relays TLS.
func TestListenerSwitchesToPassthrough(t *testing.T) {
	plain := ts.NewTarget(t, "plain")
	secure := namedTLSTarget(t, "s1", "s.example")
	port := freePort(t)
	l := ts.StartLB(t, fixedPortYAML(t, port, "10.0.0.0/8", plain))
	if id, code, _ := get(t, plainClient(), l.URL+"/"); code != 200 || id != "plain" {
		t.Fatalf("before: %s %d", id, code)
	}
	y := fmt.Sprintf(`admin: {address: "off"}
listeners:
  - {name: web, address: "127.0.0.1:%d", protocol: tcp, default_target_group: s}
target_groups:
  - {name: s, protocol: tcp, targets: [{id: s1, address: %q}]}
`, port, secure.Addr)
	cfg, err := config.Parse([]byte(y), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(cfg, l.Ring); err != nil {
		t.Fatal(err)
	}
	ts.WaitFor(t, "TLS relayed on the old HTTP port", func() bool {
		_, body, err := fetchThrough(t, fmt.Sprintf("127.0.0.1:%d", port), "s.example")
		return err == nil && body == "s1"
	})
	if resp, err := plainClient().Get(l.URL + "/"); err == nil {
		resp.Body.Close()
		t.Errorf("plain HTTP still answered %d after the listener became tcp", resp.StatusCode)
	}
}

// TestPassthroughReloadKeepsState: a reload keeps the health and the drain
// of tcp targets that stay.
func TestPassthroughReloadKeepsState(t *testing.T) {
	a := namedTLSTarget(t, "a1", "a.example")
	b := namedTLSTarget(t, "b1", "b.example")
	dead := ts.DeadAddress(t)
	y := fmt.Sprintf(`admin: {address: "off"}
listeners:
  - {name: tls, address: 127.0.0.1:0, protocol: tcp, default_target_group: g}
target_groups:
  - {name: g, protocol: tcp, deregistration_delay: 1h, health_check: {interval: 1s, timeout: 500ms},
     targets: [{id: a1, address: %q}, {id: b1, address: %q}, {id: down, address: %q}]}
`, a.Addr, b.Addr, dead)
	l := ts.StartLB(t, y)
	state := func(id string) string {
		for _, tg := range l.Snapshot()[0].Targets {
			if tg.ID == id {
				return string(tg.State)
			}
		}
		return "missing"
	}
	ts.WaitFor(t, "the dead target unhealthy", func() bool { return state("down") == "unhealthy" })
	if _, err := l.Drain("g", "b1"); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(y), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(cfg, l.Ring); err != nil {
		t.Fatal(err)
	}
	if got := state("down"); got != "unhealthy" {
		t.Errorf("after reload the dead target is %s, want still unhealthy", got)
	}
	if got := state("b1"); got != "draining" {
		t.Errorf("after reload the drained target is %s, want still draining", got)
	}
}
