package lb

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
	"sync/atomic"
	"time"

	"github.com/tetherlb/tether/internal/config"
)

// httpServer is one running listener.
type httpServer struct {
	cfg  config.Listener
	ln   net.Listener
	srv  *http.Server
	cert atomic.Pointer[tls.Certificate] // https: swapped on reload, so renewed certificates need no restart
}

// sameSocket reports whether a running listener can serve the new config
// as it is: only routing or the certificate's contents changed.
func sameSocket(a, b config.Listener) bool {
	return a.Address == b.Address && a.Protocol == b.Protocol && reflect.DeepEqual(a.TLS, b.TLS) &&
		a.MaxHeaderBytes == b.MaxHeaderBytes && a.ReadHeaderTimeout == b.ReadHeaderTimeout &&
		a.IdleTimeout == b.IdleTimeout && reflect.DeepEqual(a.TrustedProxies, b.TrustedProxies)
}

// listenerPlan is the socket work of a start or reload, prepared before
// anything that serves traffic changes.
type listenerPlan struct {
	open  map[string]*httpServer      // new servers, bound but not serving
	certs map[string]*tls.Certificate // fresh certificates for kept https listeners
}

// planListeners binds the sockets cfg needs that are not running and loads
// every certificate. On error it closes what it opened and the running
// listeners are untouched.
func (s *Server) planListeners(cfg *config.Config) (*listenerPlan, error) {
	plan := &listenerPlan{open: map[string]*httpServer{}, certs: map[string]*tls.Certificate{}}
	var errs []error
	for _, lc := range cfg.Listeners {
		cur := s.servers[lc.Name]
		if cur != nil && sameSocket(cur.cfg, lc) {
			if lc.Protocol == "https" {
				cert, err := loadCert(lc, cfg.Dir)
				if err != nil {
					errs = append(errs, err)
				}
				plan.certs[lc.Name] = cert
			}
			continue
		}
		hs, err := s.listen(lc, cfg.Dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		plan.open[lc.Name] = hs
	}
	if len(errs) > 0 {
		plan.abort()
		return nil, errors.Join(errs...)
	}
	return plan, nil
}

// abort closes the sockets a plan opened.
func (p *listenerPlan) abort() {
	for _, hs := range p.open {
		hs.ln.Close()
	}
}

// applyListeners starts serving the plan's new sockets, swaps certificates,
// and gracefully shuts down the listeners that left or were replaced.
func (s *Server) applyListeners(cfg *config.Config, plan *listenerPlan) {
	keep := map[string]bool{}
	for _, lc := range cfg.Listeners {
		keep[lc.Name] = true
	}
	for name, cert := range plan.certs {
		s.servers[name].cert.Store(cert)
	}
	for name, hs := range s.servers {
		if _, replaced := plan.open[name]; replaced || !keep[name] {
			go shutdownLater(hs.srv)
			delete(s.servers, name)
		}
	}
	for name, hs := range plan.open {
		s.servers[name] = hs
		go s.serve(hs)
	}
}

func loadCert(lc config.Listener, dir string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(resolve(dir, lc.TLS.CertFile), resolve(dir, lc.TLS.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("listener %s: loading certificate: %w", lc.Name, err)
	}
	return &cert, nil
}

// owns reports whether one of the running listeners is bound to addr.
func (s *Server) owns(addr string) bool {
	for _, hs := range s.servers {
		if hs.cfg.Address == addr {
			return true
		}
	}
	return false
}

func (s *Server) listen(lc config.Listener, dir string) (*httpServer, error) {
	hs := &httpServer{cfg: lc}
	var tlsCfg *tls.Config
	if lc.Protocol == "https" {
		cert, err := loadCert(lc, dir)
		if err != nil {
			return nil, err
		}
		hs.cert.Store(cert)
		tlsCfg = &tls.Config{
			MinVersion: tls.VersionTLS12,
			NextProtos: []string{"http/1.1"},
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return hs.cert.Load(), nil
			},
		}
	}
	raw, err := bind(lc.Address, s.owns(lc.Address))
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w (is another process using %s?)", lc.Name, err, lc.Address)
	}
	var tl trustList
	for _, c := range lc.TrustedProxies {
		p, _ := config.ParsePrefix(c) // validated
		tl = append(tl, p)
	}
	name := lc.Name
	// Plain-HTTP connections are wrapped to catch smuggling attempts and
	// count net/http's own rejections; TLS connections cannot be (net/http
	// needs the *tls.Conn itself), so on https listeners those two checks
	// are off and net/http's handling (Transfer-Encoding wins) applies.
	var ln net.Listener = listener{Listener: raw, onReject: func(code int) {
		s.metrics.rejected.WithLabelValues(name, itoa(code), "malformed").Inc()
	}}
	if tlsCfg != nil {
		ln = tls.NewListener(raw, tlsCfg)
	}
	hs.ln = ln
	hs.srv = &http.Server{
		Handler:           &listenerHandler{srv: s, name: lc.Name, port: listenerPort(raw.Addr()), tl: tl},
		ReadHeaderTimeout: lc.ReadHeaderTimeout.D(),
		IdleTimeout:       lc.IdleTimeout.D(),
		MaxHeaderBytes:    lc.MaxHeaderBytes,
		ConnContext:       connContext,
		TLSConfig:         tlsCfg,
		ErrorLog:          slog.NewLogLogger(s.log.With("listener", lc.Name).Handler(), slog.LevelDebug),
	}
	s.log.Info("listening", "listener", lc.Name, "address", raw.Addr().String(), "protocol", lc.Protocol)
	return hs, nil
}

// bind opens a TCP listener on addr with SO_REUSEPORT, so that a reload
// can open the replacement socket of a listener before closing the old
// one. SO_REUSEPORT would also let a second tether process share the port
// silently, so an address tether does not hold already is first probed
// with a plain bind, which fails if anyone else holds it.
func bind(addr string, shared bool) (net.Listener, error) {
	if !shared {
		probe, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		addr = probe.Addr().String() // a port 0 is now a real port
		probe.Close()
	}
	lc := net.ListenConfig{Control: reusePort}
	return lc.Listen(context.Background(), "tcp", addr)
}

// shutdownLater closes a listener that left the config: it stops
// accepting at once and gives requests in flight five minutes to finish.
func shutdownLater(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
	}
}

func (s *Server) serve(hs *httpServer) {
	err := hs.srv.Serve(hs.ln)
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !strings.Contains(err.Error(), "use of closed") {
		s.log.Error("listener stopped", "listener", hs.cfg.Name, "err", err)
	}
}
