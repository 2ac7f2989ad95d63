package edge_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHeadAsLinesAsNetHTTP holds the heads the edge writes as lines (a
// hit's stored lines, a miss's and a pass's origin fields; see
// headLineWriter) to the heads it writes through a header map: the same
// requests go once to the edge's lean front, which takes lines, and once
// on a connection the front has handed to net/http (its first request
// carries Expect, which the front leaves to net/http), and the two must
// get the same fields, each as often, but for the Date's value and their
// order. The origin's answers cover what makes the edge add, merge,
// replace or drop fields.
func TestHeadAsLinesAsNetHTTP(t *testing.T) {
	answers := []struct {
		name  string
		lines []string
	}{
		{"plain", []string{"Content-Type: text/plain", "Cache-Control: max-age=60", "ETag: \"v1\"", "X-A: 1", "X-A: 2"}},
		{"with its length", []string{"Content-Type: text/plain", "Cache-Control: max-age=60", "Content-Length: 5"}},
		{"with Age", []string{"Content-Type: text/plain", "Cache-Control: max-age=60", "Age: 7"}},
		{"with a Cache-Status", []string{"Content-Type: text/plain", "Cache-Control: max-age=60", "Cache-Status: upstream; hit"}},
		{"with an X-Cache", []string{"Content-Type: text/plain", "Cache-Control: max-age=60", "X-Cache: Hit from upstream"}},
		{"without a Content-Type", []string{"Cache-Control: max-age=60"}},
		{"with CDN-Cache-Control", []string{"Content-Type: text/plain", "CDN-Cache-Control: max-age=60", "Cache-Control: no-store"}},
		{"with fields Connection names", []string{"Content-Type: text/plain", "Cache-Control: max-age=60", "Connection: X-Hop", "X-Hop: 1"}},
		{"with a load balancer cookie", []string{"Content-Type: text/plain", "Cache-Control: max-age=60", "Set-Cookie: AWSALB=abc; Path=/"}},
		{"not stored", []string{"Content-Type: text/plain", "Cache-Control: private"}},
	}
	for _, mode := range []string{"safe", "cloudfront"} {
		e := newEnv(t, "mode: "+mode+"\nbehaviors:\n  - path: \"*\"\n    cache: {cookies: none, query: all}\n    origin_request: {cookies: all}\n")
		addr := strings.TrimPrefix(e.url, "http://")
		front, handed := dialHead(t, addr), dialHead(t, addr)
		handed.do(t, "GET /handover HTTP/1.1\r\nHost: edge.example\r\nExpect: 100-continue\r\n\r\n")
		for i, a := range answers {
			e.origin.set(answer(200, "hello", a.lines...))
			// A miss, a hit, and a HEAD that hits.
			for _, method := range []string{"GET", "GET", "HEAD"} {
				e.clk.Advance(time.Second)
				req := func(via string) string {
					return fmt.Sprintf("%s /%s/%d HTTP/1.1\r\nHost: edge.example\r\nCookie: AWSALB=x\r\n\r\n", method, via, i)
				}
				lines, viaMap := front.do(t, req("x")), handed.do(t, req("y"))
				if !slices.Equal(lines, viaMap) {
					t.Errorf("%s mode, %s, %s:\nas lines %q\nvia map  %q", mode, a.name, method, lines, viaMap)
				}
			}
		}
	}
}

// headConn is a client connection that sends raw requests and reads the
// response's head as its sorted lines.
type headConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialHead(t *testing.T, addr string) *headConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &headConn{c: c, br: bufio.NewReader(c)}
}

// do sends req and returns the response's status line and fields, sorted,
// with the Date's value masked; it reads the body as Content-Length says
// (none for HEAD).
func (hc *headConn) do(t *testing.T, req string) []string {
	t.Helper()
	if _, err := io.WriteString(hc.c, req); err != nil {
		t.Fatal(err)
	}
	var lines []string
	length := 0
	for {
		line, err := hc.br.ReadString('\n')
		if err != nil {
			t.Fatalf("%q: reading the head: %v (so far %q)", req, err, lines)
		}
		line = strings.TrimSuffix(line, "\r\n")
		if line == "" {
			break
		}
		name, value, _ := strings.Cut(line, ": ")
		switch strings.ToLower(name) {
		case "date":
			line = name + ": <date>"
		case "content-length":
			length, _ = strconv.Atoi(value)
		}
		lines = append(lines, line)
	}
	if !strings.HasPrefix(req, "HEAD ") {
		if _, err := io.CopyN(io.Discard, hc.br, int64(length)); err != nil {
			t.Fatalf("%q: reading the body: %v", req, err)
		}
	}
	slices.Sort(lines[1:])
	return lines
}
