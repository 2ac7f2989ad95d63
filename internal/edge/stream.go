package edge

import (
	"io"
	"math"
	"net/http"
	"sync"
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
// when it is longer than streamAbove: by its Content-Length, or, without
// one, once streamAbove bytes have come and more follow. A large object's
// first byte then waits for the origin's first byte, not its last; a
// shorter body is sent in one piece, with a Cache-Status that says
// whether it was stored.
func (e *Edge) readStored(w http.ResponseWriter, x *exchange, resp *http.Response, vd verdict, now time.Time) (body []byte, obj *cachestore.Object, streamed bool, err error) {
	if isEventStream(resp.Header) {
		return nil, e.streamAndStore(w, x, resp, vd, now, nil), true, nil
	}
	if e.maxObject <= streamAbove {
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
//
// A body the edge compresses for this client is compressed as it streams,
// each piece flushed to the client as it comes. The copy stored is the
// compressed one when the key holds the coding (see storedCoding), else
// the body as the origin sent it.
func (e *Edge) streamAndStore(w http.ResponseWriter, x *exchange, resp *http.Response, vd verdict, now time.Time, prefix []byte) *cachestore.Object {
	// A revalidation's stale object goes now: the client gets the new
	// response's head before its body is known to come whole.
	e.settleStale(w, x, true)
	vary, _ := httpcache.VaryHeaders(resp.Header)
	enc := "" // the client's coding; events go out as they come, each on its own
	if !isEventStream(resp.Header) {
		enc = e.compression(x, resp.Header, math.MaxInt64) // the body is over 1 KiB
	}
	coding := keyedCoding(x, enc) // the stored copy's
	if enc == "" && !isEventStream(resp.Header) && compressible(x.b, resp.Header, math.MaxInt64) {
		varyCoding(resp.Header) // this client's copy is not compressed; others' are
	}
	x.noGzip = true
	if coding == "" && enc == "" && !isEventStream(resp.Header) && resp.ContentLength <= e.maxObject {
		// As storeObject says on the copy it stores, said now: the
		// header goes out first.
		e.acceptRanges(resp)
	}
	clientHeader, length := resp.Header, resp.ContentLength
	if enc != "" {
		clientHeader = resp.Header.Clone() // resp.Header stays the origin's, to be stored
		clientHeader["Content-Encoding"] = []string{enc}
		delete(clientHeader, "Content-Length")
		codedFields(clientHeader)
		length = -1
	}
	e.writeHeader(w, x, resp.StatusCode, clientHeader, vd.viewerOnly, length)

	out := &streamOut{client: flushWriter{w}} // what came goes out: the origin may pause
	var plain []byte                          // the body as it came, when that is the copy stored
	if coding == "" && resp.ContentLength >= 0 {
		plain = make([]byte, 0, resp.ContentLength)
	}
	var zw compressor
	if enc != "" {
		zw = getCompressor(out, enc)
		defer putCompressor(zw, enc)
	}
	// The body goes to the client from a copy, at the client's own pace
	// (clientPump): the origin is read as fast as it sends, and the
	// requests collapsed behind this one are released once the whole body
	// has come, however slowly this client reads. The copy is the one
	// being stored when the client gets the body as stored; when the edge
	// compresses it for this client alone (the stored copy is as the
	// origin sent it), the compressed bytes are kept for the client too.
	// Once the body outgrows max_object_bytes there is no copy: the pump
	// sends what it has, and the rest goes to the client as it comes.
	var pump *clientPump
	if resp.ContentLength <= e.maxObject {
		pump = startPump(out.client)
		if zw != nil {
			out.pump = pump // the compressor's output is what the client gets
		}
	}
	stopPump := func() {
		if pump == nil {
			return
		}
		var gone bool
		out.sent, gone = pump.finish()
		if gone {
			out.client = nil
		}
		pump, out.pump, out.copy = nil, nil, nil
	}
	keep := true
	var size int64 // of the body as it came
	// held is this body's share of e.inflight: the copies being kept to
	// store may hold at most half of max_bytes between them, so that many
	// large misses at once (or slow clients of them) cannot take memory
	// without bound. A body that would go past it is not stored.
	var held int64
	defer func() { e.inflight.Add(-held) }()
	drop := func(reason string) {
		keep, plain = false, nil
		// Known now, not at the body's end: the requests collapsed behind
		// this one go and fetch their own at once.
		e.notStored(x, reason)
		stopPump() // the client has taken what the copy held: its memory is free
		e.inflight.Add(-held)
		held = 0
	}
	take := func(chunk []byte) {
		size += int64(len(chunk))
		switch n := int64(len(chunk)); {
		case !keep:
		case size > e.maxObject:
			drop("too-large")
		case e.inflight.Add(n) > e.maxBytes/2:
			e.inflight.Add(-n)
			drop("memory")
		default:
			held += n
			if coding == "" {
				plain = append(plain, chunk...)
			}
		}
		switch {
		case zw != nil:
			zw.Write(chunk)
			zw.Flush()
		case pump != nil:
			pump.offer(plain)
		default:
			out.Write(chunk)
		}
	}
	if len(prefix) > 0 {
		take(prefix)
	}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	var rerr error
	for {
		n, err := resp.Body.Read(*buf)
		if n > 0 {
			take((*buf)[:n])
		}
		if err != nil {
			if err != io.EOF {
				rerr = err
			}
			break
		}
		if out.client == nil && !keep {
			break // nobody to send it to, nothing to store
		}
	}
	complete := rerr == nil && (resp.ContentLength < 0 || size == resp.ContentLength)
	if zw != nil && complete {
		zw.Close() // the coding's end: left out of a body cut short, which then does not decode
	}
	var obj *cachestore.Object
	switch {
	case !keep: // counted when it outgrew max_object_bytes
	case !complete:
		e.notStored(x, "incomplete")
	case coding != "":
		obj = e.storeObject(x, resp, out.copy, coding, vd, vary, now)
	default:
		obj = e.storeObject(x, resp, plain, coding, vd, vary, now)
	}
	stopPump() // the flight landed when obj was stored (or not): before this client has it all
	x.cut = rerr != nil && out.client != nil
	e.metrics.sent(fromOrigin, out.sent)
	return obj
}

// clientPump writes a body to the client, in a goroutine of its own, from
// the copy of it being stored: the reader offers the copy as it grows,
// and finish waits until the client has taken all of it, or has gone.
type clientPump struct {
	client io.Writer
	mu     sync.Mutex
	more   sync.Cond
	data   []byte // the body so far
	done   bool   // no more comes
	sent   int64  // bytes the client took; the pump's own until end
	gone   bool   // a write to the client failed
	end    chan struct{}
}

func startPump(client io.Writer) *clientPump {
	p := &clientPump{client: client, end: make(chan struct{})}
	p.more.L = &p.mu
	go p.run()
	return p
}

// offer hands the pump the body so far.
func (p *clientPump) offer(data []byte) {
	p.mu.Lock()
	if len(data) >= len(p.data) {
		p.data = data
	}
	p.mu.Unlock()
	p.more.Signal()
}

func (p *clientPump) run() {
	defer close(p.end)
	for {
		p.mu.Lock()
		for int64(len(p.data)) == p.sent && !p.done {
			p.more.Wait()
		}
		chunk := p.data[p.sent:]
		p.mu.Unlock()
		if len(chunk) == 0 {
			return // done, and all sent
		}
		n, err := p.client.Write(chunk)
		p.sent += int64(n)
		if err != nil {
			p.gone = true
			return
		}
	}
}

// finish tells the pump no more comes, and returns, once it has stopped,
// the bytes the client took and whether a write to it failed.
func (p *clientPump) finish() (int64, bool) {
	p.mu.Lock()
	p.done = true
	p.mu.Unlock()
	p.more.Signal()
	<-p.end
	return p.sent, p.gone
}

// streamOut is where a compressed body goes: while pump is set, to copy,
// which pump sends to the client (and which is the copy stored when the
// key holds the coding); then straight to the client until a write to it
// fails (client is then nil).
type streamOut struct {
	client io.Writer
	pump   *clientPump
	copy   []byte
	sent   int64 // bytes the client took
}

func (o *streamOut) Write(p []byte) (int, error) {
	if o.pump != nil {
		// A new array, when append needs one, holds all the old one
		// did; the old one is no longer written.
		o.copy = append(o.copy, p...)
		o.pump.offer(o.copy)
		return len(p), nil
	}
	if o.client != nil {
		if _, err := o.client.Write(p); err != nil {
			o.client = nil
		} else {
			o.sent += int64(len(p))
		}
	}
	return len(p), nil
}
