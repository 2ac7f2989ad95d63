package edge_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/edge"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// An edge with a tls block serves HTTPS with HTTP/2, tells the origin
// the viewer used https, and picks up a renewed certificate from disk
// without a restart.
func TestEdgeServesHTTPS(t *testing.T) {
	var proto atomic.Value
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(r.Header.Get("X-Forwarded-Proto"))
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "hello over tls")
	}))
	defer origin.Close()
	certFile, keyFile := ts.TLSFiles(t)
	addr := ts.DeadAddress(t)
	y := `admin: {address: "off"}
listeners: [{name: web, address: 127.0.0.1:0, default_target_group: app}]
target_groups: [{name: app, targets: [{id: a, address: 127.0.0.1:1}]}]
edges:
  - name: cdn
    address: ` + addr + `
    origin: {url: ` + origin.URL + `}
    tls: {cert_file: ` + certFile + `, key_file: ` + keyFile + `}
    behaviors:
      - path: "*"
        cache: {default_ttl: 1h}
`
	cfg, err := config.Parse([]byte(y), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	logs := &ts.SyncBuffer{}
	srv, err := edge.Start(cfg, edge.StartOptions{Addr: func(string) net.Addr { return nil }, Registerer: prometheus.NewRegistry(),
		Clock: clock.Real{}, Logger: slog.New(slog.NewTextHandler(logs, nil)), CertCheck: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())

	client := func(certFile string) *http.Client {
		pem, err := os.ReadFile(certFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	}
	resp, err := client(certFile).Get("https://" + addr + "/page")
	if err != nil {
		t.Fatalf("GET over TLS: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello over tls" || resp.Proto != "HTTP/2.0" {
		t.Fatalf("GET over TLS: %d %s %q", resp.StatusCode, resp.Proto, body)
	}
	if got := proto.Load(); got != "https" {
		t.Errorf("the origin got X-Forwarded-Proto %q, want https", got)
	}
	// A GET with a body of unknown length: over HTTP/2, DATA frames and no
	// content-length. Refused as over HTTP/1.1.
	req, _ := http.NewRequest("GET", "https://"+addr+"/page", io.NopCloser(strings.NewReader("a body")))
	if resp, err := client(certFile).Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("Cache-Status"), "detail=body") || resp.ProtoMajor != 2 {
			t.Errorf("an HTTP/2 GET with a body: %d over %s, Cache-Status %q; want 403, detail=body", resp.StatusCode, resp.Proto, resp.Header.Get("Cache-Status"))
		}
	}
	if resp, err := http.Get("http://" + addr + "/page"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the HTTPS edge: %d, want 400", resp.StatusCode)
		}
	}

	// Renew the certificate in place: new connections get the new one.
	newCert, newKey := ts.TLSFilesFor(t, "localhost", "cdn.example.com")
	for src, dst := range map[string]string{newCert: certFile, newKey: keyFile} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	renewed := client(certFile)
	ts.WaitFor(t, "the edge to serve the renewed certificate", func() bool {
		renewed.CloseIdleConnections()
		resp, err := renewed.Get("https://" + addr + "/page")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if !strings.Contains(logs.String(), "certificates reloaded from disk") {
		t.Errorf("the reload is not logged:\n%s", logs.String())
	}
}

// TestEdgeH2MalformedRequests: what Go's HTTP/2 server lets through and
// its HTTP/1.1 server refuses gets 400 detail=malformed from an HTTPS
// edge, not a 502 blamed on the origin, and never reaches the origin.
func TestEdgeH2MalformedRequests(t *testing.T) {
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "ok")
	}))
	defer origin.Close()
	certFile, keyFile := ts.TLSFiles(t)
	addr := ts.DeadAddress(t)
	startEdges(t, edgesYAML(`  - name: cdn
    address: `+addr+`
    origin: {url: `+origin.URL+`}
    tls: {cert_file: `+certFile+`, key_file: `+keyFile+`}
    behaviors:
      - path: "*"
        allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]
        origin_request: {headers: [Host]}
`), edge.StartOptions{})
	req := func(method, authority, path string, extra ...string) []string {
		return append([]string{":method", method, ":scheme", "https", ":authority", authority, ":path", path}, extra...)
	}
	c := ts.DialH2(t, addr)
	if got := c.Request(req("GET", "app.example", "/x"), nil); got != "200" || hits.Load() != 1 {
		t.Fatalf("a good GET: %s, origin asked %d times", got, hits.Load())
	}
	for _, tc := range []struct {
		name   string
		fields []string
	}{
		{"an authority with a space", req("GET", "a b", "/x")},
		{"a method with a space", req("G T", "app.example", "/x")},
		{"a path with a space", req("GET", "app.example", "/x?y z")},
		{"a content-length the stream's end contradicts", req("POST", "app.example", "/up", "content-length", "10")},
	} {
		if got := c.Request(tc.fields, nil); got != "400" {
			t.Errorf("%s: %s, want 400", tc.name, got)
		}
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the origin was asked %d times, want once (the good GET)", n)
	}
}

// TestOriginErrorLogHasNoQuery: the warning for an origin that cannot be
// reached names the path, never the query: net/http's client puts the
// whole URL in its errors, and a query may carry a token.
func TestOriginErrorLogHasNoQuery(t *testing.T) {
	addr := ts.DeadAddress(t)
	logs := &ts.SyncBuffer{}
	startEdges(t, edgesYAML(`  - name: cdn
    address: `+addr+`
    origin: {url: "http://`+ts.DeadAddress(t)+`"}
    behaviors:
      - path: "*"
        cache: {query: all}
`), edge.StartOptions{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	resp, err := http.Get("http://" + addr + "/x?token=SECRET-Q-789&password=hunter2")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("dead origin: %d, want 502", resp.StatusCode)
	}
	out := logs.String()
	if !strings.Contains(out, "origin unreachable") || !strings.Contains(out, `"path":"/x"`) {
		t.Fatalf("no warning with the path:\n%s", out)
	}
	if strings.Contains(out, "SECRET-Q-789") || strings.Contains(out, "hunter2") {
		t.Errorf("the log holds the query:\n%s", out)
	}
}
