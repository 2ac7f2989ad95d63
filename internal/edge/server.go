package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/certs"
	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/config"
)

// Servers runs the edges of a config, each on its own listener.
type Servers struct {
	Edges    map[string]*Edge
	servers  []*http.Server
	metrics  *Metrics
	log      *slog.Logger
	tls      []*liveCerts  // the edges that serve HTTPS
	stop     chan struct{} // closed by Close: ends the certificate watch
	watched  chan struct{} // closed when the watch has ended
	watching bool          // watchCerts was started
}

// liveCerts is the certificates an HTTPS edge serves, swapped when their
// files change on disk.
type liveCerts struct {
	edge string
	cfg  *config.TLS
	dir  string
	cur  atomic.Pointer[certs.Set]
}

// certCheckInterval is how often the certificate files of HTTPS edges are
// checked for a change, as https listeners' are.
const certCheckInterval = 5 * time.Second

// ListenerAddr returns the address of a listener of this process by name,
// for edges whose origin is a listener.
type ListenerAddr func(name string) net.Addr

// StartOptions are what Start needs besides the config.
type StartOptions struct {
	// Addr finds the address of a listener of this process.
	Addr ListenerAddr
	// NewTransport, when not nil, makes the transport to plain http
	// origins (tether passes its load balancer's lean HTTP/1.1 transport);
	// nil uses net/http's.
	NewTransport func() http.RoundTripper
	Registerer   prometheus.Registerer
	Clock        clock.Clock
	Logger       *slog.Logger
	// Access receives one line per edge request; nil: none.
	Access *slog.Logger
}

// Start builds and starts every edge of cfg. Edges whose origin is a
// listener of the same config send their misses to that listener's address
// over loopback.
func Start(cfg *config.Config, o StartOptions) (*Servers, error) {
	log := o.Logger
	s := &Servers{Edges: map[string]*Edge{}, metrics: NewMetrics(o.Registerer), log: log,
		stop: make(chan struct{}), watched: make(chan struct{})}
	for _, ec := range cfg.Edges {
		origin, transport, err := originOf(ec, cfg, o.Addr)
		if transport == nil && o.NewTransport != nil && strings.HasPrefix(origin, "http://") {
			transport = o.NewTransport()
		}
		if err != nil {
			s.Close(context.Background())
			return nil, err
		}
		e, err := New(ec, Options{OriginURL: origin, Transport: transport, Clock: o.Clock, Logger: log, Access: o.Access, Metrics: s.metrics})
		if err != nil {
			s.Close(context.Background())
			return nil, err
		}
		srv := e.HTTPServer()
		var lc *liveCerts
		if ec.TLS != nil {
			set, err := certs.Load("edge "+ec.Name, ec.TLS, cfg.Dir)
			if err != nil {
				s.Close(context.Background())
				return nil, err
			}
			lc = &liveCerts{edge: ec.Name, cfg: ec.TLS, dir: cfg.Dir}
			lc.cur.Store(set)
			srv.TLSConfig = certs.ServerConfig(ec.TLS, lc.cur.Load)
			if !*ec.TLS.HTTP2 {
				srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
			}
		}
		ln, err := net.Listen("tcp", ec.Address)
		if err != nil {
			s.Close(context.Background())
			return nil, fmt.Errorf("edge %s: %w (is another process using %s?)", ec.Name, err, ec.Address)
		}
		s.servers = append(s.servers, srv)
		s.Edges[ec.Name] = e
		scheme := "http"
		if lc != nil {
			s.tls = append(s.tls, lc)
			scheme = "https"
		}
		go func() {
			var err error
			if lc != nil {
				err = srv.ServeTLS(ln, "", "")
			} else {
				err = srv.Serve(ln)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("edge listener stopped", "edge", ec.Name, "err", err)
			}
		}()
		log.Info("edge listening", "edge", ec.Name, "address", ln.Addr().String(), "scheme", scheme, "origin", origin, "mode", ec.Mode)
	}
	s.watching = true
	go s.watchCerts()
	return s, nil
}

// watchCerts reloads the certificates of HTTPS edges whose files changed
// on disk, until Close. A set that fails to load is logged and the
// running one kept until the files change again.
func (s *Servers) watchCerts() {
	defer close(s.watched)
	if len(s.tls) == 0 {
		return
	}
	t := time.NewTicker(certCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		for _, lc := range s.tls {
			cur := lc.cur.Load()
			if !cur.Changed() {
				continue
			}
			next, err := certs.Load("edge "+lc.edge, lc.cfg, lc.dir)
			if err != nil {
				s.log.Error("certificate files changed but do not load; keeping the running ones", "edge", lc.edge, "err", err)
				lc.cur.Store(cur.Unchanged())
				continue
			}
			lc.cur.Store(next)
			s.log.Info("certificates reloaded from disk", "edge", lc.edge, "certificates", next.Len())
		}
	}
}

// MaxHeaderBytes bounds a request's head at the edge: a larger one gets
// 431 before it can reach (and poison) anything.
const MaxHeaderBytes = 32 << 10

// HTTPServer returns the http.Server an edge listens with: its handler,
// header timeouts and the MaxHeaderBytes bound.
func (e *Edge) HTTPServer() *http.Server {
	return &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(e.log.Handler(), slog.LevelWarn)}
}

// originOf returns the origin URL of ec and the transport to reach it.
func originOf(ec config.Edge, cfg *config.Config, addr ListenerAddr) (string, http.RoundTripper, error) {
	if ec.Origin.URL != "" {
		return ec.Origin.URL, nil, nil
	}
	a := addr(ec.Origin.Listener)
	if a == nil {
		return "", nil, fmt.Errorf("edge %s: listener %s is not running", ec.Name, ec.Origin.Listener)
	}
	for _, l := range cfg.Listeners {
		if l.Name == ec.Origin.Listener && l.Protocol == "https" {
			// The listener is this process, over loopback: its certificate
			// is for the public names, not 127.0.0.1, and there is no one
			// in between to verify against.
			t := newTransport()
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback to our own listener
			return "https://" + a.String(), t, nil
		}
	}
	return "http://" + a.String(), nil, nil
}

// Close stops the edges: requests in flight finish until ctx ends.
func (s *Servers) Close(ctx context.Context) error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
		if s.watching {
			<-s.watched
		}
	}
	var errs []error
	for _, srv := range s.servers {
		errs = append(errs, srv.Shutdown(ctx))
	}
	for _, e := range s.Edges {
		s.metrics.untrack(e)
	}
	return errors.Join(errs...)
}
