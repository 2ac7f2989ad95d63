package l4

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrListenerClosed is returned by Serve after Shutdown.
var ErrListenerClosed = errors.New("l4: listener closed")

// Route sends the connections whose ClientHello names a server to a group.
type Route struct {
	// SNI is the server name to match, compared without regard to case:
	// an exact name such as "a.example.com"; a wildcard such as
	// "*.example.com", which, as in a certificate, matches one more label
	// ("a.example.com", not "example.com" nor "a.b.example.com"); or "",
	// the default route, for names no other route matches and for
	// ClientHellos without a server name.
	SNI string
	// Group serves the connections. Required.
	Group *Group
}

// routeTable is a validated set of routes.
type routeTable struct {
	exact    map[string]*Group
	wildcard map[string]*Group // by the suffix after "*."
	def      *Group
}

// newRouteTable checks routes and indexes them. def, if not nil, is the
// default group; so is the group of a route with an empty SNI, and there
// may be only one default.
func newRouteTable(routes []Route, def *Group) (*routeTable, error) {
	rt := &routeTable{exact: map[string]*Group{}, wildcard: map[string]*Group{}, def: def}
	var errs []error
	for i, r := range routes {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("l4 route %d (sni %q): "+format, append([]any{i, r.SNI}, args...)...))
		}
		if r.Group == nil {
			bad("no group")
			continue
		}
		sni := strings.ToLower(r.SNI)
		table, name := rt.exact, sni
		if rest, ok := strings.CutPrefix(sni, "*."); ok {
			table, name = rt.wildcard, rest
		}
		switch {
		case sni == "":
			if rt.def != nil {
				bad("a second default route")
			}
			rt.def = r.Group
		case !validHostName([]byte(name)):
			bad("want a host name such as a.example.com, or *. and a host name")
		case table[name] != nil:
			bad("a second route for the same name")
		default:
			table[name] = r.Group
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rt, nil
}

// lookup returns the group for server name name ("" for none): the exact
// route, else the wildcard route one label up, else the default, which may
// be nil.
func (rt *routeTable) lookup(name string) *Group {
	if name == "" {
		return rt.def
	}
	if g := rt.exact[name]; g != nil {
		return g
	}
	if _, parent, ok := strings.Cut(name, "."); ok {
		if g := rt.wildcard[parent]; g != nil {
			return g
		}
	}
	return rt.def
}

// Listener is a TLS passthrough proxy: it reads each client's ClientHello,
// chooses a group by the server name in it, and relays the connection,
// still encrypted, to a target of that group, which completes the TLS
// handshake with its own certificate. The proxy never decrypts.
//
// A Listener is safe for concurrent use. It may Serve any number of
// net.Listeners at once.
type Listener struct {
	opts    ListenerOptions
	log     *slog.Logger
	metrics Metrics
	routes  atomic.Pointer[routeTable]

	ctx    context.Context // ends when Shutdown gives up waiting
	cancel context.CancelFunc

	mu        sync.Mutex
	closing   bool
	closed    chan struct{} // closed when Shutdown starts
	listeners map[net.Listener]struct{}
	conns     map[*proxyConn]struct{}
	wg        sync.WaitGroup // Serve loops and connections
}

