package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherlb/tether/internal/certs"
	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/lb"
)

// Servers runs the edges of a config, each on its own listener.
type Servers struct {
	entries  map[string]*entry
	opts     StartOptions
	reloadMu sync.Mutex  // serialises Reload
	fronts   []*lb.Front // one per edge: its listener and http.Server
	metrics  *Metrics
	log      *slog.Logger
	tls      []*liveCerts  // the edges that serve HTTPS
	stop     chan struct{} // closed by Close: ends the certificate watch
	watched  chan struct{} // closed when the watch has ended
	watching bool          // watchCerts was started
}

// entry is one running edge: its listener serves whichever Edge cur
// holds, so that a reload swaps the edge without closing a connection.
type entry struct {
	cfg config.Edge // as running; owned by Reload
	cur atomic.Pointer[Edge]
	lc  *liveCerts // nil for a plain HTTP edge
	// url is where the edge listens (scheme://address), fixed until a
	// restart.
	url string
}

// ServeHTTP hands the request to the current edge.
func (en *entry) ServeHTTP(w http.ResponseWriter, r *http.Request) { en.cur.Load().ServeHTTP(w, r) }

// Ref names a running edge across reloads.
type Ref struct{ en *entry }

// Invalidate invalidates on the edge running now (see Edge.Invalidate).
func (r Ref) Invalidate(tenant string, patterns []string) int {
	return r.en.cur.Load().Invalidate(tenant, patterns)
}

// Status reports the edge running now (see Edge.Status), with its URL.
func (r Ref) Status() Status {
	st := r.en.cur.Load().Status()
	st.URL = r.en.url
	return st
}

// Refs returns a Ref for each running edge, by name, for the admin API's
// invalidations and status.
func (s *Servers) Refs() map[string]Ref {
	out := make(map[string]Ref, len(s.entries))
	for name, en := range s.entries {
		out[name] = Ref{en}
	}
	return out
}

// liveCerts is the certificates an HTTPS edge serves, swapped when their
// files change on disk or a reload changes the list.
type liveCerts struct {
	edge string
	cfg  atomic.Pointer[config.TLS]
	dir  string
	cur  atomic.Pointer[certs.Set]
}

// certCheckInterval is how often the certificate files of HTTPS edges are
// checked for a change, as https listeners' are, unless
// StartOptions.CertCheck says otherwise.
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
	// CertCheck is how often HTTPS edges' certificate files are checked
	// for a change; zero means every 5 seconds.
	CertCheck time.Duration
}

// Start builds and starts every edge of cfg. Edges whose origin is a
// listener of the same config send their misses to that listener's address
// over loopback.
func Start(cfg *config.Config, o StartOptions) (*Servers, error) {
	log := o.Logger
	s := &Servers{entries: map[string]*entry{}, opts: o, metrics: NewMetrics(o.Registerer), log: log,
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
			lc = &liveCerts{edge: ec.Name, dir: cfg.Dir}
			lc.cfg.Store(ec.TLS)
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
		scheme := "http"
		if lc != nil {
			s.tls = append(s.tls, lc)
			scheme = "https"
		}
		en := &entry{cfg: ec, lc: lc, url: scheme + "://" + ln.Addr().String()}
		en.cur.Store(e)
		srv.Handler = en
		fr := newFront(ln, srv, ec.Name, en.cur.Load)
		s.entries[ec.Name] = en
		s.fronts = append(s.fronts, fr)
		go serve(fr, ec.Name, log)
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
	every := s.opts.CertCheck
	if every <= 0 {
		every = certCheckInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.checkCerts()
	}
}

// checkCerts reloads the certificates whose files changed. It skips a turn
// while Reload runs, which re-reads them itself.
func (s *Servers) checkCerts() {
	if !s.reloadMu.TryLock() {
		return
	}
	defer s.reloadMu.Unlock()
	for _, lc := range s.tls {
		next, changed, err := certs.Reload(lc.cur.Load(), "edge "+lc.edge, lc.cfg.Load(), lc.dir)
		lc.cur.Store(next) // on an error, the running set, not retried until the files change again
		switch {
		case err != nil:
			s.log.Error("certificate files changed but do not load; keeping the running ones", "edge", lc.edge, "err", err)
		case changed:
			s.log.Info("certificates reloaded from disk", "edge", lc.edge, "certificates", next.Len())
		}
	}
}

// Reload applies cfg's edges to the running ones and returns the edges
// as they now run, with a note for each change it could not apply. An
// edge whose settings changed, or whose origin listener moved to another
// address, is rebuilt and swapped in: requests in
// flight finish on the old one, new ones get the new behaviors and
// policies at once, and the cache carries over (unless max_bytes changed),
// as do the origin's connections. Certificates are re-read. Adding or
// removing an edge, or changing its address, send_timeout, or TLS version
// and HTTP/2 settings, needs a restart.
func (s *Servers) Reload(cfg *config.Config) (running []config.Edge, notes []string) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	seen := map[string]bool{}
	for _, ec := range cfg.Edges {
		seen[ec.Name] = true
		en := s.entries[ec.Name]
		switch {
		case en == nil:
			notes = append(notes, fmt.Sprintf("edge %s is new; restart tether to start it", ec.Name))
			continue
		case en.cfg.Address != ec.Address:
			notes = append(notes, fmt.Sprintf("edge %s moved from %s to %s; restart tether to apply it (it keeps running as it was)", ec.Name, en.cfg.Address, ec.Address))
			running = append(running, en.cfg)
			continue
		case en.cfg.SendTimeout != ec.SendTimeout:
			notes = append(notes, fmt.Sprintf("edge %s: changing send_timeout needs a restart (it keeps running as it was)", ec.Name))
			running = append(running, en.cfg)
			continue
		case !sameTLSMode(en.cfg.TLS, ec.TLS):
			notes = append(notes, fmt.Sprintf("edge %s: turning TLS on or off, or changing min_version or http2, needs a restart (it keeps running as it was)", ec.Name))
			running = append(running, en.cfg)
			continue
		case reflect.DeepEqual(en.cfg, ec) && !s.originMoved(cfg, en, ec):
			running = append(running, en.cfg)
			continue
		}
		if err := s.replace(cfg, en, ec); err != nil {
			notes = append(notes, fmt.Sprintf("edge %s: %v; it keeps running as it was", ec.Name, err))
			running = append(running, en.cfg)
			continue
		}
		running = append(running, ec)
	}
	for name, en := range s.entries {
		if !seen[name] {
			notes = append(notes, fmt.Sprintf("edge %s was removed; restart tether to stop it (it keeps running)", name))
			running = append(running, en.cfg)
		}
	}
	return running, notes
}

