package lb_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// headLines is what a handler may send its head as on a Front (see
// lb's frontResponse.WriteHeadLines).
type headLines interface {
	WriteHeadLines(code int, length int64, lines []byte) bool
}

// linesHandler answers with code, the header lines and body: as lines
// when the ResponseWriter takes them (noting "lines"), else through the
// header map as any handler would (noting "map"), with a Content-Length
// of length unless it is negative. The framing fields the lines may hold
// are not copied to the map: they are what WriteHeadLines refuses.
func linesHandler(code int, length int64, lines, body string) func(http.ResponseWriter, *http.Request, func(string)) {
	return func(w http.ResponseWriter, _ *http.Request, note func(string)) {
		if hw, ok := w.(headLines); ok && hw.WriteHeadLines(code, length, []byte(lines)) {
			note("lines")
			io.WriteString(w, body)
			return
		}
		note("map")
		for line := range strings.SplitSeq(strings.TrimSuffix(lines, "\r\n"), "\r\n") {
			name, value, _ := strings.Cut(line, ": ")
			switch http.CanonicalHeaderKey(name) {
			case "", "Content-Length", "Transfer-Encoding", "Trailer":
				continue
			}
			w.Header().Add(name, value)
		}
		if length >= 0 {
			w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

// TestFrontHeadLinesAsNetHTTP: a head a handler writes as lines reaches
// the client as the same head written through the header map does behind
// net/http: status, framing, Content-Type, Date, the other fields,
// Connection: close and whether the connection stays usable. The front
// takes the lines only when they need nothing of it but a Date, a
// Content-Length and Connection: close; otherwise the handler answers
// through the map, and the client sees no difference.
func TestFrontHeadLinesAsNetHTTP(t *testing.T) {
	const typed = "Content-Type: text/plain; charset=utf-8\r\nX-A: 1\r\n"
	const date = "Date: Mon, 02 Jan 2006 15:04:05 GMT\r\n"
	head := "HEAD / HTTP/1.1\r\nHost: app.example\r\n\r\n"
	html := "<!DOCTYPE html><html><body>hi</body></html>"
	tests := []struct {
		name      string
		reqs      []string // nil: GET /
		h         func(http.ResponseWriter, *http.Request, func(string))
		want      fhRun
		viaLines  bool // the front takes the lines
		noteFront []string
	}{
		{name: "lines with a Content-Type", h: linesHandler(200, 5, typed, "hello"), viaLines: true,
			want: fhRun{Results: []fhResult{fhOK("hello").fields("X-A=1")}, Open: true}},
		{name: "lines with their own Date", h: linesHandler(200, 5, typed+date, "hello"), viaLines: true,
			want: fhRun{Results: []fhResult{fhOK("hello").fields("X-A=1")}, Open: true}},
		{name: "lines with their own Content-Length", h: linesHandler(200, 5, typed+"Content-Length: 5\r\n", "hello"), viaLines: true,
			want: fhRun{Results: []fhResult{fhOK("hello").fields("X-A=1")}, Open: true}},
		{name: "a 404 as lines", h: linesHandler(404, 4, typed, "gone"), viaLines: true,
			want: fhRun{Results: []fhResult{{Status: 404, Body: "gone", Length: 4, Type: "text/plain; charset=utf-8", Date: true, Fields: "X-A=1"}}, Open: true}},
		{name: "an empty body", h: linesHandler(200, 0, typed, ""), viaLines: true,
			want: fhRun{Results: []fhResult{fhOK("").fields("X-A=1")}, Open: true}},
		{name: "HEAD", reqs: []string{head}, h: linesHandler(200, 5, typed, "hello"), viaLines: true,
			want: fhRun{Results: []fhResult{{Status: 200, Length: 5, Type: "text/plain; charset=utf-8", Date: true, Fields: "X-A=1"}}, Open: true}},
		{name: "the client closes", reqs: []string{"GET / HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n"},
			h: linesHandler(200, 5, typed, "hello"), viaLines: true,
			want: fhRun{Results: []fhResult{fhOK("hello").fields("X-A=1").closing()}}},
		{name: "a body shorter than its length ends the connection", h: linesHandler(200, 10, typed, "hello"), viaLines: true,
			want: fhRun{Results: []fhResult{{Status: 200, Body: "hello", BodyErr: true, Length: 10, Type: "text/plain; charset=utf-8", Date: true, Fields: "X-A=1"}}}},

		// What the front refuses: the handler answers through the map.
		{name: "no Content-Type: net/http would sniff one", h: linesHandler(200, int64(len(html)), "X-A: 1\r\n", html),
			want: fhRun{Results: []fhResult{{Status: 200, Body: html, Length: int64(len(html)), Type: "text/html; charset=utf-8", Date: true, Fields: "X-A=1"}}, Open: true}},
		{name: "a Content-Length other than length", h: linesHandler(200, 5, typed+"Content-Length: 6\r\n", "hello"),
			want: fhRun{Results: []fhResult{fhOK("hello").fields("X-A=1")}, Open: true}},
		{name: "Transfer-Encoding", h: linesHandler(200, 5, typed+"Transfer-Encoding: chunked\r\n", "hello"),
			want: fhRun{Results: []fhResult{fhOK("hello").fields("X-A=1")}, Open: true}},
		{name: "Trailer", h: linesHandler(200, 5, typed+"Trailer: X-Sum\r\n", "hello"),
			want: fhRun{Results: []fhResult{fhOK("hello").fields("X-A=1")}, Open: true}},
		{name: "Connection, in any case", h: linesHandler(200, 5, typed+"connection: close\r\n", "hello"),
			want: fhRun{Results: []fhResult{fhOK("hello").fields("X-A=1").closing()}}},
		{name: "204", h: linesHandler(204, 0, typed, ""),
			want: fhRun{Results: []fhResult{{Status: 204, Type: "text/plain; charset=utf-8", Date: true, Fields: "X-A=1"}}, Open: true}},
		{name: "304", h: linesHandler(304, 0, typed, ""),
			want: fhRun{Results: []fhResult{{Status: 304, Type: "-", Date: true, Fields: "X-A=1"}}, Open: true}},
		{name: "a length not known", h: linesHandler(200, -1, typed, "hello"),
			want: fhRun{Results: []fhResult{fhOK("hello").fields("X-A=1")}, Open: true}},
		{name: "after WriteHeader", h: func(w http.ResponseWriter, _ *http.Request, note func(string)) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusAccepted)
			if hw, ok := w.(headLines); ok {
				note(fmt.Sprint(hw.WriteHeadLines(200, 5, []byte(typed))))
			} else {
				note("false")
			}
			io.WriteString(w, "hello")
		}, noteFront: []string{"false"},
			want: fhRun{Results: []fhResult{{Status: 202, Body: "hello", Length: 5, Type: "text/plain; charset=utf-8", Date: true}}, Open: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reqs := tc.reqs
			if reqs == nil {
				reqs = []string{fhGet("/")}
			}
			for _, s := range fhServers {
				rec := &fhRecorder{h: tc.h}
				addr, _ := fhStart(t, s, rec)
				got := fhExchange(fhDial(t, addr), reqs)
				_, notes := rec.snapshot()
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("%s:\n got %+v\nwant %+v", s.name, got, tc.want)
				}
				want := tc.noteFront
				if want == nil {
					want = []string{"map"}
					if tc.viaLines && s.opts != nil {
						want = []string{"lines"}
					}
				}
				if s.opts == nil && tc.noteFront != nil {
					want = []string{"false"}
				}
				if !reflect.DeepEqual(notes, want) {
					t.Errorf("%s: the handler answered %q, want %q", s.name, notes, want)
				}
			}
		})
	}
}

