package storeurl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/tetherlb/tether/session"
)

// unreachable reports whether err, from opening a networked store, says
// only that the server could not be reached now (refused, timed out, cut
// off), not that the URL, the credentials or the server are wrong: such a
// store is opened later (see pending).
func unreachable(err error) bool {
	var opErr *net.OpError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.As(err, &opErr)
}

// pending is a networked store that could not be reached when it was
// opened: it keeps trying to open it in the background, every retry, and
// until it has, every call fails at once with an error that says so (the
// Manager answers 503, as for a store that goes down later). A tether that
// starts during a store outage then serves all it can, rather than not
// starting at all.
type pending struct {
	open  func(context.Context) (session.Store, error)
	log   *slog.Logger
	stop  context.CancelFunc
	done  chan struct{}
	mu    sync.Mutex
	store session.Store // nil until opened
	err   error         // the last attempt's
}

// openLater returns a pending store that retries open every retry until it
// succeeds or the store is closed; first is the error of the first try.
func openLater(open func(context.Context) (session.Store, error), first error, retry time.Duration, log *slog.Logger) *pending {
	ctx, stop := context.WithCancel(context.Background())
	p := &pending{open: open, log: log, stop: stop, done: make(chan struct{}), err: first}
	log.Warn("session store unreachable; serving without it and retrying", "retry_every", retry.String(), "err", first)
	go p.retry(ctx, retry)
	return p
}

func (p *pending) retry(ctx context.Context, every time.Duration) {
	defer close(p.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		s, err := p.open(actx)
		cancel()
		p.mu.Lock()
		if err == nil && ctx.Err() == nil {
			p.store = s
			p.mu.Unlock()
			p.log.Info("session store reached")
			return
		}
		p.err = err
		p.mu.Unlock()
		if err == nil { // opened as the store was closed
			s.Close()
		}
		if err != nil && !unreachable(err) {
			p.log.Error("session store refused the connection; still retrying", "err", err)
		}
	}
}

// current returns the store once it is open, or the error to fail with.
func (p *pending) current() (session.Store, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.store == nil {
		return nil, fmt.Errorf("storeurl: the session store has not been reached yet: %w", p.err)
	}
	return p.store, nil
}

func (p *pending) Get(ctx context.Context, tenant, id string) (session.Entry, bool, error) {
	s, err := p.current()
	if err != nil {
		return session.Entry{}, false, err
	}
	return s.Get(ctx, tenant, id)
}

func (p *pending) Create(ctx context.Context, e session.Entry) (bool, error) {
	s, err := p.current()
	if err != nil {
		return false, err
	}
	return s.Create(ctx, e)
}

func (p *pending) Update(ctx context.Context, e session.Entry) (bool, error) {
	s, err := p.current()
	if err != nil {
		return false, err
	}
	return s.Update(ctx, e)
}

func (p *pending) Delete(ctx context.Context, tenant, id string) error {
	s, err := p.current()
	if err != nil {
		return err
	}
	return s.Delete(ctx, tenant, id)
}

func (p *pending) ListUser(ctx context.Context, tenant, userID string) ([]session.Entry, error) {
	s, err := p.current()
	if err != nil {
		return nil, err
	}
	return s.ListUser(ctx, tenant, userID)
}

func (p *pending) DeleteUser(ctx context.Context, tenant, userID string, except ...string) (int, error) {
	s, err := p.current()
	if err != nil {
		return 0, err
	}
	return s.DeleteUser(ctx, tenant, userID, except...)
}

// Close stops the retries and closes the store if it was opened.
func (p *pending) Close() error {
	p.stop()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.store != nil {
		return p.store.Close()
	}
	return nil
}
