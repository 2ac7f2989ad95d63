package lb

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestH1ResponsesWithoutBody(t *testing.T) {
	tr, _ := newTestH1(t)
	srv, cc := countedServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(204)
		case "/304":
			w.WriteHeader(304)
		default:
			w.Header().Set("Content-Length", "100")
			w.Write(make([]byte, 100))
		}
	})
	tests := []struct{ method, path string }{{"HEAD", "/"}, {"GET", "/204"}, {"GET", "/304"}, {"GET", "/"}}
	for _, tc := range tests {
		code, body := roundTrip(t, tr, newReq(t, tc.method, srv.URL+tc.path, nil))
		if want := map[string]int{"/204": 204, "/304": 304}[tc.path]; want != 0 && code != want || len(body) != map[string]int{"GET /": 100}[tc.method+" "+tc.path] {
			t.Errorf("%s %s: %d, %d bytes", tc.method, tc.path, code, len(body))
		}
	}
	if n := cc.opened.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestH1ExpectContinue(t *testing.T) {
	tests := []struct {
		name     string
		serve    func(c net.Conn, br *bufio.Reader, sawBody chan<- string)
		wantCode int
		wantBody string // what the target read
		want1xx  []int
	}{
		{"target says 100 Continue", func(c net.Conn, br *bufio.Reader, sawBody chan<- string) {
			req, _ := http.ReadRequest(br)
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
			b, _ := io.ReadAll(req.Body)
			sawBody <- string(b)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}, 200, "data", []int{100}},
		{"target refuses before the body", func(c net.Conn, br *bufio.Reader, sawBody chan<- string) {
			http.ReadRequest(br)
			io.WriteString(c, "HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(time.Second))
			b, _ := io.ReadAll(br)
			sawBody <- string(b)
		}, 417, "", nil},
		{"target ignores Expect", func(c net.Conn, br *bufio.Reader, sawBody chan<- string) {
			req, _ := http.ReadRequest(br)
			b, _ := io.ReadAll(req.Body) // arrives after continueTimeout
			sawBody <- string(b)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}, 200, "data", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, _ := newTestH1(t)
			tr.continueTimeout = 50 * time.Millisecond
			sawBody := make(chan string, 1)
			addr, _ := rawTarget(t, func(c net.Conn, br *bufio.Reader) { tc.serve(c, br, sawBody) })
			var got1xx []int
			trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
				got1xx = append(got1xx, code)
				return nil
			}}
			req := newReq(t, "PUT", "http://"+addr+"/", io.NopCloser(strings.NewReader("data")))
			req.ContentLength = 4
			req.Header.Set("Expect", "100-continue")
			req = req.WithContext(httptrace.WithClientTrace(context.Background(), trace))
			if code, _ := roundTrip(t, tr, req); code != tc.wantCode {
				t.Errorf("status %d, want %d", code, tc.wantCode)
			}
			if b := <-sawBody; b != tc.wantBody {
				t.Errorf("target read body %q, want %q", b, tc.wantBody)
			}
			if fmt.Sprint(got1xx) != fmt.Sprint(tc.want1xx) {
				t.Errorf("1xx responses seen: %v, want %v", got1xx, tc.want1xx)
			}
		})
	}
}

// TestH1AnswerBeforeBody: a target may answer before it has read the
// body (RFC 9112, section 9.5); the answer comes through while the body is
// still streaming, and the body is closed.
func TestH1AnswerBeforeBody(t *testing.T) {
	tr, _ := newTestH1(t)
	done := make(chan struct{})
	addr, _ := rawTarget(t, func(c net.Conn, br *bufio.Reader) {
		http.ReadRequest(br) // the head only
		io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
		<-done // without reading the body
	})
	defer close(done)
	body := &closeTracker{Reader: pattern{}}
	req := newReq(t, "POST", "http://"+addr+"/", body) // endless, chunked
	start := time.Now()
	if code, _ := roundTrip(t, tr, req); code != http.StatusRequestEntityTooLarge || time.Since(start) > time.Second {
		t.Errorf("status %d after %v; want 413 at once", code, time.Since(start))
	}
	waitUntil(t, "the request body closed", body.closed.Load)
}