// NewListener returns a Listener that routes by routes, with def as the
// default group (nil for none: connections no route matches get a TLS
// unrecognized_name alert and are closed). It reports every invalid route:
// one without a group, an SNI that is neither a host name nor "*." and a
// host name, two routes for the same name, two defaults. A nil logger
// discards. The Listener serves nothing until Serve.
func NewListener(routes []Route, def *Group, opts ListenerOptions, logger *slog.Logger) (*Listener, error) {
	rt, err := newRouteTable(routes, def)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReadHelloTimeout <= 0 {
		opts.ReadHelloTimeout = DefaultReadHelloTimeout
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	l := &Listener{
		opts:      opts,
		log:       logger.With("component", "l4.listener", "listener", opts.Name),
		metrics:   opts.Metrics,
		closed:    make(chan struct{}),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*proxyConn]struct{}{},
	}
	if l.metrics == nil {
		l.metrics = noMetrics{}
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.routes.Store(rt)
	return l, nil
}

// SetRoutes replaces the routes and default group, as NewListener checks
// them, for the connections accepted from now on; connections already
// routed stay with their group. On error the routes are unchanged. A
// reload uses it to keep the listening socket.
func (l *Listener) SetRoutes(routes []Route, def *Group) error {
	rt, err := newRouteTable(routes, def)
	if err != nil {
		return err
	}
	l.routes.Store(rt)
	return nil
}

// Serve accepts connections on ln and proxies each in its own goroutine
// until ln fails or Shutdown is called. It closes ln when it returns. After
// Shutdown it returns ErrListenerClosed; otherwise the accept error. Like
// net/http, it waits and goes on when accepting fails for want of file
// descriptors.
func (l *Listener) Serve(ln net.Listener) error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		_ = ln.Close()
		return ErrListenerClosed
	}
	l.listeners[ln] = struct{}{}
	l.wg.Add(1)
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.listeners, ln)
		l.mu.Unlock()
		_ = ln.Close()
		l.wg.Done()
	}()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-l.closed:
				return ErrListenerClosed
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				l.log.Warn("accept failed; retrying", "error", err, "backoff", backoff.String())
				select {
				case <-time.After(backoff):
				case <-l.closed:
					return ErrListenerClosed
				}
				continue
			}
			return fmt.Errorf("l4: accept: %w", err)
		}
		backoff = 0
		pc, ok := l.track(c)
		if !ok {
			_ = c.Close()
			return ErrListenerClosed
		}
		go l.handle(pc)
	}
}

// Shutdown stops accepting connections and waits until the open ones end.
// If ctx ends first, it closes them, waits for their goroutines to return,
// and returns ctx's error. A connection still sending its ClientHello may
// finish it and is proxied. Shutdown does not close the groups.
func (l *Listener) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	if !l.closing {
		l.closing = true
		close(l.closed)
	}
	for ln := range l.listeners {
		_ = ln.Close()
	}
	l.mu.Unlock()
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	l.cancel()
	l.mu.Lock()
	n := len(l.conns)
	for pc := range l.conns {
		pc.close()
	}
	l.mu.Unlock()
	<-done
	l.log.Info("shutdown closed open connections", "connections", n)
	return fmt.Errorf("l4: shutdown: %w", ctx.Err())
}

// track registers an accepted connection; it reports false after Shutdown.
func (l *Listener) track(c net.Conn) (*proxyConn, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return nil, false
	}
	pc := &proxyConn{client: c}
	l.conns[pc] = struct{}{}
	l.wg.Add(1)
	return pc, true
}

// untrack forgets a connection whose goroutine is ending.
func (l *Listener) untrack(pc *proxyConn) {
	l.mu.Lock()
	delete(l.conns, pc)
	l.mu.Unlock()
	l.wg.Done()
}

// proxyConn is one client connection and, once dialled, its target
// connection.
type proxyConn struct {
	client net.Conn

	mu       sync.Mutex
	upstream net.Conn
	closed   bool
}

// setUpstream records the target connection; it reports false if the
// connection has been closed meanwhile.
func (pc *proxyConn) setUpstream(c net.Conn) bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.closed {
		return false
	}
	pc.upstream = c
	return true
}

// close closes both connections. It is idempotent.
func (pc *proxyConn) close() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.closed {
		return
	}
	pc.closed = true
	_ = pc.client.Close()
	if pc.upstream != nil {
		_ = pc.upstream.Close()
	}
}

// noMetrics is the Metrics of a Listener given none.
type noMetrics struct{}

func (noMetrics) Conn(string, string, string)        {}
func (noMetrics) Bytes(string, string, int64, int64) {}
