package lb

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// frontWatchDelay is how long a request waits for its response head
// before the front watches its client, to abort the exchange if the
// client leaves (as net/http's background read does for every request).
const frontWatchDelay = 250 * time.Millisecond

// frontWatch notices a client that closes its connection while a target
// (or a handler) takes its time: past frontWatchDelay, a goroutine waits
// for the client's next byte, and if the client is gone it closes the
// target connection, or cancels the handler's context.
type frontWatch struct {
	fc    *frontConn
	timer *time.Timer
	pc    atomic.Pointer[h1Conn] // nil: ctx
	ctx   *handlerCtx
	state atomic.Int32 // watchArmed, watchRunning, watchOff
	gone  bool         // the client left; read after done
	done  chan struct{}

	mu       sync.Mutex // orders disarm's deadline against the watch clearing one
	stopping bool
}

const (
	watchOff int32 = iota
	watchArmed
	watchRunning
)

func (w *frontWatch) init(fc *frontConn) {
	w.fc = fc
	w.done = make(chan struct{}, 1)
	w.timer = time.AfterFunc(time.Hour, w.run)
	w.timer.Stop()
}

// arm starts the delay for an exchange on pc.
func (w *frontWatch) arm(pc *h1Conn) {
	w.pc.Store(pc)
	w.state.Store(watchArmed)
	w.timer.Reset(frontWatchDelay)
}

// armCancel starts the delay for a handler's request, whose context
// ctx is.
func (w *frontWatch) armCancel(ctx *handlerCtx) {
	w.ctx = ctx
	w.pc.Store(nil)
	w.state.Store(watchArmed)
	w.timer.Reset(frontWatchDelay)
}

func (w *frontWatch) run() {
	if !w.state.CompareAndSwap(watchArmed, watchRunning) {
		return
	}
	for {
		_, err := w.fc.br.Peek(1)
		if err != nil && isTimeout(err) {
			// A deadline left from the wait for the request, or disarm's.
			w.mu.Lock()
			stopping := w.stopping
			if !stopping {
				w.fc.rw.SetReadDeadline(time.Time{})
			}
			w.mu.Unlock()
			if !stopping {
				continue
			}
		}
		w.gone = err != nil && !isTimeout(err)
		break
	}
	if w.gone {
		if pc := w.pc.Load(); pc != nil {
			pc.conn.Close() // ends the exchange's read
		} else {
			w.ctx.cancel(context.Canceled)
		}
	}
	w.done <- struct{}{}
}

// disarm ends the watch, and reports whether the client left.
func (w *frontWatch) disarm() bool {
	if w.state.CompareAndSwap(watchArmed, watchOff) {
		w.timer.Stop()
		return false
	}
	// The watch runs: make its read return, and wait for it.
	w.mu.Lock()
	w.stopping = true
	w.fc.rw.SetReadDeadline(time.Unix(1, 0))
	w.mu.Unlock()
	<-w.done
	w.stopping = false
	w.fc.rw.SetReadDeadline(time.Time{})
	w.state.Store(watchOff)
	return w.gone
}