// closeTracker records that it was closed.
type closeTracker struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeTracker) Close() error {
	c.closed.Store(true)
	return nil
}

// TestH1EarlyHintsThroughReverseProxy: ReverseProxy forwards a 103 it
// learns of through ClientTrace.Got1xxResponse.
func TestH1EarlyHintsThroughReverseProxy(t *testing.T) {
	tr, _ := newTestH1(t)
	addr, _ := rawTarget(t, func(c net.Conn, br *bufio.Reader) {
		http.ReadRequest(br)
		io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	proxy := httptest.NewServer(&httputil.ReverseProxy{Transport: tr, Rewrite: func(pr *httputil.ProxyRequest) {
		pr.Out.URL.Scheme, pr.Out.URL.Host = "http", addr
	}})
	t.Cleanup(proxy.Close)
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		hints = append(hints, fmt.Sprintf("%d %s", code, h.Get("Link")))
		return nil
	}}
	req := newReq(t, "GET", proxy.URL, nil).WithContext(httptrace.WithClientTrace(context.Background(), trace))
	if code, body := roundTrip(t, &http.Transport{}, req); code != 200 || body != "ok" {
		t.Errorf("%d %q", code, body)
	}
	if fmt.Sprint(hints) != "[103 </app.css>; rel=preload]" {
		t.Errorf("client saw 1xx %v, want the 103 with its Link", hints)
	}
}

func TestH1BodyClosedEarlyClosesConnection(t *testing.T) {
	tr, _ := newTestH1(t)
	srv, cc := countedServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Length", fmt.Sprint(1<<20))
			io.Copy(w, io.LimitReader(pattern{}, 1<<20))
			return
		}
		io.WriteString(w, "ok")
	})
	resp, err := tr.RoundTrip(newReq(t, "GET", srv.URL+"/big", nil))
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(resp.Body, make([]byte, 10))
	resp.Body.Close()
	if _, err := resp.Body.Read(make([]byte, 1)); err == nil {
		t.Error("Read after Close succeeded")
	}
	waitUntil(t, "the target sees the connection closed", func() bool { return cc.closed.Load() == 1 })
	roundTrip(t, tr, newReq(t, "GET", srv.URL, nil))
	if n, idle := cc.opened.Load(), tr.idle.Load(); n != 2 || idle != 1 {
		t.Errorf("%d connections opened, %d idle; want 2 and 1", n, idle)
	}
}

func TestH1CancelMidResponse(t *testing.T) {
	tr, _ := newTestH1(t)
	targetSawClose := make(chan bool, 1)
	srv, _ := countedServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first part")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done(): // the server saw the connection close
			targetSawClose <- true
		case <-time.After(5 * time.Second):
			targetSawClose <- false
		}
	})
	for _, apart := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp, err := roundTripCtx(tr, ctx, newReq(t, "GET", srv.URL, nil), apart)
		if err != nil {
			t.Fatal(err)
		}
		testCancelMidResponse(t, resp, cancel, targetSawClose)
	}
}

// roundTripCtx sends req with the context ctx: as its own context
// (RoundTrip of req.WithContext), or apart (RoundTripHeader) when apart.
func roundTripCtx(tr *h1Transport, ctx context.Context, req *http.Request, apart bool) (*http.Response, error) {
	if apart {
		return tr.RoundTripHeader(ctx, req, nil)
	}
	return tr.RoundTrip(req.WithContext(ctx))
}

func testCancelMidResponse(t *testing.T, resp *http.Response, cancel func(), targetSawClose chan bool) {
	t.Helper()
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, len("first part"))); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: %v, want context.Canceled", err)
	}
	if !<-targetSawClose {
		t.Error("the target never saw the connection close")
	}
}

