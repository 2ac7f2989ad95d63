package lb

import (
	"bufio"
	"context"
	"io"
	"math"
	"net"
	"slices"
	"sync"
	"time"
)

// h1Conn is one connection to a target, with the buffers that live with it.
type h1Conn struct {
	pool  *h1Pool // where it idles
	conn  net.Conn
	br    *bufio.Reader // reads through the h1Conn: read limit, EOF seen
	bw    *bufio.Writer // writes through h1Writer: bytes written
	abort func()        // closes conn; hooked to each request's context

	idleAt time.Time // when it last went idle
	reused bool      // it carried a whole exchange before
	// readTimeout is the transport's (h1Transport.readTimeout);
	// readDeadline is the read deadline set on conn, zero for none.
	readTimeout  time.Duration
	readDeadline time.Time
	nwrite       int64
	readLimit    int64
	sawEOF       bool // the target closed its side
}

func (t *h1Transport) dialConn(ctx context.Context, p *h1Pool, addr string) (*h1Conn, error) {
	c, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, err
	}
	pc := &h1Conn{pool: p, conn: c, readLimit: math.MaxInt64, readTimeout: t.readTimeout}
	pc.br = bufio.NewReaderSize(pc, h1BufSize)
	pc.bw = bufio.NewWriterSize(h1Writer{pc}, h1BufSize)
	pc.abort = func() { c.Close() }
	return pc, nil
}

// Read is what pc.br reads from.
func (pc *h1Conn) Read(p []byte) (int, error) {
	if pc.readLimit <= 0 {
		return 0, errH1HeadTooLarge
	}
	if int64(len(p)) > pc.readLimit {
		p = p[:pc.readLimit]
	}
	if pc.readTimeout > 0 {
		pc.armRead()
	}
	n, err := pc.conn.Read(p)
	if err == io.EOF {
		pc.sawEOF = true
	}
	pc.readLimit -= int64(n)
	return n, err
}

// armRead makes sure that a read waits at most readTimeout, and at least
// readTimeout less readSlack: setting a deadline costs more than reading
// the clock, so it is moved on only when it has come that close.
func (pc *h1Conn) armRead() {
	now := time.Now()
	if pc.readDeadline.Sub(now) >= pc.readTimeout-readSlack(pc.readTimeout) {
		return
	}
	pc.readDeadline = now.Add(pc.readTimeout)
	pc.conn.SetReadDeadline(pc.readDeadline)
}

// readSlack is how much earlier than d a read may time out: a twelfth of
// d, at most 5 seconds.
func readSlack(d time.Duration) time.Duration { return min(d/12, 5*time.Second) }

type h1Writer struct{ pc *h1Conn }

func (w h1Writer) Write(p []byte) (int, error) {
	n, err := w.pc.conn.Write(p)
	w.pc.nwrite += int64(n)
	return n, err
}

func closeAll(conns []*h1Conn) {
	for _, pc := range conns {
		pc.conn.Close()
	}
}

// h1Pool holds the idle connections to one target, the most recently used
// on top: under load a few hot connections serve, and the rest age out.
type h1Pool struct {
	mu   sync.Mutex
	idle []*h1Conn // idle[0] went idle first
}

func (t *h1Transport) pool(addr string) *h1Pool {
	if p, ok := t.pools.Load(addr); ok {
		return p.(*h1Pool)
	}
	p, _ := t.pools.LoadOrStore(addr, &h1Pool{})
	return p.(*h1Pool)
}

// get takes the most recently used idle connection, or returns nil. If it
// has expired, so have all below it: they are closed.
func (p *h1Pool) get(t *h1Transport) *h1Conn {
	p.mu.Lock()
	n := len(p.idle)
	if n == 0 {
		p.mu.Unlock()
		return nil
	}
	pc := p.idle[n-1]
	if t.clk.Now().Sub(pc.idleAt) <= t.idleTimeout {
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		t.idle.Add(-1)
		return pc
	}
	expired := p.takeLocked(time.Time{})
	p.mu.Unlock()
	t.idle.Add(-int64(len(expired)))
	closeAll(expired)
	return nil
}

// put makes pc idle on top of its pool, or closes it when the pool is full
// or CloseIdleConnections asked for it. It closes the pool's expired
// connections on the way and makes sure a prune is scheduled.
func (t *h1Transport) put(pc *h1Conn) {
	if t.closeIdle.Load() || t.idle.Load() >= t.maxIdle {
		pc.conn.Close()
		return
	}
	now, p := t.clk.Now(), pc.pool
	p.mu.Lock()
	if len(p.idle) >= t.maxIdlePerHost {
		p.mu.Unlock()
		pc.conn.Close()
		return
	}
	pc.idleAt = now
	p.idle = append(p.idle, pc)
	var expired []*h1Conn
	if cutoff := now.Add(-t.idleTimeout); p.idle[0].idleAt.Before(cutoff) {
		expired = p.takeLocked(cutoff)
	}
	p.mu.Unlock()
	t.idle.Add(1 - int64(len(expired)))
	closeAll(expired)
	if !t.pruning.Load() && t.pruning.CompareAndSwap(false, true) {
		time.AfterFunc(t.idleTimeout, t.prune)
	}
}

// takeLocked removes and returns the connections that went idle at or
// before cutoff (the bottom of the stack); all of them for a zero cutoff.
func (p *h1Pool) takeLocked(cutoff time.Time) []*h1Conn {
	k := len(p.idle)
	if !cutoff.IsZero() {
		k = 0
		for k < len(p.idle) && !p.idle[k].idleAt.After(cutoff) {
			k++
		}
	}
	if k == 0 {
		return nil
	}
	out := slices.Clone(p.idle[:k])
	n := copy(p.idle, p.idle[k:])
	clear(p.idle[n:])
	p.idle = p.idle[:n]
	return out
}

// closeOlder closes the idle connections that went idle at or before
// cutoff; all of them for a zero cutoff.
func (p *h1Pool) closeOlder(t *h1Transport, cutoff time.Time) {
	p.mu.Lock()
	old := p.takeLocked(cutoff)
	p.mu.Unlock()
	t.idle.Add(-int64(len(old)))
	closeAll(old)
}

// prune closes the expired idle connections of every pool, and runs again
// while connections idle, so that none outlives idleTimeout by more than
// half of it. A single timer serves the whole transport.
func (t *h1Transport) prune() {
	t.pruning.Store(false)
	cutoff := t.clk.Now().Add(-t.idleTimeout)
	left := false
	t.pools.Range(func(_, v any) bool {
		p := v.(*h1Pool)
		p.closeOlder(t, cutoff)
		p.mu.Lock()
		left = left || len(p.idle) > 0
		p.mu.Unlock()
		return true
	})
	if left && t.pruning.CompareAndSwap(false, true) {
		time.AfterFunc(t.idleTimeout/2, t.prune)
	}
}
