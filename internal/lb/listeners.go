package lb

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tetherlb/tether/internal/config"
)

// httpServer is one running listener.
type httpServer struct {
	cfg config.Listener
	ln  net.Listener
	srv *http.Server
}

// sameSocket reports whether a listener can keep running under the new
// config (only routing changed).
func sameSocket(a, b config.Listener) bool {
	return a.Address == b.Address && a.Protocol == b.Protocol && fmt.Sprint(a.TLS) == fmt.Sprint(b.TLS) &&
		a.MaxHeaderBytes == b.MaxHeaderBytes && a.ReadHeaderTimeout == b.ReadHeaderTimeout &&
		a.IdleTimeout == b.IdleTimeout && fmt.Sprint(a.TrustedProxies) == fmt.Sprint(b.TrustedProxies)
}

// syncListeners starts the listeners of cfg that are not running, and shuts
// down gracefully those that left or changed. New sockets are opened first,
// so a failed bind leaves the running listeners alone.
func (s *Server) syncListeners(cfg *config.Config) error {
	started := map[string]*httpServer{}
	var errs []error
	for _, lc := range cfg.Listeners {
		if cur := s.servers[lc.Name]; cur != nil && sameSocket(cur.cfg, lc) {
			continue
		}
		hs, err := s.listen(lc, cfg.Dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		started[lc.Name] = hs
	}
	if len(errs) > 0 {
		for _, hs := range started {
			hs.ln.Close()
		}
		return errors.Join(errs...)
	}
	keep := map[string]bool{}
	for _, lc := range cfg.Listeners {
		keep[lc.Name] = true
	}
	for name, hs := range s.servers {
		if _, replaced := started[name]; replaced || !keep[name] {
			go shutdownLater(hs.srv)
			delete(s.servers, name)
		}
	}
	for name, hs := range started {
		s.servers[name] = hs
		go s.serve(hs)
	}
	return nil
}

func (s *Server) listen(lc config.Listener, dir string) (*httpServer, error) {
	var tlsCfg *tls.Config
	if lc.Protocol == "https" {
		cert, err := tls.LoadX509KeyPair(resolve(dir, lc.TLS.CertFile), resolve(dir, lc.TLS.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("listener %s: loading certificate: %w", lc.Name, err)
		}
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	}
	raw, err := net.Listen("tcp", lc.Address)
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
	lh := &listenerHandler{srv: s, name: lc.Name, port: listenerPort(raw.Addr()), tl: tl}
	srv := &http.Server{
		Handler:           lh,
		ReadHeaderTimeout: lc.ReadHeaderTimeout.D(),
		IdleTimeout:       lc.IdleTimeout.D(),
		MaxHeaderBytes:    lc.MaxHeaderBytes,
		ConnContext:       connContext,
		ErrorLog:          slog.NewLogLogger(s.log.With("listener", lc.Name).Handler(), slog.LevelDebug),
	}
	if tlsCfg != nil {
		srv.TLSConfig = tlsCfg
	}
	s.log.Info("listening", "listener", lc.Name, "address", raw.Addr().String(), "protocol", lc.Protocol)
	return &httpServer{cfg: lc, ln: ln, srv: srv}, nil
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
