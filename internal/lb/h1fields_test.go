package lb

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// echoFields answers with the request's Host, then each header field as
// "Name: value" lines, in the order net/http's server keeps (sorted here).
func echoFields(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	b.WriteString("Host: " + r.Host + "\n")
	for _, k := range sortedKeys(r.Header) {
		for _, v := range r.Header[k] {
			b.WriteString(k + ": " + v + "\n")
		}
	}
	io.WriteString(w, b.String())
}

func sortedKeys(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	for i := range keys { // a handful: insertion sort
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

func roundTripFields(t *testing.T, tr *h1Transport, req *http.Request, fields string) (int, string, error) {
	t.Helper()
	resp, err := tr.RoundTripFields(context.Background(), req, []byte(fields), nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// A request whose header lines the caller wrote reaches the target with
// exactly those fields (no User-Agent of the transport's own), on the
// pooled connection, and the fields survive net/http's transport when the
// request has to go through it.
func TestH1RoundTripFields(t *testing.T) {
	tr, _ := newTestH1(t)
	srv, cc := countedServer(t, echoFields)
	const fields = "X-B: 2\r\nCookie: a=1; b=2\r\nX-A: 1\r\nX-A: \tspaced \r\n"
	const want = "Host: app.example\nCookie: a=1; b=2\nX-A: 1\nX-A: spaced\nX-B: 2\n"
	for i := range 3 {
		req := newReq(t, "GET", srv.URL+"/p?q=1", nil)
		req.Host = "app.example"
		code, body, err := roundTripFields(t, tr, req, fields)
		if err != nil || code != 200 || body != want {
			t.Fatalf("request %d: %d %q %v; want 200 %q", i, code, body, err, want)
		}
	}
	if n := cc.opened.Load(); n != 1 {
		t.Errorf("%d connections for 3 requests, want 1", n)
	}

	// net/http's transport takes what the lean one does not (here, a
	// request with the deprecated Cancel channel): it gets the same fields.
	req := newReq(t, "GET", srv.URL+"/p", nil)
	req.Host = "app.example"
	req.Cancel = make(chan struct{})
	req.Header = nil
	code, body, err := roundTripFields(t, tr, req, fields+"User-Agent: ua\r\n")
	if err != nil || code != 200 || body != strings.Replace(want, "X-A: 1\n", "User-Agent: ua\nX-A: 1\n", 1) {
		t.Fatalf("through net/http: %d %q %v", code, body, err)
	}
}

// Lines that are not header fields, or fields that frame or route the
// request, are refused before anything is sent.
func TestH1RoundTripFieldsRefuses(t *testing.T) {
	tr, _ := newTestH1(t)
	srv, cc := countedServer(t, echoFields)
	for name, fields := range map[string]string{
		"no CRLF at the end":   "X-A: 1",
		"bare LF":              "X-A: 1\nX-B: 2\r\n",
		"CR in a value":        "X-A: 1\rX-B: 2\r\n",
		"NUL in a value":       "X-A: 1\x00\r\n",
		"DEL in a value":       "X-A: 1\x7f\r\n",
		"space in a name":      "X A: 1\r\n",
		"no colon":             "X-A 1\r\n",
		"empty name":           ": 1\r\n",
		"blank line":           "X-A: 1\r\n\r\nGET /smuggled HTTP/1.1\r\n",
		"Host":                 "Host: other.example\r\n",
		"Content-Length":       "content-length: 5\r\n",
		"Transfer-Encoding":    "Transfer-Encoding: chunked\r\n",
		"Connection":           "Connection: close\r\n",
		"Upgrade":              "Upgrade: websocket\r\n",
		"Trailer":              "Trailer: X-T\r\n",
		"a value on two lines": "X-A: 1\r\n 2\r\n",
	} {
		req := newReq(t, "GET", srv.URL+"/", nil)
		if _, _, err := roundTripFields(t, tr, req, fields); !errors.Is(err, errH1BadHead) {
			t.Errorf("%s (%q): %v, want a refusal", name, fields, err)
		}
	}
	req := newReq(t, "POST", srv.URL+"/", strings.NewReader("body"))
	if _, _, err := roundTripFields(t, tr, req, "X-A: 1\r\n"); !errors.Is(err, errH1BadHead) {
		t.Errorf("a request with a body: %v, want a refusal", err)
	}
	if n := cc.opened.Load(); n != 0 {
		t.Errorf("%d connections opened for refused requests, want 0", n)
	}
}

// FuzzFieldLines: lines fieldLinesOK accepts make a head that a server
// parses back to one field per line, with nothing smuggled in: no other
// request, no framing field.
func FuzzFieldLines(f *testing.F) {
	f.Add("X-A: 1\r\nCookie: a=b\r\n")
	f.Add("X-A: 1\r\n\r\nGET /x HTTP/1.1\r\n")
	f.Add("X-A: a\rb\r\n")
	f.Add("Content-Length: 10\r\n")
	f.Add("X-A:\t\r\nX-B: \xff\r\n")
	f.Fuzz(func(t *testing.T, fields string) {
		if !fieldLinesOK([]byte(fields)) {
			return
		}
		req := &http.Request{Method: "GET", URL: &url.URL{Scheme: "http", Host: "t:80", Path: "/p"}, Host: "app.example"}
		var buf bytes.Buffer
		pc := &h1Conn{bw: bufio.NewWriter(&buf)}
		if err := pc.writeHeadFields(req, []byte(fields)); err != nil {
			t.Fatal(err)
		}
		pc.bw.Flush()
		head := buf.String()
		br := bufio.NewReader(&buf)
		got, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("server cannot parse the head %q: %v", head, err)
		}
		if got.Host != "app.example" || got.ContentLength != 0 || len(got.TransferEncoding) > 0 || got.Close {
			t.Fatalf("head %q: host %q, length %d, coding %v, close %v", head, got.Host, got.ContentLength, got.TransferEncoding, got.Close)
		}
		n := 0
		for _, vs := range got.Header {
			n += len(vs)
		}
		if lines := strings.Count(fields, "\r\n"); n != lines {
			t.Fatalf("head %q: %d fields parsed from %d lines", head, n, lines)
		}
		if br.Buffered() > 0 {
			t.Fatalf("head %q: %d bytes after the head", head, br.Buffered())
		}
	})
}
