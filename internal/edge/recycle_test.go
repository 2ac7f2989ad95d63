package edge_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The origin requests of GETs, and the maps their responses' headers are
// read into, are recycled (originPool): a request must never carry a
// header, cookie or validator of an earlier one, nor a response a field
// of an earlier response.
func TestOriginRequestsRecycled(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 1h}
    origin_request: {cookies: all, headers: [X-Token], query: all}
`)
	e.origin.set(answer(200, "v1", "Cache-Control: max-age=1", `ETag: "v1"`, "X-First: yes"))
	if r := e.get("/a", "X-Token: t1", "Cookie: c=1"); r.header.Get("X-First") != "yes" {
		t.Fatalf("first response lacks the origin's X-First: %v", r.header)
	}
	e.origin.set(answer(200, "v1", "Cache-Control: max-age=1", `ETag: "v1"`))
	first := e.origin.last()
	if first.Header.Get("X-Token") != "t1" || first.Header.Get("Cookie") != "c=1" {
		t.Fatalf("first origin request: X-Token %q, Cookie %q", first.Header.Get("X-Token"), first.Header.Get("Cookie"))
	}

	r := e.get("/r")
	expect(t, "GET /r", r, "stored")
	if v := r.header.Get("X-First"); v != "" {
		t.Errorf("response for /r carries X-First %q of an earlier response", v)
	}
	e.clk.Advance(2 * time.Second) // /r is stale: revalidated with its ETag
	expect(t, "GET /r, stale", e.get("/r"), "fwd=stale")
	reval := e.origin.last()
	if reval.Header.Get("If-None-Match") != `"v1"` {
		t.Errorf("revalidation: If-None-Match %q", reval.Header.Get("If-None-Match"))
	}

	e.get("/b")
	miss := e.origin.last()
	for _, r := range []*http.Request{reval, miss} {
		for _, h := range []string{"X-Token", "Cookie"} {
			if v := r.Header.Get(h); v != "" {
				t.Errorf("origin request for %s carries %s %q of an earlier request", r.URL.Path, h, v)
			}
		}
	}
	if v := miss.Header.Get("If-None-Match"); v != "" {
		t.Errorf("miss of /b carries the revalidation's If-None-Match %q", v)
	}

	// Concurrent misses: each origin request has its own path and token.
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("X-Path", r.URL.Path)
		fmt.Fprintf(w, "%s %s", r.URL.Path, r.Header.Get("X-Token"))
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				path, token := fmt.Sprintf("/c/%d/%d", g, i), fmt.Sprintf("t-%d-%d", g, i)
				req, _ := http.NewRequest("GET", e.url+path, nil)
				req.Header.Set("X-Token", token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := path + " " + token; string(b) != want || resp.Header.Get("X-Path") != path {
					t.Errorf("GET %s: origin saw %q, want %q; X-Path %q", path, b, want, resp.Header.Get("X-Path"))
				}
			}
		})
	}
	wg.Wait()
}

// Exchanges are recycled (700 bytes a request), and a response's header
// values are cut from an array the front lends per connection: the head
// is written after ServeHTTP has returned, when the request's exchange
// may already serve another connection. Every response must still carry
// its own object's fields, under hits and misses from many connections.
func TestExchangesRecycled(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 1h}
`)
	e.origin.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("X-Path", r.URL.Path)
		w.Header().Set("ETag", `"`+r.URL.Path+`"`)
		fmt.Fprint(w, r.URL.Path+strings.Repeat(".", len(r.URL.Path)*7))
	})
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Go(func() {
			for i := range 150 {
				path := fmt.Sprintf("/o/%d", (g*7+i)%40) // shared by goroutines: hits, misses and collapsed waiters
				resp, err := client.Get(e.url + path)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := path + strings.Repeat(".", len(path)*7)
				if string(b) != want || resp.Header.Get("X-Path") != path || resp.Header.Get("ETag") != `"`+path+`"` ||
					resp.Header.Get("Content-Length") != strconv.Itoa(len(want)) ||
					!strings.Contains(resp.Header.Get("Cache-Status"), "edge;") {
					t.Errorf("GET %s: body %q, X-Path %q, ETag %q, Content-Length %q, Cache-Status %q", path, b,
						resp.Header.Get("X-Path"), resp.Header.Get("ETag"), resp.Header.Get("Content-Length"), resp.Header.Get("Cache-Status"))
					return
				}
			}
		})
	}
	wg.Wait()
}
