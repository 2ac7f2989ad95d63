package lb

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/httpsyntax"
)

// addrConn is a net.Conn that has only an address: enough for
// newFrontConn, which parseRequest needs no more of.
type addrConn struct{ net.Conn }

func (addrConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1234} }

// FuzzFrontParseRequest: the front's request parser never panics, and a
// request it keeps for itself is one net/http reads the same way: same
// method, target, Host and fields, no body, and Connection: close when
// net/http sees it. Anything else must go to net/http.
func FuzzFrontParseRequest(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("GET /x/y?q=1&r=%20 HTTP/1.1\r\nHost: app.example:8080\r\nAccept: */*\r\nAccept: text/html\r\nConnection: close, X-Hop\r\n\r\n"))
	f.Add([]byte("HEAD /a;b HTTP/1.1\r\nhost: [::1]:80\r\nContent-Length: 0\r\nX-Empty:\r\n\r\n"))
	f.Add([]byte("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\nHost: a\n\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nX-Fold: a\r\n b\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.0\r\nHost: a\r\n\r\n"))
	f.Add([]byte("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
	f.Add([]byte("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nX: \t v \t\r\nPragma: no-cache\r\n\r\n"))
	f.Fuzz(func(t *testing.T, head []byte) {
		fc := newFrontConn(&front{}, addrConn{})
		fc.parseRequest(head) // anything at all: no panic
		// What the front really parses: a head as readHead cuts it.
		h, err := readHead(bufio.NewReader(bytes.NewReader(head)), nil, frontMaxHead)
		if err != nil || !fc.parseRequest(h) {
			return
		}
		r := &fc.req
		if !httpsyntax.IsToken(r.Method) || !strings.HasPrefix(r.URL.Path, "/") || r.Host == "" {
			t.Fatalf("kept %q: method %q, path %q, host %q", h, r.Method, r.URL.Path, r.Host)
		}
		if _, ok := r.Header["Host"]; ok {
			t.Fatalf("kept %q with a Host field in the header map", h)
		}
		want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(h)))
		if err != nil {
			t.Fatalf("kept %q, which net/http refuses: %v", h, err)
		}
		if want.ContentLength != 0 || want.TransferEncoding != nil || !want.ProtoAtLeast(1, 1) {
			t.Fatalf("kept %q: net/http sees a body (%d, %v) or HTTP/1.0", h, want.ContentLength, want.TransferEncoding)
		}
		// Close may be true where net/http's is false: the front also
		// splits Connection on spaces ("close x"), and closing is safe.
		if r.Method != want.Method || r.RequestURI != want.RequestURI || r.Host != want.Host ||
			r.URL.Path != want.URL.Path || r.URL.RawQuery != want.URL.RawQuery || want.Close && !r.Close {
			t.Fatalf("kept %q as %s %s (host %q, path %q, query %q, close %v); net/http: %s %s (host %q, path %q, query %q, close %v)",
				h, r.Method, r.RequestURI, r.Host, r.URL.Path, r.URL.RawQuery, r.Close,
				want.Method, want.RequestURI, want.Host, want.URL.Path, want.URL.RawQuery, want.Close)
		}
		// net/http adds Cache-Control: no-cache to a Pragma: no-cache
		// request (RFC 7234 §5.4); the front passes fields on as they came.
		if _, ok := r.Header["Cache-Control"]; !ok && want.Header.Get("Pragma") == "no-cache" {
			want.Header.Del("Cache-Control")
		}
		if !reflect.DeepEqual(map[string][]string(r.Header), map[string][]string(want.Header)) {
			t.Fatalf("kept %q with fields %q; net/http reads %q", h, r.Header, want.Header)
		}
	})
}

// fuzzServer starts a tether with one plain-HTTP listener whose group has
// one target at addr and no health checks, and returns the listener's
// address.
func fuzzServer(tb testing.TB, addr string) string {
	tb.Helper()
	return startServer(tb, addr, nil).Addr("web").String()
}

