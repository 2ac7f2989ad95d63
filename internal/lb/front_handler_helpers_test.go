package lb_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/lb"
)

// fhServer is one way of serving a handler: behind a Front with opts, or
// (opts nil) behind a plain http.Server.
type fhServer struct {
	name string
	opts *lb.FrontOptions
	tls  *tls.Config // the server's TLSConfig: nil for plain HTTP
}

var fhServers = []fhServer{
	{"front", &lb.FrontOptions{Name: "test", Log: slog.New(slog.DiscardHandler)}, nil},
	{"front-transient", &lb.FrontOptions{Name: "test", Log: slog.New(slog.DiscardHandler), Transient: true}, nil},
	{"net/http", nil, nil},
}

// fhStart serves h on a new loopback listener as s says and returns its
// address and a shutdown that runs once (Front.Shutdown, or
// http.Server.Shutdown), at the end of the test at the latest.
func fhStart(t *testing.T, s fhServer, h http.Handler) (addr string, shutdown func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// net/http's own log lines (a handler's panic, a superfluous
	// WriteHeader) are not what these tests look at.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0), TLSConfig: s.tls}
	var front *lb.Front
	var serveOn net.Listener = ln
	if s.opts != nil {
		front = lb.NewFront(ln, srv, *s.opts)
		serveOn = front
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(serveOn)
	}()
	shutdown = sync.OnceValue(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		if front != nil {
			err = front.Shutdown(ctx)
		} else {
			err = srv.Shutdown(ctx)
		}
		<-served
		return err
	})
	t.Cleanup(func() {
		if err := shutdown(); err != nil {
			t.Errorf("%s: shutdown: %v", s.name, err)
		}
	})
	return ln.Addr().String(), shutdown
}

// fhDial opens a raw client connection to addr, closed at the end of the
// test, with a deadline that fails a stuck test instead of hanging it.
func fhDial(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

// fhGet is a GET of path with extra header lines ("Name: value\r\n").
func fhGet(path string, extra ...string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: app.example\r\n" + strings.Join(extra, "") + "\r\n"
}

// fhRecorder is the handler under test, wrapped: it answers GET /probe
// itself, records which ResponseWriter served each request ("front" or
// "net/http") and collects what the handler notes.
type fhRecorder struct {
	h func(w http.ResponseWriter, r *http.Request, note func(string))

	mu    sync.Mutex
	via   []string
	notes []string
}

func (rec *fhRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	via := "net/http"
	if fmt.Sprintf("%T", w) == "*lb.frontResponse" { // net/http's is wrapped in *lb.deadlineWriter
		via = "front"
	}
	rec.mu.Lock()
	rec.via = append(rec.via, r.Method+" "+r.URL.Path+" "+via)
	rec.mu.Unlock()
	if r.URL.Path == "/probe" {
		io.WriteString(w, "probe")
		return
	}
	rec.h(w, r, rec.note)
}

func (rec *fhRecorder) note(s string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.notes = append(rec.notes, s)
}

// snapshot returns what was recorded so far.
func (rec *fhRecorder) snapshot() (via, notes []string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.via), slices.Clone(rec.notes)
}

// checkFront fails the test unless the front served every request up to
// the first POST and net/http every one from there on: a POST has a body,
// which hands the connection over for good.
func (rec *fhRecorder) checkFront(t *testing.T) {
	t.Helper()
	via, _ := rec.snapshot()
	handed := false
	for _, v := range via {
		handed = handed || strings.HasPrefix(v, "POST ")
		want := "front"
		if handed {
			want = "net/http"
		}
		if !strings.HasSuffix(v, " "+want) {
			t.Errorf("request %q, want it served by %s (all: %q)", v, want, via)
		}
	}
}

