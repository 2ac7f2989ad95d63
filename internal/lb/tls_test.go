package lb_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/config"
	ts "github.com/tetherlb/tether/internal/testsupport"
	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/memstore"
)

// httpsYAML is a config with one https listener over targets; tlsBlock is
// the listener's tls mapping.
func httpsYAML(targets []*ts.Target, tlsBlock string) string {
	y := groupYAML(targets, "    stickiness: {type: lb_cookie}\n")
	return strings.Replace(y, "address: 127.0.0.1:0, default_target_group: app,",
		"address: 127.0.0.1:0, protocol: https, tls: "+tlsBlock+", default_target_group: app,", 1)
}

func tlsClient(serverName string, h2 bool, maxVersion uint16) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, ServerName: serverName, MaxVersion: maxVersion},
		ForceAttemptHTTP2: h2,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestTLSOffloadSNIAndHTTP2(t *testing.T) {
	targets := newTargets(t, 1)
	defCert, defKey := ts.TLSFilesFor(t, "default.example")
	aCert, aKey := ts.TLSFilesFor(t, "a.example", "*.a.example")
	l := ts.StartLB(t, httpsYAML(targets, fmt.Sprintf(
		"{cert_file: %q, key_file: %q, certificates: [{cert_file: %q, key_file: %q}], hsts: {max_age: 8760h, include_subdomains: true}}",
		defCert, defKey, aCert, aKey)))
	url := "https://" + l.Addr("web").String() + "/"
	tests := []struct {
		sni, wantCN string
	}{
		{"a.example", "a.example"},
		{"x.a.example", "a.example"},
		{"other.example", "default.example"},
	}
	for _, tc := range tests {
		t.Run(tc.sni, func(t *testing.T) {
			resp, err := tlsClient(tc.sni, true, 0).Get(url)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != tc.wantCN {
				t.Errorf("SNI %s got certificate %s, want %s", tc.sni, cn, tc.wantCN)
			}
			if resp.ProtoMajor != 2 {
				t.Errorf("protocol %s, want HTTP/2 by ALPN", resp.Proto)
			}
			if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
				t.Errorf("HSTS %q", got)
			}
			if !strings.Contains(resp.Header.Get("Set-Cookie"), "Secure") {
				t.Errorf("sticky cookie over TLS lacks Secure: %q", resp.Header.Get("Set-Cookie"))
			}
		})
	}
	// HTTP/1.1 clients are served too.
	resp, err := tlsClient("a.example", false, 0).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 1 || resp.StatusCode != 200 {
		t.Errorf("HTTP/1.1 over TLS: %s %d", resp.Proto, resp.StatusCode)
	}
}

func TestTLSMinVersion(t *testing.T) {
	targets := newTargets(t, 1)
	cert, key := ts.TLSFiles(t)
	l := ts.StartLB(t, httpsYAML(targets, fmt.Sprintf("{cert_file: %q, key_file: %q, min_version: \"1.3\"}", cert, key)))
	url := "https://" + l.Addr("web").String() + "/"
	if _, err := tlsClient("localhost", false, tls.VersionTLS12).Get(url); err == nil {
		t.Error("a TLS 1.2 client was accepted with min_version 1.3")
	}
	resp, err := tlsClient("localhost", false, 0).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS.Version != tls.VersionTLS13 {
		t.Errorf("version %x, want TLS 1.3", resp.TLS.Version)
	}
}

