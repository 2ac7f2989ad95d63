package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"
)

// A transport sends one request of a client to the handler under test.
type transport interface {
	// newClient returns the request maker of one simulated client.
	newClient() requester
	close()
}

// A requester sends one client's requests, one at a time.
type requester interface {
	// seed creates the client's session and keeps its cookie.
	seed(ctx context.Context) error
	// do sends one request with the cookie and returns the status code
	// and the counter the handler answered with.
	do(ctx context.Context) (status, n int, err error)
}

// inProcess calls the handler directly with httptest.NewRecorder: no
// sockets, so that what is measured is the session layer.
type inProcess struct{ h http.Handler }

func (t inProcess) newClient() requester { return &inProcessClient{h: t.h} }
func (inProcess) close()                 {}

type inProcessClient struct {
	h   http.Handler
	req *http.Request // reused: the middlewares only read it
}

func (c *inProcessClient) seed(context.Context) error {
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, httptest.NewRequest("GET", "https://app.example/seed", nil))
	c.req = httptest.NewRequest("GET", "https://app.example/", nil)
	return addSessionCookie(c.req, rec.Code, rec.Result().Cookies())
}

func (c *inProcessClient) do(context.Context) (int, int, error) {
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, c.req)
	n, err := strconv.Atoi(rec.Body.String())
	return rec.Code, n, err
}

// addSessionCookie puts the session cookie the seed response set on req;
// a response without one is fine only for the no-session floor.
func addSessionCookie(req *http.Request, status int, cookies []*http.Cookie) error {
	if status != http.StatusOK {
		return fmt.Errorf("seed: status %d", status)
	}
	for _, c := range cookies {
		if c.Value != "" {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	return nil
}

// loopback serves the handler on 127.0.0.1 and sends real HTTP/1.1
// requests over kept-alive connections, one per client.
type loopback struct {
	srv    *httptest.Server
	client *http.Client
}

func newLoopback(h http.Handler, clients int) *loopback {
	srv := httptest.NewServer(h)
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, IdleConnTimeout: time.Minute}
	return &loopback{srv: srv, client: &http.Client{Transport: tr}}
}

func (t *loopback) newClient() requester { return &loopbackClient{t: t} }

func (t *loopback) close() {
	t.client.CloseIdleConnections()
	t.srv.Close()
}

type loopbackClient struct {
	t      *loopback
	cookie []*http.Cookie
}

func (c *loopbackClient) seed(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", c.t.srv.URL+"/seed", nil)
	resp, err := c.t.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	probe, _ := http.NewRequest("GET", "/", nil)
	if err := addSessionCookie(probe, resp.StatusCode, resp.Cookies()); err != nil {
		return err
	}
	c.cookie = probe.Cookies()
	return nil
}

func (c *loopbackClient) do(ctx context.Context) (int, int, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", c.t.srv.URL+"/", nil)
	for _, k := range c.cookie {
		req.AddCookie(k)
	}
	resp, err := c.t.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return resp.StatusCode, 0, err
	}
	n, err := strconv.Atoi(string(body))
	return resp.StatusCode, n, err
}

// clientResult is what one client saw while measured.
type clientResult struct {
	hist     histogram
	requests int64
	errors   int64 // failed requests, or a counter that was not the one expected
	firstErr error
}

// runClient sends requests back to back until end, recording those that
// start at or after measureFrom. In load + save mode each answer must be
// the previous one plus one; read only, it must not change.
func runClient(ctx context.Context, r requester, w work, measureFrom, end time.Time, res *clientResult) {
	want := 1 // the counter after the seed request
	for ctx.Err() == nil {
		start := time.Now()
		if !start.Before(end) {
			return
		}
		status, n, err := r.do(ctx)
		took := time.Since(start)
		if w == loadSave {
			want++
		}
		ok := err == nil && status == http.StatusOK && n == want
		if !ok && err == nil {
			err = fmt.Errorf("status %d, counter %d, want %d", status, n, want)
		}
		if w == loadSave && n > 0 {
			want = n // after an error, resynchronise
		}
		if start.Before(measureFrom) {
			continue
		}
		res.requests++
		res.hist.record(took)
		if !ok {
			res.errors++
			if res.firstErr == nil {
				res.firstErr = err
			}
		}
	}
}

// errNoRequests is returned for a run that completed no request.
var errNoRequests = errors.New("no request completed in the measured time")
