package l4

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// alertUnrecognizedName is a fatal TLS unrecognized_name alert record
// (RFC 8446, sections 6 and 6.2), sent to a client whose server name no
// route serves, so that it fails with a clear error instead of a bare EOF.
var alertUnrecognizedName = []byte{21, 3, 3, 0, 2, 2, 112}

// alertWriteTimeout bounds the write of an alert to a client.
const alertWriteTimeout = time.Second

// relayBufferSize is the size of each direction's copy buffer.
const relayBufferSize = 32 << 10

var relayBuffers = sync.Pool{New: func() any { b := make([]byte, relayBufferSize); return &b }}

// handle proxies one accepted connection: it reads the ClientHello within
// ReadHelloTimeout, routes by its server name, connects to a target and
// relays bytes both ways.
func (l *Listener) handle(pc *proxyConn) {
	defer l.untrack(pc)
	defer pc.close()
	defer func() {
		if r := recover(); r != nil {
			l.log.Error("connection panicked", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	c := pc.client
	_ = c.SetReadDeadline(time.Now().Add(l.opts.ReadHelloTimeout))
	name, raw, err := ReadClientHello(c)
	if err != nil && !errors.Is(err, ErrNoSNI) {
		l.metrics.Conn("", "", OutcomeBadHello)
		l.log.Debug("no client hello", "client", c.RemoteAddr().String(), "error", err)
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	g := l.routes.Load().lookup(name)
	if g == nil {
		l.metrics.Conn("", "", OutcomeNoRoute)
		l.log.Debug("no route", "client", c.RemoteAddr().String(), "sni", name)
		_ = c.SetWriteDeadline(time.Now().Add(alertWriteTimeout))
		_, _ = c.Write(alertUnrecognizedName)
		return
	}
	l.proxy(pc, g, raw)
}

// proxy connects the client to a target of g, trying a second target if
// the first cannot be reached, and relays the connection.
func (l *Listener) proxy(pc *proxyConn, g *Group, hello []byte) {
	client := addrPort(pc.client.RemoteAddr())
	key := client.Addr().String()
	if !client.IsValid() {
		key = pc.client.RemoteAddr().String()
	}
	var failed *target
	for range 2 {
		t := g.choose(key, failed)
		if t == nil {
			l.metrics.Conn(g.cfg.Name, "", OutcomeNoTarget)
			l.log.Warn("no target can take the connection", "group", g.cfg.Name, "client", key)
			return
		}
		up, err := g.dial(l.ctx, t)
		if err != nil {
			g.release(key, t)
			if l.ctx.Err() != nil {
				return
			}
			t.st.ReportConnectError()
			l.metrics.Conn(g.cfg.Name, t.id, OutcomeConnectError)
			l.log.Warn("cannot connect to target", "group", g.cfg.Name, "target", t.id, "error", err)
			failed = t
			continue
		}
		t.total.Add(1)
		l.metrics.Conn(g.cfg.Name, t.id, OutcomeConnected)
		in, out := l.relay(pc, up, g.firstBytes(hello, pc.client))
		l.metrics.Bytes(g.cfg.Name, t.id, in, out)
		g.release(key, t)
		return
	}
}

// firstBytes returns what is written to a target before anything else:
// the PROXY protocol header, if the group sends one, and the ClientHello.
func (g *Group) firstBytes(hello []byte, client net.Conn) []byte {
	if !g.cfg.ProxyProtocol {
		return hello
	}
	b := make([]byte, 0, proxyHeaderLen+proxyAddrLen6+len(hello))
	b = AppendProxyHeader(b, addrPort(client.RemoteAddr()), addrPort(client.LocalAddr()))
	return append(b, hello...)
}

// relay writes first to up, then copies bytes both ways between the client
// and up until both directions have ended, and returns the bytes carried
// from the client (first included) and to it. A direction that ends
// cleanly is half-closed on the other side, so that the peers can finish
// their exchange; one that fails, or stalls with the other for IdleTimeout,
// closes both connections.
func (l *Listener) relay(pc *proxyConn, up net.Conn, first []byte) (in, out int64) {
	if !pc.setUpstream(up) {
		_ = up.Close()
		return 0, 0
	}
	r := &relayState{client: pc.client, up: up, idle: l.opts.IdleTimeout}
	r.arm()
	n, err := writeAll(r, up, first)
	in += int64(n)
	if err != nil {
		l.log.Debug("writing the client hello to the target failed", "error", err)
		pc.close()
		return in, 0
	}
	done := make(chan int64, 1)
	go func() {
		n, _ := r.copy(up, pc.client, pc)
		done <- n
	}()
	out, _ = r.copy(pc.client, up, pc)
	in += <-done
	pc.close()
	return in, out
}

// relayState is the shared state of the two directions of a relay: both
// connections carry a deadline IdleTimeout after the last byte either
// direction read, so the relay ends only when both have been quiet.
type relayState struct {
	client, up net.Conn
	idle       time.Duration // <= 0: no idle timeout
	last       atomic.Int64  // Unix nanoseconds of the last read
}

// arm starts the idle timer.
func (r *relayState) arm() {
	if r.idle <= 0 {
		return
	}
	now := time.Now()
	r.last.Store(now.UnixNano())
	r.setDeadline(now.Add(r.idle))
}

// touch records activity. It does not move the deadlines; extend does that
// when they pass.
func (r *relayState) touch() {
	if r.idle > 0 {
		r.last.Store(time.Now().UnixNano())
	}
}

// extend is called when an operation hit the deadline. If a byte moved
// within IdleTimeout it moves both deadlines to IdleTimeout after that
// byte and reports true; otherwise the relay is idle, and it reports false.
func (r *relayState) extend() bool {
	if r.idle <= 0 {
		return false
	}
	next := time.Unix(0, r.last.Load()).Add(r.idle)
	if !time.Now().Before(next) {
		return false
	}
	r.setDeadline(next)
	return true
}

func (r *relayState) setDeadline(t time.Time) {
	_ = r.client.SetDeadline(t)
	_ = r.up.SetDeadline(t)
}

// copy copies from src to dst until src ends or either fails. When src
// ends cleanly it half-closes dst, or closes both connections if dst
// cannot be half-closed; on failure it closes both. It returns the bytes
// written to dst.
func (r *relayState) copy(dst, src net.Conn, pc *proxyConn) (int64, error) {
	bp := relayBuffers.Get().(*[]byte)
	defer relayBuffers.Put(bp)
	buf := *bp
	var total int64
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			r.touch()
			w, werr := writeAll(r, dst, buf[:n])
			total += int64(w)
			if werr != nil {
				pc.close()
				return total, werr
			}
			r.touch()
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF):
			if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
				return total, nil
			}
			pc.close()
			return total, nil
		case errors.Is(rerr, os.ErrDeadlineExceeded) && r.extend():
		default:
			pc.close()
			return total, rerr
		}
	}
}

// writeAll writes all of p to w, going on after a deadline while the relay
// is not idle.
func writeAll(r *relayState, w net.Conn, p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := w.Write(p[done:])
		done += n
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && r.extend() {
				continue
			}
			return done, err
		}
	}
	return done, nil
}

// addrPort returns a's IP address, unmapped, and port; the zero AddrPort if
// a is not an IP address.
func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if a == nil {
		return netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
