package lb_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// A handler's request context behaves as net/http's, behind a Front and
// behind a plain http.Server alike: canceled when the client leaves while
// the handler waits on it, and when the handler returns; left alone while
// the client stays, even past the front's watch delay.

// fhWait is a handler that tells started when it runs, then waits on its
// request's context, for at most hold, and sends what it saw to result:
// the context's error, with "after" the one a context derived from it
// had and whether a context.AfterFunc on it ran. It answers /probe at
// once.
type fhWait struct {
	started chan struct{}
	result  chan string
	hold    time.Duration // answer 200 after this long if nothing happened first
}

func newFhWait(hold time.Duration) *fhWait {
	return &fhWait{started: make(chan struct{}, 4), result: make(chan string, 4), hold: hold}
}

func (h *fhWait) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/probe" {
		io.WriteString(w, "probe")
		return
	}
	ctx := r.Context()
	derived, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ran := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { close(ran) })
	defer stop()
	h.started <- struct{}{}
	select {
	case <-ctx.Done():
		select {
		case <-ran:
		case <-time.After(2 * time.Second):
			h.result <- "canceled, but the AfterFunc did not run"
			return
		}
		<-derived.Done()
		h.result <- "canceled: " + ctx.Err().Error() + "; derived: " + derived.Err().Error()
	case <-time.After(h.hold):
		h.result <- "not canceled"
		io.WriteString(w, "held")
	}
}

func TestFrontHandlerContextClientLeaves(t *testing.T) {
	for _, s := range fhServers {
		t.Run(s.name, func(t *testing.T) {
			h := newFhWait(5 * time.Second)
			addr, _ := fhStart(t, s, h)
			rc := fhDial(t, addr)
			rc.send(fhGet("/wait"))
			<-h.started
			start := time.Now()
			rc.c.Close()
			select {
			case got := <-h.result:
				if want := "canceled: context canceled; derived: context canceled"; got != want {
					t.Fatalf("handler saw %q, want %q", got, want)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("the context was canceled %v after the client left", d)
				}
			case <-time.After(4 * time.Second):
				t.Fatal("the handler's context was not canceled after the client left")
			}
		})
	}
}

func TestFrontHandlerContextClientStays(t *testing.T) {
	for _, s := range fhServers {
		t.Run(s.name, func(t *testing.T) {
			// Past the front's 250 ms watch delay, with the client there:
			// the context stays, the answer arrives, and the connection
			// serves the next request.
			h := newFhWait(600 * time.Millisecond)
			addr, _ := fhStart(t, s, h)
			rc := fhDial(t, addr)
			rc.send(fhGet("/wait"))
			resp, body := rc.read("GET")
			if resp.StatusCode != http.StatusOK || body != "held" {
				t.Fatalf("got %d %q, want 200 \"held\"", resp.StatusCode, body)
			}
			if got := <-h.result; got != "not canceled" {
				t.Fatalf("handler saw %q with the client still there", got)
			}
			rc.send(fhGet("/probe"))
			rc.readOK("probe")
		})
	}
}

func TestFrontHandlerContextPipelined(t *testing.T) {
	for _, s := range fhServers {
		t.Run(s.name, func(t *testing.T) {
			// The client's next request is already there while the first
			// waits: that is not a client leaving.
			h := newFhWait(400 * time.Millisecond)
			addr, _ := fhStart(t, s, h)
			rc := fhDial(t, addr)
			rc.send(fhGet("/wait") + fhGet("/probe"))
			rc.readOK("held")
			rc.readOK("probe")
			if got := <-h.result; got != "not canceled" {
				t.Fatalf("handler saw %q", got)
			}
		})
	}
}

func TestFrontHandlerContextEndsWithHandler(t *testing.T) {
	for _, s := range fhServers {
		t.Run(s.name, func(t *testing.T) {
			kept := make(chan context.Context, 1)
			addr, _ := fhStart(t, s, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := r.Context().Err(); err != nil {
					t.Errorf("context already done in the handler: %v", err)
				}
				kept <- r.Context()
				io.WriteString(w, "ok")
			}))
			rc := fhDial(t, addr)
			rc.send(fhGet("/kept"))
			rc.readOK("ok")
			ctx := <-kept
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
				t.Fatal("the request's context was not canceled after its handler returned")
			}
			if !errors.Is(ctx.Err(), context.Canceled) {
				t.Fatalf("Err() = %v, want context.Canceled", ctx.Err())
			}
		})
	}
}

func TestFrontHandlerContextEndsWithPanic(t *testing.T) {
	for _, s := range fhServers {
		t.Run(s.name, func(t *testing.T) {
			kept := make(chan context.Context, 1)
			addr, _ := fhStart(t, s, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				context.AfterFunc(r.Context(), func() {}) // something waits on it
				kept <- r.Context()
				panic(http.ErrAbortHandler)
			}))
			rc := fhDial(t, addr)
			rc.send(fhGet("/panic"))
			if !rc.closed() {
				t.Fatal("the connection of a handler that panicked stayed open")
			}
			ctx := <-kept
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
				t.Fatal("the context of a handler that panicked was not canceled")
			}
		})
	}
}

// TestFrontContextDerivedLeftOpen: a handler that derives a context from
// its request's and returns without canceling it (as net/http's client
// does for a request still in its hands) must not crash the process when
// the connection goes on with its next request: the derived context is
// canceled with the ended request's error, which a Transient front's
// context, reused for the next request, no longer had (Go's context
// package panics on a parent that is done without an error).
func TestFrontContextDerivedLeftOpen(t *testing.T) {
	var leaked []context.CancelFunc // canceled at the end, long after
	var mu sync.Mutex
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		mu.Lock()
		leaked = append(leaked, cancel)
		mu.Unlock()
		_ = ctx
		io.WriteString(w, "ok")
	})
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, cancel := range leaked {
			cancel()
		}
	}()
	for _, s := range fhServers {
		t.Run(s.name, func(t *testing.T) {
			addr, _ := fhStart(t, s, h)
			rc := fhDial(t, addr)
			br := rc.br
			const n = 300 // pipelined: the next request starts as the last one ends
			go io.WriteString(rc.c, strings.Repeat("GET /x HTTP/1.1\r\nHost: a\r\n\r\n", n))
			for i := range n {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("response %d: %v", i, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