// scriptedTarget answers every request with the bytes in resp, then
// closes the connection.
func scriptedTarget(tb testing.TB, resp *atomic.Pointer[[]byte]) string {
	tb.Helper()
	return serveRaw(tb, func(c net.Conn, _ int) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		for { // the request head; requests to the target have no body here
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		c.Write(*resp.Load())
	})
}

// clientView is what a client got for one request: a complete response,
// or a connection tether closed.
type clientView struct {
	code     int // 0: the connection was closed before a complete head
	body     string
	complete bool // the body arrived whole
}

// fetch sends request to tether at addr and reads the answer, 1xx
// included, as a client would. It fails the test if tether neither
// answers nor closes within 5 seconds, or answers with a malformed head.
func fetch(t *testing.T, addr, request string) clientView {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	c.SetDeadline(deadline)
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	hung := func(err error) bool { return isTimeout(err) || time.Now().After(deadline) }
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			if hung(err) {
				t.Fatalf("tether neither answered nor closed: %v", err)
			}
			if _, gone := br.Peek(1); gone == nil {
				t.Fatalf("malformed response head from tether: %v", err)
			}
			return clientView{}
		}
		switch code := resp.StatusCode; {
		case code < 100:
			t.Fatalf("malformed status line from tether: %d %q", code, resp.Status)
		case code == http.StatusSwitchingProtocols:
			t.Fatalf("tether passed on a 101 to a request without Upgrade")
		case code < 200:
			continue
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil && hung(err) {
			t.Fatalf("tether neither finished the body nor closed: %v", err)
		}
		return clientView{code: resp.StatusCode, body: string(b), complete: err == nil}
	}
}

// finalStatus is the status of the final response in raw as net/http's
// client reads it, or 0.
func finalStatus(raw []byte) int {
	br := bufio.NewReader(bytes.NewReader(raw))
	for i := 0; i < 10; i++ {
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			return 0
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp.StatusCode
		}
	}
	return 0
}

// FuzzFrontResponse: whatever a target answers to a GET the front serves,
// tether neither panics nor hangs, the client gets a well-formed response
// or a closed connection, and tether's own 5xx are 502 or 504. The same
// GET with a percent-escaped path goes to net/http's path (the front hands
// it off): when the front relays a complete response other than 502, it is
// the one net/http's path relays, same status and body. The front may be
// stricter than net/http (502 where net/http relays), never laxer or
// different.
func FuzzFrontResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5;x=1\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\n\r\nuntil the end"))
	f.Add([]byte("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	f.Add([]byte("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"))
	f.Add([]byte("HTTP/1.1 404 Not Found\nConnection: X-A\nX-A: 1\n\n"))
	f.Add([]byte("garbage"))
	f.Add([]byte(""))
	var resp atomic.Pointer[[]byte]
	resp.Store(new([]byte))
	addr := fuzzServer(f, scriptedTarget(f, &resp))
	f.Fuzz(func(t *testing.T, raw []byte) {
		resp.Store(&raw)
		front := fetch(t, addr, "GET /a HTTP/1.1\r\nHost: app.example\r\n\r\n")
		if front.code >= 500 && front.code != 502 && front.code != 504 && front.code != finalStatus(raw) {
			t.Fatalf("front answered %d to %q", front.code, raw)
		}
		std := fetch(t, addr, "GET /%61 HTTP/1.1\r\nHost: app.example\r\n\r\n")
		if !front.complete || !std.complete || front.code == 502 || chunked10(raw) {
			return // the front may be stricter than net/http
		}
		if front.code != std.code || front.body != std.body {
			t.Fatalf("for %q the front relayed %d %q, net/http's path %d %q", raw, front.code, front.body, std.code, std.body)
		}
	})
}

// chunked10 reports whether raw is an HTTP/1.0 response with a
// Transfer-Encoding field, whose framing RFC 9112 §6.1 calls faulty:
// net/http ignores the field and reads to the end, the front decodes the
// chunks; both close the connection after.
func chunked10(raw []byte) bool {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), &http.Request{Method: "GET"})
	return err == nil && resp.ProtoMinor == 0 && strings.Contains(strings.ToLower(string(raw)), "transfer-encoding")
}