// TestFrontHeadLinesOnTheWire checks the head a handler's lines make,
// byte by byte but for the Date's value: the lines as they are, one Date
// only when they hold none, one Content-Length, then the body.
func TestFrontHeadLinesOnTheWire(t *testing.T) {
	const typed = "Content-Type: text/plain\r\nX-A: 1\r\nX-A: 2\r\n"
	tests := []struct {
		name, lines, want string
	}{
		{"a Date and a Content-Length added", typed,
			"HTTP/1.1 200 OK\r\n" + typed + "Date: <date>\r\nContent-Length: 5\r\n\r\nhello"},
		{"the lines' own Date and Content-Length", typed + "Date: D\r\ncontent-length: 5\r\n",
			"HTTP/1.1 200 OK\r\n" + typed + "Date: D\r\ncontent-length: 5\r\n\r\nhello"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &fhRecorder{h: linesHandler(200, 5, tc.lines, "hello")}
			addr, _ := fhStart(t, fhServers[0], rec)
			rc := fhDial(t, addr)
			rc.send(fhGet("/"))
			got := readRawResponse(t, rc.br)
			if i := strings.Index(got, "Date: "); i >= 0 && !strings.Contains(tc.lines, "Date") {
				i += len("Date: ")
				got = got[:i] + "<date>" + got[i+strings.Index(got[i:], "\r\n"):]
			}
			if got != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
			if _, notes := rec.snapshot(); !reflect.DeepEqual(notes, []string{"lines"}) {
				t.Errorf("the handler answered %q, want lines", notes)
			}
		})
	}
}

// readRawResponse reads a head and the 5-byte body after it, as bytes.
func readRawResponse(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the head: %v (so far %q)", err, b.String())
		}
		b.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	body := make([]byte, 5)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return b.String() + string(body)
}
