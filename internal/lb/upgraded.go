package lb

import (
	"bufio"
	"encoding/binary"
	"net"
	"net/http"
	"sync"
)

// upgradedConns tracks client connections that left HTTP for another
// protocol (WebSocket), which http.Server.Shutdown neither waits for nor
// closes. On shutdown tether sends each WebSocket client a close frame
// (1001, going away) and closes it, so clients reconnect at once instead of
// waiting for a dead TCP connection to time out.
type upgradedConns struct {
	mu    sync.Mutex
	conns map[*upgradedConn]struct{}
}

// upgradedConn serialises writes so that a close frame never lands inside
// another write.
type upgradedConn struct {
	net.Conn
	set       *upgradedConns
	websocket bool

	wmu    sync.Mutex
	closed bool
}

func (c *upgradedConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

func (c *upgradedConn) Close() error {
	c.set.remove(c)
	return c.Conn.Close()
}

// goingAway sends a WebSocket close frame (status 1001) and closes.
func (c *upgradedConn) goingAway() {
	c.wmu.Lock()
	if !c.closed && c.websocket {
		// FIN + opcode 8 (close), unmasked (server to client), 2-byte payload.
		frame := []byte{0x88, 0x02, 0, 0}
		binary.BigEndian.PutUint16(frame[2:], 1001)
		_, _ = c.Conn.Write(frame)
	}
	c.closed = true
	c.wmu.Unlock()
	c.Close()
}

func (s *upgradedConns) add(c *upgradedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[*upgradedConn]struct{}{}
	}
	s.conns[c] = struct{}{}
}

func (s *upgradedConns) remove(c *upgradedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// closeAll says goodbye to every upgraded connection.
func (s *upgradedConns) closeAll() {
	s.mu.Lock()
	conns := make([]*upgradedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.goingAway()
	}
}

// Hijack lets ReverseProxy take over the connection for a protocol
// upgrade, and tracks it for shutdown.
func (lw *loggingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(lw.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if lw.code == 0 {
		lw.code = http.StatusSwitchingProtocols
	}
	uc := &upgradedConn{Conn: c, set: lw.upgraded, websocket: lw.websocket}
	lw.upgraded.add(uc)
	// Writes through rw's buffer must go through uc too.
	rw.Writer.Reset(uc)
	return uc, rw, nil
}
