package lb

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// errTooManyFiles is what accept returns when the process is out of file
// descriptors: a reason to wait, not to stop listening.
const errTooManyFiles = syscall.EMFILE

// socket is a bound TCP listener that outlives the http.Servers serving
// it. A reload that changes a listener's settings but not its address
// starts a new server on the same socket and shuts the old one down, so
// the port is never closed: no connection is refused or reset, not even one
// waiting in the accept queue, as would happen with a close and re-bind.
//
// One goroutine accepts connections and hands each to whichever server's
// handle asks first; the socket closes when its last handle closes.
type socket struct {
	raw   net.Listener
	conns chan net.Conn
	stop  chan struct{} // closed when the last user releases the socket
	done  chan struct{} // closed when the accept loop ends
	err   error         // why it ended; read after done

	mu    sync.Mutex
	users int
}

// listenSocket binds addr. A port held by anyone else fails with "address
// already in use".
func listenSocket(addr string) (*socket, error) {
	raw, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &socket{raw: raw, conns: make(chan net.Conn), stop: make(chan struct{}), done: make(chan struct{})}
	go s.acceptLoop()
	return s, nil
}

func (s *socket) acceptLoop() {
	defer close(s.done)
	var backoff time.Duration
	for {
		c, err := s.raw.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Out of file descriptors or similar: wait and go on, as
				// net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			s.err = err
			return
		}
		backoff = 0
		select {
		case s.conns <- c:
		case <-s.stop:
			c.Close()
			return
		}
	}
}

// redeliver offers c to the socket's other handles, or closes it when the
// socket is closing.
func (s *socket) redeliver(c net.Conn) {
	select {
	case s.conns <- c:
	case <-s.stop:
		c.Close()
	}
}

// handle returns a net.Listener view of the socket for one http.Server.
func (s *socket) handle() *handle {
	s.mu.Lock()
	s.users++
	s.mu.Unlock()
	return &handle{s: s, closed: make(chan struct{})}
}

// release drops one user; the last one closes the socket.
func (s *socket) release() {
	s.mu.Lock()
	s.users--
	last := s.users == 0
	s.mu.Unlock()
	if last {
		close(s.stop)
		s.raw.Close()
	}
}

// handle is one server's listener on a shared socket.
type handle struct {
	s      *socket
	closed chan struct{}
	once   sync.Once
}

var _ net.Listener = (*handle)(nil)

// Accept returns the next connection of the socket, or net.ErrClosed once
// the handle is closed.
func (h *handle) Accept() (net.Conn, error) {
	select {
	case <-h.closed:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-h.s.conns:
		select {
		case <-h.closed:
			// Closed as the connection came in: it belongs to the server
			// that replaces this one.
			go h.s.redeliver(c)
			return nil, net.ErrClosed
		default:
			return c, nil
		}
	case <-h.closed:
		return nil, net.ErrClosed
	case <-h.s.done:
		return nil, h.s.err
	}
}

// Close stops this handle's Accept; the socket stays open for the others.
func (h *handle) Close() error {
	h.once.Do(func() {
		close(h.closed)
		h.s.release()
	})
	return nil
}

// Addr returns the socket's address.
func (h *handle) Addr() net.Addr { return h.s.raw.Addr() }
