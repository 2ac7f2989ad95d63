package lb_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/lb"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// These tests hold lb.Front, which serves any http.Handler on the front's
// own HTTP/1.1 loop with its own ResponseWriter, to net/http: each handler
// runs once behind a Front and once behind a plain http.Server, the same
// raw bytes go to both, and what a client observes must agree, but for
// the order of header fields. Which ResponseWriter served each request is
// recorded, so that a test about the front fails loudly if its request
// went to net/http instead.

// TestFrontHandlerAsNetHTTP: the same handler behind a Front and behind a
// plain http.Server, given the same bytes, answers the same: status,
// body, framing, Content-Type, Date, Connection: close, whether the
// connection stays usable, and what the handler's writes return.
func TestFrontHandlerAsNetHTTP(t *testing.T) {
	type handler = func(w http.ResponseWriter, r *http.Request, note func(string))
	write := func(parts ...string) handler {
		return func(w http.ResponseWriter, _ *http.Request, _ func(string)) {
			for _, p := range parts {
				io.WriteString(w, p)
			}
		}
	}
	// typed is write with a Content-Type set: for cases about framing,
	// not sniffing.
	typed := func(parts ...string) handler {
		return func(w http.ResponseWriter, r *http.Request, note func(string)) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			write(parts...)(w, r, note)
		}
	}
	a := func(n int) string { return strings.Repeat("a", n) }
	html := "<!DOCTYPE html><html><body>hi</body></html>"
	bigHTML := "<html><body>" + a(3000) + "</body></html>"
	chunked := func(body, typ string) fhResult {
		return fhResult{Status: 200, Body: body, Length: -1, Chunked: true, Type: typ, Date: true}
	}
	withType := func(r fhResult, typ string) fhResult { r.Type = typ; return r }
	const textPlain = "text/plain; charset=utf-8"
	const textHTML = "text/html; charset=utf-8"
	head := "HEAD / HTTP/1.1\r\nHost: app.example\r\n\r\n"

	tests := []struct {
		name string
		reqs []string // nil: GET /
		h    handler
		want fhRun
		// anyOpen skips comparing Open, where net/http closes a
		// connection it could keep and keeping it is as good.
		anyOpen bool
		// late: the handler changes its header after WriteHeader, which
		// a Transient front's handler promises not to do; the case
		// skips that front.
		late bool
	}{
		// Framing.
		{name: "small body gets Content-Length", h: write("hello"),
			want: fhRun{Results: []fhResult{fhOK("hello")}, Open: true}},
		{name: "2048 bytes still get Content-Length", h: typed(a(2048)),
			want: fhRun{Results: []fhResult{fhOK(a(2048))}, Open: true}},
		{name: "2049 bytes in one write go chunked", h: typed(a(2049)),
			want: fhRun{Results: []fhResult{chunked(a(2049), textPlain)}, Open: true}},
		{name: "small writes past 2048 go chunked", h: typed(a(1000), a(1000), a(1000)),
			want: fhRun{Results: []fhResult{chunked(a(3000), textPlain)}, Open: true}},
		{name: "handler's Content-Length is kept", h: func(w http.ResponseWriter, _ *http.Request, _ func(string)) {
			w.Header().Set("Content-Length", "3000")
			w.Header().Set("Content-Type", textPlain)
			io.WriteString(w, a(3000))
		}, want: fhRun{Results: []fhResult{fhOK(a(3000))}, Open: true}},

		// Content-Type sniffing.
		{name: "HTML is sniffed", h: write(html),
			want: fhRun{Results: []fhResult{withType(fhOK(html), textHTML)}, Open: true}},
		{name: "HTML in one write over 2048 bytes is sniffed", h: write(bigHTML),
			want: fhRun{Results: []fhResult{chunked(bigHTML, textHTML)}, Open: true}},
		{name: "no sniffing with Content-Encoding", h: func(w http.ResponseWriter, _ *http.Request, _ func(string)) {
			w.Header().Set("Content-Encoding", "identity")
			io.WriteString(w, html)
		}, want: fhRun{Results: []fhResult{withType(fhOK(html), "-")}, Open: true}},
		{name: "no sniffing with a nil Content-Type", h: func(w http.ResponseWriter, _ *http.Request, _ func(string)) {
			w.Header()["Content-Type"] = nil
			io.WriteString(w, html)
		}, want: fhRun{Results: []fhResult{withType(fhOK(html), "-")}, Open: true}},

		// Responses without a body.
		{name: "HEAD of a short body", reqs: []string{head}, h: typed("hello"),
			want: fhRun{Results: []fhResult{{Status: 200, Length: 5, Type: textPlain, Date: true}}, Open: true}},
		{name: "HEAD of a body over 2048 bytes", reqs: []string{head}, h: typed(a(3000)),
			want: fhRun{Results: []fhResult{{Status: 200, Length: -1, Type: textPlain, Date: true}}, Open: true}},
		{name: "HEAD is sniffed as GET is", reqs: []string{head}, h: write(html),
			want: fhRun{Results: []fhResult{{Status: 200, Length: int64(len(html)), Type: textHTML, Date: true}}, Open: true}},
		{name: "HEAD with nothing written", reqs: []string{head}, h: write(),
			want: fhRun{Results: []fhResult{{Status: 200, Length: -1, Type: "-", Date: true}}, Open: true}},
		{name: "204 refuses a body", h: func(w http.ResponseWriter, _ *http.Request, note func(string)) {
			w.WriteHeader(http.StatusNoContent)
			_, err := io.WriteString(w, "x")
			note(fmt.Sprint(err))
		}, want: fhRun{Results: []fhResult{{Status: 204, Type: "-", Date: true}}, Open: true,
			Notes: []string{http.ErrBodyNotAllowed.Error()}}},
		{name: "304 refuses a body and has no Content-Type", h: func(w http.ResponseWriter, _ *http.Request, note func(string)) {
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("X-Version", "1")
			w.WriteHeader(http.StatusNotModified)
			_, err := io.WriteString(w, "x")
			note(fmt.Sprint(err))
		}, want: fhRun{Results: []fhResult{{Status: 304, Type: "-", Date: true, Fields: "X-Version=1"}}, Open: true,
			Notes: []string{http.ErrBodyNotAllowed.Error()}}},

		// Content-Length the handler does not keep to.
		{name: "short of the declared Content-Length closes", h: func(w http.ResponseWriter, _ *http.Request, _ func(string)) {
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "abcd")
		}, want: fhRun{Results: []fhResult{{Status: 200, Body: "abcd", BodyErr: true, Length: 10, Type: textPlain, Date: true}}}},
		{name: "writing past the declared Content-Length fails", h: func(w http.ResponseWriter, _ *http.Request, note func(string)) {
			w.Header().Set("Content-Length", "5")
			_, err1 := io.WriteString(w, "hello")
			_, err2 := io.WriteString(w, "!")
			note(fmt.Sprint(err1, " ", err2))
		}, want: fhRun{Results: []fhResult{fhOK("hello")}, Open: true,
			Notes: []string{"<nil> " + http.ErrContentLength.Error()}}, anyOpen: true},

		// Connection: close.
		{name: "handler's Connection: close", h: func(w http.ResponseWriter, _ *http.Request, _ func(string)) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		}, want: fhRun{Results: []fhResult{fhOK("bye").closing()}}},
		{name: "client's Connection: close", reqs: []string{fhGet("/", "Connection: close\r\n")}, h: write("bye"),
			want: fhRun{Results: []fhResult{fhOK("bye").closing()}}},

		// Informational responses.
		{name: "103 Early Hints before the 200", h: func(w http.ResponseWriter, _ *http.Request, _ func(string)) {
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "hi")
		}, want: fhRun{Results: []fhResult{fhOK("hi").early(`103 Link="</a.css>; rel=preload" Content-Length=""`)}, Open: true}},
		{name: "a 1xx has no Content-Length", h: func(w http.ResponseWriter, _ *http.Request, _ func(string)) {
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.Header().Set("Content-Length", "2")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "hi")
		}, want: fhRun{Results: []fhResult{fhOK("hi").early(`103 Link="</a.css>; rel=preload" Content-Length=""`)}, Open: true}},

		// The ResponseWriter's header contract.
		{name: "declared trailer", h: func(w http.ResponseWriter, _ *http.Request, _ func(string)) {
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "hello")
			w.Header().Set("X-Sum", "abc")
		}, want: fhRun{Results: []fhResult{chunked("hello", textPlain).trailer("X-Sum=abc")}, Open: true}, late: true},
		{name: "header changed after WriteHeader is not sent", h: func(w http.ResponseWriter, _ *http.Request, _ func(string)) {
			w.Header().Set("X-Early", "1")
			w.WriteHeader(http.StatusOK)
			w.Header().Set("X-Late", "1")
			io.WriteString(w, "hi")
		}, want: fhRun{Results: []fhResult{fhOK("hi").fields("X-Early=1")}, Open: true}, late: true},

		// A request with a body in the middle of a connection.
		{name: "GET, POST with a body, GET on one connection", reqs: []string{
			fhGet("/one"),
			"POST /two HTTP/1.1\r\nHost: app.example\r\nContent-Length: 5\r\n\r\nhello",
			fhGet("/three"),
		}, h: func(w http.ResponseWriter, r *http.Request, note func(string)) {
			body, err := io.ReadAll(r.Body)
			s := fmt.Sprintf("%s %s %q %v", r.Method, r.URL.Path, body, err)
			note(s)
			io.WriteString(w, s)
		}, want: fhRun{Results: []fhResult{
			fhOK(`GET /one "" <nil>`), fhOK(`POST /two "hello" <nil>`), fhOK(`GET /three "" <nil>`),
		}, Open: true, Notes: []string{`GET /one "" <nil>`, `POST /two "hello" <nil>`, `GET /three "" <nil>`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reqs := tc.reqs
			if reqs == nil {
				reqs = []string{fhGet("/")}
			}
			for _, s := range fhServers {
				if tc.late && s.opts != nil && s.opts.Transient {
					continue
				}
				rec := &fhRecorder{h: tc.h}
				addr, _ := fhStart(t, s, rec)
				got := fhExchange(fhDial(t, addr), reqs)
				_, got.Notes = rec.snapshot()
				if tc.anyOpen {
					got.Open = tc.want.Open
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("%s:\n got %+v\nwant %+v", s.name, got, tc.want)
				}
				if s.opts != nil {
					rec.checkFront(t)
				}
			}
		})
	}
}

