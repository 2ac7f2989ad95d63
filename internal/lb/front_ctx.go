package lb

import (
	"context"
	"sync"
	"time"
)

// handlerCtx is the context of a request a Front's handler serves. As
// net/http's, it is canceled when the handler returns, and before that
// when the client goes away. The client is watched (frontWatch) only from
// the first Done or AfterFunc, that is once something waits on the
// context, such as an origin fetch: a handler that never waits, such as a
// cache hit, pays nothing for it.
type handlerCtx struct {
	fc *frontConn

	mu       sync.Mutex
	done     chan struct{} // made by the first Done
	err      error         // set once, by cancel
	afters   []afterFunc   // AfterFunc's functions not yet stopped
	afterBuf [1]afterFunc  // afters' first backing array
	nextID   int
	watching bool // the watch is armed for this context
	// spawned records that cancel started AfterFunc functions, which
	// may read Err later: a context derived with context.WithCancel
	// cancels itself with the parent's Err from such a function, and
	// panics if it is nil. A Transient front then gives the
	// connection's next request a context of its own (see fresh)
	// instead of resetting this one under them.
	spawned bool
}

// afterFunc is one AfterFunc registration.
type afterFunc struct {
	id int
	f  func()
}

var _ context.Context = (*handlerCtx)(nil)

func (c *handlerCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

func (c *handlerCtx) Value(any) any { return nil }

func (c *handlerCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Done returns a channel closed on cancel, and starts watching the client.
func (c *handlerCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.err != nil {
			close(c.done)
		}
	}
	c.watchLocked()
	return c.done
}

// AfterFunc runs f in its own goroutine once c is canceled, as
// context.AfterFunc does; context.AfterFunc and contexts derived from c
// use it instead of a goroutine each.
func (c *handlerCtx) AfterFunc(f func()) (stop func() bool) {
	id := c.register(f)
	return func() bool { return c.unregister(id) }
}

// register runs f in its own goroutine once c is canceled, and returns
// the id that unregister takes: 0 when c was canceled already (f runs at
// once).
func (c *handlerCtx) register(f func()) (id int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		go f()
		return 0
	}
	if c.afters == nil {
		c.afters = c.afterBuf[:0]
	}
	c.nextID++
	c.afters = append(c.afters, afterFunc{id: c.nextID, f: f})
	c.watchLocked()
	return c.nextID
}

// unregister stops the function register gave id, and reports whether it
// did so before the function ran.
func (c *handlerCtx) unregister(id int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, a := range c.afters {
		if a.id == id {
			c.afters = append(c.afters[:i], c.afters[i+1:]...)
			return true
		}
	}
	return false
}

// afterCancel is context.AfterFunc, the short way for a front handler's
// context: without the wrapping context and the channel that
// context.AfterFunc makes, and without a closure for its stop.
// A context that is never canceled (context.WithoutCancel's, as the edge
// fetches with for requests that wait on it) costs nothing: f never runs.
func afterCancel(ctx context.Context, f func()) cancelHook {
	if c, ok := ctx.(*handlerCtx); ok {
		return cancelHook{c: c, id: c.register(f)}
	}
	if ctx.Done() == nil {
		return cancelHook{}
	}
	return cancelHook{stop: context.AfterFunc(ctx, f)}
}

// cancelHook is an afterCancel registration.
type cancelHook struct {
	c    *handlerCtx // the front's context it is registered with, or nil
	id   int
	stop func() bool // context.AfterFunc's stop, or nil
}

// Stop stops the function, as context.AfterFunc's stop does: it reports
// whether it stopped it before it ran. A function on a context that is
// never canceled never runs, and stopping it succeeds.
func (h cancelHook) Stop() bool {
	switch {
	case h.c != nil:
		return h.c.unregister(h.id)
	case h.stop != nil:
		return h.stop()
	}
	return true
}

// watchLocked arms the client watch, once, while the handler runs.
func (c *handlerCtx) watchLocked() {
	if !c.watching && c.err == nil {
		c.watching = true
		c.fc.watch.armCancel(c)
	}
}

// cancel cancels c with err unless it is canceled already, and reports
// whether the watch was armed for it.
func (c *handlerCtx) cancel(err error) (watching bool) {
	c.mu.Lock()
	watching = c.watching
	if c.err != nil {
		c.mu.Unlock()
		return watching
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	afters := c.afters
	c.afters = nil
	c.spawned = c.spawned || len(afters) > 0
	c.mu.Unlock()
	for _, a := range afters {
		go a.f()
	}
	return watching
}

// reusable reports whether a Transient front may reset c for the
// connection's next request: nothing it started when it was canceled can
// still read it.
func (c *handlerCtx) reusable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.spawned
}

// reset readies a Transient front's context, ended with its last
// request, for the connection's next one. nextID goes on from the last
// request's, so that a hook stopped late (after its request ended)
// matches none of the new request's.
func (c *handlerCtx) reset() {
	c.mu.Lock()
	c.done, c.err, c.afters, c.afterBuf, c.watching = nil, nil, nil, [1]afterFunc{}, false
	c.mu.Unlock()
}

// end cancels c when its handler returns, and ends the watch; it reports
// whether the client went away meanwhile.
func (c *handlerCtx) end() (gone bool) {
	if c.cancel(context.Canceled) {
		return c.fc.watch.disarm()
	}
	return false
}
