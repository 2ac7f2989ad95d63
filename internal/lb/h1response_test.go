package lb

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// quickRead runs quickResponse on raw as h1Exchange does: the reader has
// filled its buffer (Peek) first. It returns the response (nil when the
// head is left to net/http), the body it read, the body's last error, and
// what stays unread after it.
func quickRead(raw []byte, method string) (resp *http.Response, body []byte, berr error, rest []byte) {
	br := bufio.NewReaderSize(bytes.NewReader(raw), h1BufSize)
	br.Peek(1)
	req, _ := http.NewRequest(method, "http://a/", nil)
	var q quickParts
	resp = quickResponse(br, req, &q)
	if resp == nil {
		if br.Buffered() != min(len(raw), h1BufSize) {
			panic("quickResponse refused a head but read from it")
		}
		return nil, nil, nil, nil
	}
	body, berr = readAllErr(resp.Body)
	rest, _ = io.ReadAll(br)
	return resp, body, berr, rest
}

// readAllErr reads r to its end and returns the error that ended it, EOF
// included.
func readAllErr(r io.Reader) ([]byte, error) {
	var out []byte
	buf := make([]byte, 7) // small reads: the body's bound is crossed mid-read
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out, err
		}
	}
}

// netRead reads raw with http.ReadResponse, as the reference.
func netRead(raw []byte, method string) (resp *http.Response, body []byte, berr error, rest []byte, err error) {
	br := bufio.NewReaderSize(bytes.NewReader(raw), h1BufSize)
	req, _ := http.NewRequest(method, "http://a/", nil)
	if resp, err = http.ReadResponse(br, req); err != nil {
		return nil, nil, nil, nil, err
	}
	body, berr = readAllErr(resp.Body)
	rest, _ = io.ReadAll(br)
	return resp, body, berr, rest, nil
}

// sameAsNetHTTP fails t unless quickResponse read raw as net/http does:
// status, protocol, fields, length, framing, body, and what is left after
// it on the connection.
func sameAsNetHTTP(t *testing.T, raw []byte, method string) bool {
	t.Helper()
	got, body, berr, rest := quickRead(raw, method)
	if got == nil {
		return false
	}
	want, wbody, wberr, wrest, err := netRead(raw, method)
	if err != nil {
		t.Fatalf("quickResponse read %q, which net/http refuses: %v", raw, err)
	}
	if got.Status != want.Status || got.StatusCode != want.StatusCode || got.Proto != want.Proto ||
		got.ProtoMajor != want.ProtoMajor || got.ProtoMinor != want.ProtoMinor || got.ContentLength != want.ContentLength ||
		got.Close != want.Close || got.Request == nil || len(want.TransferEncoding) > 0 || want.Trailer != nil || want.Uncompressed {
		t.Fatalf("%q:\nquick  %+v\nnet/http %+v", raw, got, want)
	}
	if !reflect.DeepEqual(got.Header, want.Header) {
		t.Fatalf("%q: fields\nquick  %q\nnet/http %q", raw, got.Header, want.Header)
	}
	if (got.Body == http.NoBody) != (want.Body == http.NoBody) {
		t.Fatalf("%q: NoBody: quick %v, net/http %v", raw, got.Body == http.NoBody, want.Body == http.NoBody)
	}
	if !bytes.Equal(body, wbody) || !errors.Is(berr, wberr) {
		t.Fatalf("%q: body %q (%v), net/http %q (%v)", raw, body, berr, wbody, wberr)
	}
	if !bytes.Equal(rest, wrest) {
		t.Fatalf("%q: left after the body %q, net/http %q", raw, rest, wrest)
	}
	return true
}

// TestQuickResponse: the heads most targets send are read without
// net/http, exactly as net/http reads them; the others are left to it
// untouched.
func TestQuickResponse(t *testing.T) {
	quick := []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\nDate: Sun, 22 Nov 2026 15:00:00 GMT\r\n\r\nhelloNEXT",
		"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nx-a: 1\r\nX-A: 2\r\nX-Empty:\r\n\r\n",
		"HTTP/1.1 200\r\nContent-Length: 3\r\nCache-Control: max-age=60\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nabc",
		"HTTP/1.1 503 Slow Down\nContent-Length: 2\nX:  \t padded \t \n\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", // the target closes early: ErrUnexpectedEOF, as net/http
		"HTTP/1.1 200 OK\r\nContent-Length: 007\r\nX-Obs: caf\xc3\xa9\r\n\r\n1234567",
	}
	for _, raw := range quick {
		if !sameAsNetHTTP(t, []byte(raw), "GET") {
			t.Errorf("%q went to net/http; want it read quickly", raw)
		}
	}
	netHTTP := map[string]string{
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n": "GET",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na":           "GET",
		"HTTP/1.1 200 OK\r\n\r\nuntil the connection closes":                           "GET",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na":           "GET",
		"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\na":                               "GET",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTrailer: X\r\n\r\na":                  "GET",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na":                                "HEAD",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n":                       "GET",
		"HTTP/1.1 204 No Content\r\n\r\n":                                              "GET",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":    "GET",
		"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\na":                                "GET",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX: a\r\n folded\r\n\r\na":             "GET",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nBad Name: a\r\n\r\na":                 "GET",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX: a\x01b\r\n\r\na":                   "GET",
		"HTTP/1.1 2000 OK\r\nContent-Length: 1\r\n\r\na":                               "GET",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n":                                     "GET", // the head is not all there
	}
	for raw, method := range netHTTP {
		if got, _, _, _ := quickRead([]byte(raw), method); got != nil {
			t.Errorf("%s %q was read quickly; want it left to net/http", method, raw)
		}
	}
	// A head larger than the buffer holds is net/http's too.
	big := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Big: " + strings.Repeat("b", h1BufSize) + "\r\n\r\n"
	if got, _, _, _ := quickRead([]byte(big), "GET"); got != nil {
		t.Errorf("a %d-byte head was read quickly", len(big))
	}
}

