package l4_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/l4"
)

// testCA is a certificate authority made for one test run; targets get
// leaf certificates from it and clients trust it.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

var (
	caOnce sync.Once
	ca     *testCA
)

// theCA returns the test CA, made on first use.
func theCA(t testing.TB) *testCA {
	t.Helper()
	caOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "l4 test CA"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			panic(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(cert)
		ca = &testCA{cert: cert, key: key, pool: pool}
	})
	return ca
}

// leaf returns a certificate for names (DNS names, or IP addresses).
func (c *testCA) leaf(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsTarget is an HTTPS server that answers every request with its id.
type tlsTarget struct {
	id   string
	addr string
	srv  *httptest.Server
}

// newTLSTarget starts an HTTPS target with a certificate for names.
func newTLSTarget(t testing.TB, id string, names ...string) *tlsTarget {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, id)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{theCA(t).leaf(t, names...)}}
	// Health checks open and close connections without a handshake.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &tlsTarget{id: id, addr: srv.Listener.Addr().String(), srv: srv}
}

// deadAddr returns the address of a closed listener.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// targetConfigs returns weight-1 configs for targets.
func targetConfigs(targets ...*tlsTarget) []l4.TargetConfig {
	var out []l4.TargetConfig
	for _, tt := range targets {
		out = append(out, l4.TargetConfig{ID: tt.id, Address: tt.addr, Weight: 1})
	}
	return out
}

// newGroup makes a group that is closed when the test ends. A nil clk is
// the wall clock.
func newGroup(t testing.TB, cfg l4.GroupConfig, clk clock.Clock) *l4.Group {
	t.Helper()
	g, err := l4.NewGroup(cfg, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

// startListener serves routes on a new 127.0.0.1 port and returns its
// address. The listener is shut down when the test ends.
func startListener(t testing.TB, routes []l4.Route, def *l4.Group, opts l4.ListenerOptions) (string, *l4.Listener) {
	t.Helper()
	return startListenerOn(t, "127.0.0.1:0", routes, def, opts)
}

func startListenerOn(t testing.TB, addr string, routes []l4.Route, def *l4.Group, opts l4.ListenerOptions) (string, *l4.Listener) {
	t.Helper()
	l, err := l4.NewListener(routes, def, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, l4.ErrListenerClosed) {
			t.Errorf("Serve returned %v, want ErrListenerClosed", err)
		}
	})
	return ln.Addr().String(), l
}

// result is what a client saw of one HTTPS exchange through the proxy.
type result struct {
	body string   // the serving target's id
	dns  []string // DNS names of the certificate the client got
}

// client makes HTTPS requests through the proxy at lbAddr, from local IP
// address from ("" for any), one connection per request.
type client struct {
	lbAddr string
	from   string
	tls    *tls.Config // nil: trust the test CA
	wrap   func(net.Conn) net.Conn
}

// get requests https://serverName/ through the proxy. serverName is sent
// as SNI unless it is an IP address.
func (c client) get(t testing.TB, serverName string) (result, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	if c.from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(c.from)}
	}
	tc := c.tls
	if tc == nil {
		tc = &tls.Config{RootCAs: theCA(t).pool}
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, "tcp", c.lbAddr)
			if err == nil && c.wrap != nil {
				conn = c.wrap(conn)
			}
			return conn, err
		},
		TLSClientConfig:   tc,
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := hc.Get("https://" + serverName + "/")
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	return result{body: string(b), dns: resp.TLS.PeerCertificates[0].DNSNames}, nil
}

// mustGet is get that fails the test on error and returns the body.
func (c client) mustGet(t testing.TB, serverName string) string {
	t.Helper()
	r, err := c.get(t, serverName)
	if err != nil {
		t.Fatalf("GET https://%s/ via %s from %q: %v", serverName, c.lbAddr, c.from, err)
	}
	return r.body
}

// recorder is a Metrics that remembers what it is told.
type recorder struct {
	mu    sync.Mutex
	conns map[string]int // "group/target/outcome"
	in    int64
	out   int64
}

func newRecorder() *recorder { return &recorder{conns: map[string]int{}} }

func (r *recorder) Conn(group, target, outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns[group+"/"+target+"/"+outcome]++
}

func (r *recorder) Bytes(_, _ string, in, out int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.in += in
	r.out += out
}

func (r *recorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[key]
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for k, v := range r.conns {
		fmt.Fprintf(&b, "%s=%d ", k, v)
	}
	return b.String()
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// status returns the status of target id in g.
func status(t testing.TB, g *l4.Group, id string) l4.TargetStatus {
	t.Helper()
	for _, s := range g.Snapshot() {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no target %q in snapshot", id)
	return l4.TargetStatus{}
}

var _ l4.Metrics = (*recorder)(nil)
