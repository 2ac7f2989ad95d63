package lb_test

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/lb"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// tlsTarget is an HTTPS target (httptest's certificate: 127.0.0.1 and
// example.com) that answers with the protocol it was spoken to in.
func tlsTarget(t *testing.T, id string, h2 bool) (*ts.Target, string) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
		io.WriteString(w, id)
	}))
	srv.EnableHTTP2 = h2
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return &ts.Target{ID: id, Addr: srv.Listener.Addr().String()}, caFile
}

func bridgeYAML(targets []*ts.Target, upstreamTLS string) string {
	y := groupYAML(targets, "    protocol: https\n    tls: "+upstreamTLS+"\n")
	return strings.Replace(y, "health_check: {path: /healthz,", "health_check: {path: /,", 1)
}

func TestTLSBridging(t *testing.T) {
	a, ca := tlsTarget(t, "a", true)
	tests := []struct {
		name      string
		tls       string
		healthy   bool
		wantProto string
	}{
		{"verified with ca_file, HTTP/2", fmt.Sprintf("{ca_file: %q}", ca), true, "HTTP/2.0"},
		{"verified, HTTP/1.1 when http2 is off", fmt.Sprintf("{ca_file: %q, http2: false}", ca), true, "HTTP/1.1"},
		{"server_name checked", fmt.Sprintf("{ca_file: %q, server_name: example.com}", ca), true, "HTTP/2.0"},
		{"wrong server_name fails", fmt.Sprintf("{ca_file: %q, server_name: wrong.example}", ca), false, ""},
		{"untrusted certificate fails", "{}", false, ""},
		{"insecure_skip_verify accepts", "{insecure_skip_verify: true}", true, "HTTP/2.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := ts.StartLB(t, bridgeYAML([]*ts.Target{a}, tc.tls))
			want := "healthy"
			if !tc.healthy {
				want = "unhealthy"
			}
			ts.WaitFor(t, "health "+want, func() bool { return string(l.Snapshot()[0].Targets[0].State) == want })
			resp, err := plainClient().Get(l.URL + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if !tc.healthy {
				if resp.StatusCode != http.StatusBadGateway {
					t.Errorf("refused certificate: status %d, want 502", resp.StatusCode)
				}
				return
			}
			if resp.StatusCode != 200 || resp.Header.Get("X-Proto") != tc.wantProto {
				t.Errorf("status %d, target spoke %q; want 200 over %s", resp.StatusCode, resp.Header.Get("X-Proto"), tc.wantProto)
			}
		})
	}
}

// TestBadCertificateRetriedElsewhere: a target whose certificate is refused
// is treated like one that cannot be reached: the request goes to another
// target and the bad one is marked unhealthy at once.
func TestBadCertificateRetriedElsewhere(t *testing.T) {
	good, ca := tlsTarget(t, "good", false)
	bad := selfSignedTarget(t, "bad") // a certificate the CA file does not vouch for
	y := bridgeYAML([]*ts.Target{bad, good}, fmt.Sprintf("{ca_file: %q}", ca))
	y = strings.Replace(y, "health_check: {path: /,", "health_check: {enabled: false, path: /,", 1)
	l := ts.StartLB(t, y)
	for i := 0; i < 4; i++ {
		resp, err := plainClient().Get(l.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "good" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, b)
		}
	}
	if st := l.Snapshot()[0].Targets[0]; st.State != "unhealthy" {
		t.Errorf("target with a refused certificate: %s, want unhealthy", st.State)
	}
}

// selfSignedTarget is an HTTPS target with its own self-signed certificate.
func selfSignedTarget(t *testing.T, id string) *ts.Target { return namedTLSTarget(t, id, "localhost") }

// TestExpiredTargetCertificate: a target whose certificate has expired
// fails its health checks, visibly, even when its CA is trusted.
func TestExpiredTargetCertificate(t *testing.T) {
	cf, kf := ts.ExpiredTLSFiles(t, "localhost")
	cert, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	target := &ts.Target{ID: "expired", Addr: srv.Listener.Addr().String()}
	// The certificate is self-signed, so it is its own CA: only the date is wrong.
	l := ts.StartLB(t, bridgeYAML([]*ts.Target{target}, fmt.Sprintf("{ca_file: %q, server_name: localhost}", cf)))
	ts.WaitFor(t, "the expired target to be unhealthy", func() bool {
		return l.Snapshot()[0].Targets[0].State == "unhealthy"
	})
}

// TestH2UpstreamStalledClients: a client that stops reading a response
// relayed from an HTTP/2 target holds at most the stream's flow-control
// window (lb.UpstreamH2StreamWindow) in tether's memory, not Go's
// default 4 MiB per stream (black-box testing took a process to 4.3 GB
// with 1,000 stalled streams).
func TestH2UpstreamStalledClients(t *testing.T) {
	var written atomic.Int64
	chunk := make([]byte, 16<<10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/big" {
			io.WriteString(w, "ok")
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		for {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	l := ts.StartLB(t, bridgeYAML([]*ts.Target{{ID: "big", Addr: srv.Listener.Addr().String()}}, "{insecure_skip_verify: true}"))
	waitHealthy(t, l, 1)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const clients = 40
	for range clients {
		c, err := net.Dial("tcp", strings.TrimPrefix(l.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(4 << 10)
		io.WriteString(c, "GET /big HTTP/1.1\r\nHost: app.example\r\n\r\n") // and never read
	}
	// Wait until the target can write no more: every stream is stalled.
	last, still := int64(-1), 0
	for deadline := time.Now().Add(20 * time.Second); still < 5 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if n := written.Load(); n == last {
			still++
		} else {
			last, still = n, 0
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapInuse) - int64(before.HeapInuse)
	if perStream := grew / clients; perStream > 1<<20 {
		t.Errorf("%d stalled streams from an HTTP/2 target hold %d MiB of heap (%d KiB each); want at most 1 MiB each (the window is %d KiB)",
			clients, grew>>20, perStream>>10, lb.UpstreamH2StreamWindow>>10)
	}
	t.Logf("target wrote %d KiB for %d stalled clients; heap grew %d KiB", last>>10, clients, grew>>10)
}