// TestCertificateFilesReloaded: replacing the certificate files on disk
// takes effect without a reload.
func TestCertificateFilesReloaded(t *testing.T) {
	targets := newTargets(t, 1)
	cert, key := ts.TLSFilesFor(t, "old.example")
	l := ts.StartLB(t, httpsYAML(targets, fmt.Sprintf("{cert_file: %q, key_file: %q}", cert, key)))
	url := "https://" + l.Addr("web").String() + "/"
	cn := func() string {
		c := tlsClient("old.example", false, 0)
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	if got := cn(); got != "old.example" {
		t.Fatalf("before: %s", got)
	}
	newCert, newKey := ts.TLSFilesFor(t, "new.example")
	for _, f := range [][2]string{{newCert, cert}, {newKey, key}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The watcher runs with the maintenance sweep, driven by the fake clock.
	ts.WaitFor(t, "the renewed certificate", func() bool {
		l.Clock.Advance(5 * time.Second)
		return cn() == "new.example"
	})
}

// TestHSTSOnRefusals: an https listener's Strict-Transport-Security header
// is on its own answers too: an authorizer's refusal and its redirect to
// the login page, not only the targets' responses.
func TestHSTSOnRefusals(t *testing.T) {
	targets := newTargets(t, 1)
	cert, key := ts.TLSFiles(t)
	y := httpsYAML(targets, fmt.Sprintf("{cert_file: %q, key_file: %q, hsts: {max_age: 24h}}", cert, key))
	y = strings.Replace(y, "trusted_proxies: [10.0.0.0/8]}",
		"trusted_proxies: [10.0.0.0/8], rules: [{path: /private/*, target_group: app, authorizer: {type: session, login_url: /login}}]}", 1)
	ms := memstore.New(memstore.Options{})
	t.Cleanup(func() { ms.Close() })
	keys, _ := session.StaticKey([]byte(strings.Repeat("h", 32)))
	m, err := session.New(session.Config{}, session.Options{Store: ms, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	l := ts.StartLB(t, y+"sessions: {store: memory}\n", ts.WithSessions(m))
	base := "https://" + l.Addr("web").String()
	c := tlsClient("localhost", false, 0)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, tc := range []struct {
		what, accept string
		code         int
	}{
		{"an API client without a session", "application/json", http.StatusUnauthorized},
		{"a browser without a session", "text/html", http.StatusSeeOther},
	} {
		req, _ := http.NewRequest("GET", base+"/private/x", nil)
		req.Header.Set("Accept", tc.accept)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code || resp.Header.Get("Strict-Transport-Security") != "max-age=86400" {
			t.Errorf("%s: %d, Strict-Transport-Security %q; want %d with max-age=86400",
				tc.what, resp.StatusCode, resp.Header.Values("Strict-Transport-Security"), tc.code)
		}
	}
	resp, err := c.Get(base + "/public")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Values("Strict-Transport-Security"); len(got) != 1 || got[0] != "max-age=86400" {
		t.Errorf("a proxied response: Strict-Transport-Security %q, want it once", got)
	}
	// OPTIONS * is the listener's own answer, on HTTP/1.1 and HTTP/2.
	for _, h2 := range []bool{false, true} {
		host := l.Addr("web").String()
		req := &http.Request{Method: "OPTIONS", URL: &url.URL{Scheme: "https", Host: host, Opaque: "*"}, Host: host, Header: http.Header{}}
		resp, err := tlsClient("localhost", h2, 0).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Strict-Transport-Security") != "max-age=86400" {
			t.Errorf("OPTIONS * over %s: %d, Strict-Transport-Security %q; want 200 with max-age=86400",
				resp.Proto, resp.StatusCode, resp.Header.Values("Strict-Transport-Security"))
		}
	}
}

// TestHSTSOnRemovedListener: a connection a reload leaves behind on an
// https listener it removed gets its 503 with the listener's
// Strict-Transport-Security header, as every other answer of that
// listener has it.
func TestHSTSOnRemovedListener(t *testing.T) {
	targets := newTargets(t, 1)
	cert, key := ts.TLSFiles(t)
	y := httpsYAML(targets, fmt.Sprintf("{cert_file: %q, key_file: %q, hsts: {max_age: 24h}}", cert, key))
	l := ts.StartLB(t, y)
	conn, err := tls.Dial("tcp", l.Addr("web").String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The same config with the https listener renamed: "web" leaves it.
	cfg, err := config.Parse([]byte(strings.Replace(y, "name: web,", "name: web2,", 1)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(cfg, l.Ring); err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Strict-Transport-Security") != "max-age=86400" {
		t.Errorf("a removed listener's straggler got %d, Strict-Transport-Security %q; want 503 with max-age=86400",
			resp.StatusCode, resp.Header.Values("Strict-Transport-Security"))
	}
}

// An HTTP/2 upload its target answers without reading: the listener
// relays the answer and goes on serving (a read deadline set on the
// finished stream, for body_timeout, crashed the process).
func TestHTTP2UploadAnsweredUnread(t *testing.T) {
	targets := newTargets(t, 1)
	cert, key := ts.TLSFiles(t)
	l := ts.StartLB(t, httpsYAML(targets, fmt.Sprintf("{cert_file: %q, key_file: %q}", cert, key)))
	c := tlsClient("localhost", true, 0)
	base := "https://" + l.Addr("web").String()
	for range 3 {
		resp, err := c.Post(base+"/", "application/octet-stream", strings.NewReader(strings.Repeat("u", 10<<20)))
		if err == nil {
			resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Fatalf("the client spoke %s, want HTTP/2", resp.Proto)
			}
		}
	}
	resp, err := c.Get(base + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the uploads: %v, %v; want 200", resp, err)
	}
	resp.Body.Close()
}
