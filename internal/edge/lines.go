package edge

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetherlb/tether/internal/edge/cachestore"
)

// headLineWriter is a ResponseWriter that takes a response's head as
// header lines the handler wrote out (lb.Front's, and accessWriter over
// it): see lb's frontResponse.WriteHeadLines. A hit then writes its
// stored lines as they are, and a miss its origin's fields as lines,
// rather than filling a header map that the front reads back.
type headLineWriter interface {
	WriteHeadLines(code int, length int64, lines []byte) bool
}

// headBufs are the buffers a head's lines are gathered in before the
// front copies them to the connection.
var headBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledHead bounds the head buffers headBufs keeps.
const maxPooledHead = 16 << 10

// writeObjectLines writes the head of obj, a stored object served with
// age, as its header's lines followed by Age, Cache-Status and (cloudfront
// mode) X-Cache, when w takes lines and obj's lines need no change
// (Object.Direct): a GET, its body sent as stored. It reports whether it
// wrote the head; if not, nothing was written.
func (e *Edge) writeObjectLines(w http.ResponseWriter, x *exchange, obj *cachestore.Object, age time.Duration) bool {
	hw, ok := w.(headLineWriter)
	if !ok || !obj.Direct || x.r.Method != http.MethodGet || x.b.compress {
		return false
	}
	buf := headBufs.Get().(*[]byte)
	b := append((*buf)[:0], obj.Header.Lines()...)
	b = append(b, "Age: "...)
	b = strconv.AppendInt(b, int64(age/time.Second), 10)
	b = append(b, "\r\n"...)
	b = e.appendOwnLines(b, x, obj.Status)
	ok = hw.WriteHeadLines(obj.Status, int64(len(obj.Body)), b)
	putHeadBuf(buf, b)
	return ok
}

// writeLines writes the head of an origin response with status, header h
// and a body of size bytes as lines, when w takes lines: h's fields as
// writeHeader passes them on, then Cache-Status and (cloudfront mode)
// X-Cache. It does not when the response is a HEAD's, is compressed by
// the edge, its length is not known, or h holds a field that
// finishHeader merges or replaces (Cache-Status; X-Cache in cloudfront
// mode): it reports whether it wrote the head, and if not, nothing was
// written.
func (e *Edge) writeLines(w http.ResponseWriter, x *exchange, status int, h http.Header, viewerOnly []string, size int64) bool {
	hw, ok := w.(headLineWriter)
	if !ok || size < 0 || x.r.Method != http.MethodGet || e.compression(x, h, size) != "" {
		return false
	}
	if _, merged := h["Cache-Status"]; merged {
		return false
	}
	if _, replaced := h["X-Cache"]; replaced && e.cloudfront {
		return false
	}
	buf := headBufs.Get().(*[]byte)
	b := (*buf)[:0]
	clientFields(h, viewerOnly, func(name string, values []string) {
		if name == "Content-Length" {
			return // the front writes size
		}
		for _, v := range values {
			b = appendFieldLine(b, name, v)
		}
	})
	for _, v := range viewerOnly {
		b = appendFieldLine(b, "Set-Cookie", v)
	}
	b = e.appendOwnLines(b, x, status)
	ok = hw.WriteHeadLines(status, size, b)
	putHeadBuf(buf, b)
	return ok
}

// appendOwnLines appends the edge's own fields of a response with status
// as lines: Cache-Status, and X-Cache in cloudfront mode.
func (e *Edge) appendOwnLines(b []byte, x *exchange, status int) []byte {
	b = append(b, "Cache-Status: "...)
	b = e.appendStatusMember(b, x)
	b = append(b, "\r\n"...)
	if e.cloudfront {
		b = append(b, "X-Cache: "...)
		b = append(b, xCache[xCacheKind(x, status)][0]...)
		b = append(b, "\r\n"...)
	}
	return b
}

// putHeadBuf gives buf back to headBufs with b, what was gathered in it
// (perhaps in a larger array), unless that grew too large to keep.
func putHeadBuf(buf *[]byte, b []byte) {
	if cap(b) <= maxPooledHead {
		*buf = b[:0]
		headBufs.Put(buf)
	}
}

// clientFields calls add with each field of h, an origin response's
// header, that goes on to the client: not the hop-by-hop fields, those
// its Connection field names, CDN-Cache-Control (meant for the edge), or
// Set-Cookie when viewerOnly is not nil (the caller sends those lines in
// its place). add must not keep values.
func clientFields(h http.Header, viewerOnly []string, add func(name string, values []string)) {
	connection := connectionNames(h)
	for k, v := range h {
		if isHop(k) || k == "Cdn-Cache-Control" || k == "Set-Cookie" && viewerOnly != nil || slices.Contains(connection, k) {
			continue
		}
		add(k, v)
	}
}

// connectionNames returns the canonical names h's Connection field lists
// (hop-by-hop fields of that response only, RFC 9110 §7.6.1).
func connectionNames(h http.Header) []string {
	var names []string
	if c := h["Connection"]; len(c) > 0 {
		for f := range strings.SplitSeq(c[0], ",") {
			if f = strings.TrimSpace(f); f != "" {
				names = append(names, http.CanonicalHeaderKey(f))
			}
		}
	}
	return names
}

// directHeader reports whether the stored header h of an object whose
// body is size bytes may go to clients as its lines, followed by the
// edge's own fields (Object.Direct): it has a Content-Type (the front
// would sniff one otherwise), no Age, Cache-Status or X-Cache (which the
// edge sets or merges on a hit) and no Content-Length but size. h is the
// header map the object's header was packed from, a superset of it.
func directHeader(h http.Header, size int) bool {
	if len(h["Content-Type"]) == 0 || len(h["Age"]) > 0 || len(h["Cache-Status"]) > 0 || len(h["X-Cache"]) > 0 {
		return false
	}
	cl := h["Content-Length"]
	return len(cl) == 0 || len(cl) == 1 && cl[0] == strconv.Itoa(size)
}