// FuzzQuickResponse: whatever a target sends, a head quickResponse reads
// is one net/http reads the same way, body and framing included.
func FuzzQuickResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"), false)
	f.Add([]byte("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nx-a: 1\r\nX-A: 2\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200\nContent-Length: 3\nX:  \t v\n\nabcdef"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX: a\r\n b\r\n\r\na"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"), true)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\na"), false)
	f.Fuzz(func(t *testing.T, raw []byte, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		sameAsNetHTTP(t, raw, method)
	})
}

// TestAfterCancel: a function registered on a context runs once it is
// canceled, unless stopped; on a context that is never canceled it never
// runs and stopping it succeeds.
func TestAfterCancel(t *testing.T) {
	ran := make(chan struct{}, 1)
	f := func() { ran <- struct{}{} }
	if stop := afterCancel(context.WithoutCancel(context.Background()), f); !stop.Stop() || len(ran) != 0 {
		t.Error("on a context never canceled: stop failed or f ran")
	}
	ctx, cancel := context.WithCancel(context.Background())
	afterCancel(ctx, f)
	cancel()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("f did not run after cancel")
	}
	ctx, cancel = context.WithCancel(context.Background())
	if stop := afterCancel(ctx, f); !stop.Stop() {
		t.Error("stop before cancel failed")
	}
	cancel()
	time.Sleep(10 * time.Millisecond)
	if len(ran) != 0 {
		t.Error("a stopped f ran")
	}
}

// TestHandlerCtxReset: a Transient front's context, reset for the
// connection's next request, is live again, and a hook of the last
// request stopped late (after the reset) stops none of the new
// request's.
func TestHandlerCtxReset(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	defer server.Close()
	fc := &frontConn{raw: server, rw: server, br: bufio.NewReader(server)}
	fc.watch.init(fc)
	defer fc.watch.timer.Stop()
	c := &handlerCtx{fc: fc}
	ran := make(chan int, 2)
	wait := func(want int) {
		t.Helper()
		select {
		case got := <-ran:
			if got != want {
				t.Fatalf("hook %d ran, want %d", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("hook %d did not run when its request ended", want)
		}
	}
	old := afterCancel(c, func() { ran <- 1 })
	c.end()
	wait(1)
	c.reset()
	if c.Err() != nil {
		t.Fatalf("after reset: Err() = %v", c.Err())
	}
	afterCancel(c, func() { ran <- 2 })
	if old.Stop() {
		t.Error("the last request's hook, stopped late, stopped one of the new request's")
	}
	select {
	case <-c.Done():
		t.Fatal("the new request's context is done before it ends")
	default:
	}
	c.end()
	wait(2)
}

// BenchmarkQuickResponse reads bench/edge/origin's response head with
// quickResponse and with http.ReadResponse.
func BenchmarkQuickResponse(b *testing.B) {
	raw := []byte("HTTP/1.1 200 OK\r\nCache-Control: max-age=3600\r\nContent-Length: 0\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Sun, 22 Nov 2026 15:00:00 GMT\r\n\r\n")
	req, _ := http.NewRequest("GET", "http://a/", nil)
	rd := bytes.NewReader(raw)
	br := bufio.NewReaderSize(rd, h1BufSize)
	for _, quick := range []bool{true, false} {
		name := "net/http"
		if quick {
			name = "quick"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var q quickParts
			for range b.N {
				rd.Reset(raw)
				br.Reset(rd)
				br.Peek(1)
				var resp *http.Response
				if quick {
					resp = quickResponse(br, req, &q)
				} else {
					resp, _ = http.ReadResponse(br, req)
				}
				if resp == nil || resp.StatusCode != 200 {
					b.Fatal("not read")
				}
			}
		})
	}
}