// originMoved reports whether the listener that ec's origin names now
// has another address or protocol than the one en's edge sends its misses
// to: the edge must follow it, though its own settings did not change.
func (s *Servers) originMoved(cfg *config.Config, en *entry, ec config.Edge) bool {
	if ec.Origin.Listener == "" {
		return false
	}
	origin, _, err := originOf(ec, cfg, s.opts.Addr)
	return err != nil || origin != en.cur.Load().origin.String()
}

// replace builds the edge ec and swaps it in for en's.
func (s *Servers) replace(cfg *config.Config, en *entry, ec config.Edge) error {
	if ec.TLS != nil {
		set, err := certs.Load("edge "+ec.Name, ec.TLS, cfg.Dir)
		if err != nil {
			return err
		}
		en.lc.cfg.Store(ec.TLS)
		en.lc.cur.Store(set)
	}
	origin, transport, err := originOf(ec, cfg, s.opts.Addr)
	if err != nil {
		return err
	}
	prev := en.cur.Load()
	if transport == nil && s.opts.NewTransport != nil && strings.HasPrefix(origin, "http://") && prev.origin.String() != origin {
		transport = s.opts.NewTransport()
	}
	next, err := New(ec, Options{OriginURL: origin, Transport: transport, Clock: s.opts.Clock, Logger: s.log,
		Access: s.opts.Access, Metrics: s.metrics, prev: prev})
	if err != nil {
		return err
	}
	en.cur.Store(next)
	en.cfg = ec
	s.log.Info("edge reloaded", "edge", ec.Name, "cache_kept", next.store == prev.store)
	return nil
}

// sameTLSMode reports whether a and b agree on what a reload cannot
// change on a running listener: TLS on or off, min_version and http2.
func sameTLSMode(a, b *config.TLS) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.MinVersion == b.MinVersion && *a.HTTP2 == *b.HTTP2
}

// newFront puts tether's lean HTTP/1.1 loop in front of srv on ln: it runs
// the TLS handshake (srv.TLSConfig) and serves srv.Handler itself for
// plain requests, handing srv what it does not serve (request bodies,
// HTTP/2, upgrades, malformed heads). The edge is Transient: nothing it
// starts outlives a request but a background revalidation, which works on
// a clone of the request.
// A client that takes no byte of a response for the edge's send_timeout
// is disconnected, counted in its tether_edge_send_timeouts_total. The
// requests refused before the edge sees them (heads net/http cannot
// parse) are counted as rejected, bypass reason "malformed", on the edge
// running then: cur returns it. The front keeps no edge of its own, so
// the one a reload replaced, and its cache, can go.
func newFront(ln net.Listener, srv *http.Server, name string, cur func() *Edge) *lb.Front {
	e := cur()
	return lb.NewFront(ln, srv, lb.FrontOptions{Name: name, Log: e.log, Transient: true,
		SendTimeout: e.sendTimeout, OnSendTimeout: e.metrics.sendTimeouts.Inc,
		OnReject: func(code int) { cur().malformed(code) }})
}

func serve(fr *lb.Front, name string, log *slog.Logger) {
	err := fr.Serve()
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		log.Error("edge listener stopped", "edge", name, "err", err)
	}
}

// Serve serves e over plain HTTP on ln as Start serves an edge, until the
// returned function shuts it down (requests in flight finish until its
// context ends).
func Serve(ln net.Listener, e *Edge) (shutdown func(context.Context) error) {
	srv := e.HTTPServer()
	fr := newFront(ln, srv, "edge", func() *Edge { return e })
	go serve(fr, "edge", e.log)
	return fr.Shutdown
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
	for _, fr := range s.fronts {
		errs = append(errs, fr.Shutdown(ctx))
	}
	for _, en := range s.entries {
		s.metrics.untrack(en.cur.Load())
	}
	return errors.Join(errs...)
}