// TestFrontHandlerStreams: what a handler flushes, and a 103 it sends,
// reach the client while the handler is still at work.
func TestFrontHandlerStreams(t *testing.T) {
	for _, s := range fhServers {
		t.Run(s.name, func(t *testing.T) {
			release := make(chan struct{}, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/flush":
					io.WriteString(w, "first")
					w.(http.Flusher).Flush()
					<-release
					io.WriteString(w, "second")
				case "/hints":
					w.Header().Set("Link", "</a.css>; rel=preload")
					w.WriteHeader(http.StatusEarlyHints)
					<-release
					io.WriteString(w, "done")
				default:
					io.WriteString(w, "ok")
				}
			})
			addr, _ := fhStart(t, s, h)
			t.Cleanup(func() { close(release) }) // before the shutdown: a failed test leaves no handler blocked
			rc := fhDial(t, addr)

			rc.send(fhGet("/flush"))
			rc.c.SetReadDeadline(time.Now().Add(2 * time.Second))
			resp := rc.readHead("GET")
			first := make([]byte, len("first"))
			if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first" {
				t.Fatalf("the flushed part did not arrive while the handler waited: %q, %v", first, err)
			}
			release <- struct{}{}
			rest, err := io.ReadAll(resp.Body)
			if err != nil || string(rest) != "second" {
				t.Errorf("rest of the body: %q, %v; want %q", rest, err, "second")
			}
			if !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
				t.Errorf("a flushed response has Transfer-Encoding %q, want chunked", resp.TransferEncoding)
			}

			rc.send(fhGet("/hints"))
			early := rc.readHead("GET")
			if early.StatusCode != http.StatusEarlyHints || early.Header.Get("Link") != "</a.css>; rel=preload" {
				t.Fatalf("first response while the handler waited: %d %v, want 103 with the Link", early.StatusCode, early.Header)
			}
			release <- struct{}{}
			rc.c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "done" {
				t.Errorf("after the 103: %d %q, want 200 %q", resp.StatusCode, body, "done")
			}

			rc.send(fhGet("/"))
			if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "ok" {
				t.Errorf("next request on the connection: %d %q", resp.StatusCode, body)
			}
		})
	}
}

