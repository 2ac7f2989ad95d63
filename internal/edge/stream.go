package edge

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/tetherlb/tether/internal/edge/cachestore"
	"github.com/tetherlb/tether/internal/edge/httpcache"
)

// streamAbove is the body size above which a response that may be stored
// is sent to the client as it arrives, while the edge keeps a copy to
// store, instead of being read whole first: a large object's first byte
// then waits for the origin's first byte, not its last.
const streamAbove = 64 << 10

// readStored reads the body of a response that may be stored, or streams
// it. It returns the whole body (up to max_object_bytes and one byte
// more, as readBody); or, when the response went to the client as it
// arrived, streamed and the object stored, if any.
//
// A response streams while it is stored when it is an event stream, or
// when the edge will not compress it (a body it compresses is compressed
// whole) and it is longer than streamAbove: by its Content-Length, or,
// without one, once streamAbove bytes have come and more follow. A large
// object's first byte then waits for the origin's first byte, not its
// last; a shorter body is sent in one piece, with a Cache-Status that
// says whether it was stored.
func (e *Edge) readStored(w http.ResponseWriter, x *exchange, resp *http.Response, vd verdict, now time.Time) (body []byte, obj *cachestore.Object, streamed bool, err error) {
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return nil, e.streamAndStore(w, x, resp, vd, now, nil), true, nil
	}
	if e.maxObject <= streamAbove || e.compression(x, resp.Header, math.MaxInt64) != "" {
		body, err = readBody(resp, e.maxObject)
		return body, nil, false, err
	}
	switch n := resp.ContentLength; {
	case n > streamAbove:
		return nil, e.streamAndStore(w, x, resp, vd, now, nil), true, nil
	case n < 0:
		if body, err = readBody(resp, streamAbove); err == nil && len(body) > streamAbove {
			return nil, e.streamAndStore(w, x, resp, vd, now, body), true, nil
		}
		return body, nil, false, err
	}
	body, err = readBody(resp, e.maxObject)
	return body, nil, false, err
}

// streamAndStore sends resp to the client as it arrives, after prefix (the
// part of its body already read), and stores a copy of its body when the
// whole of it came, within max_object_bytes. The header goes out before
// the body is known, so its Cache-Status has no stored parameter (the
// access log has the outcome). When the client goes away, the body is
// still read, to be stored, until the request's context ends (never for
// a leader of collapsed requests) or the body outgrows max_object_bytes.
func (e *Edge) streamAndStore(w http.ResponseWriter, x *exchange, resp *http.Response, vd verdict, now time.Time, prefix []byte) *cachestore.Object {
	vary, _ := httpcache.VaryHeaders(resp.Header)
	x.noGzip = true
	e.writeHeader(w, x, resp.StatusCode, resp.Header, vd.viewerOnly, resp.ContentLength)
	out := flushWriter{w} // what came goes out: the origin may pause
	body := prefix        // only without a Content-Length
	if resp.ContentLength >= 0 {
		body = make([]byte, 0, resp.ContentLength)
	}
	keep, clientGone := true, false
	var sent int64
	if len(prefix) > 0 {
		if _, err := out.Write(prefix); err != nil {
			clientGone = true
		} else {
			sent = int64(len(prefix))
		}
	}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	var rerr error
	for {
		n, err := resp.Body.Read(*buf)
		if chunk := (*buf)[:n]; n > 0 {
			if keep && int64(len(body)+n) > e.maxObject {
				keep, body = false, nil
			} else if keep {
				body = append(body, chunk...)
			}
			if !clientGone {
				if _, werr := out.Write(chunk); werr != nil {
					clientGone = true
				} else {
					sent += int64(n)
				}
			}
		}
		if err != nil {
			if err != io.EOF {
				rerr = err
			}
			break
		}
		if clientGone && !keep {
			break // nobody to send it to, nothing to store
		}
	}
	e.metrics.sent(fromOrigin, sent)
	switch {
	case !keep:
		e.notStored(x, "too-large")
		return nil
	case rerr != nil || resp.ContentLength >= 0 && int64(len(body)) != resp.ContentLength:
		e.notStored(x, "incomplete")
		return nil
	}
	if cap(body)-len(body) > len(body)/8 {
		body = bytes.Clone(body) // kept for long: without what append grew it by
	}
	obj := e.newObject(x, resp, body, vd, vary, now)
	if err := e.store.Add(obj); err != nil {
		e.notStored(x, notStoredReason(err))
		return nil
	}
	x.status.Stored = httpcache.Yes
	e.flights.clearHitForMiss(x)
	return obj
}
