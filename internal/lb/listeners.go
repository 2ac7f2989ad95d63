package lb

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetherlb/tether/internal/certs"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/trust"
)

// httpServer is one running listener.
type httpServer struct {
	cfg   config.Listener
	sock  *socket
	front *front // on a handle on sock: srv's listener, and the lean path in front of it
	srv   *http.Server
	certs atomic.Pointer[certs.Set] // https: swapped on reload and when the files change
}

// shutdown stops the listener gracefully until ctx ends, then closes what
// is left.
func (hs *httpServer) shutdown(ctx context.Context) error { return hs.front.shutdown(ctx, hs.srv) }

// sameSocket reports whether a running listener can serve the new config
// as it is: only routing or the certificate's contents changed.
func sameSocket(a, b config.Listener) bool {
	return a.Address == b.Address && a.Protocol == b.Protocol && reflect.DeepEqual(a.TLS, b.TLS) &&
		a.MaxHeaderBytes == b.MaxHeaderBytes && a.ReadHeaderTimeout == b.ReadHeaderTimeout &&
		a.IdleTimeout == b.IdleTimeout && a.SendTimeout == b.SendTimeout && a.BodyTimeout == b.BodyTimeout &&
		reflect.DeepEqual(a.TrustedProxies, b.TrustedProxies)
}

// listenerPlan is the socket work of a start or reload, prepared before
// anything that serves traffic changes.
type listenerPlan struct {
	open    map[string]*httpServer // new servers, bound but not serving
	certs   map[string]*certs.Set  // fresh certificates for kept https listeners
	l4socks map[string]*handle     // handles on the sockets of tcp listeners
	l4used  map[string]bool        // tcp listeners that took their handle
}