// fhResult is what a client observes of one response.
type fhResult struct {
	Early   []string // informational responses before it: status and fields
	Status  int
	Body    string
	BodyErr bool   // the body ended before its end
	Length  int64  // Content-Length, or -1
	Chunked bool   // Transfer-Encoding: chunked
	Type    string // Content-Type, "-" if none
	Date    bool
	Close   bool   // Connection: close
	Fields  string // the X- fields, sorted
	Trailer string // the trailer fields, sorted
}

// String shortens the body, for failure messages.
func (r fhResult) String() string {
	body := r.Body
	if len(body) > 48 {
		body = fmt.Sprintf("%s...(%d bytes)", body[:48], len(body))
	}
	return fmt.Sprintf("{early=%q %d body=%q bodyErr=%t length=%d chunked=%t type=%q date=%t close=%t fields=%q trailer=%q}",
		r.Early, r.Status, body, r.BodyErr, r.Length, r.Chunked, r.Type, r.Date, r.Close, r.Fields, r.Trailer)
}

// fhRun is what a client observes on one connection: the responses to its
// requests, whether a last GET /probe is still answered on it, and what
// the handler noted.
type fhRun struct {
	Results []fhResult
	Open    bool
	Notes   []string
}

// fhOK is the result of a complete 200 text/plain response with body and
// a Content-Length.
func fhOK(body string) fhResult {
	return fhResult{Status: 200, Body: body, Length: int64(len(body)), Type: "text/plain; charset=utf-8", Date: true}
}

// closing, early, fields and trailer return r with one more thing a
// client sees: Connection: close, informational heads, X- fields, a
// trailer.
func (r fhResult) closing() fhResult               { r.Close = true; return r }
func (r fhResult) early(heads ...string) fhResult  { r.Early = heads; return r }
func (r fhResult) fields(fields string) fhResult   { r.Fields = fields; return r }
func (r fhResult) trailer(trailer string) fhResult { r.Trailer = trailer; return r }

// fhExchange sends reqs one by one on rc, reading each response, then
// GET /probe; it stops at the first response that does not come whole.
func fhExchange(rc *rawClient, reqs []string) fhRun {
	var run fhRun
	for _, req := range reqs {
		rc.send(req)
		method, _, _ := strings.Cut(req, " ")
		res, ok := fhRead(rc.br, method)
		if res.Status != 0 {
			run.Results = append(run.Results, res)
		}
		if !ok {
			return run
		}
	}
	if _, err := io.WriteString(rc.c, fhGet("/probe")); err != nil {
		return run
	}
	res, ok := fhRead(rc.br, "GET")
	run.Open = ok && res.Status == 200 && res.Body == "probe"
	return run
}

// fhRead reads one final response, and the informational ones before it,
// and reports whether it came whole.
func fhRead(br *bufio.Reader, method string) (fhResult, bool) {
	var res fhResult
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return res, false
		}
		if resp.StatusCode < 200 {
			res.Early = append(res.Early, fmt.Sprintf("%d Link=%q Content-Length=%q", resp.StatusCode,
				resp.Header.Get("Link"), resp.Header.Get("Content-Length")))
			continue
		}
		body, err := io.ReadAll(resp.Body)
		res.Status, res.Body, res.BodyErr = resp.StatusCode, string(body), err != nil
		res.Length, res.Close = resp.ContentLength, resp.Close
		res.Chunked = slices.Equal(resp.TransferEncoding, []string{"chunked"})
		res.Type = "-"
		if vs, ok := resp.Header["Content-Type"]; ok {
			res.Type = strings.Join(vs, ", ")
		}
		res.Date = resp.Header.Get("Date") != ""
		res.Fields = fhFields(resp.Header, "X-")
		res.Trailer = fhFields(resp.Trailer, "")
		return res, err == nil
	}
}

// fhFields returns h's fields whose names start with prefix, sorted, as
// "Name=v1,v2" separated by spaces.
func fhFields(h http.Header, prefix string) string {
	var out []string
	for k, vs := range h {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k+"="+strings.Join(vs, ","))
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}