// TestFrontHandlerPanic: a handler's panic ends its connection, not the
// server; it is logged, unless it is http.ErrAbortHandler.
func TestFrontHandlerPanic(t *testing.T) {
	for _, s := range fhServers {
		t.Run(s.name, func(t *testing.T) {
			var logged ts.SyncBuffer
			if s.opts != nil {
				o := *s.opts
				o.Log = slog.New(slog.NewTextHandler(&logged, nil))
				s.opts = &o
			}
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/panic":
					panic("boom")
				case "/abort":
					panic(http.ErrAbortHandler)
				}
				io.WriteString(w, "ok")
			})
			addr, _ := fhStart(t, s, h)
			for _, path := range []string{"/panic", "/abort"} {
				before := logged.String()
				rc := fhDial(t, addr)
				rc.send(fhGet(path))
				if res, ok := fhRead(rc.br, "GET"); ok || res.Status != 0 {
					t.Errorf("GET %s: got %+v, want the connection closed without a response", path, res)
				}
				after := fhDial(t, addr)
				after.send(fhGet("/"))
				if resp, body := after.read("GET"); resp.StatusCode != 200 || body != "ok" {
					t.Errorf("new connection after GET %s: %d %q", path, resp.StatusCode, body)
				}
				if s.opts == nil {
					continue
				}
				added := strings.TrimPrefix(logged.String(), before)
				switch path {
				case "/panic":
					if !strings.Contains(added, "panic") || !strings.Contains(added, "boom") {
						t.Errorf("after a panic the log has %q, want a panic line with its value", added)
					}
				case "/abort":
					if added != "" {
						t.Errorf("http.ErrAbortHandler was logged: %q", added)
					}
				}
			}
		})
	}
}