// planListeners binds the sockets cfg needs that are not running and loads
// every certificate. On error it closes what it opened and the running
// listeners are untouched.
func (s *Server) planListeners(cfg *config.Config) (*listenerPlan, error) {
	plan := &listenerPlan{open: map[string]*httpServer{}, certs: map[string]*certs.Set{},
		l4socks: map[string]*handle{}, l4used: map[string]bool{}}
	var errs []error
	for _, lc := range cfg.Listeners {
		if lc.Protocol == "tcp" {
			sock, err := s.socketFor(lc.Address)
			if err != nil {
				errs = append(errs, fmt.Errorf("listener %s: %w (is another process using %s?)", lc.Name, err, lc.Address))
				continue
			}
			// Taken now, so the socket stays open while a server it
			// replaces on the same address retires.
			plan.l4socks[lc.Name] = sock.handle()
			continue
		}
		cur := s.servers[lc.Name]
		if cur != nil && sameSocket(cur.cfg, lc) {
			if lc.Protocol == "https" {
				cs, err := certs.Load("listener "+lc.Name, lc.TLS, cfg.Dir)
				if err != nil {
					errs = append(errs, err)
				}
				plan.certs[lc.Name] = cs
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
		hs.front.Close()
	}
	p.closeUnused()
}

// closeUnused releases the handles of tcp listeners that did not need a
// new server; a socket nobody else uses closes.
func (p *listenerPlan) closeUnused() {
	for name, h := range p.l4socks {
		if !p.l4used[name] {
			h.Close()
		}
	}
}

// applyListeners starts serving the plan's new sockets, swaps certificates,
// and gracefully shuts down the listeners that left or were replaced.
func (s *Server) applyListeners(cfg *config.Config, plan *listenerPlan) {
	keep := map[string]bool{}
	for _, lc := range cfg.Listeners {
		if lc.Protocol != "tcp" { // a name that became tcp retires its HTTP server
			keep[lc.Name] = true
		}
	}
	for name, cs := range plan.certs {
		s.servers[name].certs.Store(cs)
	}
	for name, hs := range s.servers {
		if _, replaced := plan.open[name]; replaced || !keep[name] {
			s.retire(hs)
			delete(s.servers, name)
		}
	}
	for name, hs := range plan.open {
		s.servers[name] = hs
		go s.serve(hs)
	}
}

// socketFor returns the socket bound to addr: the running one when a
// listener already holds the address (a reload changing its settings or
// name), else a new one.
func (s *Server) socketFor(addr string) (*socket, error) {
	for _, hs := range s.servers {
		if hs.cfg.Address == addr {
			return hs.sock, nil
		}
	}
	for _, ls := range s.l4servers {
		if ls.cfg.Address == addr {
			return ls.sock, nil
		}
	}
	return listenSocket(addr)
}

func (s *Server) listen(lc config.Listener, dir string) (*httpServer, error) {
	hs := &httpServer{cfg: lc}
	var tlsCfg *tls.Config
	if lc.Protocol == "https" {
		cs, err := certs.Load("listener "+lc.Name, lc.TLS, dir)
		if err != nil {
			return nil, err
		}
		hs.certs.Store(cs)
		tlsCfg = serverTLS(lc.TLS, hs)
	}
	sock, err := s.socketFor(lc.Address)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w (is another process using %s?)", lc.Name, err, lc.Address)
	}
	hs.sock = sock
	h := sock.handle()
	tl, _ := trust.Parse(lc.TrustedProxies) // validated
	name := lc.Name
	// Connections go through a front (see front.go); those it hands to
	// net/http are wrapped in conn, to catch smuggling attempts and count
	// net/http's own rejections. HTTP/2 connections go to net/http as they
	// are, after the handshake.
	onReject := func(code int) {
		s.metrics.rejected.WithLabelValues(name, itoa(code), "malformed").Inc()
	}
	lh := &listenerHandler{srv: s, name: lc.Name, port: listenerPort(h.Addr()), tl: tl, hsts: hstsValue(lc.TLS), bodyTimeout: lc.BodyTimeout.D()}
	hs.front = newFront(h, frontOptions{name: lc.Name, log: s.log, tls: tlsCfg, readHeaderTimeout: lc.ReadHeaderTimeout.D(),
		idleTimeout: lc.IdleTimeout.D(), maxHeaderBytes: lc.MaxHeaderBytes, onReject: onReject,
		sendTimeout: lc.SendTimeout.D(), onSendTimeout: s.metrics.sendTimeouts.WithLabelValues(name).Inc}, lh.serveFront, false)
	hs.srv = &http.Server{
		Handler:           withSendDeadlines(lh, lc.SendTimeout.D(), s.metrics.sendTimeouts.WithLabelValues(name).Inc),
		ReadHeaderTimeout: lc.ReadHeaderTimeout.D(),
		IdleTimeout:       lc.IdleTimeout.D(),
		MaxHeaderBytes:    lc.MaxHeaderBytes,
		ConnContext:       connContext,
		// OPTIONS * reaches the listener's handler (see ServeHTTP).
		DisableGeneralOptionsHandler: true,
		TLSConfig:                    tlsCfg,
		ErrorLog:                     slog.NewLogLogger(s.log.With("listener", lc.Name).Handler(), slog.LevelDebug),
	}
	s.log.Info("listening", "listener", lc.Name, "address", h.Addr().String(), "protocol", lc.Protocol)
	return hs, nil
}

// retire takes a server that left the config, or that a reload
// replaced, out of service without dropping a request. http.Server.Shutdown
// alone would: it closes a connection whose first request it reads after
// shutdown began, and the old server may have just accepted one. So the
// server first stops accepting (its socket stays open for the replacement)
// and stops keep-alives, which closes its idle connections and makes the
// others close after their current response; only once every accepted
// connection has had read_header_timeout to send its request is it shut
// down, with five minutes for requests in flight.
func (s *Server) retire(hs *httpServer) {
	hs.front.Close()
	hs.srv.SetKeepAlivesEnabled(false)
	s.retiring.Add(1)
	go func() {
		defer s.retiring.Done()
		select {
		case <-s.clk.After(hs.cfg.ReadHeaderTimeout.D() + time.Second):
		case <-s.closing:
		}
		ctx, cancel := s.retireContext()
		defer cancel()
		hs.shutdown(ctx)
	}()
}

// retireContext bounds the shutdown of a retired listener: five minutes,
// or until the deadline of Close once tether itself is stopping.
func (s *Server) retireContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	go func() {
		select {
		case <-s.closing:
			<-s.closeCtx.Done()
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (s *Server) serve(hs *httpServer) {
	err := hs.srv.Serve(hs.front)
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !strings.Contains(err.Error(), "use of closed") {
		s.log.Error("listener stopped", "listener", hs.cfg.Name, "err", err)
	}
}