func TestH1CancelBeforeResponse(t *testing.T) {
	tr, _ := newTestH1(t)
	targetSawClose := make(chan bool, 1)
	addr, _ := rawTarget(t, func(c net.Conn, br *bufio.Reader) {
		http.ReadRequest(br) // and never answer
		_, err := br.ReadByte()
		targetSawClose <- err == io.EOF
	})
	for _, apart := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := roundTripCtx(tr, ctx, newReq(t, "GET", "http://"+addr+"/", nil), apart)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
			t.Errorf("RoundTrip (context apart: %v) returned %v after %v; want the deadline, promptly", apart, err, time.Since(start))
		}
		if !<-targetSawClose {
			t.Errorf("context apart: %v: the target never saw the connection close", apart)
		}
	}
}

func TestH1RefusesBadHeads(t *testing.T) {
	tr, _ := newTestH1(t)
	srv, cc := countedServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tests := []struct {
		name   string
		header http.Header
	}{
		{"CR LF in a value", http.Header{"X-A": {"a\r\nX-Injected: 1"}}},
		{"LF in a value", http.Header{"X-A": {"a\nb"}}},
		{"NUL in a value", http.Header{"X-A": {"a\x00b"}}},
		{"space in a name", http.Header{"X A": {"b"}}},
		{"colon in a name", http.Header{"X-A:": {"b"}}},
		{"CR LF in User-Agent", http.Header{"User-Agent": {"a\r\n\r\nGET /smuggled HTTP/1.1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := newReq(t, "GET", srv.URL, nil)
			req.Header = tc.header
			if resp, err := tr.RoundTrip(req); !errors.Is(err, errH1BadHead) {
				t.Fatalf("got %v, %v; want a refusal", resp, err)
			}
		})
	}
	if code, body := roundTrip(t, tr, newReq(t, "GET", srv.URL, nil)); code != 200 || body != "ok" {
		t.Errorf("request after the refused ones: %d %q", code, body)
	}
	if n := cc.opened.Load(); n != 1 {
		t.Errorf("%d connections, want 1: a refused head sends nothing and keeps the connection", n)
	}
}

func TestH1DialFailureIsConnectFailure(t *testing.T) {
	tr, _ := newTestH1(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // a dead target
	_, err := tr.RoundTrip(newReq(t, "GET", "http://"+addr+"/", nil))
	if err == nil || !connectFailure(err) {
		t.Errorf("dial failure %v: connectFailure = false", err)
	}
}

func TestH1IdleTimeout(t *testing.T) {
	tr, clk := newTestH1(t)
	srv, cc := countedServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	roundTrip(t, tr, newReq(t, "GET", srv.URL, nil))
	clk.Advance(idleConnTimeout + time.Second)
	roundTrip(t, tr, newReq(t, "GET", srv.URL, nil))
	if n := cc.opened.Load(); n != 2 {
		t.Errorf("%d connections, want a new one after the idle timeout", n)
	}
	waitUntil(t, "the expired connection closed", func() bool { return cc.closed.Load() == 1 })
	clk.Advance(idleConnTimeout + time.Second)
	tr.prune() // what the transport's timer runs
	waitUntil(t, "the pruned connection closed", func() bool { return cc.closed.Load() == 2 })
	if n := tr.idle.Load(); n != 0 {
		t.Errorf("%d idle after pruning, want 0", n)
	}
}

func TestH1CloseIdleConnections(t *testing.T) {
	tr, _ := newTestH1(t)
	srv, cc := countedServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	roundTrip(t, tr, newReq(t, "GET", srv.URL, nil))
	tr.CloseIdleConnections()
	waitUntil(t, "the idle connection closed", func() bool { return cc.closed.Load() == 1 })
}

// TestH1DelegatesUpgrades: a protocol upgrade goes to net/http's
// Transport, whose 101 response body is the connection, as ReverseProxy
// needs.
func TestH1DelegatesUpgrades(t *testing.T) {
	tr, _ := newTestH1(t)
	addr, _ := rawTarget(t, func(c net.Conn, br *bufio.Reader) {
		http.ReadRequest(br)
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		line, _ := br.ReadString('\n')
		io.WriteString(c, "echo: "+line)
	})
	req := newReq(t, "GET", "http://"+addr+"/", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if resp.StatusCode != 101 || !ok {
		t.Fatalf("%d, writable body %v", resp.StatusCode, ok)
	}
	defer rwc.Close()
	io.WriteString(rwc, "hi\n")
	if line, _ := bufio.NewReader(rwc).ReadString('\n'); line != "echo: hi\n" {
		t.Errorf("echo %q", line)
	}
}

func TestH1ConcurrentRequests(t *testing.T) {
	tr, _ := newTestH1(t)
	srv, _ := countedServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				payload := fmt.Sprintf("g%d-%d", g, i)
				var req *http.Request
				switch i % 3 {
				case 0:
					req = newReq(t, "GET", srv.URL, nil)
					payload = ""
				case 1:
					req = newReq(t, "POST", srv.URL, strings.NewReader(payload)) // Content-Length
				default:
					req = newReq(t, "POST", srv.URL, io.NopCloser(strings.NewReader(payload))) // chunked
				}
				if code, body := roundTrip(t, tr, req); code != 200 || body != req.Method+" "+payload {
					t.Errorf("%d %q", code, body)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// FuzzH1WriteHead: whatever the header, writeHead either refuses it or
// writes a head that a server parses back to the same fields, and no more.
func FuzzH1WriteHead(f *testing.F) {
	f.Add("X-Test", "value", "/path", "q=1")
	f.Add("X-Test", "a\r\nX-Injected: 1", "/", "")
	f.Add("X Test", "v", "/a b", "x")
	f.Add("Cookie", "\tpadded ", "/%2F", "a=%00")
	f.Add("X", "v", "/", "a b")
	f.Fuzz(func(t *testing.T, name, value, path, query string) {
		path = "/" + strings.TrimPrefix(path, "/") // as every request the server hands over
		req := &http.Request{Method: "GET", URL: &url.URL{Scheme: "http", Host: "t:80", Path: path, RawQuery: query},
			Host: "app.example", Header: http.Header{name: {value}, "User-Agent": {""}}}
		var buf bytes.Buffer
		pc := &h1Conn{bw: bufio.NewWriter(&buf)}
		if err := pc.writeHead(req, 0); err != nil {
			if !errors.Is(err, errH1BadHead) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		pc.bw.Flush()
		head := buf.String()
		got, err := http.ReadRequest(bufio.NewReader(&buf))
		if err != nil {
			if name == "Host" || strings.EqualFold(name, "content-length") || strings.EqualFold(name, "transfer-encoding") {
				return // net/http's own reading rules for these
			}
			t.Fatalf("server cannot parse the head %q: %v", head, err)
		}
		if got.Host != "app.example" || got.URL.RawQuery != req.URL.RawQuery && req.URL.RawQuery != "" {
			t.Fatalf("host %q, query %q from %q", got.Host, got.URL.RawQuery, head)
		}
		for k := range got.Header {
			if k != http.CanonicalHeaderKey(name) {
				t.Fatalf("head %q has a field %q it was not given", head, k)
			}
		}
	})
}

// waitUntil polls cond for up to 5 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestH1Too1xx: a target that sends informational responses without end
// fails the exchange, even when a ClientTrace takes them (which gives each
// one the head limit to itself), rather than keeping it forever.
func TestH1Too1xx(t *testing.T) {
	tr, _ := newTestH1(t)
	addr, _ := rawTarget(t, func(c net.Conn, br *bufio.Reader) {
		http.ReadRequest(br)
		for range 1000 {
			if _, err := io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"); err != nil {
				return
			}
		}
	})
	hints := 0
	trace := &httptrace.ClientTrace{Got1xxResponse: func(int, textproto.MIMEHeader) error { hints++; return nil }}
	req := newReq(t, "GET", "http://"+addr+"/", nil).WithContext(httptrace.WithClientTrace(context.Background(), trace))
	if resp, err := tr.RoundTrip(req); !errors.Is(err, errH1Too1xx) {
		t.Fatalf("got %v, %v; want the exchange failed for too many 1xx", resp, err)
	}
	if hints != h1Max1xx+1 {
		t.Errorf("the trace saw %d 1xx responses, want %d", hints, h1Max1xx+1)
	}
}