// fhChildEnv names the scenario a child process of
// TestFrontHandlerWithoutLog runs.
const fhChildEnv = "TETHER_FRONT_HANDLER_CHILD"

// TestFrontHandlerWithoutLog: a Front whose FrontOptions have no Log
// survives what it logs, a handler's panic and a failed TLS handshake, as
// net/http does without an ErrorLog. Each runs in a child process, since a
// panic while logging would end the test binary.
func TestFrontHandlerWithoutLog(t *testing.T) {
	if sc := os.Getenv(fhChildEnv); sc != "" {
		fhWithoutLogChild(t, sc)
		return
	}
	for _, sc := range []string{"panic", "tls-garbage"} {
		t.Run(sc, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestFrontHandlerWithoutLog$", "-test.count=1")
			cmd.Env = append(os.Environ(), fhChildEnv+"="+sc)
			out, err := cmd.CombinedOutput()
			if err != nil {
				if len(out) > 1500 {
					out = out[:1500]
				}
				t.Errorf("the process serving a Front without a Log failed (%v):\n%s", err, out)
			}
		})
	}
}

func fhWithoutLogChild(t *testing.T, scenario string) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		io.WriteString(w, "ok")
	})
	switch scenario {
	case "panic":
		addr, _ := fhStart(t, fhServer{"front", &lb.FrontOptions{}, nil}, h)
		rc := fhDial(t, addr)
		rc.send(fhGet("/panic"))
		if !rc.closed() {
			t.Fatal("the connection of a panicking handler stayed open")
		}
		rc = fhDial(t, addr)
		rc.send(fhGet("/"))
		rc.readOK("ok")
	case "tls-garbage":
		cfg, pool := fhTLS(t)
		addr, _ := fhStart(t, fhServer{"front", &lb.FrontOptions{}, cfg}, h)
		rc := fhDial(t, addr)
		rc.send("\x00\x01\x02\x03\x04\x05\x06\x07")
		if !rc.closed() {
			t.Fatal("a connection that is not TLS stayed open")
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
		resp, err := c.Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c.CloseIdleConnections()
	}
}

