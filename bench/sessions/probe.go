package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"time"
)

// probeResult is what one client, sending its requests one at a time,
// costs on Redis per request.
type probeResult struct {
	c        *contender
	requests int
	writes   float64 // socket writes to Redis per request: round trips
	reads    float64 // socket reads from Redis per request
	redis    redisStats
	hist     histogram // latency of the measured requests
}

// probe sends n requests of c one at a time from one client over counting
// connections, after a short warm-up, and reports the client's socket
// writes and Redis's commands per request. With one request in flight, a
// write is a round trip: neither client pipelines across requests.
func (b *bench) probe(ctx context.Context, c *contender, n int) (*probeResult, error) {
	if err := b.admin.flush(); err != nil {
		return nil, err
	}
	var cnt connCounter
	h, closeFn, err := c.setup(b.env(c, &cnt))
	if err != nil {
		return nil, fmt.Errorf("%s: setup: %w", c.name, err)
	}
	defer closeFn()
	r := inProcess{h}.newClient()
	if err := r.seed(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	res := &probeResult{c: c, requests: n}
	send := func(count int, h *histogram) error {
		for range count {
			start := time.Now()
			status, _, err := r.do(ctx)
			if err != nil || status != http.StatusOK {
				return fmt.Errorf("%s: probe request: status %d, %v", c.name, status, err)
			}
			h.record(time.Since(start))
		}
		return nil
	}
	if err := send(100, new(histogram)); err != nil {
		return nil, err
	}
	w0, r0 := cnt.writes.Load(), cnt.reads.Load()
	s0, err := b.admin.stats()
	if err != nil {
		return nil, err
	}
	if err := send(n, &res.hist); err != nil {
		return nil, err
	}
	w1, r1 := cnt.writes.Load(), cnt.reads.Load()
	s1, err := b.admin.stats()
	if err != nil {
		return nil, err
	}
	res.writes = float64(w1-w0) / float64(n)
	res.reads = float64(r1-r0) / float64(n)
	res.redis = s1.sub(s0)
	return res, nil
}

// memResult is the heap a manager and its memory store keep per session.
type memResult struct {
	c        *contender
	sessions int
	overhead float64 // bytes per session beyond the value
}

// chromeUA is a browser's User-Agent: tether records it with the session.
const chromeUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"

// memoryPerSession creates n sessions through c's middleware, each holding
// one value of valueSize bytes (a JSON string for tether, a Go string for
// scs), and returns the live heap they add per session
// beyond the value.
func (b *bench) memoryPerSession(c *contender, n, valueSize int) (*memResult, error) {
	e := b.env(c, nil)
	e.payload = strings.Repeat("x", valueSize-2) // valueSize bytes once JSON-quoted
	e.valueOnly = true
	var before, after runtime.MemStats
	settle()
	runtime.ReadMemStats(&before)
	h, closeFn, err := c.setup(e)
	if err != nil {
		return nil, fmt.Errorf("%s: setup: %w", c.name, err)
	}
	defer closeFn()
	for range n {
		req := httptest.NewRequest("GET", "https://app.example/seed", nil)
		req.Header.Set("User-Agent", chromeUA)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			return nil, fmt.Errorf("%s: status %d creating a session", c.name, rec.Code)
		}
	}
	settle()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(h)
	grown := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	return &memResult{c: c, sessions: n, overhead: grown/float64(n) - float64(valueSize)}, nil
}

// settle collects garbage until the live heap stops shrinking: objects
// with finalizers (closed connections, files) need more than one cycle.
func settle() {
	var m runtime.MemStats
	prev := ^uint64(0)
	for range 5 {
		runtime.GC()
		runtime.ReadMemStats(&m)
		if m.HeapAlloc >= prev {
			return
		}
		prev = m.HeapAlloc
	}
}
