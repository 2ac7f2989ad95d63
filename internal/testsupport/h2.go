package testsupport

import (
	"bytes"
	"crypto/tls"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// H2Conn is a raw HTTP/2 client connection over TLS that sends what a
// well-behaved client would not (a malformed :authority, a method with a
// space, a content-length the stream contradicts, CONNECT with DATA), to
// test what a server does with such requests. net/http's client checks
// its requests and cannot send them.
type H2Conn struct {
	t    testing.TB
	c    net.Conn
	fr   *http2.Framer
	dec  *hpack.Decoder // the connection's: answers may index earlier ones
	next uint32         // the next client stream id
}

// DialH2 connects to addr over TLS with ALPN h2 and exchanges the
// preface and SETTINGS.
func DialH2(t testing.TB, addr string) *H2Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}) //nolint:gosec // a test's own server
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN chose %q, want h2", p)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	h := &H2Conn{t: t, c: c, fr: http2.NewFramer(c, c), dec: hpack.NewDecoder(4096, nil), next: 1}
	if err := h.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return h
}

// Request sends one request, fields in order as given (pseudo-fields
// first, as name/value pairs), then body as one DATA frame when it is not
// nil, and returns the response's :status, or the error code of a
// RST_STREAM or GOAWAY that ends the stream instead (as "RST_STREAM
// PROTOCOL_ERROR").
func (h *H2Conn) Request(fields []string, body []byte) string {
	h.t.Helper()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for i := 0; i+1 < len(fields); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	id := h.next
	h.next += 2
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(),
		EndHeaders: true, EndStream: body == nil}); err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		if err := h.fr.WriteData(id, true, body); err != nil {
			h.t.Fatal(err)
		}
	}
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			h.t.Fatalf("reading the answer to stream %d: %v", id, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				h.fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			fs, err := h.dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				h.t.Fatal(err)
			}
			if f.StreamID != id {
				continue
			}
			for _, hf := range fs {
				if hf.Name == ":status" {
					return hf.Value
				}
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return "RST_STREAM " + f.ErrCode.String()
			}
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeNo || f.LastStreamID < id {
				return "GOAWAY " + f.ErrCode.String() + " " + strconv.Itoa(int(f.LastStreamID))
			}
			// A graceful GOAWAY that still covers this stream: its
			// answer follows.
		}
	}
}