// TestFrontHandlerRequest: the request a handler gets from the front is
// the one net/http would give it.
func TestFrontHandlerRequest(t *testing.T) {
	for _, s := range fhServers {
		t.Run(s.name, func(t *testing.T) {
			rec := &fhRecorder{h: func(w http.ResponseWriter, r *http.Request, note func(string)) {
				body, err := io.ReadAll(r.Body)
				note(fmt.Sprintf("%s path=%s query=%s uri=%s host=%s", r.Method, r.URL.Path, r.URL.RawQuery, r.RequestURI, r.Host))
				note(fmt.Sprintf("%s %d.%d close=%t", r.Proto, r.ProtoMajor, r.ProtoMinor, r.Close))
				note("header " + fhFields(r.Header, ""))
				note(fmt.Sprintf("body=%q err=%v length=%d context=%t tls=%t", body, err, r.ContentLength, r.Context() != nil, r.TLS != nil))
				note("remote " + r.RemoteAddr)
			}}
			addr, _ := fhStart(t, s, rec)
			rc := fhDial(t, addr)
			rc.send("GET /a/b?x=1&y=two HTTP/1.1\r\nHost: app.example:8080\r\nAccept: */*\r\nX-Multi: a\r\nx-multi: b\r\n\r\n")
			if resp, _ := rc.read("GET"); resp.StatusCode != 200 {
				t.Fatalf("GET: %d", resp.StatusCode)
			}
			_, got := rec.snapshot()
			want := []string{
				"GET path=/a/b query=x=1&y=two uri=/a/b?x=1&y=two host=app.example:8080",
				"HTTP/1.1 1.1 close=false",
				"header Accept=*/* X-Multi=a,b",
				`body="" err=<nil> length=0 context=true tls=false`,
				"remote " + rc.c.LocalAddr().String(),
			}
			if !slices.Equal(got, want) {
				t.Errorf("the handler saw\n%q\nwant\n%q", got, want)
			}
			if s.opts != nil {
				rec.checkFront(t)
			}
		})
	}
}

// TestFrontHandlerRequestKept: a handler may keep its request after it
// returned; what it reads there later, while the connection serves the
// next requests, is still its own request's. Run with -race. (A Transient
// front's handlers promise not to: TestFrontTransient.)
func TestFrontHandlerRequestKept(t *testing.T) {
	for _, s := range fhServers {
		if s.opts != nil && s.opts.Transient {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			kept := make(chan *http.Request, 16)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				kept <- r
				io.WriteString(w, "ok")
			})
			addr, _ := fhStart(t, s, h)
			rc := fhDial(t, addr)
			get := func(n int) *http.Request {
				t.Helper()
				rc.send(fmt.Sprintf("GET /r%d?n=%d HTTP/1.1\r\nHost: host%d.example\r\nX-N: %d\r\n\r\n", n, n, n, n))
				rc.readOK("ok")
				return <-kept
			}
			describe := func(r *http.Request) string {
				return fmt.Sprintf("%s %s?%s host=%s %s", r.Method, r.URL.Path, r.URL.RawQuery, r.Host, fhFields(r.Header, ""))
			}
			first := get(1)
			get(2)
			seen := make(chan []string)
			go func() { // reads the first request while the connection serves more
				var out []string
				for range 50 {
					out = append(out, describe(first))
				}
				seen <- out
			}()
			for n := 3; n <= 6; n++ {
				get(n)
			}
			for _, d := range <-seen {
				if want := "GET /r1?n=1 host=host1.example X-N=1"; d != want {
					t.Fatalf("the kept first request reads %q, want %q", d, want)
				}
			}
		})
	}
}

// TestFrontTransient: a Transient front reuses a connection's request
// header, URL and response header, and nothing of one request shows in
// the next: not its fields, its path or query, nor the fields its handler
// set.
func TestFrontTransient(t *testing.T) {
	for _, s := range fhServers {
		t.Run(s.name, func(t *testing.T) {
			// Each request's context is live while its handler runs and
			// canceled after; a hook the first request registered and
			// that ran (stop1, kept past its request only to test this)
			// cannot stop a hook of the second one's.
			ran1, ran2 := make(chan struct{}), make(chan struct{})
			var stop1 func() bool
			var errs []string
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := r.Context().Err(); err != nil {
					errs = append(errs, r.URL.Path+": context done at the start: "+err.Error())
				}
				if r.URL.Path == "/first" {
					w.Header().Set("X-First", "1")
					w.Header()["X-Shared"] = []string{"first"}
					stop1 = context.AfterFunc(r.Context(), func() { close(ran1) })
				} else {
					w.Header()["X-Shared"] = []string{"second"}
					context.AfterFunc(r.Context(), func() { close(ran2) })
					if stop1() {
						errs = append(errs, "the first request's hook was stopped during the second request")
					}
				}
				fmt.Fprintf(w, "%s?%s %s", r.URL.Path, r.URL.RawQuery, fhFields(r.Header, "X-"))
			})
			addr, _ := fhStart(t, s, h)
			rc := fhDial(t, addr)
			rc.send("GET /first?a=1 HTTP/1.1\r\nHost: a\r\nX-One: 1\r\nX-Both: one\r\n\r\n")
			resp, body := rc.read("GET")
			if body != "/first?a=1 X-Both=one X-One=1" || resp.Header.Get("X-First") != "1" || resp.Header.Get("X-Shared") != "first" {
				t.Fatalf("first: %q, fields %v", body, resp.Header)
			}
			rc.send("GET /second HTTP/1.1\r\nHost: a\r\nX-Both: two\r\n\r\n")
			resp, body = rc.read("GET")
			if body != "/second? X-Both=two" {
				t.Errorf("second request as the handler saw it: %q, want %q", body, "/second? X-Both=two")
			}
			if _, ok := resp.Header["X-First"]; ok || resp.Header.Get("X-Shared") != "second" {
				t.Errorf("second response's fields: %v", resp.Header)
			}
			for i, ran := range []chan struct{}{ran1, ran2} {
				select {
				case <-ran:
				case <-time.After(5 * time.Second):
					t.Fatalf("request %d's context was not canceled when its handler returned", i+1)
				}
			}
			for _, e := range errs {
				t.Error(e)
			}
		})
	}
}

