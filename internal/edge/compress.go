package edge

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"

	"github.com/tetherlb/tether/internal/edge/cachestore"
	"github.com/tetherlb/tether/internal/edge/httpcache"
)

// Compression (behaviors[].compress). A response the edge stores is
// compressed once, when it is stored, if every request that can find it
// takes the same coding: the cache policy keys that coding, so the key
// tells gzip and Brotli clients apart from the rest. Its hits are then
// sent as they are stored, as CloudFront serves the compressed copy it
// cached [doc]. A response the edge compresses while the key does not
// tell the codings apart (gzip not keyed) is compressed on every
// response instead, with pooled compressors.
//
// Either way the client gets Content-Encoding, Vary: Accept-Encoding and
// the origin's ETag made weak when it was strong (W/"…"), as CloudFront
// converts it: the compressed body is not the byte sequence the origin's
// strong validator names. The stored header keeps the origin's ETag, which
// revalidation sends back to the origin.

// brotliLevel is the quality the edge compresses with brotli at: 5 is
// about gzip's speed with a smaller result (CloudFront does not say which
// quality it uses).
const brotliLevel = 5

// Compressors are large (about 800 KB of state for gzip and 1.2 MB for
// brotli at quality 5), so they are reused rather than made per response.
var (
	gzipWriters   = sync.Pool{New: func() any { return gzip.NewWriter(io.Discard) }}
	brotliWriters = sync.Pool{New: func() any { return brotli.NewWriterLevel(io.Discard, brotliLevel) }}
)

// compressor is a pooled *gzip.Writer or *brotli.Writer.
type compressor interface {
	io.WriteCloser
	Flush() error
	Reset(w io.Writer)
}

func compressors(enc string) *sync.Pool {
	if enc == "br" {
		return &brotliWriters
	}
	return &gzipWriters
}

// getCompressor returns a compressor for enc ("gzip" or "br") writing to
// w; give it back with putCompressor.
func getCompressor(w io.Writer, enc string) compressor {
	c := compressors(enc).Get().(compressor)
	c.Reset(w)
	return c
}

// putCompressor returns c, got for enc, to its pool, holding no reference
// to what it wrote to.
func putCompressor(c compressor, enc string) {
	c.Reset(io.Discard)
	compressors(enc).Put(c)
}

// compressTo writes body to w compressed with enc ("gzip" or "br").
func compressTo(w io.Writer, body []byte, enc string) {
	c := getCompressor(w, enc)
	c.Write(body)
	c.Close()
	putCompressor(c, enc)
}

// compressBody returns body compressed with enc.
func compressBody(body []byte, enc string) []byte {
	var b bytes.Buffer
	b.Grow(len(body)/2 + 64)
	compressTo(&b, body, enc)
	return b.Bytes()
}

// storedCoding returns the coding a response about to be stored, with
// header h and body, is stored in: the one compression chooses for x,
// when x's key holds that choice (brotli is chosen only when the policy
// keys it; gzip must be keyed too); else "", and the body is stored as
// it came.
func (e *Edge) storedCoding(x *exchange, h http.Header, body []byte) string {
	return keyedCoding(x, e.compression(x, h, int64(len(body))))
}

// keyedCoding returns enc, the coding the edge compresses x's response in
// for x's client, when x's key holds it, else "": gzip not keyed, one
// object serves every client and is stored as it came.
func keyedCoding(x *exchange, enc string) string {
	if enc == "gzip" && !x.b.gzipKey {
		return ""
	}
	return enc
}

// codedFields adds to out, the header of a response whose body the edge
// compressed, Vary: Accept-Encoding and the weak form of a strong ETag,
// and drops Accept-Ranges: a range of such a body is answered whole.
func codedFields(out http.Header) {
	varyCoding(out)
	delete(out, "Accept-Ranges") // a range of a body the edge compresses is never served
	if etag := out["Etag"]; len(etag) == 1 {
		out["Etag"] = []string{weakETag(etag[0])}
	}
}

// varyCoding adds Accept-Encoding to the Vary of h unless it names it.
// Every answer of a response the edge compresses for some clients has it,
// the uncompressed ones too (as NGINX's gzip_vary): a cache after the
// edge must not give one client's coding to another.
func varyCoding(h http.Header) {
	if names, _ := httpcache.VaryHeaders(h); !slices.Contains(names, "accept-encoding") {
		h["Vary"] = append(slices.Clip(h["Vary"]), "Accept-Encoding")
	}
}

// weakETag returns etag made weak, W/"…", when it is strong.
func weakETag(etag string) string {
	if strings.HasPrefix(etag, `"`) {
		return "W/" + etag
	}
	return etag
}

// fillObjectHeader fills out with obj's stored header, values cut from
// vals first (see cachestore.Header.Fill), and the fields of its coding
// when the edge stored it compressed.
func fillObjectHeader(out http.Header, obj *cachestore.Object, vals []string, extra int) []string {
	vals = obj.Header.Fill(out, vals, extra)
	if obj.Coding != "" {
		codedFields(out)
	}
	return vals
}
