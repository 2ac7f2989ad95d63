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
//
// Arming and disarming cost two atomic stores and a clock read: the
// timer is not reset for each request. It runs while requests are armed,
// firing at most once per delay, and stops at the first firing that
// finds none.
type frontWatch struct {
	fc      *frontConn
	timer   *time.Timer
	timerOn atomic.Bool            // the timer is pending (or its function runs)
	armedAt atomic.Int64           // when the current request was armed (monoNow)
	pc      atomic.Pointer[h1Conn] // nil: ctx
	ctx     *handlerCtx
	state   atomic.Int32 // watchArmed, watchRunning, watchOff
	gone    bool         // the client left; read after done
	done    chan struct{}

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
	w.timer = time.AfterFunc(time.Hour, w.tick)
	w.timer.Stop()
}

// watchEpoch is what monoNow counts from.
var watchEpoch = time.Now()

// monoNow reads the monotonic clock alone, cheaper than time.Now.
func monoNow() int64 { return int64(time.Since(watchEpoch)) }

// arm starts the delay for an exchange on pc.
func (w *frontWatch) arm(pc *h1Conn) {
	w.pc.Store(pc)
	w.start()
}

// armCancel starts the delay for a handler's request, whose context
// ctx is.
func (w *frontWatch) armCancel(ctx *handlerCtx) {
	w.ctx = ctx
	w.pc.Store(nil)
	w.start()
}

func (w *frontWatch) start() {
	w.armedAt.Store(monoNow())
	w.state.Store(watchArmed)
	if w.timerOn.CompareAndSwap(false, true) {
		w.timer.Reset(frontWatchDelay)
	}
}

// tick is the timer's function: it starts the watch of a request armed
// for frontWatchDelay, waits again for one armed more recently, and lets
// the timer stop when none is armed.
func (w *frontWatch) tick() {
	for {
		if w.state.Load() != watchArmed {
			w.timerOn.Store(false)
			// An arm between the Load and the Store saw the timer on
			// and left it: take it up.
			if w.state.Load() == watchArmed && w.timerOn.CompareAndSwap(false, true) {
				continue
			}
			return
		}
		if wait := frontWatchDelay - time.Duration(monoNow()-w.armedAt.Load()); wait > 0 {
			w.timer.Reset(wait)
			return
		}
		// The timer is free for the next request's arm once this one
		// is taken (or was disarmed meanwhile: then look again).
		if !w.state.CompareAndSwap(watchArmed, watchRunning) {
			continue
		}
		w.timerOn.Store(false)
		w.run()
		return
	}
}

// run watches the client until it sends a byte, leaves, or disarm stops
// the watch.
func (w *frontWatch) run() {
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
		return false // the timer stops at its next firing
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