// TestFrontHandlerGracefulShutdown: Shutdown lets a request in flight
// finish, with Connection: close, closes an idle keep-alive connection,
// and returns nil once the request is done.
func TestFrontHandlerGracefulShutdown(t *testing.T) {
	for _, s := range fhServers {
		t.Run(s.name, func(t *testing.T) {
			arrived, release := make(chan struct{}), make(chan struct{})
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/slow" {
					close(arrived)
					<-release
				}
				io.WriteString(w, r.URL.Path)
			})
			addr, shutdown := fhStart(t, s, h)
			unblock := sync.OnceFunc(func() { close(release) })
			t.Cleanup(unblock)
			checkGracefulShutdown(t, func() *rawClient { return fhDial(t, addr) }, func(path string) string { return fhGet(path) },
				arrived, unblock, shutdown)
		})
	}
}

// fhTLS returns a server config for a new self-signed certificate of
// 127.0.0.1 that offers h2 and http/1.1, and a pool that trusts it.
func fhTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	certFile, keyFile := ts.TLSFiles(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pemCert, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCert) {
		t.Fatal("the test certificate does not parse")
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}, pool
}

// TestFrontHandlerTLS: a Front with TLS serves HTTP/1.1 clients, on its
// own path and, after a request with a body, on net/http's, with r.TLS
// set on both; an HTTP/2 client is served by net/http over h2.
func TestFrontHandlerTLS(t *testing.T) {
	cfg, pool := fhTLS(t)
	rec := &fhRecorder{h: func(w http.ResponseWriter, r *http.Request, note func(string)) {
		body, _ := io.ReadAll(r.Body)
		s := fmt.Sprintf("%s %s %s tls=%t body=%q", r.Proto, r.Method, r.URL.Path, r.TLS != nil, body)
		note(s)
		io.WriteString(w, s)
	}}
	addr, _ := fhStart(t, fhServer{"front", fhServers[0].opts, cfg}, rec)

	t.Run("HTTP/1.1", func(t *testing.T) {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		got := fhExchange(&rawClient{t: t, c: c, br: bufio.NewReader(c)}, []string{
			fhGet("/one"),
			"POST /two HTTP/1.1\r\nHost: app.example\r\nContent-Length: 5\r\n\r\nhello",
			fhGet("/three"),
		})
		_, got.Notes = rec.snapshot()
		want := fhRun{Results: []fhResult{
			fhOK(`HTTP/1.1 GET /one tls=true body=""`),
			fhOK(`HTTP/1.1 POST /two tls=true body="hello"`),
			fhOK(`HTTP/1.1 GET /three tls=true body=""`),
		}, Open: true, Notes: []string{
			`HTTP/1.1 GET /one tls=true body=""`,
			`HTTP/1.1 POST /two tls=true body="hello"`,
			`HTTP/1.1 GET /three tls=true body=""`,
		}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("\n got %+v\nwant %+v", got, want)
		}
		rec.checkFront(t)
	})

	t.Run("HTTP/2", func(t *testing.T) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		resp, err := c.Get("https://" + addr + "/h2")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if want := `HTTP/2.0 GET /h2 tls=true body=""`; resp.ProtoMajor != 2 || string(body) != want {
			t.Errorf("HTTP/2 client: %s %q, want HTTP/2.0 %q", resp.Proto, body, want)
		}
	})
}
